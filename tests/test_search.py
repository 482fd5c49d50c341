"""The search: its settings, sampling, rungs and selection; a survivor continuing to a straight run's numbers;
a whole search through the workflow (planned rung by rung, packed, resumable, extended, reused by a grid)."""

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, snakemake

BASE = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SPACE = {"learning_rate": {"low": 0.0001, "high": 0.01, "log": True}, "dropout": {"low": 0.0, "high": 0.5},
         "hidden_units": {"values": [[256, 256], [512, 512]]}}


def search_config(epochs=9, **search):
    from mnist_sweep.config.validation import validate_config

    config = copy.deepcopy(BASE)
    config["grid"]["epochs"] = [epochs]
    config["search"] = {"trials": 9, "space": copy.deepcopy(SPACE), "halving": {"min_epochs": 1, "eta": 3}} | search
    return validate_config(config)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["search"]["space"]["dropout"].update(low=0.5, high=0.5), "search.space.dropout: low = 0.5 is not below high"),
    (lambda c: c["search"]["space"]["dropout"].update(low=0.3, high=0.1), "low = 0.3 is not below high = 0.1"),
    (lambda c: c["search"]["space"]["learning_rate"].update(low=0), "search.space.learning_rate.low = 0 is not allowed"),
    (lambda c: c["search"]["space"].update(weight_decay={"low": 0.0, "high": 0.1, "log": True}),
     "log: true needs low > 0"),
    (lambda c: c["search"]["space"]["dropout"].update(high=1), "search.space.dropout.high = 1 is not allowed"),
    (lambda c: c["search"]["halving"].update(eta=1), "search.halving.eta = 1 is not allowed"),
    (lambda c: c["search"]["halving"].update(min_epochs=10), "min_epochs = 10 is above grid.epochs = 9"),
    (lambda c: c["search"]["halving"].update(min_epochs=0), "search.halving.min_epochs = 0 is not allowed"),
    (lambda c: c["search"].update(trials=0), "search.trials = 0 is not allowed"),
    (lambda c: c["grid"].update(dropout=[0.1, 0.5]), "dropout is both in search.space and in grid"),
    (lambda c: c["search"]["space"].update(epochs={"values": [1, 2]}), "epochs is not searched"),
    (lambda c: c["search"]["space"].update(width={"values": [1]}), "search.space.width: unknown hyperparameter"),
    (lambda c: c["search"]["space"].update(optimizer={"values": ["adam", "lion"]}), "search.space.optimizer.values = \"lion\""),
    (lambda c: c["search"]["space"].update(optimizer={"low": 1, "high": 2}), "optimizer takes values, not a range"),
    (lambda c: c["search"]["space"].update(optimizer={"values": []}),
     "search.space.optimizer.values is empty; give at least 1 value(s)"),
    (lambda c: c["search"]["space"].update(batch_size={"low": 32.5, "high": 64}), "batch_size.low = 32.5 is not allowed"),
    (lambda c: c["search"]["space"]["dropout"].pop("high"), "search.space.dropout has no high"),
    (lambda c: c["search"]["space"].update(dropout={"values": [0.1, 0.1]}), "lists 0.1 more than once"),
    (lambda c: c["search"]["space"].update(dropout={"values": [0.1], "low": 0}), "has both values and a range"),
    (lambda c: c["search"].update(sampler="grid"), "search.sampler = \"grid\" is not allowed; allowed values: sobol, random"),
    (lambda c: c["search"].update(keep_states="none"),
     "search.keep_states = \"none\" is not allowed; allowed values: all, survivors"),
    (lambda c: c["search"].update(space={}), "search.space"),
    (lambda c: c.update(validation_split=0), "search needs a validation split"),
    (lambda c: c["grid"].update(epochs=[3, 9]), "grid.epochs = [3, 9]: a search needs one value"),
])
def test_bad_search_settings_stop_with_one_line_naming_the_key(change, message):
    from mnist_sweep.config.hyperparameters import ConfigError
    from mnist_sweep.config.validation import validate_config

    config = copy.deepcopy(BASE)
    config["grid"]["epochs"] = [9]
    config["search"] = {"trials": 9, "space": copy.deepcopy(SPACE), "halving": {"min_epochs": 1, "eta": 3}}
    change(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_whole_numbers_written_without_a_decimal_and_edges_are_accepted():
    config = search_config(epochs=1, trials=1, halving=None,
                           space={"dropout": {"low": 0, "high": 0.9}, "batch_size": {"low": 1, "high": 1000, "log": True}})
    from mnist_sweep.config.search_space import rungs
    from mnist_sweep.planning.points import sample_points

    assert rungs(config) == [1]
    (point,) = sample_points(config)
    assert 0 <= point["hyperparameters"]["dropout"] <= 0.9 and isinstance(point["hyperparameters"]["dropout"], float)
    assert 1 <= point["hyperparameters"]["batch_size"] <= 1000 and isinstance(point["hyperparameters"]["batch_size"], int)


@pytest.mark.parametrize("sampler", ["sobol", "random"])
def test_the_same_config_draws_the_same_points_and_more_trials_extend_them(sampler):
    from mnist_sweep.planning.points import sample_points

    first = sample_points(search_config(sampler=sampler))
    assert [p["point"] for p in sample_points(search_config(sampler=sampler))] == [p["point"] for p in first]
    more = sample_points(search_config(sampler=sampler, trials=20))
    assert [p["point"] for p in more[:len(first)]] == [p["point"] for p in first]
    other_seed = sample_points(search_config(sampler=sampler, seed=1))
    assert [p["point"] for p in other_seed] != [p["point"] for p in first]


def test_sampled_values_lie_in_their_ranges_and_are_spread_as_the_sampler_promises():
    from mnist_sweep.planning.points import sample_points, unit_samples

    # Scrambled Sobol: 16 points put exactly one in each sixteenth of every dimension.
    units = unit_samples("sobol", 0, 16, 3)
    for column in units.T:
        assert sorted((column * 16).astype(int)) == list(range(16))
    points = sample_points(search_config(trials=64))
    rates = np.array([p["hyperparameters"]["learning_rate"] for p in points])
    dropouts = np.array([p["hyperparameters"]["dropout"] for p in points])
    assert (rates >= 1e-4).all() and (rates <= 1e-2).all() and (dropouts >= 0).all() and (dropouts <= 0.5).all()
    # Log-uniform: each decade holds about half; uniform: each half of [0, 0.5] about half.
    assert 24 <= (rates < 1e-3).sum() <= 40 and 24 <= (dropouts < 0.25).sum() <= 40
    assert {tuple(p["hyperparameters"]["hidden_units"]) for p in points} == {(256, 256), (512, 512)}
    # 4 significant digits: a point can be typed into a grid.
    assert all(float(f"{rate:.4g}") == rate for rate in rates)


def test_rungs_budget_and_points_per_rung():
    from mnist_sweep.config.search_space import budget, points_per_rung, rungs

    config = search_config()
    assert rungs(config) == [1, 3, 9] and points_per_rung(config, 9) == [9, 3, 1]
    # 9 x 1 + 3 x 2 + 1 x 6 per seed, not restarting survivors (27) or the grid (81); 3 seeds.
    assert budget(config, 9) == {"halving": 21 * 3, "restart": 27 * 3, "grid": 81 * 3}
    assert rungs(search_config(epochs=10)) == [1, 3, 9, 10]
    assert rungs(search_config(epochs=9, halving={"min_epochs": 9, "eta": 2})) == [9]
    assert points_per_rung(search_config(), 2) == [2, 1, 1]


def test_grid_values_of_the_other_hyperparameters_are_crossed_with_the_samples():
    from mnist_sweep.planning.points import sample_points

    config = search_config(trials=5, space={"learning_rate": {"low": 0.001, "high": 0.01}})
    config["grid"]["hidden_units"] = [[64], [128]]
    points = sample_points(config)
    assert len(points) == 10 and [p["sample"] for p in points] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert {tuple(p["hyperparameters"]["hidden_units"]) for p in points[:2]} == {(64,), (128,)}
    assert points[0]["hyperparameters"]["learning_rate"] == points[1]["hyperparameters"]["learning_rate"]


def test_selection_counts_a_diverged_seed_as_zero_and_gives_ties_to_the_earlier_sample(tmp_path):
    from mnist_sweep.analysis.scores import point_score
    from mnist_sweep.config.search_space import run_id
    from mnist_sweep.planning.points import sample_points
    from mnist_sweep.planning.rungs import select

    config = search_config()
    points = sample_points(config)[:3]
    values = {0: [0.9, 0.9], 1: [0.95, None], 2: [0.9, 0.9]}  # point 1's second seed diverged
    for index, seeds in values.items():
        for seed, value in enumerate(seeds):
            path = tmp_path / "runs" / run_id(points[index], 1, seed) / "metrics.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"status": "diverged" if value is None else "completed", "val_accuracy": value}))
    scores = {p["point"]: point_score(tmp_path, p, 1, [0, 1]) for p in points}
    assert scores[points[1]["point"]] == pytest.approx(0.475)
    assert select(points, scores, 1) == [points[0]]  # tied with point 2: the earlier sample
    assert select(points, scores, 2) == [points[0], points[2]]


@pytest.mark.slow
def test_a_survivor_continues_to_the_numbers_of_a_straight_run(tmp_path, mnist_5k_file):
    """Two seeds train 1 epoch keeping their state; continued to 3 epochs (epochs 2-3 only) they end with the
    numbers of a straight 3-epoch run, to the tolerance of the pack tests (on CPU: equal)."""
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.trainer import train_pack

    hp = dict(tutorial_hyperparameters(), hidden_units=[64], dropout=0.3, learning_rate=0.002)

    def runs(name, epochs, **extra):
        return [{"run_dir": tmp_path / name / f"seed~{seed}", "seed": seed,
                 "hyperparameters": dict(hp, epochs=epochs), **{k: v(seed) for k, v in extra.items()}}
                for seed in (0, 1)]

    train_pack(mnist_5k_file, runs("rung1", 1, keep_state=lambda s: True), "mnist_5k", threads=1)
    assert (tmp_path / "rung1" / "seed~0" / "state" / "state.json").exists()
    continued = train_pack(mnist_5k_file, runs("rung3", 3, continue_from=lambda s: tmp_path / "rung1" / f"seed~{s}"),
                           "mnist_5k", threads=1)
    straight = train_pack(mnist_5k_file, runs("straight", 3), "mnist_5k", threads=1)
    keys = ("test_accuracy", "test_loss", "train_loss", "val_loss", "val_accuracy", "epochs_run")
    for a, b in zip(continued, straight):
        assert a["resumed_from_epoch"] == 1 and b["resumed_from_epoch"] is None
        assert {k: a[k] for k in keys} == pytest.approx({k: b[k] for k in keys}, rel=1e-5)
    log = (tmp_path / "rung3" / "seed~0" / "train.log").read_text()
    assert "continuing" in log and "epoch 1/3" not in log and "epoch 2/3" in log
    history = pd.read_csv(tmp_path / "rung3" / "seed~0" / "history.tsv", sep="\t")
    assert history["epoch"].tolist() == [1, 2, 3]  # the first epoch's row comes with the state
    assert not (tmp_path / "rung3" / "seed~0" / "state").exists()  # nothing continues the last rung


def epoch_lines(results: Path) -> int:
    """Epochs trained, from the packs' logs: one line per run per epoch."""
    pattern = re.compile(r" epoch \d+/\d+: loss")
    return sum(len(pattern.findall(log.read_text())) for log in results.glob("packs/*/attempts.log"))


SEARCH_CONFIG = {
    "dataset": "mnist_5k", "seeds": [0, 1], "train_threads": 1, "grid": {"epochs": [4]},
    "search": {"trials": 4, "seed": 3, "space": {"learning_rate": {"low": 0.0003, "high": 0.01, "log": True},
                                               "dropout": {"low": 0.0, "high": 0.5}},
               "halving": {"min_epochs": 1, "eta": 2}, "confirm_seeds": 2},
}


@pytest.mark.slow
def test_a_search_runs_its_rungs_in_one_invocation_and_is_resumed_extended_and_reused(tmp_path):
    # results_dir with a space and a `;`: every shell command quotes its paths (Snakemake's :q), so a `;` never
    # ends a command and runs the rest (`touch pwned`); test_workflow.py does the same for a grid sweep.
    scratch = tmp_path / "scratch" / "with space;touch pwned;"
    config = dict(SEARCH_CONFIG, results_dir=str(scratch))
    config_file = tmp_path / "search.yaml"
    config_file.write_text(yaml.safe_dump(config))
    results = scratch / "mnist_5k"
    summary = results / "sweeps" / "search" / "summary"

    plan = snakemake(tmp_path, "-n", "-c2", "--configfile", str(config_file))
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert ("search of 4 point(s) (4 sobol sample(s)) x 2 seed(s), rung(s) 1/2/4 epochs with 4/2/1 point(s) (eta 2): "
            "at most 16 run-epochs (the grid of the same points: 32), then the winner on 2 new seed(s)") in plan.stderr
    assert not results.exists()

    first = snakemake(tmp_path, "-c2", "--configfile", str(config_file))
    assert first.returncode == 0, first.stderr[-3000:]
    # 4 x 1 + 2 x 1 + 1 x 2 epochs per seed, 2 seeds, then the winner's 4 epochs on 2 new seeds.
    assert epoch_lines(results) == 16 + 8
    table = pd.read_csv(summary / "search.tsv", sep="\t")
    assert len(table) == 4 and sorted(table["epochs_reached"]) == [1, 1, 2, 4]
    assert table["run_epochs_trained"].sum() == 16
    # Every promotion, recomputed from the runs' own files: the best half by mean validation accuracy.
    for epochs, survivors in ((1, 2), (2, 1)):
        ran = table[table[f"val_accuracy_{epochs}_epochs"].notna()]
        recomputed = []
        for point in ran["point"]:
            run_dirs = results.glob(f"runs/{point}/epochs~{epochs}/seed~[01]")
            recomputed.append(np.mean([json.loads((d / "metrics.json").read_text())["val_accuracy"] for d in run_dirs]))
        best = ran.assign(score=recomputed).sort_values(["score", "sample"], ascending=[False, True])
        went_on = ran[ran["epochs_reached"] > epochs]
        assert sorted(went_on["point"]) == sorted(best["point"][:survivors])
    # Sampled values in their ranges.
    assert table["learning_rate"].between(0.0003, 0.01).all() and table["dropout"].between(0, 0.5).all()
    best = json.loads((summary / "best.json").read_text())
    winner = table.loc[table["epochs_reached"] == 4, "point"].item()
    assert best["run_path"] == f"{winner}/epochs~4" and best["seeds"] == [2, 3] and best["n_seeds"] == 2
    assert best["search_seeds"]["seeds"] == [0, 1] and "optimistic" in best["search_seeds"]["note"]
    # Every number of the winner comes from the confirmation seeds: recomputed from their runs' files.
    confirmation = pd.read_csv(summary / "confirmation" / "runs.tsv", sep="\t")
    assert sorted(confirmation["seed"]) == [2, 3]
    own = confirmation[confirmation["run_dir"].str.contains(f"/{winner}/epochs~4/", regex=False)]
    assert sorted(own["seed"]) == [2, 3] and sorted(best["run_dirs"]) == sorted(own["run_dir"])
    for field, column in (("test_accuracy_mean", "test_accuracy"), ("test_loss_mean", "test_loss"),
                          ("val_accuracy_mean", "val_accuracy")):
        assert best[field] == pytest.approx(own[column].mean()), field
    # The confirmation's own best.json names the same winner; a confirmed point ahead of it on the new seeds
    # is named with the paired comparison, never put in its place.
    assert json.loads((summary / "confirmation" / "best.json").read_text())["run_path"] == best["run_path"]
    means = confirmation.assign(point=confirmation["run_dir"].str.rsplit("/seed~", n=1).str[0]).groupby("point")[
        "test_accuracy"].mean()
    ahead = sorted(point.split("/runs/", 1)[1] for point, mean in means.items() if mean > own["test_accuracy"].mean())
    assert sorted(entry["run_path"] for entry in best["confirmation"]["ahead_on_new_seeds"]) == ahead
    assert best["confirmation"]["points_confirmed"] == len(means) and "stays the winner" in best["confirmation"]["rule"]
    # On screen: each rung names the points that go on and stop with their scores; the answer ends the run.
    rung1 = first.stderr[first.stderr.index("search rung 1 (2 epochs)"):]
    kept = table.loc[table["epochs_reached"] >= 2].sort_values("val_accuracy_1_epochs", ascending=False, kind="stable")
    going = [entry.rsplit(" ", 1) for entry in rung1.splitlines()[1].removeprefix("  go on: ").split("; ")]
    assert [name for name, _ in going] == [f"dropout={row['dropout']}, learning_rate={row['learning_rate']}"
                                           for _, row in kept.iterrows()]
    assert [float(score) for _, score in going] == pytest.approx(kept["val_accuracy_1_epochs"].tolist(), abs=6e-5)
    assert rung1.splitlines()[2].startswith("  stop: ")
    answer = first.stderr[first.stderr.index("mnist-sweep search: the answer"):]
    assert f"on 2 new seed(s) 2, 3 (confirmation: not used to choose); the search seeds 0, 1 said" in answer
    assert best["search"]["run_epochs_trained"] == 16 and best["search"]["run_epochs_halving_budget"] == 16
    assert (results / "sweeps" / "search" / "figures" / "search.png").stat().st_size > 10_000

    again = snakemake(tmp_path, "-c2", "--configfile", str(config_file))
    assert again.returncode == 0 and "Nothing to be done" in again.stderr, again.stderr[-2000:]
    assert "; 3 of 3 rung(s) planned so far, and the confirmation;" in again.stderr
    assert epoch_lines(results) == 16 + 8

    # A damaged rung plan (truncated, or JSON of something else) stops the sweep before any job, named; once
    # deleted, the rung is planned again from the results: the same points; nothing is trained again.
    plans = results / "sweeps" / "search" / "plan"
    rung1 = (plans / "rung-1.json").read_text()
    for damage in (rung1[:100], "[]"):
        (plans / "rung-1.json").write_text(damage)
        refused = snakemake(tmp_path, "-c2", "--configfile", str(config_file))
        assert refused.returncode != 0
        assert re.search(r"error: .+/rung-1\.json cannot be read \(.+\)\. Delete it and run the same command again",
                         refused.stderr), refused.stderr[-3000:]
    # A finished search needs it no more (Snakemake rebuilds a missing file where a step needs it); one whose
    # summary is gone plans that rung again.
    (plans / "rung-1.json").unlink()
    (summary / "search.tsv").unlink()
    repaired = snakemake(tmp_path, "-c2", "--configfile", str(config_file))
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert epoch_lines(results) == 16 + 8
    assert "search rung 1 (2 epochs): 2 point(s), 4 run(s), 4 finished before" in repaired.stderr
    assert json.loads((plans / "rung-1.json").read_text())["points"] == json.loads(rung1)["points"]
    assert (summary / "search.tsv").exists()

    # A grid sweep of a point at a rung's epochs reuses the search's runs.
    point = dict(part.split("~") for part in winner.split("/"))
    grid = {"learning_rate": [float(point["learning_rate"])], "dropout": [float(point["dropout"])], "epochs": [2]}
    reuse = snakemake(tmp_path, "-c2", "--config", "dataset=mnist_5k", "seeds=[0,1]", "sweep=reuse", f"grid={grid}",
                      f"results_dir={scratch}")
    assert reuse.returncode == 0, reuse.stderr[-2000:]
    assert "2 runs; 2 finished, 0 to train" in reuse.stderr

    # More trials: the first 4 points are the same and not trained again.
    rung0 = {path: path.stat().st_mtime_ns for path in results.glob("runs/**/epochs~1/seed~*/metrics.json")}
    more = dict(config, search=dict(SEARCH_CONFIG["search"], trials=6))
    config_file.write_text(yaml.safe_dump(more))
    # The plans of 4 trials are not this search's: planned again, and the start line does not count them.
    assert "; 0 of 3 rung(s) planned so far, the confirmation not yet;" in snakemake(tmp_path, "-n", "-c2", "--configfile", str(config_file)).stderr
    extended = snakemake(tmp_path, "-c2", "--configfile", str(config_file))
    assert extended.returncode == 0, extended.stderr[-3000:]
    assert "search rung 0 (1 epochs): 6 point(s), 12 run(s), 8 finished before" in extended.stderr
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in rung0.items())
    grown = pd.read_csv(summary / "search.tsv", sep="\t")
    assert grown["point"][:4].tolist() == table["point"].tolist() and len(grown) == 6
    assert not list(tmp_path.rglob("pwned")), "a `;` in results_dir ended a command and ran the rest"


