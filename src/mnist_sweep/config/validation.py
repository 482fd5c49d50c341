"""Config validation and the run table (grid x seeds).

The schema (config.schema.yaml, beside this file) says what a schema can say; the named checks
below say the rest. Every problem becomes one ConfigError line that names the key, the value and
what is allowed, so Snakemake can stop before any job. We call jsonschema directly (the library
snakemake.utils.validate wraps) because validate's error is a multi-line dump of the whole config
and schema.
"""

from __future__ import annotations

import itertools
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema

from mnist_sweep.config.architecture import UNUSED_KEYS
from mnist_sweep.config.hyperparameters import (HYPERPARAMETERS, ConfigError, canonical_value, format_value,
                                                load_schema, run_path_fragment)
from mnist_sweep.config.search_space import check_search
from mnist_sweep.data import DataError, check_local

if TYPE_CHECKING:
    import pandas as pd


def _key_name(path) -> str:
    parts = []
    for item in path:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _describe(schema: dict, path) -> str:
    """The description of the schema node for a config path (what is allowed)."""
    node = schema
    for item in path:
        if isinstance(item, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(item, {})
    return node.get("description", "")


def _format_error(error: jsonschema.ValidationError, schema: dict) -> str:
    path = list(error.absolute_path)
    key = _key_name(path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"in '{key}'" if path else "at the top level"
        return (
            f"config: unknown key {', '.join(repr(k) for k in unknown)} {where}; "
            f"allowed keys: {', '.join(allowed)}"
        )
    # For an item of a list, describe the list's key (e.g. grid.dropout).
    described = [p for p in path if not isinstance(p, int)]
    hint = _describe(schema, described)
    value = json.dumps(error.instance)
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"config: {key} = {value} is not allowed; allowed values: {allowed}"
    if error.validator == "type":
        return f"config: {key} = {value} has the wrong type (expected {error.validator_value}); {hint}"
    if error.validator == "minItems":
        wanted = f"give at least {error.validator_value} value(s)"
        return f"config: {key} is empty; {wanted}" + (f"; {hint}" if hint else "")
    return f"config: {key} = {value} is not allowed ({error.message}); {hint}"


def _coerce_strings(value, schema: dict):
    """Undo `snakemake --config key=[1,2]`, which reads nested values as strings.

    Only strings that are plainly a number (or null) where the schema wants one are
    converted; anything else is left for the schema to refuse with its own message.
    """
    types = schema.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        others = schema.get("additionalProperties")
        others = others if isinstance(others, dict) else {}
        return {key: _coerce_strings(item, properties.get(key, others)) for key, item in value.items()}
    if isinstance(value, list):
        return [_coerce_strings(item, schema.get("items", {})) for item in value]
    if isinstance(value, str):
        if "null" in types and value in ("null", "None", "~"):
            return None
        if "integer" in types:
            try:
                return int(value)
            except ValueError:
                pass
        if "number" in types:
            try:
                return float(value)
            except ValueError:
                pass
    return value


def _fill_defaults(config: dict, schema: dict) -> dict:
    filled = dict(config)
    for name, node in schema["properties"].items():
        if name not in filled and "default" in node:
            filled[name] = node["default"]
    grid_schema = schema["properties"]["grid"]["properties"]
    grid = dict(filled.get("grid") or {})
    for name, node in grid_schema.items():
        grid.setdefault(name, node["default"])
    filled["grid"] = grid
    return filled


def _check_no_duplicates(key: str, values: list) -> None:
    seen, duplicates = set(), []
    for value in values:
        marker = json.dumps(value)
        if marker in seen:
            duplicates.append(value)
        seen.add(marker)
    if duplicates:
        raise ConfigError(
            f"config: {key} lists {json.dumps(duplicates[0])} more than once; each value must appear once"
        )


def _check_data_path(data_path: str | None) -> None:
    if data_path is None:
        return
    path = Path(data_path)
    if not path.exists():
        raise ConfigError(
            f"config: data_path = {json.dumps(data_path)} does not exist; "
            "give an existing .npz file (x_train, y_train, x_test, y_test) or a folder of the four IDX .gz files"
        )
    if path.is_file() and path.suffix != ".npz":
        raise ConfigError(
            f"config: data_path = {json.dumps(data_path)} is not a .npz file; "
            "give a .npz file (x_train, y_train, x_test, y_test) or a folder of the four IDX .gz files"
        )
    # Check it now so wrong shapes, dtypes or labels stop the run before any job.
    try:
        check_local(path)
    except DataError as error:
        raise ConfigError(f"config: {error}") from error


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return the config with defaults filled in, or raise ConfigError."""
    schema = schema or load_schema()
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError("config: the config must be a mapping of keys to values")
    config = _coerce_strings(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError(_format_error(jsonschema.exceptions.best_match(errors), schema))
    config = _fill_defaults(config, schema)
    # One typed form per value (1000 and 1000.0 are the same learning rate, 128.0 is batch size 128),
    # before duplicates are looked for.
    config["grid"] = {name: [canonical_value(name, value) for value in config["grid"][name]]
                      for name in HYPERPARAMETERS}
    _check_no_duplicates("seeds", config["seeds"])
    for name in HYPERPARAMETERS:
        _check_no_duplicates(f"grid.{name}", config["grid"][name])
    _check_data_path(config["data_path"])
    site = config["slurm"]
    if site.get("gres") and site.get("gpu_model"):
        raise ConfigError(f"slurm: give either gres ({site['gres']!r}) or gpu_model ({site['gpu_model']!r}), "
                          "not both: gres takes the GPU type itself, e.g. gpu:a100:1")
    if site.get("gres") and site.get("gpus"):
        raise ConfigError(f"slurm: give either gres ({site['gres']!r}) or gpus ({site['gpus']!r}), not both: "
                          "gres takes the count itself, e.g. gpu:a100:4")
    if site.get("slurm_extra"):
        _check_slurm_extra(site["slurm_extra"])
    if config["search"] is not None:
        config["search"] = check_search(config, schema)
    _check_every_value_is_used(config)
    return config


# Flags that a key of config/slurm.yaml, the workflow or the plugin sets: never in slurm_extra (the plugin
# refuses most of them at the first submission; refused here before any job, naming what to use instead).
MANAGED_FLAGS = {
    ("--partition", "-p"): "the key partition",
    ("--account", "-A"): "the key account",
    ("--qos",): "the key qos",
    ("--constraint", "-C"): "the key constraint",
    ("--gpus", "--gres", "--gpus-per-node", "--gpus-per-task"): "the keys gpus, gpu_model or gres",
    ("--nodes", "-N"): "nothing: a training job takes one node",
    ("--mem", "--mem-per-cpu", "--mem-per-gpu"): "the config key job_memory_mb",
    ("--cpus-per-task", "-c", "--cpus-per-gpu", "--ntasks", "-n", "--ntasks-per-gpu"): "the config key train_threads",
    ("--time", "-t"): "the profile's runtime (set-resources train:runtime)",
    ("--reservation",): "the key reservation",
    ("--mail-type",): "the key mail_type",
    ("--mail-user",): "the key mail_user",
    ("--job-name", "-J", "--output", "-o", "--error", "-e", "--export", "--comment", "--chdir", "--workdir", "-D",
     "--clusters", "-M", "--parsable", "--requeue", "--no-requeue", "--signal"): "nothing: the workflow sets it",
}


def _check_slurm_extra(text: str) -> None:
    """Raise ConfigError naming a flag of slurm_extra that another setting owns, or text sbatch cannot split."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise ConfigError(f"slurm.slurm_extra = {text!r} cannot be split into flags ({error})") from None
    for word in words:
        flag = word.split("=", 1)[0]
        for flags, instead in MANAGED_FLAGS.items():
            if flag in flags or any(len(short) == 2 and flag.startswith(short) and not flag.startswith("--")
                                    for short in flags):
                raise ConfigError(f"slurm.slurm_extra: {flag} is set elsewhere; use {instead}")


def _check_every_value_is_used(config: dict) -> None:
    """Refuse several values (grid) or a search range for a hyperparameter that a model of the sweep does not
    read (the convnet's layers are fixed: hidden_units): its points would be the same training under other
    names, compared as if they differed."""
    space = (config["search"] or {}).get("space", {})
    models = space["model"]["values"] if "model" in space else config["grid"]["model"]
    for model in models:
        for name in UNUSED_KEYS[model]:
            if len(config["grid"][name]) > 1:
                raise ConfigError(
                    f"config: grid.{name} lists {len(config['grid'][name])} values, but the {model} model does not "
                    f"use {name}: its points would be the same training; give grid.{name} one value, or sweep the "
                    f"{model} model in a config of its own")
            if name in space:
                raise ConfigError(
                    f"config: search.space.{name}: the {model} model does not use {name}, so its samples would be "
                    f"the same training; remove {name} from the space, or search the {model} model on its own")


def grid_table(config: dict) -> pd.DataFrame:
    """One row per grid point, values as path strings, columns in HYPERPARAMETERS order."""
    import pandas as pd  # here, not at the top: Snakemake's start and the train command need no table
    grid = config["grid"]
    rows = [
        {name: format_value(name, value) for name, value in zip(HYPERPARAMETERS, combination)}
        for combination in itertools.product(*(grid[name] for name in HYPERPARAMETERS))
    ]
    return pd.DataFrame(rows, columns=list(HYPERPARAMETERS), dtype=str)


def default_sweep_name(configfiles) -> str:
    """The stem of the last --configfile given (config/examples/dropout_width.yaml -> dropout_width), else default."""
    return Path(list(configfiles)[-1]).stem if configfiles else "default"


def sweep_runs(config: dict) -> list[dict]:
    """Every run of a validated config, grid order then seed: run_id (its path under runs/), seed, hyperparameters."""
    grid = config["grid"]
    runs = []
    for combination in itertools.product(*(grid[name] for name in HYPERPARAMETERS)):
        hyperparameters = dict(zip(HYPERPARAMETERS, combination))
        point = run_path_fragment({name: format_value(name, value) for name, value in hyperparameters.items()})
        runs += [{"run_id": f"{point}/seed~{seed}", "seed": seed, "hyperparameters": hyperparameters}
                 for seed in config["seeds"]]
    return runs


