"""The SLURM profile against a real one-node SLURM cluster (slurmctld, slurmd, munged)."""

import contextlib
import fcntl
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from conftest import ROOT, SMALL, WHOLE_NODE_TESTS, train_here

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
# Only what this test cluster needs on top of the production profile: a short first wait and
# latency suit one node. Job states come from sacct, as on a production cluster (cluster.sh runs
# slurmdbd). The plugin waits this long before its first status check, then 10 s more before each
# next one until a job ends (and as long before Snakemake exits): 2 s, not its default 40 s, so
# that the tests' short jobs are seen to end soon.
TEST_OVERRIDES = [
    "--slurm-init-seconds-before-status-checks", "2",
    "--latency-wait", "5",
]


# pytest-xdist's workers (.ci/run: `-n 2`) share one cluster; each test's jobs are its own.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


@contextlib.contextmanager
def file_lock(path: Path, exclusive=True):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """Start the cluster, once for all workers (the first starts it, the last one to finish stops it); stop it
    afterwards, whatever happened."""
    named = os.environ.get("MNIST_SWEEP_TEST_CLUSTER")
    if named:  # .ci/run names it, so that its exit trap can stop this cluster even if pytest is killed.
        directory = Path(named)
    elif XDIST_WORKER:  # the directory above each worker's own temporary directory
        directory = tmp_path_factory.getbasetemp().parent / "slurm-cluster"
    else:
        directory = tmp_path_factory.mktemp("slurm")
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SLURM_CONF=str(directory / "slurm.conf"))
    users = directory / "users"
    with file_lock(directory / "start.lock"):
        subprocess.run(["bash", str(CLUSTER), "install"], check=True)
        count = int(users.read_text()) if users.exists() else 0
        if (directory / "stopped").exists():
            pytest.fail(f"the test cluster in {directory} was stopped (an earlier run, or a worker that finished "
                        "first): give MNIST_SWEEP_TEST_CLUSTER a new directory")
        if count == 0 and not (directory / "started").exists():
            (directory / "started").touch()
            subprocess.run(["bash", str(CLUSTER), "start", str(directory)], check=True, env=env, timeout=120)
        users.write_text(str(count + 1))
    try:
        yield env
    finally:
        with file_lock(directory / "start.lock"):
            count = int(users.read_text()) - 1
            users.write_text(str(count))
            if count == 0:
                (directory / "stopped").touch()
                subprocess.run(["bash", str(CLUSTER), "stop", str(directory)], env=env)


