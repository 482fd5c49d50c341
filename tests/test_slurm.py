"""The SLURM profile against a real one-node SLURM cluster (slurmctld, slurmd, munged)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from test_workflow import SMALL

pytestmark = pytest.mark.slow
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
# Only what this test cluster needs on top of the production profile: it has no accounting
# database (so job states come from squeue), and a short first wait and latency suit one node.
TEST_OVERRIDES = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "5",
    "--latency-wait", "5",
]


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """Start the cluster; stop it afterwards, whatever happened."""
    subprocess.run(["bash", str(CLUSTER), "install"], check=True)
    directory = tmp_path_factory.mktemp("slurm")
    env = dict(os.environ, SLURM_CONF=str(directory / "slurm.conf"))
    try:
        subprocess.run(["bash", str(CLUSTER), "start", str(directory)], check=True, env=env, timeout=120)
        yield env
    finally:
        subprocess.run(["bash", str(CLUSTER), "stop", str(directory)], env=env)


def snakemake_slurm(workdir: Path, env: dict, *args):
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text((ROOT / "config" / "config.yaml").read_text())
    env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--profile", str(ROOT / "profiles" / "slurm"), *TEST_OVERRIDES, *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=1200)


def scontrol_job(env: dict, job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout


def test_sweep_runs_each_training_run_in_its_own_gpu_job(tmp_path, slurm_cluster):
    result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(SMALL))
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("results/mnist_5k/runs/**/metrics.json")]
    assert len(metrics) == 4
    job_ids = {m["slurm_job_id"] for m in metrics}
    assert None not in job_ids and len(job_ids) == 4, "each run in its own SLURM job"
    for m in metrics:
        assert m["slurm_gpus"] == "1"
        job = scontrol_job(slurm_cluster, m["slurm_job_id"])
        assert "JobState=COMPLETED" in job
        assert re.search(r"TresPerJob=gres[:/]gpu[:=]1", job), job  # the submission asked for one GPU
        assert "Partition=gpu" in job
    summary = tmp_path / "results" / "mnist_5k" / "summary"
    assert (summary / "configs.tsv").exists() and (summary / "best.json").exists()
    assert (tmp_path / "results" / "mnist_5k" / "figures" / "predictions.png").exists()
    # Local rules ran on the "login node", not in jobs: only training was submitted.
    assert result.stderr.count("Job ") >= 4


def test_array_jobs_submit_training_as_one_array(tmp_path, slurm_cluster):
    """The profile's advice for many short runs: --slurm-array-jobs train."""
    result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(SMALL), "--slurm-array-jobs", "train")
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("results/mnist_5k/runs/**/metrics.json")]
    assert len(metrics) == 4
    arrays = set()
    for m in metrics:
        job = scontrol_job(slurm_cluster, m["slurm_job_id"])
        match = re.search(r"ArrayJobId=(\d+)", job)
        assert match, job
        arrays.add(match.group(1))
        assert re.search(r"TresPerJob=gres[:/]gpu[:=]1", job), job
    assert len(arrays) == 1, "all four runs in one array submission"


def test_failed_job_is_reported_with_its_slurm_log(tmp_path, slurm_cluster):
    # A corrupted staged dataset (newer than nothing, so it is not rebuilt): training fails.
    data = tmp_path / "resources" / "data" / "mnist_5k.npz"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"corrupted")
    result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(SMALL), "--config", "seeds=[0]",
                             "--retries", "0")
    assert result.returncode != 0
    logs = re.findall(r"(\S*slurm_logs/rule_train/\S+\.log)", result.stderr)
    assert logs, result.stderr[-4000:]
    log = Path(logs[0]) if Path(logs[0]).is_absolute() else tmp_path / logs[0]
    assert log.exists()
