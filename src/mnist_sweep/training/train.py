"""Train a pack of runs (the workflow's train job), or one run by hand.

    python -m mnist_sweep.training.train --data resources/data/mnist.npz --pack results/mnist/packs/<id>/plan.json
    python -m mnist_sweep.training.train --data resources/data/mnist.npz --out /tmp/run --seed 0 --dropout 0.5

A pack's plan (mnist_sweep.planning.packs) lists its runs; each run's files go into its own run
directory (mnist_sweep.training.run_files), and --done names the file written when every run of the
pack is finished (the train job's output). With --out, the runs are the given seeds of one
grid point (several seeds: --out contains {seed}). The loop itself is mnist_sweep.training.trainer.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path

from mnist_sweep.cluster.attempts import (ENDED, charge_unended_attempt, gpu_out_of_memory_ends, record_attempt,
                                         requeue, start_line)
from mnist_sweep.config.hyperparameters import HYPERPARAMETERS, parse_value, tutorial_hyperparameters
from mnist_sweep.config.sweeps import run_folder, run_in_pack_folder
from mnist_sweep.cluster.deadline import TimeLimitStop
from mnist_sweep.cluster.gpu_processes import EXIT_SETUP_FAILED, part_of, train_on_each_gpu, visible_gpus
from mnist_sweep.io import write_json
from mnist_sweep.cluster.signals import EXIT_PREEMPTED


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Train a pack of runs, or the seeds of one grid point.")
    parser.add_argument("--data", required=True, type=Path, help="prepared dataset (.npz from mnist_sweep.data)")
    parser.add_argument("--pack", type=Path, help="a pack's plan.json (the workflow's train job)")
    parser.add_argument("--done", type=Path, help="with --pack: file written when every run of the pack is finished")
    parser.add_argument("--rung-plan", type=Path,
                        help="with --pack: write the pack's plan.json first, from this rung plan (its pack_runs): where "
                             "the results are in a storage plugin's storage, the pack's runs go into its folder")
    parser.add_argument("--out", help="run directory; with several seeds a pattern containing {seed}")
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="seed(s) of the run(s) given by --out")
    parser.add_argument("--dataset", default="mnist", help="dataset name recorded in metrics.json")
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow CPU threads")
    parser.add_argument("--validation-split", type=float, default=0.1)
    parser.add_argument("--gpu-ids", default="", help="comma-separated GPU ids to take one of (workstations)")
    parser.add_argument("--gpu-lock-dir", type=Path, default=Path(".snakemake/gpu-slots"))
    parser.add_argument("--allow-cpu", action="store_true", help="train on CPU even when the job was given a GPU")
    parser.add_argument("--no-model", action="store_true", help="do not write model.keras")
    parser.add_argument("--max-requeues", type=int, default=None,
                        help="with --pack, in a job the workflow submitted to SLURM: times the pack's job may requeue "
                             "itself after a stop (time limit, preemption); default: never")
    parser.add_argument("--time-limit-minutes", type=float, default=None,
                        help="a SLURM job's time limit (the rule's runtime): where squeue cannot say how long the "
                             "job has left, the trainer counts it from this (mnist_sweep.cluster.deadline)")
    parser.add_argument("--checkpoint-minutes", type=float, default=10.0,
                        help="save every run's state this often (and always when stopped); default 10")
    parser.add_argument("--part", help="with --pack: train only part i/n of its runs (one process per GPU, "
                                       "started by the pack's job: mnist_sweep.cluster.gpu_processes)")
    tutorial = tutorial_hyperparameters()
    for name in HYPERPARAMETERS:
        default = tutorial[name]
        shown = "-".join(map(str, default)) if name == "hidden_units" else default
        parser.add_argument(f"--{name.replace('_', '-')}", default=str(shown),
                            help=f"default: {shown}" + (" (layer sizes joined by '-')" if name == "hidden_units" else ""))
    args = parser.parse_args(argv)
    if (args.pack is None) == (args.out is None):
        parser.error("give either --pack (a pack's plan.json) or --out (a run directory)")
    if (args.part or args.rung_plan) and not args.pack:
        parser.error("--part and --rung-plan need --pack")
    if args.out and len(args.seed) > 1 and "{seed}" not in args.out:
        parser.error("with several seeds, --out must contain {seed}, e.g. results/run/seed~{seed}")
    args.hyperparameters = {name: parse_value(name, getattr(args, name)) for name in HYPERPARAMETERS}
    return args


def write_pack_plan(rung_plan: Path, pack_plan: Path) -> None:
    """The pack's plan.json from the rung plan that lists its runs (pack_runs: results kept in storage), its runs
    to be stored in the pack's own folder, runs/<run path>/ (runs_in_packs: mnist_sweep.config.sweeps.run_folder)."""
    plan = json.loads(rung_plan.read_text())
    pack = pack_plan.parent.name
    members = plan["pack_runs"][pack]
    write_json(pack_plan, {"pack": pack, "dataset": json.loads(plan["planned_for"])["dataset"], "runs": members,
                           "runs_in_packs": True})


