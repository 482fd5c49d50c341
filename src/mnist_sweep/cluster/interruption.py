"""Ctrl-C, or SIGINT or SIGTERM sent to the Snakemake process alone, stops the sweep's jobs too.

Snakemake on its own does not: SIGTERM makes it wait for its running jobs to end (a 30-epoch job
trains all 30), and SIGINT sent to it alone (not to its process group, as `kill -INT <pid>` or a
batch system does) reaches no job either. And where the jobs do stop (Ctrl-C in the terminal
reaches them), each is reported as "Error in rule train ... exit status 143", which reads like a
crash.

So the workflow installs this in its main process (onstart, after Snakemake's own handlers):

- On a workstation (`snakemake -c`), the first SIGINT or SIGTERM is sent on, as SIGTERM, to every
  training process the sweep started: each saves its runs' state at the end of its current epoch
  and exits (mnist_sweep.cluster.signals). Snakemake then goes on as after its own SIGTERM (no new
  job starts; it waits for the running ones, which are stopping).
- Under a cluster executor the jobs are not this process' children: every job this controller
  submitted is cancelled (scancel; each job saves its state on the SIGTERM that scancel sends; the ids
  come from the workflow's sbatch wrapper, mnist_sweep.cluster.slurm_commands), then Snakemake is
  stopped as by Ctrl-C, which cancels its jobs through the executor too. Not through the executor
  alone: its list of jobs is empty while its status check asks sacct, and a stop that came then
  cancelled nothing (seen on the test cluster: the job trained on to the end).
- A controller that runs as a SLURM job itself (profiles/slurm/controller.sh) gets SIGTERM when that
  job ends (its time limit, scancel, its node going down): it then leaves the training jobs running and
  exits at once, its lock behind; the next controller (controller.sh submits it before the limit, or
  you do) waits for those jobs, removes the lock and goes on (mnist_sweep.cluster.locks).
- A second signal hands over to Snakemake's own stop (Python's KeyboardInterrupt, Snakemake's Ctrl-C).
- The training jobs stopped on request are not reported as errors (a filter on Snakemake's logger:
  the standard library's logging API, and the event names of Snakemake's logger-plugin interface);
  the sweep ends with one line saying what was stopped, what is kept and what to run (summary()).
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import psutil
from snakemake_interface_logger_plugins.common import LogEvent

from mnist_sweep.cluster.locks import own_slurm_job
from mnist_sweep.cluster.slurm_commands import cancel_submitted

# The command line of a training process (workflow/rules/train.smk).
TRAINING_COMMAND = "mnist_sweep.training.train"
# The rule whose jobs stop on request.
TRAINING_RULE = "train"
# A controller job's exit on SIGTERM: 128 + SIGTERM, as a process SIGTERM ended.
EXIT_STOPPED = 143


def training_processes() -> list[psutil.Process]:
    """This process' descendants that run a training job: `python -m mnist_sweep.training.train`, not
    the shell around it (whose one argument holds the whole command)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if TRAINING_COMMAND in child.cmdline():
                found.append(child)
        except psutil.Error:  # ended meanwhile
            continue
    return found


class Interruption:
    """The sweep's answer to SIGINT and SIGTERM (see the module's docstring)."""

    def __init__(self, sweep: str):
        self.sweep = sweep
        self.local = True
        self.signal_name: str | None = None
        self.stopped_jobs = 0
        self._previous_sigterm = None

    def install(self, local: bool) -> None:
        """local: the jobs run on this machine (Snakemake's workflow.local_exec, known once its executor is)."""
        self.local = local
        # Snakemake's own SIGTERM handler (stop scheduling, wait for running jobs), called after ours.
        self._previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        logging.getLogger("snakemake.logging").addFilter(self._hide_stopped_job_errors)

    def _handle(self, signum, frame):
        if self.signal_name is not None:  # a second request: stop now, as Ctrl-C stops Snakemake
            signal.default_int_handler(signum, frame)
            return
        self.signal_name = signal.Signals(signum).name
        controller_job = own_slurm_job()  # SLURM's plugin removed SLURM_JOB_ID from os.environ
        if not self.local and signum == signal.SIGTERM and controller_job:
            print(f"mnist-sweep {self.sweep}: SIGTERM to the controller job {controller_job} (its time limit, or "
                  "scancel): its training jobs keep running; the next controller (controller.sh submits it before "
                  "the limit, or submit it again) waits for them and goes on", file=sys.stderr, flush=True)
            # Not Snakemake's own stop: Ctrl-C's cancels the jobs, and SIGTERM's waits for them to end.
            os._exit(EXIT_STOPPED)
        if not self.local:
            print(f"mnist-sweep {self.sweep}: {self.signal_name}: cancelling the sweep's cluster jobs "
                  "(each saves its runs' state first)", file=sys.stderr, flush=True)
            cancel_submitted()
            signal.default_int_handler(signum, frame)
            return
        processes = training_processes()
        for process in processes:
            try:
                process.send_signal(signal.SIGTERM)
            except psutil.Error:
                continue
        # A job on several GPUs runs a training process per GPU under its own (gpu_processes): one job.
        pids = {process.pid for process in processes}
        self.stopped_jobs = sum(1 for process in processes if process.ppid() not in pids)
        print(f"mnist-sweep {self.sweep}: {self.signal_name}: stopping {self.stopped_jobs} training job(s) at the "
              "end of their current epoch (their runs' state is saved); a second Ctrl-C hands over to "
              "Snakemake's own stop",
              file=sys.stderr, flush=True)
        if callable(self._previous_sigterm):
            self._previous_sigterm(signal.SIGTERM, frame)

    def _hide_stopped_job_errors(self, record: logging.LogRecord) -> bool:
        """Keep every log record but, once a stop was requested, the reports of training jobs that it stopped
        (Snakemake's job error, and the exit status of the job's command) and Snakemake's closing "At least
        one job did not complete successfully" (summary() says what happened)."""
        if self.signal_name is None:
            return True
        event = getattr(record, "event", None)
        if event == LogEvent.JOB_ERROR:
            return getattr(record, "rule_name", None) != TRAINING_RULE
        if event == LogEvent.ERROR:
            message = str(record.msg)
            return not (TRAINING_COMMAND in message or "did not complete successfully" in message)
        return True

    def summary(self) -> str | None:
        """The sweep's last line after an interruption (None when there was none)."""
        if self.signal_name is None:
            return None
        stopped = (f"{self.stopped_jobs} training job(s) stopped" if self.local
                   else "its cluster jobs cancelled")
        return (f"mnist-sweep {self.sweep}: stopped on request ({self.signal_name}): {stopped}. Finished runs are "
                "kept and stopped runs resume from their last saved epoch: run the same command again to go on.")