@pytest.fixture(autouse=True)
def node_share(request, slurm_cluster):
    """Tests share the node, two at a time, but a test marked whole_node (it preempts every job on the node, or
    sets the node down) runs alone: it waits for the running tests to end, and no test starts until it has.
    A gate taken before the node's lock lets a waiting whole_node test go before later tests. The whole_node
    tests (conftest.py puts them first) run back to back before any other starts: else another test slipped in
    between two of them, each waited for it, and the other worker idled (about 3 minutes in .ci/run)."""
    directory = Path(slurm_cluster["SLURM_CONF"]).parent
    whole_node = request.node.get_closest_marker("whole_node") is not None
    finished = directory / "whole_node.finished"
    if not whole_node:
        expected = request.config.stash.get(WHOLE_NODE_TESTS, 0)
        wait_for(lambda: (len(finished.read_text().splitlines()) if finished.exists() else 0) >= expected,
                 timeout=1800, what="the whole_node tests to run first")
    with open(directory / "node.gate", "a") as gate, open(directory / "node.lock", "a") as node:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(node, fcntl.LOCK_EX if whole_node else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(node, fcntl.LOCK_UN)
            if whole_node:
                with open(finished, "a") as log:
                    log.write(request.node.nodeid + "\n")


def write_config(workdir: Path, allow_cpu=True):
    """The checkout's config/: config.yaml (with allow_cpu, see below) and, unless a test wrote its own,
    the site's slurm.yaml."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    base = (ROOT / "config" / "config.yaml").read_text() + ("allow_cpu: true\n" if allow_cpu else "")
    (workdir / "config" / "config.yaml").write_text(base)
    if not (workdir / "config" / "slurm.yaml").exists():
        shutil.copy(ROOT / "config" / "slurm.yaml", workdir / "config" / "slurm.yaml")


def snakemake_slurm(workdir: Path, env: dict, *args, allow_cpu=True):
    """The test cluster's GPU is a fake GRES that TensorFlow cannot see: jobs train on CPU only with
    allow_cpu (written into the base config, so --config and --configfile of a test still apply)."""
    write_config(workdir, allow_cpu)
    env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--profile", str(ROOT / "profiles" / "slurm"), *TEST_OVERRIDES, *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=1200)


def evidence(workdir: Path, env: dict, output: str) -> str:
    """What a failed sweep leaves to explain itself, for an assertion's message: the end of Snakemake's
    output, each pack's attempts.log, the plugin's SLURM logs and slurmctld's lines about them."""
    parts = [output[-3000:]]
    for log in sorted(workdir.glob("results/mnist_5k/packs/*/attempts.log")):
        lines = [line for line in log.read_text().splitlines() if " epoch " not in line]
        parts.append(f"--- {log.relative_to(workdir)}:\n" + "\n".join(lines[-30:]))
    jobs = set()
    for log in sorted(workdir.glob(".snakemake/slurm_logs/**/*.log")):
        jobs.add(log.stem)
        parts.append(f"--- {log.relative_to(workdir)}:\n" + log.read_text()[-1500:])
    if jobs:
        parts.append("--- sacct:\n" + subprocess.run(
            ["sacct", "-j", ",".join(sorted(jobs)), "-o", "JobID,State,ExitCode,MaxRSS,ReqMem,Elapsed"], env=env,
            capture_output=True, text=True).stdout)
    controller_log = Path(env["SLURM_CONF"]).parent / "slurmctld.log"
    if jobs and controller_log.exists():
        mentioned = re.compile(r"JobId=(%s)\b" % "|".join(sorted(jobs)))
        parts.append("--- slurmctld.log:\n" + "\n".join(
            line for line in controller_log.read_text().splitlines() if mentioned.search(line)))
    return "\n".join(parts)


def scontrol_job(env: dict, job_id: str) -> str:
    return subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout


# The longest test first (after the whole_node tests, which conftest.py puts first), so that it is not the
# one test left running at the end while the other worker has nothing to do.
def test_a_controller_job_at_its_time_limit_submits_the_next_and_the_sweep_completes(tmp_path, slurm_cluster,
                                                                                      epoch_seconds):
    """profiles/slurm/controller.sh: Snakemake itself as a 1-CPU job that submits the training jobs. On the login
    node first, the data is prepared. A 3-minute controller with the warning 100 s before its limit (SLURM sends
    it up to a minute early), and a run of about 150 s: on USR1 the controller submits the next one (afterany)
    and ends, leaving its training job running and its lock behind; the next one waits for that job, removes
    the dead one's lock and finishes the sweep (or, on a busy machine, submits a third that does); no epoch is
    trained twice."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "results", ".snakemake", "logs",
                                                                   "resources", "__pycache__", ".pytest_cache"))
    (checkout / "config" / "config.yaml").write_text((ROOT / "config" / "config.yaml").read_text()
                                                     + "allow_cpu: true\n")
    env = dict(slurm_cluster, PATH=f"{Path(sys.executable).parent}{os.pathsep}{slurm_cluster['PATH']}",
               CONTROLLER_PARTITION="debug", CONTROLLER_TIME="3", CONTROLLER_RESUBMIT_SECONDS="100")
    submitted = subprocess.run([str(checkout / "profiles" / "slurm" / "controller.sh"), *TEST_OVERRIDES,
                                *a_run_of(150, epoch_seconds)], env=env, capture_output=True, text=True)
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    first = submitted.stdout.strip()
    assert first.isdigit(), submitted.stdout
    assert (checkout / "resources" / "data" / "mnist_5k.npz").exists(), "prepared before sbatch, on the login node"
    assert "mnist-sweep small: 1 grid point(s) x 1 seed(s) = 1 runs" in submitted.stderr, submitted.stderr[-3000:]
    assert "TimeLimit=00:03:00" in scontrol_job(slurm_cluster, first)

    def controllers_queued():
        out = subprocess.run(["squeue", "-h", "-n", "mnist-sweep-controller", "-o", "%i"], env=env,
                             capture_output=True, text=True).stdout
        return out.split()

    summary = checkout / "results" / "mnist_5k" / "sweeps" / "small" / "summary" / "best.json"
    wait_for(lambda: summary.exists() and not controllers_queued(), timeout=1200, what="the sweep to complete")
    first_log = (checkout / "logs" / f"controller-{first}.log").read_text()
    assert "its time limit is near; submitted the next controller, job" in first_log, first_log[-3000:]
    assert "SIGTERM to the controller job" in first_log and "its training jobs keep running" in first_log
    # The controllers, each submitted by the one before (on a busy machine the run outlives a second one too).
    chain, logs = [first], {first: first_log}
    while successor := re.search(r"submitted the next controller, job (\d+)", logs[chain[-1]]):
        chain.append(successor.group(1))
        logs[chain[-1]] = (checkout / "logs" / f"controller-{chain[-1]}.log").read_text()
    assert any(f"removed the lock of the controller job {first}" in logs[job] for job in chain[1:]), \
        "\n".join(logs[job][-2000:] for job in chain[1:])
    (metrics_file,) = checkout.glob("results/mnist_5k/runs/**/metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["status"] == "completed" and metrics["slurm_job_id"] not in chain
    epochs = epochs_logged((metrics_file.parent / "train.log").read_text())
    assert epochs == list(range(1, metrics["epochs"] + 1)), f"epochs {epochs}"


def test_sweep_packs_its_runs_into_few_gpu_jobs_with_the_sites_settings(tmp_path, slurm_cluster):
    """The 4 tiny runs share one GPU job (a pack); each run records that job's id. config/slurm.yaml's
    partition, account, QOS, node feature and GPU type reach sbatch although the command line replaces the
    profile's train block (--set-resources, as profiles/slurm/README.md shows)."""
    write_config(tmp_path)
    (tmp_path / "config" / "slurm.yaml").write_text("partition: gpu\naccount: testaccount\nqos: normal\n"
                                                    "constraint: fakegpu\ngpu_model: fake\nmail_type: FAIL\n"
                                                    "mail_user: nobody@example.org\nslurm_extra: --nice=5\n")
    result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(SMALL), "--set-resources", "train:runtime=30")
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    assert "small: 4 runs; 0 finished, 4 to train in 1 job(s)" in result.stderr
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("results/mnist_5k/runs/**/metrics.json")]
    assert len(metrics) == 4
    job_ids = {m["slurm_job_id"] for m in metrics}
    assert None not in job_ids and len(job_ids) == 1, "the runs of a pack share its SLURM job"
    for m in metrics:
        assert m["slurm_gpus"] == "1" and m["pack_size"] == 4
    job = scontrol_job(slurm_cluster, job_ids.pop())
    assert "JobState=COMPLETED" in job
    assert re.search(r"TresPerJob=gres[:/]gpu[:=]fake[:=]1", job), job  # one GPU, of the site's type
    assert "Partition=gpu" in job and "Account=testaccount" in job and "QOS=normal" in job, job
    assert "Features=fakegpu" in job, job
    # mail_type, mail_user and slurm_extra: passed to sbatch as the plugin's slurm_extra.
    assert "MailUser=nobody@example.org" in job and "MailType=FAIL" in job and "Nice=5" in job, job
    assert "TimeLimit=00:30:00" in job, job  # the command line's runtime, too
    # TensorFlow's threads are the job's cpus_per_task (train_threads 1), not the node's cores.
    assert "CPUs/Task=1" in job or "NumCPUs=1" in job, job
    (log,) = tmp_path.glob("results/mnist_5k/packs/*/train.log")
    assert "(1 CPU thread(s))" in log.read_text(), log.read_text()[-2000:]
    summary = tmp_path / "results" / "mnist_5k" / "sweeps" / "small" / "summary"
    assert (summary / "configs.tsv").exists() and (summary / "best.json").exists()
    assert (tmp_path / "results" / "mnist_5k" / "sweeps" / "small" / "figures" / "predictions.png").exists()
    # A `slurm:` key of the config overrides the file key by key; one run asked for by path is a GPU job too.
    run = ("results/mnist_5k/runs/model~mlp/hidden_units~512-512/dropout~0.2/activation~relu/optimizer~adam/"
           "learning_rate~0.001/weight_decay~0.0/batch_size~128/epochs~1/seed~5/metrics.json")
    dry = snakemake_slurm(tmp_path, slurm_cluster, "-n", run, "--configfile", str(SMALL), "--config",
                          'slurm={"qos": "high"}', "--set-resources", "train_run:runtime=30")
    assert dry.returncode == 0, dry.stderr[-4000:]
    (resources,) = re.findall(r"resources: (.*slurm_partition.*)", dry.stdout + dry.stderr)
    for expected in ("slurm_partition=gpu", "slurm_account=testaccount", "qos=high", "constraint=fakegpu",
                     "gpu_model=fake", "nodes=1", "runtime=30"):
        assert expected in resources, resources


