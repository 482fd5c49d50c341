"""Rerunning the same command after the Snakemake process was killed (kill -9, a dead login session).

Snakemake then leaves its lock in .snakemake/locks/ and refuses to start until
`snakemake --unlock`. Before Snakemake locks, we remove such a lock when it is certainly stale:
every Snakemake of this working directory ran on this host (hosts are recorded in
.snakemake/mnist-sweep-hosts; a directory shared by several login nodes is never touched),
no Snakemake process with this working directory is alive here, and no SLURM job started from
this working directory is still queued or running (squeue: the jobs of a killed controller
keep running and writing). Otherwise the lock stays and Snakemake reports it as usual; for
SLURM jobs, we say which ones to wait for or cancel.

A controller run as a SLURM job (profiles/slurm/controller.sh) lands on any compute node, so
the host rule cannot hold for it. Instead the lock's owner is recorded when it starts
(.snakemake/mnist-sweep-owner: host, pid, SLURM job id): a lock taken by a controller job is
stale once SLURM no longer runs that job, on whatever host. A controller job submitted again
(after scancel, a node failure or its time limit) then waits for the training jobs the dead one
left running (they finish their runs, which are not trained again), removes the lock and goes on.
Its own job is never counted as one of the workflow's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

OWNER_FILE = "mnist-sweep-owner"


def _ancestors() -> set:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def other_snakemake_running(workdir: Path) -> bool:
    """Is another Snakemake process alive on this host with workdir as its working directory?"""
    own = _ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if "snakemake" in command and cwd == workdir:
            return True
    return False


def slurm_jobs_from(workdir: Path) -> list[str]:
    """Ids and states of this user's SLURM jobs whose working directory is workdir (empty without SLURM),
    except this process' own job (a controller job is not one of the workflow's jobs it waits for)."""
    if not shutil.which("squeue"):
        return []
    try:
        answer = subprocess.run(["squeue", "--me", "-h", "-o", "%i|%T|%Z"], capture_output=True, text=True,
                                timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    jobs, own = [], own_slurm_job()
    for line in answer.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and Path(parts[2]).resolve() == workdir and parts[0] != own:
            jobs.append(f"{parts[0]} ({parts[1].lower()})")
    return jobs


def own_slurm_job() -> str | None:
    """This process' SLURM job id, from the environment it started with: Snakemake's SLURM executor removes
    SLURM_* variables from os.environ (so that its sbatch calls do not inherit them) before onstart runs."""
    try:
        for item in Path("/proc/self/environ").read_bytes().split(b"\0"):
            if item.startswith(b"SLURM_JOB_ID="):
                return item.split(b"=", 1)[1].decode() or None
    except OSError:
        pass
    return os.environ.get("SLURM_JOB_ID") or None


def record_owner(workdir=".") -> None:
    """Say who holds Snakemake's lock (called once the lock is taken): host, pid, SLURM job id or -."""
    state = Path(workdir).resolve() / ".snakemake"
    state.mkdir(exist_ok=True)
    (state / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()} {own_slurm_job() or '-'}\n")


def _owner_job(state: Path) -> str | None:
    """The SLURM job id of the controller that took the lock, or None (a login-node Snakemake, or unknown)."""
    try:
        job = (state / OWNER_FILE).read_text().split()[2]
    except (OSError, IndexError):
        return None
    return None if job == "-" else job


def _job_alive(job: str) -> bool:
    try:
        answer = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return True  # cannot tell: keep the lock
    return bool(answer.stdout.strip()) and answer.returncode == 0


def release_stale_lock(workdir=".", log=sys.stderr, poll_seconds: float = 30) -> bool:
    """Remove Snakemake's lock if its owner is certainly dead; return whether it was removed."""
    workdir = Path(workdir).resolve()
    own_job = own_slurm_job()
    state = workdir / ".snakemake"
    owner_job = _owner_job(state)
    if own_job and owner_job and list((state / "locks").glob("*.lock")):
        return _release_after_controller_job(workdir, owner_job, own_job, log, poll_seconds)
    hosts_file = state / "mnist-sweep-hosts"
    host = socket.gethostname()
    state.mkdir(exist_ok=True)
    hosts = set(hosts_file.read_text().split()) if hosts_file.exists() else set()
    if host not in hosts:
        with open(hosts_file, "a") as f:
            f.write(host + "\n")
        hosts.add(host)
    locks = list((state / "locks").glob("*.lock"))
    if not locks or hosts != {host} or not Path("/proc/self").exists():
        return False
    if other_snakemake_running(workdir):
        return False
    jobs = slurm_jobs_from(workdir)
    if jobs:
        print(f"note: Snakemake's lock in {state / 'locks'} is kept: SLURM jobs of this workflow are still queued or "
              f"running: {', '.join(jobs)}. Wait for them (squeue --me) or cancel them (scancel <id>), then run the "
              "same command again.", file=log)
        return False
    for lock in locks:
        lock.unlink(missing_ok=True)
    print(f"note: removed the lock of a Snakemake process that no longer runs ({len(locks)} file(s) in "
          f"{state / 'locks'}); finished runs are kept, the rest is redone", file=log)
    return True


def _release_after_controller_job(workdir: Path, owner_job: str, own_job: str, log, poll_seconds: float) -> bool:
    """A controller job finds the lock of a controller job: released once that job is gone and the training
    jobs it left have ended (waited for: they finish their runs)."""
    state = workdir / ".snakemake"
    if owner_job != own_job and _job_alive(owner_job):
        print(f"note: Snakemake's lock is held by the controller job {owner_job}, which is still queued or running: "
              f"cancel it (scancel {owner_job}) before submitting another", file=log)
        return False
    while True:
        jobs = slurm_jobs_from(workdir)
        if not jobs:
            break
        print(f"note: the controller job {owner_job} is gone; waiting for the training jobs it left: "
              f"{', '.join(jobs)}", file=log, flush=True)
        time.sleep(poll_seconds)
    if other_snakemake_running(workdir):
        return False
    locks = list((state / "locks").glob("*.lock"))
    for lock in locks:
        lock.unlink(missing_ok=True)
    print(f"note: removed the lock of the controller job {owner_job}, which no longer runs; finished runs are kept, "
          "the rest is redone", file=log)
    return True
