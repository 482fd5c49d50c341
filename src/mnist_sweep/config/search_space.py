"""A search's settings as the config gives them: the space, the rungs, and the runs' identity.

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

Rungs. Without halving every point trains grid.epochs. With {min_epochs, eta} the rungs are
min_epochs, min_epochs x eta, ... below grid.epochs, then grid.epochs; all points train the
first rung, and after each rung the best max(1, n // eta) of its n points go on.

Identity. A point at a rung is an ordinary run, the run path with epochs~<rung>: a complete
result that any later sweep or search with that point and those epochs reuses (run_id).
How points are sampled is mnist_sweep.planning.points; how rungs are planned,
mnist_sweep.planning.rungs.
"""

from __future__ import annotations

import json

import jsonschema

from mnist_sweep.config.hyperparameters import (GRID_DECLARATIONS, HYPERPARAMETERS, ConfigError, canonical_value,
                                                format_value, run_path_fragment)

# Sampled numbers keep 4 significant digits (integers: whole), so run paths and tables stay
# readable and a point can be typed into a grid.
SIGNIFICANT_DIGITS = 4


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


def budget(config: dict, points: int) -> dict:
    """Run-epochs of the search: halving (survivors continue), restarting survivors, and the grid of the same points."""
    seeds = len(config["seeds"])
    epochs, counts = rungs(config), points_per_rung(config, points)
    halving = sum(count * (rung - previous) for count, rung, previous in zip(counts, epochs, [0] + epochs[:-1]))
    return {"halving": halving * seeds, "restart": sum(c * e for c, e in zip(counts, epochs)) * seeds,
            "grid": points * epochs[-1] * seeds}


def point_id(hyperparameters: dict) -> str:
    """A point's run path with the epochs level left out: the same point at every rung."""
    return "/".join(f"{name}~{format_value(name, hyperparameters[name])}" for name in HYPERPARAMETERS
                    if name != "epochs")


def run_id(point: dict, epochs: int, seed: int) -> str:
    hyperparameters = dict(point["hyperparameters"], epochs=epochs)
    path = run_path_fragment({name: format_value(name, hyperparameters[name]) for name in HYPERPARAMETERS})
    return f"{path}/seed~{seed}"


def confirm_seeds(config: dict) -> list[int]:
    """The new seeds of the confirmation: after the largest seed of the search."""
    start = max(config["seeds"]) + 1
    return list(range(start, start + config["search"]["confirm_seeds"]))


