"""One GPU per training job on a workstation: Snakemake limits how many run, not which GPU.

A job takes the first GPU id whose lock file it can lock (flock, released when the process
ends, even on kill -9) and sets CUDA_VISIBLE_DEVICES to it before TensorFlow starts. Under
SLURM the scheduler already sets CUDA_VISIBLE_DEVICES, so nothing is done there.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

_held = []  # open lock files: the locks live as long as the process


def take_gpu(gpu_ids, lock_dir, poll_seconds: float = 1.0, timeout_seconds: float = 3600) -> str | None:
    """Lock one of gpu_ids, export CUDA_VISIBLE_DEVICES=<id>, return the id (None if no ids)."""
    if not gpu_ids or "CUDA_VISIBLE_DEVICES" in os.environ:
        return None
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_seconds
    while True:
        for gpu_id in gpu_ids:
            handle = open(lock_dir / f"gpu-{gpu_id}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held.append(handle)
            os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu_id)
            return str(gpu_id)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no free GPU among {list(gpu_ids)} after {timeout_seconds} s (locks in {lock_dir})")
        time.sleep(poll_seconds)
