# Snakemake `script:` wrapper: the predictions figure of one requested grid point.
import sys

from mnist_sweep.data import load_prepared
from mnist_sweep.analysis.figures import FigureError, draw_point_predictions

try:
    draw_point_predictions(
        load_prepared(snakemake.input.data),
        snakemake.input.runs,
        snakemake.params.run_path,
        snakemake.output[0],
    )
except FigureError as error:
    # On the console, and in the rule's log.
    with open(snakemake.log[0], "w") as log:
        for stream in (log, sys.stderr):
            print(f"error: {error}", file=stream, flush=True)
    sys.exit(1)
