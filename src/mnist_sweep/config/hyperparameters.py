"""Each hyperparameter declared once, and the forms its values take.

The declarations are the schema's `grid` section (config.schema.yaml, beside this file, so the
package works outside a checkout): name, type, default, allowed values and description.
Everything else derives from them: the order of run-path levels and table columns (the schema's
order), the typed value (canonical_value), its one text form in paths and tables (format_value),
the training command's flags.
"""

from __future__ import annotations

from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().with_name("config.schema.yaml")


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


GRID_DECLARATIONS = load_schema()["properties"]["grid"]["properties"]
HYPERPARAMETERS = tuple(GRID_DECLARATIONS)


class ConfigError(ValueError):
    """A config problem, phrased for the user in one line."""


def value_type(name: str) -> str:
    """The declared JSON-schema type of one value of a hyperparameter: string, number, integer or array."""
    if name not in GRID_DECLARATIONS:
        raise KeyError(f"unknown hyperparameter {name!r}; declared: {', '.join(HYPERPARAMETERS)}")
    return GRID_DECLARATIONS[name]["items"]["type"]


def canonical_value(name: str, value):
    """The one typed form of a value: numbers as float, integers as int, layer sizes as a list of int."""
    kind = value_type(name)
    if kind == "number":
        return float(value)
    if kind == "integer":
        return int(value)
    if kind == "array":
        return [int(units) for units in value]
    return str(value)


def format_value(name: str, value) -> str:
    """A hyperparameter value as it appears in run paths and tables (hidden_units [512, 512] -> 512-512,
    learning rate 1000 -> 1000.0, batch size 128.0 -> 128)."""
    value = canonical_value(name, value)
    if isinstance(value, list):
        return "-".join(str(units) for units in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parse_value(name: str, text: str):
    """Inverse of format_value: the typed value from its text form."""
    kind = value_type(name)
    if kind == "array":
        return [int(units) for units in str(text).split("-")]
    if kind == "number":
        return float(text)
    if kind == "integer":
        number = float(text)
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number, got {text!r}")
        return int(number)
    return str(text)


def tutorial_hyperparameters(schema: dict | None = None) -> dict:
    """The Keras tutorial's hyperparameters: the first default of every grid key in the schema."""
    grid = (schema or load_schema())["properties"]["grid"]["properties"]
    return {name: grid[name]["default"][0] for name in HYPERPARAMETERS}


def run_path_fragment(point: dict) -> str:
    """The Paramspace-style directory of a grid point: model~mlp/hidden_units~512-512/..."""
    return "/".join(f"{name}~{point[name]}" for name in HYPERPARAMETERS)




# A run's path under results/<dataset>/runs/: every hyperparameter in order, then the seed.
RUN_PATH_PATTERN = "/".join(f"{name}~[^/]+" for name in HYPERPARAMETERS) + r"/seed~\d+"


def run_of_path(run_id: str) -> dict:
    """The run a path names (inverse of the sweep's run ids): run_id, seed and typed hyperparameters."""
    parts = run_id.split("/")
    names = [*HYPERPARAMETERS, "seed"]
    if len(parts) != len(names) or any(not part.startswith(f"{name}~") for part, name in zip(parts, names)):
        raise ConfigError(f"{run_id} is not a run path: expected {'/'.join(f'{name}~...' for name in names)}")
    values = [part.split("~", 1)[1] for part in parts]
    try:
        hyperparameters = {name: parse_value(name, value) for name, value in zip(HYPERPARAMETERS, values)}
    except ValueError as error:
        raise ConfigError(f"{run_id}: {error}") from None
    return {"run_id": run_id, "seed": int(values[-1]), "hyperparameters": hyperparameters}


def training_flags(run: dict) -> str:
    """The train command's flags for one run (python -m mnist_sweep.training.train --help)."""
    flags = [f"--seed {run['seed']}"] + [
        f"--{name.replace('_', '-')} {format_value(name, run['hyperparameters'][name])}" for name in HYPERPARAMETERS]
    return " ".join(flags)