def test_gpu_guard_stops_the_sweep_after_its_first_job(tmp_path, slurm_cluster):
    """SLURM gives the job a GPU, TensorFlow sees none: the job fails at once and says what to check, and
    the sweep stops there, naming the job's SLURM log: the profile's retries are not spent on it, and the
    other pack is not started. (allow_cpu, which every other test sets, is what fixes it.)"""
    args = ["--configfile", str(SMALL), "--config", "seeds=[0,1]", "pack_size=1", 'grid={"dropout": [0.2]}',
            "--jobs", "1"]
    result = snakemake_slurm(tmp_path, slurm_cluster, *args, allow_cpu=False)
    assert result.returncode != 0
    assert "small: 2 runs; 0 finished, 2 to train in 2 job(s)" in result.stderr, result.stderr[-4000:]
    (log,) = tmp_path.glob("results/mnist_5k/packs/*/train.log")  # one pack's job, once
    text = log.read_text()
    assert "was given a GPU (SLURM_GPUS_ON_NODE=1) but TensorFlow" in text and "allow_cpu" in text, text
    (attempts,) = tmp_path.glob("results/mnist_5k/packs/*/attempts.tsv")
    assert len(pd.read_csv(attempts, sep="\t")) == 1, "a GPU-guard failure is not retried"
    assert "the sweep stops: a training job failed in a way no retry can fix" in result.stderr, result.stderr[-4000:]
    assert "was given a GPU (SLURM_GPUS_ON_NODE=1)" in result.stderr.split("the sweep stops")[1]
    # The failed job's SLURM log is named on the console, and kept.
    logs = re.findall(r"(\S*slurm_logs/rule_train/\S+\.log)", result.stderr)
    assert logs, result.stderr[-4000:]
    assert (Path(logs[0]) if Path(logs[0]).is_absolute() else tmp_path / logs[0]).exists()
    assert not list(tmp_path.glob("results/mnist_5k/runs/**/metrics.json"))


def start_sweep(workdir: Path, env: dict, *args):
    """snakemake_slurm in the background (Popen), for tests that act on its jobs while it runs."""
    write_config(workdir)
    env = dict(env, PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
               "--profile", str(ROOT / "profiles" / "slurm"), *TEST_OVERRIDES, *args]
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def sweep_status(workdir: Path, env: dict, sweep="small") -> str:
    """What `python -m mnist_sweep.planning.status results/mnist_5k/sweeps/<sweep>` prints in workdir."""
    result = subprocess.run([sys.executable, "-m", "mnist_sweep.planning.status", f"results/mnist_5k/sweeps/{sweep}"],
                            cwd=workdir, env=dict(env, PYTHONPATH=str(ROOT / "src")), capture_output=True, text=True)
    return result.stdout + result.stderr


