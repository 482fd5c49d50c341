# Snakemake `script:` wrapper (file lists of big sweeps are too long for a shell command line).
import sys
from pathlib import Path

from mnist_sweep.summarize import summarize

with open(snakemake.log[0], "w") as log:
    sys.stderr = log
    result = summarize(snakemake.input.metrics, Path(snakemake.output.runs).parent)
    print(f"{len(result['runs'])} runs, {len(result['configs'])} grid points", file=log)
