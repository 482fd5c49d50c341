# Snakemake `script:` wrapper (file lists of big sweeps are too long for a shell command line).
import json
import sys
from pathlib import Path

from mnist_sweep.config.sweeps import rung_plan_path, run_folder
from mnist_sweep.analysis.answer import write_answer_html
from mnist_sweep.analysis.search_tables import summarize_search
from mnist_sweep.analysis.summarize import summarize

# The sweep's runs, as its rung plan lists them (a grid's one rung, in grid order; a search's: its last rung, see
# mnist_sweep.planning.rungs); their files are in results/<dataset>/runs/, or in their packs' folders
# (mnist_sweep.config.sweeps.run_folder; the output is results/<dataset>/sweeps/<sweep>/summary/runs.tsv).
summary = Path(snakemake.output.runs).parent
results = summary.parents[2]
with open(snakemake.log[0], "w") as log:
    sys.stderr = log
    if snakemake.config["search"]:
        result = summarize_search(snakemake.config, summary.parent, results, snakemake.config["min_seeds"])
    else:
        plan = json.loads(rung_plan_path(summary.parent, 0).read_text())
        metrics = [run_folder(results, run, plan) / "metrics.json" for run in plan["runs"]]
        result = summarize(metrics, summary, snakemake.config["min_seeds"])
    write_answer_html(summary.parent, snakemake.output.answer)
    print(f"{len(result['runs'])} runs, {len(result['configs'])} grid points", file=log)
