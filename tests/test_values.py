"""One text form per value: config -> run path -> plan -> metrics.json -> tables -> figure lookup.

Every hyperparameter value keeps one typed form and one text form on its way (1000 stays
1000.0 everywhere, batch size 128.0 is 128), so figures and tables always find the runs.
"""

import json

import pytest

from mnist_sweep.analysis import figures
from mnist_sweep.config.hyperparameters import ConfigError, format_value, parse_value, run_path_fragment
from mnist_sweep.config.validation import sweep_runs, validate_config
from mnist_sweep.analysis.summarize import summarize

# (hyperparameter, values as a user may write them in YAML or --config, their one text form)
CASES = [
    ("dropout", [0, 0.5], ["0.0", "0.5"]),
    ("dropout", [0.0, 0.25], ["0.0", "0.25"]),
    ("learning_rate", [1, 1000], ["1.0", "1000.0"]),
    ("learning_rate", ["1e-4", 0.001, 1e8], ["0.0001", "0.001", "100000000.0"]),
    ("batch_size", [128.0, 1], ["128", "1"]),
    ("epochs", [4.0, 1000], ["4", "1000"]),
    ("hidden_units", [[64.0], [1, 1, 1], [512, 512]], ["64", "1-1-1", "512-512"]),
    ("activation", ["relu", "gelu"], ["relu", "gelu"]),
    ("optimizer", ["sgd", "adagrad"], ["sgd", "adagrad"]),
    ("weight_decay", [0, 1, 0.004], ["0.0", "1.0", "0.004"]),
    ("model", ["mlp", "cnn"], ["mlp", "cnn"]),
]


@pytest.mark.parametrize("name, written, texts", CASES, ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_a_value_keeps_one_form_from_config_to_figures(tmp_path, name, written, texts):
    config = validate_config({"seeds": [0, 1], "grid": {name: written}})
    runs = sweep_runs(config)
    assert [f"{name}~{text}/" in run["run_id"] for run, text in zip(runs[::2], texts)] == [True] * len(texts)
    files = []
    for index, run in enumerate(runs):
        # What the trainer writes: the plan's values after a JSON round trip.
        hyperparameters = json.loads(json.dumps(run["hyperparameters"]))
        run_dir = tmp_path / "runs" / run["run_id"]
        run_dir.mkdir(parents=True)
        metrics = dict(hyperparameters, dataset="mnist", seed=run["seed"], status="completed",
                       test_accuracy=0.9 + 0.01 * index, test_loss=0.1, val_accuracy=0.9)
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        files.append(run_dir / "metrics.json")
    summarize(files, tmp_path / "summary")
    table = figures.read_summary_table(tmp_path / "summary" / "runs.tsv")
    configs = figures.read_summary_table(tmp_path / "summary" / "configs.tsv")
    assert sorted(table[name].unique()) == sorted(texts)
    for run in runs:
        point = run["run_id"].rsplit("/seed~", 1)[0]
        assert point in set(configs["run_path"])
        assert len(figures.point_runs(table, point)) == 2  # the figures find both seeds of the point
    for text, value in zip(texts, config["grid"][name]):
        assert parse_value(name, text) == value and format_value(name, parse_value(name, text)) == text
    from mnist_sweep.training.train import parse_args

    flag = f"--{name.replace('_', '-')}"
    assert parse_args(["--data", "d", "--out", "o", flag, texts[0]]).hyperparameters[name] == config["grid"][name][0]


def test_the_same_value_written_two_ways_is_one_grid_value():
    with pytest.raises(ConfigError, match="grid.learning_rate lists 1000.0 more than once"):
        validate_config({"grid": {"learning_rate": [1000, 1000.0]}})
    with pytest.raises(ConfigError, match="grid.batch_size"):
        validate_config({"grid": {"batch_size": [128.5]}})


def test_the_tutorial_path_is_unchanged():
    config = validate_config({})
    assert run_path_fragment({name: format_value(name, values[0]) for name, values in config["grid"].items()}) == (
        "model~mlp/hidden_units~512-512/dropout~0.2/activation~relu/optimizer~adam/learning_rate~0.001/"
        "weight_decay~0.0/batch_size~128/epochs~4")


def test_a_run_path_names_its_run_and_anything_else_is_refused_by_name():
    """A run asked for by path (rule train_run) is trained with the values its path names; a path that is not
    a run's is refused, saying the form it must have."""
    from mnist_sweep.config.hyperparameters import run_of_path, training_flags

    for run in sweep_runs(validate_config({"seeds": [0, 1000], "grid": {"learning_rate": [1000], "hidden_units": [[64, 32]],
                                                                         "batch_size": [1]}})):
        assert run_of_path(run["run_id"]) == run
        assert f"--seed {run['seed']} " in training_flags(run) and "--hidden-units 64-32 " in training_flags(run)
    path = sweep_runs(validate_config({}))[0]["run_id"]
    for bad in (path.replace("/seed~0", ""), path.replace("dropout~", "drop~"), path.replace("batch_size~128", "batch_size~1.5")):
        with pytest.raises(ConfigError, match="is not a run path|batch_size must be a whole number"):
            run_of_path(bad)
