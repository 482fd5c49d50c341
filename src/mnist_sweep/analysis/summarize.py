"""Gather per-run metrics into tables: runs, grid points (seed statistics), the best point.

configs.tsv statistics are over the runs that completed; diverged runs are counted
in their own column. The 95% confidence interval of a mean uses the t-distribution
with n-1 degrees of freedom (seeds are few); with one seed there is no interval.

The best point is chosen on validation and reported on test: choosing on the test set
and then quoting its test accuracy would overstate it (the winner's curse). Only points
with enough completed seeds are eligible: at least min_seeds (config key, default 2; all of
them in a sweep with fewer seeds) and at least half of their runs.

Run by hand:  python -m mnist_sweep.analysis.summarize --out-dir results/mnist/summary results/mnist/runs/**/metrics.json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mnist_sweep.analysis.compare import compare, paired_difference, runs_by_point, seed_scores
from mnist_sweep.analysis.statistics import confidence_interval
from mnist_sweep.config.hyperparameters import HYPERPARAMETERS, format_value, run_path_fragment
from mnist_sweep.io import write_json, write_table, write_text

METRICS = ("test_accuracy", "test_loss", "val_accuracy")
SELECTION_METRIC = "val_accuracy"
RUN_COLUMNS = (
    ["run_dir", "dataset", *HYPERPARAMETERS, "seed", "status"]
    + ["test_accuracy", "test_loss", "train_accuracy", "train_loss", "val_accuracy", "val_loss"]
    + ["test_images", "validation_images"]
    + ["epochs_run", "training_seconds", "samples_per_second", "pack_size", "parameter_count", "resumed_from_epoch"]
    + ["job_seconds", "max_rss_mb", "gpu_hours"]
    + ["device", "host", "slurm_job_id", "slurm_gpus"]
)


# Where a run's metrics.json came in the list summarize was given (the plan's order: grid order, or a
# search's sample order): equal scores go to the point listed first. Not written to the tables.
LISTED = "listed"


def read_runs(metrics_files) -> pd.DataFrame:
    """One row per run, hyperparameters in their run-path form (hidden_units 512-512)."""
    rows, jobs = [], {}
    for listed, path in enumerate(metrics_files):
        path = Path(path)
        with open(path) as f:
            metrics = json.load(f)
        row = {column: metrics.get(column) for column in RUN_COLUMNS}
        row[LISTED] = listed
        row["run_dir"] = str(path.parent)
        # The job's benchmark is its pack's (older runs: beside metrics.json).
        job_folder = Path(metrics["pack_dir"]) if metrics.get("pack_dir") else path.parent
        if job_folder not in jobs:
            jobs[job_folder] = read_job(job_folder)
        row.update(jobs[job_folder])
        # A packed job trained pack_size runs at once: each run is charged its share.
        row["pack_size"] = int(metrics.get("pack_size") or 1)
        if row["job_seconds"] is not None:
            row["job_seconds"] /= row["pack_size"]
        # GPU hours: the job's wall time times the GPUs it held (SLURM's count, or the one TensorFlow used).
        gpus = str(metrics.get("slurm_gpus") or "")
        held = int(gpus) if gpus.isdigit() else 1 if gpus or str(metrics.get("device", "")).startswith("GPU") else 0
        row["gpu_hours"] = held * row["job_seconds"] / 3600 if row["job_seconds"] is not None else 0.0
        for name in HYPERPARAMETERS:
            row[name] = format_value(name, metrics[name])
        rows.append(row)
    runs = pd.DataFrame(rows, columns=[*RUN_COLUMNS, LISTED])
    for column in METRICS + ("train_accuracy", "train_loss", "val_accuracy", "val_loss", "job_seconds", "gpu_hours"):
        runs[column] = pd.to_numeric(runs[column])
    return runs.sort_values([*HYPERPARAMETERS, "seed"], kind="stable").reset_index(drop=True)


def read_job(folder: Path) -> dict:
    """job_seconds and max_rss_mb of the job(s) that trained a pack: the seconds of every attempt added up
    (attempts.tsv, written by the train command: a job stopped at its time limit and continued, or rerun
    after a killed Snakemake, is charged each time), else Snakemake's benchmark of the last one."""
    job = read_benchmark(folder / "benchmark.tsv")
    attempts = folder / "attempts.tsv"
    if attempts.exists():
        try:
            with open(attempts, newline="") as f:
                seconds = [float(row["seconds"]) for row in csv.DictReader(f, delimiter="\t") if row.get("seconds")]
        except (ValueError, KeyError, UnicodeDecodeError) as error:  # damaged: the job's time is then unknown
            print(f"warning: {attempts} cannot be read ({error}); the job time of its runs is left empty",
                  file=sys.stderr)
            return {"job_seconds": None, "max_rss_mb": job["max_rss_mb"]}
        if seconds:
            job["job_seconds"] = sum(seconds)
    return job


