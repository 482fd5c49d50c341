"""A failure no retry can fix stops the whole sweep after its first job, not after 4 attempts of every pack.

A training job that was given a GPU TensorFlow cannot use (the GPU guard, mnist_sweep.training.tensorflow_setup),
or whose prepared data is damaged, fails in seconds, and so would every retry and every other pack of
the sweep: 4 wasted GPU jobs per pack, hundreds in a big sweep. Such a job records its message in `.snakemake/mnist-sweep-setup-failure`
(the workflow's directory, which every job shares); the train rule's resources (common.smk) raise
SetupFailure while that file exists, so Snakemake neither retries that job nor submits another, and
ends with the message. Only a record written after this Snakemake started counts (a dry-run after a
stopped sweep still works), and the next invocation removes it before its first job: the setup was
fixed, or the first job says it again.
"""

from __future__ import annotations

from pathlib import Path

RECORD = Path(".snakemake/mnist-sweep-setup-failure")


class SetupFailure(RuntimeError):
    """A training job failed in a way no retry can fix; the sweep stops."""


def record_setup_failure(message: str, record: Path = RECORD) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(message.strip() + "\n")


def stop_if_setup_failed(since: float, record: Path = RECORD) -> None:
    """Raise SetupFailure with the recorded message, if a job recorded one after `since` (time.time())."""
    try:
        if record.stat().st_mtime < since:
            return
        message = record.read_text().strip()
    except OSError:
        return
    raise SetupFailure(f"the sweep stops: a training job failed in a way no retry can fix, so no job is "
                       f"retried or started ({record}):\n{message}\nFix it, then run the same command again "
                       "(finished runs are kept).")


def clear_setup_failure(record: Path = RECORD) -> None:
    record.unlink(missing_ok=True)
