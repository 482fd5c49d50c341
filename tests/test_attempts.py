"""A pack's earlier attempts: continuations counted from attempts.log, and when a job does not requeue
itself. The requeue itself, its budget and the preemption run on the SLURM test cluster (tests/test_slurm.py)."""

from mnist_sweep.attempts import REQUEUED, requeue, requeues


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
    assert requeue(tmp_path, 10, "SIGTERM") is False
    assert "not requeued from here: SLURM is ending this job (state unknown" in capsys.readouterr().out
    assert requeues(tmp_path) == 0
