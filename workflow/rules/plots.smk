# The figures of runs read them where runs.tsv's run_dir says; in storage (RUNS_IN_PACKS) their
# packs' folders are inputs too (get_sweep_results), so that the runs are there to read.


localrules:
    plot_samples,
    plot_predictions,
    plot_sweep,
    plot_point_predictions,


rule plot_samples:
    input:
        data=PREPARED_DATA,
    output:
        report(
            f"{SWEEP_DIR}/figures/samples.png",
            caption="../report/samples.rst",
            category="Figures",
            labels={"figure": "training samples"},
        ),
    log:
        f"logs/{DATASET}/{SWEEP}/plot_samples.log",
    conda:
        "../envs/mnist-sweep.yaml"
    shell:
        "python -m mnist_sweep.analysis.figures samples --data {input.data:q} --out {output:q} > {log:q} 2>&1"


rule plot_predictions:
    input:
        **({"packs": get_sweep_results} if RUNS_IN_PACKS else {}),
        data=PREPARED_DATA,
        runs=f"{SWEEP_DIR}/summary/runs.tsv",
        best=f"{SWEEP_DIR}/summary/best.json",
    output:
        report(
            f"{SWEEP_DIR}/figures/predictions.png",
            caption="../report/predictions.rst",
            category="Figures",
            labels={"figure": "predictions of the best grid point"},
        ),
    log:
        f"logs/{DATASET}/{SWEEP}/plot_predictions.log",
    conda:
        "../envs/mnist-sweep.yaml"
    script:
        "../scripts/plot_predictions.py"


rule plot_sweep:
    input:
        **({"packs": get_sweep_results} if RUNS_IN_PACKS else {}),
        runs=f"{SWEEP_DIR}/summary/runs.tsv",
        configs=f"{SWEEP_DIR}/summary/configs.tsv",
        best=f"{SWEEP_DIR}/summary/best.json",
    output:
        curves=report(
            f"{SWEEP_DIR}/figures/curves.png",
            caption="../report/curves.rst",
            category="Figures",
            labels={"figure": "learning curves"},
        ),
        parameters=report(
            f"{SWEEP_DIR}/figures/params.png",
            caption="../report/parameters.rst",
            category="Figures",
            labels={"figure": "accuracy vs hyperparameters"},
        ),
        confusion=report(
            f"{SWEEP_DIR}/figures/confusion.png",
            caption="../report/confusion.rst",
            category="Figures",
            labels={"figure": "confusion matrix of the best grid point"},
        ),
    log:
        f"logs/{DATASET}/{SWEEP}/plot_sweep.log",
    conda:
        "../envs/mnist-sweep.yaml"
    script:
        "../scripts/plot_sweep.py"


# On request, for any grid point:
#   snakemake -c1 results/<dataset>/figures/predictions/<run path without seed>.png
rule plot_point_predictions:
    input:
        **({"packs": get_sweep_results} if RUNS_IN_PACKS else {}),
        data=PREPARED_DATA,
        runs=f"{SWEEP_DIR}/summary/runs.tsv",
    output:
        f"{SWEEP_DIR}/figures/predictions/{paramspace.wildcard_pattern}.png",
    log:
        f"logs/{DATASET}/{SWEEP}/plot_point_predictions/{paramspace.wildcard_pattern}.log",
    conda:
        "../envs/mnist-sweep.yaml"
    params:
        run_path=lambda wildcards: run_path_fragment(wildcards),
    script:
        "../scripts/plot_point_predictions.py"
