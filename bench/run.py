"""Benchmarks against the tutorial run side by side; prints ratios measured in one run.

    python bench/run.py --data /path/to/mnist.npz            # everything (about 45 minutes on 2 cores)
    python bench/run.py --data ... --only one_run,scale      # a part
    python bench/run.py --smoke                              # tiny data, seconds: checks the script works

Contenders alternate (A, B, A, B, ...) and medians are reported, because these machines
are shared and noisy; absolute times alone mean little, ratios measured together do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
# Training FLOPs per image of the tutorial MLP: multiply-adds of 784-512-512-10, x2 for
# FLOPs, x3 for forward + backward (gradients of inputs and weights).
MACS_PER_IMAGE = 784 * 512 + 512 * 512 + 512 * 10
TRAIN_FLOPS_PER_IMAGE = 6 * MACS_PER_IMAGE


def env_with_source():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(BENCH)]), TF_CPP_MIN_LOG_LEVEL="2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def timed(command, cwd=None):
    tick = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env_with_source(), capture_output=True, text=True)
    seconds = time.perf_counter() - tick
    result.stdout += result.stderr  # snakemake prints its job table on stderr
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def baseline_run(data, seed=0, dropout=0.2, hidden=512):
    seconds, out = timed([sys.executable, BENCH / "tutorial_baseline.py", "--data", data, "--seed", str(seed),
                          "--dropout", str(dropout), "--hidden", str(hidden)])
    line = next(line for line in out.splitlines() if line.startswith("BENCH "))
    return seconds, json.loads(line[6:])


def workflow_run(data_file, out_dir, seed=0, threads=2):
    seconds, _ = timed([sys.executable, "-m", "mnist_sweep.training.train", "--data", data_file, "--out", out_dir,
                        "--seed", str(seed), "--dataset", "mnist", "--threads", str(threads)])
    metrics = json.loads((Path(out_dir) / "metrics.json").read_text())
    epochs = [float(line.split("\t")[-1]) for line in (Path(out_dir) / "history.tsv").read_text().splitlines()[1:]]
    shutil.rmtree(out_dir)
    return seconds, metrics, epochs


def matmul_peak(threads=None):
    """Peak float32 matrix-multiply FLOP/s TensorFlow reaches here (best of several sizes)."""
    code = (
        "import time, tensorflow as tf\n"
        f"threads = {threads!r}\n"
        "if threads: tf.config.threading.set_intra_op_parallelism_threads(threads)\n"
        "best = 0\n"
        "for n in (512, 1024, 2048):\n"
        "    a = tf.random.uniform((n, n)); b = tf.random.uniform((n, n)); tf.matmul(a, b).numpy()\n"
        "    reps = max(3, int(4e9 / n**3))\n"
        "    t = time.perf_counter()\n"
        "    for _ in range(reps): c = tf.matmul(a, b)\n"
        "    c.numpy(); best = max(best, 2 * n**3 * reps / (time.perf_counter() - t))\n"
        "print('PEAK', best)\n"
    )
    _, out = timed([sys.executable, "-c", code])
    return float(next(line for line in out.splitlines() if line.startswith("PEAK ")).split()[1])


def bench_one_run(data, prepared, repeats, work):
    rows = {"baseline": [], "workflow": []}
    for index in range(repeats):
        seconds, result = baseline_run(data)
        rows["baseline"].append({"wall": seconds, "train": result["training_seconds"],
                                 "epoch": statistics.median(result["epoch_seconds"][1:] or result["epoch_seconds"]),
                                 "samples_per_s": result["training_images"] * result["epochs"] / result["training_seconds"],
                                 "accuracy": result["test_accuracy"]})
        seconds, metrics, epochs = workflow_run(prepared, work / f"one-{index}")
        rows["workflow"].append({"wall": seconds, "train": metrics["training_seconds"],
                                 "epoch": statistics.median(epochs[1:] or epochs),
                                 "samples_per_s": metrics["samples_per_second"], "accuracy": metrics["test_accuracy"]})
    return {name: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for name, runs in rows.items()}


# The 12-run sweep with the DEFAULT config otherwise (no pack or thread option).
SWEEP_CONFIG = """dataset: mnist
data_path: {data}
seeds: [0, 1, 2]
grid:
  dropout: [0.2, 0.4]
  hidden_units: [[512, 512], [256, 256]]