def wait_for(condition, timeout=600, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def running_train_jobs(env: dict, workdir: Path) -> list[str]:
    """The ids of the running jobs submitted from workdir (a test's own, whatever else the cluster runs)."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %Z"], env=env, capture_output=True, text=True)
    return [job for job, _, directory in (line.partition(" ") for line in out.stdout.splitlines())
            if Path(directory).resolve() == Path(workdir).resolve()]


# A job of 1 minute (SLURM's shortest time limit) trains at most about 25 s: the trainer stops when less
# than 1.5 epochs and a 30 s margin are left (mnist_sweep.cluster.deadline), after some 5-15 s of start-up. So a
# run of this much training needs at least two attempts of such a job on any CPU.
LONG_RUN_TRAINING_SECONDS = 35
# The runs that a requeue or a preemption interrupts: long enough to be caught training.
INTERRUPTED_RUN_TRAINING_SECONDS = 20


@pytest.fixture(scope="module")
def epoch_seconds(mnist_5k_file, tmp_path_factory) -> float:
    """One epoch of the runs below (batch 8 on mnist_5k, 1 thread, as the jobs train) on this CPU, in CPU
    seconds: a 5-epoch training's CPU time less a 1-epoch one's, divided by 4. CPU time, not wall time, so
    that other work on the machine (the other tests, which .ci/run runs beside these) cannot make an epoch
    look slower than it is and the runs below shorter than they must be."""
    def cpu_seconds(epochs: int) -> float:
        start = time.process_time()
        train_here(mnist_5k_file, tmp_path_factory.mktemp("epoch-time"), save_models=False, epochs=epochs,
                   batch_size=8)
        return time.process_time() - start

    seconds = (cpu_seconds(5) - cpu_seconds(1)) / 4
    print(f"an epoch of batch 8 on mnist_5k: {seconds:.2f} CPU seconds")
    return seconds


def a_run_of(seconds: float, epoch_seconds: float) -> list[str]:
    """Config of one run that trains about `seconds` on this CPU, whatever its speed: the epochs follow the
    measured epoch time, never a fixed count that a slower CPU cannot finish in time."""
    epochs = max(10, math.ceil(seconds / epoch_seconds))
    return ["--configfile", str(SMALL), "--config", "seeds=[0]",
            f'grid={{"dropout": [0.2], "epochs": [{epochs}], "batch_size": [8]}}']


@pytest.fixture(scope="module")
def long_run(epoch_seconds):
    return a_run_of(LONG_RUN_TRAINING_SECONDS, epoch_seconds)


@pytest.fixture(scope="module")
def interrupted_run(epoch_seconds):
    return a_run_of(INTERRUPTED_RUN_TRAINING_SECONDS, epoch_seconds)


def the_only_run(workdir: Path) -> tuple[dict, str]:
    """The one run of a test: its metrics.json and its train.log."""
    (metrics_file,) = workdir.glob("results/mnist_5k/runs/**/metrics.json")
    return json.loads(metrics_file.read_text()), (metrics_file.parent / "train.log").read_text()


def epochs_logged(run_log: str) -> list[int]:
    """The epochs a run's train.log records, in order, over all its attempts."""
    return [int(epoch) for epoch in re.findall(r"^epoch (\d+)/\d+:", run_log, re.M)]


def test_a_run_longer_than_its_time_limit_continues_without_spending_a_retry(tmp_path, slurm_cluster, long_run):
    """runtime 1 minute, given on the command line (it replaces the profile's train block), and no
    retries: the job asks SLURM how long it has left, stops itself before the limit with its state saved
    and requeues itself; the same job starts again, resumes and finishes the run; Snakemake sees one
    successful job."""
    result = snakemake_slurm(tmp_path, slurm_cluster, *long_run, "--set-resources", "train:runtime=1",
                             "--retries", "0")
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    assert "Error in rule train" not in result.stderr
    metrics, log = the_only_run(tmp_path)
    epochs = metrics["epochs"]
    assert metrics["status"] == "completed" and metrics["epochs_run"] == epochs
    assert metrics["resumed_from_epoch"] and metrics["resumed_from_epoch"] < epochs
    assert "stopped before the job's time limit" in log and "resuming from the state after epoch" in log
    # Every attempt was the same SLURM job, continued by requeueing: each attempt but the last says so.
    (pack,) = tmp_path.glob("results/mnist_5k/packs/*/")
    attempts = pd.read_csv(pack / "attempts.tsv", sep="\t")
    assert len(attempts) >= 2 and attempts["slurm_job_id"].nunique() == 1
    assert attempts["slurm_job_id"].iloc[0] == int(metrics["slurm_job_id"])
    assert (pack / "attempts.log").read_text().count("== requeued (time limit): SLURM job") == len(attempts) - 1
    # Every epoch was trained once, over the attempts.
    assert epochs_logged(log) == list(range(1, epochs + 1))


def test_a_job_whose_slurm_commands_fail_still_stops_before_its_time_limit(tmp_path, slurm_cluster, long_run):
    """Inside the job, squeue and scontrol answer with an error (as in a container without slurm.conf or
    munge's socket): the trainer counts its time left from the rule's runtime (1 minute) since the job
    started, stops in time with its state saved, cannot requeue itself, and exits; each stop is a failed
    attempt that a retry resumes, and no job reaches its limit (no TIMEOUT in sacct)."""
    stubs = tmp_path / "no-slurm-commands"
    stubs.mkdir()
    for name in ("squeue", "scontrol"):
        (stubs / name).write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\n"
                                  "exit 1\n")
        (stubs / name).chmod(0o755)
    # The jobs inherit the controller's PATH (sbatch --export=ALL); the controller itself uses sacct and sbatch.
    env = dict(slurm_cluster, PATH=f"{stubs}{os.pathsep}{slurm_cluster['PATH']}")
    # A run longer than one 1-minute job can train (an interrupted_run's 20 s fitted in one on a fast CPU).
    result = snakemake_slurm(tmp_path, env, *long_run, "--set-resources", "train:runtime=1", "--retries", "5")
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    metrics, log = the_only_run(tmp_path)
    assert metrics["status"] == "completed" and metrics["resumed_from_epoch"]
    assert "stopped before the job's time limit" in log
    (pack,) = tmp_path.glob("results/mnist_5k/packs/*/")
    job_log = (pack / "train.log").read_text()
    assert "got no answer from squeue" in job_log and "counted from its time limit (1 min)" in job_log, job_log[-3000:]
    jobs = pd.read_csv(pack / "attempts.tsv", sep="\t")["slurm_job_id"].astype(str).tolist()
    assert len(set(jobs)) >= 2, "each stop was a retry: a new job"
    states = subprocess.run(["sacct", "-X", "-n", "--parsable2", "-o", "State", "-j", ",".join(jobs)],
                            env=slurm_cluster, capture_output=True, text=True).stdout.split()
    assert states and "TIMEOUT" not in states, states
    assert epochs_logged(log) == list(range(1, metrics["epochs"] + 1)), "every epoch once"


