# One training job per (grid point, seed) when pack_size is 1 (the default). With
# pack_size K > 1, one job trains up to K seeds of a grid point as one packed model in a
# staging folder, and a local rule moves each seed's files into its usual run directory.

# Flags that are the same for every job are written into the command once, here.
GPU_IDS = ",".join(str(i) for i in config["gpu_ids"])
TRAIN_COMMAND = (
    "python -m mnist_sweep.train --data {input.data} --out {params.out} "
    "--seed {params.seeds} --threads {threads} {params.hyperparameters} "
    f"--dataset {DATASET} --validation-split {config['validation_split']} "
    f"--gpu-ids '{GPU_IDS}' > {{log}} 2>&1"
)

if config["pack_size"] == 1:

    rule train:
        input:
            data=PREPARED_DATA,
        output:
            metrics=f"{RUN_DIR}/metrics.json",
            history=report(
                f"{RUN_DIR}/history.tsv",
                caption="../report/history.rst",
                category="Runs",
                labels=RUN_LABELS,
            ),
            predictions=f"{RUN_DIR}/predictions.npz",
            model=f"{RUN_DIR}/model.keras",
        log:
            f"{RUN_DIR}/train.log",
        benchmark:
            f"{RUN_DIR}/benchmark.tsv"
        priority: get_training_priority
        conda:
            "../envs/mnist-sweep.yaml"
        threads: config["train_threads"]
        resources:
            gpu=1,
        params:
            out=RUN_DIR,
            seeds="{seed}",
            hyperparameters=HYPERPARAMETER_FLAGS,
        shell:
            TRAIN_COMMAND

else:

    rule train:
        input:
            data=PREPARED_DATA,
        output:
            # Only a marker: the pack's seed files are moved out by collect_run.
            temp(PACK_MARKER),
        log:
            f"{PACK_DIR}/train.log",
        benchmark:
            f"{PACK_DIR}/benchmark.tsv"
        priority: get_training_priority
        conda:
            "../envs/mnist-sweep.yaml"
        threads: config["train_threads"]
        resources:
            gpu=1,
        params:
            out=get_pack_run_pattern,
            seeds=lambda wildcards: wildcards.seeds.replace("-", " "),
            hyperparameters=HYPERPARAMETER_FLAGS,
        shell:
            f"{TRAIN_COMMAND} && touch {{output}}"

    localrules:
        collect_run,

    rule collect_run:
        input:
            get_pack_marker,
        output:
            metrics=f"{RUN_DIR}/metrics.json",
            history=report(
                f"{RUN_DIR}/history.tsv",
                caption="../report/history.rst",
                category="Runs",
                labels=RUN_LABELS,
            ),
            predictions=f"{RUN_DIR}/predictions.npz",
            model=f"{RUN_DIR}/model.keras",
            log=f"{RUN_DIR}/train.log",
            benchmark=f"{RUN_DIR}/benchmark.tsv",
        log:
            f"logs/{DATASET}/collect_run/{paramspace.wildcard_pattern}/seed~{{seed}}.log",
        params:
            pack_dir=lambda wildcards, input: str(Path(input[0]).parent),
        run:
            collect_run(
                params.pack_dir, wildcards.seed, Path(output.metrics).parent, log[0]
            )
