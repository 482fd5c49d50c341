# Snakemake `script:` wrapper: the dataset as one prepared .npz. data_path is read from the
# config here, not declared as input or params, so running later without it (or with the same
# data again) never makes Snakemake redo this step and everything after it; common.smk stops a
# run whose data_path holds other data than the prepared file.
import sys
from pathlib import Path

from mnist_sweep.data import DataError, prepare

data_path = snakemake.config["data_path"]
with open(snakemake.log[0], "w") as log:
    try:
        arrays = prepare(snakemake.wildcards.dataset, Path(snakemake.output[0]),
                         Path(data_path) if data_path else None)
    except DataError as error:
        # In the log, and on the console: Snakemake itself only says that the step failed.
        for stream in (log, sys.stderr):
            print(f"error: {error}", file=stream, flush=True)
        sys.exit(1)
    print(f"{snakemake.wildcards.dataset}: {len(arrays['x_train'])} training and {len(arrays['x_test'])} test "
          f"images from {data_path or 'the default source'} -> {snakemake.output[0]}", file=log)
