"""The disk a sweep's runs will take, before any of them trains, against the free space of results_dir.

Per run (measured on the tutorial MLP, 669,706 weights): model.keras holds the weights alone (4 bytes
each, 2.70 MB), predictions.npz 10 class probabilities and two labels per test image (about 42 bytes:
0.4 MB on MNIST's 10,000), the rest (metrics, history, log) about 10 kB; a search keeps each run's
state for the next rung (<run dir>/state/: weights and Adam's two moments, 12 bytes per weight,
8.0 MB), all of them with keep_states: all, at most two rungs' with survivors. The start line says
the sum; a warning names what to change when results_dir has less free space than that.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mnist_sweep.config.architecture import parameter_count
from mnist_sweep.config.search_space import points_per_rung, rungs

TEST_IMAGES = {"mnist": 10_000, "fashion_mnist": 10_000, "mnist_5k": 1_000}
MODEL_FILE_OVERHEAD = 20_000  # Keras' config and zip entries around the weights
PREDICTION_BYTES_PER_IMAGE = 42
SMALL_FILES = 10_000  # metrics.json, history.tsv, train.log
STATE_BYTES_PER_WEIGHT = 12  # weights and Adam's two moments, float32


def run_bytes(hyperparameters: dict, config: dict) -> int:
    """The files one finished run keeps."""
    size = SMALL_FILES + PREDICTION_BYTES_PER_IMAGE * TEST_IMAGES.get(config["dataset"], 10_000)
    if config["models"] != "none":
        size += 4 * parameter_count(hyperparameters) + MODEL_FILE_OVERHEAD
    return size


def state_bytes(hyperparameters: dict) -> int:
    return STATE_BYTES_PER_WEIGHT * parameter_count(hyperparameters)


def grid_bytes(runs: list[dict], config: dict) -> int:
    """What runs (sweep_runs dicts) to be trained will keep."""
    return sum(run_bytes(run["hyperparameters"], config) for run in runs)


def search_bytes(config: dict, points: list[dict]) -> int:
    """A search at most: every rung's runs (halving's counts, a point's size from its own shape), the states
    kept for the next rungs, and the confirmation's runs."""
    search, epochs = config["search"], rungs(config)
    counts = points_per_rung(config, len(points))
    seeds = len(config["seeds"])
    mean_run = sum(run_bytes(point["hyperparameters"], config) for point in points) / max(len(points), 1)
    mean_state = sum(state_bytes(point["hyperparameters"]) for point in points) / max(len(points), 1)
    # The confirmation trains the winner and the points tied with it: at most the last rung's points.
    total = mean_run * seeds * sum(counts) + mean_run * search["confirm_seeds"] * counts[-1]
    kept = counts[:-1]  # runs a later rung may continue keep their state
    if search["keep_states"] == "survivors":
        kept = sorted(kept, reverse=True)[:2]
    return int(total + mean_state * seeds * sum(kept))


def disk_note(results_dir, needed: int) -> tuple[str, str | None]:
    """('about 1.2 GB on disk', None), or with the problem when results_dir's file system has less free space
    (the start line warns of it; the plan refuses to train what does not fit)."""
    text = f"about {needed / 1e9:.1f} GB on disk" if needed >= 1e8 else f"about {needed / 1e6:.0f} MB on disk"
    folder = Path(results_dir).resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed <= free:
        return text, None
    return text, (f"{results_dir} has {free / 1e9:.1f} GB free, the runs need {text.removeprefix('about ')}"
                  "; set models: none (no model.keras: 2.7 MB less per tutorial run), search.keep_states: "
                  "survivors, or results_dir on a larger file system (scratch)")
