"""`sacct` and `sbatch` as the SLURM plugin calls them, where its own handling fails a sweep.

The SLURM executor plugin (2.8) runs `sacct` and `sbatch` from the controller's PATH. The workflow
puts a folder with two small wrappers first on that PATH (install, called from its onstart); each
runs the real command behind it with the same arguments and input:

- sacct: a job that a user or an administrator cancelled is `CANCELLED by <uid>` in sacct. The
  plugin compares states exactly, so it never took that job for ended, and Snakemake waited for it
  forever (issue 34; seen on the test cluster). The wrapper cuts that state to CANCELLED, nothing
  else: the plugin then reports the job as failed, with its log, and Snakemake retries it or stops
  as for any failed job. Likewise a job that a preemption ended without putting it back in the queue
  (PreemptMode=CANCEL, or a requeue that failed): sacct says PREEMPTED, which the plugin takes for a
  job that SLURM will resume, so it waited for it forever too. Where squeue no longer has that job
  queued or running, the wrapper says CANCELLED (what the preemption did to it) and notes it in
  .snakemake/mnist-sweep/states.log; a preempted job that SLURM requeued is left as sacct says.
- sbatch: a submission refused by a submit limit (a QOS's or an account's MaxSubmitJobs, e.g. with
  `jobs: 50` and the controller's own job) made the plugin report a job error for each, and the
  retries were spent in seconds. The wrapper waits (SUBMIT_WAIT_SECONDS, doubling up to
  SUBMIT_WAIT_MOST) and submits again, until SUBMIT_WAIT_TOTAL (env MNIST_SWEEP_SUBMIT_WAIT_TOTAL
  overrides it) has passed, and notes each wait in .snakemake/mnist-sweep/submit-waits.log, not on
  stderr (the plugin shows a successful sbatch's stderr nowhere, and takes "submission failed" in
  it for a failure: seen on the test cluster); every other answer of sbatch is passed on as it came.
  Snakemake submits nothing else meanwhile: the queue is full anyway. Each job id sbatch gives is noted
  in .snakemake/mnist-sweep/submitted-<controller pid>.jobs, so that a stop on request cancels every job
  this controller submitted (cancel_submitted; mnist_sweep/cluster/interruption.py): the plugin's own
  cancel reaches only the jobs in its list, which its status check empties while it asks sacct.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

WRAPPED = ("sacct", "sbatch")
# The folder of the wrappers, so that each finds the real command behind it on PATH.
WRAPPER_DIR = "MNIST_SWEEP_SLURM_WRAPPERS"
# "CANCELLED by 0", "CANCELLED by 1000": a cancellation with the uid of whoever cancelled it.
CANCELLED_BY = re.compile(r"^CANCELLED by \S+$")
# sbatch's words for a submission over a submit limit (slurm's job_submit errors, e.g.
# "QOSMaxSubmitJobPerUserLimit", "AssocMaxSubmitJobLimit", "Job violates accounting/QOS policy (job
# submit limit, user's size and/or time limits)").
SUBMIT_LIMIT = re.compile(r"MaxSubmitJob|job submit limit", re.IGNORECASE)
SUBMIT_WAIT_SECONDS = 15
SUBMIT_WAIT_MOST = 120
SUBMIT_WAIT_TOTAL = 6 * 3600
SUBMIT_WAIT_TOTAL_VARIABLE = "MNIST_SWEEP_SUBMIT_WAIT_TOTAL"
WAITS_LOG = "submit-waits.log"


# SLURM's states of a job that has not ended: queued (or about to run again), or running.
QUEUED_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT"}
ACTIVE_STATES = QUEUED_STATES | RUNNING_STATES
STATES_LOG = "states.log"
# The file of the job ids this controller submitted (install sets it; sbatch appends to it).
SUBMITTED_VARIABLE = "MNIST_SWEEP_SUBMITTED_JOBS"
# sbatch's answer: "Submitted batch job 42", or with --parsable "42" or "42;cluster".
JOB_ID = re.compile(r"^\s*(?:Submitted batch job )?(\d+)")


def readable_state(state: str, ended_by_preemption: bool = False) -> str:
    if CANCELLED_BY.match(state.strip()) or (ended_by_preemption and state.strip() == "PREEMPTED"):
        return "CANCELLED"
    return state


def rewrite_states(output: str, ended: set[str] = frozenset()) -> str:
    """sacct --parsable2 lines (job id first, fields joined by |) with every CANCELLED-by state cut to CANCELLED,
    and the PREEMPTED state of a job in `ended` (no longer queued or running) said as CANCELLED."""
    lines = []
    for line in output.splitlines(keepends=True):
        body = line.rstrip("\n")
        fields = body.split("|")
        lines.append("|".join(readable_state(field, fields[0] in ended) for field in fields) + line[len(body):])
    return "".join(lines)


def preempted_jobs(output: str) -> list[str]:
    """The job ids (first field) of sacct --parsable2 lines whose state is PREEMPTED."""
    return [fields[0] for fields in (line.split("|") for line in output.splitlines())
            if "PREEMPTED" in fields[1:] and fields[0].split("_")[0].isdigit()]


def no_longer_queued(job_ids: list[str]) -> set[str]:
    """Those of job_ids that squeue has neither queued nor running (nor about to requeue). When squeue cannot
    answer (the controller is down), none: the plugin then waits, as it would without the wrapper."""
    if not job_ids:
        return set()
    squeue = shutil.which("squeue")
    if squeue is None:
        return set()
    result = subprocess.run([squeue, "-h", "-t", "all", "-o", "%i %T", "-j", ",".join(job_ids)],
                            capture_output=True, text=True)
    if result.returncode != 0 and "Invalid job id" not in result.stderr:
        return set()
    active = {job for job, _, state in (line.strip().partition(" ") for line in result.stdout.splitlines())
              if state in ACTIVE_STATES}
    return set(job_ids) - active


def real_command(name: str) -> str | None:
    """The command a wrapper stands in front of: the first on PATH outside the wrappers' own folder."""
    own = Path(os.environ.get(WRAPPER_DIR, "/nonexistent")).resolve()
    path = os.pathsep.join(entry for entry in os.environ.get("PATH", "").split(os.pathsep)
                           if entry and Path(entry).resolve() != own)
    return shutil.which(name, path=path)


