localrules:
    summarize,
    save_config,


rule summarize:
    input:
        # The packs that trained the sweep's runs (each run's files are in its run directory).
        get_sweep_results(),
    output:
        runs=f"{RESULTS}/summary/runs.tsv",
        configs=f"{RESULTS}/summary/configs.tsv",
        best=f"{RESULTS}/summary/best.json",
        runs_html=report(
            f"{RESULTS}/summary/runs.html",
            caption="../report/runs.rst",
            category="Tables",
            labels={"table": "runs"},
        ),
        comparison=f"{RESULTS}/summary/comparison.tsv",
        comparison_html=report(
            f"{RESULTS}/summary/comparison.html",
            caption="../report/comparison.rst",
            category="Tables",
            labels={"table": "comparison"},
        ),
        configs_html=report(
            f"{RESULTS}/summary/configs.html",
            caption="../report/configs.rst",
            category="Tables",
            labels={"table": "grid points"},
        ),
    log:
        f"logs/{DATASET}/summarize.log",
    conda:
        "../envs/mnist-sweep.yaml"
    script:
        "../scripts/summarize.py"


rule save_config:
    output:
        report(
            f"{RESULTS}/summary/config.yaml",
            caption="../report/config.rst",
            category="Config",
            labels={"file": "config.yaml"},
        ),
    log:
        f"logs/{DATASET}/save_config.log",
    conda:
        "../envs/mnist-sweep.yaml"
    params:
        config=config,
    script:
        "../scripts/save_config.py"
