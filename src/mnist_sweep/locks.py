"""Rerunning the same command after the Snakemake process was killed (kill -9, a dead login session).

Snakemake then leaves its lock in .snakemake/locks/ and refuses to start until
`snakemake --unlock`. Before Snakemake locks, we remove such a lock when it is certainly stale:
every Snakemake of this working directory ran on this host (hosts are recorded in
.snakemake/mnist-sweep-hosts; a directory shared by several login nodes is never touched),
no Snakemake process with this working directory is alive here, and no SLURM job started from
this working directory is still queued or running (squeue: the jobs of a killed controller
keep running and writing). Otherwise the lock stays and Snakemake reports it as usual; for
SLURM jobs, we say which ones to wait for or cancel.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path


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
    """Ids and states of this user's SLURM jobs whose working directory is workdir (empty without SLURM)."""
    if not shutil.which("squeue"):
        return []
    try:
        answer = subprocess.run(["squeue", "--me", "-h", "-o", "%i|%T|%Z"], capture_output=True, text=True,
                                timeout=60)
    except (OSError, subprocess.SubprocessError):
        return []
    jobs = []
    for line in answer.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and Path(parts[2]).resolve() == workdir:
            jobs.append(f"{parts[0]} ({parts[1].lower()})")
    return jobs


def release_stale_lock(workdir=".", log=sys.stderr) -> bool:
    """Remove Snakemake's lock if its owner is certainly dead; return whether it was removed."""
    workdir = Path(workdir).resolve()
    state = workdir / ".snakemake"
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
