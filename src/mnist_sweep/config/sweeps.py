"""Several sweeps in one checkout: each has a name and its own summaries, figures and report.

Runs are shared (results/<dataset>/runs/), so a run two sweeps contain is trained once; a
sweep's tables, figures and config record live in results/<dataset>/sweeps/<name>/. A report
is built from the sweep the command names; asked for a sweep that was not run, it uses the
only sweep there is, or stops and lists the sweeps, rather than mixing one sweep's tables with
another's figures.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Where a sweep's rung plans live: <sweep dir>/plan/rung-<k>.json (a grid has one rung, a search one per
# round of halving and one for its confirmation; mnist_sweep.planning.rungs writes them).
PLAN_FOLDER = "plan"


def rung_plan_path(sweep_dir, rung: int) -> Path:
    return Path(sweep_dir, PLAN_FOLDER, f"rung-{rung}.json")


def run_folder(results, run: str, plan: dict | None = None) -> Path:
    """Where a run's files are: results/<dataset>/runs/<run path>/ on a shared file system, shared by every sweep.
    Where the sweep keeps its results in a storage plugin's storage (its rung plan says runs_in_packs), in the
    folder of the pack that trained it (run_packs), under the sweep: there only a job's declared outputs travel,
    and a pack's job declares its folder (a job cannot declare a list of run paths)."""
    if plan and plan.get("runs_in_packs"):
        return run_in_pack_folder(stored_pack_folder(results, plan, plan["run_packs"][run]), run)
    return Path(results, "runs", run)


def stored_pack_folder(results, plan: dict, pack: str) -> Path:
    """In storage: a pack's folder, its job's declared output (the rung plan's pack_folder/<pack id>)."""
    return Path(results, plan["pack_folder"], pack)


def run_in_pack_folder(pack_folder, run: str) -> Path:
    """In storage: where a run's files are in its pack's folder."""
    return Path(pack_folder, "runs", run)


def stored_packs_folder(sweep: str, rung) -> str:
    """In storage: the folder of a sweep's packs of one rung, relative to results/<dataset>/ (run_folder)."""
    return f"sweeps/{sweep}/packs/rung-{rung}"


def finished_sweeps(results_root: str | Path = "results") -> dict[str, dict]:
    """{sweep folder: its recorded config} for every sweep summarized in this checkout."""
    sweeps = {}
    for record in sorted(Path(results_root).glob("*/sweeps/*/summary/config.yaml")):
        sweeps[str(record.parents[1])] = yaml.safe_load(record.read_text())["config"]
    return sweeps


def report_sweep_config(sweep_dir: str, results_root: str | Path = "results") -> dict | None:
    """Before `snakemake --report`: None if the named sweep was summarized; the recorded config of the only
    sweep there is if it was not; otherwise stop and list the sweeps with the option that names each."""
    if Path(sweep_dir, "summary", "config.yaml").exists():
        return None
    sweeps = finished_sweeps(results_root)
    if not sweeps:
        raise SystemExit(f"error: no sweep has been run here yet ({sweep_dir}/summary/ does not exist): run the "
                         "sweep first, then build its report")
    if len(sweeps) == 1:
        return next(iter(sweeps.values()))
    lines = [f"  {folder}: its --configfile, or --config sweep={config['sweep']} dataset={config['dataset']} "
             "with the grid it ran" for folder, config in sweeps.items()]
    raise SystemExit(
        f"error: which sweep should the report show? Sweep {Path(sweep_dir).name} ({sweep_dir}) has not been run, "
        "and there are several here; name one with the --configfile (and --config) it was run with:\n"
        + "\n".join(lines)
    )
