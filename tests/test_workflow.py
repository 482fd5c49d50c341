"""The workflow for real: snakemake dry-runs, a small real sweep, bad config, a killed sweep.

Dry-runs and refusals are fast; tests that train are marked slow. The small sweep is trained once
per test session (small_sweep); a test that changes it works on its own copy.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, SMALL, snakemake
from mnist_sweep.config.validation import validate_config
from mnist_sweep.planning.rungs import plan_config

slow = pytest.mark.slow


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory):
    """tests/configs/small.yaml (2 grid points x 2 seeds, 1 epoch) trained with `snakemake -c2`, once per
    test session: (its working directory, the CompletedProcess). Change it only in a copy (copy_of)."""
    workdir = tmp_path_factory.mktemp("small-sweep")
    result = snakemake(workdir, "-c2", "--configfile", str(SMALL))
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def copy_of(small_sweep, tmp_path: Path) -> Path:
    """A copy of the trained small sweep (files, times and Snakemake's records) for a test to change."""
    workdir = tmp_path / "work"
    shutil.copytree(small_sweep[0], workdir, symlinks=True)
    return workdir


def job_counts(stdout: str) -> dict:
    counts = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def plan_only(workdir: Path, *args):
    """The sweep's plan alone (the checkpoint `plan`, no training): its CompletedProcess."""
    result = snakemake(workdir, "--until", "plan", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_dry_run_writes_nothing_and_the_plan_packs_one_training_job_per_pack(tmp_path):
    grid = ["--configfile", str(SMALL), "--config", 'grid={"dropout": [0.1, 0.2, 0.5], "hidden_units": [[512, 512], [256]]}',
            "seeds=[0,1,2,3]"]
    result = snakemake(tmp_path, "-n", "-c1", *grid)
    assert result.returncode == 0, result.stderr
    assert "2 grid point(s)" not in result.stderr and "= 24 runs; not planned yet;" in result.stderr
    counts = job_counts(result.stdout)
    assert counts["plan"] == 1 and counts["prepare_data"] == 1 and counts["summarize"] == 1 and "train" not in counts
    assert not (tmp_path / "results").exists(), "a dry-run writes no plan"
    # The plan is a job: it writes the plans, trains nothing.
    planned = plan_only(tmp_path, "-c1", *grid)
    # 24 tiny runs of two model shapes share one job (3 dropout rates x 4 seeds per shape).
    assert "mnist-sweep small: 24 runs; 0 finished, 24 to train in 1 job(s)" in planned.stderr
    assert not (tmp_path / "resources").exists() and not list(tmp_path.glob("results/**/metrics.json"))
    plan = json.loads((tmp_path / "results/mnist_5k/sweeps/small/plan/rung-0.json").read_text())
    assert plan["made_for"] == {"slots": 1, "gpus_per_job": 1, "gpu_memory_gb": None} and len(plan["runs"]) == 24
    dry = snakemake(tmp_path, "-n", "-c1", *grid)
    assert "= 24 runs; planned;" in dry.stderr and job_counts(dry.stdout)["train"] == 1
    assert "plan" not in job_counts(dry.stdout), "the same command does not plan again"
    other_cores = snakemake(tmp_path, "-n", "-c4", *grid)
    assert "plan" not in job_counts(other_cores.stdout), "nor does one with other cores: the plan records its slots"
    # Runs longer than the job length get their own job; the longest start first (priority =
    # estimated milliseconds).
    plan_only(tmp_path / "long", "-c1", *grid, "job_minutes=0.001")
    long_runs = snakemake(tmp_path / "long", "-n", "-c1", *grid, "job_minutes=0.001")
    assert job_counts(long_runs.stdout)["train"] == 24
    priorities = {int(line.split()[-1]) for line in long_runs.stdout.splitlines() if line.strip().startswith("priority:")}
    assert len(priorities) == 2 and max(priorities) > min(priorities)
    # pack_size overrides the packing: one job per run.
    assert "24 to train in 24 job(s)" in plan_only(tmp_path / "one", "-c1", *grid, "pack_size=1").stderr
    # One run's files are a target: Snakemake trains that run alone.
    target = ("results/mnist_5k/runs/model~mlp/hidden_units~256/dropout~0.1/activation~relu/optimizer~adam/"
              "learning_rate~0.001/weight_decay~0.0/batch_size~128/epochs~1/seed~3/metrics.json")
    alone = snakemake(tmp_path, "-n", "-c1", target, *grid)
    counts = job_counts(alone.stdout)
    assert alone.returncode == 0 and (counts["train_run"], counts["total"]) == (1, 2), alone.stdout
    assert "--seed 3" in snakemake(tmp_path, "-n", "-p", "-c1", target, *grid).stdout


def test_a_clusters_gpu_memory_sizes_its_packs(tmp_path):
    """Under a cluster (--jobs), gpu_memory_gb of config/slurm.yaml lets a GPU take more than 64 runs: the
    plan is made for it (its resources, read in a dry-run: a real `--jobs` run without an executor is a
    workstation's), and the planner packs accordingly."""
    sweep = ["--jobs", "5", "--configfile", str(SMALL), "--config", f"seeds={list(range(100))}", "job_minutes=600"]
    sized = snakemake(tmp_path, "-n", *sweep, 'slurm={"gpu_memory_gb": 80}')
    assert "planned_slots=1, planned_gpus_per_job=1, planned_gpu_memory_mb=80000" in sized.stdout, sized.stdout
    local = snakemake(tmp_path, "-n", "-c1", *sweep[2:], 'slurm={"gpu_memory_gb": 80}')  # a workstation: not sized
    assert "planned_slots=1, planned_gpus_per_job=1, planned_gpu_memory_mb=0" in local.stdout
    config = plan_config(validate_config(yaml.safe_load(SMALL.read_text()) | {
        "sweep": "small", "results_dir": str(tmp_path / "results"), "seeds": list(range(100)), "job_minutes": 600}))
    lines = {}
    for name, memory in (("plain", "0"), ("sized", "80")):
        out = tmp_path / name / "results/mnist_5k/sweeps/small/plan/rung-0.json"
        planner = subprocess.run([sys.executable, "-m", "mnist_sweep.planning.rungs", "--config", config, "--rung", "0",
                                  "--out", str(out), "--log", str(tmp_path / f"{name}.log"), "--gpu-memory-gb", memory],
                                 capture_output=True, text=True, cwd=tmp_path)
        assert planner.returncode == 0, planner.stderr
        lines[name] = planner.stderr
    # 2 grid points x 100 seeds of tiny MLPs: 64 runs per job at most, or all on one 80 GB GPU.
    assert "200 to train in 4 job(s)" in lines["plain"] and "200 to train in 1 job(s)" in lines["sized"]


def test_a_local_training_job_never_requeues_a_slurm_allocation(tmp_path):
    """`snakemake -c` inside a SLURM allocation: its train command carries no --max-requeues, so a
    stop (Ctrl-C, the allocation's time limit) never requeues the user's own job; only jobs the SLURM
    executor submitted do (tests/test_slurm.py)."""
    plan_only(tmp_path, "-c1", "--configfile", str(SMALL), "--config", "max_requeues=5")
    result = snakemake(tmp_path, "-n", "-p", "-c1", "--configfile", str(SMALL), "--config", "max_requeues=5")
    assert result.returncode == 0, result.stderr
    assert "python -m mnist_sweep.training.train" in result.stdout and "--max-requeues" not in result.stdout


@slow
def test_damaged_prepared_data_stops_the_sweep_after_the_first_job(tmp_path):
    """No retry or other pack could read it either: one attempt in all, then Snakemake stops with the
    job's message (mnist_sweep.cluster.setup_failure); once the file is deleted, the same command trains."""
    data = tmp_path / "resources" / "data" / "mnist_5k.npz"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"PK\x03\x04 not a whole zip")  # newer than nothing: it is not prepared again
    args = ["-c1", "--configfile", str(SMALL), "--config", "pack_size=1", "seeds=[0]", "--retries", "2"]
    result = snakemake(tmp_path, *args)
    assert result.returncode != 0
    assert "the sweep stops: a training job failed in a way no retry can fix" in result.stderr, result.stderr[-3000:]
    assert f"{data.relative_to(tmp_path)} is damaged" in result.stderr.split("the sweep stops")[1]
    attempts = list(tmp_path.glob("results/mnist_5k/packs/*/attempts.tsv"))
    assert len(attempts) == 1 and len(pd.read_csv(attempts[0], sep="\t")) == 1, "one job, one attempt"
    data.unlink()
    fixed = snakemake(tmp_path, *args)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert len(list(tmp_path.glob("results/mnist_5k/runs/**/metrics.json"))) == 2


def test_a_live_snakemake_keeps_its_lock(tmp_path):
    """The stale-lock release never touches the lock of a Snakemake that still runs."""
    from mnist_sweep.cluster.locks import release_stale_lock

    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("results/x\n")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)  # snakemake stand-in"],
                            cwd=tmp_path)
    try:
        time.sleep(0.5)
        assert not release_stale_lock(tmp_path)
        assert (locks / "0.output.lock").exists()
    finally:
        live.kill()
        live.wait()
    assert release_stale_lock(tmp_path)
    assert not (locks / "0.output.lock").exists()
    (tmp_path / ".snakemake" / "mnist-sweep-hosts").write_text("other-login-node\n")
    (locks / "0.output.lock").write_text("results/x\n")
    assert not release_stale_lock(tmp_path), "a directory used from another host is never touched"


