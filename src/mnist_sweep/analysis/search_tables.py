"""A search's own tables: each point's score at each rung it ran (summary/search.tsv), and the
summary of its last rung, with the confirmation's numbers for the winner (best.json, CONFIRMATION_RULE)."""

from __future__ import annotations

import json
from pathlib import Path

from mnist_sweep.analysis.scores import point_score
from mnist_sweep.analysis.summarize import number, summarize
from mnist_sweep.config.hyperparameters import format_value
from mnist_sweep.config.search_space import budget, run_id, rungs
from mnist_sweep.config.sweeps import rung_plan_path, run_folder
from mnist_sweep.io import write_json


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
                row[column] = round(point_score(results, point, plan["epochs"], plan["seeds"], plan), 6)
                row["epochs_reached"] = plan["epochs"]
                trained += sum(_epochs_logged(run_folder(results, run_id(point, plan["epochs"], seed), plan))
                               for seed in plan["seeds"])
            else:
                row[column] = None
        row["confirmed"] = point["point"] in confirmed
        row["run_epochs_trained"] = trained
        rows.append(row)
    return pd.DataFrame(rows)


# What a confirmation reports, fixed before any result is seen (config/README.md, "Confirmation").
CONFIRMATION_RULE = (
    "the winner is the search's (best mean validation accuracy at the last rung, equal means to the earlier "
    "sample) and stays the winner; its test numbers come from the new seeds alone; a point tied with it on "
    "validation and confirmed beside it that comes out ahead on the new seeds is named here, with the paired "
    "comparison of the two (summary/confirmation/comparison.tsv), but does not replace it")
# The winner's numbers that the confirmation replaces (the search seeds' are kept under search_seeds).
SEED_FIELDS = ("seeds", "n_seeds", "n_diverged", "run_dirs", "val_accuracy_mean", "test_accuracy_mean",
               "test_accuracy_std", "test_accuracy_ci95", "test_loss_mean")


def summarize_search(config: dict, sweep_dir, results, min_seeds: int) -> dict:
    """The usual tables for the points of the search's last rung (best.json: the best on validation among
    them). With a confirmation (CONFIRMATION_RULE), its runs get their own tables in summary/confirmation/,
    compared with the winner, and every number of best.json's winner comes from them; the search seeds'
    numbers, chosen on the same runs and so optimistic, are kept under search_seeds."""
    sweep_dir, results = Path(sweep_dir), Path(results)
    last = len(rungs(config)) - 1
    plan = json.loads(rung_plan_path(sweep_dir, last).read_text())
    summary = sweep_dir / "summary"
    confirm = config["search"]["confirm_seeds"]
    metrics = [run_folder(results, run, plan) / "metrics.json" for run in plan["runs"]]
    result = summarize(metrics, summary, min_seeds,
                       seeds_note=(" (search seeds: optimistic for the chosen point, which they chose; its numbers "
                                   "on new seeds are in best.json and confirmation/)") if confirm else "")
    best = dict(result["best"])
    plans = [json.loads(rung_plan_path(sweep_dir, rung).read_text()) for rung in range(last + 1)]
    planned = budget(config, len(plans[0]["points"]))
    best["search"] = {"points": len(plans[0]["points"]), "rungs": rungs(config),
                      "points_per_rung": [len(plan["points"]) for plan in plans],
                      # From the runs' logs (one line per trained epoch): what the search cost.
                      "run_epochs_trained": int(search_table(config, plans, results)["run_epochs_trained"].sum()),
                      "run_epochs_halving_budget": planned["halving"], "run_epochs_grid": planned["grid"]}
    if confirm and best.get("run_path"):
        confirmation = json.loads(rung_plan_path(sweep_dir, last + 1).read_text())
        confirmed = summarize([run_folder(results, run, confirmation) / "metrics.json" for run in confirmation["runs"]],
                              summary / "confirmation", min_seeds=1, chosen=best["run_path"],
                              seeds_note=f" (confirmation: the winner and the points tied with it, on {confirm} new "
                                         "seeds; 'best' is the search's winner)")
        best |= confirmed_answer(best, confirmed)
    write_json(summary / "best.json", best)
    result["best"] = best
    return result


def confirmed_answer(best: dict, confirmed: dict) -> dict:
    """best.json's fields from the confirmation (summarize's result of its runs, the winner chosen)."""
    winner = confirmed["best"]
    answer = {"search_seeds": {"note": "search seeds (optimistic): the seeds this point was chosen on",
                               **{field: best.get(field) for field in SEED_FIELDS}}}
    if not winner.get("run_path"):  # every confirmation run of the winner diverged
        return answer | {field: None for field in SEED_FIELDS} | {
            "seeds": [], "n_seeds": 0, "run_dirs": [],
            "confirmation": {"rule": CONFIRMATION_RULE, "problem": winner.get("reason")}}
    comparison = confirmed["comparison"]
    versus = comparison[(comparison["reference"] == "best") & (comparison["run_path"] != best["run_path"])]
    ahead = [{"run_path": row["run_path"], "mean_difference": number(row["mean_difference"]),
              "ci95": [number(row["ci95_low"]), number(row["ci95_high"])], "p_value": number(row["p_value"]),
              "verdict": row["verdict"]}
             for _, row in versus.iterrows() if number(row["mean_difference"]) and row["mean_difference"] > 0]
    return answer | {field: winner[field] for field in SEED_FIELDS} | {
        "test_note": "every number above is from the confirmation runs (new seeds, not used to choose); the "
                     "search seeds' are under search_seeds",
        "confirmation": {"rule": CONFIRMATION_RULE, "points_confirmed": int(len(confirmed["configs"])),
                         "ahead_on_new_seeds": ahead}}
