"""The one writer of a run's files: predictions.npz, model.keras, history.tsv, then metrics.json.

Each file is written under a temporary name and renamed; metrics.json comes last, so a run
directory with metrics.json is complete, whatever pack or job trained it.
"""

from __future__ import annotations

import csv
import datetime
import math
import os
import platform
import socket
import zipfile
from pathlib import Path

import numpy as np

from mnist_sweep.config import HYPERPARAMETERS
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


def deflate_zip(path: Path) -> None:
    """Keras stores a .keras file's members uncompressed; deflated, the tutorial's weights take 2.5 MB
    instead of 2.7 MB (a run directory stays under 3 MB). keras.models.load_model reads either."""
    path = Path(path)
    packed = path.with_name(path.name + ".deflate")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            target.writestr(member, source.read(member), compress_type=zipfile.ZIP_DEFLATED)
    os.replace(packed, path)


def write_history(path: Path, history: list) -> None:
    """history.tsv: a row per epoch, an empty field for a missing value (as pandas writes NaN)."""
    with atomic_path(path) as partial:
        with open(partial, "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(HISTORY_COLUMNS)
            writer.writerows([row.get(column) for column in HISTORY_COLUMNS] for row in history)


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
            model.save(partial)
            deflate_zip(partial)
    write_history(run_dir / "history.tsv", history)
    last = history[-1] if history else {}
    hyperparameters = info["hyperparameters"]
    training_seconds = info["training_seconds"]
    metrics = {
        "dataset": info["dataset"],
        **{name: hyperparameters[name] for name in HYPERPARAMETERS},
        "seed": info["seed"],
        "status": status,
        # A diverged model's test numbers mean nothing: leave them empty.
        "test_loss": test_loss if status == "completed" else None,
        "test_accuracy": test_accuracy if status == "completed" else None,
        "train_loss": last.get("loss"),
        "train_accuracy": last.get("accuracy"),
        "val_loss": last.get("val_loss"),
        "val_accuracy": last.get("val_accuracy"),
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
