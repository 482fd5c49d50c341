"""Job states as the SLURM plugin can read them: `sacct`, with "CANCELLED by <uid>" read as CANCELLED.

sacct reports a job that a user or an administrator cancelled as `CANCELLED by <uid>`. The SLURM
executor plugin (2.8) compares states exactly, so it never takes that job for ended: Snakemake waited
for it forever (issue 34; seen on the test cluster). The plugin runs `sacct` from the controller's
PATH, so the workflow puts this wrapper first on that PATH (install, called from its onstart): it runs
the real sacct with the same arguments and writes the same lines, the state field of a cancelled job
cut to CANCELLED. Nothing else changes, and every other caller of sacct on that PATH gets the same
answer, better readable. The plugin then reports the job as failed, with its log, and Snakemake
retries it or stops as for any failed job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# The folder of the wrapper, so that the wrapper finds the real sacct behind it on PATH.
WRAPPER_DIR = "MNIST_SWEEP_SACCT_WRAPPER_DIR"
# "CANCELLED by 0", "CANCELLED by 1000": a cancellation with the uid of whoever cancelled it.
CANCELLED_BY = re.compile(r"^CANCELLED by \S+$")


def readable_state(state: str) -> str:
    return "CANCELLED" if CANCELLED_BY.match(state.strip()) else state


def rewrite(output: str) -> str:
    """sacct --parsable2 lines (fields joined by |) with every CANCELLED-by state cut to CANCELLED."""
    return "".join("|".join(readable_state(field) for field in line.split("|")) + newline
                   for line, newline in _lines(output))


def _lines(text: str):
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        yield body, line[len(body):]


def real_sacct() -> str | None:
    """The sacct this wrapper stands in front of: the first on PATH outside the wrapper's own folder."""
    own = Path(os.environ.get(WRAPPER_DIR, "/nonexistent")).resolve()
    path = os.pathsep.join(entry for entry in os.environ.get("PATH", "").split(os.pathsep)
                           if entry and Path(entry).resolve() != own)
    return shutil.which("sacct", path=path)


def install(folder: Path) -> Path:
    """Write the wrapper `sacct` into folder and put folder first on this process' PATH (which the
    plugin's status checks and every job inherit). Returns the wrapper's path."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "sacct"
    wrapper.write_text(f"#!/bin/sh\n# Written by mnist-sweep: see mnist_sweep/cluster/job_states.py\n"
                       f"exec {sys.executable} -m mnist_sweep.cluster.job_states \"$@\"\n")
    wrapper.chmod(0o755)
    os.environ[WRAPPER_DIR] = str(folder)
    entries = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != str(folder)]
    os.environ["PATH"] = os.pathsep.join([str(folder), *entries])
    return wrapper


def main(argv=None) -> int:
    sacct = real_sacct()
    if sacct is None:
        print("sacct: not found on PATH (mnist-sweep's wrapper stands in front of it)", file=sys.stderr)
        return 127
    result = subprocess.run([sacct, *(sys.argv[1:] if argv is None else argv)], capture_output=True, text=True)
    sys.stdout.write(rewrite(result.stdout))
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
