"""The sacct and sbatch in front of the SLURM plugin's (mnist_sweep/cluster/slurm_commands.py), each run in
front of a stand-in for SLURM's command: a script on PATH that answers as SLURM did on the test cluster."""

import os
import subprocess
import sys

import pytest

from mnist_sweep.cluster import slurm_commands


def test_a_cancellation_by_anyone_reads_cancelled_and_nothing_else_changes():
    output = "101|CANCELLED by 0\n102|RUNNING\n103|CANCELLED by 1000\n104|COMPLETED\n105|CANCELLED\n"
    assert slurm_commands.rewrite_states(output) == (
        "101|CANCELLED\n102|RUNNING\n103|CANCELLED\n104|COMPLETED\n105|CANCELLED\n")
    table = "JobID    State\n101      CANCELLED by 0\n"  # a table for people (no --parsable2): as it is
    assert slurm_commands.rewrite_states(table) == table


def test_a_job_a_preemption_ended_reads_cancelled_and_a_requeued_one_stays_preempted():
    output = "201|PREEMPTED\n202|PREEMPTED\n203|RUNNING\n"
    assert slurm_commands.preempted_jobs(output) == ["201", "202"]
    # 201 ended (squeue no longer has it queued or running); 202 was requeued: SLURM runs it again.
    assert slurm_commands.rewrite_states(output, ended={"201"}) == "201|CANCELLED\n202|PREEMPTED\n203|RUNNING\n"
    assert slurm_commands.no_longer_queued([]) == set()


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """A folder of stand-ins on PATH, and the wrappers installed in front of them (PATH restored after)."""
    real = tmp_path / "slurm-bin"
    real.mkdir()
    monkeypatch.setenv("PATH", f"{real}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    monkeypatch.setenv(slurm_commands.WRAPPER_DIR, "")  # install sets it
    monkeypatch.setenv(slurm_commands.SUBMITTED_VARIABLE, "")  # and this
    return real


def stand_in(folder, name, body):
    (folder / name).write_text(f"#!/bin/sh\n{body}\n")
    (folder / name).chmod(0o755)


def test_the_installed_sacct_runs_the_real_one_behind_it(tmp_path, stand_ins):
    stand_in(stand_ins, "sacct", 'echo "$*" > "$(dirname "$0")/args"\nprintf \'7|CANCELLED by 0\\n8|PENDING\\n\'\nexit 3')
    folder = slurm_commands.install(tmp_path / "wrapper")
    assert os.environ["PATH"].split(os.pathsep)[:2] == [str(folder), str(stand_ins)]
    result = subprocess.run(["sacct", "-X", "--parsable2", "--format=JobIdRaw,State"], capture_output=True,
                            text=True, env=os.environ.copy())
    assert result.returncode == 3, result.stderr
    assert result.stdout == "7|CANCELLED\n8|PENDING\n"
    assert (stand_ins / "args").read_text().strip() == "-X --parsable2 --format=JobIdRaw,State"
    slurm_commands.install(tmp_path / "wrapper")  # again (every onstart): one entry on PATH
    assert os.environ["PATH"].split(os.pathsep).count(str(folder)) == 1


def test_a_submission_over_a_submit_limit_is_made_again_and_other_failures_pass_at_once(tmp_path, stand_ins):
    """The stand-in refuses the first two submissions as SLURM does at a QOS's MaxSubmitJobs, then takes the
    job: the wrapper submits the same script again each time (from stdin, as the plugin gives it), and says
    so. Another error is passed on at once."""
    stand_in(stand_ins, "sbatch", 'dir=$(dirname "$0"); n=$(cat "$dir/count" 2>/dev/null || echo 0)\n'
                                  'echo $((n + 1)) > "$dir/count"; cat > "$dir/script-$n"\n'
                                  'if [ "$n" -lt 2 ]; then echo "sbatch: error: QOSMaxSubmitJobPerUserLimit" >&2\n'
                                  'echo "sbatch: error: Batch job submission failed: Job violates accounting/QOS '
                                  'policy (job submit limit, user\'s size and/or time limits)" >&2; exit 1; fi\n'
                                  'echo "4242"')
    slurm_commands.install(tmp_path / "wrapper")
    command = slurm_commands.real_command("sbatch")
    result = subprocess.run([sys.executable, "-c", (
        "import sys, mnist_sweep.cluster.slurm_commands as c; c.SUBMIT_WAIT_SECONDS = 0; "
        f"sys.exit(c.sbatch({command!r}, ['--parsable', '/dev/stdin']))")],
        input="#!/bin/sh\necho train\n", capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0 and result.stdout.strip() == "4242", result.stderr
    assert "submission failed" not in result.stderr  # the plugin would fail the job on it, though sbatch took it
    assert (tmp_path / "submit-waits.log").read_text().count("QOS policy (job submit limit") == 2
    assert [(stand_ins / f"script-{n}").read_text() for n in range(3)] == ["#!/bin/sh\necho train\n"] * 3
    stand_in(stand_ins, "sbatch", 'echo "sbatch: error: invalid partition specified: gpux" >&2; exit 1')
    other = subprocess.run(["sbatch", "--wrap", "true"], capture_output=True, text=True, env=os.environ.copy())
    assert other.returncode == 1 and "invalid partition" in other.stderr and "submit limit" not in other.stderr


def test_waiting_for_a_submit_limit_ends_after_the_total_and_says_why(tmp_path, stand_ins, monkeypatch):
    stand_in(stand_ins, "sbatch", 'echo "sbatch: error: AssocMaxSubmitJobLimit" >&2; exit 1')
    slurm_commands.install(tmp_path / "wrapper")
    monkeypatch.setenv(slurm_commands.SUBMIT_WAIT_TOTAL_VARIABLE, "100")
    slept = []
    code = slurm_commands.sbatch(slurm_commands.real_command("sbatch"), ["--wrap", "true"], sleep=slept.append)
    assert code == 1
    assert sum(slept) == 100 and slept[:3] == [15, 30, 55]  # 15, then doubled, the last cut to the total


def test_every_job_the_controller_submitted_is_cancelled_on_request(tmp_path, stand_ins):
    """A stop on request scancels each job id sbatch gave this controller (both answers of sbatch: --parsable
    and not), not only those in the plugin's list; the file of a controller that ended goes at the next start."""
    (tmp_path / "submitted-999999999.jobs").write_text("1\n")  # no such process
    stand_in(stand_ins, "sbatch", 'if [ "$1" = --parsable ]; then echo "51;testcluster"; else echo "Submitted batch job 52"; fi')
    stand_in(stand_ins, "scancel", 'echo "$*" >> "$(dirname "$0")/cancelled"')
    slurm_commands.install(tmp_path / "wrapper")
    assert not (tmp_path / "submitted-999999999.jobs").exists()
    for args in (["--parsable", "--wrap", "true"], ["--wrap", "true"]):
        assert subprocess.run(["sbatch", *args], capture_output=True, env=os.environ.copy()).returncode == 0
    assert (tmp_path / f"submitted-{os.getpid()}.jobs").read_text().split() == ["51", "52"]
    assert slurm_commands.cancel_submitted() == 2
    assert (stand_ins / "cancelled").read_text().split() == ["51", "52"]
