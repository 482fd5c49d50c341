"""Which runs share a job: packing from the work, stable across reruns and growing sweeps."""

import json

import pytest

from mnist_sweep.config.validation import sweep_runs, validate_config
from mnist_sweep.config.architecture import multiply_adds_per_image
from mnist_sweep.cluster.attempts import gpu_out_of_memory_ends
from mnist_sweep.planning.packs import MAX_PACK_SIZE, PackBook, estimated_seconds, plan_packs


def runs_of(**config):
    return sweep_runs(validate_config(config))


def seconds_of(job):
    return sum(estimated_seconds(run["hyperparameters"], "mnist") for run in job)


def test_the_estimate_scales_with_the_models_arithmetic():
    tutorial = runs_of()[0]["hyperparameters"]
    assert multiply_adds_per_image(tutorial) == 784 * 512 + 512 * 512 + 512 * 10
    # The convnet: two 3x3 convolutions (26x26x32 from 1 channel, 11x11x64 from 32), then 1600 -> 10.
    assert multiply_adds_per_image(dict(tutorial, model="cnn")) == 26 * 26 * 32 * 9 + 11 * 11 * 64 * 32 * 9 + 16_000
    bigger = dict(tutorial, hidden_units=[1024, 1024])
    longer = dict(tutorial, epochs=8)
    assert estimated_seconds(bigger, "mnist") > estimated_seconds(tutorial, "mnist")
    assert estimated_seconds(longer, "mnist") > estimated_seconds(tutorial, "mnist")
    assert estimated_seconds(dict(tutorial, model="cnn"), "mnist") > estimated_seconds(tutorial, "mnist")


def test_tiny_runs_share_a_job_and_long_runs_get_their_own():
    runs = runs_of(seeds=list(range(7)))
    seconds = estimated_seconds(runs[0]["hyperparameters"], "mnist")
    assert 10 < seconds < 40  # the tutorial's 4 epochs on 2 CPU cores: about 15-20 s
    assert [len(job) for job in plan_packs(runs, "mnist", job_minutes=30)] == [7]
    # Jobs of at most 3 runs' length: 3 jobs of about equal length, not 3 + 3 + 1.
    assert [len(job) for job in plan_packs(runs, "mnist", job_minutes=seconds * 3 / 60)] == [2, 2, 3]
    long_runs = runs_of(seeds=[0, 1], grid={"hidden_units": [[8192, 8192]], "epochs": [50]})
    assert [len(job) for job in plan_packs(long_runs, "mnist", job_minutes=30)] == [1, 1]
    assert [len(job) for job in plan_packs(runs, "mnist", job_minutes=30, pack_size=1)] == [1] * 7  # the override
    assert plan_packs([], "mnist", job_minutes=30) == []


def test_a_small_sweep_is_spread_over_the_slots_in_jobs_of_about_equal_length():
    """The bench's 12-run sweep on 2 cores: two jobs, not one job and an idle core."""
    runs = runs_of(seeds=[0, 1, 2], grid={"dropout": [0.2, 0.4], "hidden_units": [[512, 512], [256, 256]]})
    assert [len(job) for job in plan_packs(runs, "mnist", job_minutes=30, slots=1)] == [12]
    jobs = plan_packs(runs, "mnist", job_minutes=30, slots=2)
    assert len(jobs) == 2 and sorted(run["run_id"] for job in jobs for run in job) == sorted(r["run_id"] for r in runs)
    longest_run = max(estimated_seconds(run["hyperparameters"], "mnist") for run in runs)
    assert abs(seconds_of(jobs[0]) - seconds_of(jobs[1])) <= longest_run
    # Dealt out, longer shape first, each shape's runs together: each job trains two packs of 3.
    for job in jobs:
        assert [run["hyperparameters"]["hidden_units"] for run in job] == [[512, 512]] * 3 + [[256, 256]] * 3
    # On a cluster (no slots) or with more work than one round, jobs are cut shape by shape.
    long_sweep = plan_packs(runs, "mnist", job_minutes=seconds_of(runs) / 2.5 / 60, slots=2)
    assert len(long_sweep) == 3 and all(len(job) >= 2 for job in long_sweep)
    assert [run["hyperparameters"]["hidden_units"] for run in long_sweep[0]] == [[512, 512]] * len(long_sweep[0])
    assert [len(job) for job in plan_packs(runs, "mnist", job_minutes=30, slots=64)] == [1] * 12  # one per run at most