"""


def snakemake_sweep(data, work, cores=2, extra=""):
    directory = Path(tempfile.mkdtemp(dir=work))
    (directory / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", directory / "config" / "config.yaml")
    (directory / "sweep.yaml").write_text(SWEEP_CONFIG.format(data=data) + extra)
    seconds, _ = timed([sys.executable, "-m", "snakemake", "--snakefile", ROOT / "Snakefile", f"-c{cores}",
                        "--configfile", "sweep.yaml", "-q"], cwd=directory)
    shutil.rmtree(directory)
    return seconds


def baseline_loop(data):
    tick = time.perf_counter()
    for dropout in (0.2, 0.4):
        for hidden in (512, 256):
            for seed in (0, 1, 2):
                baseline_run(data, seed, dropout, hidden)
    return time.perf_counter() - tick


def hydra_multirun(data, work):
    seconds, _ = timed([sys.executable, BENCH / "hydra_sweep.py", "--multirun", f"data={data}",
                        "dropout=0.2,0.4", "hidden=512,256", "seed=0,1,2",
                        f"hydra.sweep.dir={work}/hydra"], cwd=work)
    return seconds


def bench_sweep(data, repeats, work):
    times = {"snakemake -c2 default": [], "snakemake -c2 pack_size 1": [], "baseline x12": [], "hydra multirun": []}
    for _ in range(repeats):
        times["snakemake -c2 default"].append(snakemake_sweep(data, work))
        times["snakemake -c2 pack_size 1"].append(snakemake_sweep(data, work, extra="pack_size: 1\n"))
        times["baseline x12"].append(baseline_loop(data))
        times["hydra multirun"].append(hydra_multirun(data, work))
    return times


def bench_pack_sizes(prepared, work, sizes=(1, 2, 4, 8, 16), threads=2, processes=1):
    """Seconds per model-epoch when K seeds of one grid point train as one packed model.

    processes > 1: that many packs train at once, each in its own process with `threads`
    threads, as `snakemake -c2` runs a sweep's jobs (mnist_sweep.planning.slots); the time is the
    slowest process's epoch divided among all their models.
    """
    result = {}
    for size in sizes:
        outs = [work / f"pack-{size}-{index}" for index in range(processes)]
        commands = [[sys.executable, "-m", "mnist_sweep.training.train", "--data", str(prepared), "--out", str(out / "seed~{seed}"),
                     "--seed", *map(str, range(size)), "--epochs", "2", "--threads", str(threads), "--no-model"]
                    for out in outs]
        # Each process logs to a file: a pipe left unread while another process is waited for
        # could fill and stall it, and the timing with it.
        logs = [work / f"pack-{size}-{index}.log" for index in range(processes)]
        running = []
        for command, log in zip(commands, logs):
            with open(log, "w") as f:
                running.append(subprocess.Popen(command, env=env_with_source(), stdout=f, stderr=subprocess.STDOUT))
        for process, log in zip(running, logs):
            if process.wait() != 0:
                raise RuntimeError(f"pack of {size} failed:\n{log.read_text()[-3000:]}")
        # The second epoch (the first includes tracing), divided among the models of all processes.
        second_epochs = [float((out / "seed~0" / "history.tsv").read_text().splitlines()[2].split("\t")[-1])
                         for out in outs]
        result[size] = max(second_epochs) / (size * processes)
        for out, log in zip(outs, logs):
            shutil.rmtree(out)
            log.unlink()
    return result


def bench_pack_memory(prepared, work, size=64, threads=2):
    """Peak memory (RSS) of one process training a pack of `size` tutorial MLPs on full MNIST, 1 epoch."""
    code = (
        "import resource, sys\n"
        "from mnist_sweep.training.train import main\n"
        f"main(['--data', {str(prepared)!r}, '--out', {str(work / 'memory' / 'seed~{seed}')!r}, '--threads', "
        f"'{threads}', '--epochs', '1', '--no-model', '--seed', *map(str, range({size}))])\n"
        "print('MAXRSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    seconds, out = timed([sys.executable, "-c", code])
    shutil.rmtree(work / "memory")
    return {"replicas": size, "seconds": seconds,
            "max_rss_mb": float(next(line for line in out.splitlines() if line.startswith("MAXRSS_MB")).split()[1])}


# A training job's `benchmark:` file as Snakemake writes it.
SNAKEMAKE_BENCHMARK = ("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                       "11.99\t0:00:11\t829.44\t2772.55\t578.05\t654.54\t0.00\t1.82\t56.00\t7.05\n")


def dry_run_contenders(directory, config_text):
    """Snakemake's own cost for the DAG of a sweep with one job per run (bench/bare.smk): a bare rule per run
    with the workflow's run paths, once declaring the same files as the workflow's train_run rule, once only
    metrics.json, and once runs as outputs of a pack (a pack job, then a local job per run)."""
    sys.path.insert(0, str(ROOT / "src"))
    import yaml
    from mnist_sweep.config.hyperparameters import run_path_fragment
    from mnist_sweep.config.validation import grid_table, validate_config

    config = validate_config(yaml.safe_load(config_text))
    points = [run_path_fragment(row) for row in grid_table(config).to_dict("records")]
    (directory / "points.txt").write_text("\n".join(points) + "\n")
    results = f"results/{config['dataset']}"
    snakemake = [sys.executable, "-m", "snakemake", "-n"]
    contenders = {}
    for files, name in (("all", "bare rule, same files per run"), ("metrics", "bare rule, metrics.json only"),
                        ("pack-runs", "runs as outputs (pack + run)")):
        (directory / f"bare-{files}.yaml").write_text(yaml.safe_dump(
            {"points_file": "points.txt", "seeds": config["seeds"], "results": results, "files": files}))
        contenders[name] = snakemake + ["--snakefile", BENCH / "bare.smk", "--configfile", f"bare-{files}.yaml"]
    return contenders


def finish_every_run(directory, dataset="mnist_5k"):
    """Fake a finished sweep: each planned pack's runs get the files a finished run has (tiny, but whole:
    run_files.run_state reads metrics.json's status and the zip tails), and each pack its done.json."""
    import numpy as np

    results = directory / "results" / dataset
    for plan_file in results.glob("packs/*/plan.json"):
        plan = json.loads(plan_file.read_text())
        for run in plan["runs"]:
            run_dir = results / "runs" / run["run_id"]
            run_dir.mkdir(parents=True, exist_ok=True)
            np.savez(run_dir / "predictions.npz", probabilities=np.zeros((1, 10), np.float32))
            (run_dir / "history.tsv").write_text("epoch\tloss\n1\t0.1\n")
            (run_dir / "metrics.json").write_text(json.dumps({"status": "completed", "seed": run["seed"]}))
        (plan_file.parent / "done.json").write_text(json.dumps({"pack": plan["pack"], "runs": len(plan["runs"])}))
    # The prepared data, as a finished sweep has it (else preparing it again would count as new input).
    (directory / "resources" / "data").mkdir(parents=True, exist_ok=True)
    (directory / "resources" / "data" / f"{dataset}.npz").touch()


