# A search (config key `search`, see src/mnist_sweep/planning/rungs.py): each rung is planned by the
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
    conda:
        "../envs/mnist-sweep.yaml"
    params:
        # A changed search (more trials, another space) plans its rungs again; finished runs are kept.
        config=plan_config(config),
        slots=TRAINING_SLOTS or 1,
        gpus=GPUS_PER_JOB,
        gpu_memory=GPU_MEMORY_GB or 0,
    # A process of its own that imports only our package: a `run:` block would start a second
    # Snakemake, which reads the whole workflow again (3-4 s per rung).
    shell:
        "python -m mnist_sweep.planning.rungs --config {params.config:q} --rung {wildcards.rung} "
        "--out {output:q} --log {log:q} --slots {params.slots} --gpus-per-job {params.gpus} "
        "--gpu-memory-gb {params.gpu_memory}"


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
