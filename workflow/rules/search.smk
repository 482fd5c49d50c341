# A search's own table and figure (config key `search`; its rungs are planned in plan.smk).


localrules:
    summarize_search,
    plot_search,


rule summarize_search:
    input:
        get_sweep_results,
    output:
        report(
            f"{SWEEP_DIR}/summary/search.tsv",
            caption="../report/search_table.rst",
            category="Search",
            labels={"table": "search"},
        ),
    log:
        f"logs/{DATASET}/{SWEEP}/summarize_search.log",
    conda:
        "../envs/mnist-sweep.yaml"
    script:
        "../scripts/summarize_search.py"


rule plot_search:
    input:
        table=f"{SWEEP_DIR}/summary/search.tsv",
        best=f"{SWEEP_DIR}/summary/best.json",
    output:
        report(
            f"{SWEEP_DIR}/figures/search.png",
            caption="../report/search.rst",
            category="Search",
            labels={"figure": "search"},
        ),
    log:
        f"logs/{DATASET}/{SWEEP}/plot_search.log",
    conda:
        "../envs/mnist-sweep.yaml"
    params:
        log_axes=[
            name
            for name, spec in (config["search"] or {}).get("space", {}).items()
            if spec.get("log")
        ],
    script:
        "../scripts/plot_search.py"
