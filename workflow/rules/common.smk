import json
import sys
import time
from pathlib import Path

from snakemake.utils import Paramspace

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# The package's layers, lowest first (see src/mnist_sweep/__init__.py).
from mnist_sweep.data import DataError, check_same_data
from mnist_sweep.config.hyperparameters import ConfigError, run_path_fragment
from mnist_sweep.config.search_space import rungs
from mnist_sweep.config.sweeps import report_sweep_config
from mnist_sweep.config.validation import (
    default_sweep_name,
    grid_table,
    sweep_runs,
    validate_config,
)
from mnist_sweep.cluster.environment import prepend_pythonpath
from mnist_sweep.cluster.interruption import Interruption
from mnist_sweep.cluster.slurm_commands import install as install_slurm_wrappers
from mnist_sweep.cluster.locks import record_owner, release_stale_lock
from mnist_sweep.cluster.setup_failure import clear_setup_failure, stop_if_setup_failed
from mnist_sweep.cluster.slurm_site import gpus_per_job, train_resources, with_site_file
from mnist_sweep.training.run_files import finished_runs
from mnist_sweep.analysis.answer import answer_lines
from mnist_sweep.planning.disk import disk_note, grid_bytes, search_bytes
from mnist_sweep.planning.packs import PackBook, refuse_run_file_targets
from mnist_sweep.planning.points import describe, sample_points
from mnist_sweep.planning.rungs import check_rung_plans, plan_config, planned_so_far
from mnist_sweep.planning.slots import job_threads, training_slots

# What jobs record from now on is this invocation's (see mnist_sweep/cluster/setup_failure.py).
STARTED = time.time()

# Bad config stops here, before any job, with one line naming the key and what is allowed.
# In place, so jobs (snakemake.config in scripts) see the defaults too.
# The site's SLURM settings come from config/slurm.yaml whatever the command line says
# (see mnist_sweep/cluster/slurm_site.py).
try:
    config.update(validate_config(with_site_file(config)))
except ConfigError as error:
    sys.exit(f"error: {error}")

# After a killed Snakemake, the same command works again (see mnist_sweep/cluster/locks.py). Here,
# not in onstart: Snakemake takes its lock after reading the Snakefile and before onstart.
if workflow.is_main_process:
    release_stale_lock()

if config["sweep"] is None:
    config["sweep"] = default_sweep_name(workflow.overwrite_configfiles)
# A report shows one sweep: the one the command names (--configfile, --config sweep=...), or
# the only one there is (see mnist_sweep/config/sweeps.py). Read from the command line: while the
# Snakefile is read, Snakemake 9 tells a workflow neither its targets nor that it builds a
# report (workflow.dag_settings is still None then).
if workflow.is_main_process and "--report" in sys.argv:
    recorded = report_sweep_config(
        f"{config['results_dir']}/{config['dataset']}/sweeps/{config['sweep']}",
        config["results_dir"],
    )
    if recorded:
        config.update(recorded)
        print(
            f"note: reporting sweep {config['sweep']}, the only one here",
            file=sys.stderr,
        )
SWEEP = config["sweep"]
DATASET = config["dataset"]
# results_dir: scratch or project storage where the checkout's home quota is too small.
RESULTS = f"{config['results_dir']}/{DATASET}"
# A sweep's own outputs (summaries, figures): sweeps never overwrite each other. Runs are
# shared by every sweep of a dataset (results/<dataset>/runs/), trained once.
SWEEP_DIR = f"{RESULTS}/sweeps/{SWEEP}"
# One row per grid point; run directories read model~mlp/hidden_units~512-512/.../seed~N.
paramspace = Paramspace(grid_table(config), param_sep="~")


wildcard_constraints:
    **{name: r"[^/]+" for name in paramspace.dataframe.columns},
    pack=r"[0-9a-f]{12}",