def test_a_sweep_larger_than_the_free_disk_is_refused_before_any_training(tmp_path):
    """2,000 runs of an MLP with four 8192-unit layers: about 1.7 TB of models and files, more than any disk
    here holds. A dry-run says how much; the plan refuses before any training job and names what shrinks it."""
    huge = ["--config", "dataset=mnist_5k", 'grid={"hidden_units": [[8192, 8192, 8192, 8192]]}',
            f"seeds={list(range(2_000))}".replace(" ", "")]
    dry = snakemake(tmp_path, "-n", *huge)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "GB on disk" in dry.stderr and "the runs need" in dry.stderr and "if none is trained yet" in dry.stderr
    refused = snakemake(tmp_path, "-c1", "--until", "plan", *huge)
    assert refused.returncode != 0
    assert "error: " in refused.stderr and "set models: none" in refused.stderr and "Nothing was trained." in refused.stderr
    assert not (tmp_path / "results" / "mnist_5k" / "packs").exists()
    assert not (tmp_path / "results" / "mnist_5k" / "sweeps" / "default" / "plan" / "rung-0.json").exists()


def test_bad_config_stops_before_any_job(tmp_path):
    result = snakemake(tmp_path, "-c1", "--configfile", str(SMALL), "--config", "grid={\"dropout\": [1.5]}")
    assert result.returncode != 0
    assert "error: config: grid.dropout[0] = 1.5 is not allowed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


