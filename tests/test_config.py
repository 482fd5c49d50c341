"""Config validation: defaults are the tutorial; every bad config gets one clear line."""

import numpy as np
import pytest
from conftest import ROOT

from mnist_sweep.config.hyperparameters import ConfigError, parse_value, run_path_fragment
from mnist_sweep.config.validation import grid_table, validate_config


def test_defaults_are_the_tutorial():
    config = validate_config({})
    assert config["dataset"] == "mnist"
    assert config["seeds"] == [0, 1, 2]
    assert config["grid"] == {
        "model": ["mlp"],
        "hidden_units": [[512, 512]],
        "dropout": [0.2],
        "activation": ["relu"],
        "optimizer": ["adam"],
        "learning_rate": [0.001],
        "weight_decay": [0.0],
        "batch_size": [128],
        "epochs": [4],
    }


def test_grid_is_the_cartesian_product_in_path_form():
    config = validate_config({"grid": {"dropout": [0.2, 0.5], "hidden_units": [[512, 512], [256]]}})
    table = grid_table(config)
    assert len(table) == 4
    assert set(table["hidden_units"]) == {"512-512", "256"}
    first = table.iloc[0].to_dict()
    assert run_path_fragment(first) == (
        "model~mlp/hidden_units~512-512/dropout~0.2/activation~relu/optimizer~adam/"
        "learning_rate~0.001/weight_decay~0.0/batch_size~128/epochs~4"
    )
    assert parse_value("hidden_units", "512-512") == [512, 512]
    assert parse_value("learning_rate", "0.001") == 0.001


def test_command_line_strings_are_read_as_numbers():
    # snakemake --config reads nested values as strings
    config = validate_config({"seeds": ["0", "5"], "grid": {"dropout": ["0.5"], "epochs": ["2"]}})
    assert config["seeds"] == [0, 5]
    assert config["grid"]["dropout"] == [0.5]
    assert config["grid"]["epochs"] == [2]


BAD_CONFIGS = [
    ({"dropuot": 0.5}, "unknown key 'dropuot' at the top level; allowed keys: allow_cpu, checkpoint_minutes, data_path, dataset"),
    ({"grid": {"dropuot": [0.5]}}, "unknown key 'dropuot' in 'grid'; allowed keys: activation, batch_size"),
    ({"dataset": "cifar10"}, 'dataset = "cifar10" is not allowed; allowed values: mnist, fashion_mnist, mnist_5k'),
    ({"seeds": []}, "seeds is empty"),
    ({"seeds": [0, 1, 1]}, "seeds lists 1 more than once"),
    ({"seeds": [-1]}, "seeds[0] = -1 is not allowed"),
    ({"seeds": [0.5]}, "seeds[0] = 0.5 has the wrong type (expected integer)"),
    ({"seeds": "0,1"}, 'seeds = "0,1" has the wrong type (expected array)'),
    ({"grid": {"dropout": [1.0]}}, "grid.dropout[0] = 1.0 is not allowed"),
    ({"grid": {"dropout": [-0.1]}}, "grid.dropout[0] = -0.1 is not allowed"),
    ({"grid": {"dropout": []}}, "grid.dropout is empty"),
    ({"grid": {"dropout": [0.2, 0.2]}}, "grid.dropout lists 0.2 more than once"),
    ({"grid": {"dropout": ["high"]}}, 'grid.dropout[0] = "high" has the wrong type (expected number)'),
    ({"grid": {"hidden_units": [[512, 0]]}}, "grid.hidden_units[0][1] = 0 is not allowed"),
    ({"grid": {"hidden_units": [[]]}}, "grid.hidden_units[0] is empty"),
    ({"grid": {"hidden_units": [512]}}, "grid.hidden_units[0] = 512 has the wrong type (expected array)"),
    ({"grid": {"learning_rate": [0]}}, "grid.learning_rate[0] = 0 is not allowed"),
    ({"grid": {"learning_rate": [-0.01]}}, "grid.learning_rate[0] = -0.01 is not allowed"),
    ({"grid": {"epochs": [0]}}, "grid.epochs[0] = 0 is not allowed"),
    ({"grid": {"epochs": [2.5]}}, "grid.epochs[0] = 2.5 has the wrong type (expected integer)"),
    ({"grid": {"batch_size": [0]}}, "grid.batch_size[0] = 0 is not allowed"),
    ({"grid": {"optimizer": ["adamw"]}}, 'grid.optimizer[0] = "adamw" is not allowed; allowed values: adam, nadam'),
    ({"grid": {"weight_decay": [-0.1]}}, "grid.weight_decay[0] = -0.1 is not allowed"),
    ({"grid": {"activation": ["relu6"]}}, 'grid.activation[0] = "relu6" is not allowed; allowed values: relu, tanh'),
    ({"grid": {"model": ["resnet"]}}, 'grid.model[0] = "resnet" is not allowed; allowed values: mlp, cnn'),
    ({"grid": []}, "grid = [] has the wrong type (expected object)"),
    ({"validation_split": 0.5}, "validation_split = 0.5 is not allowed"),
    ({"train_threads": 0}, "train_threads = 0 is not allowed"),
    ({"pack_size": 0}, "pack_size = 0 is not allowed"),
    ({"checkpoint_minutes": 0}, "checkpoint_minutes = 0 is not allowed"),
    ({"results_dir": ""}, 'results_dir = "" is not allowed'),
    ({"gpu_ids": [-1]}, "gpu_ids[0] = -1 is not allowed"),
    ({"data_path": "/does/not/exist.npz"}, 'data_path = "/does/not/exist.npz" does not exist'),
    # A hyperparameter the model does not read: no two grid points (or samples) that are the same training.
    ({"grid": {"model": ["cnn"], "hidden_units": [[64], [256]]}},
     "grid.hidden_units lists 2 values, but the cnn model does not use hidden_units: its points would be the same"),
    ({"grid": {"model": ["mlp", "cnn"], "hidden_units": [[64], [256]]}},
     "grid.hidden_units lists 2 values, but the cnn model does not use hidden_units"),
    ({"grid": {"model": ["cnn"]}, "search": {"trials": 4, "space": {"hidden_units": {"values": [[64], [256]]}}}},
     "search.space.hidden_units: the cnn model does not use hidden_units, so its samples would be the same training"),
    ({"search": {"trials": 4, "space": {"model": {"values": ["mlp", "cnn"]}, "hidden_units": {"values": [[64], [256]]}}}},
     "search.space.hidden_units: the cnn model does not use hidden_units"),
]