def processes_of(workdir: Path) -> list[psutil.Process]:
    """The processes whose command line names workdir (a job's Snakemake names its files there)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(str(workdir) in part for part in process.info["cmdline"] or []) and process.pid != os.getpid():
            found.append(process)
    return found


def starts_and_epochs_since(workdir: Path) -> tuple[int, int]:
    """The one run's train.log: how many times a job started training it, and the epochs trained since the last
    start (each start writes a `run <dir>: ...` line)."""
    logs = list(workdir.glob("results/mnist_5k/runs/**/train.log"))
    text = logs[0].read_text() if logs else ""
    starts = re.findall(r"^run .*$", text, re.M)
    return len(starts), len(epochs_logged(text.rsplit(starts[-1], 1)[-1])) if starts else 0


@pytest.mark.whole_node
def test_a_job_requeued_by_slurm_or_on_a_node_set_down_resumes_and_the_sweep_finishes(tmp_path, slurm_cluster,
                                                                                      epoch_seconds):
    """SLURM puts the running job back in the queue twice, from outside: an administrator's `scontrol requeue`,
    then the node set DOWN under it (`scontrol update State=DOWN`: the job ends NODE_FAIL and, the profile's
    jobs being requeueable, goes back in the queue; the plugin leaves it to SLURM). Each time the job resumes
    from the run's last saved epoch under its own id once it runs again (after the node failure when the node is
    back, State=RESUME; on a real cluster, on another node), and the sweep finishes without a retry (--retries 0).
    Whole node: setting the node down ends every job on it."""
    node = subprocess.run(["sinfo", "-h", "-o", "%N"], env=slurm_cluster, capture_output=True, text=True,
                          check=True).stdout.split()[0]
    # A state saved after every epoch (checkpoint_minutes tiny), so that each requeue finds one to resume from;
    # the save on SIGTERM itself is tested in test_train.py and by the time-limit test.
    process = start_sweep(tmp_path, slurm_cluster, *a_run_of(40, epoch_seconds), "checkpoint_minutes=0.001",
                          "--set-resources", "train:runtime=30", "--retries", "0")
    try:
        wait_for(lambda: starts_and_epochs_since(tmp_path)[1] >= 1, what="a trained epoch")
        (job,) = wait_for(lambda: running_train_jobs(slurm_cluster, tmp_path), what="the training job")
        subprocess.run(["scontrol", "requeue", job], env=slurm_cluster, check=True)
        wait_for(lambda: starts_and_epochs_since(tmp_path) >= (2, 1), what="an epoch of the requeued job")
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=DOWN", "Reason=mnist-sweep test"],
                       env=slurm_cluster, check=True)
        wait_for(lambda: not running_train_jobs(slurm_cluster, tmp_path), timeout=120, what="the job to end")
        # Unchecked: the node may be back already (ReturnToService=2 returns a node whose slurmd registers again;
        # scontrol then says "Invalid node state specified").
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], env=slurm_cluster,
                       capture_output=True)
        output, _ = process.communicate(timeout=900)
    finally:
        process.kill()
        # Whatever happened, the node is up for the tests after this one.
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"], env=slurm_cluster,
                       capture_output=True)
        # The test cluster tracks a job's processes by parentage (proctrack/linuxproc, no cgroups): the first
        # attempt's Snakemake, orphaned when the node went down, outlives its job here (a real node that
        # fails takes its processes with it). Ended, so that nothing of the test runs on.
        for leftover in processes_of(tmp_path):
            with contextlib.suppress(psutil.Error):
                leftover.kill()
    assert process.returncode == 0, evidence(tmp_path, slurm_cluster, output)
    metrics, log = the_only_run(tmp_path)
    assert metrics["status"] == "completed" and metrics["resumed_from_epoch"]
    assert metrics["slurm_job_id"] == job  # a requeued job keeps its id
    states = subprocess.run(["sacct", "--duplicates", "-X", "-n", "--parsable2", "-o", "State", "-j", job],
                            env=slurm_cluster, capture_output=True, text=True).stdout.split()
    assert "NODE_FAIL" in states and states[-1] == "COMPLETED", states
    assert starts_and_epochs_since(tmp_path)[0] == 3, log
    epochs = epochs_logged(log)
    assert sorted(set(epochs)) == list(range(1, metrics["epochs"] + 1)), epochs  # resumed: none missing


@pytest.mark.whole_node
def test_a_preempted_job_requeues_itself_and_a_cancelled_one_is_retried(tmp_path, slurm_cluster, interrupted_run):
    """Two sweeps at once, and one job of the `urgent` partition preempting both training jobs:

    - partition gpu (cluster.sh: PreemptMode=REQUEUE with a grace time): SIGTERM, the epoch ends, states are
      saved, and the job requeues itself (had it just exited, SLURM would have ended it as failed); it
      resumes under its own id, and no retry is spent;
    - partition `cancelled` (PreemptMode=CANCEL, no grace time): the job is ended for good, and sacct says
      PREEMPTED, which plugin 2.8 took for a job SLURM would resume: it waited forever. The workflow's sacct
      reads a PREEMPTED job that squeue no longer has as CANCELLED: the job fails, its retry resubmits the
      pack, which resumes from its saved state, and the sweep finishes."""
    requeued, cancelled = tmp_path / "requeued", tmp_path / "cancelled"
    for workdir in (requeued, cancelled):
        write_config(workdir)
    (cancelled / "config" / "slurm.yaml").write_text("partition: cancelled\n")
    processes = [start_sweep(requeued, slurm_cluster, *interrupted_run, "--set-resources", "train:runtime=30",
                             "--retries", "0"),
                 start_sweep(cancelled, slurm_cluster, *interrupted_run, "--retries", "1")]
    try:
        for workdir in (requeued, cancelled):
            wait_for(lambda: any(line.startswith("epoch 3/") for log in workdir.glob("results/mnist_5k/runs/**/train.log")
                                 for line in log.read_text().splitlines()), what="a trained epoch")
        ((job,), (cancelled_job,)) = (running_train_jobs(slurm_cluster, workdir) for workdir in (requeued, cancelled))
        subprocess.run(["sbatch", "-p", "urgent", "--exclusive", "--wrap", "sleep 5"], env=slurm_cluster,
                       cwd=tmp_path, check=True, capture_output=True)
        outputs = [process.communicate(timeout=900)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    assert processes[0].returncode == 0, evidence(requeued, slurm_cluster, outputs[0])
    metrics, log = the_only_run(requeued)
    assert metrics["status"] == "completed" and metrics["resumed_from_epoch"] and metrics["slurm_job_id"] == job
    (pack,) = requeued.glob("results/mnist_5k/packs/*/")
    attempts = (pack / "attempts.log").read_text()
    assert "received SIGTERM" in attempts and "== requeued (SIGTERM): SLURM job " + job in attempts, attempts[-3000:]
    assert epochs_logged(log) == list(range(1, metrics["epochs"] + 1)), "every epoch once"

    state = subprocess.run(["sacct", "-X", "-n", "--parsable2", "-o", "State", "-j", cancelled_job], env=slurm_cluster,
                           capture_output=True, text=True).stdout.strip()
    assert state == "PREEMPTED", state  # what the plugin alone waited on
    assert processes[1].returncode == 0, evidence(cancelled, slurm_cluster, outputs[1])
    assert f"SLURM-job '{cancelled_job}' failed, SLURM status is: 'CANCELLED'" in outputs[1], outputs[1][-4000:]
    states_log = (cancelled / ".snakemake" / "mnist-sweep" / "states.log").read_text()
    assert f"SLURM job {cancelled_job}: PREEMPTED and no longer queued" in states_log
    metrics, _ = the_only_run(cancelled)
    assert metrics["status"] == "completed" and metrics["slurm_job_id"] != cancelled_job


def test_a_job_killed_for_memory_is_retried_with_twice_the_memory(tmp_path, slurm_cluster):
    """job_memory_mb 600 is less than TensorFlow needs: SLURM kills the job for memory (cluster.sh:
    OverMemoryKill), and the retry asks for 1200 MB, then 1800 MB, and so on, until the run trains. The
    plugin's logs are where --slurm-logdir puts them, and the evidence is read there."""
    result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(SMALL), "--config", "seeds=[0]",
                             'grid={"dropout": [0.2]}', "job_memory_mb=600", "--slurm-logdir", "site-logs")
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    (pack,) = tmp_path.glob("results/mnist_5k/packs/*/")
    # SLURM logs of failed jobs are kept: each names the memory limit it exceeded.
    assert not (tmp_path / ".snakemake" / "slurm_logs").exists()
    killed = [log for log in tmp_path.glob(f"site-logs/rule_train/{pack.name}/*.log")
              if "exceeded memory limit" in log.read_text()]
    assert killed, result.stderr[-4000:]
    (metrics,) = [json.loads(p.read_text()) for p in tmp_path.glob("results/mnist_5k/runs/**/metrics.json")]
    assert metrics["status"] == "completed"
    job = scontrol_job(slurm_cluster, metrics["slurm_job_id"])
    assert f"MinMemoryNode={600 * (1 + len(killed))}M" in job, job
    for log in killed:  # each killed attempt asked for its share
        n = sorted(killed, key=lambda path: int(path.stem)).index(log)
        assert f"> {600 * (1 + n) * 1024 * 1024})" in log.read_text(), log.read_text()
    # A killed attempt cannot record itself: the next one charges it (until its last output).
    attempts = pd.read_csv(pack / "attempts.tsv", sep="\t", dtype=str)
    assert attempts["exit_code"].tolist() == ["killed"] * len(killed) + ["0"], attempts
    assert sorted(attempts["slurm_job_id"][:-1]) == sorted(log.stem for log in killed)  # the killed jobs' ids


