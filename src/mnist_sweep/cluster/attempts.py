"""What a pack's earlier job attempts say: how often it continued after a time limit, how often it
ran out of memory; and the continuation itself.

Every attempt of a pack's job appends to `<pack>/attempts.log` (mnist_sweep.training.train). Two things
follow from it, each so that a retry is spent only on a real failure:

- **A time limit or a preemption is not a failure.** A job that stops before its time limit
  (mnist_sweep.cluster.deadline), or on SIGTERM while SLURM still runs it (a preemption's grace time), has
  saved every run's state; it then requeues itself (`scontrol requeue $SLURM_JOB_ID`, as submitit
  does): SLURM puts the same job back in the queue, Snakemake keeps waiting for it, and the next
  start resumes the runs. No Snakemake retry is spent and no error is logged. A pack may do this
  `max_requeues` times (config key; each continuation is one more job length); after that, or
  where the site forbids requeueing, the stop is a failed attempt as before and Snakemake's
  `retries` continue it.
- **Every attempt is charged, a killed one too.** An attempt killed outright (out of memory,
  kill -9, a node failure) cannot write its end; the next attempt of the pack does it for it
  (charge_unended_attempt), charging it from its start to its last output (the time attempts.log
  was last written), a lower bound, so job hours count every attempt.
- **Memory grows only after running out of it.** A retry asks for more host memory only for each
  earlier attempt that ended out of it: SLURM's kill message in the job's SLURM log (cgroup
  `oom_kill`, or the job accounting's "exceeded memory limit"), or Python's MemoryError in
  attempts.log. A retry after a node failure or a bug asks for the same memory.
- **A GPU out of memory is its own case.** TensorFlow's ResourceExhaustedError (the GPU's memory,
  not the host's) asks for no more host memory: the retry trains the pack in parts, half as many
  replicas at once for each such end (gpu_out_of_memory_ends), and done.json records what fitted.
"""

from __future__ import annotations

import datetime
import os
import re
import socket
import subprocess
import time
from pathlib import Path

REQUEUED = "== requeued"
STARTED = "== attempt started"
ENDED = "== attempt ended"
# The start line train.main writes: == attempt started <UTC time> on <host> (pid <pid>), SLURM job <id or ->
START_LINE = re.compile(rf"{STARTED} (\S+) on (\S+) \(pid (\d+)\), SLURM job (\S+)")
ATTEMPTS_COLUMNS = ("started", "seconds", "exit_code", "host", "slurm_job_id")
# SLURM's words for a job it killed for memory (task/cgroup; jobacct_gather's OverMemoryKill; the
# OUT_OF_MEMORY state), and Python's for a host allocation that failed: more host memory helps.
OUT_OF_MEMORY = re.compile(r"oom[-_ ]kill|out[-_ ]of[-_ ]memory|exceeded memory limit|MemoryError", re.IGNORECASE)
# TensorFlow's and CUDA's for GPU memory that ran out: more host memory does not help, fewer replicas
# per process do (the retry trains the pack in parts, mnist_sweep.training.train).
GPU_OUT_OF_MEMORY = re.compile(r"ResourceExhaustedError|OOM when allocating|CUDA_ERROR_OUT_OF_MEMORY|"
                               r"cudaErrorMemoryAllocation")


def _attempts_log(pack_dir: Path) -> str:
    try:
        return (Path(pack_dir) / "attempts.log").read_text(errors="replace")
    except OSError:
        return ""


def requeues(pack_dir: Path) -> int:
    """How many times this pack's job put itself back in the queue (time limit, preemption)."""
    return sum(line.startswith(REQUEUED) for line in _attempts_log(pack_dir).splitlines())


def out_of_memory_ends(pack_dir: Path, slurm_logs: Path | None = None) -> int:
    """How many of the pack's attempts ended out of host memory: attempts.log's attempts that say so (and
    not that the GPU's ran out: CUDA's message says "out of memory" too), and SLURM logs (one per job, in
    slurm_logs: the plugin's .snakemake/slurm_logs/rule_train/<pack>/) that do."""
    attempts = _attempts_log(pack_dir).split(STARTED)[1:]
    count = sum(bool(OUT_OF_MEMORY.search(attempt)) and not GPU_OUT_OF_MEMORY.search(attempt) for attempt in attempts)
    if slurm_logs is not None and Path(slurm_logs).is_dir():
        for log in Path(slurm_logs).glob("*.log"):
            try:
                count += bool(OUT_OF_MEMORY.search(log.read_text(errors="replace")))
            except OSError:
                pass
    return count


def gpu_out_of_memory_ends(pack_dir: Path) -> int:
    """How many of the pack's attempts ended with their GPU's memory exhausted (attempts.log)."""
    return sum(bool(GPU_OUT_OF_MEMORY.search(attempt)) for attempt in _attempts_log(pack_dir).split(STARTED)[1:])


# squeue's tries before a job's state counts as unknown, and the seconds between them.
SQUEUE_TRIES = 3
SQUEUE_PAUSE_SECONDS = 5.0


def slurm_job_state(job: str) -> str | None:
    """SLURM's state of a job (RUNNING, COMPLETING, ...), or None where squeue cannot tell (ask_squeue)."""
    return ask_squeue(job)[0]


