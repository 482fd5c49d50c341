"""A SLURM job's deadline where squeue cannot answer inside it (a container without SLURM's commands, or
without slurm.conf or munge): counted from the job's time limit since its start (mnist_sweep.cluster.deadline)."""

import os
import time

from conftest import run_python

# A job's process asks for its deadline: the job started when this process did (SLURM_JOB_ID in its
# environment, not in its parent's, the test's).
ASK = ("from mnist_sweep.cluster.deadline import JobDeadline; import sys, time; time.sleep(1); "
       "limit = float(sys.argv[1]) if len(sys.argv) > 1 else None; "
       "print('LEFT', JobDeadline(time_limit_minutes=limit).seconds_left())")


def failing_squeue(folder):
    """squeue as it answers in a container without slurm.conf: an error, exit 1."""
    folder.mkdir()
    squeue = folder / "squeue"
    squeue.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n")
    squeue.chmod(0o755)
    return folder


def asked(env, *limit):
    result = run_python("-c", ASK, *limit, env=env)
    assert result.returncode == 0, result.stderr
    left = result.stdout.split("LEFT ")[1].split()[0]
    return (None if left == "None" else float(left)), result.stdout


def test_a_job_whose_squeue_fails_counts_its_time_left_from_its_limit(tmp_path):
    env = dict(os.environ, SLURM_JOB_ID="4242", PATH=f"{failing_squeue(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}")
    env.pop("MNIST_SWEEP_TIME_LEFT_SECONDS", None)
    left, out = asked(env, "2")
    # 120 s, less the 1 s the job has run before asking, less the start allowance (5 s).
    assert 111 < left < 114.5, left
    assert "got no answer from squeue (slurm_load_jobs error: Unable to contact slurm controller)" in out
    assert "counted from its time limit (2 min) since it started" in out
    # No limit given (a job run by hand): unknown, and said so.
    left, out = asked(env)
    assert left is None and "its time limit is unknown here" in out


def test_outside_slurm_there_is_no_deadline(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env.pop("MNIST_SWEEP_TIME_LEFT_SECONDS", None)
    started = time.time()
    left, out = asked(env, "2")
    assert left is None and "warning" not in out and time.time() - started < 60
