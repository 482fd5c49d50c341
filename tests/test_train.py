"""Real training on the bundled MNIST subset: files, determinism, preemption, divergence.

The model and mask tests are fast; the training tests are marked slow. Training runs in this
process (trainer.train_pack, as a job runs it: conftest sets one thread and op determinism)
unless the command line, a signal or a second process is what a test is about: each
`python -m mnist_sweep.training.train` pays about 8 s of importing TensorFlow.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, run_python, train_here

slow = pytest.mark.slow


def train_args(data, out, seed=0, **hyperparameters):
    args = ["-m", "mnist_sweep.training.train", "--data", str(data), "--out", str(out), "--seed", str(seed),
            "--dataset", "mnist_5k", "--threads", "1"]
    for name, value in hyperparameters.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


def comparable(metrics):
    """The numbers that must not depend on timing, host or resumption."""
    keys = ("test_accuracy", "test_loss", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
            "epochs_run", "status", "parameter_count")
    return {key: metrics[key] for key in keys}


def test_model_shapes():
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.model import build_model

    tutorial = tutorial_hyperparameters()
    model = build_model(tutorial)
    # 784*512+512 + 512*512+512 + 512*10+10, as in the tutorial's summary
    assert model.count_params() == 669_706
    assert [layer.__class__.__name__ for layer in model.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert model.layers[1].rate == 0.2
    assert model.loss == "categorical_crossentropy"
    assert model.optimizer.weight_decay is None  # the tutorial has none (0 = none, not a no-op update)
    assert build_model(dict(tutorial, weight_decay=0.01)).optimizer.weight_decay == 0.01
    cnn = build_model(dict(tutorial, model="cnn", dropout=0.5))
    assert cnn.count_params() == 34_826  # the Keras convnet example's count
    assert build_model(dict(tutorial, hidden_units=[64])).count_params() == 784 * 64 + 64 + 64 * 10 + 10


@pytest.mark.parametrize("changes", [{}, {"model": "cnn"}, {"hidden_units": [64]}, {"hidden_units": [300, 100, 50]}])
def test_the_keras_model_and_the_planners_arithmetic_come_from_one_definition(changes):
    """architecture.layers is the one definition: the Keras model has its layers, shapes and weights, so
    the time and memory estimates (which never import Keras) count what trains."""
    from mnist_sweep.config.architecture import layer_shapes, parameter_count
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.model import build_model

    hp = dict(tutorial_hyperparameters(), **changes)
    model = build_model(hp, compile=False)
    described = layer_shapes(hp)
    assert [layer.__class__.__name__ for layer in model.layers] == [
        {"dense": "Dense", "dropout": "Dropout", "conv": "Conv2D", "pool": "MaxPooling2D", "flatten": "Flatten"}[
            layer["kind"]] for layer in described]
    assert [tuple(layer.output.shape[1:]) for layer in model.layers] == [layer["shape"] for layer in described]
    assert [layer.count_params() for layer in model.layers] == [layer["weights"] for layer in described]
    assert model.count_params() == parameter_count(hp)


def test_dropout_masks_drop_the_rate_and_depend_on_the_seed_step_and_layer_only():
    """Hashed masks (packed._dropout): the rate to 2^-16, a replica's mask the same in any pack,
    no two replicas, steps or layers alike."""
    import tensorflow as tf

    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.packed import PackedMLP

    rates = [0.2, 0.2, 0.5, 0.9]
    pack = PackedMLP([3, 4, 3, 5], [dict(tutorial_hyperparameters(), dropout=rate) for rate in rates])
    scales = pack._dropout_scales(tf.constant(512), 512, tf.constant(7, tf.int64), 1).numpy()  # (4, 512, 512)
    for rate, replica in zip(rates, scales):
        kept = replica > 0
        assert replica[kept] == pytest.approx(1 / (1 - rate))
        assert abs(1 - kept.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / kept.size)  # 4 sigma
    alone = PackedMLP([4], [dict(tutorial_hyperparameters(), dropout=0.2)])
    np.testing.assert_array_equal(alone._dropout_scales(tf.constant(512), 512, tf.constant(7, tf.int64), 1)[0],
                                  scales[1])  # seed 4 alone and second in a pack of four
    dropped = scales == 0
    assert not (dropped[0] & ~dropped[2]).any()  # seed 3: the same bits, a higher rate drops more units
    assert abs(np.corrcoef(dropped[0].ravel(), dropped[1].ravel())[0, 1]) < 0.01  # seeds 3 and 4
    for step, layer in ((8, 1), (7, 0)):  # the next step, another layer: other masks
        other = alone._dropout_scales(tf.constant(512), 512, tf.constant(step, tf.int64), layer).numpy()[0] == 0
        assert abs(np.corrcoef(other.ravel(), dropped[1].ravel())[0, 1]) < 0.01


def test_a_hyperparameter_no_code_uses_is_refused_not_ignored():
    """A key added to the schema but read nowhere stops training with its name, instead of being
    recorded in metrics.json while changing nothing."""
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.model import build_model
    from mnist_sweep.training.packed import build_pack

    tutorial = tutorial_hyperparameters()
    with pytest.raises(ValueError, match="hyperparameter 'momentum' is not used by the mlp model"):
        build_pack([{"seed": 0, "hyperparameters": dict(tutorial, momentum=0.9)}])
    with pytest.raises(ValueError, match="hyperparameter 'momentum' is not used by the cnn model"):
        build_model(dict(tutorial, model="cnn", momentum=0.9))
    with pytest.raises(ValueError, match="hyperparameter 'weight_decay' is missing"):
        build_pack([{"seed": 0, "hyperparameters": {k: v for k, v in tutorial.items() if k != "weight_decay"}}])
    with pytest.raises(ValueError, match="differ in activation"):
        build_pack([{"seed": 0, "hyperparameters": tutorial},
                    {"seed": 1, "hyperparameters": dict(tutorial, activation="tanh")}])


@slow
def test_every_hyperparameter_changes_training(tmp_path, mnist_5k_file):
    """Each declared hyperparameter (the schema's grid), trained at its default and at its schema
    example, one epoch on the subset: no two results may be identical, so a hyperparameter that the
    model silently ignores fails here. A new hyperparameter is covered without touching this test."""
    from mnist_sweep.config.hyperparameters import GRID_DECLARATIONS, HYPERPARAMETERS, canonical_value, tutorial_hyperparameters
    from mnist_sweep.training.trainer import train_pack

    base = dict(tutorial_hyperparameters(), hidden_units=[64], epochs=1)
    variants = {"base": base}
    for name in HYPERPARAMETERS:
        (example,) = GRID_DECLARATIONS[name]["items"]["examples"]
        variants[name] = dict(base, **{name: canonical_value(name, example)})
        assert variants[name] != base, f"{name}: the schema's example is its default"
    runs = [{"run_dir": tmp_path / name, "seed": 0, "hyperparameters": hp} for name, hp in variants.items()]
    assert len(train_pack(mnist_5k_file, runs, "mnist_5k", threads=1)) == len(runs)
    results = {name: json.loads((tmp_path / name / "metrics.json").read_text()) for name in variants}
    reference = comparable(results.pop("base"))
    for name, metrics in results.items():
        assert metrics[name] == variants[name][name]
        assert comparable(metrics) != reference, f"{name} = {variants[name][name]} trains exactly like the default"


@slow
def test_run_writes_all_files_and_is_deterministic(tmp_path, mnist_5k_file):
    """The command line trains a run and writes its files; the same seed gives the same numbers in another
    process (here: in this one, with the job's settings), another seed other numbers."""
    first = run_python(*train_args(mnist_5k_file, tmp_path / "a", seed=3, epochs=2))
    assert first.returncode == 0, first.stdout + first.stderr
    (second,) = train_here(mnist_5k_file, tmp_path / "b", seeds=[3], epochs=2)
    (other_seed,) = train_here(mnist_5k_file, tmp_path / "c", seeds=[4], epochs=2)
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert comparable(m) == comparable(second)
    assert m["test_loss"] != other_seed["test_loss"]
    run = tmp_path / "a"
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == [
        "history.tsv", "metrics.json", "model.keras", "predictions.npz", "train.log"]
    assert sum(p.stat().st_size for p in run.iterdir()) < 3_000_000  # no optimizer state (with it: 8 MB)
    assert m["status"] == "completed" and m["epochs_run"] == 2 and m["seed"] == 3
    assert m["hidden_units"] == [512, 512] and m["dropout"] == 0.2 and m["dataset"] == "mnist_5k"
    assert 0.8 < m["test_accuracy"] <= 1.0
    assert m["training_images"] == 3600 and m["validation_images"] == 400 and m["test_images"] == 1000
    assert m["samples_per_second"] > 0 and m["device"].startswith("CPU")
    assert m["resumed_from_epoch"] is None and m["slurm_job_id"] is None
    history = pd.read_csv(run / "history.tsv", sep="\t")
    assert history["epoch"].tolist() == [1, 2]
    assert list(history.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    with np.load(run / "predictions.npz") as predictions:
        assert predictions["predicted"].shape == (1000,)
        assert predictions["probabilities"].shape == (1000, 10)
        assert np.allclose(predictions["probabilities"].sum(axis=1), 1, atol=1e-4)
        assert (predictions["predicted"] == predictions["label"]).mean() == pytest.approx(m["test_accuracy"], abs=1e-6)
    log = (run / "train.log").read_text()
    assert "\nepoch 1/2: loss" in log and "\nepoch 2/2: loss" in log and "val_accuracy" in log
    assert f"{run} epoch 2/2: loss" in first.stdout
    assert m["pack_size"] == 1 and m["pack"] is None


@slow
def test_a_seed_trains_the_same_alone_and_in_a_pack(tmp_path, mnist_5k_file):
    """Seed packing: seed 3 alone and inside a pack of three give the same results to float rounding.

    Not bit for bit: which kernel TensorFlow picks for a batched product can depend on the pack size
    and the CPU (AVX2 or AVX-512), and with it the order of a sum (differences near 1e-7 were seen).
    The tolerance is the one packed.py promises; a wrong seed, dropout mask or data order would differ
    by orders of magnitude more."""
    (alone,) = train_here(mnist_5k_file, tmp_path / "solo", seeds=[3], epochs=2)
    train_here(mnist_5k_file, tmp_path / "pack" / "seed~{seed}", seeds=[1, 3, 5], epochs=2)
    in_pack = json.loads((tmp_path / "pack" / "seed~3" / "metrics.json").read_text())
    assert in_pack["pack_size"] == 3
    alone, in_pack = comparable(alone), comparable(in_pack)
    assert in_pack.pop("status") == alone.pop("status") == "completed"
    assert in_pack == pytest.approx(alone, rel=1e-5)
    with np.load(tmp_path / "solo" / "predictions.npz") as a, np.load(tmp_path / "pack" / "seed~3" / "predictions.npz") as b:
        assert np.allclose(a["probabilities"], b["probabilities"], atol=1e-5)
        assert (a["predicted"] != b["predicted"]).sum() <= 1  # a near-tie may flip, nothing more
    others = [json.loads((tmp_path / "pack" / f"seed~{s}" / "metrics.json").read_text()) for s in (1, 5)]
    assert all(abs(o["test_loss"] - alone["test_loss"]) > 1e-3 for o in others)
    # The seeds of one point share one Keras model while their files are written: each model.keras is its own.
    import keras

    images = np.load(mnist_5k_file)["x_test"].reshape(-1, 784).astype("float32") / 255
    for seed in (1, 3, 5):
        model = keras.models.load_model(tmp_path / "pack" / f"seed~{seed}" / "model.keras")
        with np.load(tmp_path / "pack" / f"seed~{seed}" / "predictions.npz") as saved:
            assert np.allclose(model.predict(images, verbose=0), saved["probabilities"], atol=1e-5), seed


@slow
def test_a_seed_agrees_alone_and_in_a_pack_with_other_hyperparameters(tmp_path, mnist_5k_file):
    """Outside the tutorial's settings packed and solo agree to float tolerance, not always bit for bit
    (another pack size can change the order of a kernel's sums): measured differences are below 1e-6."""
    hyperparameters = dict(epochs=2, hidden_units="128-64", activation="tanh", optimizer="rmsprop", batch_size=100)
    (alone,) = train_here(mnist_5k_file, tmp_path / "solo", seeds=[4], **hyperparameters)
    train_here(mnist_5k_file, tmp_path / "pack" / "seed~{seed}", seeds=[3, 4], **hyperparameters)
    alone = comparable(alone)
    in_pack = comparable(json.loads((tmp_path / "pack" / "seed~4" / "metrics.json").read_text()))
    assert in_pack.pop("status") == alone.pop("status") == "completed"
    assert in_pack == pytest.approx(alone, rel=1e-5)
    with np.load(tmp_path / "solo" / "predictions.npz") as a, np.load(tmp_path / "pack" / "seed~4" / "predictions.npz") as b:
        assert np.allclose(a["probabilities"], b["probabilities"], atol=1e-5)
        assert (a["predicted"] != b["predicted"]).sum() <= 1  # a near-tie may flip, nothing more


@slow
def test_a_run_trains_the_same_packed_with_other_dropout_learning_rates_and_weight_decays(tmp_path, mnist_5k_file):
    """Runs of one model shape pack across grid points: each replica has its own dropout, learning
    rate and weight decay, and a run's numbers are those it gets alone."""
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.config.architecture import shape_key

    base = dict(tutorial_hyperparameters(), hidden_units=[64, 32], epochs=2)
    members = [(1, dict(base, dropout=0.0, learning_rate=0.01, weight_decay=0.05)), (0, base),
               (2, dict(base, dropout=0.5, learning_rate=1.0))]
    plan = tmp_path / "results" / "mnist_5k" / "packs" / "abc" / "plan.json"
    plan.parent.mkdir(parents=True)
    plan.write_text(json.dumps({"pack": "abc", "dataset": "mnist_5k", "runs": [
        {"run_id": f"point{index}/seed~{seed}", "seed": seed, "hyperparameters": hp}
        for index, (seed, hp) in enumerate(members)]}))
    packed = run_python("-m", "mnist_sweep.training.train", "--data", str(mnist_5k_file), "--pack", str(plan), "--threads", "1",
                        "--done", str(plan.parent / "done.json"))
    assert packed.returncode == 0, packed.stdout + packed.stderr
    done = json.loads((plan.parent / "done.json").read_text())
    assert done["pack"] == "abc"
    # The speed the pack trained at (later packs on GPU nodes are sized from GPU entries): one process, one shape.
    (speed,) = done["throughput"]
    assert speed["device"].startswith("CPU") and speed["shape"] == shape_key(base) and speed["flops_per_second"] > 0
    # Each attempt of a pack's job is kept: its output and its wall time.
    attempts = pd.read_csv(plan.parent / "attempts.tsv", sep="\t")
    assert len(attempts) == 1 and attempts["exit_code"].tolist() == [0] and attempts["seconds"].gt(0).all()
    log = (plan.parent / "attempts.log").read_text()
    assert log.startswith("== attempt started") and "done: status completed" in log and "exit code 0" in log
    for index, (seed, hp) in enumerate(members[:2]):
        (alone,) = train_here(mnist_5k_file, tmp_path / f"solo{index}", seeds=[seed], **hp)
        in_pack = json.loads((tmp_path / "results/mnist_5k/runs" / f"point{index}/seed~{seed}" / "metrics.json").read_text())
        assert in_pack["pack"] == "abc" and in_pack["pack_size"] == 3
        assert all(in_pack[name] == hp[name] for name in ("dropout", "learning_rate", "weight_decay"))
        in_pack, alone = comparable(in_pack), comparable(alone)
        assert in_pack.pop("status") == alone.pop("status") == "completed"
        assert in_pack == pytest.approx(alone, rel=1e-6)


@slow
@pytest.mark.parametrize("optimizer", ["adam", "nadam", "rmsprop", "sgd", "adagrad"])
def test_each_optimizer_trains_a_run_the_same_alone_and_in_a_mixed_pack(tmp_path, mnist_5k_file, optimizer):
    """Every per-replica hyperparameter at values other than the tutorial's, three runs that differ in all of
    them packed as one model: each run's numbers are those it gets alone, to the tolerance packed.py promises
    (relative 1e-5). An optimizer option that acted across the replicas (a norm over a whole stacked variable,
    as Keras' clipnorm takes it) makes a run depend on its pack and fails here (config/README.md)."""
    from mnist_sweep.config.architecture import PER_REPLICA_KEYS
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.packed import PackedMLP
    from mnist_sweep.training.trainer import train_pack

    base = dict(tutorial_hyperparameters(), hidden_units=[64, 32], epochs=2, optimizer=optimizer)
    settings = [(1, {"dropout": 0.1, "learning_rate": 0.003, "weight_decay": 0.01}),
                (2, {"dropout": 0.35, "learning_rate": 0.0005, "weight_decay": 0.0}),
                (0, {"dropout": 0.0, "learning_rate": 0.002, "weight_decay": 0.05})]
    assert all(set(values) == set(PER_REPLICA_KEYS) for _, values in settings)  # every per-replica key varies
    runs = [{"run_dir": tmp_path / "pack" / f"run{index}", "seed": seed, "hyperparameters": dict(base, **values)}
            for index, (seed, values) in enumerate(settings)]
    packed = train_pack(mnist_5k_file, runs, "mnist_5k", threads=1, save_models=False)
    assert [metrics["pack_size"] for metrics in packed] == [3, 3, 3]
    for run, in_pack in zip(runs, packed, strict=True):
        (alone,) = train_pack(mnist_5k_file, [dict(run, run_dir=tmp_path / "alone" / run["run_dir"].name)], "mnist_5k",
                              threads=1, save_models=False)
        in_pack, alone = comparable(in_pack), comparable(alone)
        assert in_pack.pop("status") == alone.pop("status") == "completed"
        assert in_pack == pytest.approx(alone, rel=1e-5), run["hyperparameters"]
    # Nothing in the packed model's optimizer takes a norm over a whole variable (every replica at once).
    optimizer_config = PackedMLP([0], [base]).optimizer.get_config()
    assert optimizer_config["clipnorm"] is None and optimizer_config["global_clipnorm"] is None


@slow
def test_after_its_gpu_ran_out_of_memory_a_pack_trains_in_parts_to_the_same_numbers(tmp_path, mnist_5k_file):
    """An earlier attempt of the pack ended with TensorFlow's ResourceExhaustedError (attempts.log, as a GPU's
    out-of-memory leaves it): the retry trains the pack's runs in halves, one after the other, each to the
    numbers it gets alone, and done.json records what fitted, for later packs of that shape."""
    from mnist_sweep.config.architecture import shape_key
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters

    hp = dict(tutorial_hyperparameters(), hidden_units=[32], epochs=1)
    plan = tmp_path / "results" / "mnist_5k" / "packs" / "oom" / "plan.json"
    plan.parent.mkdir(parents=True)
    plan.write_text(json.dumps({"pack": "oom", "dataset": "mnist_5k", "runs": [
        {"run_id": f"point/seed~{seed}", "seed": seed, "hyperparameters": hp} for seed in range(4)]}))
    (plan.parent / "attempts.log").write_text(
        "== attempt started 2026-12-03T10:00:00+00:00 on gpu1 (pid 7), SLURM job 41\n"
        "tensorflow.python.framework.errors_impl.ResourceExhaustedError: OOM when allocating tensor with "
        "shape[4,128,32] and type float on /job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc\n"
        "== attempt ended with exit code 1 after 12.0 s\n")
    packed = run_python("-m", "mnist_sweep.training.train", "--data", str(mnist_5k_file), "--pack", str(plan),
                        "--threads", "1", "--done", str(plan.parent / "done.json"))
    assert packed.returncode == 0, packed.stdout + packed.stderr
    log = (plan.parent / "attempts.log").read_text()
    assert "ran out of GPU memory in 1 attempt(s) before: its 4 runs train in parts of at most 2" in log, log
    done = json.loads((plan.parent / "done.json").read_text())
    assert done["gpu_runs_fitted"] == {shape_key(hp): 2}
    for seed in range(4):
        in_part = json.loads((tmp_path / "results/mnist_5k/runs/point" / f"seed~{seed}" / "metrics.json").read_text())
        assert in_part["pack_size"] == 4  # the job's runs: summarize shares its time among them
        (alone,) = train_here(mnist_5k_file, tmp_path / f"alone{seed}", seeds=[seed], save_models=False, **hp)
        in_part, alone = comparable(in_part), comparable(alone)
        assert in_part.pop("status") == alone.pop("status") == "completed"
        assert in_part == pytest.approx(alone, rel=1e-5)


@slow
def test_saved_model_reproduces_the_predictions(tmp_path, mnist_5k_file):
    import keras

    train_here(mnist_5k_file, tmp_path / "run", seeds=[2], epochs=1, hidden_units="64-32")
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    images = np.load(mnist_5k_file)["x_test"].reshape(-1, 784).astype("float32") / 255
    with np.load(tmp_path / "run" / "predictions.npz") as saved:
        assert np.allclose(model.predict(images, verbose=0), saved["probabilities"], atol=1e-5)


def train_until(args, marker: str, signum) -> tuple[int, str]:
    """Run the train command; at the first output line containing marker, send it signum. (exit code, output)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    process = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    output, sent = [], False
    for line in process.stdout:
        output.append(line)
        if marker in line and not sent:
            process.send_signal(signum)
            sent = True
    process.wait(timeout=300)
    return process.returncode, "".join(output)


@slow
def test_sigterm_saves_each_runs_state_and_a_run_resumes_in_another_pack(tmp_path, mnist_5k_file, capsys):
    """A pack of seeds 1 and 2 is stopped by SIGTERM; seed 1 then resumes alone (another pack) and ends
    with the numbers of an uninterrupted run."""
    settings = dict(epochs=5, batch_size=16)
    (whole,) = train_here(mnist_5k_file, tmp_path / "whole", seeds=[1], **settings)

    pattern = tmp_path / "interrupted" / "seed~{seed}"
    args = train_args(mnist_5k_file, pattern, seed=1, **settings)
    args[args.index("--seed") + 1: args.index("--seed") + 2] = ["1", "2"]
    code, text = train_until(args, " epoch 1/5: ", signal.SIGTERM)  # mid-run: epoch 2 is in progress
    assert code == 143, text
    assert "received SIGTERM" in text and "rerun to resume" in text
    run_dir = tmp_path / "interrupted" / "seed~1"
    assert not (run_dir / "metrics.json").exists()
    stopped_after = json.loads((run_dir / "resume" / "state.json").read_text())["epochs_done"]
    assert stopped_after in (1, 2)  # at the latest, the end of the epoch in progress
    assert (tmp_path / "interrupted" / "seed~2" / "resume" / "state.json").exists()

    # It saves again while resumed (a tiny checkpoint interval: after each epoch), as a long job does.
    capsys.readouterr()
    (again,) = train_here(mnist_5k_file, run_dir, seeds=[1], checkpoint_minutes=0.0001, **settings)
    assert f"resuming after epoch {stopped_after}" in capsys.readouterr().out
    assert again["resumed_from_epoch"] == stopped_after
    assert again["samples_per_second"] > 0  # the epochs trained since the resume (it read 0.0 before)
    # Its first epochs trained in a pack of two, the rest alone: equal to the pack tests' tolerance.
    again, whole = comparable(again), comparable(whole)
    assert again.pop("status") == whole.pop("status") == "completed"
    assert again == pytest.approx(whole, rel=1e-5)
    assert not (run_dir / "resume").exists()
    history_whole = pd.read_csv(tmp_path / "whole" / "history.tsv", sep="\t")
    history_again = pd.read_csv(run_dir / "history.tsv", sep="\t")
    pd.testing.assert_frame_equal(history_whole.drop(columns="seconds"), history_again.drop(columns="seconds"),
                                  check_exact=False, rtol=1e-5)
    log = (run_dir / "train.log").read_text()
    assert "stopped by SIGTERM" in log and f"resuming from the state after epoch {stopped_after}" in log


@slow
def test_ctrl_c_stops_a_run_after_its_epoch_without_a_traceback(tmp_path, mnist_5k_file):
    """Ctrl-C in the terminal of a local sweep reaches the training job too: like SIGTERM, it stops after
    the epoch, state saved, exit 143, and the log holds no KeyboardInterrupt traceback."""
    args = train_args(mnist_5k_file, tmp_path / "run", seed=0, epochs=5, batch_size=16)
    code, text = train_until(args, " epoch 1/5: ", signal.SIGINT)
    assert code == 143, text
    assert "received SIGINT" in text and "Traceback" not in text and "KeyboardInterrupt" not in text
    assert (tmp_path / "run" / "resume" / "state.json").exists()


@slow
@pytest.mark.parametrize("minutes, saved", [(1000, False), (0.0001, True)])
def test_states_are_saved_at_the_checkpoint_interval_not_every_epoch(tmp_path, mnist_5k_file, minutes, saved):
    """Killed outright (SIGKILL: no chance to save) after epoch 1 of 4: a state exists only if the
    checkpoint interval had passed; a stop by signal always saves (the tests above)."""
    args = train_args(mnist_5k_file, tmp_path / "run", seed=0, epochs=4, batch_size=16)
    code, text = train_until([*args, "--checkpoint-minutes", str(minutes)], " epoch 2/4: ", signal.SIGKILL)
    assert code == -signal.SIGKILL, text
    assert (tmp_path / "run" / "resume" / "state.json").exists() == saved


@slow
def test_a_job_given_a_gpu_that_tensorflow_cannot_see_stops_at_once(tmp_path, mnist_5k_file):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="0")  # this machine has no GPU: TensorFlow sees none
    refused = run_python(*train_args(mnist_5k_file, tmp_path / "gpu", epochs=1), env=env)
    assert refused.returncode == 3
    assert "was given a GPU (CUDA_VISIBLE_DEVICES=0) but TensorFlow" in refused.stderr
    assert 'pip install -e ".[gpu]"' in refused.stderr and "allow_cpu" in refused.stderr
    assert not (tmp_path / "gpu" / "metrics.json").exists()
    on_purpose = run_python(*train_args(mnist_5k_file, tmp_path / "cpu", epochs=1), "--allow-cpu", env=env)
    assert on_purpose.returncode == 0, on_purpose.stderr
    assert json.loads((tmp_path / "cpu" / "metrics.json").read_text())["device"].startswith("CPU")


@slow
def test_diverging_run_is_a_result(tmp_path, mnist_5k_file, capsys):
    (metrics,) = train_here(mnist_5k_file, tmp_path / "d", optimizer="sgd", learning_rate=1e8, epochs=3)
    assert metrics == json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert metrics["status"] == "diverged"
    assert metrics["test_accuracy"] is None and metrics["epochs_run"] < 3
    # No leftover numbers of the broken model: not in metrics.json, not in the epoch it diverged in.
    assert all(metrics[key] is None for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"))
    last = pd.read_csv(tmp_path / "d" / "history.tsv", sep="\t").iloc[-1]
    assert last[["loss", "accuracy", "val_loss", "val_accuracy"]].isna().all()
    assert "run diverged" in capsys.readouterr().out
    for name in ("history.tsv", "predictions.npz", "model.keras"):
        assert (tmp_path / "d" / name).exists()


@slow
def test_convnet_trains_and_resumes_through_the_same_loop(tmp_path, mnist_5k_file):
    """The convnet goes through the one trainer too: two seeds in one process, and its state after an
    epoch resumes to the numbers of an uninterrupted run."""
    train_here(mnist_5k_file, tmp_path / "cnn" / "seed~{seed}", seeds=[0, 1], epochs=2, model="cnn", dropout=0.5)
    metrics = json.loads((tmp_path / "cnn" / "seed~0" / "metrics.json").read_text())
    assert metrics["model"] == "cnn" and metrics["parameter_count"] == 34_826 and metrics["pack_size"] == 2
    assert metrics["status"] == "completed" and metrics["test_accuracy"] > 0.5

    from mnist_sweep.training.trainer import train_pack

    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters

    run = {"run_dir": tmp_path / "resumed", "seed": 0,
           "hyperparameters": dict(tutorial_hyperparameters(), model="cnn", dropout=0.5, epochs=2)}

    class StopAfterFirstEpoch:
        signal_name = "SIGTERM"

        def __bool__(self):
            return True

    # Uninterrupted, then stopped after epoch 1 and resumed.
    whole = train_pack(mnist_5k_file, [dict(run, run_dir=tmp_path / "whole")], "mnist_5k", threads=1)[0]
    with pytest.raises(SystemExit):
        train_pack(mnist_5k_file, [run], "mnist_5k", threads=1, stop=StopAfterFirstEpoch())
    assert json.loads((tmp_path / "resumed" / "resume" / "state.json").read_text())["epochs_done"] == 1
    finished = train_pack(mnist_5k_file, [run], "mnist_5k", threads=1)[0]
    assert finished["resumed_from_epoch"] == 1
    assert comparable(finished) == comparable(whole)


def test_time_left_of_a_slurm_job_is_read_in_every_squeue_form():
    from mnist_sweep.cluster.deadline import JobDeadline, parse_time_left

    assert parse_time_left("1-02:03:04") == ((24 + 2) * 60 + 3) * 60 + 4
    assert parse_time_left("02:03:04") == 7384 and parse_time_left("03:04") == 184 and parse_time_left("45") == 45
    assert parse_time_left("UNLIMITED") is None and parse_time_left("INVALID") is None and parse_time_left("") is None
    outside = JobDeadline(job_id="")
    assert outside.seconds_left() is None and outside.allows(1e9)
    near = JobDeadline(job_id="")
    near.at = __import__("time").monotonic() + 100
    assert near.allows(40) and not near.allows(50)  # 1.5 x 50 s + 30 s margin > 100 s left


def test_an_injected_time_left_replaces_squeues_answer(monkeypatch):
    """MNIST_SWEEP_TIME_LEFT_SECONDS: the deadline tests and debugging give instead of waiting for SLURM's clock."""
    from mnist_sweep.cluster.deadline import INJECTED_TIME_LEFT, JobDeadline

    monkeypatch.setenv(INJECTED_TIME_LEFT, "100")
    injected = JobDeadline(job_id="")
    assert 99 < injected.seconds_left() <= 100 and injected.allows(40) and not injected.allows(50)
    monkeypatch.setenv(INJECTED_TIME_LEFT, "ten")
    with pytest.raises(SystemExit, match="MNIST_SWEEP_TIME_LEFT_SECONDS='ten' is not a number of seconds"):
        JobDeadline(job_id="")


def test_a_slurm_job_that_cannot_see_squeue_says_so_once(tmp_path, monkeypatch, capsys):
    """Inside a container without SLURM's commands a job cannot know its time limit: it says so once, in its
    log, for every pack it trains (a PATH holding no squeue, as such a container's)."""
    from mnist_sweep.cluster import deadline

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(deadline.INJECTED_TIME_LEFT, raising=False)
    monkeypatch.setattr(deadline, "_warned", set())
    first, second = deadline.JobDeadline(job_id="123"), deadline.JobDeadline(job_id="123")
    assert first.seconds_left() is None and second.allows(1e9)
    output = capsys.readouterr().out
    assert output.count("warning: SLURM job 123 cannot see squeue") == 1 and "Containers" in output
    deadline.JobDeadline(job_id="")  # not a SLURM job: nothing to say
    assert capsys.readouterr().out == ""


@slow
def test_a_run_stops_before_its_deadline_with_its_state_saved_and_resumes_to_a_straight_runs_numbers(
        tmp_path, mnist_5k_file, monkeypatch):
    """The job's time limit, injected (30 s left: no room for an epoch and the 30 s margin): the pack stops
    after its first epoch with exit code 143 (deadline.TimeLimitStop), every state saved; without the
    limit it resumes and ends with the numbers of a run that was never stopped."""
    from mnist_sweep.cluster.deadline import INJECTED_TIME_LEFT, TimeLimitStop

    settings = dict(epochs=3, hidden_units=[64])
    (straight,) = train_here(mnist_5k_file, tmp_path / "straight", seeds=[1], **settings)
    monkeypatch.setenv(INJECTED_TIME_LEFT, "30")
    with pytest.raises(TimeLimitStop) as stop:
        train_here(mnist_5k_file, tmp_path / "stopped" / "seed~{seed}", seeds=[1, 2], **settings)
    assert stop.value.code == 143
    for seed in (1, 2):
        run_dir = tmp_path / "stopped" / f"seed~{seed}"
        assert json.loads((run_dir / "resume" / "state.json").read_text())["epochs_done"] == 1
        assert "stopped before the job's time limit" in (run_dir / "train.log").read_text()
        assert not (run_dir / "metrics.json").exists()
    monkeypatch.delenv(INJECTED_TIME_LEFT)
    train_here(mnist_5k_file, tmp_path / "stopped" / "seed~{seed}", seeds=[1, 2], **settings)
    resumed = json.loads((tmp_path / "stopped" / "seed~1" / "metrics.json").read_text())
    assert resumed["resumed_from_epoch"] == 1
    resumed, straight = comparable(resumed), comparable(straight)
    assert resumed.pop("status") == straight.pop("status") == "completed"
    assert resumed == pytest.approx(straight, rel=1e-5)  # its first epoch trained in a pack of two


@slow
def test_a_second_trainer_of_the_same_run_waits_and_does_not_train_it_again(tmp_path, mnist_5k_file, capsys):
    """After a killed Snakemake, its training job lives on and a rerun starts another on the same run:
    the second waits for the first's lock and skips the run it finished."""
    args = train_args(mnist_5k_file, tmp_path / "run", seed=0, epochs=3, batch_size=16)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    first = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    for line in first.stdout:
        if " epoch 1/3: " in line:
            break
    capsys.readouterr()
    train_here(mnist_5k_file, tmp_path / "run", epochs=3, batch_size=16)  # the second trainer: this process
    first.communicate(timeout=300)
    second = capsys.readouterr().out
    assert first.returncode == 0
    assert "is being trained by host" in second and f"pid {first.pid}" in second
    assert "finished by the other trainer" in second
    log = (tmp_path / "run" / "train.log").read_text()
    assert log.count("done: status completed") == 1
    assert not (tmp_path / "run" / ".training.lock").exists()  # a finished run keeps no lock file


@slow
def test_a_job_given_several_gpus_trains_one_process_per_gpu_and_stops_as_one(tmp_path, mnist_5k_file):
    """CUDA_VISIBLE_DEVICES=0,1 (here without GPUs, so --allow-cpu): the pack's 3 runs train in two processes,
    one per GPU id, each run with the numbers it gets in one process. A SIGTERM to the job reaches both parts:
    every run's state is saved, the job exits 143 with one attempt logged, and the rerun resumes and finishes."""
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters

    base = dict(tutorial_hyperparameters(), hidden_units=[64, 32], epochs=4, batch_size=32)
    plan = tmp_path / "results" / "mnist_5k" / "packs" / "abc" / "plan.json"
    plan.parent.mkdir(parents=True)
    plan.write_text(json.dumps({"pack": "abc", "dataset": "mnist_5k", "runs": [
        {"run_id": f"point/seed~{seed}", "seed": seed, "hyperparameters": dict(base, dropout=0.1 * seed)}
        for seed in range(3)]}))
    done = plan.parent / "done.json"
    args = ["-m", "mnist_sweep.training.train", "--data", str(mnist_5k_file), "--pack", str(plan), "--threads", "2",
            "--done", str(done), "--allow-cpu"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), CUDA_VISIBLE_DEVICES="0,1")
    process = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    output, sent = [], False
    for line in process.stdout:
        output.append(line)
        if " epoch 1/4: " in line and not sent:
            process.send_signal(signal.SIGTERM)
            sent = True
    assert process.wait(timeout=300) == 143, "".join(output)
    text = "".join(output)
    assert "2 GPUs (0,1): one training process per GPU, 1 CPU thread(s) each" in text
    assert "[GPU 0] " in text and "[GPU 1] " in text and not done.exists()
    runs = [tmp_path / "results/mnist_5k/runs/point" / f"seed~{seed}" for seed in range(3)]
    assert all((run / "resume" / "state.json").exists() for run in runs), text

    resumed = run_python(*args, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(done.read_text())["pack"] == "abc"
    metrics = [json.loads((run / "metrics.json").read_text()) for run in runs]
    # Part 0 holds seeds 0 and 2, part 1 seed 1: each process sees only its own GPU id.
    assert [m["cuda_visible_devices"] for m in metrics] == ["0", "1", "0"]
    assert all(m["resumed_from_epoch"] for m in metrics)
    assert [m["pack_size"] for m in metrics] == [3, 3, 3]  # the job's runs: summarize shares its time among them
    attempts = pd.read_csv(plan.parent / "attempts.tsv", sep="\t")
    assert attempts["exit_code"].tolist() == [143, 0]  # the parts are not attempts of their own
    assert "[GPU 1] " in (plan.parent / "attempts.log").read_text()
    # The numbers of one process: seed 1 trained alone with the same settings.
    (alone,) = train_here(mnist_5k_file, tmp_path / "solo", seeds=[1], **dict(base, dropout=0.1))
    alone, in_part = comparable(alone), comparable(metrics[1])
    assert in_part.pop("status") == alone.pop("status") == "completed"
    assert in_part == pytest.approx(alone, rel=1e-5)
