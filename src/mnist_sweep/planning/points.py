"""A search's points: `trials` samples of its space, each crossed with the grid of the
hyperparameters that are not searched.

Sample i is the i-th point of one fixed sequence (scipy.stats.qmc.Sobol, scrambled with `seed`,
or numpy's default_rng(seed)), so the same config draws the same points and more trials add
points after the first ones. Sampled numbers keep SIGNIFICANT_DIGITS significant digits
(integers: whole).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from mnist_sweep.config.hyperparameters import GRID_DECLARATIONS, HYPERPARAMETERS, canonical_value
from mnist_sweep.config.search_space import SIGNIFICANT_DIGITS, budget, point_id, points_per_rung, rungs


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


