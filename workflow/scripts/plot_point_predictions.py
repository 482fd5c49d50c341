# Snakemake `script:` wrapper: the predictions figure of one requested grid point.
from mnist_sweep.data import load_prepared
from mnist_sweep.figures import draw_point_predictions

draw_point_predictions(
    load_prepared(snakemake.input.data),
    snakemake.input.runs,
    snakemake.params.run_path,
    snakemake.output[0],
)
