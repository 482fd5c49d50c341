"""The one training loop: a pack of runs, epoch by epoch, each run resumable and written on its own.

Every model trains through here: the MLP as one vectorized model (packed.PackedMLP), the
convnet as Keras models side by side (packed.KerasReplicas). Each run's state is saved in its
own run directory (mnist_sweep.training.resume) when the job stops (SIGTERM: SLURM's warning before a
time limit or preemption; its own deadline) and every checkpoint_minutes of training, so a
stopped run continues from the epoch it stopped after, and one killed outright from its last
save, when rerun, in whatever pack it lands. A run whose loss
becomes NaN or infinite is recorded as diverged; the others go on.

Determinism: initial weights, data order and dropout masks of a run come from its seed
alone and op determinism is on, so a resumed run ends with the same numbers as an
uninterrupted one (on CPU), and a run's numbers do not depend on its pack.
"""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

from mnist_sweep.cluster.deadline import JobDeadline, TimeLimitStop
from mnist_sweep.config.architecture import shape_key
from mnist_sweep.training.resume import RunResume
from mnist_sweep.training.run_files import HISTORY_COLUMNS, finite_or_none, replica_scores, run_state, set_aside_damaged, write_run_files
from mnist_sweep.training.run_lock import RunLock
from mnist_sweep.cluster.signals import EXIT_PREEMPTED, StopRequested


def _fmt(value) -> str:
    return "nan" if value is None else f"{value:.4f}"


