# Login node: it has internet; compute nodes often do not.
localrules:
    prepare_data,


# The data's identity is its content: the step has no data_path input or param (see
# workflow/scripts/prepare_data.py), and training depends on the prepared file as ancient(),
# so preparing the same data again never retrains finished runs.
rule prepare_data:
    output:
        "resources/data/{dataset}.npz",
    log:
        "logs/prepare_data/{dataset}.log",
    conda:
        "../envs/mnist-sweep.yaml"
    script:
        "../scripts/prepare_data.py"
