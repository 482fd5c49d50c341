rule train:
    input:
        data=get_prepared_data,
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        history=f"{RUN_DIR}/history.tsv",
        predictions=f"{RUN_DIR}/predictions.npz",
        model=f"{RUN_DIR}/model.keras",
    log:
        f"{RUN_DIR}/train.log",
    benchmark:
        f"{RUN_DIR}/benchmark.tsv"
    conda:
        "../envs/mnist-sweep.yaml"
    threads: config["train_threads"]
    resources:
        gpu=1,
    params:
        run_dir=RUN_DIR,
        hyperparameters=get_hyperparameter_args,
        validation_split=config["validation_split"],
        dataset=DATASET,
        gpu_ids=",".join(str(i) for i in config["gpu_ids"]),
    shell:
        "python -m mnist_sweep.train --data {input.data} --out {params.run_dir} "
        "--seed {wildcards.seed} --dataset {params.dataset} --threads {threads} "
        "--validation-split {params.validation_split} --gpu-ids '{params.gpu_ids}' "
        "{params.hyperparameters} > {log} 2>&1"
