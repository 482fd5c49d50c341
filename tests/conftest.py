import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The workflow tests' sweep: 2 grid points x 2 seeds x 1 epoch on the bundled subset.
SMALL = ROOT / "tests" / "configs" / "small.yaml"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# How many whole_node tests this run selected (tests/test_slurm.py: the others wait until all have run).
WHOLE_NODE_TESTS = pytest.StashKey[int]()


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected: count only the tests that will run
def pytest_collection_modifyitems(config, items):
    """The SLURM tests that need the node to themselves first: two at a time would wait for each other
    later, while the rest ran two at a time (.ci/run: pytest-xdist's `-n 2`, tests/test_slurm.py)."""
    items.sort(key=lambda item: item.get_closest_marker("whole_node") is None)
    config.stash[WHOLE_NODE_TESTS] = sum(item.get_closest_marker("whole_node") is not None for item in items)


@pytest.fixture(scope="session")
def mnist_5k_file(tmp_path_factory):
    """The bundled 5,000-digit MNIST subset, prepared once per test session."""
    from mnist_sweep.data import prepare

    out = tmp_path_factory.mktemp("data") / "mnist_5k.npz"
    prepare("mnist_5k", out)
    return out


def small_arrays(n_train=200, n_test=50, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def run_python(*args, env=None, **kwargs):
    """Run `python <args>` with the package importable; return the CompletedProcess."""
    env = dict(env or os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, **kwargs)


def train_here(data, run_dir, seeds=(0,), checkpoint_minutes=10.0, save_models=True,
               **hyperparameters) -> list[dict]:
    """Train runs of one point in this process, as `mnist_sweep.training.train --out <run_dir> --seed <seeds>` does
    (run_dir a pattern with {seed} for several seeds); their metrics, in seed order."""
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.trainer import train_pack

    hp = dict(tutorial_hyperparameters(), **hyperparameters)
    if isinstance(hp["hidden_units"], str):
        hp["hidden_units"] = [int(units) for units in hp["hidden_units"].split("-")]
    runs = [{"run_dir": Path(str(run_dir).format(seed=seed)), "seed": seed, "hyperparameters": hp} for seed in seeds]
    return train_pack(data, runs, "mnist_5k", threads=1, checkpoint_minutes=checkpoint_minutes,
                      save_models=save_models)


def tutorial_run_fields() -> dict:
    """What a hand-made metrics.json of a tutorial run on mnist holds besides its seed and results."""
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters

    return {"dataset": "mnist", **tutorial_hyperparameters()}


def snakemake(workdir: Path, *args, timeout=900, popen=None, env=None):
    """Run snakemake on the project's Snakefile in workdir (which gets its own config/ and results/)."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "slurm.yaml"):
        shutil.copy(ROOT / "config" / name, workdir / "config" / name)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args]
    env = dict(env or os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if popen:
        return subprocess.Popen(command, cwd=workdir, env=env, **popen)
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def tensorflow_as_in_a_training_job():
    """Tests that train in this process train as a job does: one CPU thread, op determinism
    (mnist_sweep.training.tensorflow_setup). TensorFlow takes these once per process, before its first
    operation: so before any test runs."""
    from mnist_sweep.training.tensorflow_setup import configure_tensorflow

    configure_tensorflow(threads=1, allow_cpu=True)
