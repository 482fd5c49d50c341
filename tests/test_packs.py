"""Which runs share a job: packing from the work, stable across reruns and growing sweeps."""

import json

import pytest

from mnist_sweep.config import sweep_runs, validate_config
from mnist_sweep.packs import MAX_PACK_SIZE, PackBook, estimated_seconds, plan_packs, runs_per_pack


def runs_of(**config):
    return sweep_runs(validate_config(config))


def test_tiny_runs_share_a_job_and_long_runs_get_their_own():
    tutorial = runs_of()[0]["hyperparameters"]
    seconds = estimated_seconds(tutorial, "mnist")
    assert 10 < seconds < 40  # the tutorial's 4 epochs on 2 CPU cores: about 15-20 s
    assert runs_per_pack(tutorial, "mnist", job_minutes=30, pack_size=None) == MAX_PACK_SIZE
    assert runs_per_pack(tutorial, "mnist", job_minutes=seconds * 3 / 60, pack_size=None) == 3
    long_run = dict(tutorial, hidden_units=[8192, 8192], epochs=50)
    assert runs_per_pack(long_run, "mnist", job_minutes=30, pack_size=None) == 1
    assert runs_per_pack(tutorial, "mnist", job_minutes=30, pack_size=1) == 1  # the explicit override


def test_packs_hold_one_model_shape_and_balanced_sizes():
    runs = runs_of(seeds=list(range(7)), grid={"dropout": [0.2, 0.5], "learning_rate": [0.001, 0.01],
                                              "hidden_units": [[64], [32, 32]]})
    packs = plan_packs(runs, "mnist", job_minutes=30, pack_size=5)
    for pack in packs:
        assert len({json.dumps(run["hyperparameters"]["hidden_units"]) for run in pack}) == 1
    # 28 runs per shape in packs of at most 5: 6 packs, 5 5 5 5 4 4 (not 5 5 5 5 5 3).
    assert sorted(len(pack) for pack in packs) == [4] * 4 + [5] * 8
    assert sum(len(pack) for pack in packs) == len(runs)
    # Dropout and learning rate are per replica: one pack mixes them. Small packs of the two shapes
    # then share one job (56 tiny runs); with a shorter job length they do not.
    auto = plan_packs(runs, "mnist", job_minutes=30)
    assert len(auto) == 1 and len(auto[0]) == 56
    assert {run["hyperparameters"]["dropout"] for run in auto[0]} == {0.2, 0.5}
    seconds_per_shape = sum(estimated_seconds(run["hyperparameters"], "mnist") for run in runs[:28])
    split = plan_packs(runs, "mnist", job_minutes=seconds_per_shape * 1.5 / 60)
    assert [len(job) for job in split] == [28, 28]
    many = runs_of(seeds=list(range(40)), grid={"hidden_units": [[64], [32, 32]]})
    assert [len(job) for job in plan_packs(many, "mnist", job_minutes=30)] == [40, 40]  # at most 64 per job


def test_a_finished_or_planned_run_is_never_packed_again(tmp_path):
    results = tmp_path / "results" / "mnist"
    runs = runs_of(seeds=[0, 1])
    book = PackBook(results)
    where, new = book.assign(runs, finished=set(), dataset="mnist", job_minutes=30)
    assert len(new) == 1 and set(where.values()) == set(new)
    book.write_plans(new, "mnist")
    (pack,) = new
    # The same sweep again (before or after training): the same pack, nothing new.
    again, nothing = PackBook(results).assign(runs, finished=set(), dataset="mnist", job_minutes=30)
    assert nothing == {} and again == where
    # The pack finished; two more seeds: only they are packed.
    (results / "packs" / pack / "done.json").write_text("{}")
    finished = {run["run_id"] for run in runs}
    bigger = runs_of(seeds=[0, 1, 2, 3])
    where, new = PackBook(results).assign(bigger, finished, "mnist", 30)
    assert [sorted(run["seed"] for run in members) for members in new.values()] == [[2, 3]]
    assert [where[run["run_id"]] for run in runs] == [pack, pack]
    # A run finished before packs existed is taken as it is.
    loose = runs_of(seeds=[9])
    where, new = PackBook(results).assign(loose, {loose[0]["run_id"]}, "mnist", 30)
    assert new == {} and where == {loose[0]["run_id"]: None}
    # A run whose files were removed after its pack finished is packed anew (and the stale marker goes).
    book = PackBook(results)
    where, new = book.assign(runs, finished={runs[1]["run_id"]}, dataset="mnist", job_minutes=30)
    assert [[run["seed"] for run in members] for members in new.values()] == [[0]]
    assert where[runs[1]["run_id"]] == pack


@pytest.mark.parametrize("value", [0, -1])
def test_job_minutes_must_be_positive(value):
    from mnist_sweep.config import ConfigError

    with pytest.raises(ConfigError, match=f"job_minutes = {value} is not allowed"):
        validate_config({"job_minutes": value})


def test_a_retry_asks_for_more_memory(tmp_path):
    book = PackBook(tmp_path)
    runs = runs_of(seeds=list(range(64)))
    _, new = book.assign(runs, set(), "mnist", 30)
    (pack,) = new
    first, second = book.memory_mb(pack, attempt=1), book.memory_mb(pack, attempt=2)
    assert 2363 < first < 4000  # measured 2.4 GB peak for 64 tutorial MLPs (bench/README.md)
    assert second == 2 * first
