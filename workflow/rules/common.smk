import json
import sys
import time
from pathlib import Path

from snakemake.utils import Paramspace

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# The package's layers, lowest first (see src/mnist_sweep/__init__.py).
from mnist_sweep.data import DataError, check_same_data
from mnist_sweep.config.hyperparameters import (
    RUN_PATH_PATTERN,
    ConfigError,
    run_of_path,
    run_path_fragment,
    training_flags,
)
from mnist_sweep.config.search_space import rungs
from mnist_sweep.config.sweeps import (
    report_sweep_config,
    rung_plan_path,
    stored_packs_folder,
)
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
from mnist_sweep.analysis.answer import answer_lines
from mnist_sweep.planning.disk import disk_note, grid_bytes, search_bytes
from mnist_sweep.planning.packs import PackBook, first_memory_mb
from mnist_sweep.planning.points import describe, sample_points
from mnist_sweep.planning.rungs import (
    TRAINED_ALONE_LOG,
    run_file_names,
    plan_config,
    planned_rungs,
    planned_so_far,
    rung_inputs,
)
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


# No shared file system (--default-storage-provider, e.g. fs for node-local scratch, or s3): only the files a
# job declares travel, so each pack's runs are stored in its folder, its job's declared output (see
# mnist_sweep.config.sweeps.run_folder and mnist_sweep.planning.rungs.plan_rung; profiles/slurm/README.md).
RUNS_IN_PACKS = workflow.storage_settings.default_storage_provider is not None
if RUNS_IN_PACKS and Path(config["results_dir"]).is_absolute():
    sys.exit(
        f"error: results_dir = {config['results_dir']} is an absolute path; with a storage provider "
        "(--default-storage-provider), every result is stored under --default-storage-prefix: give "
        "results_dir relative to it (default: results), and the place in the prefix"
    )

# What a sweep trains is planned by the checkpoint `plan` (workflow/rules/plan.smk), rung by rung: a
# grid is one rung, a search one per round. Nothing is planned, checked or written while this file is
# read: which runs are finished is a result, read by the plan's job and by the input functions below.
SEARCH = config["search"]
SEARCH_RUNGS = rungs(config) if SEARCH else [None]
# The last rung: a grid's only one, a search's last round or its confirmation on new seeds.
FINAL_RUNG = (
    len(SEARCH_RUNGS) if SEARCH and SEARCH["confirm_seeds"] else len(SEARCH_RUNGS) - 1
)
# A cluster job reads the workflow again to train its one pack: it reads that pack's plan only.
IN_JOB = not workflow.is_main_process
PACK_BOOK = PackBook(RESULTS, read_plans=False)

# How many training jobs can run at once (the workstation's cores, or None under a cluster
# executor): a sweep is cut into at least that many jobs (see mnist_sweep/planning/slots.py).
CORES = workflow.resource_settings.cores
GPU_LIMIT = workflow.global_resources.get("gpu")
TRAINING_SLOTS = training_slots(
    CORES,
    workflow.nodes,
    None if GPU_LIMIT is None else GPU_LIMIT.value,
    config["train_threads"],
)
# GPUs of each cluster job (config/slurm.yaml): one training process per GPU, packs that many
# times larger (see mnist_sweep/cluster/gpu_processes.py). A workstation's job takes one GPU.
GPUS_PER_JOB = gpus_per_job(config["slurm"]) if IN_JOB or TRAINING_SLOTS is None else 1
# Packs sized for the cluster's GPU nodes, where config/slurm.yaml gives their memory (packs.plan_packs).
GPU_MEMORY_GB = config["slurm"].get("gpu_memory_gb") if TRAINING_SLOTS is None else None


# Before the first job, never in a dry-run: the package's path for every job (shell, script,
# conda env, SLURM job: each inherits this process' environment), also where the package is
# not pip-installed.
onstart:
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


# The end of a run that ends well: the answer as it stands, stated once (see mnist_sweep/analysis/answer.py).
onsuccess:
    for line in answer_lines(SWEEP_DIR, SWEEP):
        print(line, file=sys.stderr)
    # In storage, the tables are there, not here (Snakemake removes its local copies at the end).
    if RUNS_IN_PACKS:
        print(
            f"mnist-sweep {SWEEP}: the answer is in storage "
            f"({workflow.storage_settings.default_storage_provider}): "
            f"{SWEEP_DIR}/summary/answer.html and best.json",
            file=sys.stderr,
        )


# Interrupted (Ctrl-C, SIGTERM) or a job failed: say what is kept and what to run.
INTERRUPTION = Interruption(SWEEP)


onerror:
    print(
        INTERRUPTION.summary()
        or f"mnist-sweep {SWEEP}: the sweep did not finish (see above: a failed job names its log). "
        + (
            "Finished packs are kept in storage, a stopped pack trains again from its first epoch"
            if RUNS_IN_PACKS
            else "Finished runs are kept, stopped runs resume from their last saved epoch"
        )
        + ": fix what failed, if anything, and run the same command again.",
        file=sys.stderr,
    )


def get_training_threads(wildcards):
    """CPU threads of a training job: in a cluster job, train_threads per GPU as the controller asked (its
    cpus_per_task: there Snakemake sees the node's cores, which the job may not own); on a workstation,
    train_threads, or the spare cores when fewer packs than slots are left to train (see
    mnist_sweep/planning/slots.py)."""
    if IN_JOB:
        return config["train_threads"] * GPUS_PER_JOB
    return job_threads(
        config["train_threads"], CORES, TRAINING_SLOTS, packs_left_to_train()
    )


