"""A search point's score at a rung, read from its runs' metrics.json: what promotion ranks by.

Kept apart from the tables (and their pandas and scipy) so that planning a rung imports little.
"""

from __future__ import annotations

import json

import numpy as np

from mnist_sweep.config.search_space import run_id
from mnist_sweep.config.sweeps import run_folder


def validation_by_seed(results, point: dict, epochs: int, seeds, plan: dict | None = None) -> tuple[dict, int]:
    """A point's validation accuracy at a rung, by seed, and how many seeds diverged (or cannot be read):
    what promotion scores and the confirmation's paired comparison reads. plan: the rung's (where its runs are)."""
    values, diverged = {}, 0
    for seed in seeds:
        try:
            metrics = json.loads((run_folder(results, run_id(point, epochs, seed), plan) / "metrics.json").read_text())
        except (OSError, ValueError):
            metrics = {}
        if metrics.get("status") == "completed" and metrics.get("val_accuracy") is not None:
            values[seed] = float(metrics["val_accuracy"])
        else:
            diverged += 1
    return values, diverged


def point_score(results, point: dict, epochs: int, seeds, plan: dict | None = None) -> float:
    """Mean validation accuracy over seeds at a rung; a diverged (or unreadable) seed counts as 0."""
    values, _ = validation_by_seed(results, point, epochs, seeds, plan)
    return float(np.mean([values.get(seed, 0.0) for seed in seeds]))
