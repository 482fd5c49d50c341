# Snakemake `script:` wrapper: the figures drawn from the summary tables.
from mnist_sweep.analysis.figures import draw_sweep_figures

draw_sweep_figures(
    snakemake.input.runs,
    snakemake.input.configs,
    snakemake.input.best,
    snakemake.output.curves,
    snakemake.output.parameters,
    snakemake.output.confusion,
    (snakemake.config["search"] or {}).get("space"),
)