# Every run of the sweep (grid points x seeds), and which pack trains or trained it (see
# mnist_sweep/planning/packs.py): only runs not finished and not already planned get a new pack,
# so a rerun finds the same packs and adding seeds trains only the new runs. A run is
# finished when its metrics.json (written last) and the files it vouches for are whole; a
# damaged run is trained again (its job sets the damaged files aside). See run_files.run_state.
# A search plans its runs rung by rung, inside the DAG (workflow/rules/search.smk): none here.
SEARCH = config["search"]
SEARCH_RUNGS = rungs(config) if SEARCH else []
# A cluster job reads the workflow again to train its one pack: it reads that pack's plan
# only (PackBook.learn), not the sweep's runs and plans (20,000 file checks at 10,000 runs).
IN_JOB = not workflow.is_main_process
SWEEP_RUNS = [] if SEARCH or IN_JOB else sweep_runs(config)
PACK_BOOK = PackBook(RESULTS, read_plans=not IN_JOB)
FINISHED, DAMAGED = finished_runs(RESULTS, SWEEP_RUNS)


# How many training jobs can run at once (the workstation's cores, or None under a cluster
# executor): a sweep is cut into at least that many jobs (see mnist_sweep/planning/slots.py).
def global_resource(name):
    """A --cores/--jobs/--resources limit given to Snakemake, or None."""
    resource = workflow.global_resources.get(name)
    return None if resource is None else resource.value


CORES = global_resource("_cores")
TRAINING_SLOTS = training_slots(
    CORES, global_resource("_nodes"), global_resource("gpu"), config["train_threads"]
)
# GPUs of each cluster job (config/slurm.yaml): one training process per GPU, packs that many
# times larger (see mnist_sweep/cluster/gpu_processes.py). A workstation's job takes one GPU.
GPUS_PER_JOB = gpus_per_job(config["slurm"]) if IN_JOB or TRAINING_SLOTS is None else 1
# Packs sized for the cluster's GPU nodes, where config/slurm.yaml gives their memory (packs.plan_packs).
GPU_MEMORY_GB = config["slurm"].get("gpu_memory_gb") if TRAINING_SLOTS is None else None
RUN_PACK, NEW_PACKS = PACK_BOOK.assign(
    SWEEP_RUNS,
    FINISHED,
    DATASET,
    config["job_minutes"],
    config["pack_size"],
    TRAINING_SLOTS or 1,
    GPUS_PER_JOB,
    GPU_MEMORY_GB,
)


# Before the first job, never in a dry-run: the new packs' plans, which their jobs read, and
# the package's path for every job (shell, script, conda env, SLURM job: each inherits this
# process' environment), also where the package is not pip-installed.
onstart:
    # Too little disk for the runs (see mnist_sweep/planning/disk.py): stop before any job writes a file.
    if DISK_PROBLEM:
        sys.exit(f"error: {DISK_PROBLEM}. Nothing was started.")
    record_owner()  # who holds the lock now (see mnist_sweep/cluster/locks.py)
    clear_setup_failure()  # an earlier invocation's, fixed or not: the first job tells
    prepend_pythonpath(str(Path(workflow.basedir) / "src"))
    # The SLURM plugin's sacct and sbatch, where its own handling fails a sweep (see
    # mnist_sweep/cluster/slurm_commands.py): a cancelled job named CANCELLED (else Snakemake waits for
    # it forever), a submission refused by a submit limit submitted again later (else its retries burn).
    install_slurm_wrappers(Path(".snakemake/mnist-sweep/bin"))
    # Ctrl-C, or SIGINT/SIGTERM to Snakemake alone: the jobs stop too, saving their state (see
    # mnist_sweep/cluster/interruption.py). Here: after Snakemake has installed its own handlers.
    INTERRUPTION.install(local=workflow.local_exec)
    PACK_BOOK.set_aside_damaged_plans()
    PACK_BOOK.write_plans(NEW_PACKS, DATASET)


# The end of a run that ends well: the answer as it stands, stated once (see mnist_sweep/analysis/answer.py).
onsuccess:
    for line in answer_lines(SWEEP_DIR, SWEEP):
        print(line, file=sys.stderr)