def read_benchmark(path: Path) -> dict:
    """Wall time and peak memory of the training job, from Snakemake's `benchmark:` file.

    Read with the csv module: pandas takes about 1 ms per file, 10 s for a 10,000-run sweep.
    """
    if not path.exists():
        return {"job_seconds": None, "max_rss_mb": None}
    try:
        with open(path, newline="") as f:
            last = list(csv.DictReader(f, delimiter="\t"))[-1]
        seconds = float(last["s"])
    except (IndexError, KeyError, ValueError, TypeError, UnicodeDecodeError) as error:
        print(f"warning: {path} cannot be read ({error}); the job time of its runs is left empty", file=sys.stderr)
        return {"job_seconds": None, "max_rss_mb": None}
    rss = pd.to_numeric(last.get("max_rss"), errors="coerce")  # "NA" where memory was not measured
    return {"job_seconds": seconds, "max_rss_mb": None if pd.isna(rss) else float(rss)}


def required_seeds(n_runs: int, min_seeds: int) -> int:
    """Completed seeds a point needs to be eligible as the best: min_seeds (all, with fewer runs), and half."""
    return max(min(min_seeds, n_runs), math.ceil(n_runs / 2))


def summarize_configs(runs: pd.DataFrame, min_seeds: int = 2) -> pd.DataFrame:
    """One row per grid point: seeds, diverged runs, eligibility, mean/std/min/max/95% CI of each metric;
    eligible points first, by mean validation accuracy (the selection metric)."""
    rows = []
    # Points in the order they were listed, so that the stable sort below leaves equal scores in that order.
    groups = runs.groupby(list(HYPERPARAMETERS), sort=False)
    if LISTED in runs:
        groups = sorted(groups, key=lambda item: item[1][LISTED].min())
    for point, group in groups:
        completed = group[group["status"] == "completed"]
        row = dict(zip(HYPERPARAMETERS, point))
        row["n_runs"] = len(group)
        row["n_seeds"] = len(completed)
        row["n_diverged"] = int((group["status"] == "diverged").sum())
        row["eligible"] = row["n_seeds"] >= required_seeds(len(group), min_seeds)
        row["seeds"] = ",".join(str(seed) for seed in completed["seed"])
        row["job_hours"] = pd.to_numeric(group["job_seconds"]).sum() / 3600
        row["gpu_hours"] = pd.to_numeric(group["gpu_hours"]).sum()
        for metric in METRICS:
            values = completed[metric].to_numpy(dtype=float)
            low, high = confidence_interval(values)
            row[f"{metric}_mean"] = values.mean() if len(values) else float("nan")
            row[f"{metric}_std"] = values.std(ddof=1) if len(values) > 1 else float("nan")
            row[f"{metric}_min"] = values.min() if len(values) else float("nan")
            row[f"{metric}_max"] = values.max() if len(values) else float("nan")
            row[f"{metric}_ci95_low"] = low
            row[f"{metric}_ci95_high"] = high
        row["run_path"] = run_path_fragment(row)
        rows.append(row)
    configs = pd.DataFrame(rows)
    # Without a validation split, select on test (best.json says so).
    metric = SELECTION_METRIC if configs[f"{SELECTION_METRIC}_mean"].notna().any() else "test_accuracy"
    return configs.sort_values(["eligible", f"{metric}_mean"], ascending=[False, False], na_position="last",
                               kind="stable").reset_index(drop=True)


def number(value) -> float | None:
    """A table's value for JSON: a float, or None where it is missing (NaN)."""
    return None if pd.isna(value) else float(value)


