"""The one writer of a run's files: predictions.npz, model.keras, history.tsv, then metrics.json.

Each file is written under a temporary name and renamed; metrics.json comes last, so a run
directory with metrics.json is complete, whatever pack or job trained it. Files damaged
afterwards (truncated, deleted, edited) are caught by run_state: such a run is retrained, its
damaged files set aside, never reused silently.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import platform
import socket
from pathlib import Path

import numpy as np

from mnist_sweep.config.hyperparameters import HYPERPARAMETERS
from mnist_sweep.config.sweeps import run_folder
from mnist_sweep.io import atomic_path, write_json

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]


def finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def scores(probabilities: np.ndarray, labels: np.ndarray):
    """(loss, accuracy) as Keras computes them: clipped categorical cross-entropy, argmax accuracy."""
    picked = probabilities[np.arange(len(labels)), labels.astype(int)]
    loss = float(-np.log(np.clip(picked, 1e-7, 1 - 1e-7)).mean())
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    return loss, accuracy


def replica_scores(probabilities: np.ndarray, labels: np.ndarray):
    """(loss, accuracy) arrays over replicas of (K, n, 10) probabilities; loss NaN where outputs are not finite."""
    with np.errstate(invalid="ignore"):
        pairs = [scores(replica, labels) for replica in probabilities]
    loss, accuracy = (np.array(column) for column in zip(*pairs))
    loss[~np.isfinite(probabilities).all(axis=(1, 2))] = np.nan
    return loss, accuracy


def write_history(path: Path, history: list) -> None:
    """history.tsv: a row per epoch, an empty field for a missing value (as pandas writes NaN)."""
    with atomic_path(path) as partial:
        with open(partial, "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(HISTORY_COLUMNS)
            writer.writerows([row.get(column) for column in HISTORY_COLUMNS] for row in history)


def _is_whole_zip(path: Path) -> bool:
    """A zip (.npz, .keras) ends with its end-of-central-directory record: a truncated file does not.
    Reads the last 64 KB at most (the record plus the longest comment), not the file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            f.seek(max(0, size - 65_557))
            return b"PK\x05\x06" in f.read()
    except OSError:
        return False


def run_state(run_dir) -> tuple[str, str | None]:
    """("finished", None), ("unfinished", None) or ("damaged", what is wrong) for a run directory.

    A run is finished when metrics.json (written last) exists and every file it vouches for is
    whole: metrics.json parses, history.tsv and predictions.npz exist, predictions.npz is a complete
    zip, and so is model.keras where the run saved one (metrics.json's model_saved: then it must be
    there). Cheap enough to check every run of a 10,000-run sweep: small reads, no decompression.
    """
    run_dir = Path(run_dir)
    metrics_path = run_dir / "metrics.json"
    try:
        text = metrics_path.read_text()
    except FileNotFoundError:
        return "unfinished", None
    except (OSError, UnicodeDecodeError) as error:
        return "damaged", f"metrics.json cannot be read ({error})"
    try:
        metrics = json.loads(text)
        status = metrics["status"]
    except (ValueError, TypeError, KeyError):
        return "damaged", "metrics.json is not a complete metrics file (not valid JSON, or no status)"
    if status not in ("completed", "diverged"):
        return "damaged", f"metrics.json has status {status!r}"
    if not (run_dir / "history.tsv").is_file():
        return "damaged", "history.tsv is missing"
    if not (run_dir / "predictions.npz").is_file():
        return "damaged", "predictions.npz is missing"
    if not _is_whole_zip(run_dir / "predictions.npz"):
        return "damaged", "predictions.npz is truncated (not a complete .npz)"
    if (run_dir / "model.keras").exists():
        if not _is_whole_zip(run_dir / "model.keras"):
            return "damaged", "model.keras is truncated (not a complete .keras file)"
    elif metrics.get("model_saved"):  # a run of a sweep without models (or from before the key) has none
        return "damaged", "model.keras is missing"
    return "finished", None


