# Snakemake's own cost for a sweep's DAG, the reference of the scale benchmark: one bare
# rule per run with the workflow's run paths and none of its code (no config checks, no
# priority, params, conda or report). bench/run.py times `snakemake -n` on it beside the
# workflow. config: points_file (one grid-point path per line), seeds, results (the
# workflow's results folder, e.g. results/mnist_5k), and files: "all" (the files the
# workflow's train rule declares), "metrics" (metrics.json only), or "pack-runs": runs as
# outputs the way issue 32 asks (a pack job per 64 runs writes a temporary directory, and a
# local rule per run declares that run's five files from it).
from pathlib import Path

POINTS = Path(config["points_file"]).read_text().split()
RUN_DIR = f"{config['results']}/runs/{{point}}/seed~{{seed}}"


rule all:
    input:
        expand(f"{RUN_DIR}/metrics.json", point=POINTS, seed=config["seeds"]),


if config["files"] == "all":

    rule train:
        output:
            metrics=f"{RUN_DIR}/metrics.json",
            history=f"{RUN_DIR}/history.tsv",
            predictions=f"{RUN_DIR}/predictions.npz",
            model=f"{RUN_DIR}/model.keras",
        log:
            f"{RUN_DIR}/train.log",
        benchmark:
            f"{RUN_DIR}/benchmark.tsv"
        shell:
            "touch {output}"

elif config["files"] == "pack-runs":
    RUNS = [(point, seed) for point in POINTS for seed in config["seeds"]]
    PACK_OF = {run: f"{index // 64:05d}" for index, run in enumerate(RUNS)}

    rule train_pack:
        output:
            temp(directory(f"{config['results']}/packs/{{pack}}/out")),
        shell:
            "mkdir -p {output}"

    def pack_of_run(wildcards):
        return f"{config['results']}/packs/{PACK_OF[(wildcards.point, int(wildcards.seed))]}/out"

    rule train:
        input:
            pack_of_run,
        output:
            metrics=f"{RUN_DIR}/metrics.json",
            history=f"{RUN_DIR}/history.tsv",
            predictions=f"{RUN_DIR}/predictions.npz",
            model=f"{RUN_DIR}/model.keras",
            log=f"{RUN_DIR}/train.log",
        localrule: True
        shell:
            "touch {output}"

else:

    rule train:
        output:
            metrics=f"{RUN_DIR}/metrics.json",
        shell:
            "touch {output}"
