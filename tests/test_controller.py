"""The controller job's time limit, fitted to its partition (mnist_sweep.cluster.controller)."""

import pytest

from mnist_sweep.cluster.controller import controller_time, slurm_minutes


@pytest.mark.parametrize("text, minutes", [("90", 90), ("30:00", 30), ("2:00:00", 120), ("1-0", 1440),
                                           ("1-2:30", 1590), ("3-00:00:00", 4320)])
def test_every_form_of_sbatch_time_reads_as_minutes(text, minutes):
    assert slurm_minutes(text) == minutes


def test_the_limit_fits_the_partition_and_the_warning_fits_the_limit():
    assert controller_time(None, "gpu", None) == (4320, 600)  # no MaxTime: 3 days, warned 10 min before
    assert controller_time(None, "short", 120.0) == (120, 600)  # the partition's MaxTime
    assert controller_time("3", "debug", None) == (3, 45)  # a short limit: warned a quarter of it before
    assert controller_time("1-0", "long", 2 * 1440.0) == (1440, 600)
    with pytest.raises(SystemExit, match=r"CONTROLLER_TIME=5-0 is more than partition gpu allows \(MaxTime 60"):
        controller_time("5-0", "gpu", 60.0)
    with pytest.raises(SystemExit, match="is not a SLURM time"):
        controller_time("three days", "gpu", None)