# Interrupted (Ctrl-C, SIGTERM) or a job failed: say what is kept and what to run.
INTERRUPTION = Interruption(SWEEP)


onerror:
    print(
        INTERRUPTION.summary()
        or f"mnist-sweep {SWEEP}: the sweep did not finish (see above: a failed job names its log). "
        "Finished runs are kept, stopped runs resume from their last saved epoch: fix what failed, "
        "if anything, and run the same command again.",
        file=sys.stderr,
    )


PACKS_TO_TRAIN = sorted({pack for pack in RUN_PACK.values() if pack} - PACK_BOOK.done)
# In a cluster job, train_threads per GPU as the controller asked (its cpus_per_task): there
# Snakemake sees the node's cores, which the job may not own.
TRAINING_THREADS = (
    config["train_threads"] * GPUS_PER_JOB
    if IN_JOB
    else job_threads(
        config["train_threads"],
        CORES,
        TRAINING_SLOTS,
        # A search's packs are planned later, rung by rung: as if every slot had one.
        (TRAINING_SLOTS or 1) if SEARCH else len(PACKS_TO_TRAIN),
    )
)

# One line on the sweep's size and progress, first thing on every invocation (also after
# a restart).
DISK_PROBLEM = None  # less free space than the sweep needs: onstart refuses to start it
if workflow.is_main_process and SEARCH:
    # A damaged rung plan is planned again (see mnist_sweep/planning/rungs.py): before the DAG reads it.
    planned, warnings = check_rung_plans(SWEEP_DIR, config)
    for warning in warnings:
        print(warning, file=sys.stderr)
    # Sampled here for this line only (the checkpoint samples again): a job's start skips it.
    SEARCH_POINTS = sample_points(config)
    disk, disk_warning = disk_note(
        config["results_dir"], search_bytes(config, SEARCH_POINTS)
    )
    print(
        f"mnist-sweep {SWEEP}: {describe(config, SEARCH_POINTS)}; "
        f"{planned_so_far(config, planned)}; at most {disk}; "
        f"results in {SWEEP_DIR}/",
        file=sys.stderr,
    )
    DISK_PROBLEM = disk_warning
elif workflow.is_main_process:
    # The disk the runs to train will take (see mnist_sweep/planning/disk.py), against results_dir's free space.
    disk, disk_warning = disk_note(
        config["results_dir"],
        grid_bytes(
            [run for run in SWEEP_RUNS if run["run_id"] not in FINISHED], config
        ),
    )
    print(
        f"mnist-sweep {SWEEP}: {len(paramspace.dataframe):,} grid point(s) x "
        f"{len(config['seeds'])} seed(s) = {len(SWEEP_RUNS):,} runs; {len(FINISHED):,} finished, "
        f"{len(SWEEP_RUNS) - len(FINISHED):,} to train in {len(PACKS_TO_TRAIN):,} job(s), {disk}; "
        f"results in {SWEEP_DIR}/",
        file=sys.stderr,
    )
    DISK_PROBLEM = disk_warning
    for run_id, problem in list(DAMAGED.items())[:5]:
        print(
            f"warning: {RESULTS}/runs/{run_id}: {problem}; it will be trained again "
            "(its files set aside in damaged-<time>/)",
            file=sys.stderr,
        )
    if len(DAMAGED) > 5:
        print(f"warning: {len(DAMAGED) - 5} more damaged run(s)", file=sys.stderr)
    for plan, problem in PACK_BOOK.damaged.items():
        print(
            f"warning: {plan} cannot be read ({problem}); its unfinished runs are planned again "
            "(the file is kept as plan.damaged.json)",
            file=sys.stderr,
        )
    # The targets, from the command line (see the report above: no public way while reading).
    refuse_run_file_targets(sys.argv[1:], RESULTS, SWEEP_DIR)
if DISK_PROBLEM:
    print(
        f"warning: {DISK_PROBLEM}; the sweep will not start like this (a dry-run only warns)",
        file=sys.stderr,
    )


