"""A training job stops cleanly when SLURM warns it (time limit, preemption) or a user asks.

SIGTERM (and SIGUSR1, which `--signal=B:USR1@...` sends, and SIGINT: Ctrl-C in the terminal
of a local sweep reaches its jobs too) is remembered; the trainer saves every run's state at
the end of the current epoch and exits with 143 (128 + SIGTERM), the code a process killed by
SIGTERM reports, so Snakemake and SLURM see the job as stopped, and no traceback is left in
the log. A SLURM job that SLURM still runs at that point (a preemption's grace time) first puts
itself back in the queue (mnist_sweep.cluster.attempts). Signals after the first change nothing: the
state of the epoch in progress is saved.
"""

from __future__ import annotations

import signal

EXIT_PREEMPTED = 143


class StopRequested:
    """Remembers a SIGTERM, SIGUSR1 or SIGINT so training can stop at the end of the current epoch."""

    def __init__(self):
        self.signal_name = None

    def install(self):
        for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        # A job often gets more than one (Ctrl-C reaches it from the terminal and from Snakemake):
        # the first is acted on, the others change nothing.
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name
            print(f"received {self.signal_name}: stopping after the current epoch", flush=True)

    def __bool__(self):
        return self.signal_name is not None
