"""Stop a SLURM job's training before its time limit, whatever flags it was submitted with.

SLURM kills a job at its time limit. A `--signal=TERM@120` warning in the profile is not
enough: a command-line `--set-resources train:...` replaces the profile's whole block (and
its slurm_extra with it), and `--signal` without `B:` reaches only job steps. So the trainer
asks SLURM itself how long its job has left (`squeue -j $SLURM_JOB_ID -o %L`) and stops
after the last epoch that fits, with every run's state saved, exiting 143 like a SIGTERM
(TimeLimitStop): the job then requeues itself (mnist_sweep.cluster.attempts), and its next start, or a
rerun, resumes from there. Outside SLURM there is no deadline.

MNIST_SWEEP_TIME_LEFT_SECONDS (for tests and debugging) gives the time left instead of squeue's
answer, inside a SLURM job or not: the same stop, save and requeue, without waiting minutes for
SLURM's clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from mnist_sweep.cluster.signals import EXIT_PREEMPTED

# Stop when less than this is left after the next epoch: saving states and writing files.
MARGIN_SECONDS = 30
INJECTED_TIME_LEFT = "MNIST_SWEEP_TIME_LEFT_SECONDS"


def parse_time_left(text: str) -> float | None:
    """squeue's %L: [days-]hours:minutes:seconds, minutes:seconds, or UNLIMITED / NOT_SET / INVALID."""
    text = text.strip()
    if not text or not text[0].isdigit():
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, minutes, seconds = parts
    return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds


_warned = set()


def warn_once(message: str) -> None:
    """Print a warning once per process (a job builds a deadline for every pack it trains)."""
    if message not in _warned:
        _warned.add(message)
        print(message, flush=True)


class TimeLimitStop(SystemExit):
    """The job stopped itself before its time limit, every run's state saved (exit code 143)."""

    def __init__(self):
        super().__init__(EXIT_PREEMPTED)


class JobDeadline:
    """When this SLURM job will be killed, as a time.monotonic() value (None: no limit known)."""

    def __init__(self, job_id: str | None = None):
        job_id = job_id or os.environ.get("SLURM_JOB_ID")
        self.at = None
        injected = os.environ.get(INJECTED_TIME_LEFT)
        if injected:
            try:
                self.at = time.monotonic() + float(injected)
            except ValueError:
                raise SystemExit(f"error: {INJECTED_TIME_LEFT}={injected!r} is not a number of seconds") from None
            return
        if not job_id:
            return
        if not shutil.which("squeue"):
            warn_once(f"warning: SLURM job {job_id} cannot see squeue (a container without SLURM's commands?): its "
                      "time limit is unknown here, so it cannot stop itself before it, and without scontrol it cannot "
                      "requeue itself; SLURM kills it at the limit and a retry resumes it from its last saved state. "
                      "Bind SLURM's commands into the container: profiles/slurm/README.md, \"Containers\"")
            return
        try:
            answer = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%L"], capture_output=True, text=True,
                                    timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return
        left = parse_time_left(answer.splitlines()[0] if answer.strip() else "")
        if left is not None:
            self.at = time.monotonic() + left

    def seconds_left(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def allows(self, epoch_seconds: float) -> bool:
        """Is there time for one more epoch of about epoch_seconds (and the margin)?"""
        left = self.seconds_left()
        return left is None or left > 1.5 * epoch_seconds + MARGIN_SECONDS