def bench_scale(work, per_parameter=10, repeats=1):
    """At per_parameter^3 grid points x 10 seeds (10,000 runs): the workflow's `snakemake -n` before its plan,
    the plan itself, `snakemake -n` once planned and once every run is finished (the per-run check of
    rung_inputs), beside Snakemake's own cost of a DAG job per run; and summarizing the runs."""
    k = per_parameter
    runs = k**3 * 10
    directory = Path(tempfile.mkdtemp(dir=work))
    (directory / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", directory / "config" / "config.yaml")
    values = lambda n, scale: ", ".join(str(round(scale * (i + 1), 6)) for i in range(n))  # noqa: E731
    config_text = (
        "dataset: mnist_5k\nmodels: none\nseeds: [" + ", ".join(map(str, range(10))) + "]\ngrid:\n"
        f"  dropout: [{values(k, 0.05)}]\n  learning_rate: [{values(k, 0.0005)}]\n"
        f"  batch_size: [{', '.join(str(16 * (i + 1)) for i in range(k))}]\n"
    )
    (directory / "sweep.yaml").write_text(config_text)
    contenders = dry_run_contenders(directory, config_text)
    workflow = [sys.executable, "-m", "snakemake", "--snakefile", ROOT / "Snakefile", "--configfile", "sweep.yaml"]
    flag_sets = ("-n", "-n -q")
    # -q: the same DAG is built and checked, but no job is described (Snakemake formats
    # every job's description, even those --quiet rules hides, which is a third of the time).
    dry_run = {(name, flags): [] for name in contenders for flags in flag_sets}
    for _ in range(repeats):  # alternate the bare contenders
        for (name, flags), times in dry_run.items():
            seconds, out = timed(contenders[name] + flags.split()[1:], cwd=directory)
            if flags == "-n":
                assert f"train {runs}" in " ".join(out.split()), out[-2000:]  # one job per run
            times.append(seconds)

    def workflow_dry_runs(state, check):
        for flags in flag_sets:
            times = dry_run.setdefault((f"workflow {state}", flags), [])
            for _ in range(repeats):
                seconds, out = timed(workflow + flags.split(), cwd=directory)
                check(flags, " ".join(out.split()))
                times.append(seconds)

    def before_plan(flags, out):
        assert f"= {runs:,} runs; not planned yet;" in out, out[-2000:]
        assert flags != "-n" or "plan 1" in out and not re.search(r"\btrain \d", out), out[-2000:]

    workflow_dry_runs("before its plan", before_plan)
    plan_seconds, out = timed(workflow + ["-c1", "--until", "plan"], cwd=directory)
    assert f"{runs:,} runs; 0 finished, {runs:,} to train in" in out, out[-2000:]
    jobs = int(out.split(" to train in ")[1].split()[0])

    def planned(flags, out):
        assert "runs; planned;" in out and (flags != "-n" or f"train {jobs}" in out), out[-2000:]

    workflow_dry_runs("planned", planned)
    finish_every_run(directory)

    def finished(flags, out):
        assert "runs; planned;" in out and (flags != "-n" or not re.search(r"\btrain \d", out)
                                            and "summarize 1" in out), out[-2000:]

    workflow_dry_runs("finished", finished)
    # The with_runs target (every run a DAG job, for --summary, --dag, --delete-all-output), on the finished sweep.
    with_runs = {}
    for flags in ("-n -q", "--summary"):
        times = with_runs.setdefault(flags, [])
        for _ in range(repeats):
            seconds, out = timed(workflow[:3] + ["with_runs"] + workflow[3:] + flags.split(), cwd=directory)
            # Three files per run (models: none), each a train_run output with nothing to do.
            assert flags != "--summary" or out.count("\ttrain_run\t-\tok\t") == 3 * runs, out[-2000:]
            times.append(seconds)

    from mnist_sweep.analysis.summarize import summarize

    files = []
    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters

    base = {"dataset": "mnist", **tutorial_hyperparameters(), "status": "completed", "test_loss": 0.1}
    for index in range(runs):
        point, seed = divmod(index, 10)
        dropout, learning_rate, batch_size = 0.05 * (point % k + 1), 0.0005 * (point // k % k + 1), 16 * (point // k**2 + 1)
        run = directory / "runs" / f"p{point}" / f"seed~{seed}"
        run.mkdir(parents=True)
        metrics = dict(base, dropout=round(dropout, 6), learning_rate=round(learning_rate, 6),
                       batch_size=batch_size, seed=seed, test_accuracy=0.97 + 0.001 * ((index * 7) % 10))
        (run / "metrics.json").write_text(json.dumps(metrics))
        (run / "benchmark.tsv").write_text(SNAKEMAKE_BENCHMARK)  # read beside each metrics.json
        files.append(run / "metrics.json")
    tick = time.perf_counter()
    summarize(files, directory / "summary")
    summarize_seconds = time.perf_counter() - tick
    shutil.rmtree(directory)
    return {"runs": runs, "summarize_seconds": summarize_seconds, "plan_seconds": plan_seconds, "plan_jobs": jobs,
            "dry_run_seconds": {f"{name}, snakemake {flags}": statistics.median(times)
                                for (name, flags), times in dry_run.items()},
            "with_runs_seconds": {flags: statistics.median(times) for flags, times in with_runs.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="full MNIST .npz (Keras layout)")
    parser.add_argument("--only", default="one_run,efficiency,pack_sizes,memory,sweep,scale")
    parser.add_argument("--repeats", type=int, default=3, help="alternations of the one-run benchmark")
    parser.add_argument("--sweep-repeats", type=int, default=3, help="alternations of the 12-run sweep")
    parser.add_argument("--smoke", action="store_true", help="tiny scale benchmark only, to check the script")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="mnist-sweep-bench-"))
    report = {"machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
              "python": platform.python_version()}
    try:
        if args.smoke:
            report["scale"] = bench_scale(work, per_parameter=3)
            print(json.dumps(report, indent=2))
            return 0
        if not args.data:
            parser.error("--data is required (a full MNIST .npz)")
        args.data = str(Path(args.data).resolve())  # the sweeps run in their own folders
        prepared = work / "mnist.npz"
        timed([sys.executable, "-m", "mnist_sweep.data", "--dataset", "mnist", "--data-path", args.data,
               "--out", prepared])
        if "one_run" in parts or "efficiency" in parts:
            one = bench_one_run(args.data, prepared, args.repeats, work)
            report["one_run"] = one
            print("\n== one run (median of %d alternations)" % args.repeats)
            print(f"{'':24}{'baseline':>12}{'workflow':>12}{'ratio w/b':>12}")
            for key, label in (("wall", "process wall s"), ("train", "training s"), ("epoch", "epoch s (median)"),
                               ("samples_per_s", "samples/s"), ("accuracy", "test accuracy")):
                b, w = one["baseline"][key], one["workflow"][key]
                print(f"{label:24}{b:12.4g}{w:12.4g}{w / b:12.3f}")
        if "efficiency" in parts:
            peak = matmul_peak()
            flops = TRAIN_FLOPS_PER_IMAGE * 54000
            report["efficiency"] = {"peak_flops": peak, "epoch_flops": flops,
                                    "baseline": flops / (one["baseline"]["epoch"] * peak),
                                    "workflow": flops / (one["workflow"]["epoch"] * peak)}
            print(f"\n== efficiency: epoch FLOPs {flops:.3g} / (epoch s x matmul peak {peak:.3g} FLOP/s)")
            print(f"baseline {report['efficiency']['baseline']:.1%}   workflow {report['efficiency']['workflow']:.1%}")
        if "pack_sizes" in parts:
            peak = report.get("efficiency", {}).get("peak_flops")
            # One process with 2 threads, and 2 processes of 1 thread each: how `snakemake -c2`
            # trains a sweep of at least two jobs (mnist_sweep.planning.slots).
            for threads, processes in ((2, 1), (1, 2)):
                packs = bench_pack_sizes(prepared, work, threads=threads, processes=processes)
                report[f"pack_sizes_{processes}x{threads}_threads"] = packs
                print(f"\n== seed packing: seconds per model-epoch (full MNIST, {processes} process(es) x {threads} "
                      f"thread(s), K models each)")
                for size, seconds in packs.items():
                    efficiency = f"   efficiency {TRAIN_FLOPS_PER_IMAGE * 54000 / (seconds * peak):.1%}" if peak else ""
                    print(f"K={size:<3}{seconds:8.2f} s   speed-up vs K=1: {packs[1] / seconds:5.2f}x{efficiency}")
        if "memory" in parts:
            memory = bench_pack_memory(prepared, work)
            report["memory"] = memory
            print(f"\n== memory: a pack of {memory['replicas']} tutorial MLPs, full MNIST, 1 epoch: peak RSS "
                  f"{memory['max_rss_mb']:.0f} MB ({memory['seconds']:.0f} s)")
        if "sweep" in parts:
            sweep = bench_sweep(args.data, args.sweep_repeats, work)
            report["sweep"] = {name: statistics.median(values) for name, values in sweep.items()}
            report["sweep_alternations"] = sweep
            print(f"\n== 12-run sweep (2 x 2 grid x 3 seeds, 4 epochs; median of {args.sweep_repeats})")
            ours = report["sweep"]["snakemake -c2 default"]
            for name, seconds in report["sweep"].items():
                # The ratio of medians, and the range of the ratios within each alternation.
                ratios = [other / mine for other, mine in zip(sweep[name], sweep["snakemake -c2 default"])]
                print(f"{name:26}{seconds:10.1f} s   this / snakemake default: {seconds / ours:6.2f}x   "
                      f"(per alternation {min(ratios):.2f}-{max(ratios):.2f}x)")
        if "scale" in parts:
            scale = bench_scale(work, repeats=args.repeats)
            report["scale"] = scale
            print(f"\n== scale, {scale['runs']:,} runs (median of {args.repeats})")
            dry = scale["dry_run_seconds"]
            for flags in ("-n", "-n -q"):
                reference = dry[f"bare rule, same files per run, snakemake {flags}"]
                for name in ("workflow before its plan", "workflow planned", "workflow finished",
                             "bare rule, same files per run", "bare rule, metrics.json only",
                             "runs as outputs (pack + run)"):
                    seconds = dry[f"{name}, snakemake {flags}"]
                    print(f"snakemake {flags:6}{name:32}{seconds:8.1f} s   this / bare same files: "
                          f"{seconds / reference:5.2f}x")
            for flags, seconds in scale["with_runs_seconds"].items():
                print(f"snakemake with_runs {flags:10}(every run a job; finished) {seconds:8.1f} s")
            print(f"the plan (snakemake -c1 --until plan: {scale['plan_jobs']} training jobs) "
                  f"{scale['plan_seconds']:8.1f} s")
            print(f"summarizing {scale['runs']:,} runs' metrics.json {scale['summarize_seconds']:8.1f} s")
        print("\n" + json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
