# Snakemake `script:` wrapper (file lists of big sweeps are too long for a shell command line).
from mnist_sweep.figures import draw_sweep_figures

draw_sweep_figures(
    snakemake.input.runs,
    snakemake.input.configs,
    snakemake.input.best,
    snakemake.input.predictions,
    snakemake.output.curves,
    snakemake.output.parameters,
    snakemake.output.confusion,
)