@slow
def test_small_sweep_end_to_end(small_sweep, tmp_path):
    result = small_sweep[1]
    tmp_path = copy_of(small_sweep, tmp_path)
    # Two cores, one thread per training job (train_threads: 1): the 4 runs are dealt to 2 jobs.
    assert "2 grid point(s) x 2 seed(s) = 4 runs; not planned yet;" in result.stderr
    assert "mnist-sweep small: 4 runs; 0 finished, 4 to train in 2 job(s)" in result.stderr
    results = tmp_path / "results" / "mnist_5k"
    runs = sorted(results.glob("runs/**/seed~*"))
    assert len(runs) == 4
    for run in runs:
        for name in ("metrics.json", "history.tsv", "predictions.npz", "model.keras", "train.log"):
            assert (run / name).exists(), run / name
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["dataset"] == "mnist_5k" and metrics["epochs_run"] == 1 and metrics["status"] == "completed"
        assert f"seed~{metrics['seed']}" == run.name and f"dropout~{metrics['dropout']}" in str(run)
        assert "\nepoch 1/1: loss" in (run / "train.log").read_text()
        assert Path(tmp_path, metrics["pack_dir"], "benchmark.tsv").exists()
    summary = results / "sweeps" / "small" / "summary"
    table = pd.read_csv(summary / "runs.tsv", sep="\t")
    assert len(table) == 4 and set(table["seed"]) == {0, 1} and set(table["dropout"]) == {0.2, 0.5}
    configs = pd.read_csv(summary / "configs.tsv", sep="\t")
    assert len(configs) == 2 and configs["n_seeds"].tolist() == [2, 2]
    for _, row in configs.iterrows():
        values = table[table["dropout"] == row["dropout"]]["test_accuracy"]
        assert row["test_accuracy_mean"] == pytest.approx(values.mean())
        assert row["test_accuracy_std"] == pytest.approx(values.std(ddof=1))
        assert row["test_accuracy_ci95_low"] <= row["test_accuracy_mean"] <= row["test_accuracy_ci95_high"]
    best = json.loads((summary / "best.json").read_text())
    assert best["test_accuracy_mean"] == pytest.approx(configs["test_accuracy_mean"].max())
    for name in ("runs.html", "configs.html", "comparison.html", "config.yaml", "answer.html"):
        assert (summary / name).stat().st_size > 0
    # The answer, last on screen, from best.json: the point, its test accuracy, interval and seeds, the verdict.
    low, high = best["test_accuracy_ci95"]
    answer = result.stderr[result.stderr.index("mnist-sweep small: the answer"):]
    assert f"  best point (chosen on validation accuracy): {best['run_path']}\n" in answer
    assert (f"  test accuracy {best['test_accuracy_mean']:.4f} (95% CI {low:.4f}-{high:.4f}) over 2 seed(s) "
            f"{', '.join(map(str, best['seeds']))}\n") in answer
    assert "  against the tutorial's settings: the tutorial's settings were not trained" in answer
    assert f"{best['test_accuracy_mean']:.4f}" in (summary / "answer.html").read_text()
    comparison = pd.read_csv(summary / "comparison.tsv", sep="\t")
    assert set(comparison["reference"]) == {"best"} and len(comparison) == 2  # epochs 1: no tutorial point
    assert comparison["n_paired"].tolist() == [2, 2]
    for name in ("samples.png", "predictions.png", "curves.png", "params.png", "confusion.png"):
        assert (results / "sweeps" / "small" / "figures" / name).stat().st_size > 10_000
    assert table["job_seconds"].gt(0).all() and table["max_rss_mb"].gt(0).all()
    # Nothing half-written is left anywhere.
    assert not list(tmp_path.glob("results/**/.*partial*"))

    report = snakemake(tmp_path, "--configfile", str(SMALL), "--report", "report.zip")
    assert report.returncode == 0, report.stderr[-2000:]
    assert (tmp_path / "report.zip").stat().st_size > 50_000
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        assert any(name.endswith("/answer.html") for name in archive.namelist())

    again = snakemake(tmp_path, "-c2", "--configfile", str(SMALL))
    assert "Nothing to be done" in again.stdout + again.stderr
    assert "= 4 runs; planned;" in again.stderr

    # The predictions figure of any grid point, on request.
    point = configs.iloc[1]["run_path"]
    target = f"results/mnist_5k/sweeps/small/figures/predictions/{point}.png"
    requested = snakemake(tmp_path, target, "-c1", "--configfile", str(SMALL))
    assert requested.returncode == 0, requested.stderr[-2000:]
    assert (tmp_path / target).stat().st_size > 10_000


