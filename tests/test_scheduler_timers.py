"""Snakemake returns when the workflow ends, not a rescheduling timer later (a real snakemake run)."""

import subprocess
import sys
import textwrap

# Runs snakemake in this process, then lists the timers still waiting to fire.
PROBE = textwrap.dedent("""
    import sys, threading
    from snakemake.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
    print([t.function.__qualname__ for t in threading.enumerate()
           if isinstance(t, threading.Timer) and not t.finished.is_set()])
""")

RULE = """
rule all:
    output: "done.txt"
    shell: "echo > {output}"
"""


def pending_timers(tmp_path, snakefile_text):
    (tmp_path / "Snakefile").write_text(snakefile_text)
    result = subprocess.run([sys.executable, "-c", PROBE, "-c1", "-q", "-s", "Snakefile"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert (tmp_path / "done.txt").exists(), result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_bare_workflow_leaves_a_rescheduling_timer(tmp_path):
    # Without the handlers: Snakemake's timer is still pending after the workflow ended (if this
    # fails, Snakemake changed, and mnist_sweep.scheduler_timers may have become a no-op).
    assert "JobScheduler._schedule_reevalutation" in pending_timers(tmp_path, RULE)


def test_the_workflow_handlers_cancel_it(tmp_path):
    handlers = textwrap.dedent("""
        from mnist_sweep.scheduler_timers import cancel_rescheduling_timers

        onsuccess:
            cancel_rescheduling_timers()
    """)
    assert pending_timers(tmp_path, handlers + RULE) == "[]"