def runs_of(args) -> tuple[list[dict], str, str | None, int]:
    """(runs, dataset, pack id, runs of the whole job) from a plan (of them only part i/n with --part), or
    from --out and --seed."""
    if args.pack:
        plan = json.loads(args.pack.read_text())
        results = args.pack.parents[2]  # results/<dataset>/packs/<id>/plan.json (not read in storage)
        # In storage, the runs go into the pack's folder (write_pack_plan), which the job declares.
        in_pack = plan.get("runs_in_packs")

        def folder(run: str) -> Path:
            return run_in_pack_folder(args.pack.parent, run) if in_pack else run_folder(results, run)

        # A search's runs: continue_from names the run of the rung before, whose kept state this one
        # continues; keep_state, that a later rung may continue this one (mnist_sweep.planning.rungs).
        runs = [{"run_dir": folder(run["run_id"]), "seed": run["seed"],
                 "hyperparameters": run["hyperparameters"], "keep_state": run.get("keep_state", False),
                 "drop_source_state": run.get("drop_source_state", False),
                 **({"continue_from": folder(run["continue_from"])} if run.get("continue_from") else {})}
                for run in plan["runs"]]
        return (part_of(runs, args.part) if args.part else runs), plan["dataset"], plan["pack"], len(runs)
    runs = [{"run_dir": Path(args.out.replace("{seed}", str(seed))), "seed": seed,
             "hyperparameters": args.hyperparameters} for seed in args.seed]
    return runs, args.dataset, None, len(runs)


class _Tee:
    """A text stream that writes to two: the job's log (stdout or stderr) and the pack's attempts.log.

    Anything else (fileno, isatty, ...) is the first stream's. A logging handler may keep this
    object past the attempt (absl's does) and write to it, or close it, at exit: by then the
    attempts log is closed and only the first stream is written; close() leaves both to their owners.
    """

    def __init__(self, first, second):
        self.first, self.second = first, second

    def write(self, text):
        self.first.write(text)
        if not self.second.closed:
            self.second.write(text)
        return len(text)

    def flush(self):
        self.first.flush()
        if not self.second.closed:
            self.second.flush()

    def close(self):
        pass

    def __getattr__(self, name):
        return getattr(self.first, name)


def main(argv=None) -> int:
    """With --pack: each attempt of the pack's job is appended to <pack>/attempts.log (Snakemake
    deletes train.log before it reruns a job) and its wall time to <pack>/attempts.tsv, which
    summarize adds up: a job stopped at its time limit, or rerun after a killed Snakemake, is
    charged every attempt."""
    args = parse_args(argv)
    if args.rung_plan and not args.part:
        write_pack_plan(args.rung_plan, args.pack)
    if not args.pack or args.part:  # by hand, or one GPU's part of a job: the job keeps the pack's records
        return train(args)
    started = datetime.datetime.now(datetime.timezone.utc)
    tick = time.monotonic()
    code = 1
    charge_unended_attempt(args.pack.parent)  # the attempt before, if it was killed outright
    with open(args.pack.parent / "attempts.log", "a") as log:
        print(start_line(started), file=log, flush=True)
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(stdout, log), _Tee(stderr, log)
        try:
            code = train(args)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
            if code == EXIT_PREEMPTED and args.max_requeues is not None:  # states saved: the same job continues
                requeue(args.pack.parent, args.max_requeues,
                        "time limit" if isinstance(stop, TimeLimitStop) else "SIGTERM")
            raise
        except BaseException:  # the traceback goes to train.log (stderr) as usual, and into attempts.log
            traceback.print_exc(file=log)
            raise
        finally:
            sys.stdout, sys.stderr = stdout, stderr
            seconds = time.monotonic() - tick
            print(f"{ENDED} with exit code {code} after {seconds:.1f} s", file=log, flush=True)
            record_attempt(args.pack.parent, started.isoformat(timespec="seconds"), seconds, code,
                           socket.gethostname(), os.environ.get("SLURM_JOB_ID") or "")
    return code


