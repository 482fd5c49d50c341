"""How many training jobs can run at once here, and how many CPU threads each one gets.

On a workstation (snakemake -cN) the cores are the slots: N // train_threads jobs train at
once, or fewer when --resources gpu=G limits them (a training job takes one GPU). A sweep
is cut into at least that many jobs (mnist_sweep.planning.packs), because on CPU two processes of
one thread train about 1.3x more than one process with two threads (bench/README.md), and
when fewer jobs than slots are left, each job gets the spare cores as threads.

Under a cluster executor (--profile profiles/slurm, which sets --jobs) the length of a job
decides (config key job_minutes), not the slots: a job pays queueing and start-up, so a
small sweep stays one job, and every job asks for train_threads CPUs. `snakemake -j N` on a
workstation counts as a cluster here (Snakemake tells the two apart only after the
Snakefile is read); -c N is the workstation's flag.
"""

from __future__ import annotations


def training_slots(cores: int | None, jobs_limit: int | None, gpus: int | None, train_threads: int) -> int | None:
    """Training jobs that can run at once on this workstation; None under a cluster executor (--jobs)."""
    if jobs_limit is not None:
        return None
    slots = max(1, (cores or 1) // train_threads)
    return slots if gpus is None else max(1, min(slots, gpus))


def job_threads(train_threads: int, cores: int | None, slots: int | None, jobs: int) -> int:
    """CPU threads of each training job: train_threads, or the spare cores when fewer jobs than slots are left."""
    if slots is None or not cores:
        return train_threads
    return max(train_threads, cores // max(1, min(jobs, slots)))
