# Snakemake `script:` wrapper: the predictions figure of the best grid point.
from mnist_sweep.data import load_prepared
from mnist_sweep.analysis.figures import draw_best_predictions

draw_best_predictions(
    load_prepared(snakemake.input.data),
    snakemake.input.runs,
    snakemake.input.best,
    snakemake.output[0],
)
