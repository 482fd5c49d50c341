"""A recorded setup failure stops the sweep: only one recorded during this invocation."""

import os
import time

import pytest

from mnist_sweep.cluster.setup_failure import SetupFailure, clear_setup_failure, record_setup_failure, stop_if_setup_failed


def test_a_failure_recorded_after_the_start_stops_with_its_message(tmp_path):
    record = tmp_path / ".snakemake" / "mnist-sweep-setup-failure"
    started = time.time() - 1
    stop_if_setup_failed(started, record)  # nothing recorded: nothing happens
    record_setup_failure("node7, SLURM job 12, pack abc: this job was given a GPU but TensorFlow sees none\n", record)
    with pytest.raises(SetupFailure, match=r"(?s)no job is retried or started.*node7, SLURM job 12, pack abc: "
                                           r"this job was given a GPU.*run the same command again"):
        stop_if_setup_failed(started, record)


def test_a_failure_recorded_before_the_start_is_an_earlier_invocations(tmp_path):
    record = tmp_path / "record"
    record_setup_failure("old", record)
    os.utime(record, (time.time() - 60, time.time() - 60))
    stop_if_setup_failed(time.time() - 1, record)  # e.g. a dry-run after the stopped sweep
    clear_setup_failure(record)
    clear_setup_failure(record)  # nothing to clear: fine
    assert not record.exists()
