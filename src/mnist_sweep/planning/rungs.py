"""The one planning path: which runs a rung trains, and its packs. A grid is a sweep of one rung (every
run of the grid); a search is successive halving, rung by rung.

A point's score is its mean validation accuracy over seeds (never test), a diverged seed counting
as 0 (mnist_sweep.analysis.search_tables.point_score), so a point that diverges ranks below one
that does not; equal scores go to the earlier sample.

A run that a later rung may continue keeps the state after its last epoch in <run dir>/state/
(8 MB for the tutorial MLP: weights and Adam's moments); the next rung's run of the same seed
starts from it (its plan says continue_from) and trains only the epochs beyond, so its numbers
are those of a straight run. Without that state (e.g. the run came from a grid sweep) it trains
from the first epoch, to the same numbers. States stay (a later search with more trials may
promote other points) unless keep_states is survivors: then a rung's plan deletes the states of
the points it stops, and a continued run, once finished, the state it continued (its plan says
drop_source_state), so a 10,000-point search holds at most two rungs' states, not every run's.

Each rung is planned by the workflow's checkpoint `plan` (a search's when the rung before it has
finished): results/<dataset>/sweeps/<sweep>/plan/rung-<k>.json lists its points, runs and packs. Nothing
is planned while Snakemake reads the Snakefile: what a rung trains depends on results.

The checkpoint's job is `python -m mnist_sweep.planning.rungs` (main, below): a process of its own
that imports only this package, not a second Snakemake (a `run:` block is run by a new Snakemake
process that reads the whole workflow again: 3-4 s per rung).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from mnist_sweep.analysis.scores import point_score, validation_by_seed
from mnist_sweep.config.hyperparameters import HYPERPARAMETERS
from mnist_sweep.config.search_space import confirm_seeds, points_per_rung, run_id, rungs
from mnist_sweep.config.sweeps import rung_plan_path, run_folder, stored_pack_folder, stored_packs_folder
from mnist_sweep.config.validation import sweep_runs
from mnist_sweep.io import write_json, write_text
from mnist_sweep.planning.disk import disk_note, grid_bytes, search_bytes
from mnist_sweep.planning.packs import PackBook
from mnist_sweep.planning.points import sample_points
from mnist_sweep.training.resume import RunResume
from mnist_sweep.training.run_files import finished_runs, run_state


def select(points: list[dict], scores: dict, keep: int) -> list[dict]:
    """The best `keep` points by score, equal scores to the earlier sample (points are in sample order)."""
    order = sorted(range(len(points)), key=lambda index: (-scores[points[index]["point"]], index))
    return [points[index] for index in sorted(order[:keep])]


def rung_runs(config: dict, rung: int, points: list[dict]) -> list[dict]:
    """The runs of a rung (dicts for packs.PackBook): each continues the same seed's run of the rung before,
    and keeps its last state when a later rung may continue it."""
    epochs = rungs(config)
    runs = []
    for point in points:
        for seed in config["seeds"]:
            run = {"run_id": run_id(point, epochs[rung], seed), "seed": seed,
                   "hyperparameters": dict(point["hyperparameters"], epochs=epochs[rung])}
            if rung > 0:
                run["continue_from"] = run_id(point, epochs[rung - 1], seed)
                # keep_states survivors: the state it continues is spent once this run has finished.
                run["drop_source_state"] = config["search"]["keep_states"] == "survivors"
            if rung < len(epochs) - 1:
                run["keep_state"] = True
            runs.append(run)
    return runs


def plan_rung(config: dict, rung: int, results, sweep_dir, slots: int = 1, gpus: int = 1,
              gpu_memory_gb: float | None = None, runs_in_packs: bool = False) -> dict:
    """Plan rung `rung` (the checkpoint's job): a grid's one rung (every run of the grid), or a search's rung
    (its points chosen from the rung before; rung len(rungs) is the confirmation). Packs the unfinished runs
    (packs.PackBook, so a rerun finds the same packs and adding seeds packs only the new runs) and writes the
    packs' plans. Refuses (SystemExit) before writing anything when results_dir has too little free disk for
    what is to train. Returns what rung-<k>.json records.

    runs_in_packs: the sweep keeps its results in a storage plugin's storage (no shared file system; the
    workflow's --default-storage-provider). This job sees none of it, so it plans every run of the rung; a rerun
    trains nothing all the same, since Snakemake finds the packs' folders in storage. Each pack's runs are listed
    in the rung plan (pack_runs; its job reads them there, a declared input) and stored in its folder, under the
    sweep (pack_folder; mnist_sweep.config.sweeps.run_folder): sweeps do not share runs there. No run continues
    a state kept by another pack's job (a later rung trains from the first epoch, to the same numbers): only
    declared files travel."""
    dropped = 0
    if not config["search"]:
        epochs, points, scores, seeds = None, [], {}, config["seeds"]
        runs = sweep_runs(config)
    else:
        epochs, points, scores, seeds, runs, dropped = search_rung(config, rung, results, sweep_dir)
    if runs_in_packs:
        runs = [{key: value for key, value in run.items() if key not in STATE_KEYS} for run in runs]
        finished, damaged = set(), {}
        book = PackBook(results, read_plans=False)
    else:
        finished, damaged = finished_runs(results, runs)
        book = PackBook(results)
        check_disk(config, rung, points, [run for run in runs if run["run_id"] not in finished])
    where, new = book.assign(runs, finished, config["dataset"], config["job_minutes"], config["pack_size"], slots,
                             gpus, gpu_memory_gb)
    damaged_plans = dict(book.damaged)
    book.set_aside_damaged_plans()
    if not runs_in_packs:
        book.write_plans(new, config["dataset"])
    packs = sorted({pack for pack in where.values() if pack})
    return {"rung": rung, "epochs": epochs, "confirmation": bool(config["search"]) and rung == len(rungs(config)),
            "seeds": seeds, "points": points, "scores_before": scores,
            "runs": [run["run_id"] for run in runs], "finished_before": len(finished),
            "packs": packs, "packs_to_train": [pack for pack in packs if pack not in book.done],
            "run_packs": where, "damaged_runs": damaged, "damaged_plans": damaged_plans,
            "states_dropped": dropped, "planned_for": plan_config(config),
            # What the packs were cut for: training jobs at once here, a cluster job's GPUs and their memory.
            "made_for": {"slots": slots, "gpus_per_job": gpus, "gpu_memory_gb": gpu_memory_gb},
            **({"runs_in_packs": True, "pack_folder": stored_packs_folder(config["sweep"], rung), "pack_runs": new}
               if runs_in_packs else {})}


# What a run of a search carries to continue a state kept by the rung before, or for the rung after.
STATE_KEYS = ("continue_from", "keep_state", "drop_source_state")


def search_rung(config: dict, rung: int, results, sweep_dir) -> tuple:
    """(epochs, points, scores of the rung before, seeds, runs, states dropped) of a search's rung."""
    epochs = rungs(config)
    dropped = 0
    if rung == 0:
        points, scores = sample_points(config), {}
    else:
        before = json.loads(rung_plan_path(sweep_dir, rung - 1).read_text())
        previous = before["points"]
        scores = {point["point"]: point_score(results, point, before["epochs"], before["seeds"], before)
                  for point in previous}
        if rung < len(epochs):
            # Rung 0's plan lists every sampled point: no need to sample again (importing scipy.stats takes 1.3 s).
            sampled = len(json.loads(rung_plan_path(sweep_dir, 0).read_text())["points"])
            points = select(previous, scores, points_per_rung(config, sampled)[rung])
            if config["search"]["keep_states"] == "survivors":
                chosen = {point["point"] for point in points}
                dropped = drop_states(results, [run_id(point, before["epochs"], seed) for point in previous
                                                if point["point"] not in chosen for seed in before["seeds"]])
        else:
            points = confirmed_points(results, previous, before["epochs"], before["seeds"], scores, before)
    if rung < len(epochs):
        return epochs[rung], points, scores, config["seeds"], rung_runs(config, rung, points), dropped
    # The confirmation: the same points at the last rung's epochs, new seeds, trained from the start.
    seeds = confirm_seeds(config)
    runs = [{"run_id": run_id(point, epochs[-1], seed), "seed": seed,
             "hyperparameters": dict(point["hyperparameters"], epochs=epochs[-1])}
            for point in points for seed in seeds]
    return epochs[-1], points, scores, seeds, runs, dropped


def check_disk(config: dict, rung: int, points: list[dict], to_train: list[dict]) -> None:
    """Stop the plan, before it writes anything, when results_dir has less free space than the runs to train
    need (a search's first rung: the whole search at most). Later rungs were counted by the first."""
    if config["search"] and rung > 0:
        return
    needed = search_bytes(config, points) if config["search"] else grid_bytes(to_train, config)
    _, problem = disk_note(config["results_dir"], needed)
    if problem:
        raise SystemExit(f"error: {problem}. Nothing was trained.")


def drop_states(results, run_ids: list[str]) -> int:
    """Delete the kept state/ of these runs (keep_states survivors: points stopped at their rung); how many."""
    dropped = 0
    for run in run_ids:
        state = RunResume(run_folder(results, run), "state")
        if state.folder.exists():
            state.clear()
            dropped += 1
    return dropped


def rung_plan_files(sweep_dir) -> list[Path]:
    """The rung plans written so far: plan/rung-<k>.json."""
    return sorted(path for path in rung_plan_path(sweep_dir, 0).parent.glob("rung-*.json")
                  if re.fullmatch(r"rung-\d+\.json", path.name))


def planned_rungs(sweep_dir, config: dict) -> list[int]:
    """The rungs planned for this config so far (the start line's progress), read only: a plan that cannot be
    read, or one for another config (the checkpoint plans it again), does not count."""
    wanted, current = plan_config(config), []
    for path in rung_plan_files(sweep_dir):
        try:
            if json.loads(path.read_text()).get("planned_for") == wanted:
                current.append(int(path.stem.split("-")[1]))
        except (OSError, ValueError, AttributeError):
            continue
    return sorted(current)


def planned_so_far(config: dict, planned: list[int]) -> str:
    """The start line's progress: rungs and the confirmation counted apart ('1 of 3 rung(s) planned so far,
    the confirmation not yet')."""
    count = len(rungs(config))
    text = f"{sum(rung < count for rung in planned)} of {count} rung(s) planned so far"
    if config["search"]["confirm_seeds"]:
        text += ", and the confirmation" if count in planned else ", the confirmation not yet"
    return text


def read_rung_plan(path) -> dict:
    """A rung plan, or SystemExit naming the file and what to do when it cannot be read."""
    try:
        plan = json.loads(Path(path).read_text())
        if isinstance(plan, dict) and {"runs", "packs"} <= plan.keys():
            return plan
        problem = "not a rung plan: no runs and packs"
    except (OSError, ValueError) as error:
        problem = f"{type(error).__name__}: {error}"
    raise SystemExit(f"error: {path} cannot be read ({problem}). Delete it and run the same command again: the "
                     "rung is planned again from the results (nothing finished is trained again).")


def rung_inputs(path, results, with_model: bool = True, declared=None, every_run: bool = False) -> list[str]:
    """What a rung's results are, for the steps that wait on them: its plan, the done.json of its packs, and the
    files of each run that a finished pack (or none) trained but is now missing a file or was trained alone
    since (the workflow's train_run rule declares them, so Snakemake trains such a run again: it reruns a job
    when a file asked of it is missing, not another of its files). A run whose files are there but damaged
    (truncated, edited) stops the sweep here, named, with what to do. with_model: runs keep model.keras.
    every_run: also the files of every other run not left to a pack's job of this invocation (the workflow's
    `with_runs` target, for Snakemake's own tools to see each run: workflow/rules/train.smk).

    path: the plan as this process reads it; declared: as the workflow names it (where storage is used, path is
    its local copy, and what is returned must name files in storage). A plan with runs_in_packs (storage): the
    plan and its packs' folders, which hold their runs; this process cannot look into them."""
    plan = read_rung_plan(path)
    declared = str(declared or path)
    if plan.get("runs_in_packs"):
        return [declared] + [str(stored_pack_folder(results, plan, pack)) for pack in plan["packs"]]
    book = PackBook(results, read_plans=False)
    done = {pack: book.done_path(pack) for pack in plan["packs"]}
    inputs = [declared] + [str(done_path) for done_path in done.values()]
    # Packs whose job has yet to train their runs: each done.json looked at once, not once per run.
    training = {pack for pack in plan.get("packs_to_train", []) if not done[pack].exists()}
    for run, pack in plan.get("run_packs", {}).items():
        if pack in training:
            continue  # its pack's job trains it
        run_dir = run_folder(results, run)
        state, problem = run_state(run_dir)
        if state == "damaged" and not problem.endswith("is missing"):
            raise SystemExit(f"error: {run_dir}: {problem}. Delete that file and run the same command again: the "
                             "run is trained again (alone); nothing else is.")
        if every_run or state != "finished" or (run_dir / TRAINED_ALONE_LOG).exists():
            # A finished run has a model.keras where it saved one: a run shared from a sweep without models is
            # asked for the files it has, not trained again for the one it never had.
            model = (run_dir / "model.keras").exists() if state == "finished" else with_model
            inputs += [str(run_dir / name) for name in run_file_names(model)]
    return inputs


def run_file_names(with_model: bool = True) -> list[str]:
    """The files of a finished run that the workflow declares (train_run's outputs)."""
    return ["metrics.json", "history.tsv", "predictions.npz"] + (["model.keras"] if with_model else [])


# The log of the workflow's train_run job in the run's directory: the run was trained alone (a file of it was
# missing after its pack had finished, or it was asked for by path), so its files are that job's outputs.
TRAINED_ALONE_LOG = "train_run.log"


def write_rung_plan(config: dict, rung: int, out, log, slots: int = 1, gpus: int = 1,
                    gpu_memory_gb: float | None = None, runs_in_packs: bool = False) -> None:
    """The checkpoint's job: plan a rung, write rung-<k>.json (out: .../sweeps/<sweep>/plan/rung-<k>.json)
    and say what it planned, on the console and in its log."""
    sweep_dir = Path(out).parents[1]
    results = sweep_dir.parents[1]
    plan = plan_rung(config, rung, results, sweep_dir, slots, gpus, gpu_memory_gb, runs_in_packs)
    write_json(out, plan)
    to_train = len(plan["runs"]) - plan["finished_before"]
    if not config["search"]:
        lines = [f"mnist-sweep {config['sweep']}: {len(plan['runs']):,} runs; {plan['finished_before']:,} finished, "
                 f"{to_train:,} to train in {len(plan['packs_to_train']):,} job(s)"]
        if runs_in_packs:
            lines[0] = (f"mnist-sweep {config['sweep']}: {len(plan['runs']):,} runs in {len(plan['packs']):,} "
                        "pack(s), each trained unless storage holds its folder")
    else:
        what = "confirmation" if plan["confirmation"] else f"rung {plan['rung']} ({plan['epochs']} epochs)"
        lines = [f"search {what}: {len(plan['points'])} point(s), {len(plan['runs'])} run(s), "
                 f"{plan['finished_before']} finished before, in {len(plan['packs'])} pack(s)"
                 + (f"; the saved states of {plan['states_dropped']} stopped run(s) deleted"
                    if plan["states_dropped"] else ""),
                 *promotion_lines(config, plan)]
    lines += damage_lines(results, plan)
    write_text(log, "\n".join(lines) + "\n")
    print("\n".join(lines), file=sys.stderr, flush=True)


# How many damaged runs the plan names one by one (the rest are counted).
NAMED_DAMAGED = 5


def damage_lines(results, plan: dict) -> list[str]:
    """A warning per damaged run (the first NAMED_DAMAGED) and per unreadable pack plan: planned again."""
    damaged = plan["damaged_runs"]
    lines = [f"warning: {Path(results, 'runs', run)}: {problem}; it will be trained again (its files set aside in "
             "damaged-<time>/)" for run, problem in list(damaged.items())[:NAMED_DAMAGED]]
    if len(damaged) > NAMED_DAMAGED:
        lines.append(f"warning: {len(damaged) - NAMED_DAMAGED} more damaged run(s)")
    lines += [f"warning: {path} cannot be read ({problem}); its unfinished runs are planned again (the file is "
              "kept as plan.damaged.json)" for path, problem in plan["damaged_plans"].items()]
    return lines


# How many points a rung's lines name on each side (the rest are in rung-<k>.json).
NAMED_POINTS = 3


def promotion_lines(config: dict, plan: dict) -> list[str]:
    """Which points of the rung before go on and which stop, with their scores (mean validation accuracy over
    seeds, a diverged seed as 0): the best NAMED_POINTS of each side."""
    scores = plan["scores_before"]
    if not scores:
        return []
    names = [name for name in HYPERPARAMETERS if name in config["search"]["space"]]  # in run-path order

    def named(point_ids):
        ranked = sorted(point_ids, key=lambda point: -scores[point])
        shown = [f"{searched_values(point, names)} {scores[point]:.4f}" for point in ranked[:NAMED_POINTS]]
        more = f", and {len(ranked) - NAMED_POINTS} more (rung-{plan['rung']}.json)" if len(ranked) > NAMED_POINTS else ""
        return "; ".join(shown) + more

    going = [point["point"] for point in plan["points"]]
    going_on = set(going)  # once: a 10,000-point rung would build it 10,000 times in the comprehension
    stopping = [point for point in scores if point not in going_on]
    verb = "confirmed" if plan["confirmation"] else "go on"
    lines = [f"  {verb}: {named(going)}"]
    if stopping:
        lines.append(f"  {'not confirmed' if plan['confirmation'] else 'stop'}: {named(stopping)}")
    return lines


def searched_values(point: str, names: list[str]) -> str:
    """A point's searched values, from its id (name~value/...): 'learning_rate=0.001956, dropout=0.3497'."""
    values = dict(part.split("~", 1) for part in point.split("/"))
    return ", ".join(f"{name}={values[name]}" for name in names if name in values) or point


def confirmed_points(results, points: list[dict], epochs: int, seeds, scores: dict, plan: dict) -> list[dict]:
    """The winner of the last rung and every point tied with it on validation (paired by seed, the
    comparison of mnist_sweep.analysis.compare: not worse beyond seed noise)."""
    # Here, not at the top: compare imports scipy.stats (1.3 s), which only the confirmation needs.
    from mnist_sweep.analysis.compare import paired_difference

    winner = select(points, scores, 1)[0]
    reference = validation_by_seed(results, winner, epochs, seeds, plan)
    return [point for point in points if point is winner
            or paired_difference(validation_by_seed(results, point, epochs, seeds, plan), reference)["verdict"]
            != "worse"]


# The keys of the config that a rung's plan reads: the checkpoint's params (a change of one of
# them plans the rungs again; finished runs are kept) and what main gets.
PLAN_KEYS = ("sweep", "dataset", "results_dir", "models", "seeds", "grid", "search", "job_minutes",
             "pack_size")


def plan_config(config: dict) -> str:
    """PLAN_KEYS of the config as JSON: the checkpoint's command-line argument."""
    return json.dumps({key: config[key] for key in PLAN_KEYS}, sort_keys=True)


def main(argv=None) -> None:
    """The checkpoint `plan`: plan one rung (write_rung_plan)."""
    parser = argparse.ArgumentParser(prog="python -m mnist_sweep.planning.rungs", description=main.__doc__)
    parser.add_argument("--config", required=True, help="plan_config(config): JSON of the validated config's PLAN_KEYS")
    parser.add_argument("--rung", required=True, type=int)
    parser.add_argument("--out", required=True, help=".../sweeps/<sweep>/plan/rung-<k>.json")
    parser.add_argument("--log", required=True)
    parser.add_argument("--slots", type=int, default=1, help="training jobs that can run at once here")
    parser.add_argument("--gpus-per-job", type=int, default=1, help="GPUs of each cluster job (packs.plan_packs)")
    parser.add_argument("--gpu-memory-gb", type=float, default=0,
                        help="memory of a cluster job's GPU (config/slurm.yaml gpu_memory_gb); 0 = packs not sized for GPUs")
    parser.add_argument("--runs-in-packs", action="store_true",
                        help="the results are in a storage plugin's storage: each pack's runs in its folder (plan_rung)")
    args = parser.parse_args(argv)
    write_rung_plan(json.loads(args.config), args.rung, args.out, args.log, args.slots, args.gpus_per_job,
                    args.gpu_memory_gb or None, args.runs_in_packs)


if __name__ == "__main__":
    main()