def install(folder: Path) -> Path:
    """Write the wrappers into folder and put folder first on this process' PATH (which the plugin's
    status checks and submissions, and every job, inherit). Returns the folder."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for name in WRAPPED:
        wrapper = folder / name
        wrapper.write_text(f"#!/bin/sh\n# Written by mnist-sweep: see mnist_sweep/cluster/slurm_commands.py\n"
                           f"exec {sys.executable} -m mnist_sweep.cluster.slurm_commands {name} \"$@\"\n")
        wrapper.chmod(0o755)
    os.environ[WRAPPER_DIR] = str(folder)
    # Job ids of controllers that ended are of no use: their files go.
    for old in folder.parent.glob("submitted-*.jobs"):
        pid = old.stem.removeprefix("submitted-")
        if not (pid.isdigit() and psutil.pid_exists(int(pid))):
            old.unlink(missing_ok=True)
    os.environ[SUBMITTED_VARIABLE] = str(folder.parent / f"submitted-{os.getpid()}.jobs")
    entries = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != str(folder)]
    os.environ["PATH"] = os.pathsep.join([str(folder), *entries])
    return folder


def sacct(command: str, args: list[str]) -> int:
    result = subprocess.run([command, *args], capture_output=True, text=True)
    ended = no_longer_queued(preempted_jobs(result.stdout))
    for job in sorted(ended):
        record(STATES_LOG, f"SLURM job {job}: PREEMPTED and no longer queued (not requeued): reported as CANCELLED")
    sys.stdout.write(rewrite_states(result.stdout, ended))
    sys.stderr.write(result.stderr)
    return result.returncode


def record(log_name: str, note: str) -> None:
    """A note, with the time, in .snakemake/mnist-sweep/<log_name> (beside the wrappers' folder): the plugin
    shows a wrapper's stderr nowhere, and fails a job on some of its words (see sbatch)."""
    folder = os.environ.get(WRAPPER_DIR)
    if folder:
        with open(Path(folder).parent / log_name, "a") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {note}\n")


def script_on_stdin(args: list[str]) -> bool:
    """Whether sbatch reads its job script from stdin: given as /dev/stdin (how the plugin passes one), or no
    --wrap and no script file. The wrapper then reads it once, to give it to each attempt."""
    if "/dev/stdin" in args:
        return True
    wrapped = any(arg == "--wrap" or arg.startswith("--wrap=") for arg in args)
    return not wrapped and not sys.stdin.isatty() and not any(Path(arg).is_file() for arg in args)


def sbatch(command: str, args: list[str], sleep=time.sleep) -> int:
    script = sys.stdin.read() if script_on_stdin(args) else None
    total = float(os.environ.get(SUBMIT_WAIT_TOTAL_VARIABLE, SUBMIT_WAIT_TOTAL))
    waited, wait = 0.0, SUBMIT_WAIT_SECONDS
    while True:
        result = subprocess.run([command, *args], input=script, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL if script is None else None)
        if result.returncode == 0 or not SUBMIT_LIMIT.search(result.stderr) or waited >= total:
            if result.returncode == 0:
                note_submitted(result.stdout)
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            return result.returncode
        wait = min(wait, max(total - waited, 0.0))
        # Into the log only: the plugin reads any "submission failed" on a successful sbatch's stderr as a failure.
        record(WAITS_LOG, f"sbatch refused by a submit limit ({result.stderr.strip().splitlines()[-1]}); "
                    f"submitting again in {wait:.0f} s (waited {waited:.0f} of at most {total:.0f} s)")
        sleep(wait)
        waited += wait
        wait = min(2 * wait, SUBMIT_WAIT_MOST)


def note_submitted(sbatch_output: str) -> None:
    """Append the job id of a successful sbatch to this controller's file of submitted jobs."""
    found, path = JOB_ID.match(sbatch_output), os.environ.get(SUBMITTED_VARIABLE)
    if found and path:
        with open(path, "a") as jobs:
            jobs.write(found[1] + "\n")


def cancel_submitted() -> int:
    """scancel every job this controller submitted (those that ended are refused by scancel, which is harmless).
    Returns how many it asked to cancel."""
    path, scancel = os.environ.get(SUBMITTED_VARIABLE), shutil.which("scancel")
    try:
        jobs = sorted(set(Path(path).read_text().split())) if path else []
    except OSError:
        jobs = []
    if jobs and scancel:
        subprocess.run([scancel, *jobs], capture_output=True, timeout=60)
    return len(jobs)


def main(argv=None) -> int:
    name, *args = sys.argv[1:] if argv is None else argv
    command = real_command(name)
    if command is None:
        print(f"{name}: not found on PATH (mnist-sweep's wrapper stands in front of it)", file=sys.stderr)
        return 127
    return (sacct if name == "sacct" else sbatch)(command, args)


if __name__ == "__main__":
    sys.exit(main())
