"""A search's own tables: each point's score at each rung it ran (summary/search.tsv), and the
summary of its last rung, with the confirmation's test numbers for the winner (best.json)."""

from __future__ import annotations

import json
from pathlib import Path

from mnist_sweep.analysis.scores import point_score
from mnist_sweep.analysis.summarize import number, summarize
from mnist_sweep.config.hyperparameters import format_value
from mnist_sweep.config.search_space import budget, run_id, rungs
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


