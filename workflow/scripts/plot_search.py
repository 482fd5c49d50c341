# Snakemake `script:` wrapper: search.png from summary/search.tsv.
from mnist_sweep.analysis.figures import search_figure

search_figure(snakemake.input.table, snakemake.params.log_axes, snakemake.output[0], snakemake.input.best)
