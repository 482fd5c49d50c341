# Snakemake `script:` wrapper: plan one rung of a search (its points, runs and packs).
import sys
from pathlib import Path

from mnist_sweep.io import write_json
from mnist_sweep.search import plan_rung

sweep_dir = Path(snakemake.output[0]).parents[1]  # results/<dataset>/sweeps/<sweep>/search/rung-<k>.json
results = sweep_dir.parents[1]
with open(snakemake.log[0], "w") as log:
    sys.stderr = log
    plan = plan_rung(snakemake.config, int(snakemake.wildcards.rung), results, sweep_dir, snakemake.params.slots)
    write_json(snakemake.output[0], plan)
    what = "confirmation" if plan["confirmation"] else f"rung {plan['rung']} ({plan['epochs']} epochs)"
    line = (f"search {what}: {len(plan['points'])} point(s), {len(plan['runs'])} run(s), "
            f"{plan['finished_before']} finished before, in {len(plan['packs'])} pack(s)")
    print(line, file=log)
    print(line, file=sys.__stderr__)
