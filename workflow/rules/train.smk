# One training job per pack: runs that share a model shape, trained as one vectorized model
# (see src/mnist_sweep/planning/packs.py). The job writes each run's files into that run's own
# directory (results/<dataset>/runs/<params>/seed~N/, metrics.json last) and, when every
# run of the pack is finished, the pack's done.json: the job's declared output. Snakemake
# cannot give one job outputs that are not a pattern of its wildcards (a pack's runs are any
# set of run paths), and one DAG job per run costs about 1 ms each (10 s at 10,000 runs:
# bench/README.md). So a run's files are declared by train_run below, which Snakemake calls on
# only where a run is asked for by path, or lost a file after its pack had finished, and which
# the with_runs target (last below) shows for every run.

GPU_IDS = ",".join(str(i) for i in config["gpu_ids"])
PACK_DIR = f"{RESULTS}/packs/{{pack}}"
TRAIN_SITE_RESOURCES = train_resources(config["slurm"])
# The train command's options that a pack's job and one run's job share.
TRAINING_PARAMS = dict(
    allow_cpu="--allow-cpu" if config["allow_cpu"] else "",
    no_model="--no-model" if config["models"] == "none" else "",
    # Only a job the SLURM executor submitted puts itself back in the queue, never the
    # allocation around a local `snakemake -c` (see mnist_sweep/cluster/attempts.py).
    requeues=get_requeues_option,
    # The job's time limit, for where squeue cannot say how long it has left (a container without
    # SLURM's commands; see mnist_sweep/cluster/deadline.py).
    time_limit=get_time_limit_option,
)
TRAINING_OPTIONS = (
    f"--threads {{threads}} --validation-split {config['validation_split']} --gpu-ids '{GPU_IDS}' "
    f"--checkpoint-minutes {config['checkpoint_minutes']} "
    "{params.allow_cpu} {params.no_model} {params.requeues} {params.time_limit} > {log:q} 2>&1"
)


# In storage (no shared file system: RUNS_IN_PACKS), the job's output is the pack's folder, its runs inside
# (results/<dataset>/sweeps/<sweep>/packs/rung-<k>/<id>/runs/<run path>/), written from the rung plan that
# lists them (a declared input: no checkpoint is asked, so a cluster job can build it from its wildcards
# alone); its log and benchmark beside it, in logs/ (a declared folder holds no other output).
STORED_PACK_DIR = f"{RESULTS}/{stored_packs_folder(SWEEP, '{rung}')}/{{pack}}"
PACK_LOGS = (
    f"logs/{DATASET}/{SWEEP}/packs/rung-{{rung}}/{{pack}}"
    if RUNS_IN_PACKS
    else PACK_DIR
)


rule train:
    input:
        **({"plan": str(rung_plan_path(SWEEP_DIR, "{rung}"))} if RUNS_IN_PACKS else {}),
        data=ancient(PREPARED_DATA),
    output:
        directory(STORED_PACK_DIR) if RUNS_IN_PACKS else f"{PACK_DIR}/done.json",
    log:
        f"{PACK_LOGS}/train.log",
    benchmark:
        f"{PACK_LOGS}/benchmark.tsv"
    wildcard_constraints:
        rung=r"\d+",
    priority: get_training_priority
    conda:
        "../envs/mnist-sweep.yaml"
    # train_threads, or more on a workstation with spare cores (see mnist_sweep/planning/slots.py).
    threads: get_training_threads
    # In the rule, not the profile: a command-line --set-resources replaces the profile's
    # whole block, and these must survive it. The GPUs (one by default), and the site's settings
    # (config key slurm: partition, account, qos, ...; see mnist_sweep/cluster/slurm_site.py).
    resources:
        **TRAIN_SITE_RESOURCES,
        cpus_per_task=config["train_threads"] * GPUS_PER_JOB,
        mem_mb=get_training_memory,
    params:
        **TRAINING_PARAMS,
        **({"done": in_pack_folder("done.json")} if RUNS_IN_PACKS else {}),
        plan=in_pack_folder("plan.json") if RUNS_IN_PACKS else f"{PACK_DIR}/plan.json",
    # Paths quoted (:q): results_dir may hold a space, or a `;` that would end the command.
    shell:
        "python -m mnist_sweep.training.train --data {input.data:q} --pack {params.plan:q} "
        + (
            "--done {params.done:q} --rung-plan {input.plan:q} "
            if RUNS_IN_PACKS
            else "--done {output:q} "
        )
        + TRAINING_OPTIONS


# One run alone, its files declared: `snakemake -c2 results/<dataset>/runs/<run path>/metrics.json`
# trains that run only (if a file of it is missing), and a run that lost a file after its pack
# had finished is trained again here (see mnist_sweep/planning/rungs.py, rung_inputs).
rule train_run:
    input:
        data=ancient(PREPARED_DATA),
    output:
        [
            f"{RESULTS}/runs/{{run}}/{name}"
            for name in run_file_names(config["models"] != "none")
        ],
    log:
        f"{RESULTS}/runs/{{run}}/{TRAINED_ALONE_LOG}",
    wildcard_constraints:
        run=RUN_PATH_PATTERN,
    conda:
        "../envs/mnist-sweep.yaml"
    threads: get_training_threads
    resources:
        **TRAIN_SITE_RESOURCES,
        cpus_per_task=config["train_threads"],
        # One training process, one replica (the pack's rule: packs.first_memory_mb).
        mem_mb=config["job_memory_mb"] or first_memory_mb(1),
    params:
        **TRAINING_PARAMS,
        run_dir=get_run_dir,
        flags=get_run_flags,
    shell:
        "python -m mnist_sweep.training.train --data {input.data:q} --out {params.run_dir:q} "
        f"--dataset {DATASET} {{params.flags}} {TRAINING_OPTIONS}"


# The sweep's outputs and every run's files, each run a node of its own, for Snakemake's own tools:
# `snakemake with_runs --summary` lists every file with its state, `--dag` draws each run by its
# point and seed, `--delete-all-output` deletes the runs with all the rest (plans, tables, figures,
# the prepared data), so that the next `snakemake` plans and trains them again in packs. Finished
# runs are train_run's outputs here, with nothing to do; those a pack's job has yet to train are
# that job's. Not in `all`: a job per run costs Snakemake about 0.5-1 ms (`snakemake with_runs -n`
# of 10,000 runs: 13 s, against 2 s for the sweep's own DAG of one job per pack; bench/README.md).
localrules:
    with_runs,


rule with_runs:
    input:
        get_final_outputs(),
        get_every_run,
