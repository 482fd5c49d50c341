"""A pack's earlier attempts: continuations counted from attempts.log, and when a job does not requeue
itself, and its budget. The requeue itself and the preemption run on the SLURM test cluster (tests/test_slurm.py)."""

import pytest

from mnist_sweep.cluster import attempts
from mnist_sweep.cluster.attempts import REQUEUED, requeue, requeues


def test_requeues_are_counted_from_the_packs_attempts_log(tmp_path):
    assert requeues(tmp_path) == 0  # no attempt yet
    (tmp_path / "attempts.log").write_text(
        f"== attempt started 1\n{REQUEUED} (time limit): SLURM job 7 goes back to the queue\n"
        "== attempt ended with exit code 143\n"
        f"== attempt started 2\nsaid {REQUEUED} in the middle of a line\n"
        f"{REQUEUED} (SIGTERM): SLURM job 7 goes back to the queue\n")
    assert requeues(tmp_path) == 2


def test_no_requeue_outside_slurm(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert requeue(tmp_path, 10, "time limit") is False
    assert capsys.readouterr().out == ""  # a local job: nothing to say


def test_no_requeue_unless_slurm_says_the_job_still_runs(tmp_path, monkeypatch, capsys):
    # A job id SLURM does not know here (no cluster, or no squeue at all): never requeued blindly.
    monkeypatch.setenv("SLURM_JOB_ID", "999999999")
    (tmp_path / "slurm.conf").write_text("# no cluster here\n")  # squeue stops at once (a missing file: it retries 60 s)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    monkeypatch.setattr(attempts, "SQUEUE_PAUSE_SECONDS", 0)  # it asks squeue 3 times before it gives up
    assert requeue(tmp_path, 10, "SIGTERM") is False
    assert "not requeued from here: SLURM is ending this job (state unknown" in capsys.readouterr().out
    assert requeues(tmp_path) == 0


@pytest.mark.parametrize("max_requeues", [0, 2])
def test_a_spent_requeue_budget_leaves_the_stop_to_retries(tmp_path, monkeypatch, capsys, max_requeues):
    """max_requeues 0, or as many continuations as attempts.log records: the job does not requeue itself (the
    stop is a failed attempt, which Snakemake's retries resume: tests/test_slurm.py's job without SLURM
    commands goes that way), and SLURM is not even asked."""
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue, no scontrol: neither is needed to say no
    (tmp_path / "attempts.log").write_text(f"{REQUEUED} (time limit): SLURM job 7\n" * max_requeues)
    assert requeue(tmp_path, max_requeues, "time limit") is False
    assert (f"not requeued: this pack continued {max_requeues} time(s) already (max_requeues {max_requeues}); "
            "the stop counts as a failed attempt" in capsys.readouterr().out)


def test_an_attempt_killed_outright_is_charged_by_the_next_one(tmp_path):
    """An attempt that wrote no end (kill -9, out of memory, node failure) gets its attempts.tsv row from the
    next attempt: from its start to attempts.log's last write, exit code `killed`. Once only; an ended
    attempt, one still running, or an older start line without a pid are left alone."""
    import datetime
    import os
    import socket
    import subprocess

    import pandas as pd

    from mnist_sweep.cluster.attempts import charge_unended_attempt, record_attempt, start_line

    log = tmp_path / "attempts.log"
    started = datetime.datetime(2026, 12, 1, 10, 0, 0, tzinfo=datetime.timezone.utc)
    dead = subprocess.Popen(["true"])
    dead.wait()
    line = start_line(started).replace(f"(pid {os.getpid()})", f"(pid {dead.pid})")
    assert line.startswith("== attempt started 2026-12-01T10:00:00+00:00 on ")
    record_attempt(tmp_path, "2026-12-01T09:00:00+00:00", 60.0, 0, "node1", "")
    log.write_text(f"{line}\nepoch 1/4: ...\n")
    last_output = started.timestamp() + 754.5
    os.utime(log, (last_output, last_output))
    assert charge_unended_attempt(tmp_path) == pytest.approx(754.5)
    rows = pd.read_csv(tmp_path / "attempts.tsv", sep="\t", dtype=str)
    assert rows["exit_code"].tolist() == ["0", "killed"] and float(rows["seconds"].iloc[1]) == pytest.approx(754.5)
    assert rows["host"].iloc[1] == socket.gethostname()
    assert "== attempt ended without a word" in log.read_text()
    assert charge_unended_attempt(tmp_path) is None  # recorded once
    # Still running (this very process), or a start line of the older format: nothing recorded.
    log.write_text(start_line(started) + "\n")
    assert charge_unended_attempt(tmp_path) is None
    log.write_text("== attempt started 2026-12-01T10:00:00+00:00 on node1, SLURM job -\n")
    assert charge_unended_attempt(tmp_path) is None
    assert len(pd.read_csv(tmp_path / "attempts.tsv", sep="\t")) == 2
