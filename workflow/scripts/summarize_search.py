# Snakemake `script:` wrapper: summary/search.tsv from the rungs' plans and the runs' files.
import json
import sys
from pathlib import Path

from mnist_sweep.io import write_table
from mnist_sweep.analysis.search_tables import search_table
from mnist_sweep.config.search_space import budget

plans = [json.loads(Path(path).read_text()) for path in snakemake.input if path.endswith(".json")
         and Path(path).name.startswith("rung-")]
results = Path(snakemake.output[0]).parents[3]  # results/<dataset>/sweeps/<sweep>/summary/search.tsv
with open(snakemake.log[0], "w") as log:
    sys.stderr = log
    table = search_table(snakemake.config, sorted(plans, key=lambda plan: plan["rung"]), results)
    write_table(snakemake.output[0], table)
    planned = budget(snakemake.config, len(table))
    print(f"{len(table)} points; run-epochs trained (logged by the runs): {int(table['run_epochs_trained'].sum())}; "
          f"halving budget {planned['halving']}, restarting survivors {planned['restart']}, grid {planned['grid']}",
          file=log)
