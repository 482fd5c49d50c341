localrules:
    summarize,
    save_config,


CONFIRMATION_TABLES = (
    {
        f"confirmation_{name}": report(
            f"{SWEEP_DIR}/summary/confirmation/{name}.html",
            caption=f"../report/confirmation_{name}.rst",
            category="Confirmation",
            labels={"table": f"confirmation: {name}"},
        )
        for name in ("configs", "comparison")
    }
    if SEARCH and SEARCH["confirm_seeds"]
    else {}
)


rule summarize:
    input:
        # The rungs' plans and the packs that trained the sweep's runs (each run's files are in
        # its run directory).
        get_sweep_results,
    output:
        **CONFIRMATION_TABLES,
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
        answer=report(
            f"{SWEEP_DIR}/summary/answer.html",
            caption="../report/answer.rst",
            category="Answer",
            labels={"table": "the answer"},
        ),
        # A search's confirmation (search.confirm_seeds): its tables, in the report beside the others.
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
