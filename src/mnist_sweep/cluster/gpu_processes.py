"""A job given several GPUs trains its pack as one process per GPU, each a share of the runs.

TensorFlow trains a pack on one device (GPU:0 of what it sees). A SLURM job with `gpus: 4`
(config/slurm.yaml) sees four in CUDA_VISIBLE_DEVICES; the job's process then starts one
`python -m mnist_sweep.training.train --part i/4` per GPU, with CUDA_VISIBLE_DEVICES set to that GPU
alone and its share of the CPU threads, and waits for all of them. Part i takes every 4th run
of the plan from the i-th, so each part holds a share of every shape (a plan lists a shape's
runs together). A run's numbers do not depend on its part (the pack is only a vectorization:
mnist_sweep.training.packed).

The parts write their own runs' files; their output goes to the job's log with a prefix, one
line at a time. A SIGTERM (time limit, preemption, scancel) is passed on to every part; each
saves its runs' states and exits 143, and the job then exits 143 as a single process would
(and requeues itself: mnist_sweep.cluster.attempts). A part that failed makes the job fail with its exit
code once the others have finished, so what they trained is kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from mnist_sweep.cluster.signals import EXIT_PREEMPTED

# Exit code of a part whose setup cannot work (no GPU, damaged data): it records that itself.
EXIT_SETUP_FAILED = 3


def visible_gpus() -> list[str]:
    """The GPU ids in CUDA_VISIBLE_DEVICES (none when it is -1 or NoDevFiles). Where it is unset and SLURM
    says the job holds N GPUs on this node (SLURM_GPUS_ON_NODE; SLURM sets no CUDA_VISIBLE_DEVICES for
    GPUs it cannot map to NVIDIA devices, e.g. the test cluster's fake ones): 0 to N-1."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        count = os.environ.get("SLURM_GPUS_ON_NODE", "")
        return [str(index) for index in range(int(count))] if count.isdigit() else []
    if value.strip() in ("", "-1", "NoDevFiles"):
        return []
    return [gpu.strip() for gpu in value.split(",") if gpu.strip()]


def part_of(runs: list, part: str) -> list:
    """The runs of part "i/n": every n-th from the i-th."""
    index, count = (int(number) for number in part.split("/"))
    if not 0 <= index < count:
        raise ValueError(f"--part {part}: must be i/n with 0 <= i < n")
    return runs[index::count]


def _relay(stream, prefix: str, lock: threading.Lock) -> None:
    """Copy a part's output to this process' stdout (the job's log and attempts.log), line by line."""
    for line in iter(stream.readline, ""):
        with lock:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()
    stream.close()


def train_on_each_gpu(argv: list[str], gpus: list[str], runs: int, threads: int) -> tuple[int, str | None]:
    """Run `python -m mnist_sweep.training.train <argv> --part i/n` once per GPU (n = min(GPUs, runs)). Returns the
    job's exit code: 0 when every part finished, 143 when one was stopped (states saved), else the first
    failure's code (a setup failure first: no retry helps it); and the signal passed on, if any."""
    count = min(len(gpus), runs)
    per_part = max(1, threads // count)
    print(f"{count} GPUs ({','.join(gpus[:count])}): one training process per GPU, {per_part} CPU thread(s) each",
          flush=True)
    parts, relays = [], []
    received = []

    def pass_on(signum, frame):
        received.append(signal.Signals(signum).name)
        for part in parts:
            if part.poll() is None:
                part.send_signal(signum)

    # Before the parts start: a signal that comes while they start reaches them too.
    previous = {signum: signal.signal(signum, pass_on) for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    lock = threading.Lock()
    for index in range(count):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpus[index])
        command = [sys.executable, "-m", "mnist_sweep.training.train", *argv, "--threads", str(per_part),
                   "--part", f"{index}/{count}"]
        part = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        relay = threading.Thread(target=_relay, args=(part.stdout, f"[GPU {gpus[index]}] ", lock), daemon=True)
        relay.start()
        parts.append(part)
        relays.append(relay)

    try:
        codes = [part.wait() for part in parts]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for relay in relays:
            relay.join()
    signal_name = received[0] if received else None
    if EXIT_SETUP_FAILED in codes:
        return EXIT_SETUP_FAILED, signal_name
    failed = [code for code in codes if code not in (0, EXIT_PREEMPTED)]
    if failed:
        # A part killed by a signal reports -N: as a shell would, 128 + N.
        return (failed[0] if failed[0] > 0 else 128 - failed[0]), signal_name
    return (EXIT_PREEMPTED if EXIT_PREEMPTED in codes else 0), signal_name
