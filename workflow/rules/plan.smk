# The one planning path (see src/mnist_sweep/planning/rungs.py): each rung is planned by the
# checkpoint below, a search's once the rung before it has finished, and its packs train with
# the train rule. A grid has one rung; a search's rung len(SEARCH_RUNGS) is its confirmation on
# new seeds (search.confirm_seeds).


localrules:
    plan,


checkpoint plan:
    input:
        get_rung_before,
    output:
        f"{SWEEP_DIR}/plan/rung-{{rung}}.json",
    log:
        f"logs/{DATASET}/{SWEEP}/plan-{{rung}}.log",
    wildcard_constraints:
        rung=r"\d+",
    # Before any other job that is ready (figures, config record): its training jobs come next,
    # and the longest of them first (their priority is their estimated milliseconds).
    priority: 10**9
    conda:
        "../envs/mnist-sweep.yaml"
    # What the plan is made for (the training slots here, a cluster job's GPUs and their
    # memory), as resources: Snakemake reruns a job whose params or command changed, and
    # `snakemake -n` after `snakemake -c4` must not plan again. The plan records them.
    resources:
        planned_slots=TRAINING_SLOTS or 1,
        planned_gpus_per_job=GPUS_PER_JOB,
        planned_gpu_memory_mb=int(1000 * (GPU_MEMORY_GB or 0)),
    params:
        # A changed sweep (more seeds, grid values or trials, another space) is planned again;
        # finished runs are kept.
        config=plan_config(config),
    # A process of its own that imports only our package: a `run:` block would start a second
    # Snakemake, which reads the whole workflow again (3-4 s per rung).
    shell:
        "python -m mnist_sweep.planning.rungs --config {params.config:q} --rung {wildcards.rung} "
        "--out {output:q} --log {log:q} --slots {resources.planned_slots} "
        "--gpus-per-job {resources.planned_gpus_per_job} "
        "--gpu-memory-gb {resources.planned_gpu_memory_mb}e-3"
        + (" --runs-in-packs" if RUNS_IN_PACKS else "")
