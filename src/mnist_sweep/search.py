"""A search beyond grids: sampled points, successive halving in rungs, survivors trained on.

Config key `search` (config/README.md, "Search"):

    search:
      sampler: sobol            # or random
      trials: 27
      seed: 0
      space:
        learning_rate: {low: 0.0001, high: 0.01, log: true}
        dropout: {low: 0.0, high: 0.5}
        hidden_units: {values: [[256, 256], [512, 512]]}
      halving: {min_epochs: 1, eta: 3}   # rungs of 1, 3, 9 epochs when grid.epochs is [9]
      confirm_seeds: 0

Points. `trials` samples of the space, each crossed with the grid of the hyperparameters that
are not searched. Sample i is the i-th point of one fixed sequence (scipy.stats.qmc.Sobol,
scrambled with `seed`, or numpy's default_rng(seed)), so the same config draws the same points
and more trials add points after the first ones. Sampled numbers keep 4 significant digits
(integers: whole), so run paths and tables stay readable and a point can be typed into a grid.

Rungs. Without halving every point trains grid.epochs. With {min_epochs, eta} the rungs are
min_epochs, min_epochs x eta, ... below grid.epochs, then grid.epochs; all points train the
first rung, and after each rung the best max(1, n // eta) of its n points go on. A point's
score is its mean validation accuracy over seeds (never test), a diverged seed counting as 0,
so a point that diverges ranks below one that does not; equal scores go to the earlier sample.

Identity and storage. A point at a rung is an ordinary run, the run path with epochs~<rung>:
a complete result that any later sweep or search with that point and those epochs reuses. A
run that a later rung may continue keeps the state after its last epoch in <run dir>/state/
(8 MB for the tutorial MLP: weights and Adam's moments); the next rung's run of the same seed
starts from it (its plan says continue_from) and trains only the epochs beyond, so its numbers
are those of a straight run. Without that state (e.g. the run came from a grid sweep) it trains
from the first epoch, to the same numbers. States stay (a later search with more trials may
promote other points) unless keep_states is survivors: then a rung's plan deletes the states of
the points it stops, and a continued run, once finished, the state it continued (its plan says
drop_source_state), so a 10,000-point search holds at most two rungs' states, not every run's.

Each rung is planned by the workflow's checkpoint `search_rung` when the rung before it has
finished: results/<dataset>/sweeps/<sweep>/search/rung-<k>.json lists its points, runs and packs.

The checkpoint's job is `python -m mnist_sweep.search` (main, below): a process of its own that
imports only this package, not a second Snakemake (a `run:` block is run by a new Snakemake
process that reads the whole workflow again: 3-4 s per rung).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import warnings
from pathlib import Path

import jsonschema
import numpy as np

from mnist_sweep.config import (GRID_DECLARATIONS, HYPERPARAMETERS, ConfigError, canonical_value, format_value,
                                run_path_fragment)

SIGNIFICANT_DIGITS = 4


# ---- settings ----------------------------------------------------------------------------------

def check_search(config: dict, schema: dict) -> dict:
    """The search block with its defaults, or ConfigError naming the key and what is allowed.
    (The schema has checked types and bounds; this checks what a schema cannot say.)"""
    node = schema["properties"]["search"]["properties"]
    search = {key: value["default"] for key, value in node.items() if "default" in value}
    search.update(config["search"])
    if search["halving"] is not None:
        search["halving"] = dict(search["halving"])
    epochs = config["grid"]["epochs"]
    space = {}
    for name, spec in search["space"].items():
        key = f"search.space.{name}"
        if name not in HYPERPARAMETERS:
            raise ConfigError(f"config: {key}: unknown hyperparameter; allowed: "
                              f"{', '.join(n for n in HYPERPARAMETERS if n != 'epochs')}")
        if name == "epochs":
            raise ConfigError(f"config: {key}: epochs is not searched; it is grid.epochs (the last rung), and "
                              "search.halving sets the shorter rungs")
        default = [canonical_value(name, value) for value in GRID_DECLARATIONS[name]["default"]]
        if config["grid"][name] != default:
            raise ConfigError(f"config: {name} is both in search.space and in grid (grid.{name} = "
                              f"{json.dumps(config['grid'][name])}); a hyperparameter is searched or gridded: "
                              "remove it from one of them")
        space[name] = _check_dimension(name, dict(spec), key)
    search["space"] = space
    if config["validation_split"] <= 0:
        raise ConfigError("config: search needs a validation split (validation_split > 0): points are chosen on "
                          "validation accuracy, never on test")
    if len(epochs) != 1:
        raise ConfigError(f"config: grid.epochs = {json.dumps(epochs)}: a search needs one value, the epochs of its "
                          "last rung (search.halving sets the shorter ones)")
    halving = search["halving"]
    if halving is not None and halving["min_epochs"] > epochs[0]:
        raise ConfigError(f"config: search.halving.min_epochs = {halving['min_epochs']} is above grid.epochs = "
                          f"{epochs[0]}; allowed: 1 to {epochs[0]}")
    return search


def _check_dimension(name: str, spec: dict, key: str) -> dict:
    items = GRID_DECLARATIONS[name]["items"]
    kind = items["type"]
    allowed = GRID_DECLARATIONS[name]["description"]
    if "values" in spec:
        if set(spec) != {"values"}:
            raise ConfigError(f"config: {key} has both values and a range ({', '.join(sorted(set(spec) - {'values'}))});"
                              " give either {values: [...]} or {low, high, log}")
        values = []
        for value in spec["values"]:
            _check_value(name, value, f"{key}.values", allowed)
            value = canonical_value(name, value)
            if value in values:
                raise ConfigError(f"config: {key}.values lists {json.dumps(value)} more than once; each value once")
            values.append(value)
        return {"values": values}
    if kind not in ("number", "integer"):
        raise ConfigError(f"config: {key}: {name} takes values, not a range; give {{values: [...]}}")
    missing = [part for part in ("low", "high") if part not in spec]
    if missing:
        raise ConfigError(f"config: {key} has no {' or '.join(missing)}; give {{low, high}} (and log: true for a "
                          "log-uniform range), or {values: [...]}")
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    for part in ("low", "high"):
        _check_value(name, spec[part], f"{key}.{part}", allowed)
    if low >= high:
        raise ConfigError(f"config: {key}: low = {low} is not below high = {high}; a range needs low < high")
    if log and low <= 0:
        raise ConfigError(f"config: {key}: log: true needs low > 0 (got {low})")
    return {"low": float(low), "high": float(high), "log": log}


def _check_value(name: str, value, key: str, allowed: str) -> None:
    try:
        jsonschema.validate(value, GRID_DECLARATIONS[name]["items"])
    except jsonschema.ValidationError:
        raise ConfigError(f"config: {key} = {json.dumps(value)} is not allowed for {name}; {allowed}") from None


# ---- points and rungs ----------------------------------------------------------------------------

def unit_samples(sampler: str, seed: int, trials: int, dimensions: int) -> np.ndarray:
    """trials x dimensions numbers in [0, 1): the first `trials` of one fixed sequence per (sampler, seed)."""
    if sampler == "sobol":
        from scipy.stats import qmc

        with warnings.catch_warnings():  # balance is best at powers of 2; any count is a valid prefix
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(dimensions, scramble=True, seed=seed).random(trials)
    return np.random.default_rng(seed).random((trials, dimensions))


def _scale(spec: dict, name: str, u: float):
    if "values" in spec:
        return spec["values"][min(int(u * len(spec["values"])), len(spec["values"]) - 1)]
    low, high = spec["low"], spec["high"]
    if GRID_DECLARATIONS[name]["items"]["type"] == "integer":
        # Every whole number in [low, high] gets an equal share of [0, 1) (of its log when log).
        low, high = math.ceil(low) - 0.5, math.floor(high) + 0.5
    value = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if spec["log"] else low + u * (high - low)
    if GRID_DECLARATIONS[name]["items"]["type"] == "integer":
        return min(math.floor(spec["high"]), max(math.ceil(spec["low"]), round(value)))
    return min(spec["high"], max(spec["low"], float(f"{value:.{SIGNIFICANT_DIGITS}g}")))


def rungs(config: dict) -> list[int]:
    """The epochs of each rung: min_epochs x eta^k below grid.epochs, then grid.epochs."""
    last = config["grid"]["epochs"][0]
    halving = config["search"]["halving"]
    if halving is None:
        return [last]
    epochs, rung = [], halving["min_epochs"]
    while rung < last:
        epochs.append(rung)
        rung *= halving["eta"]
    return epochs + [last]


def points_per_rung(config: dict, points: int) -> list[int]:
    """How many points train in each rung: all in the first, then max(1, n // eta)."""
    counts = [points]
    for _ in rungs(config)[1:]:
        counts.append(max(1, counts[-1] // config["search"]["halving"]["eta"]))
    return counts


def sample_points(config: dict) -> list[dict]:
    """Every point of the search, in sample order: {point (its run path without epochs), sample, hyperparameters
    (epochs left at grid.epochs)}. A sample that repeats an earlier point (a choice drawn twice) is left out."""
    search = config["search"]
    names = list(search["space"])
    fixed = [name for name in HYPERPARAMETERS if name not in search["space"]]
    grid = list(itertools.product(*(config["grid"][name] for name in fixed)))
    units = unit_samples(search["sampler"], search["seed"], search["trials"], len(names))
    points, seen = [], set()
    for sample, row in enumerate(units):
        drawn = {name: _scale(search["space"][name], name, float(u)) for name, u in zip(names, row)}
        for combination in grid:
            values = {**dict(zip(fixed, combination)), **drawn}
            hyperparameters = {name: canonical_value(name, values[name]) for name in HYPERPARAMETERS}
            point = point_id(hyperparameters)
            if point not in seen:
                seen.add(point)
                points.append({"point": point, "sample": sample, "hyperparameters": hyperparameters})
    return points


def point_id(hyperparameters: dict) -> str:
    """A point's run path with the epochs level left out: the same point at every rung."""
    return "/".join(f"{name}~{format_value(name, hyperparameters[name])}" for name in HYPERPARAMETERS
                    if name != "epochs")


def run_id(point: dict, epochs: int, seed: int) -> str:
    hyperparameters = dict(point["hyperparameters"], epochs=epochs)
    path = run_path_fragment({name: format_value(name, hyperparameters[name]) for name in HYPERPARAMETERS})
    return f"{path}/seed~{seed}"


def budget(config: dict, points: int) -> dict:
    """Run-epochs of the search: halving (survivors continue), restarting survivors, and the grid of the same points."""
    seeds = len(config["seeds"])
    epochs, counts = rungs(config), points_per_rung(config, points)
    halving = sum(count * (rung - previous) for count, rung, previous in zip(counts, epochs, [0] + epochs[:-1]))
    return {"halving": halving * seeds, "restart": sum(c * e for c, e in zip(counts, epochs)) * seeds,
            "grid": points * epochs[-1] * seeds}


def describe(config: dict, points: list[dict]) -> str:
    """The start line's account of the search: points, seeds, rungs and its budget in run-epochs."""
    search, epochs = config["search"], rungs(config)
    spend = budget(config, len(points))
    counts = points_per_rung(config, len(points))
    crossed = len(points) // max(1, len({p["sample"] for p in points}))
    text = (f"search of {len(points):,} point(s) ({search['trials']} {search['sampler']} sample(s)"
            + (f" x {crossed} grid point(s)" if crossed > 1 else "") + f") x {len(config['seeds'])} seed(s), "
            f"rung(s) {'/'.join(map(str, epochs))} epochs")
    if len(epochs) > 1:
        text += (f" with {'/'.join(map(str, counts))} point(s) (eta {search['halving']['eta']}): at most "
                 f"{spend['halving']:,} run-epochs (the grid of the same points: {spend['grid']:,})")
    else:
        text += f": {spend['grid']:,} run-epochs"
    if search["confirm_seeds"]:
        text += f", then the winner on {search['confirm_seeds']} new seed(s)"
    return text


# ---- one rung --------------------------------------------------------------------------------------

def point_score(results, point: dict, epochs: int, seeds) -> float:
    """Mean validation accuracy over seeds at a rung; a diverged (or unreadable) seed counts as 0."""
    scores = []
    for seed in seeds:
        path = Path(results, "runs", run_id(point, epochs, seed), "metrics.json")
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError):
            metrics = {}
        value = metrics.get("val_accuracy") if metrics.get("status") == "completed" else None
        scores.append(0.0 if value is None else float(value))
    return float(np.mean(scores))


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


def confirm_seeds(config: dict) -> list[int]:
    """The new seeds of the confirmation: after the largest seed of the search."""
    start = max(config["seeds"]) + 1
    return list(range(start, start + config["search"]["confirm_seeds"]))


def plan_rung(config: dict, rung: int, results, sweep_dir, slots: int = 1, gpus: int = 1,
              gpu_memory_gb: float | None = None) -> dict:
    """Plan rung `rung` (the search's checkpoint job; rung len(rungs) is the confirmation): choose its
    points from the rung before, pack its unfinished runs (packs.PackBook, so a rerun or a resumed
    search finds the same packs) and write the plans. Returns what rung-<k>.json records."""
    from mnist_sweep.packs import PackBook
    from mnist_sweep.run_files import finished_runs

    epochs = rungs(config)
    dropped = 0
    if rung == 0:
        points, scores = sample_points(config), {}
    else:
        before = json.loads(Path(sweep_dir, "search", f"rung-{rung - 1}.json").read_text())
        previous = before["points"]
        scores = {point["point"]: point_score(results, point, before["epochs"], before["seeds"]) for point in previous}
        if rung < len(epochs):
            # Rung 0's plan lists every sampled point: no need to sample again (importing scipy.stats takes 1.3 s).
            sampled = len(json.loads(Path(sweep_dir, "search", "rung-0.json").read_text())["points"])
            points = select(previous, scores, points_per_rung(config, sampled)[rung])
            if config["search"]["keep_states"] == "survivors":
                chosen = {point["point"] for point in points}
                dropped = drop_states(results, [run_id(point, before["epochs"], seed) for point in previous
                                                if point["point"] not in chosen for seed in before["seeds"]])
        else:
            points = confirmed_points(results, previous, before["epochs"], before["seeds"], scores)
    if rung < len(epochs):
        seeds, runs = config["seeds"], rung_runs(config, rung, points)
    else:  # the confirmation: the same points at the last rung's epochs, new seeds, trained from the start
        seeds = confirm_seeds(config)
        runs = [{"run_id": run_id(point, epochs[-1], seed), "seed": seed,
                 "hyperparameters": dict(point["hyperparameters"], epochs=epochs[-1])}
                for point in points for seed in seeds]
    finished, _ = finished_runs(results, runs)
    book = PackBook(results)
    where, new = book.assign(runs, finished, config["dataset"], config["job_minutes"], config["pack_size"], slots,
                             gpus, gpu_memory_gb)
    book.set_aside_damaged_plans()
    book.write_plans(new, config["dataset"])
    return {"rung": rung, "epochs": epochs[min(rung, len(epochs) - 1)], "confirmation": rung == len(epochs),
            "seeds": seeds, "points": points, "scores_before": scores,
            "runs": [run["run_id"] for run in runs], "finished_before": len(finished),
            "packs": sorted({pack for pack in where.values() if pack}), "states_dropped": dropped,
            "planned_for": plan_config(config)}


def drop_states(results, run_ids: list[str]) -> int:
    """Delete the kept state/ of these runs (keep_states survivors: points stopped at their rung); how many."""
    from mnist_sweep.resume import RunResume

    dropped = 0
    for run in run_ids:
        state = RunResume(Path(results, "runs", run), "state")
        if state.folder.exists():
            state.clear()
            dropped += 1
    return dropped


def rung_plan_files(sweep_dir) -> list[Path]:
    """The rung plans written so far: search/rung-<k>.json (not a damaged one set aside)."""
    return sorted(path for path in Path(sweep_dir, "search").glob("rung-*.json")
                  if re.fullmatch(r"rung-\d+\.json", path.name))


def check_rung_plans(sweep_dir, config: dict) -> tuple[int, list[str]]:
    """Before the DAG is built (dry-runs too), each rung plan (search/rung-<k>.json) read once: returns how
    many were planned for this config (the start line's "planned so far"; a plan of another config, e.g.
    fewer trials, is planned again by the checkpoint, whose params changed) and a warning line per plan
    that cannot be read. Such a plan is renamed to rung-<k>.damaged.json, so the checkpoint plans that rung
    again where a later step needs it (from the rung before's results: the same points and packs, which keep
    their own plans; nothing finished is trained again; a finished search's summary does not need it): the
    workflow reads these plans while it builds the DAG, and a damaged one holds nothing to keep."""
    current, warnings_ = 0, []
    wanted = plan_config(config)
    for path in rung_plan_files(sweep_dir):
        try:
            plan = json.loads(path.read_text())
            if isinstance(plan, dict) and {"epochs", "seeds", "points", "runs", "packs"} <= plan.keys():
                current += plan.get("planned_for", wanted) == wanted  # a plan from before the key: as it is
                continue
            problem = "not a rung plan: no epochs, seeds, points, runs and packs"
        except (OSError, ValueError) as error:
            problem = error
        aside = path.with_name(path.name.replace(".json", ".damaged.json"))
        path.replace(aside)
        warnings_.append(f"warning: {path} cannot be read ({problem}); kept as {aside.name}, the rung is planned "
                         "again where a later step needs its plan (nothing finished is trained again)")
    return current, warnings_


def write_rung_plan(config: dict, rung: int, out, log, slots: int = 1, gpus: int = 1,
                    gpu_memory_gb: float | None = None) -> None:
    """The checkpoint's job: plan a rung, write rung-<k>.json (out: .../sweeps/<sweep>/search/rung-<k>.json)
    and say what it planned, on the console and in its log."""
    from mnist_sweep.io import write_json, write_text

    sweep_dir = Path(out).parents[1]
    plan = plan_rung(config, rung, sweep_dir.parents[1], sweep_dir, slots, gpus, gpu_memory_gb)
    write_json(out, plan)
    what = "confirmation" if plan["confirmation"] else f"rung {plan['rung']} ({plan['epochs']} epochs)"
    line = (f"search {what}: {len(plan['points'])} point(s), {len(plan['runs'])} run(s), "
            f"{plan['finished_before']} finished before, in {len(plan['packs'])} pack(s)"
            + (f"; the saved states of {plan['states_dropped']} stopped run(s) deleted" if plan["states_dropped"] else ""))
    write_text(log, line + "\n")
    print(line, file=sys.stderr, flush=True)


def confirmed_points(results, points: list[dict], epochs: int, seeds, scores: dict) -> list[dict]:
    """The winner of the last rung and every point tied with it on validation (paired by seed, the
    comparison of mnist_sweep.compare: not worse beyond seed noise)."""
    from mnist_sweep.compare import paired_difference

    def by_seed(point):
        values, diverged = {}, 0
        for seed in seeds:
            try:
                metrics = json.loads(Path(results, "runs", run_id(point, epochs, seed), "metrics.json").read_text())
            except (OSError, ValueError):
                metrics = {}
            if metrics.get("status") == "completed" and metrics.get("val_accuracy") is not None:
                values[seed] = float(metrics["val_accuracy"])
            else:
                diverged += 1
        return values, diverged

    winner = select(points, scores, 1)[0]
    reference = by_seed(winner)
    return [point for point in points if point is winner
            or paired_difference(by_seed(point), reference)["verdict"] != "worse"]


# ---- results --------------------------------------------------------------------------------------

def _epochs_logged(run_dir: Path) -> int:
    """Epochs a run's train.log records as trained (one line per epoch, as the trainer writes it)."""
    try:
        with open(run_dir / "train.log") as f:
            return sum(1 for line in f if line.startswith("epoch "))
    except OSError:
        return 0


def search_table(config: dict, plans: list[dict], results) -> "pd.DataFrame":
    """summary/search.tsv: one row per sampled point: its sample, searched values, the rung it reached, its
    score (mean validation accuracy over seeds, a diverged seed as 0: what promotion used) at each rung it
    ran, whether the confirmation trained it, and the run-epochs its runs' logs record."""
    import pandas as pd

    searched = [plan for plan in plans if not plan["confirmation"]]
    confirmed = {point["point"] for plan in plans if plan["confirmation"] for point in plan["points"]}
    in_rung = [{point["point"] for point in plan["points"]} for plan in searched]  # sets: 10,000 points stay linear
    rows = []
    for point in searched[0]["points"]:
        row = {"sample": point["sample"], "point": point["point"]}
        row |= {name: format_value(name, point["hyperparameters"][name]) for name in config["search"]["space"]}
        trained = 0
        for plan, members in zip(searched, in_rung):
            column = f"val_accuracy_{plan['epochs']}_epochs"
            if point["point"] in members:
                row[column] = round(point_score(results, point, plan["epochs"], plan["seeds"]), 6)
                row["epochs_reached"] = plan["epochs"]
                trained += sum(_epochs_logged(Path(results, "runs", run_id(point, plan["epochs"], seed)))
                               for seed in plan["seeds"])
            else:
                row[column] = None
        row["confirmed"] = point["point"] in confirmed
        row["run_epochs_trained"] = trained
        rows.append(row)
    return pd.DataFrame(rows)


def summarize_search(config: dict, sweep_dir, results, min_seeds: int) -> dict:
    """The usual tables for the points of the search's last rung (best.json: the best on validation among
    them). With a confirmation, its runs get their own tables in summary/confirmation/, and best.json's test
    numbers for the winner come from them alone (the search's own, chosen on the same runs, are kept as
    search_test_accuracy_mean: optimistic)."""
    from mnist_sweep.io import write_json
    from mnist_sweep.summarize import number, summarize

    sweep_dir, results = Path(sweep_dir), Path(results)
    last = len(rungs(config)) - 1
    plan = json.loads((sweep_dir / "search" / f"rung-{last}.json").read_text())
    summary = sweep_dir / "summary"
    result = summarize([results / "runs" / run / "metrics.json" for run in plan["runs"]], summary, min_seeds)
    best = dict(result["best"])
    plans = [json.loads((sweep_dir / "search" / f"rung-{rung}.json").read_text()) for rung in range(last + 1)]
    planned = budget(config, len(plans[0]["points"]))
    best["search"] = {"points": len(plans[0]["points"]), "rungs": rungs(config),
                      "points_per_rung": [len(plan["points"]) for plan in plans],
                      # From the runs' logs (one line per trained epoch): what the search cost.
                      "run_epochs_trained": int(search_table(config, plans, results)["run_epochs_trained"].sum()),
                      "run_epochs_halving_budget": planned["halving"], "run_epochs_grid": planned["grid"]}
    if config["search"]["confirm_seeds"]:
        confirmation = json.loads((sweep_dir / "search" / f"rung-{last + 1}.json").read_text())
        confirmed = summarize([results / "runs" / run / "metrics.json" for run in confirmation["runs"]],
                              summary / "confirmation", min_seeds=1)
        rows = confirmed["configs"].set_index("run_path")
        if best.get("run_path") in rows.index:
            row = rows.loc[best["run_path"]]
            best["search_test_accuracy_mean"] = best.get("test_accuracy_mean")
            best |= {"test_accuracy_mean": number(row["test_accuracy_mean"]),
                     "test_accuracy_std": number(row["test_accuracy_std"]),
                     "test_accuracy_ci95": [number(row["test_accuracy_ci95_low"]),
                                            number(row["test_accuracy_ci95_high"])],
                     "test_seeds": confirmation["seeds"],
                     "test_note": "test numbers from the confirmation runs alone (new seeds, not used to choose); "
                                  "the comparisons of the confirmed points are in summary/confirmation/"}
    write_json(summary / "best.json", best)
    result["best"] = best
    return result


# The keys of the config that a rung's plan reads: the checkpoint's params (a change of one of
# them plans the rungs again; finished runs are kept) and what main gets.
PLAN_KEYS = ("dataset", "seeds", "grid", "search", "job_minutes", "pack_size")


def plan_config(config: dict) -> str:
    """PLAN_KEYS of the config as JSON: the checkpoint's command-line argument."""
    return json.dumps({key: config[key] for key in PLAN_KEYS}, sort_keys=True)


def main(argv=None) -> None:
    """The checkpoint `search_rung`: plan one rung (write_rung_plan)."""
    parser = argparse.ArgumentParser(prog="python -m mnist_sweep.search", description=main.__doc__)
    parser.add_argument("--config", required=True, help="plan_config(config): JSON of the validated config's PLAN_KEYS")
    parser.add_argument("--rung", required=True, type=int)
    parser.add_argument("--out", required=True, help=".../sweeps/<sweep>/search/rung-<k>.json")
    parser.add_argument("--log", required=True)
    parser.add_argument("--slots", type=int, default=1, help="training jobs that can run at once here")
    parser.add_argument("--gpus-per-job", type=int, default=1, help="GPUs of each cluster job (packs.plan_packs)")
    parser.add_argument("--gpu-memory-gb", type=float, default=0,
                        help="memory of a cluster job's GPU (config/slurm.yaml gpu_memory_gb); 0 = packs not sized for GPUs")
    args = parser.parse_args(argv)
    write_rung_plan(json.loads(args.config), args.rung, args.out, args.log, args.slots, args.gpus_per_job,
                    args.gpu_memory_gb or None)


if __name__ == "__main__":
    main()