def test_a_cancelled_job_is_reported_and_the_status_view_shows_it(tmp_path, slurm_cluster):
    """Job states from sacct, the plugin's default with accounting: sacct says "CANCELLED by 0", which plugin
    2.8 did not match, and Snakemake waited for the cancelled job forever. The workflow's sacct in front of
    the plugin's (mnist_sweep/cluster/slurm_commands.py) reads it as CANCELLED: the job fails, is named, and with
    retries 0 the sweep stops once the other pack is done."""
    args = ["--configfile", str(SMALL), "--config", "pack_size=2", 'grid={"dropout": [0.2, 0.5], "epochs": [10], '
            '"batch_size": [8]}', "--retries", "0"]
    process = start_sweep(tmp_path, slurm_cluster, *args)
    try:
        first = wait_for(lambda: running_train_jobs(slurm_cluster, tmp_path), what="a training job")[0]
        # The status view (mnist_sweep.planning.status) from another terminal while the sweep runs.
        running = wait_for(lambda: (lambda out: out if f"SLURM job {first} RUNNING" in out else None)(
            sweep_status(tmp_path, slurm_cluster)), timeout=60, what="the status to show the running job")
        assert "small: 4 runs: 0 finished" in running and "time to the end: not known until a pack has finished" \
            in running, running
        subprocess.run(["scancel", first], env=slurm_cluster, check=True)
        output, _ = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode != 0
    after = sweep_status(tmp_path, slurm_cluster)
    assert "small: 4 runs: 2 finished, 0 training, 0 queued, 2 failed" in after, after
    assert f"(2 runs): SLURM job {first} CANCELLED" in after and "time to the end: about" in after, after
    state = subprocess.run(["sacct", "-X", "-n", "--parsable2", "-o", "State", "-j", first], env=slurm_cluster,
                           capture_output=True, text=True).stdout.strip()
    assert state.startswith("CANCELLED by"), state  # what the plugin alone could not match
    assert f"SLURM-job '{first}' failed, SLURM status is: 'CANCELLED'" in output, output[-4000:]
    assert re.search(r"slurm_logs/rule_train/\S+\.log", output), output[-4000:]
    assert len(list(tmp_path.glob("results/mnist_5k/runs/**/metrics.json"))) == 2, "keep-going: the other pack finished"


