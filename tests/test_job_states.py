"""The sacct in front of the SLURM plugin: a cancelled job's state as the plugin can match it."""

import os
import subprocess
import sys

from mnist_sweep.cluster import job_states


def test_a_cancellation_by_anyone_reads_cancelled_and_nothing_else_changes():
    output = "101|CANCELLED by 0\n102|RUNNING\n103|CANCELLED by 1000\n104|COMPLETED\n105|CANCELLED\n"
    assert job_states.rewrite(output) == "101|CANCELLED\n102|RUNNING\n103|CANCELLED\n104|COMPLETED\n105|CANCELLED\n"
    # A table for people (no --parsable2) is left as it is.
    table = "JobID    State\n101      CANCELLED by 0\n"
    assert job_states.rewrite(table) == table


def test_the_installed_wrapper_runs_the_real_sacct_behind_it(tmp_path, monkeypatch):
    """A stand-in for SLURM's sacct (a script on PATH that prints what sacct printed on the test cluster for a
    cancelled job) and the wrapper installed in front of it: the plugin's command gets CANCELLED, with the
    arguments passed through and the exit code kept."""
    real = tmp_path / "slurm-bin"
    real.mkdir()
    (real / "sacct").write_text("#!/bin/sh\necho \"$*\" > \"$(dirname \"$0\")/args\"\n"
                                "printf '7|CANCELLED by 0\\n8|PENDING\\n'\nexit 3\n")
    (real / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{real}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    monkeypatch.setenv(job_states.WRAPPER_DIR, "")  # install sets it: restored after the test
    wrapper = job_states.install(tmp_path / "wrapper")
    assert os.environ["PATH"].split(os.pathsep)[:2] == [str(wrapper.parent), str(real)]
    result = subprocess.run(["sacct", "-X", "--parsable2", "--format=JobIdRaw,State"], capture_output=True,
                            text=True, env=os.environ.copy())
    assert result.returncode == 3, result.stderr
    assert result.stdout == "7|CANCELLED\n8|PENDING\n"
    assert (real / "args").read_text().strip() == "-X --parsable2 --format=JobIdRaw,State"
    # Installing again (every onstart) keeps one entry on PATH.
    job_states.install(tmp_path / "wrapper")
    assert os.environ["PATH"].split(os.pathsep).count(str(wrapper.parent)) == 1