def test_packs_hold_one_model_shape_and_balanced_sizes():
    runs = runs_of(seeds=list(range(7)), grid={"dropout": [0.2, 0.5], "learning_rate": [0.001, 0.01],
                                              "hidden_units": [[64], [32, 32]]})
    packs = plan_packs(runs, "mnist", job_minutes=30, pack_size=5)
    for pack in packs:
        assert len({json.dumps(run["hyperparameters"]["hidden_units"]) for run in pack}) == 1
    # 28 runs per shape in packs of at most 5: 6 packs, 5 5 5 5 4 4 (not 5 5 5 5 5 3).
    assert sorted(len(pack) for pack in packs) == [4] * 4 + [5] * 8
    assert sum(len(pack) for pack in packs) == len(runs)
    # Dropout and learning rate are per replica: one pack mixes them. Small packs of the two shapes
    # then share one job (56 tiny runs); with a shorter job length they do not all fit in one.
    auto = plan_packs(runs, "mnist", job_minutes=30)
    assert len(auto) == 1 and len(auto[0]) == 56
    assert {run["hyperparameters"]["dropout"] for run in auto[0]} == {0.2, 0.5}
    job_seconds = seconds_of(runs) * 0.6
    split = plan_packs(runs, "mnist", job_minutes=job_seconds / 60)
    assert len(split) == 2 and all(seconds_of(job) <= job_seconds for job in split)
    many = runs_of(seeds=list(range(40)), grid={"hidden_units": [[64], [32, 32]]})
    jobs = plan_packs(many, "mnist", job_minutes=30)
    assert len(jobs) == 2 and max(len(job) for job in jobs) <= MAX_PACK_SIZE  # at most 64 per job


def test_slots_are_the_cores_on_a_workstation_and_job_length_decides_on_a_cluster():
    from mnist_sweep.planning.slots import job_threads, training_slots

    assert training_slots(cores=2, jobs_limit=None, gpus=None, train_threads=1) == 2  # snakemake -c2
    assert training_slots(cores=8, jobs_limit=None, gpus=None, train_threads=2) == 4
    assert training_slots(cores=3, jobs_limit=None, gpus=None, train_threads=4) == 1
    assert training_slots(cores=8, jobs_limit=None, gpus=1, train_threads=1) == 1  # --resources gpu=1
    assert training_slots(cores=1, jobs_limit=50, gpus=None, train_threads=1) is None  # --jobs: a cluster
    assert job_threads(train_threads=1, cores=2, slots=2, jobs=1) == 2  # one job left: both cores
    assert job_threads(train_threads=1, cores=2, slots=2, jobs=5) == 1
    assert job_threads(train_threads=1, cores=8, slots=1, jobs=5) == 8  # one GPU: one job at a time
    assert job_threads(train_threads=2, cores=1, slots=None, jobs=1) == 2  # a cluster job: train_threads


def test_a_finished_or_planned_run_is_never_packed_again(tmp_path):
    results = tmp_path / "results" / "mnist"
    runs = runs_of(seeds=[0, 1])
    book = PackBook(results)
    where, new = book.assign(runs, finished=set(), dataset="mnist", job_minutes=30)
    assert len(new) == 1 and set(where.values()) == set(new)
    book.write_plans(new, "mnist")
    (pack,) = new
    # The same sweep again (before or after training): the same pack, nothing new.
    again, nothing = PackBook(results).assign(runs, finished=set(), dataset="mnist", job_minutes=30)
    assert nothing == {} and again == where
    # The pack finished; two more seeds: only they are packed.
    (results / "packs" / pack / "done.json").write_text("{}")
    finished = {run["run_id"] for run in runs}
    bigger = runs_of(seeds=[0, 1, 2, 3])
    where, new = PackBook(results).assign(bigger, finished, "mnist", 30)
    assert [sorted(run["seed"] for run in members) for members in new.values()] == [[2, 3]]
    assert [where[run["run_id"]] for run in runs] == [pack, pack]
    # A run finished before packs existed is taken as it is.
    loose = runs_of(seeds=[9])
    where, new = PackBook(results).assign(loose, {loose[0]["run_id"]}, "mnist", 30)
    assert new == {} and where == {loose[0]["run_id"]: None}
    # A run whose files were removed after its pack finished is packed anew (and the stale marker goes).
    book = PackBook(results)
    where, new = book.assign(runs, finished={runs[1]["run_id"]}, dataset="mnist", job_minutes=30)
    assert [[run["seed"] for run in members] for members in new.values()] == [[0]]
    assert where[runs[1]["run_id"]] == pack


@pytest.mark.parametrize("value", [0, -1])
def test_job_minutes_must_be_positive(value):
    from mnist_sweep.config.hyperparameters import ConfigError

    with pytest.raises(ConfigError, match=f"job_minutes = {value} is not allowed"):
        validate_config({"job_minutes": value})


