# Snakemake `script:` wrapper (file lists of big sweeps are too long for a shell command line).
from mnist_sweep.data import load_prepared
from mnist_sweep.figures import draw_best_predictions

draw_best_predictions(
    load_prepared(snakemake.input.data),
    snakemake.input.best,
    snakemake.input.predictions,
    snakemake.output[0],
)
