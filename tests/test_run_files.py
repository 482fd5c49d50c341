"""The check of a finished run's files: what counts as finished, unfinished or damaged."""

import io
import json
import zipfile

import numpy as np
import pytest

from mnist_sweep.training.run_files import finished_runs, run_state, set_aside_damaged


def finished_run(run_dir, model=True, model_saved=None):
    run_dir.mkdir(parents=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, predicted=np.zeros(100, "uint8"))
    (run_dir / "predictions.npz").write_bytes(buffer.getvalue())
    (run_dir / "history.tsv").write_text("epoch\tloss\n1\t0.5\n")
    if model:
        with zipfile.ZipFile(run_dir / "model.keras", "w") as archive:
            archive.writestr("model.weights.h5", b"x" * 5000)
    metrics = {"status": "completed", "test_accuracy": 0.9}
    if model_saved is not None:
        metrics["model_saved"] = model_saved
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage, problem", [
    (lambda run: truncate(run / "metrics.json"), "metrics.json is not a complete metrics file"),
    (lambda run: (run / "metrics.json").write_text('{"test_accuracy": 0.9}'), "no status"),
    (lambda run: (run / "metrics.json").write_bytes(b"\xff\xfe"), "metrics.json"),
    (lambda run: (run / "history.tsv").unlink(), "history.tsv is missing"),
    (lambda run: (run / "predictions.npz").unlink(), "predictions.npz is missing"),
    (lambda run: truncate(run / "predictions.npz"), "predictions.npz is truncated"),
    (lambda run: truncate(run / "model.keras"), "model.keras is truncated"),
])
def test_each_damaged_file_is_named(tmp_path, damage, problem):
    run = finished_run(tmp_path / "run")
    assert run_state(run) == ("finished", None)
    damage(run)
    state, found = run_state(run)
    assert state == "damaged" and problem in found
    aside = set_aside_damaged(run)
    assert aside.parent == run and run_state(run) == ("unfinished", None)
    assert (aside / "metrics.json").exists()  # kept for a look, not deleted


def test_unfinished_and_model_less_runs(tmp_path):
    assert run_state(tmp_path / "never") == ("unfinished", None)
    assert run_state(finished_run(tmp_path / "no-model", model=False)) == ("finished", None)  # models: none
    runs = [{"run_id": "a"}, {"run_id": "b"}, {"run_id": "c"}]
    finished_run(tmp_path / "runs" / "a")
    truncate(finished_run(tmp_path / "runs" / "b") / "predictions.npz")
    finished, damaged = finished_runs(tmp_path, runs)
    assert finished == {"a"} and set(damaged) == {"b"}


def test_a_saved_model_that_is_gone_is_a_damaged_run_and_a_run_without_one_is_finished(tmp_path):
    """metrics.json's model_saved: a run that saved model.keras needs it; one of a sweep with models: none (or
    from before the key) has none, and another sweep reuses it as it is."""
    saved = finished_run(tmp_path / "saved", model_saved=True)
    assert run_state(saved) == ("finished", None)
    (saved / "model.keras").unlink()
    assert run_state(saved) == ("damaged", "model.keras is missing")
    assert run_state(finished_run(tmp_path / "none", model=False, model_saved=False)) == ("finished", None)


def test_a_rungs_inputs_ask_each_run_for_the_files_it_has(tmp_path):
    """rung_inputs (what summarize waits for; every_run: the with_runs target): a finished run is asked for its
    files, model.keras only where it saved one (a run shared from a sweep without models is not trained again for
    it); a run its pack's job has yet to train is that job's done.json; a run with a lost file is asked for its
    files (so train_run trains it again), every_run or not."""
    from mnist_sweep.planning.rungs import rung_inputs

    results = tmp_path / "results"
    with_model = finished_run(results / "runs" / "a", model_saved=True)
    without_model = finished_run(results / "runs" / "b", model=False, model_saved=False)
    lost = finished_run(results / "runs" / "d", model_saved=True)
    (lost / "history.tsv").unlink()
    plan = tmp_path / "rung-0.json"
    plan.write_text(json.dumps({"runs": ["a", "b", "c", "d"], "packs": ["p0", "p1"], "packs_to_train": ["p1"],
                                "run_packs": {"a": "p0", "b": None, "c": "p1", "d": "p0"}}))
    (results / "packs" / "p0").mkdir(parents=True)
    (results / "packs" / "p0" / "done.json").write_text("{}")
    files = lambda run, *names: [str(run / name) for name in names]  # noqa: E731
    four = ("metrics.json", "history.tsv", "predictions.npz", "model.keras")
    base = [str(plan), str(results / "packs" / "p0" / "done.json"), str(results / "packs" / "p1" / "done.json")]
    assert rung_inputs(plan, results) == base + files(lost, *four)
    assert rung_inputs(plan, results, with_model=False) == base + files(lost, *four[:3])
    every_run = base + files(with_model, *four) + files(without_model, *four[:3]) + files(lost, *four)
    assert rung_inputs(plan, results, every_run=True) == every_run
