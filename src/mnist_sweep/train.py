"""Train one run (one grid point, one seed) and write its files into the run directory.

Files: metrics.json, history.tsv, predictions.npz, model.keras (each written under a
temporary name and renamed; metrics.json last). While training, the state after
every completed epoch is kept in <run dir>/resume/, so a run stopped by SIGTERM
(SLURM preemption or time limit) or killed outright continues from its last
completed epoch when rerun; the folder is removed when the run completes.

Determinism: Python, NumPy and TensorFlow are seeded from the run's seed, op
determinism is on, the data order of epoch e comes from (seed, e) alone and the
dropout generator's state is part of the saved model, so a resumed run ends with
the same numbers as an uninterrupted one (on CPU).

Run by hand (e.g. on a GPU node, to debug):
    python -m mnist_sweep.train --data resources/data/mnist.npz --out /tmp/run --seed 0
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import signal
import socket
import sys
import time
from pathlib import Path

import numpy as np

from mnist_sweep.config import HYPERPARAMETERS, parse_value, tutorial_hyperparameters
from mnist_sweep.io import EpochState, atomic_path, write_json, write_table

EXIT_PREEMPTED = 143  # 128 + SIGTERM, what a process killed by SIGTERM reports


class StopRequested:
    """Remembers a SIGTERM so training can stop cleanly at the end of the current epoch."""

    def __init__(self):
        self.signal_name = None

    def install(self):
        for signum in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name
        print(f"received {self.signal_name}: stopping after the current epoch", flush=True)

    def __bool__(self):
        return self.signal_name is not None


_DEVICE = None


def configure_tensorflow(threads: int):
    """Threads as asked (several jobs may share a node), GPU memory growth (several may share a GPU).

    TensorFlow accepts these settings once per process, before it starts: later calls return
    the device chosen the first time.
    """
    global _DEVICE
    if _DEVICE is not None:
        return _DEVICE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.experimental.enable_op_determinism()
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        _DEVICE = f"GPU:0 ({details.get('device_name', 'unknown')})"
    else:
        _DEVICE = f"CPU ({platform.processor() or platform.machine()})"
    return _DEVICE


def prepare_inputs(arrays: dict, model_name: str, validation_split: float):
    """Scale to [0, 1], shape for the model, one-hot labels; validation = last part of train."""
    from mnist_sweep.model import NUM_CLASSES, input_shape

    def images(x):
        return (x.astype("float32") / 255.0).reshape((-1,) + input_shape(model_name))

    def one_hot(y):
        return np.eye(NUM_CLASSES, dtype="float32")[y]

    x_train, y_train = images(arrays["x_train"]), one_hot(arrays["y_train"])
    n_validation = int(len(x_train) * validation_split)
    n_fit = len(x_train) - n_validation
    return {
        "x_fit": x_train[:n_fit],
        "y_fit": y_train[:n_fit],
        "x_validation": x_train[n_fit:] if n_validation else None,
        "y_validation": y_train[n_fit:] if n_validation else None,
        "x_test": images(arrays["x_test"]),
        "y_test": one_hot(arrays["y_test"]),
        "labels_test": arrays["y_test"].astype("uint8"),
    }


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The data order of one epoch, from the seed and the epoch alone (so a resume replays it)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]


def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.4f}"


def dropout_states(model) -> list:
    """The dropout layers' random-generator states, which a saved .keras model does not keep."""
    return [layer.seed_generator.state.numpy().tolist() for layer in model.layers if hasattr(layer, "seed_generator")]


def restore_dropout_states(model, states: list) -> None:
    layers = [layer for layer in model.layers if hasattr(layer, "seed_generator")]
    for layer, state in zip(layers, states, strict=True):
        layer.seed_generator.state.assign(np.asarray(state, dtype=layer.seed_generator.state.dtype))


class ResumeState(EpochState):
    """The run's state after its last completed epoch: a .keras model plus state.json.

    state.json also holds the dropout generators' states (Keras does not save them), so the
    dropout masks after a resume are the ones an uninterrupted run would draw.
    """

    suffix = ".keras"
    file_key = "model_file"

    def load(self):
        state = self.read_pointer()
        if state is None:
            return None
        import keras

        model = keras.models.load_model(self.state_file(state))
        restore_dropout_states(model, state["dropout_states"])
        return model, state

    def save(self, model, epochs_done: int, history: list, extra: dict):
        self.commit(epochs_done, model.save, {"history": history, "dropout_states": dropout_states(model), **extra})