def get_sweep_results():
    """What summarize waits for: each run's pack (its done.json), or the run's metrics.json
    when no known pack trained it. Stable from one invocation to the next, so a finished
    sweep is not summarized again."""
    packs = sorted({PACK_BOOK.done_path(pack) for pack in RUN_PACK.values() if pack})
    loose = [
        f"{RESULTS}/runs/{run_id}/metrics.json"
        for run_id, pack in RUN_PACK.items()
        if pack is None
    ]
    return [str(path) for path in packs] + loose


def rung_results(rung):
    """A search rung's plan (once its checkpoint has run) and the done.json of the packs that train it."""
    plan_file = checkpoints.search_rung.get(rung=rung).output[0]
    plan = json.loads(Path(plan_file).read_text())
    return [plan_file] + [str(PACK_BOOK.done_path(pack)) for pack in plan["packs"]]


def get_rung_before(wildcards):
    """What a rung's plan needs: the rung before it, trained (nothing for the first)."""
    rung = int(wildcards.rung)
    return rung_results(rung - 1) if rung > 0 else []


# The last rung of a search, or its confirmation on new seeds.
FINAL_RUNG = (
    len(SEARCH_RUNGS) if SEARCH and SEARCH["confirm_seeds"] else len(SEARCH_RUNGS) - 1
)


def get_search_results(wildcards):
    """Every rung of the search, trained (the final one needs all before it)."""
    return [path for rung in range(FINAL_RUNG + 1) for path in rung_results(rung)]


# What summarize waits for: the grid's packs, known now, or a search's rungs, known rung by rung.
SWEEP_RESULTS = get_search_results if SEARCH else get_sweep_results()


# Plain strings, not input functions: Snakemake calls a function once per job, and a
# dry-run of a 10,000-run sweep would pay for it.
PREPARED_DATA = f"resources/data/{DATASET}.npz"
# data_path given again: the same data is fine, other data stops here (see mnist_sweep/data.py).
if workflow.is_main_process:
    try:
        check_same_data(config["data_path"], PREPARED_DATA)
    except DataError as error:
        sys.exit(f"error: {error}")


def get_training_priority(wildcards):
    """The longest packs start first (see mnist_sweep/config/architecture.py)."""
    PACK_BOOK.learn(wildcards.pack)
    return PACK_BOOK.cost.get(wildcards.pack, 0)


def slurm_log_folder():
    """The SLURM plugin's log folder: its --slurm-logdir where a profile or the command line sets one
    (relative to the working directory, as the plugin takes it), else its default."""
    logdir = getattr(workflow.executor_settings, "logdir", None)
    return Path(logdir) if logdir else Path(".snakemake/slurm_logs")


def get_training_memory(wildcards):
    """mem_mb of a pack's job, more after each attempt that ran out of memory (see
    mnist_sweep/cluster/attempts.py; the SLURM plugin's logs are where it puts them by default).
    """
    # Evaluated before each training job starts, retries too: the place to stop a sweep whose setup
    # is broken (see mnist_sweep/cluster/setup_failure.py).
    stop_if_setup_failed(since=STARTED)
    return PACK_BOOK.memory_mb(
        wildcards.pack,
        Path(slurm_log_folder(), "rule_train", wildcards.pack),
        config["job_memory_mb"],
        GPUS_PER_JOB,
    )


def get_time_limit_option(wildcards, resources):
    """--time-limit-minutes <the job's runtime resource> in a cluster job that has one, else nothing."""
    runtime = getattr(resources, "runtime", None)
    return f"--time-limit-minutes {runtime}" if IN_JOB and runtime else ""


def get_final_outputs():
    summary = [
        f"{SWEEP_DIR}/summary/{name}"
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
        f"{SWEEP_DIR}/figures/{name}"
        for name in (
            "samples.png",
            "predictions.png",
            "curves.png",
            "params.png",
            "confusion.png",
        )
    ]
    if SEARCH:
        summary.append(f"{SWEEP_DIR}/summary/search.tsv")
        figures.append(f"{SWEEP_DIR}/figures/search.png")
    return summary + figures
