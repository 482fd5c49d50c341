# Login node: it has internet; compute nodes often do not.
localrules:
    prepare_data,


rule prepare_data:
    input:
        get_data_source,
    output:
        "resources/data/{dataset}.npz",
    log:
        "logs/prepare_data/{dataset}.log",
    conda:
        "../envs/mnist-sweep.yaml"
    params:
        data_path=lambda wildcards, input: f"--data-path {input[0]}" if input else "",
    shell:
        "python -m mnist_sweep.data --dataset {wildcards.dataset} {params.data_path} "
        "--out {output} 2> {log}"