def test_sigterm_to_a_waiting_snakemake_cancels_its_jobs_and_ends_it(tmp_path, slurm_cluster, interrupted_run):
    """SIGTERM to the controller alone (a login session's end, a controller job's time limit): Snakemake on its
    own would wait for its running jobs to end. The workflow cancels every job it submitted (its own scancel: the
    plugin's alone missed a job while its status check ran, and the job trained on to the end), the job saves
    its state, and Snakemake ends within a minute and says what to run (cluster/interruption.py)."""
    process = start_sweep(tmp_path, slurm_cluster, *interrupted_run)
    try:
        job = wait_for(lambda: running_train_jobs(slurm_cluster, tmp_path), what="a training job")[0]
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode != 0
    assert "stopped on request (SIGTERM): its cluster jobs cancelled" in output, output[-4000:]
    assert "Error in rule" not in output, output[-4000:]
    wait_for(lambda: not running_train_jobs(slurm_cluster, tmp_path), timeout=60, what="the job to end")
    state = subprocess.run(["sacct", "-X", "-n", "--parsable2", "-o", "State", "-j", job], env=slurm_cluster,
                           capture_output=True, text=True).stdout.strip()
    assert state.startswith("CANCELLED"), state


def test_a_submission_over_the_submit_limit_waits_and_the_sweep_finishes(tmp_path, slurm_cluster):
    """MaxSubmitJobsPerUser=1 on the QOS the sweep submits with (config/slurm.yaml's qos; an account's
    MaxSubmitJobs answers alike): while the first pack's job is in the queue, SLURM refuses the second. The
    workflow's sbatch waits and submits it again (mnist_sweep/cluster/slurm_commands.py), so no retry is spent
    (--retries 0) and the sweep finishes. The QOS is the test's own: its limit holds no other test's jobs."""
    write_config(tmp_path)
    (tmp_path / "config" / "slurm.yaml").write_text("partition: gpu\nqos: limited\n")
    limit = ["sacctmgr", "-i", "modify", "qos", "limited", "set"]
    subprocess.run([*limit, "MaxSubmitJobsPerUser=1"], env=slurm_cluster, check=True, capture_output=True)
    try:
        result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(SMALL), "--config", "pack_size=2",
                                 "--retries", "0")
    finally:
        subprocess.run([*limit, "MaxSubmitJobsPerUser=-1"], env=slurm_cluster, check=True, capture_output=True)
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("results/mnist_5k/runs/**/metrics.json")]
    assert len(metrics) == 4 and len({m["slurm_job_id"] for m in metrics}) == 2  # two packs, two jobs
    qos = subprocess.run(["sacct", "-X", "-n", "--parsable2", "-o", "QOS", "-j",
                          ",".join(m["slurm_job_id"] for m in metrics)],
                         env=slurm_cluster, capture_output=True, text=True).stdout.split()
    assert set(qos) == {"limited"}, qos
    waits = (tmp_path / ".snakemake" / "mnist-sweep" / "submit-waits.log").read_text()
    assert "sbatch refused by a submit limit" in waits and "job submit limit" in waits, waits


def test_a_gres_only_job_with_two_gpus_trains_one_process_per_gpu(tmp_path, slurm_cluster):
    """A cluster that takes GPUs only as --gres: `gres: gpu:2` in config/slurm.yaml, and no --gpus beside it.
    The 4 runs are one job asking --gres=gpu:2 (and 2 CPUs); SLURM gives it both fake GPUs
    (CUDA_VISIBLE_DEVICES=0,1) and the job trains two processes, one per GPU."""
    write_config(tmp_path)
    (tmp_path / "config" / "slurm.yaml").write_text("partition: gpu\ngres: gpu:2\n")
    result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(SMALL))
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    assert "4 to train in 1 job(s)" in result.stderr
    metrics = [json.loads(p.read_text()) for p in tmp_path.glob("results/mnist_5k/runs/**/metrics.json")]
    assert sorted(m["cuda_visible_devices"] for m in metrics) == ["0", "0", "1", "1"]
    assert {m["slurm_gpus"] for m in metrics} == {"2"} and {m["pack_size"] for m in metrics} == {4}
    job = scontrol_job(slurm_cluster, metrics[0]["slurm_job_id"])
    assert re.search(r"TresPerNode=gres[:/]gpu[:=]2", job) and "TresPerJob=gres" not in job, job
    assert "NumCPUs=2" in job, job
    submitted = subprocess.run(["sacct", "-n", "-X", "-j", metrics[0]["slurm_job_id"], "-o", "SubmitLine%2000"],
                               env=slurm_cluster, capture_output=True, text=True).stdout
    assert "--nodes=1" in submitted, submitted  # both GPUs on one node
    (pack,) = tmp_path.glob("results/mnist_5k/packs/*/")
    log = (pack / "attempts.log").read_text()
    assert "2 GPUs (0,1): one training process per GPU, 1 CPU thread(s) each" in log and "[GPU 1] " in log, log
    runs = pd.read_csv(next(tmp_path.glob("results/mnist_5k/sweeps/*/summary/runs.tsv")), sep="\t")
    # Each run's share of the job, times the 2 GPUs it held.
    assert runs["gpu_hours"].tolist() == pytest.approx((2 * runs["job_seconds"] / 3600).tolist())


