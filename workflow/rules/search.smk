# A search (config key `search`, see src/mnist_sweep/search.py): each rung is planned by the
# checkpoint below once the rung before it has finished, and its packs train with the usual
# train rule. Rung len(SEARCH_RUNGS) is the confirmation on new seeds (search.confirm_seeds).


localrules:
    search_rung,
    summarize_search,
    plot_search,


checkpoint search_rung:
    input:
        data=ancient(PREPARED_DATA),
        before=get_rung_before,
    output:
        f"{SWEEP_DIR}/search/rung-{{rung}}.json",
    log:
        f"logs/{DATASET}/{SWEEP}/search_rung-{{rung}}.log",
    wildcard_constraints:
        rung=r"\d+",
    params:
        # A changed search (more trials, another space) plans its rungs again; finished runs are kept.
        search=config["search"],
        seeds=config["seeds"],
        grid=config["grid"],
        slots=TRAINING_SLOTS or 1,
    run:
        # In Snakemake's own process (a few file reads): no interpreter to start between rungs.
        write_rung_plan(
            config, int(wildcards.rung), output[0], log[0], params.slots
        )


rule summarize_search:
    input:
        get_search_results,
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
