localrules:
    summarize,
    save_config,


rule summarize:
    input:
        # The packs that trained the sweep's runs (each run's files are in its run directory).
        SWEEP_RESULTS,
    output:
        runs=f"{SWEEP_DIR}/summary/runs.tsv",
        configs=f"{SWEEP_DIR}/summary/configs.tsv",
        best=f"{SWEEP_DIR}/summary/best.json",
        runs_html=report(
            f"{SWEEP_DIR}/summary/runs.html",
            caption="../report/runs.rst",
            category="Tables",
            labels={"table": "runs"},
        ),
        comparison=f"{SWEEP_DIR}/summary/comparison.tsv",
        comparison_html=report(
            f"{SWEEP_DIR}/summary/comparison.html",
            caption="../report/comparison.rst",
            category="Tables",
            labels={"table": "comparison"},
        ),
        configs_html=report(
            f"{SWEEP_DIR}/summary/configs.html",
            caption="../report/configs.rst",
            category="Tables",
            labels={"table": "grid points"},
        ),
    log:
        f"logs/{DATASET}/{SWEEP}/summarize.log",
    conda:
        "../envs/mnist-sweep.yaml"
    script:
        "../scripts/summarize.py"


rule save_config:
    input:
        data=ancient(PREPARED_DATA),
    output:
        report(
            f"{SWEEP_DIR}/summary/config.yaml",
            caption="../report/config.rst",
            category="Config",
            labels={"file": "config.yaml"},
        ),
    log:
        f"logs/{DATASET}/{SWEEP}/save_config.log",
    conda:
        "../envs/mnist-sweep.yaml"
    params:
        # Without data_path: the data is recorded by its content (sha256), so giving the same
        # data again, or not giving it, changes nothing.
        config={key: value for key, value in config.items() if key != "data_path"},
    script:
        "../scripts/save_config.py"
