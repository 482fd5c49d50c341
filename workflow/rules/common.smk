import gc
import sys
from pathlib import Path

from snakemake.utils import Paramspace

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from mnist_sweep.config import (
    ConfigError,
    grid_table,
    load_schema,
    parse_value,
    run_path_fragment,
    validate_config,
)
from mnist_sweep.cost import training_cost
from mnist_sweep.environment import prepend_pythonpath
from mnist_sweep.io import collect_run
from mnist_sweep.locks import release_stale_lock

# Snakemake makes several objects per job and keeps them all; with Python's default
# thresholds the garbage collector rescans them over and over while the DAG of a big sweep
# is built (about 10% of `snakemake -n` on 10,000 runs). Nothing here is cyclic garbage worth
# collecting that often.
gc.set_threshold(10_000, 10, 10)

# Bad config stops here, before any job, with one line naming the key and what is allowed.
try:
    config = validate_config(
        config,
        load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"),
    )
except ConfigError as error:
    sys.exit(f"error: {error}")

# After a killed Snakemake, the same command works again (see mnist_sweep/locks.py).
if workflow.is_main_process:
    release_stale_lock()

# Jobs (shell, script, conda, SLURM) find the package even where it is not pip-installed.
prepend_pythonpath(str(Path(workflow.basedir) / "src"))

DATASET = config["dataset"]
RESULTS = f"results/{DATASET}"
# One row per grid point; run directories read model~mlp/hidden_units~512-512/.../seed~N.
paramspace = Paramspace(grid_table(config), param_sep="~")
RUN_DIR = f"{RESULTS}/runs/{paramspace.wildcard_pattern}/seed~{{seed}}"
# Report labels of a run: every hyperparameter and the seed (filled from the wildcards).
RUN_LABELS = {
    **{name: f"{{{name}}}" for name in paramspace.dataframe.columns},
    "seed": "{seed}",
}
# With pack_size > 1: the staging folder of one pack of seeds (e.g. seeds~0-1-2).
PACK_DIR = f"{RESULTS}/packs/{paramspace.wildcard_pattern}/seeds~{{seeds}}"
PACK_MARKER = f"{PACK_DIR}/pack.done"


wildcard_constraints:
    **{name: r"[^/]+" for name in paramspace.dataframe.columns},
    seed=r"\d+",
    seeds=r"\d+(-\d+)*",


# Every run directory of the sweep: grid points x seeds.
RUN_DIRS = [
    f"{RESULTS}/runs/{point}/seed~{seed}"
    for point in paramspace.instance_patterns
    for seed in config["seeds"]
]

# One line on the sweep's size and progress, first thing on every invocation (also after
# a restart). A run is finished when its metrics.json exists (written last).
if workflow.is_main_process:
    finished = sum(Path(run_dir, "metrics.json").exists() for run_dir in RUN_DIRS)
    print(
        f"mnist-sweep: {len(paramspace.dataframe):,} grid point(s) x "
        f"{len(config['seeds'])} seed(s) = {len(RUN_DIRS):,} runs; {finished:,} finished, "
        f"{len(RUN_DIRS) - finished:,} to train; results in {RESULTS}/",
        file=sys.stderr,
    )


def get_run_files(name):
    """One file (metrics.json, ...) of every run.

    Only summarize lists the runs' files; rules after it read run directories from its
    runs.tsv. One input per run, not five, keeps a dry-run of 10,000 runs fast.
    """
    return [f"{run_dir}/{name}" for run_dir in RUN_DIRS]


def seed_packs():
    """The seeds in config order, cut into packs of at most pack_size."""
    seeds, size = config["seeds"], config["pack_size"]
    return [seeds[start : start + size] for start in range(0, len(seeds), size)]


def get_pack_marker(wildcards):
    """Input function: the marker of the pack that trains this run's seed."""
    pack = next(p for p in seed_packs() if int(wildcards.seed) in p)
    values = {name: wildcards[name] for name in paramspace.dataframe.columns}
    return PACK_MARKER.format(**values, seeds="-".join(map(str, pack)))


def get_pack_run_pattern(wildcards):
    """--out of a pack job: its staging folder, one seed~{seed} folder per seed."""
    return f"{PACK_DIR.format(**wildcards)}/seed~{{seed}}"


# Plain strings, not input functions: Snakemake calls a function once per job, and a
# dry-run of a 10,000-run sweep would pay for it.
PREPARED_DATA = f"resources/data/{DATASET}.npz"
# The run's hyperparameters as flags of mnist_sweep.train (a `params:` string, filled
# from the wildcards in their path form, e.g. --hidden-units 512-512).
HYPERPARAMETER_FLAGS = " ".join(
    f"--{name.replace('_', '-')} {{{name}}}" for name in paramspace.dataframe.columns
)


def get_training_priority(wildcards):
    """The longest runs start first (see mnist_sweep/cost.py)."""
    return training_cost(
        wildcards.model,
        parse_value("hidden_units", wildcards.hidden_units),
        int(wildcards.epochs),
    )


def get_data_source(wildcards=None):
    """The local data file/folder (an input, so a changed file is noticed), else nothing."""
    return [config["data_path"]] if config["data_path"] else []


def get_final_outputs():
    summary = [
        f"{RESULTS}/summary/{name}"
        for name in (
            "runs.tsv",
            "configs.tsv",
            "best.json",
            "runs.html",
            "configs.html",
            "config.yaml",
        )
    ]
    figures = [
        f"{RESULTS}/figures/{name}"
        for name in (
            "samples.png",
            "predictions.png",
            "curves.png",
            "params.png",
            "confusion.png",
        )
    ]
    return summary + figures