def test_results_can_live_outside_the_checkout(tmp_path):
    """results_dir (scratch, project storage): every output of the sweep goes there."""
    scratch = tmp_path / "scratch" / "me"
    result = snakemake(tmp_path / "work", "-n", "--configfile", str(SMALL), "--config", f"results_dir={scratch}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"results in {scratch}/mnist_5k/sweeps/small/" in result.stderr
    outputs = [line.split(":", 1)[1].strip() for line in result.stdout.splitlines() if line.strip().startswith("output:")]
    assert outputs and all(path.startswith(str(scratch)) or path.startswith("resources/")
                           for line in outputs for path in line.split(", ")), outputs


@slow
def test_a_results_dir_with_a_space_and_a_semicolon_is_a_path_not_a_command(tmp_path):
    """results_dir reaches the jobs' shell commands quoted (Snakemake's :q): a space stays inside the path,
    and a `;` never ends a command and runs the rest (here `touch pwned`). A sweep finishes (a search, in
    test_search.py's search test, which runs in such a results_dir too)."""
    scratch = tmp_path / "scratch" / "with space;touch pwned;"
    result = snakemake(tmp_path, "-c2", "--configfile", str(SMALL), "--config", f"results_dir={scratch}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(tmp_path.rglob("pwned")), "a `;` in results_dir ended a command and ran the rest"
    sweep = scratch / "mnist_5k" / "sweeps" / "small"
    assert (sweep / "summary" / "best.json").exists()
    assert (sweep / "figures" / "samples.png").stat().st_size > 10_000
    assert len(list(scratch.glob("mnist_5k/runs/**/metrics.json"))) == 4  # 2 points x 2 seeds


def test_a_failed_download_says_why_on_the_console(tmp_path):
    """Offline (a proxy that refuses every connection stands for no internet, on any machine): the reason
    and what to do reach the console, not only logs/prepare_data/mnist.log."""
    env = dict(os.environ, https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9")
    result = snakemake(tmp_path, "-c1", "resources/data/mnist.npz", env=env, timeout=300)
    assert result.returncode != 0
    assert "error: could not download" in result.stderr and "dataset mnist_5k" in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "resources" / "data" / "mnist.npz").exists()


@slow
def test_damaged_results_are_trained_again_or_refused_by_name_never_passed_silently(small_sweep, tmp_path):
    """After a finished sweep: a deleted predictions.npz, a truncated metrics.json, a truncated model.keras
    and a pack plan that is not JSON. The same command trains the run with the missing file again, alone
    (Snakemake sees a declared file missing), to the numbers it had; a truncated file stops the sweep before
    any job, naming the run and what to do; done, the run is trained again. The fourth run is left alone."""
    tmp_path = copy_of(small_sweep, tmp_path)
    runs = sorted((tmp_path / "results" / "mnist_5k").glob("runs/**/seed~*"))
    before = {run: json.loads((run / "metrics.json").read_text()) for run in runs}
    deleted, truncated, broken_model, untouched = runs
    (deleted / "predictions.npz").unlink()
    (plan,) = [p for p in (tmp_path / "results" / "mnist_5k" / "packs").glob("*/plan.json")
               if str(deleted.relative_to(tmp_path / "results" / "mnist_5k" / "runs")) in p.read_text()]
    plan.write_text("{not json")
    untouched_mtime = (untouched / "metrics.json").stat().st_mtime_ns

    dry = snakemake(tmp_path, "-n", "--configfile", str(SMALL))
    assert dry.returncode == 0 and job_counts(dry.stdout)["train_run"] == 1, dry.stdout[-3000:]
    again = snakemake(tmp_path, "-c2", "--configfile", str(SMALL))
    assert again.returncode == 0, again.stderr[-3000:]
    assert (deleted / "predictions.npz").exists() and (deleted / "train_run.log").exists()

    (truncated / "metrics.json").write_text((truncated / "metrics.json").read_text()[:100])
    model = (broken_model / "model.keras").read_bytes()
    (broken_model / "model.keras").write_bytes(model[: len(model) // 2])
    refused = snakemake(tmp_path, "-c2", "--configfile", str(SMALL))
    assert refused.returncode != 0
    assert re.search(r"error: \S+/seed~\d: (metrics.json is not a complete metrics file|model.keras is truncated)"
                     r".*Delete that file and run the same command again", refused.stderr), refused.stderr[-3000:]
    for run, name in ((truncated, "metrics.json"), (broken_model, "model.keras")):
        (run / name).unlink()
    fixed = snakemake(tmp_path, "-c2", "--configfile", str(SMALL))
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    for run in (deleted, truncated, broken_model):
        after = json.loads((run / "metrics.json").read_text())
        assert after["test_loss"] == pytest.approx(before[run]["test_loss"], rel=1e-5), run
        assert (run / "predictions.npz").exists() and (run / "model.keras").stat().st_size > 1_000_000
    assert (untouched / "metrics.json").stat().st_mtime_ns == untouched_mtime
    assert plan.read_text() == "{not json", "a finished pack's plan is not read again"
    quiet = snakemake(tmp_path, "-n", "--configfile", str(SMALL))
    assert "Nothing to be done" in quiet.stdout + quiet.stderr and "warning" not in quiet.stderr


@slow
def test_with_runs_shows_every_run_to_snakemakes_own_tools(small_sweep, tmp_path):
    """`snakemake with_runs` is the sweep with every run's files: --summary lists each file (rule train_run,
    status ok, nothing to do), --dag draws one node per run labelled by its point and seed (the sweep's own DAG:
    one per pack); --delete-all-output deletes the runs with the tables, and the next `snakemake`
    trains them again through their packs' jobs (none per run), to the numbers they had."""
    workdir = copy_of(small_sweep, tmp_path)
    results = workdir / "results" / "mnist_5k"
    runs = sorted(results.glob("runs/**/seed~*"))
    before = {run: json.loads((run / "metrics.json").read_text()) for run in runs}
    files = [str((run / name).relative_to(workdir)) for run in runs
             for name in ("metrics.json", "history.tsv", "predictions.npz", "model.keras")]

    summary = snakemake(workdir, "with_runs", "--summary", "--configfile", str(SMALL))
    assert summary.returncode == 0, summary.stderr[-3000:]
    rows = {line.split("\t")[0]: line.split("\t") for line in summary.stdout.splitlines()}
    # rule, status, plan: each file train_run's, there, with nothing to do.
    assert all([rows[name][i] for i in (2, 4, 5)] == ["train_run", "ok", "no update"] for name in files), \
        summary.stdout[-3000:]
    assert rows["results/mnist_5k/sweeps/small/summary/runs.tsv"][4] == "ok"
    dag = snakemake(workdir, "with_runs", "--dag", "--configfile", str(SMALL))
    labels = re.findall(r'label = "train_run\\nrun: ([^"]+)"', dag.stdout)
    assert sorted(labels) == [str(run.relative_to(results / "runs")) for run in runs], dag.stdout[-3000:]
    assert all(re.search(r"/dropout~0\.[25]/.*/seed~[01]$", label) for label in labels), labels
    default = snakemake(workdir, "-n", "--dag", "--configfile", str(SMALL))
    assert "train_run" not in default.stdout and "label = \"train\\npack: " in default.stdout, default.stdout

    deleted = snakemake(workdir, "with_runs", "--delete-all-output", "--configfile", str(SMALL))
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    assert not any((workdir / name).exists() for name in files), deleted.stdout[-3000:]
    assert not (results / "sweeps" / "small" / "summary" / "runs.tsv").exists()
    again = snakemake(workdir, "-c2", "--configfile", str(SMALL))
    assert again.returncode == 0, again.stderr[-3000:]
    jobs = re.findall(r"^(?:local)?rule (train\w*):$", again.stderr, re.MULTILINE)
    assert jobs == ["train"] * len(list(results.glob("packs/*/done.json"))), again.stderr[-3000:]
    for run in runs:
        assert json.loads((run / "metrics.json").read_text())["test_loss"] == pytest.approx(
            before[run]["test_loss"], rel=1e-5), run
    assert len(pd.read_csv(results / "sweeps" / "small" / "summary" / "runs.tsv", sep="\t")) == len(runs)


def incomplete_outputs(workdir: Path) -> set:
    """Outputs Snakemake marked as being written (.snakemake/incomplete holds base64 names)."""
    from base64 import urlsafe_b64decode

    root = workdir / ".snakemake" / "incomplete"
    found = set()
    for path in root.rglob("*"):
        if path.is_file() and path.name != "migration_underway":
            parts = [part.lstrip("@") for part in path.relative_to(root).parts]
            found.add(urlsafe_b64decode("".join(parts)).decode())
    return found


def finished_runs(workdir: Path) -> dict:
    """metrics.json files of runs Snakemake has recorded as finished, with their mtimes."""
    incomplete = incomplete_outputs(workdir)
    return {
        path: path.stat().st_mtime_ns
        for path in workdir.glob("results/mnist_5k/runs/**/metrics.json")
        if str(path.relative_to(workdir)) not in incomplete
    }


@slow
def test_sweep_survives_kill_of_snakemake(tmp_path):
    config = ["--configfile", str(SMALL), "--config", 'grid={"dropout": [0.2, 0.5], "epochs": [2]}', "pack_size=1"]
    process = snakemake(tmp_path, "-c1", *config, popen=dict(start_new_session=True,
                                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    results = tmp_path / "results" / "mnist_5k"
    deadline = time.time() + 600
    # Kill when at least one run is finished and the next training job has just started: every
    # metrics.json belongs to a pack with its done.json, and a pack without one is marked incomplete.
    # (Killing while a pack writes its last files would race Snakemake clearing its mark.)
    def next_job_started():
        done = list(results.glob("packs/*/done.json"))
        running = [path for path in incomplete_outputs(tmp_path)
                   if "/packs/" in path and not (tmp_path / path).exists()]
        return done and len(finished_runs(tmp_path)) == len(done) and running

    while time.time() < deadline and not next_job_started():
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the login-node session dies: snakemake and its jobs
    process.wait()
    finished = finished_runs(tmp_path)
    assert 1 <= len(finished) < 4, "the kill must come after one run and before the last"
    assert incomplete_outputs(tmp_path), "a training job was running when snakemake was killed"

    # Snakemake's lock survives a kill -9; the workflow releases it because its owner is dead.
    assert list((tmp_path / ".snakemake" / "locks").glob("*.lock"))
    rerun = snakemake(tmp_path, "-c1", *config)  # the same command as before the kill
    assert "removed the lock of a Snakemake process that no longer runs" in rerun.stderr
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    metrics = list(results.glob("runs/**/metrics.json"))
    assert len(metrics) == 4
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was retrained"
    for path in metrics:
        assert json.loads(path.read_text())["status"] == "completed"
        with np.load(path.parent / "predictions.npz") as predictions:
            assert predictions["predicted"].shape == (1000,)
    assert not list(tmp_path.glob("results/**/.*partial*"))
    assert not list(results.glob("runs/**/resume"))
    assert len(pd.read_csv(results / "sweeps" / "small" / "summary" / "runs.tsv", sep="\t")) == 4


@slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_snakemake_alone_stops_its_jobs_and_reads_as_a_stop(tmp_path, signum):
    """SIGTERM or SIGINT to the Snakemake process alone (a batch system, `kill <pid>`; not the terminal's
    Ctrl-C, which reaches the whole group): its training jobs stop at the end of their epoch with their state
    saved, no job is reported as an error, and one line says what happened."""
    config = ["-c2", "--configfile", str(SMALL), "--config", 'grid={"dropout": [0.2, 0.5], "epochs": [40]}']
    process = snakemake(tmp_path, *config, popen=dict(start_new_session=True, stdout=subprocess.PIPE,
                                                      stderr=subprocess.PIPE, text=True))
    packs = tmp_path / "results" / "mnist_5k" / "packs"
    def both_jobs_past_epoch_2():
        logs = list(packs.glob("*/train.log"))
        return len(logs) == 2 and all("epoch 2/40" in log.read_text() for log in logs)

    deadline = time.time() + 300
    while time.time() < deadline and not both_jobs_past_epoch_2():
        time.sleep(0.1)
    os.kill(process.pid, signum)  # Snakemake alone: its jobs are not signalled by anyone else
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    name = signal.Signals(signum).name
    assert f"stopped on request ({name}): 2 training job(s) stopped" in stderr, stderr[-3000:]
    assert "Error in rule" not in stderr and "exit status" not in stderr and "did not complete" not in stderr
    import psutil

    assert not [p for p in psutil.process_iter(["cmdline"]) if "mnist_sweep.training.train" in (p.info["cmdline"] or [])
                and str(tmp_path) in os.readlink(f"/proc/{p.pid}/cwd")], "a training job outlived the sweep"
    for log in packs.glob("*/train.log"):
        assert "state saved, rerun to resume" in log.read_text()
        assert "epoch 40/40" not in log.read_text(), "the job stopped before its end"
    # The same command resumes from these states: test_train.py's resume tests and test_sweep_survives_kill_of_snakemake.
    assert len(list(tmp_path.glob("results/mnist_5k/runs/**/resume/state.json"))) == 4


@slow
def test_packed_sweep_gives_each_run_the_same_result_as_one_job_per_run(small_sweep, tmp_path):
    """By default the 4 runs (2 dropout rates x 2 seeds) share a job per core (-c2: 2 jobs of 2); every
    run's files land in its own run directory, with the numbers of one job per run."""
    results = {}
    for name, workdir in (("default", small_sweep[0]), ("one_per_job", tmp_path)):
        if name == "one_per_job":
            result = snakemake(workdir, "-c2", "--configfile", str(SMALL), "--config", "pack_size=1")
            assert result.returncode == 0, result.stderr[-3000:]
        runs = pd.read_csv(workdir / "results/mnist_5k/sweeps/small/summary/runs.tsv", sep="\t")
        assert len(runs) == 4 and runs["pack_size"].eq(2 if name == "default" else 1).all()
        assert len(list(workdir.glob("results/mnist_5k/packs/*/done.json"))) == (2 if name == "default" else 4)
        for run_dir in runs["run_dir"]:
            for file in ("metrics.json", "history.tsv", "predictions.npz", "model.keras", "train.log"):
                assert (workdir / run_dir / file).exists()
        results[name] = runs.set_index(["dropout", "seed"])
    for column in ("test_accuracy", "test_loss", "val_loss"):
        pd.testing.assert_series_equal(results["default"][column], results["one_per_job"][column])


@slow
def test_adding_seeds_and_grid_values_trains_only_the_new_runs(small_sweep, tmp_path):
    tmp_path = copy_of(small_sweep, tmp_path)
    trained = {path: path.stat().st_mtime_ns for path in tmp_path.glob("results/mnist_5k/runs/**/metrics.json")}
    assert len(trained) == 4
    plain = snakemake(tmp_path, "-n", "--configfile", str(SMALL))
    assert "Nothing to be done" in plain.stdout + plain.stderr and "4 runs; planned;" in plain.stderr
    bigger = ["--configfile", str(SMALL), "--config", "seeds=[0,1,2]", 'grid={"dropout": [0.2, 0.5, 0.3]}']
    more = snakemake(tmp_path, "-c2", *bigger)
    assert more.returncode == 0, more.stderr[-3000:]
    assert "small: 9 runs; 4 finished, 5 to train in 2 job(s)" in more.stderr
    for path, mtime in trained.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was retrained"
    new_pack = [json.loads(path.read_text()) for path in tmp_path.glob("results/mnist_5k/packs/*/done.json")]
    # 4 runs in 2 jobs, then the 5 new ones in 2 more (-c2: a job per core).
    assert sorted(len(pack["runs"]) for pack in new_pack) == [2, 2, 2, 3]
    assert len(pd.read_csv(tmp_path / "results/mnist_5k/sweeps/small/summary/runs.tsv", sep="\t")) == 9
    again = snakemake(tmp_path, "-n", *bigger)
    assert "Nothing to be done" in again.stdout + again.stderr


@slow
def test_two_sweeps_share_runs_and_each_report_shows_its_own(small_sweep, tmp_path):
    tmp_path = copy_of(small_sweep, tmp_path)
    shared = next(tmp_path.glob("results/mnist_5k/runs/**/dropout~0.2/**/seed~0/metrics.json"))
    mtime = shared.stat().st_mtime_ns
    # One sweep so far: a report that names none shows that one.
    only = snakemake(tmp_path, "--report", "only.zip")
    assert only.returncode == 0 and "reporting sweep small, the only one here" in only.stderr, only.stderr[-3000:]
    other = tmp_path / "other.yaml"
    other.write_text("dataset: mnist_5k\nseeds: [0]\ntrain_threads: 1\nmin_seeds: 1\n"
                     "grid:\n  dropout: [0.2, 0.35]\n  epochs: [1]\n")
    second = snakemake(tmp_path, "-c2", "--configfile", str(other))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "mnist-sweep other: 2 grid point(s) x 1 seed(s) = 2 runs; not planned yet" in second.stderr
    assert "mnist-sweep other: 2 runs; 1 finished, 1 to train in 1 job(s)" in second.stderr
    assert shared.stat().st_mtime_ns == mtime, "the run both sweeps contain was trained once"
    sweeps = tmp_path / "results" / "mnist_5k" / "sweeps"
    assert len(pd.read_csv(sweeps / "small" / "summary" / "runs.tsv", sep="\t")) == 4
    assert pd.read_csv(sweeps / "other" / "summary" / "runs.tsv", sep="\t")["dropout"].tolist() == [0.2, 0.35]
    # A report without naming the sweep: there are two, so it asks which.
    unnamed = snakemake(tmp_path, "--report", "report.zip")
    assert unnamed.returncode != 0 and "which sweep should the report show" in unnamed.stderr
    assert "results/mnist_5k/sweeps/small" in unnamed.stderr and "results/mnist_5k/sweeps/other" in unnamed.stderr
    named = snakemake(tmp_path, "--configfile", str(other), "--report", "report.zip")
    assert named.returncode == 0, named.stderr[-3000:]
    import zipfile

    with zipfile.ZipFile(tmp_path / "report.zip") as report:
        text = "".join(report.read(name).decode(errors="ignore") for name in report.namelist()
                       if name.endswith((".html", ".js", ".tsv", ".yaml")))
    assert "dropout~0.35" in text and "dropout~0.5" not in text, "the report holds only this sweep's runs"


@slow
def test_data_given_once_is_remembered_and_other_data_is_refused(tmp_path, mnist_5k_file):
    local = ["--configfile", str(SMALL), "--config", f"data_path={mnist_5k_file}", "seeds=[0]"]
    first = snakemake(tmp_path, "-c2", *local)
    assert first.returncode == 0, first.stderr[-3000:]
    plain = snakemake(tmp_path, "-n", "--configfile", str(SMALL), "--config", "seeds=[0]")
    assert "Nothing to be done" in plain.stdout + plain.stderr, plain.stdout[-3000:]
    again = snakemake(tmp_path, "-n", *local)  # the same data given again
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
    arrays = dict(np.load(mnist_5k_file))
    arrays["y_train"] = arrays["y_train"].copy()
    arrays["y_train"][0] = (arrays["y_train"][0] + 1) % 10
    changed = tmp_path / "changed.npz"
    np.savez(changed, **arrays)
    refused = snakemake(tmp_path, "-n", "--configfile", str(SMALL), "--config", f"data_path={changed}", "seeds=[0]")
    assert refused.returncode != 0 and "holds other data than resources/data/mnist_5k.npz" in refused.stderr


@slow
def test_diverging_points_and_whole_numbers_in_tables_figures_and_report(tmp_path):
    """dropout 0 and learning rates 1000 (written without a decimal): one text form from run folder to figure;
    the learning rate 1000 points diverge on every seed: results, not a failed sweep; drawn as diverged, never
    the best, and a comparison with them says no seed completed on both sides."""
    config = ["--configfile", str(SMALL), "--config", 'grid={"dropout": [0, 0.5], "learning_rate": [0.001, 1000], '
              '"optimizer": ["sgd"], "epochs": [1]}', "models=none"]
    result = snakemake(tmp_path, "-c2", *config)
    assert result.returncode == 0, result.stderr[-3000:]
    runs_dir = tmp_path / "results" / "mnist_5k" / "runs"
    assert list(runs_dir.glob("**/dropout~0.0/**/learning_rate~1000.0/**/seed~0/metrics.json"))
    assert not list(runs_dir.glob("**/model.keras"))  # models: none
    summary = tmp_path / "results" / "mnist_5k" / "sweeps" / "small" / "summary"
    runs = pd.read_csv(summary / "runs.tsv", sep="\t", dtype={"learning_rate": str})
    assert runs.groupby("learning_rate")["status"].apply(set).to_dict() == {
        "0.001": {"completed"}, "1000.0": {"diverged"}}
    configs = pd.read_csv(summary / "configs.tsv", sep="\t", dtype=str)
    assert set(configs["learning_rate"]) == {"0.001", "1000.0"} and set(configs["dropout"]) == {"0.0", "0.5"}
    diverged = configs[configs["learning_rate"] == "1000.0"]
    assert (diverged["n_seeds"] == "0").all() and (diverged["eligible"] == "False").all()
    assert (diverged["n_diverged"] == "2").all() and (configs[configs["learning_rate"] == "0.001"]["n_seeds"] == "2").all()
    best = json.loads((summary / "best.json").read_text())
    assert "learning_rate~0.001/" in best["run_path"] and len(best["ineligible"]) == 2
    comparison = pd.read_csv(summary / "comparison.tsv", sep="\t", dtype={"learning_rate": str})
    diverged_rows = comparison[comparison["learning_rate"] == "1000.0"]
    assert len(diverged_rows) == 2
    for _, row in diverged_rows.iterrows():
        assert row["verdict"] == "no seed completed on both sides" and row["n_diverged"] == 2
    figures = tmp_path / "results" / "mnist_5k" / "sweeps" / "small" / "figures"
    for name in ("curves.png", "params.png", "confusion.png", "predictions.png"):
        assert (figures / name).stat().st_size > 10_000, name
    report = snakemake(tmp_path, *config, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-2000:]