def finished_runs(results, runs: list[dict]) -> tuple[set, dict]:
    """(run ids that are finished, {run id: what is damaged}) among runs (dicts with run_id) under results/."""
    finished, damaged = set(), {}
    for run in runs:
        run_dir = run_folder(results, run["run_id"])
        state, problem = run_state(run_dir)
        if state == "finished":
            finished.add(run["run_id"])
        elif state == "damaged":
            damaged[run["run_id"]] = problem
    return finished, damaged


def set_aside_damaged(run_dir) -> Path:
    """Move a damaged run's files into <run dir>/damaged-<UTC time>/ (kept for a look, never reused)."""
    run_dir = Path(run_dir)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
    aside = run_dir / f"damaged-{stamp}"
    aside.mkdir(exist_ok=True)
    for name in ("metrics.json", "history.tsv", "predictions.npz", "model.keras"):
        if (run_dir / name).exists():
            os.replace(run_dir / name, aside / name)
    return aside


def write_run_files(run_dir, model, history: list, probabilities: np.ndarray, inputs: dict, status: str,
                    info: dict, save_model: bool = True) -> dict:
    """Write a run's files and return its metrics. info: dataset, hyperparameters, seed, training_seconds,
    samples_per_second (of the whole process), resumed_from, device, started, pack, pack_dir, pack_size."""
    import keras
    import tensorflow as tf

    run_dir = Path(run_dir)
    labels = inputs["labels_test"]
    finite = np.isfinite(probabilities).all()
    test_loss, test_accuracy = scores(probabilities, labels) if finite else (None, None)
    predicted = np.argmax(np.nan_to_num(probabilities, nan=0.0), axis=1).astype("uint8")
    with atomic_path(run_dir / "predictions.npz") as partial:
        with open(partial, "wb") as f:
            np.savez_compressed(f, predicted=predicted, probabilities=probabilities.astype("float32"), label=labels)
    if save_model:
        with atomic_path(run_dir / "model.keras") as partial:
            # Stored as Keras writes it, not deflated: float weights deflate by 7% (2.5 instead of 2.7 MB
            # for the tutorial), for 0.14 s per run on 2 CPU cores, 9 s at the end of a 64-run pack.
            model.save(partial)
    write_history(run_dir / "history.tsv", history)
    last = history[-1] if history else {}
    hyperparameters = info["hyperparameters"]
    training_seconds = info["training_seconds"]
    metrics = {
        "dataset": info["dataset"],
        **{name: hyperparameters[name] for name in HYPERPARAMETERS},
        "seed": info["seed"],
        "status": status,
        "model_saved": save_model,  # run_state: a saved model.keras that is missing is a damaged run
        # A diverged model's test numbers mean nothing: leave them empty.
        "test_loss": test_loss if status == "completed" else None,
        "test_accuracy": test_accuracy if status == "completed" else None,
        # A diverged run's last numbers come from a broken model: none are kept (history.tsv has the epochs).
        "train_loss": last.get("loss") if status == "completed" else None,
        "train_accuracy": last.get("accuracy") if status == "completed" else None,
        "val_loss": last.get("val_loss") if status == "completed" else None,
        "val_accuracy": last.get("val_accuracy") if status == "completed" else None,
        "epochs_run": len(history),
        "training_seconds": round(training_seconds, 3),
        # Training throughput of the process that trained it: all runs of its pack together.
        "samples_per_second": info["samples_per_second"],
        "pack": info.get("pack"),
        "pack_dir": info.get("pack_dir"),
        "pack_size": info.get("pack_size", 1),
        "parameter_count": int(model.count_params()),
        "training_images": len(inputs["x_fit"]),
        "validation_images": 0 if inputs["x_validation"] is None else len(inputs["x_validation"]),
        "test_images": len(labels),
        "resumed_from_epoch": info["resumed_from"],
        "host": socket.gethostname(),
        "device": info["device"],
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "python_version": platform.python_version(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_gpus": os.environ.get("SLURM_GPUS_ON_NODE"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "started": info["started"].isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics
