# Entry point: config, validation, the rule files, and what a full run produces.
# All logic lives in the package src/mnist_sweep; rules only call it.
from snakemake.utils import min_version

# Tested with Snakemake 9 (pyproject.toml pins >=9.0,<10).
min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/summarize.smk"
include: "workflow/rules/plots.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
