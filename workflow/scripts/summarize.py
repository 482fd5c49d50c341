# Snakemake `script:` wrapper (file lists of big sweeps are too long for a shell command line).
import sys
from pathlib import Path

from mnist_sweep.config import sweep_runs
from mnist_sweep.summarize import summarize

# The sweep's runs, from the config; their files are in results/<dataset>/runs/ (the output
# is results/<dataset>/sweeps/<sweep>/summary/runs.tsv).
results = Path(snakemake.output.runs).parents[3]
metrics = [results / "runs" / run["run_id"] / "metrics.json" for run in sweep_runs(snakemake.config)]
with open(snakemake.log[0], "w") as log:
    sys.stderr = log
    result = summarize(metrics, Path(snakemake.output.runs).parent, snakemake.config["min_seeds"])
    print(f"{len(result['runs'])} runs, {len(result['configs'])} grid points", file=log)