def packs_left_to_train():
    """Packs of the planned rungs without their done.json: the training jobs this sweep has left, counted
    once per set of plans (each training job asks; counting per job would read the plans and stat every
    pack's done.json once per job: 10^8 stats for 10,000 packs of one run)."""
    plans = [rung_plan_path(SWEEP_DIR, rung) for rung in range(FINAL_RUNG + 1)]
    key = tuple((path, path.stat().st_mtime_ns) for path in plans if path.exists())
    if key not in PACKS_LEFT:
        packs = set()
        for path, _ in key:
            try:
                packs |= set(json.loads(path.read_text()).get("packs_to_train", []))
            except (OSError, ValueError, AttributeError):
                continue
        PACKS_LEFT[key] = sum(not PACK_BOOK.done_path(pack).exists() for pack in packs)
    return PACKS_LEFT[key] or (TRAINING_SLOTS or 1)


# {the rung plans and their mtimes: packs left to train then} (packs_left_to_train).
PACKS_LEFT = {}


# One line on the sweep's size, first thing on every invocation (also after a restart); what is
# finished and what is left is the plan's line (the checkpoint's job). Reads, never writes.
if workflow.is_main_process:
    if SEARCH:
        # Sampled here for this line only (the checkpoint samples again): a job's start skips it.
        SEARCH_POINTS = sample_points(config)
        size = describe(config, SEARCH_POINTS)
        progress = planned_so_far(config, planned_rungs(SWEEP_DIR, config))
        needed = search_bytes(config, SEARCH_POINTS)
    else:
        runs = len(paramspace.dataframe) * len(config["seeds"])
        size = f"{len(paramspace.dataframe):,} grid point(s) x {len(config['seeds'])} seed(s) = {runs:,} runs"
        progress = "planned" if planned_rungs(SWEEP_DIR, config) else "not planned yet"
        needed = grid_bytes(sweep_runs(config), config)
    # The disk the runs take at most (see mnist_sweep/planning/disk.py); the plan refuses to
    # train what results_dir has no room for.
    disk, disk_warning = disk_note(config["results_dir"], needed)
    where = f"results in {SWEEP_DIR}/"
    if RUNS_IN_PACKS:  # neither the plans nor the free space are here to look at
        provider = workflow.storage_settings.default_storage_provider
        progress, disk_warning = f"plans and results in storage ({provider})", None
        disk, where = disk.replace("on disk", "in storage"), f"under {SWEEP_DIR}/"
    print(
        f"mnist-sweep {SWEEP}: {size}; {progress}; at most {disk}; {where}",
        file=sys.stderr,
    )
    if disk_warning:
        print(
            f"warning: {disk_warning}, if none is trained yet (the plan refuses to train what "
            "does not fit)",
            file=sys.stderr,
        )


def rung_results(rung, every_run=False):
    """A rung's plan (once its checkpoint has run), the done.json of the packs that train it, and
    the runs to train again alone (every_run: the files of every run no pack trains now); in storage,
    the plan and its packs' folders (see mnist_sweep/planning/rungs.py, rung_inputs)."""
    return rung_inputs(
        checkpoint_plan(rung),
        RESULTS,
        config["models"] != "none",
        declared=rung_plan_path(SWEEP_DIR, rung),
        every_run=every_run,
    )


def checkpoint_plan(rung):
    """A rung's plan, once its checkpoint has run: the path to read it at. In storage, a fresh
    invocation (another node, a removed local copy) has no local copy yet: open() has Snakemake
    retrieve it from storage first (it raises, Snakemake retrieves and asks again)."""
    output = checkpoints.plan.get(rung=rung).output[0]
    with output.open():
        pass
    return str(output)


def in_pack_folder(name):
    """In storage: a file in the pack's folder, the train job's output (as this process writes it: its local
    copy)."""
    return lambda wildcards, output: str(Path(output[0], name))


def get_rung_before(wildcards):
    """What a rung's plan needs: the rung before it, trained (nothing for the first)."""
    rung = int(wildcards.rung)
    return rung_results(rung - 1) if rung > 0 else []


def get_sweep_results(wildcards):
    """What summarize waits for: every rung of the sweep, trained (the final one needs all before it)."""
    return [path for rung in range(FINAL_RUNG + 1) for path in rung_results(rung)]


def get_every_run(wildcards):
    """The with_runs target's runs: every rung of the sweep, each run by its files (train_run's outputs)."""
    return [
        path
        for rung in range(FINAL_RUNG + 1)
        for path in rung_results(rung, every_run=True)
    ]


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


def get_run_flags(wildcards):
    """The train command's --seed and hyperparameter flags of the run a path names."""
    return training_flags(run_of_path(wildcards.run))


def get_run_dir(wildcards, output):
    return str(Path(output[0]).parent)


def cluster_job():
    """Whether a training job is a cluster job: this process submits it (a cluster executor), or is
    it (the job reads the workflow again). The same answer in both, so that the job's params are
    those the controller recorded: Snakemake reruns a job whose params changed, and in storage a
    cluster job builds the jobs its input comes from (a search's rung before) to check them.
    """
    return IN_JOB or not workflow.local_exec


def get_requeues_option(wildcards):
    """--max-requeues in a cluster job, else nothing."""
    return f"--max-requeues {config['max_requeues']}" if cluster_job() else ""


def get_time_limit_option(wildcards, resources):
    """--time-limit-minutes <the job's runtime resource> in a cluster job that has one, else nothing."""
    runtime = getattr(resources, "runtime", None)
    return f"--time-limit-minutes {runtime}" if cluster_job() and runtime else ""


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