@pytest.mark.parametrize("config, message", BAD_CONFIGS, ids=[str(c) for c, _ in BAD_CONFIGS])
def test_bad_config_is_refused_with_a_clear_line(config, message):
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    text = str(error.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(x_train=a["x_train"][:, :27]), "x_train has shape (200, 27, 28); need (n, 28, 28)"),
        (lambda a: a.update(x_test=a["x_test"].astype("float32")), "x_test has dtype float32; need uint8"),
        (lambda a: a["y_train"].__setitem__(0, 11), "y_train holds labels 0..11; need labels 0-9"),
        (lambda a: a.pop("y_test"), "missing array(s) y_test"),
        (lambda a: a.update(y_train=a["y_train"][:10]), "y_train has shape (10,); need (200,) labels"),
    ],
)
@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_bad_data_path_content_is_refused(tmp_path, change, message, save):
    from conftest import small_arrays

    arrays = small_arrays()
    change(arrays)
    path = tmp_path / "bad.npz"
    save(path, **arrays)
    with pytest.raises(ConfigError) as error:
        validate_config({"data_path": str(path)})
    assert message in str(error.value)


def test_a_good_data_path_passes_with_its_images_left_unread(tmp_path):
    from conftest import small_arrays

    from mnist_sweep.data import ArrayHeader, _npz_images_as_headers

    path = tmp_path / "good.npz"
    np.savez_compressed(path, **small_arrays())
    assert validate_config({"data_path": str(path)})["data_path"] == str(path)
    with np.load(path) as npz:
        arrays = _npz_images_as_headers(npz)
    assert isinstance(arrays["x_train"], ArrayHeader) and arrays["x_train"].shape == (200, 28, 28)
    assert isinstance(arrays["y_train"], np.ndarray)


def test_a_data_path_that_is_no_zip_is_refused(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ConfigError, match="not a readable .npz file"):
        validate_config({"data_path": str(path)})


def test_data_path_that_is_not_npz_is_refused(tmp_path):
    path = tmp_path / "mnist.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(ConfigError, match="is not a .npz file"):
        validate_config({"data_path": str(path)})


def test_the_package_validates_a_config_outside_a_checkout(tmp_path):
    """The schema ships inside the package (src/mnist_sweep/config/config.schema.yaml, package data): a copy
    of the package alone, away from workflow/ and config/, still validates a config and knows the tutorial."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / "src" / "mnist_sweep", tmp_path / "mnist_sweep",
                    ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from mnist_sweep.config.hyperparameters import SCHEMA_PATH; "
            "from mnist_sweep.config.validation import validate_config; "
            "print(SCHEMA_PATH); print(validate_config({'grid': {'dropout': [0.5]}})['grid']['dropout'])")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    schema, dropout = result.stdout.split()
    assert schema == str(tmp_path / "mnist_sweep" / "config" / "config.schema.yaml") and dropout == "[0.5]"