def test_stale_lock_is_kept_while_slurm_jobs_of_the_workflow_run(tmp_path, slurm_cluster):
    from mnist_sweep.cluster.locks import release_stale_lock

    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("results/x\n")
    job = subprocess.run(["sbatch", "--parsable", "-p", "debug", "--wrap", "sleep 120"], cwd=tmp_path,
                         env=slurm_cluster, capture_output=True, text=True, check=True).stdout.strip()
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = slurm_cluster["SLURM_CONF"]
    try:
        wait_for(lambda: job in subprocess.run(["squeue", "-h", "-o", "%i"], env=slurm_cluster, capture_output=True,
                                               text=True).stdout, what="the job in the queue")
        messages = io.StringIO()
        assert not release_stale_lock(tmp_path, log=messages)
        assert f"{job} (" in messages.getvalue() and "scancel" in messages.getvalue()
        subprocess.run(["scancel", job], env=slurm_cluster, check=True)
        wait_for(lambda: job not in subprocess.run(["squeue", "-h", "-o", "%i"], env=slurm_cluster,
                                                   capture_output=True, text=True).stdout, what="the job to go")
        assert release_stale_lock(tmp_path, log=messages)
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old


def test_a_search_runs_its_rungs_as_slurm_jobs(tmp_path, slurm_cluster):
    """A search on the cluster: each rung is planned on the controller (the checkpoint is local) and trained
    as one GPU job; the survivor's run continues the first rung's state in its own job."""
    config = {"dataset": "mnist_5k", "seeds": [0, 1], "train_threads": 1, "grid": {"epochs": [2]},
              "search": {"trials": 3, "space": {"dropout": {"low": 0.0, "high": 0.5}},
                         "halving": {"min_epochs": 1, "eta": 2}}}
    (tmp_path / "search.yaml").write_text(json.dumps(config))
    result = snakemake_slurm(tmp_path, slurm_cluster, "--configfile", str(tmp_path / "search.yaml"))
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    assert "search rung 0 (1 epochs): 3 point(s), 6 run(s), 0 finished before, in 1 pack(s)" in result.stderr
    assert "search rung 1 (2 epochs): 1 point(s), 2 run(s), 0 finished before, in 1 pack(s)" in result.stderr
    results = tmp_path / "results" / "mnist_5k"
    first = [json.loads(p.read_text()) for p in results.glob("runs/**/epochs~1/seed~*/metrics.json")]
    last = [json.loads(p.read_text()) for p in results.glob("runs/**/epochs~2/seed~*/metrics.json")]
    assert len(first) == 6 and len(last) == 2
    assert len({m["slurm_job_id"] for m in first}) == 1 and len({m["slurm_job_id"] for m in last}) == 1
    assert {m["slurm_job_id"] for m in first} != {m["slurm_job_id"] for m in last}
    assert all(m["resumed_from_epoch"] == 1 and m["epochs_run"] == 2 for m in last)
    table = (results / "sweeps" / "search" / "summary" / "search.tsv").read_text()
    assert len(table.splitlines()) == 4


def test_a_search_without_a_shared_file_system_runs_its_rungs_as_slurm_jobs(tmp_path, slurm_cluster):
    """--shared-fs-usage none with the fs storage plugin through the profile: each rung's pack is a SLURM job that
    retrieves its rung plan and stores its pack's folder (tests/test_storage.py runs both plugins locally). A job
    builds the jobs its input comes from (the rung before) to check them, so their params must be those the
    controller recorded, or the job would train the rung before again itself."""
    from test_storage import SEARCH

    (tmp_path / "search.yaml").write_text(json.dumps(SEARCH))
    remote = tmp_path / "shared storage"
    args = ["--configfile", str(tmp_path / "search.yaml"), "--shared-fs-usage", "none",
            "--default-storage-provider", "fs", "--default-storage-prefix", str(remote),
            "--local-storage-prefix", str(tmp_path / "local-copies")]
    result = snakemake_slurm(tmp_path, slurm_cluster, *args)
    assert result.returncode == 0, evidence(tmp_path, slurm_cluster, result.stderr)
    assert "search confirmation: 1 point(s), 1 run(s)" in result.stderr
    packs = remote / "results" / "mnist_5k" / "sweeps" / "tiny-search" / "packs"
    jobs = {}
    for metrics in packs.glob("rung-*/*/runs/**/metrics.json"):
        jobs.setdefault(metrics.relative_to(packs).parts[0], set()).add(json.loads(metrics.read_text())["slurm_job_id"])
    # One SLURM job per rung (and the confirmation), each training only its own rung.
    assert sorted(jobs) == ["rung-0", "rung-1", "rung-2"] and len(set.union(*jobs.values())) == 3
    assert not (tmp_path / "results").exists()
    again = snakemake_slurm(tmp_path, slurm_cluster, *args)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr, again.stderr[-2000:]