def train_keras_run(data_file, run_dir, hyperparameters: dict, seed: int, dataset: str, threads: int = 2,
                    validation_split: float = 0.1, stop: StopRequested | None = None) -> dict:
    """Train (or resume) one run with Keras' fit (the convnet); return its metrics.

    Raises SystemExit(143) when stopped by a signal.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stop = stop if stop is not None else StopRequested()
    started = datetime.datetime.now(datetime.timezone.utc)
    device = configure_tensorflow(threads)

    import keras
    import tensorflow as tf

    from mnist_sweep.data import load_prepared
    from mnist_sweep.model import build_model

    keras.utils.set_random_seed(seed)
    inputs = prepare_inputs(load_prepared(data_file), hyperparameters["model"], validation_split)
    n_fit = len(inputs["x_fit"])
    validation = (
        (inputs["x_validation"], inputs["y_validation"]) if inputs["x_validation"] is not None else None
    )

    resume = ResumeState(run_dir)
    loaded = resume.load()
    if loaded:
        model, state = loaded
        history, resumed_from = state["history"], state["epochs_done"]
        training_seconds = state["training_seconds"]
        print(f"resuming from the state after epoch {resumed_from}", flush=True)
    else:
        model, history, resumed_from, training_seconds = build_model(hyperparameters), [], None, 0.0

    print(
        f"run {run_dir}: {dataset}, seed {seed}, {json.dumps(hyperparameters)}; "
        f"{n_fit} training images, device {device}",
        flush=True,
    )
    status = "completed"
    epochs = hyperparameters["epochs"]
    for epoch in range(len(history), epochs):
        order = epoch_order(seed, epoch, n_fit)
        tick = time.perf_counter()
        result = model.fit(
            inputs["x_fit"][order],
            inputs["y_fit"][order],
            batch_size=hyperparameters["batch_size"],
            epochs=1,
            shuffle=False,
            validation_data=validation,
            callbacks=[keras.callbacks.TerminateOnNaN()],
            verbose=0,
        ).history
        seconds = time.perf_counter() - tick
        training_seconds += seconds
        row = {
            "epoch": epoch + 1,
            "loss": finite_or_none(result["loss"][-1]),
            "accuracy": finite_or_none(result["accuracy"][-1]),
            "val_loss": finite_or_none(result["val_loss"][-1]) if validation else None,
            "val_accuracy": finite_or_none(result["val_accuracy"][-1]) if validation else None,
            "seconds": round(seconds, 3),
        }
        history.append(row)
        print(
            f"epoch {epoch + 1}/{epochs}: loss {_fmt(row['loss'])} accuracy {_fmt(row['accuracy'])} "
            f"val_loss {_fmt(row['val_loss'])} val_accuracy {_fmt(row['val_accuracy'])} ({seconds:.1f} s)",
            flush=True,
        )
        if row["loss"] is None:
            status = "diverged"
            print(f"loss is not finite in epoch {epoch + 1}: run diverged, training stopped", flush=True)
            break
        if epoch + 1 < epochs:
            resume.save(model, epoch + 1, history, {"training_seconds": training_seconds})
        if stop and epoch + 1 < epochs:
            print(f"stopped by {stop.signal_name} after epoch {epoch + 1}; state saved in {resume.folder}, "
                  "rerun to resume", flush=True)
            raise SystemExit(EXIT_PREEMPTED)

    probabilities = model.predict(inputs["x_test"], batch_size=1024, verbose=0)
    return finish_run(run_dir, model, history, probabilities, inputs, status, {
        "dataset": dataset, "hyperparameters": hyperparameters, "seed": seed, "training_seconds": training_seconds,
        "samples": n_fit * len(history), "resumed_from": resumed_from, "device": device, "started": started,
    }, resume)


def train_runs(data_file, run_dirs, hyperparameters: dict, seeds, dataset: str, threads: int = 2,
               validation_split: float = 0.1, stop: StopRequested | None = None) -> list:
    """Train the seeds of one grid point in this process: the MLP as one packed model, the convnet
    seed after seed. Seeds whose run directory already holds metrics.json are not trained again."""
    stop = stop if stop is not None else StopRequested()
    pending = []
    for seed, run_dir in zip(seeds, map(Path, run_dirs)):
        if (run_dir / "metrics.json").exists():
            print(f"seed {seed}: {run_dir}/metrics.json exists, not training it again", flush=True)
        else:
            pending.append((seed, run_dir))
    if not pending:
        return []
    if hyperparameters["model"] != "mlp":
        return [train_keras_run(data_file, run_dir, hyperparameters, seed, dataset, threads, validation_split, stop)
                for seed, run_dir in pending]
    started = datetime.datetime.now(datetime.timezone.utc)
    device = configure_tensorflow(threads)
    from mnist_sweep.data import load_prepared
    from mnist_sweep.packed import train_packed

    inputs = prepare_inputs(load_prepared(data_file), "mlp", validation_split)
    for _, run_dir in pending:
        run_dir.mkdir(parents=True, exist_ok=True)
    print(f"{dataset}, seeds {[seed for seed, _ in pending]} packed in one model, {json.dumps(hyperparameters)}; "
          f"{len(inputs['x_fit'])} training images, device {device}", flush=True)
    info = {"dataset": dataset, "hyperparameters": hyperparameters, "device": device, "started": started}
    return train_packed(inputs, [run_dir for _, run_dir in pending], hyperparameters,
                        [seed for seed, _ in pending], info, stop)


def test_scores(probabilities: np.ndarray, labels: np.ndarray):
    """(loss, accuracy) as Keras computes them: clipped categorical cross-entropy, argmax accuracy."""
    picked = probabilities[np.arange(len(labels)), labels.astype(int)]
    loss = float(-np.log(np.clip(picked, 1e-7, 1 - 1e-7)).mean())
    accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    return loss, accuracy


def finish_run(run_dir, model, history, probabilities, inputs, status, info, resume) -> dict:
    """Write a run's files (predictions, model, history, then metrics.json) and clear its resume state."""
    import keras
    import pandas as pd
    import tensorflow as tf

    run_dir = Path(run_dir)
    labels = inputs["labels_test"]
    finite = np.isfinite(probabilities).all()
    test_loss, test_accuracy = test_scores(probabilities, labels) if finite else (None, None)
    predicted = np.argmax(np.nan_to_num(probabilities, nan=0.0), axis=1).astype("uint8")
    with atomic_path(run_dir / "predictions.npz") as partial:
        with open(partial, "wb") as f:
            np.savez_compressed(f, predicted=predicted, probabilities=probabilities.astype("float32"), label=labels)
    with atomic_path(run_dir / "model.keras") as partial:
        model.save(partial)
    write_table(run_dir / "history.tsv", pd.DataFrame(history, columns=HISTORY_COLUMNS))
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
        # Training throughput of the process: all seeds of its pack together.
        "samples_per_second": round(info["samples"] / training_seconds, 1) if training_seconds else None,
        "pack_size": info.get("pack_size", 1),
        "pack_seeds": info.get("pack_seeds", [info["seed"]]),
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
    resume.clear()
    print(f"done {run_dir}: status {status}, test_accuracy {metrics['test_accuracy']}, "
          f"test_loss {metrics['test_loss']}", flush=True)
    return metrics


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train one run of the sweep (one grid point, one seed).")
    parser.add_argument("--data", required=True, type=Path, help="prepared dataset (.npz from mnist_sweep.data)")
    parser.add_argument("--out", required=True,
                        help="run directory; with several seeds a pattern containing {seed}")
    parser.add_argument("--seed", required=True, type=int, nargs="+",
                        help="seed(s); several seeds of an MLP are trained together as one packed model")
    parser.add_argument("--dataset", default="mnist", help="dataset name recorded in metrics.json")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow CPU threads")
    parser.add_argument("--validation-split", type=float, default=0.1)
    parser.add_argument("--gpu-ids", default="", help="comma-separated GPU ids to take one of (workstations)")
    parser.add_argument("--gpu-lock-dir", type=Path, default=Path(".snakemake/gpu-slots"))
    tutorial = tutorial_hyperparameters()
    for name in HYPERPARAMETERS:
        default = tutorial[name]
        shown = "-".join(map(str, default)) if name == "hidden_units" else default
        parser.add_argument(f"--{name.replace('_', '-')}", default=str(shown),
                            help=f"default: {shown}" + (" (layer sizes joined by '-')" if name == "hidden_units" else ""))
    args = parser.parse_args(argv)
    args.hyperparameters = {name: parse_value(name, getattr(args, name)) for name in HYPERPARAMETERS}
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from mnist_sweep.gpu_slots import take_gpu

    gpu = take_gpu([int(i) for i in args.gpu_ids.split(",") if i], args.gpu_lock_dir)
    if gpu is not None:
        print(f"using GPU {gpu} (CUDA_VISIBLE_DEVICES={gpu})", flush=True)
    stop = StopRequested()
    stop.install()
    if len(args.seed) > 1 and "{seed}" not in args.out:
        raise SystemExit("error: with several seeds, --out must contain {seed}, e.g. results/run/seed~{seed}")
    run_dirs = [Path(args.out.replace("{seed}", str(seed))) for seed in args.seed]
    train_runs(args.data, run_dirs, args.hyperparameters, args.seed, args.dataset, args.threads,
               args.validation_split, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
