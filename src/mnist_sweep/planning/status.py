"""Where a running sweep stands: `python -m mnist_sweep.planning.status results/<dataset>/sweeps/<sweep>`.

From another terminal on the login node while Snakemake runs (or after it stopped), it reads only
files and SLURM's accounting, and changes nothing:

- the sweep's runs: from its rung plans so far (plan/rung-<k>.json: a grid's one, a search's rungs), or
  before its plan from the config the sweep recorded when it started (summary/config.yaml);
- each run's state: finished (its metrics.json and files whole, run_files.run_state), or the pack that
  trains it (packs/<id>/plan.json), or not planned yet;
- each unfinished pack's SLURM job: the newest of the plugin's logs for it
  (<slurm logdir>/rule_train/<pack>/<job id>.log) and its state in sacct (one call for all packs);
  a pack whose job has not ended shows as training (RUNNING) or queued (PENDING), one whose last job
  failed as failed;
- the time to the end: the finished packs' training seconds (their attempts.tsv) per estimated second
  (packs.estimated_seconds), times the estimate of what is left, over the jobs running at once.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

from mnist_sweep.analysis.summarize import read_job
from mnist_sweep.cluster.slurm_commands import QUEUED_STATES, RUNNING_STATES
from mnist_sweep.config.validation import sweep_runs
from mnist_sweep.planning.packs import PackBook
from mnist_sweep.planning.rungs import rung_plan_files
from mnist_sweep.training.run_files import finished_runs

# How many packs the status names one by one (the rest are counted).
NAMED_PACKS = 10


def sweep_run_ids(sweep_dir: Path) -> list[str]:
    """The sweep's run ids: from its rung plans, or before the first from its recorded config."""
    plans = rung_plan_files(sweep_dir)
    if plans:
        return list(dict.fromkeys(run for plan in plans for run in json.loads(plan.read_text())["runs"]))
    record = sweep_dir / "summary" / "config.yaml"
    if not record.exists():
        raise SystemExit(f"error: {sweep_dir} has not recorded its config yet (no {record.relative_to(sweep_dir)}): "
                         "under a cluster profile it does so first thing; on a workstation, after its training jobs")
    config = yaml.safe_load(record.read_text())["config"]
    if config.get("search"):
        return []  # a search before its first rung was planned
    return [run["run_id"] for run in sweep_runs(config)]


def slurm_jobs(pack_ids: list[str], slurm_logs: Path) -> dict[str, str]:
    """{pack: its newest SLURM job id}, from the plugin's log files (one per submission)."""
    jobs = {}
    for pack in pack_ids:
        ids = [int(log.stem) for log in (slurm_logs / "rule_train" / pack).glob("*.log") if log.stem.isdigit()]
        if ids:
            jobs[pack] = str(max(ids))
    return jobs


def job_states(job_ids: list[str]) -> dict[str, str]:
    """{job id: its state} from sacct ("CANCELLED by 0" read as CANCELLED); {} without sacct."""
    if not job_ids or not shutil.which("sacct"):
        return {}
    result = subprocess.run(["sacct", "-X", "-n", "--parsable2", "-o", "JobIdRaw,State", "-j", ",".join(job_ids)],
                            capture_output=True, text=True)
    states = {}
    for line in result.stdout.splitlines():
        job, _, state = line.partition("|")
        states[job.strip()] = state.split()[0] if state.strip() else "UNKNOWN"
    return states


# What an unfinished run is doing, in the status line's order; the first three are always shown.
STATE_NAMES = ("training", "queued", "failed", "planned, no SLURM job seen (a local sweep?)", "not planned yet")
SHOWN_ALWAYS = STATE_NAMES[:3]


def run_state_name(pack: str | None, jobs: dict, states: dict) -> str:
    """An unfinished run's state: from its pack's newest SLURM job (a job not in sacct yet is queued)."""
    if pack is None:
        return "not planned yet"
    if pack not in jobs:
        return "planned, no SLURM job seen (a local sweep?)"
    state = states.get(jobs[pack], "PENDING")
    return "training" if state in RUNNING_STATES else "queued" if state in QUEUED_STATES else "failed"


def sweep_status(sweep_dir, slurm_logs=".snakemake/slurm_logs") -> list[str]:
    """The status lines of a sweep (see the module's docstring)."""
    sweep_dir = Path(sweep_dir)
    results = sweep_dir.parents[1]
    run_ids = sweep_run_ids(sweep_dir)
    finished, damaged = finished_runs(results, [{"run_id": run} for run in run_ids])
    book = PackBook(results)
    unfinished = [run for run in run_ids if run not in finished]
    packs = sorted({book.pack_of[run] for run in unfinished if run in book.pack_of})
    jobs = slurm_jobs(packs, Path(slurm_logs))
    states = job_states(sorted(set(jobs.values())))
    counts = Counter(run_state_name(book.pack_of.get(run), jobs, states) for run in unfinished)
    lines = [f"{sweep_dir.name}: {len(run_ids):,} runs: {len(finished):,} finished, "
             + ", ".join(f"{counts[name]:,} {name}" for name in STATE_NAMES if counts[name] or name in SHOWN_ALWAYS)
             + (f" ({len(damaged)} of them damaged: retrained on the next run)" if damaged else "")]
    for pack in packs[:NAMED_PACKS]:
        job = jobs.get(pack)
        where = f"SLURM job {job} {states.get(job, 'not in sacct')}" if job else "no SLURM job yet (or a local one)"
        lines.append(f"  pack {pack} ({book.size.get(pack, 0)} runs): {where}")
    if len(packs) > NAMED_PACKS:
        lines.append(f"  and {len(packs) - NAMED_PACKS} more pack(s)")
    lines.append(time_to_end(book, packs, sum(state in RUNNING_STATES for state in states.values()), results))
    return lines


def time_to_end(book: PackBook, packs_left: list[str], running: int, results: Path) -> str:
    """The time to the end, from the finished packs' seconds per estimated second."""
    if not packs_left:
        return "time to the end: nothing left to train"
    # A pack's seconds as summarize charges them: its attempts added up (analysis.summarize.read_job).
    measured = [(read_job(results / "packs" / pack)["job_seconds"] or 0, book.cost.get(pack, 0) / 1000)
                for pack in sorted(book.done)]
    measured = [(seconds, estimate) for seconds, estimate in measured if seconds > 0 and estimate > 0]
    if not measured:
        return "time to the end: not known until a pack has finished"
    per_estimated = sum(seconds for seconds, _ in measured) / sum(estimate for _, estimate in measured)
    left = per_estimated * sum(book.cost.get(pack, 0) / 1000 for pack in packs_left) / max(1, running)
    return (f"time to the end: about {left / 60:.0f} min ({len(packs_left)} pack(s) left, {max(1, running)} running "
            f"at once; from {len(measured)} finished pack(s))")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mnist_sweep.planning.status", description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", help="results/<dataset>/sweeps/<sweep> (what the sweep's first line names)")
    parser.add_argument("--slurm-logdir", default=".snakemake/slurm_logs",
                        help="the SLURM plugin's log folder, where a profile moved it (--slurm-logdir)")
    args = parser.parse_args(argv)
    if not Path(args.sweep_dir).is_dir():
        sys.exit(f"error: no sweep at {args.sweep_dir}: give the folder the sweep's first line names "
                 "(results/<dataset>/sweeps/<sweep>); it appears once the sweep has recorded its config")
    print("\n".join(sweep_status(args.sweep_dir, args.slurm_logdir)))


if __name__ == "__main__":
    main()
