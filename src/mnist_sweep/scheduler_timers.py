"""Let `snakemake` return as soon as the workflow has ended.

After each scheduling round Snakemake's job scheduler starts a threading.Timer of its
--max-jobs-per-timespan timespan (1 s by default) to look at the queue again. The timer is
not a daemon thread, so after the last job the command waits for it: up to a second of every
run. When the workflow has ended (onsuccess, onerror) nothing is left to schedule, so these
timers are cancelled; other threads are left alone. Should a Snakemake release name the
method differently, nothing is cancelled and the second is back (tests/test_scheduler_timers.py
then fails).
"""

from __future__ import annotations

import threading

RESCHEDULING = "JobScheduler._schedule_reevalutation"  # Snakemake's spelling


def cancel_rescheduling_timers() -> int:
    """Cancel Snakemake's pending rescheduling timers; return how many."""
    cancelled = 0
    for thread in threading.enumerate():
        function = getattr(thread, "function", None)
        if isinstance(thread, threading.Timer) and getattr(function, "__qualname__", "").startswith(RESCHEDULING):
            thread.cancel()
            cancelled += 1
    return cancelled