@pytest.mark.slow
def test_a_search_killed_in_its_second_rung_resumes_there_and_keeps_only_the_survivors_states(tmp_path):
    """kill -9 of Snakemake and its jobs while the second rung trains: the same command finishes the search
    from that rung: the first rung is not trained again and the second keeps its plan and packs.

    With keep_states: survivors. A rung's plan deletes the states of the points it stops; a continued run, once
    finished, the state it continued. The survivors still continue (each continued run's log says so), and
    the finished search leaves no state behind."""
    import os
    import signal
    import subprocess
    import time

    config = dict(SEARCH_CONFIG, search=dict(SEARCH_CONFIG["search"], confirm_seeds=0, keep_states="survivors"))
    config_file = tmp_path / "search.yaml"
    config_file.write_text(yaml.safe_dump(config))
    results = tmp_path / "results" / "mnist_5k"
    rung1 = results / "sweeps" / "search" / "plan" / "rung-1.json"
    with open(tmp_path / "killed.log", "w") as killed_log:
        process = snakemake(tmp_path, "-c2", "--configfile", str(config_file),
                            popen=dict(start_new_session=True, stdout=subprocess.DEVNULL, stderr=killed_log))
    deadline = time.time() + 600
    while time.time() < deadline and not (rung1.exists() and list(results.glob("runs/**/epochs~2/seed~*/train.log"))):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert rung1.exists() and not list(results.glob("runs/**/epochs~4/seed~*/metrics.json"))
    plan = rung1.read_text()
    first = {path: path.stat().st_mtime_ns for path in results.glob("runs/**/epochs~1/seed~*/metrics.json")}
    assert len(first) == 8

    rerun = snakemake(tmp_path, "-c2", "--configfile", str(config_file))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "search rung 0" not in rerun.stderr and "search rung 1" not in rerun.stderr  # both kept their plans
    assert rung1.read_text() == plan
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in first.items())
    table = pd.read_csv(results / "sweeps" / "search" / "summary" / "search.tsv", sep="\t")
    assert sorted(table["epochs_reached"]) == [1, 1, 2, 4]
    # keep_states: rung 1's plan (before the kill) deleted the states of the 2 points it stopped (2 seeds each),
    # rung 2's (after it) those of the 1 point it stopped; the survivors continued; no state is left.
    killed = (tmp_path / "killed.log").read_text()
    assert "search rung 1 (2 epochs): 2 point(s), 4 run(s), 0 finished before" in killed
    assert "; the saved states of 4 stopped run(s) deleted" in killed
    assert "; the saved states of 2 stopped run(s) deleted" in rerun.stderr
    assert not list(results.glob("runs/**/state"))
    continued = [log.read_text() for log in results.glob("runs/**/epochs~[24]/seed~*/train.log")]
    assert len(continued) == 6 and all("continuing" in log for log in continued)
    # Each survivor trained only the epochs past the rung before (the halving budget, not a restart's): epoch 2
    # of a 2-epoch run (twice where the kill came after its line), epochs 3-4 of a 4-epoch run, which trained
    # after the kill only: 2 seeds x 2 epochs.
    trained = {epochs: [int(epoch) for path in results.glob(f"runs/**/epochs~{epochs}/seed~*/train.log")
                        for epoch in re.findall(r"^epoch (\d+)/", path.read_text(), re.M)] for epochs in (2, 4)}
    assert set(trained[2]) == {2} and sorted(trained[4]) == [3, 3, 4, 4], trained
