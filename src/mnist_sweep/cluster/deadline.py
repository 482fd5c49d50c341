"""Stop a SLURM job's training before its time limit, whatever flags it was submitted with.

SLURM kills a job at its time limit. A `--signal=TERM@120` warning in the profile is not
enough: a command-line `--set-resources train:...` replaces the profile's whole block (and
its slurm_extra with it), and `--signal` without `B:` reaches only job steps. So the trainer
asks SLURM itself how long its job has left (`squeue -j $SLURM_JOB_ID -o %L`) and stops
after the last epoch that fits, with every run's state saved, exiting 143 like a SIGTERM
(TimeLimitStop): the job then requeues itself (mnist_sweep.cluster.attempts), and its next start, or a
rerun, resumes from there. Outside SLURM there is no deadline.

Where squeue is missing or cannot answer inside the job (a container without SLURM's commands, or
without slurm.conf or munge's socket), the deadline comes from the job's own time limit instead: the
train rule passes its `runtime` resource (the minutes the plugin gave sbatch's --time), counted from
the job's start (the oldest of its processes that this one can see, less START_ALLOWANCE_SECONDS for
what it cannot). The job then stops in time all the same, states saved; without scontrol it cannot requeue
itself, so it exits 143 and a retry resumes it.

MNIST_SWEEP_TIME_LEFT_SECONDS (for tests and debugging) gives the time left instead of squeue's
answer, inside a SLURM job or not: the same stop, save and requeue, without waiting minutes for
SLURM's clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import psutil

from mnist_sweep.cluster.signals import EXIT_PREEMPTED

# Stop when less than this is left after the next epoch: saving states and writing files.
MARGIN_SECONDS = 30
# Counted from the job's start without squeue: the job may have started this much before the oldest of
# its processes that this one sees (the batch shell, a second or so after the job's start).
START_ALLOWANCE_SECONDS = 5
INJECTED_TIME_LEFT = "MNIST_SWEEP_TIME_LEFT_SECONDS"
# The end of both warnings of a job that squeue cannot answer.
BIND_HINT = "Bind SLURM's commands into the container: profiles/slurm/README.md, \"Containers\""


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
    """When this SLURM job will be killed, as a time.monotonic() value (None: no limit known).

    time_limit_minutes: the job's time limit as submitted (the train rule's runtime), used where squeue
    cannot say how long the job has left."""

    def __init__(self, job_id: str | None = None, time_limit_minutes: float | None = None):
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
        left, problem = squeue_time_left(job_id)
        if left is None and problem and time_limit_minutes:
            left = time_limit_minutes * 60 - (time.time() - job_started_at(job_id)) - START_ALLOWANCE_SECONDS
            warn_once(f"warning: SLURM job {job_id} {problem}: its time left is counted from its time limit "
                      f"({time_limit_minutes:g} min) since it started, so it stops in time; where scontrol fails "
                      f"too, it cannot requeue itself, and a retry resumes it from its saved state. {BIND_HINT}")
        elif problem:
            warn_once(f"warning: SLURM job {job_id} {problem}: its time limit is unknown here, so it cannot stop "
                      "itself before it, and without scontrol it cannot requeue itself; SLURM kills it at the "
                      f"limit and a retry resumes it from its last saved state. {BIND_HINT}")
        if left is not None:
            self.at = time.monotonic() + left

    def seconds_left(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def allows(self, epoch_seconds: float) -> bool:
        """Is there time for one more epoch of about epoch_seconds (and the margin)?"""
        left = self.seconds_left()
        return left is None or left > 1.5 * epoch_seconds + MARGIN_SECONDS


def squeue_time_left(job_id: str) -> tuple[float | None, str | None]:
    """(seconds the job has left, None) from squeue; (None, what went wrong) where squeue is missing or
    fails; (None, None) where the job has no limit."""
    if not shutil.which("squeue"):
        return None, "cannot see squeue (a container without SLURM's commands?)"
    try:
        result = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%L"], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"cannot run squeue ({error})"
    answer = result.stdout.strip()
    if result.returncode != 0 or not answer:
        said = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        return None, f"got no answer from squeue ({said})"
    return parse_time_left(answer.splitlines()[0]), None


def job_started_at(job_id: str) -> float:
    """When this SLURM job started, as a time.time() value, as near as this process can tell: the start of the
    oldest process it can see that belongs to the job (SLURM_JOB_ID in its environment: the batch shell,
    which SLURM starts with the job, where the container shares the host's processes; else this step's)."""
    started = psutil.Process().create_time()
    for process in psutil.process_iter(["create_time"]):
        try:
            if process.info["create_time"] < started and process.environ().get("SLURM_JOB_ID") == job_id:
                started = process.info["create_time"]
        except psutil.Error:  # ended meanwhile, or not ours to read
            continue
    return started