def best_config(configs: pd.DataFrame, by_point: dict[str, pd.DataFrame], min_seeds: int = 2,
                chosen: str | None = None) -> dict:
    """The eligible grid point with the highest mean validation accuracy (equal means: the point listed
    first), reported with its test accuracy; or, with `chosen` (a run path), that point, chosen elsewhere
    (a search's confirmation reports the search's winner on new seeds, whatever these runs say).

    by_point: compare.runs_by_point of the runs table."""
    ineligible = [
        {"run_path": row["run_path"], "n_seeds": int(row["n_seeds"]), "n_runs": int(row["n_runs"]),
         "reason": f"{int(row['n_seeds'])} of {int(row['n_runs'])} seeds completed "
                   f"({int(row['n_diverged'])} diverged); at least {required_seeds(int(row['n_runs']), min_seeds)} "
                   f"needed (min_seeds {min_seeds}, and half of its seeds)"}
        for _, row in configs[~configs["eligible"]].iterrows()
    ]
    eligible = configs[configs["eligible"]]
    if eligible.empty:
        return {"best": None, "reason": "no grid point has enough completed seeds to be chosen "
                                        f"(min_seeds {min_seeds}, and half of its seeds)", "ineligible": ineligible}
    if chosen is not None and chosen not in set(eligible["run_path"]):
        return {"best": None, "reason": f"{chosen} has no completed run here", "ineligible": ineligible}
    # configs are sorted eligible first, by the selection metric
    best = eligible[eligible["run_path"] == chosen].iloc[0] if chosen is not None else eligible.iloc[0]
    diverged = int(best["n_diverged"])
    metric = SELECTION_METRIC if pd.notna(best[f"{SELECTION_METRIC}_mean"]) else "test_accuracy"
    reference = seed_scores(by_point[best["run_path"]], metric)
    tied = []
    for run_path in eligible["run_path"][eligible["run_path"] != best["run_path"]]:
        row = paired_difference(seed_scores(by_point[run_path], metric), reference)
        if row["verdict"] != "worse":
            tied.append({"run_path": run_path, "mean_difference": number(row["mean_difference"]),
                         "verdict": row["verdict"]})
    return {
        "selection_metric": (f"chosen before these runs: {chosen}" if chosen is not None
                             else f"mean {metric} over completed seeds, among eligible grid points "
                                  "(equal means: the point listed first)"),
        **({"warning": "no validation split: chosen on the test set, so its test accuracy is optimistic"}
           if metric == "test_accuracy" else {}),
        # Its means are over the seeds that completed: a point that diverged on some seeds is less
        # reliable than its mean says (it is eligible with at least min_seeds and half of its seeds).
        **({"diverged_warning": f"{diverged} of {int(best['n_runs'])} seeds of this point diverged (seeds "
                                f"{', '.join(map(str, diverged_seeds(by_point[best['run_path']])))}); its means are "
                                "over the completed seeds only"} if diverged else {}),
        "hyperparameters": {name: best[name] for name in HYPERPARAMETERS},
        "run_path": best["run_path"],
        "n_seeds": int(best["n_seeds"]),
        "n_diverged": int(best["n_diverged"]),
        "seeds": [int(seed) for seed in str(best["seeds"]).split(",") if seed],
        # The completed runs those numbers come from (their predictions make predictions.png and confusion.png).
        "run_dirs": list(by_point[best["run_path"]].loc[lambda runs: runs["status"] == "completed", "run_dir"]),
        "val_accuracy_mean": number(best["val_accuracy_mean"]),
        "test_accuracy_mean": number(best["test_accuracy_mean"]),
        "test_accuracy_std": number(best["test_accuracy_std"]),
        "test_accuracy_ci95": [number(best["test_accuracy_ci95_low"]), number(best["test_accuracy_ci95_high"])],
        "test_loss_mean": number(best["test_loss_mean"]),
        "tied_on_validation": tied,
        "ineligible": ineligible,
        "grid_points": len(configs),
    }


def diverged_seeds(point_runs: pd.DataFrame) -> list[int]:
    return sorted(int(seed) for seed in point_runs.loc[point_runs["status"] == "diverged", "seed"])


def to_html(frame: pd.DataFrame, title: str) -> str:
    table = frame.to_html(index=False, float_format=lambda value: f"{value:.4f}", na_rep="", border=0)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>table{{border-collapse:collapse;font:13px sans-serif}}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}</style></head>"
        f"<body><h3>{title}</h3>{table}</body></html>\n"
    )


def summarize(metrics_files, out_dir, min_seeds: int = 2, chosen: str | None = None, seeds_note: str = "") -> dict:
    """The summary tables of these runs (metrics_files in the plan's order; see LISTED). chosen: see best_config.
    seeds_note: what the HTML tables' titles say of the seeds (a search's: optimistic for its winner)."""
    out_dir = Path(out_dir)
    runs = read_runs(metrics_files)
    configs = summarize_configs(runs, min_seeds)
    runs = runs.drop(columns=[LISTED])
    by_point = runs_by_point(runs)
    best = best_config(configs, by_point, min_seeds, chosen)
    write_table(out_dir / "runs.tsv", runs)
    write_table(out_dir / "configs.tsv", configs)
    write_json(out_dir / "best.json", best)
    comparison = compare(runs, best.get("run_path"), order=configs["run_path"].tolist(), groups=by_point)
    write_table(out_dir / "comparison.tsv", comparison)
    write_text(out_dir / "comparison.html", to_html(comparison, "Comparison with the best grid point (chosen on "
                                                    "validation) and the tutorial (test accuracy, paired by seed)"
                                                    + seeds_note))
    write_text(out_dir / "runs.html", to_html(runs, "Runs: one row per (grid point, seed)" + seeds_note))
    shown = configs.drop(columns=["run_path"])
    write_text(out_dir / "configs.html", to_html(shown, "Grid points: statistics over seeds" + seeds_note))
    return {"runs": runs, "configs": configs, "best": best, "comparison": comparison}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Gather run metrics into summary tables.")
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("--min-seeds", type=int, default=2, help="completed seeds a point needs to be chosen")
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files of the runs")
    args = parser.parse_args(argv)
    result = summarize(args.metrics, args.out_dir, args.min_seeds)
    print(f"{len(result['runs'])} runs, {len(result['configs'])} grid points -> {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