def train(args) -> int:
    from mnist_sweep.data import DataError
    from mnist_sweep.cluster.gpu_slots import take_gpu
    from mnist_sweep.cluster.setup_failure import record_setup_failure
    from mnist_sweep.cluster.signals import StopRequested
    from mnist_sweep.training.tensorflow_setup import NoGpuError
    from mnist_sweep.training.trainer import train_pack

    stop = StopRequested()
    stop.install()
    gpu = take_gpu([int(i) for i in args.gpu_ids.split(",") if i], args.gpu_lock_dir)
    if gpu is not None:
        print(f"using GPU {gpu} (CUDA_VISIBLE_DEVICES={gpu})", flush=True)
    runs, dataset, pack, job_runs = runs_of(args)
    gpus = visible_gpus()
    if args.pack and not args.part and len(gpus) > 1 and len(runs) > 1:
        return train_parts(args, gpus, runs, pack)
    at_once = runs_at_once(runs, args.pack.parent if args.pack else None)
    try:
        for start in range(0, len(runs), at_once):
            train_pack(args.data, runs[start:start + at_once], dataset, args.threads, args.validation_split, stop,
                       pack=pack, pack_dir=str(args.pack.parent) if args.pack else None, allow_cpu=args.allow_cpu,
                       save_models=not args.no_model, checkpoint_minutes=args.checkpoint_minutes,
                       # One GPU's part of a job: metrics.json records the job's runs (summarize shares its time).
                       pack_size=job_runs, time_limit_minutes=args.time_limit_minutes)
    except (NoGpuError, DataError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        if args.pack:  # a workflow's job: no retry and no other pack would fare better (mnist_sweep.cluster.setup_failure)
            record_setup_failure(f"{socket.gethostname()}, SLURM job {os.environ.get('SLURM_JOB_ID') or '-'}, "
                                 f"pack {args.pack.parent.name}: {error}")
        return EXIT_SETUP_FAILED
    if args.done:
        write_done(args, runs, pack, at_once if at_once < len(runs) else None)
    return 0


def runs_at_once(runs: list[dict], pack_dir: Path | None) -> int:
    """How many of the runs train at once: all, or after n attempts of the pack that ran out of GPU memory
    (mnist_sweep.cluster.attempts), at most ceil(runs / 2^n): parts trained one after the other, each run
    to the numbers it gets in any pack. More host memory would not have helped."""
    ends = gpu_out_of_memory_ends(pack_dir) if pack_dir else 0
    if not ends or len(runs) < 2:
        return max(1, len(runs))
    at_once = max(1, -(-len(runs) // 2**ends))
    print(f"this pack ran out of GPU memory in {ends} attempt(s) before: its {len(runs)} runs train in parts of "
          f"at most {at_once}", flush=True)
    return at_once


def train_parts(args, gpus: list[str], runs: list[dict], pack: str) -> int:
    """A job with several GPUs: one process per GPU (mnist_sweep.cluster.gpu_processes), then done.json or the stop."""
    argv = ["--data", str(args.data), "--pack", str(args.pack), "--validation-split", str(args.validation_split),
            "--checkpoint-minutes", str(args.checkpoint_minutes)]
    argv += ["--allow-cpu"] * args.allow_cpu + ["--no-model"] * args.no_model
    if args.time_limit_minutes:
        argv += ["--time-limit-minutes", str(args.time_limit_minutes)]
    code, signal_name = train_on_each_gpu(argv, gpus, len(runs), args.threads)
    if code == EXIT_PREEMPTED:  # every part saved its states: the job stops (and requeues) as one process would
        message = f"stopped by {signal_name}" if signal_name else "stopped before the job's time limit"
        print(f"{message}: every part saved its runs' states, rerun to resume", flush=True)
        raise SystemExit(EXIT_PREEMPTED) if signal_name else TimeLimitStop()
    if code == 0 and args.done:
        write_done(args, runs, pack)
    return code


def write_done(args, runs: list[dict], pack: str | None, at_once: int | None = None) -> None:
    """The pack's done.json (the train job's output): every run's status, and the training speed each
    process reached per shape (FLOP/s of all its replicas: what later packs on GPU nodes are sized
    from, packs.PackBook.measured_gpu_flops); after a GPU ran out of memory, the runs per GPU that
    fitted, per shape (gpu_runs_fitted: PackBook.learned_runs_per_gpu)."""
    from mnist_sweep.config.architecture import shape_key, training_flops_per_image

    statuses, throughput = {}, {}
    for run in runs:
        metrics = json.loads((Path(run["run_dir"]) / "metrics.json").read_text())
        statuses[run["run_id"] if "run_id" in run else str(run["run_dir"])] = metrics["status"]
        if metrics.get("samples_per_second") and "hyperparameters" in run:  # images per second of its process
            entry = {"device": metrics["device"], "shape": shape_key(run["hyperparameters"]),
                     "flops_per_second": round(metrics["samples_per_second"] * training_flops_per_image(run["hyperparameters"]))}
            throughput[json.dumps(entry, sort_keys=True)] = entry  # one per process and shape
    done = {"pack": pack, "runs": statuses, "throughput": list(throughput.values())}
    if at_once:
        done["gpu_runs_fitted"] = {shape_key(run["hyperparameters"]): at_once for run in runs if "hyperparameters" in run}
    write_json(args.done, done)


if __name__ == "__main__":
    code = main()
    # Every file is written and closed by now. A normal exit would then spend about 1 s tearing
    # TensorFlow down (measured with a bare `import tensorflow`), in every job.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