def test_only_an_attempt_that_ran_out_of_memory_makes_a_retry_ask_for_more(tmp_path):
    book = PackBook(tmp_path)
    runs = runs_of(seeds=list(range(64)))
    _, new = book.assign(runs, set(), "mnist", 30)
    (pack,) = new
    slurm_logs = tmp_path / "slurm_logs" / pack
    slurm_logs.mkdir(parents=True)
    first = book.memory_mb(pack, slurm_logs)
    assert 2363 < first < 4000  # measured 2.4 GB peak for 64 tutorial MLPs (bench/README.md)
    attempts = tmp_path / "packs" / pack / "attempts.log"
    attempts.parent.mkdir(parents=True)
    # A stop at the time limit, a crash and a killed node: the same memory.
    attempts.write_text("== attempt started 1\nstopped before the job's time limit\n== attempt ended with exit code 143\n"
                        "== attempt started 2\nValueError: bug\n== attempt ended with exit code 1\n"
                        "== attempt started 3\nepoch 1/4\n")
    (slurm_logs / "101.log").write_text("slurmstepd: error: *** JOB 101 ON node1 CANCELLED DUE TO NODE FAILURE ***\n")
    assert book.memory_mb(pack, slurm_logs) == first
    # SLURM's out-of-memory kill (in the job's SLURM log), then Python's failed host allocation.
    (slurm_logs / "102.log").write_text("slurmstepd: error: Detected 1 oom_kill event in StepId=102.0. "
                                        "Some of the step tasks have been OOM Killed.\n")
    assert book.memory_mb(pack, slurm_logs) == 2 * first
    with open(attempts, "a") as f:
        f.write("== attempt started 4\nMemoryError: Unable to allocate 1.2 GiB\n== attempt ended with exit code 1\n")
    assert book.memory_mb(pack, slurm_logs) == 3 * first
    assert book.memory_mb(pack, tmp_path / "no such folder") == 2 * first
    assert book.memory_mb(pack, slurm_logs, first_mb=1000) == 3000  # config key job_memory_mb, grown the same
    # The GPU's memory, not the host's (TensorFlow's and CUDA's words, which say "out of memory" too): the
    # same host memory, and the retry trains the pack in parts (gpu_out_of_memory_ends).
    with open(attempts, "a") as f:
        f.write("== attempt started 5\nE external/local_xla/xla/stream_executor/cuda/cuda_driver.cc: failed to "
                "allocate 2.0G: CUDA_ERROR_OUT_OF_MEMORY: out of memory\ntensorflow.python.framework.errors_impl."
                "ResourceExhaustedError: OOM when allocating tensor with shape[64,128,784]\n"
                "== attempt ended with exit code 1\n")
    assert book.memory_mb(pack, slurm_logs) == 3 * first
    assert gpu_out_of_memory_ends(attempts.parent) == 1


def test_a_job_with_several_gpus_takes_that_many_times_the_runs_and_memory(tmp_path):
    """gpus per cluster job (config/slurm.yaml): one process per GPU, so up to gpus x 64 runs per job."""
    runs = runs_of(seeds=list(range(200)), grid={"hidden_units": [[8, 8]], "epochs": [1]})
    assert [len(job) for job in plan_packs(runs, "mnist", job_minutes=30)] == [50] * 4
    assert [len(job) for job in plan_packs(runs, "mnist", job_minutes=30, gpus=4)] == [200]
    long_runs = runs_of(seeds=list(range(4)), grid={"hidden_units": [[2048, 2048]], "epochs": [29]})  # 20 min each
    assert [len(job) for job in plan_packs(long_runs, "mnist", job_minutes=30)] == [1, 1, 1, 1]
    assert [len(job) for job in plan_packs(long_runs, "mnist", job_minutes=30, gpus=2)] == [2, 2]
    book = PackBook(tmp_path)
    _, new = book.assign(runs, set(), "mnist", 30, gpus=4)
    (pack,) = new
    assert book.memory_mb(pack, gpus=4) == 4 * 1500 + 32 * 200  # a TensorFlow process per GPU


