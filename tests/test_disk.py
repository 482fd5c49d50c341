"""The disk a sweep will take, said before it trains (mnist_sweep/planning/disk.py), against real files."""

import shutil

import pytest
from conftest import train_here

from mnist_sweep.config.validation import sweep_runs, validate_config
from mnist_sweep.planning import disk
from mnist_sweep.planning.points import sample_points


@pytest.mark.slow
def test_a_tutorial_runs_estimate_matches_the_files_a_trained_run_keeps(tmp_path, mnist_5k_file):
    """Two tutorial MLPs trained for real on mnist_5k: the files they keep against the estimate."""
    config = validate_config({"dataset": "mnist_5k", "seeds": [0, 1], "grid": {"epochs": [1]}})
    runs = sweep_runs(config)
    train_here(mnist_5k_file, tmp_path / "seed~{seed}", seeds=(0, 1), epochs=1)
    measured = sum(path.stat().st_size for path in tmp_path.glob("seed~*/*") if path.is_file())
    assert disk.grid_bytes(runs, config) == pytest.approx(measured, rel=0.05)
    assert disk.grid_bytes(runs, dict(config, models="none")) < measured / 10


def test_a_search_counts_its_rungs_states_and_confirmation():
    config = validate_config({"seeds": [0, 1, 2], "grid": {"epochs": [9]}, "search": {
        "trials": 27, "space": {"dropout": {"low": 0.0, "high": 0.5}}, "halving": {"min_epochs": 1, "eta": 3},
        "confirm_seeds": 5}})
    points = sample_points(config)
    run = disk.run_bytes(points[0]["hyperparameters"], config)
    state = disk.state_bytes(points[0]["hyperparameters"])
    assert state == 12 * 669_706
    # 27 + 9 + 3 points x 3 seeds, states of the first two rungs' runs, and at most 3 points x 5 new seeds.
    assert disk.search_bytes(config, points) == pytest.approx((27 + 9 + 3) * 3 * run + (27 + 9) * 3 * state
                                                              + 3 * 5 * run, rel=1e-6)


def test_less_free_space_than_the_runs_need_is_a_warning_naming_what_to_change(tmp_path):
    text, warning = disk.disk_note(tmp_path / "results" / "not yet there", 12_345_678)
    assert text == "about 12 MB on disk" and warning is None
    free = shutil.disk_usage(tmp_path).free
    text, warning = disk.disk_note(tmp_path, free * 2)
    assert text == f"about {free * 2 / 1e9:.1f} GB on disk"
    assert warning.startswith(f"{tmp_path} has ") and "models: none" in warning and "scratch" in warning