def ask_squeue(job: str) -> tuple[str | None, str]:
    """(SLURM's state of a job, or None, and what squeue said where it gave none). None: the job is not in its
    list (ended a while ago), or squeue gave no answer SQUEUE_TRIES times (slurmctld busy, e.g. with the
    preemption that sent this job its SIGTERM: seen on a loaded test cluster)."""
    said = ""
    for attempt in range(SQUEUE_TRIES):
        if attempt:
            time.sleep(SQUEUE_PAUSE_SECONDS)
        try:
            answer = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True,
                                    timeout=60)
        except OSError as error:
            return None, str(error)
        except subprocess.SubprocessError as error:
            said = str(error)
            continue
        if answer.stdout.strip():
            return answer.stdout.strip(), ""
        said = answer.stderr.strip() or f"nothing (exit code {answer.returncode})"
        if "Invalid job id" in answer.stderr:
            break
    return None, said


def requeue(pack_dir: Path, max_requeues: int, why: str) -> bool:
    """Put this SLURM job back in the queue (its runs' states are saved) after it stopped before its
    time limit or on SIGTERM; False where it does not (not a SLURM job, SLURM is ending it anyway,
    the pack's budget of continuations spent, the site refuses). Says which in the log.

    Only while SLURM still runs the job: a preemption with a grace time sends SIGTERM and would end
    the job as failed if it exited first, so it requeues itself; after `scancel` (or SLURM's own
    requeue, or its time limit) the job is already COMPLETING: a cancelled job stays cancelled."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return False
    done = requeues(pack_dir)
    if done >= max_requeues:
        print(f"not requeued: this pack continued {done} time(s) already (max_requeues {max_requeues}); "
              "the stop counts as a failed attempt, Snakemake's retries continue it", flush=True)
        return False
    state, said = ask_squeue(job)
    if state != "RUNNING":
        print(f"not requeued from here: SLURM is ending this job ({state or 'state unknown: squeue said ' + said}; "
              "cancelled, or requeued by SLURM itself)", flush=True)
        return False
    try:
        answer = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        answer = subprocess.CompletedProcess([], 1, "", str(error))
    if answer.returncode != 0:
        print(f"not requeued: scontrol requeue {job} said: {answer.stderr.strip() or answer.returncode}; "
              "the stop counts as a failed attempt, Snakemake's retries continue it", flush=True)
        return False
    # Logged before SLURM ends this attempt, so the next one counts it.
    print(f"{REQUEUED} ({why}): SLURM job {job} goes back to the queue and continues these runs "
          f"(continuation {done + 1} of at most {max_requeues}; SLURM starts it again after its requeue delay, "
          "2 minutes unless the site changed it)",
          flush=True)
    return True


def start_line(started: datetime.datetime) -> str:
    """The line that opens an attempt in attempts.log (START_LINE reads it back)."""
    return (f"{STARTED} {started.isoformat(timespec='seconds')} on {socket.gethostname()} (pid {os.getpid()}), "
            f"SLURM job {os.environ.get('SLURM_JOB_ID') or '-'}")


def record_attempt(pack_dir: Path, started: str, seconds: float, exit_code, host: str, slurm_job: str) -> None:
    """One row of <pack>/attempts.tsv (summarize adds up the seconds: job_seconds, gpu_hours)."""
    path = Path(pack_dir) / "attempts.tsv"
    new = not path.exists()
    with open(path, "a") as f:
        if new:
            f.write("\t".join(ATTEMPTS_COLUMNS) + "\n")
        f.write(f"{started}\t{seconds:.3f}\t{exit_code}\t{host}\t{slurm_job}\n")


def _still_running(host: str, pid: int, slurm_job: str) -> bool:
    """Is the attempt that wrote this start line alive (another trainer of the pack, e.g. after a killed
    controller)? Its own SLURM job restarted (a requeue) means no."""
    if slurm_job != "-":
        if slurm_job == os.environ.get("SLURM_JOB_ID"):
            return False
        return slurm_job_state(slurm_job) in ("RUNNING", "PENDING", "CONFIGURING", "COMPLETING", "SUSPENDED")
    if host != socket.gethostname():
        return False  # not a SLURM job, on another machine: it cannot be asked
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def charge_unended_attempt(pack_dir: Path) -> float | None:
    """Record the pack's last attempt if it was killed outright (its start line has no end): in attempts.tsv
    from its start to its last output (attempts.log's last write), exit code `killed`. Returns its seconds,
    or None when there is none to record (no attempt, it ended, it is still running)."""
    log_path = Path(pack_dir) / "attempts.log"
    text = _attempts_log(pack_dir)
    start = text.rfind(STARTED)
    if start < 0 or ENDED in text[start:]:
        return None
    found = START_LINE.match(text[start:].splitlines()[0])
    if not found:
        return None  # an older start line: its time stays unknown
    started, host, pid, slurm_job = found[1], found[2], int(found[3]), found[4]
    if _still_running(host, pid, slurm_job):
        return None
    try:
        seconds = max(0.0, log_path.stat().st_mtime - datetime.datetime.fromisoformat(started).timestamp())
    except (OSError, ValueError):
        return None
    with open(log_path, "a") as log:
        print(f"{ENDED} without a word (killed outright: out of memory, kill -9, node failure?); charged "
              f"{seconds:.1f} s, from its start to its last output", file=log, flush=True)
    record_attempt(pack_dir, started, seconds, "killed", host, "" if slurm_job == "-" else slurm_job)
    return seconds
