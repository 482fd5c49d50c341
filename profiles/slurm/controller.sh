#!/usr/bin/env bash
# Run the Snakemake controller of a sweep as a cheap, long SLURM job (1 CPU, no GPU), for sites
# that forbid long processes on login nodes. It submits the training jobs as usual.
#
#   profiles/slurm/controller.sh [snakemake options...]      from the repository root
#
# Environment: CONTROLLER_TIME (default 3-00:00:00), CONTROLLER_PARTITION, CONTROLLER_ACCOUNT,
# CONTROLLER_MEM (default 2G), SNAKEMAKE_PROFILE (default profiles/slurm).
# Snakemake's output: logs/controller-<jobid>.log. Prints the controller's job id.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p logs
options=(--parsable --job-name=mnist-sweep-controller --cpus-per-task=1 --mem="${CONTROLLER_MEM:-2G}"
         --time="${CONTROLLER_TIME:-3-00:00:00}" --output="logs/controller-%j.log" --chdir="$PWD")
[[ -n ${CONTROLLER_PARTITION:-} ]] && options+=(--partition="$CONTROLLER_PARTITION")
[[ -n ${CONTROLLER_ACCOUNT:-} ]] && options+=(--account="$CONTROLLER_ACCOUNT")
# The job runs the same python and snakemake as this shell (the activated environment).
command=$(printf '%q ' "$(command -v python)" -m snakemake --profile "${SNAKEMAKE_PROFILE:-profiles/slurm}" "$@")
sbatch "${options[@]}" --wrap "exec $command"