def test_packs_for_gpu_nodes_hold_what_the_gpus_memory_holds_and_last_what_gpus_measured(tmp_path):
    """gpu_memory_gb (config/slurm.yaml): runs per GPU from its memory, not 64; a job's length from the
    FLOP/s that finished GPU packs of the same shape measured (their done.json), else the CPU figure."""
    from mnist_sweep.planning.gpu_memory import MAX_RUNS_PER_GPU, replica_bytes, runs_per_gpu
    from mnist_sweep.config.architecture import shape_key
    from mnist_sweep.planning.packs import ASSUMED_FLOPS

    runs = runs_of(seeds=list(range(600)))  # the tutorial MLP, 4 epochs: 15 s each on 2 CPU cores
    tutorial = runs[0]["hyperparameters"]
    assert replica_bytes(tutorial) == 4 * (4 * 669_706 + (3 * 128 + 500) * (784 + 512 + 512 + 10))
    small = runs_per_gpu(tutorial, 60_000, gpu_memory_gb=4)  # a 4 GB slice: 3.6 GB usable - 1.5 - the images
    assert small == int((0.9 * 4e9 - 1.5e9 - 4 * 784 * 60_000) // replica_bytes(tutorial)) == 111
    assert runs_per_gpu(tutorial, 60_000, gpu_memory_gb=141) == MAX_RUNS_PER_GPU
    assert runs_per_gpu(dict(tutorial, hidden_units=[8192, 8192]), 60_000, gpu_memory_gb=2) == 1  # never 0
    assert [len(job) for job in plan_packs(runs, "mnist", 30)] == [60] * 10  # not sized for GPUs: 64 at most
    # Without a measured speed, the CPU estimate bounds a job (30 min: 93 runs of 19 s).
    by_cpu_estimate = [len(job) for job in plan_packs(runs, "mnist", 30, gpu_memory_gb=141)]
    assert by_cpu_estimate == [86] * 6 + [84]
    # 10-hour jobs: the memory bounds them (600 runs: 3 jobs of at most 256, 6 of at most 111 on 4 GB).
    assert [len(job) for job in plan_packs(runs, "mnist", 600, gpu_memory_gb=141)] == [200] * 3
    assert [len(job) for job in plan_packs(runs, "mnist", 600, gpu_memory_gb=4)] == [100] * 6
    assert [len(job) for job in plan_packs(runs, "mnist", 600, gpus=2, gpu_memory_gb=4)] == [200] * 3  # 2 x 111
    measured = {shape_key(tutorial): 100 * ASSUMED_FLOPS}  # 0.19 s per run
    assert [len(job) for job in plan_packs(runs, "mnist", 30, gpu_memory_gb=141, gpu_flops=measured)] == [200] * 3
    other_shape = {shape_key(dict(tutorial, hidden_units=[64])): 100 * ASSUMED_FLOPS}
    assert [len(job) for job in plan_packs(runs, "mnist", 30, gpu_memory_gb=141, gpu_flops=other_shape)] == by_cpu_estimate

    # The measurements: each finished pack's done.json, GPU entries only, the median per shape.
    book = PackBook(tmp_path)
    _, new = book.assign(runs[:3], set(), "mnist", 30)
    (pack,) = new
    book.write_plans(new, "mnist")
    entries = [("GPU:0 (NVIDIA H100)", 3e12), ("GPU:0 (NVIDIA H100)", 5e12), ("GPU:1 (NVIDIA H100)", 4e12),
               ("CPU (x86_64)", 5e10)]
    book.done_path(pack).write_text(json.dumps({"pack": pack, "runs": {}, "throughput": [
        {"device": device, "shape": shape_key(tutorial), "flops_per_second": flops} for device, flops in entries]}))
    assert PackBook(tmp_path).measured_gpu_flops() == {shape_key(tutorial): 4e12}
    book.done_path(pack).write_text("{not json")  # damaged: no measurement, no error
    assert PackBook(tmp_path).measured_gpu_flops() == {}


def test_a_shape_that_ran_out_of_gpu_memory_gets_no_more_runs_per_gpu_than_fitted(tmp_path):
    """A finished pack that trained in parts after its GPU ran out of memory records the runs that fitted
    (done.json gpu_runs_fitted); new packs of that shape hold no more per GPU, other shapes are not held back."""
    from mnist_sweep.config.architecture import shape_key

    runs = runs_of(seeds=list(range(40)), grid={"hidden_units": [[8, 8]], "epochs": [1]})
    book = PackBook(tmp_path)
    _, first = book.assign(runs[:20], set(), "mnist", 30)
    assert [len(members) for members in first.values()] == [20]
    book.write_plans(first, "mnist")
    (pack,) = first
    book.done_path(pack).write_text(json.dumps({"pack": pack, "runs": {}, "throughput": [],
                                                "gpu_runs_fitted": {shape_key(runs[0]["hyperparameters"]): 8}}))
    book = PackBook(tmp_path)
    assert book.learned_runs_per_gpu() == {shape_key(runs[0]["hyperparameters"]): 8}
    _, new = book.assign(runs[20:], set(), "mnist", 30)
    assert sorted(len(members) for members in new.values()) == [6, 7, 7]  # 20 runs, at most 8 per GPU
    other = runs_of(seeds=list(range(20)), grid={"hidden_units": [[16]], "epochs": [1]})
    assert [len(members) for members in book.assign(other, set(), "mnist", 30)[1].values()] == [20]
