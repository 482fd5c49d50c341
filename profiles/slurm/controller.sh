#!/usr/bin/env bash
# Run the Snakemake controller of a sweep as a cheap, long SLURM job (1 CPU, no GPU), for sites
# that forbid long processes on login nodes. It submits the training jobs as usual.
#
#   profiles/slurm/controller.sh [snakemake options...]      from the repository root
#
# On the login node first, before anything is submitted: the config is checked and the data is
# prepared (`snakemake ... --until prepare_data`: compute nodes are often offline), and the job's
# time limit is fitted to its partition (mnist_sweep.cluster.controller: CONTROLLER_TIME where the
# partition allows it, else an error; by default the partition's MaxTime, at most 3 days).
# Before its limit (CONTROLLER_RESUBMIT_SECONDS, default 600, at most a quarter of the limit) SLURM
# warns the job (--signal=B:USR1): it submits the next controller with the same options, to start
# when this one has ended (--dependency=afterany), and ends, leaving its training jobs running; the
# next one waits for them, removes the old lock and goes on. Nothing is trained twice.
#
# Environment: CONTROLLER_TIME, CONTROLLER_PARTITION, CONTROLLER_ACCOUNT, CONTROLLER_MEM (default 2G),
# CONTROLLER_RESUBMIT_SECONDS, SNAKEMAKE_PROFILE (default profiles/slurm).
# Snakemake's output: logs/controller-<jobid>.log. Prints the controller's job id.
set -euo pipefail
repo=${MNIST_SWEEP_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$repo"
export MNIST_SWEEP_REPO=$repo
mkdir -p logs
# The job runs the same python and snakemake as this shell (the activated environment).
python=$(command -v python)
snakemake=("$python" -m snakemake --profile "${SNAKEMAKE_PROFILE:-profiles/slurm}")

submit() {  # sbatch the controller with the snakemake options "$@"; extra sbatch options in $extra
    read -r minutes resubmit < <(PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" "$python" -m mnist_sweep.cluster.controller \
        ${CONTROLLER_PARTITION:+--partition "$CONTROLLER_PARTITION"} ${CONTROLLER_TIME:+--time "$CONTROLLER_TIME"} \
        --resubmit-seconds "${CONTROLLER_RESUBMIT_SECONDS:-600}")
    local options=(--parsable --job-name=mnist-sweep-controller --cpus-per-task=1 --mem="${CONTROLLER_MEM:-2G}"
                   --time="$minutes" --signal="B:USR1@$resubmit" --output="logs/controller-%j.log" --chdir="$repo")
    [[ -n ${CONTROLLER_PARTITION:-} ]] && options+=(--partition="$CONTROLLER_PARTITION")
    [[ -n ${CONTROLLER_ACCOUNT:-} ]] && options+=(--account="$CONTROLLER_ACCOUNT")
    sbatch "${options[@]}" ${extra:-} --wrap "exec bash $(printf '%q ' "$repo/profiles/slurm/controller.sh" --in-job "$@")"
}

if [[ ${1:-} == --in-job ]]; then
    shift
    controller=""
    next_controller() {
        local next
        next=$(extra="--dependency=afterany:$SLURM_JOB_ID" submit "$@")
        echo "controller job $SLURM_JOB_ID: its time limit is near; submitted the next controller, job $next" \
             "(it starts once this one has ended, waits for the training jobs left running, and goes on)" >&2
        if [[ -n $controller ]]; then kill -TERM "$controller" 2>/dev/null || true; else exit 143; fi
    }
    # Before Snakemake starts: SLURM may send the warning up to a minute early.
    # shellcheck disable=SC2064
    trap "next_controller $(printf '%q ' "$@")" USR1
    # Snakemake in the background, so that this shell can act on SLURM's warning before the limit.
    "${snakemake[@]}" "$@" &
    controller=$!
    status=0
    # wait returns early when the trap runs: wait again until Snakemake has ended.
    while kill -0 "$controller" 2>/dev/null; do
        wait "$controller" && status=0 || status=$?
    done
    exit "$status"
fi

# On the login node: bad config, too little disk or data that cannot be had stop here, before sbatch.
"${snakemake[@]}" "$@" --until prepare_data >&2
submit "$@"
