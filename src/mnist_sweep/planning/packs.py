"""Which runs train together: the pack, the unit of scheduling (the run stays the unit of results).

A pack is a set of runs that share a model shape and a step count (model, hidden_units,
activation, optimizer, batch_size, epochs: SHAPE_KEYS) and may differ in seed, dropout,
learning rate and weight decay (PER_REPLICA_KEYS, mnist_sweep.config.architecture). It trains as one vectorized model in
one job, and writes each run's files into that
run's own directory. How many runs share a job follows the work: the estimated time of the
runs (from mnist_sweep.config.architecture) against a target job length (config key job_minutes) and the
number of jobs that can train at once (mnist_sweep.planning.slots), so tiny runs share a job, long
runs get their own, and a small sweep on a workstation still uses every core; `pack_size`
overrides it. A job may hold packs of several shapes, trained one after the other.

Stable identity. Only runs that are not finished and not already planned are packed, and
a pack's plan (results/<dataset>/packs/<id>/plan.json) is kept: so adding seeds or grid
values to a finished sweep packs only the new runs, a finished run is never in a new pack,
and rerunning the same command finds the same packs. A pack's id is a hash of its runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from mnist_sweep.cluster.attempts import out_of_memory_ends
from mnist_sweep.config.architecture import shape_key, training_flops_per_image
from mnist_sweep.io import write_json
from mnist_sweep.planning.gpu_memory import runs_per_gpu

# Most replicas in one pack: 64 replicas of the tutorial MLP peaked at 2.3-2.4 GB (bench/README.md).
MAX_PACK_SIZE = 64
# Training images per dataset (before the validation split), for the time estimate.
TRAINING_IMAGES = {"mnist": 60_000, "fashion_mnist": 60_000, "mnist_5k": 4_000}
# Training FLOP/s a job reaches on 2 CPU cores (measured: the tutorial's 4 epochs in about
# 15 s). A GPU is faster, so on a GPU node jobs end well before the target: the estimate
# is meant to keep jobs under job_minutes, not to predict their length.
ASSUMED_FLOPS = 5e10


def estimated_seconds(hyperparameters: dict, dataset: str, flops: float = ASSUMED_FLOPS) -> float:
    """Training time of one run: on 2 CPU cores, or at flops (FLOP/s measured on a GPU, see measured_gpu_flops)."""
    images = TRAINING_IMAGES.get(dataset, 60_000) * hyperparameters["epochs"]
    return training_flops_per_image(hyperparameters) * images / flops


def pack_id(run_ids, attempt: int = 0) -> str:
    text = "\n".join(sorted(run_ids)) + (f"\n#{attempt}" if attempt else "")
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def plan_packs(runs: list[dict], dataset: str, job_minutes: float, pack_size: int | None = None,
               slots: int = 1, gpus: int = 1, gpu_memory_gb: float | None = None,
               gpu_flops: dict[str, float] | None = None,
               gpu_fitted: dict[str, int] | None = None) -> list[list[dict]]:
    """Cut runs (dicts with run_id, seed, hyperparameters) into jobs ("packs" in the plans).

    With pack_size: each shape's runs in packs of at most pack_size, sizes differing by at
    most one (7 runs at most 4 per pack: 4 + 3, not 4 + 3 ... 6 + 1), one pack per job.

    Without: the work is cut into the fewest jobs of about equal estimated length that
    keep every job under job_minutes and MAX_PACK_SIZE runs, and into at least `slots`
    jobs (how many can train at once here, see mnist_sweep.planning.slots) when there are that
    many runs, so no core or GPU idles while another trains the whole sweep. Runs are
    taken shape by shape, longest first, and a job takes runs until it reaches its share
    of the work, so a shape is split only where a job is full (on a cluster, big packs
    keep a GPU busy). A sweep that fits in one round of the slots is dealt out instead, so
    its jobs end together. A job trains its shapes one after the other in one process and
    pays TensorFlow's start-up and the data loading once.

    gpus: GPUs of each cluster job (config/slurm.yaml). Such a job trains one process per GPU
    (mnist_sweep.cluster.gpu_processes), so it takes up to gpus x MAX_PACK_SIZE runs and gpus x the work.

    Sized for GPU nodes (gpu_memory_gb, config/slurm.yaml): a GPU takes as many runs as its memory
    holds (mnist_sweep.planning.gpu_memory; the fewest of the shapes planned), not MAX_PACK_SIZE, and a run's
    time is estimated from gpu_flops ({shape_key: FLOP/s per GPU}, measured by this results
    folder's finished GPU packs: PackBook.measured_gpu_flops) where its shape was measured, else
    from the 2-core CPU figure (a first sweep: shorter jobs than need be, never longer).
    """
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(shape_key(run["hyperparameters"]), []).append(run)
    if pack_size:
        packs = []
        for group in groups.values():
            count = math.ceil(len(group) / pack_size)
            base, extra = divmod(len(group), count)
            start = 0
            for index in range(count):
                end = start + base + (1 if index < extra else 0)
                packs.append(group[start:end])
                start = end
        return packs
    if not runs:
        return []
    # A run's estimate depends on its shape only: once per shape, longest shape first.
    speeds = gpu_flops or {}
    shapes = sorted(((estimated_seconds(group[0]["hyperparameters"], dataset, speeds.get(key, ASSUMED_FLOPS)), group)
                     for key, group in groups.items()), key=lambda shape: -shape[0])
    costs = [(run, seconds) for seconds, group in shapes for run in group]
    total = sum(cost for _, cost in costs)
    per_gpu = MAX_PACK_SIZE if not gpu_memory_gb else min(
        runs_per_gpu(group[0]["hyperparameters"], TRAINING_IMAGES.get(dataset, 60_000), gpu_memory_gb)
        for group in groups.values())
    # A shape that ran out of GPU memory before: no more runs per GPU than fitted then (learned_runs_per_gpu).
    per_gpu = min([per_gpu, *((gpu_fitted or {}).get(key, per_gpu) for key in groups)])
    job_seconds, most = job_minutes * 60 * gpus, per_gpu * gpus
    wanted = min(len(runs), max(slots, math.ceil(total / job_seconds), math.ceil(len(runs) / most)))
    if 1 < wanted == min(slots, len(runs)):
        # The sweep fits in one round of the workstation's slots: each run, longest first, goes to
        # the job with the least work so far, so the jobs end together (each holds a share of every
        # shape, one pack per shape, trained one after the other).
        jobs, loads = [[] for _ in range(wanted)], [0.0] * wanted
        for run, seconds in costs:
            lightest = loads.index(min(loads))
            jobs[lightest].append(run)
            loads[lightest] += seconds
        return jobs
    share = total / wanted
    jobs, current, current_seconds = [], [], 0.0
    for index, (run, seconds) in enumerate(costs):
        if current:
            full = current_seconds + seconds > job_seconds or len(current) >= most
            # Past its share once the run would land more than half inside the next one; the
            # last job takes what is left (rounding), unless it is full.
            past_share = current_seconds + seconds / 2 > share and len(jobs) + 1 < wanted
            jobs_left_without_a_run = wanted - len(jobs) - 1 >= len(costs) - index
            if full or past_share or jobs_left_without_a_run:
                jobs.append(current)
                current, current_seconds = [], 0.0
        current.append(run)
        current_seconds += seconds
    return jobs + [current]


class PackBook:
    """The packs of one dataset's results folder: which run is planned in which pack, and which are done.

    results/<dataset>/packs/<id>/plan.json lists a pack's runs; done.json (the train job's
    output) is written when every run of the pack has its metrics.json.
    """

    def __init__(self, results: str | Path, read_plans: bool = True):
        """read_plans False: know no plan yet (a job reads its own one with learn)."""
        self.folder = Path(results) / "packs"
        self.pack_of: dict[str, str] = {}
        self.done: set[str] = set()
        self.cost: dict[str, int] = {}  # estimated milliseconds of each pack: the longest start first
        self.size: dict[str, int] = {}
        self.damaged: dict[str, str] = {}  # plan.json path: what is wrong (its runs are planned again)
        self._done_records: list[dict] | None = None  # the finished packs' done.json, once read (done_records)
        for plan_file in self.folder.glob("*/plan.json") if read_plans else []:
            try:
                plan = self._read(plan_file)
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
                # Its unfinished runs get a new plan, under a fresh id (assign); onstart sets this file aside.
                self.damaged[str(plan_file)] = f"{type(error).__name__}: {error}"
                continue
            if (plan_file.parent / "done.json").exists():
                self.done.add(plan["pack"])

    def _read(self, plan_file: Path) -> dict:
        """Read a plan and record its runs; raises what a damaged plan raises."""
        plan = json.loads(plan_file.read_text())
        self._record(plan["pack"], plan["runs"], plan["dataset"])
        return plan

    def _record(self, pack: str, runs: list[dict], dataset: str) -> None:
        for run in runs:
            self.pack_of[run["run_id"]] = pack
        self.cost[pack] = round(1000 * sum(estimated_seconds(run["hyperparameters"], dataset) for run in runs))
        self.size[pack] = len(runs)

    def learn(self, pack: str) -> None:
        """Read a plan written after this book was (a search plans each rung once the rung before is done)."""
        if pack not in self.size:
            try:
                self._read(self.plan_path(pack))
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
                pass  # no plan to learn from: the defaults (the largest pack's memory) apply

    def memory_mb(self, pack: str, slurm_logs: Path | None = None, first_mb: int | None = None,
                  gpus: int = 1) -> int:
        """Memory to ask for a pack's job: first_mb (config key job_memory_mb), or else 1.5 GB per
        training process (one per GPU) + 32 MB per replica (3.5 GB for 64 tutorial MLPs, which peaked
        at 2.3-2.4 GB on full MNIST, bench/README.md); doubled, tripled ... after each attempt that
        ended out of memory (mnist_sweep.cluster.attempts; slurm_logs: the pack's SLURM logs), so a job killed
        for memory is not resubmitted with the same amount, and no other retry asks for more."""
        self.learn(pack)
        first = first_mb or first_memory_mb(self.size.get(pack, MAX_PACK_SIZE * gpus), gpus)
        return first * (1 + out_of_memory_ends(self.folder / pack, slurm_logs))

    def done_records(self) -> list[dict]:
        """Every finished pack's done.json (written by the train job), read once; an unreadable one is left out."""
        if self._done_records is None:
            self._done_records = []
            for pack in sorted(self.done):
                try:
                    record = json.loads(self.done_path(pack).read_text())
                except (OSError, UnicodeDecodeError, ValueError):
                    continue
                if isinstance(record, dict):
                    self._done_records.append(record)
        return self._done_records

    def measured_gpu_flops(self) -> dict[str, float]:
        """{shape_key: the median training FLOP/s per GPU} over the finished packs trained on a GPU
        (each done.json's throughput, written by the train job); shapes never trained on a GPU are absent."""
        measured: dict[str, list[float]] = {}
        for record in self.done_records():
            try:
                for entry in record.get("throughput", []):
                    if str(entry["device"]).startswith("GPU") and entry["flops_per_second"] > 0:
                        measured.setdefault(entry["shape"], []).append(float(entry["flops_per_second"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # an older or damaged done.json: no measurement
        return {shape: sorted(values)[len(values) // 2] for shape, values in measured.items()}

    def learned_runs_per_gpu(self) -> dict[str, int]:
        """{shape_key: the fewest runs that fitted on one GPU} where a finished pack of that shape ran out of GPU
        memory and trained in parts (done.json's gpu_runs_fitted, mnist_sweep.training.train.runs_at_once)."""
        learned: dict[str, int] = {}
        for record in self.done_records():
            try:
                for shape, runs in record.get("gpu_runs_fitted", {}).items():
                    learned[shape] = min(int(runs), learned.get(shape, int(runs)))
            except (ValueError, TypeError, AttributeError):
                continue  # an older or damaged done.json: nothing learned
        return learned

    def plan_path(self, pack: str) -> Path:
        return self.folder / pack / "plan.json"

    def done_path(self, pack: str) -> Path:
        return self.folder / pack / "done.json"

    def assign(self, runs: list[dict], finished: set[str], dataset: str, job_minutes: float,
               pack_size: int | None = None, slots: int = 1, gpus: int = 1,
               gpu_memory_gb: float | None = None) -> tuple[dict[str, str], dict[str, list[dict]]]:
        """Where each run's result will come from: {run_id: pack id, or None if finished outside any pack}.

        Runs that are neither finished nor in a pack that can still train them are packed anew,
        returned as {pack id: runs}: write_plans writes them before the jobs start. gpu_memory_gb
        (a cluster's GPUs, config/slurm.yaml): new packs sized for GPU nodes (see plan_packs).
        """
        where, unplanned = {}, []
        for run in runs:
            run_id = run["run_id"]
            pack = self.pack_of.get(run_id)
            if pack is not None and not (pack in self.done and run_id not in finished):
                where[run_id] = pack  # planned: its pack trains it or has trained it
            elif run_id in finished:
                where[run_id] = None  # finished by a pack that is forgotten, or before packs existed
            else:
                unplanned.append(run)  # never planned, or its metrics.json was removed after its pack
        new = {}
        gpu_flops = self.measured_gpu_flops() if gpu_memory_gb and unplanned else None
        gpu_fitted = self.learned_runs_per_gpu() if unplanned else None
        for members in plan_packs(unplanned, dataset, job_minutes, pack_size, slots, gpus, gpu_memory_gb, gpu_flops,
                                  gpu_fitted):
            run_ids = [run["run_id"] for run in members]
            pack, attempt = pack_id(run_ids), 0
            # The same runs were packed before (their files were removed or damaged, or the plan was):
            # a fresh id, so that the old pack's done.json never passes for this one's.
            while pack in new or (self.folder / pack).exists():
                attempt += 1
                pack = pack_id(run_ids, attempt)
            new[pack] = members
            self._record(pack, members, dataset)
            for run in members:
                where[run["run_id"]] = pack
            self.done.discard(pack)
        return where, new

    def set_aside_damaged_plans(self) -> None:
        """Rename unreadable plans to plan.damaged.json (kept for a look): their runs were planned again."""
        for plan in self.damaged:
            os.replace(plan, Path(plan).with_name("plan.damaged.json"))

    def write_plans(self, new: dict[str, list[dict]], dataset: str) -> None:
        """Write the plans of new packs (not in a dry-run: the workflow calls this in `onstart`)."""
        for pack, members in new.items():
            write_json(self.plan_path(pack), {"pack": pack, "dataset": dataset, "runs": members})
            # The same runs packed again (their files were removed): the old marker is stale.
            self.done_path(pack).unlink(missing_ok=True)


def first_memory_mb(runs: int, gpus: int = 1) -> int:
    """Memory a training job asks for first (PackBook.memory_mb): 1.5 GB per training process (one per GPU)
    and 32 MB per replica."""
    return 1500 * gpus + 32 * runs