class RunLog:
    """A run's own train.log (appended to: a resumed run keeps its earlier lines)."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / "train.log"

    def write(self, line: str) -> None:
        with open(self.path, "a") as f:
            f.write(line + "\n")


def train_pack(data_file, runs: list[dict], dataset: str, threads: int = 2, validation_split: float = 0.1,
               stop: StopRequested | None = None, pack: str | None = None, pack_dir: str | None = None,
               allow_cpu: bool = False, save_models: bool = True, checkpoint_minutes: float = 10.0,
               pack_size: int | None = None, time_limit_minutes: float | None = None) -> list[dict]:
    """Train runs ({run_dir, seed, hyperparameters}) that are not finished yet; return their metrics.

    A finished run (run_files.run_state) is not trained again; a damaged one is, its files set
    aside. A run another trainer holds is waited for (mnist_sweep.training.run_lock). Raises
    SystemExit(143) when stopped by a signal. pack_size: the runs of the whole job (recorded in
    metrics.json; summarize shares the job's time among them), when these are one GPU's part of it.
    time_limit_minutes: the SLURM job's time limit, for where squeue cannot tell (mnist_sweep.cluster.deadline).
    """
    stop = stop if stop is not None else StopRequested()
    runs = [dict(run, run_dir=Path(run["run_dir"])) for run in runs]
    context = {"deadline": JobDeadline(time_limit_minutes=time_limit_minutes), "data_file": data_file,
               "dataset": dataset, "threads": threads, "validation_split": validation_split, "stop": stop, "pack": pack, "pack_dir": pack_dir,
               "pack_size": pack_size or len(runs), "allow_cpu": allow_cpu, "save_models": save_models, "inputs": {},
               "checkpoint_seconds": 60 * checkpoint_minutes}
    results, ours, waiting = [], [], []
    for run in runs:
        run["lock"] = RunLock(run["run_dir"])
        if not run["lock"].try_acquire():
            waiting.append(run)
        elif _finished(run["run_dir"]):  # checked under the lock: a trainer may just have ended
            print(f"{run['run_dir']}: finished before (metrics.json exists), not training it again", flush=True)
            run["lock"].release()
        else:
            ours.append(run)
    try:
        results += _train_groups(ours, context)
    finally:
        for run in ours:
            run["lock"].release()
    for run in waiting:  # held by another trainer: wait, then train only what it left unfinished
        run["lock"].acquire()
        try:
            if _finished(run["run_dir"]):
                print(f"{run['run_dir']}: finished by the other trainer", flush=True)
            else:
                results += _train_groups([run], context)
        finally:
            run["lock"].release()
    return results


def _finished(run_dir: Path) -> bool:
    """Whether a run is finished; a damaged one (run_files.run_state) has its files set aside and is retrained."""
    state, problem = run_state(run_dir)
    if state == "damaged":
        aside = set_aside_damaged(run_dir)
        message = f"{run_dir}: {problem}; its files are set aside in {aside.name}/ and the run is trained again"
        RunLog(run_dir).write(message)
        print(message, flush=True)
    return state == "finished"


def _train_groups(runs: list[dict], context: dict) -> list[dict]:
    """Runs that share a shape and a resume point train as one pack; groups one after another."""
    groups: dict[tuple, list] = {}
    for run in runs:
        state = RunResume(run["run_dir"]).load()
        if state is None and run.get("continue_from"):
            state = _continued_state(run)
        key = (shape_key(run["hyperparameters"]), state["epochs_done"] if state else 0)
        groups.setdefault(key, []).append((run, state))
    results = []
    for members in groups.values():
        results += _train_group([run for run, _ in members], [state for _, state in members], context)
    return results


def _continued_state(run: dict) -> dict | None:
    """The kept state of the run this one continues (a search's rung before), or None: then it trains from
    the first epoch, to the same numbers (the state is gone, or that run was trained without keeping it)."""
    source = Path(run["continue_from"])
    state = RunResume(source, "state").load() if (source / "state").exists() else None
    log = RunLog(run["run_dir"])
    run["run_dir"].mkdir(parents=True, exist_ok=True)
    if state is None or state["epochs_done"] >= run["hyperparameters"]["epochs"]:
        log.write(f"no saved state of {source} to continue: training from the first epoch")
        return None
    log.write(f"continuing {source} (its state after epoch {state['epochs_done']})")
    return state


def _inputs(context: dict, model_name: str) -> dict:
    if model_name not in context["inputs"]:
        from mnist_sweep.data import load_prepared
        from mnist_sweep.training.inputs import prepare_inputs

        context["inputs"][model_name] = prepare_inputs(load_prepared(context["data_file"]), model_name,
                                                       context["validation_split"])
    return context["inputs"][model_name]


def _train_group(runs: list[dict], states: list, context: dict) -> list[dict]:
    from mnist_sweep.training.packed import build_pack
    from mnist_sweep.training.tensorflow_setup import configure_tensorflow

    started = datetime.datetime.now(datetime.timezone.utc)
    device = configure_tensorflow(context["threads"], context["allow_cpu"])
    hp = runs[0]["hyperparameters"]
    inputs = _inputs(context, hp["model"])
    n_fit = len(inputs["x_fit"])
    model = build_pack(runs)
    model.bind_data(inputs["x_fit"], inputs["y_fit"])
    logs = [RunLog(run["run_dir"]) for run in runs]
    resumes = [RunResume(run["run_dir"]) for run in runs]
    histories, seconds_so_far, step, resumed_from = [[] for _ in runs], [0.0] * len(runs), 0, None
    if states[0] is not None:
        try:
            model.load_replica_states([state["arrays"] for state in states])
            # Copies: the states' own histories must keep their length (the throughput counts the epochs since).
            histories = [list(state["history"]) for state in states]
            seconds_so_far = [state["training_seconds"] for state in states]
            step, resumed_from = states[0]["step"], states[0]["epochs_done"]
        except (KeyError, ValueError) as error:  # a state of another layout: start over
            print(f"saved states could not be loaded ({error}): training from the start", flush=True)
            states = [None] * len(runs)  # nothing was resumed (the throughput counts every epoch)
            model = build_pack(runs)
            model.bind_data(inputs["x_fit"], inputs["y_fit"])
    names = [str(run["run_dir"]) for run in runs]
    print(f"{context['dataset']}: {len(runs)} run(s) as one packed {hp['model']} on {device} "
          f"({context['threads']} CPU thread(s)), {n_fit} training "
          f"images" + (f", resuming after epoch {resumed_from}" if resumed_from else ""), flush=True)
    for run, log in zip(runs, logs):
        log.write(f"run {run['run_dir']}: {context['dataset']}, seed {run['seed']}, {json.dumps(run['hyperparameters'])}; "
                  f"{n_fit} training images, device {device}; pack {context['pack'] or '-'} ({len(runs)} run(s))"
                  + (f"; resuming from the state after epoch {resumed_from}" if resumed_from else ""))
    diverged = [False] * len(runs)
    epochs, training_seconds, last_saved = hp["epochs"], 0.0, time.monotonic()
    stop = context["stop"]
    for epoch in range(len(histories[0]), epochs):
        tick = time.perf_counter()
        loss, accuracy, step = model.train_epoch(epoch, hp["batch_size"], step)
        if inputs["x_validation"] is not None:
            val_loss, val_accuracy = replica_scores(model.predict(inputs["x_validation"]), inputs["labels_validation"])
        else:
            val_loss = val_accuracy = [None] * len(runs)
        seconds = time.perf_counter() - tick
        training_seconds += seconds
        for index, (name, log) in enumerate(zip(names, logs)):
            if diverged[index]:
                continue
            row = dict(zip(HISTORY_COLUMNS, [epoch + 1, finite_or_none(loss[index]), finite_or_none(accuracy[index]),
                                             None if val_loss[index] is None else finite_or_none(val_loss[index]),
                                             None if val_accuracy[index] is None else float(val_accuracy[index]),
                                             round(seconds, 3)]))
            if row["loss"] is None:  # diverged in this epoch: its accuracies and validation come from NaN outputs
                row.update(accuracy=None, val_loss=None, val_accuracy=None)
            histories[index].append(row)
            line = (f"epoch {epoch + 1}/{epochs}: loss {_fmt(row['loss'])} accuracy {_fmt(row['accuracy'])} "
                    f"val_loss {_fmt(row['val_loss'])} val_accuracy {_fmt(row['val_accuracy'])} "
                    f"({seconds:.1f} s for {len(runs)} run(s))")
            log.write(line)
            print(f"{name} {line}", flush=True)
            if row["loss"] is None:
                diverged[index] = True
                message = f"loss is not finite in epoch {epoch + 1}: run diverged, its training stopped"
                log.write(message)
                print(f"{name}: {message}", flush=True)
        if all(diverged):
            break
        if epoch + 1 < epochs:
            reason = f"stopped by {stop.signal_name}" if stop else None
            time_limit = not reason and not context["deadline"].allows(seconds)
            if time_limit:
                reason = (f"stopped before the job's time limit ({context['deadline'].seconds_left():.0f} s left, "
                          f"an epoch takes {seconds:.1f} s)")
            # States are saved when the job stops, and every checkpoint_minutes of training in case it is
            # killed outright (then it resumes from the last save): not after every epoch, which would
            # write the whole pack each time (8 MB per tutorial run).
            if reason or time.monotonic() - last_saved >= context["checkpoint_seconds"]:
                replica_states = model.replica_states()
                for index, resume in enumerate(resumes):
                    if not diverged[index]:
                        resume.save(replica_states[index], epoch + 1, histories[index], step,
                                    seconds_so_far[index] + training_seconds)
                last_saved = time.monotonic()
            if reason:
                message = f"{reason} after epoch {epoch + 1}; state saved, rerun to resume"
                for log in logs:
                    log.write(message)
                print(message, flush=True)
                raise TimeLimitStop() if time_limit else SystemExit(EXIT_PREEMPTED)

    probabilities = model.predict(inputs["x_test"])
    # A search's run that a later rung may continue keeps its last state (mnist_sweep.planning.rungs).
    kept = [index for index, run in enumerate(runs) if run.get("keep_state") and not diverged[index]]
    final_states = model.replica_states() if kept else []
    for index in kept:
        RunResume(runs[index]["run_dir"], "state").save(final_states[index], len(histories[index]), histories[index],
                                                        step, seconds_so_far[index] + training_seconds)
    results = []
    # Training throughput of this process: images of every run of the pack per second.
    trained_epochs = sum(len(history) - len(state["history"] if state else []) for history, state in
                         zip(histories, states))
    samples_per_second = round(n_fit * trained_epochs / training_seconds, 1) if training_seconds else None
    models = model.replica_models([run["hyperparameters"] for run in runs])
    for index, (run, replica_model) in enumerate(zip(runs, models)):
        status = "diverged" if diverged[index] else "completed"
        metrics = write_run_files(run["run_dir"], replica_model,
                                  histories[index], probabilities[index], inputs, status, {
                                      "dataset": context["dataset"], "hyperparameters": run["hyperparameters"],
                                      "seed": run["seed"], "training_seconds": seconds_so_far[index] + training_seconds,
                                      "samples_per_second": samples_per_second, "resumed_from": resumed_from, "device": device,
                                      "started": started, "pack": context["pack"], "pack_dir": context["pack_dir"],
                                      "pack_size": context["pack_size"]},
                                  save_model=context["save_models"])
        resumes[index].clear()
        if run.get("drop_source_state") and run.get("continue_from"):  # spent (search keep_states: survivors)
            RunResume(run["continue_from"], "state").clear()
        message = f"done: status {status}, test_accuracy {metrics['test_accuracy']}, test_loss {metrics['test_loss']}"
        logs[index].write(message)
        print(f"{names[index]} {message}", flush=True)
        results.append(metrics)
    return results
