localrules:
    plot_samples,
    plot_predictions,


rule plot_samples:
    input:
        data=get_prepared_data,
    output:
        report(
            f"{RESULTS}/figures/samples.png",
            caption="../report/samples.rst",
            category="Figures",
            labels={"figure": "training samples"},
        ),
    log:
        f"logs/{DATASET}/plot_samples.log",
    conda:
        "../envs/mnist-sweep.yaml"
    shell:
        "python -m mnist_sweep.figures samples --data {input.data} --out {output} > {log} 2>&1"


rule plot_predictions:
    input:
        data=get_prepared_data,
        best=f"{RESULTS}/summary/best.json",
        predictions=get_run_files("predictions.npz"),
    output:
        report(
            f"{RESULTS}/figures/predictions.png",
            caption="../report/predictions.rst",
            category="Figures",
            labels={"figure": "predictions of the best grid point"},
        ),
    log:
        f"logs/{DATASET}/plot_predictions.log",
    conda:
        "../envs/mnist-sweep.yaml"
    script:
        "../scripts/plot_predictions.py"
