"""One trainer per run: a lock that a second trainer of the same run respects.

Two jobs can be asked to train one run: a rerun after Snakemake was killed while its
training job lives on, or two sweeps that share a run started at the same time. The
trainer holds <run dir>/.training.lock (flock: released by the kernel when the process
ends, even on kill -9, so a crashed holder never leaves a stale lock) while it trains the
run; the file names the holder (host, pid, SLURM job). A second trainer waits for it and
then skips the run if the holder finished it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path


class RunLock:
    def __init__(self, run_dir):
        self.path = Path(run_dir) / ".training.lock"
        self.handle = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        job = os.environ.get("SLURM_JOB_ID")
        handle.write(f"host {socket.gethostname()} pid {os.getpid()}" + (f" slurm job {job}" if job else "") + "\n")
        handle.flush()
        self.handle = handle
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"

    def acquire(self, poll_seconds: float = 5.0, say=print) -> None:
        """Wait until the lock is ours, saying who holds it."""
        if self.try_acquire():
            return
        say(f"{self.path.parent} is being trained by {self.holder()}: waiting for it", flush=True)
        while not self.try_acquire():
            time.sleep(poll_seconds)

    def release(self) -> None:
        """Unlock; the lock file goes once the run is finished (metrics.json), so finished runs keep none.

        Removing it is safe then: a trainer that still opens or waits on it finds the run finished and
        skips it; an unfinished run's file stays, for its next trainer."""
        if self.handle is not None:
            if (self.path.parent / "metrics.json").exists():
                self.path.unlink(missing_ok=True)
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None
