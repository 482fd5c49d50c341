"""What a cluster job's Snakemake start costs at 10,000 runs: the job reads its own plan, not the sweep.

    python bench/job_start.py                  # 10 x 10 x 10 grid x 10 seeds on mnist_5k, fake finished runs

A SLURM job runs Snakemake again (--mode remote --target-jobs train:pack=<id>) to train its pack.
This times that start, side by side with the controller's start (-n -q) of the same sweep, in a
folder where half of the runs are finished (fake run files) and every pack has its plan. Medians
of 3, alternating.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from run import env_with_source  # noqa: E402

GRID = {"dropout": [round(0.05 * i, 2) for i in range(10)],
        "learning_rate": [round(0.0005 * (i + 1), 4) for i in range(10)],
        "weight_decay": [round(0.001 * i, 3) for i in range(10)], "epochs": [1]}


def main():
    from mnist_sweep.config.validation import validate_config
    from mnist_sweep.planning.packs import PackBook
    from mnist_sweep.training.run_files import write_history

    work = Path(tempfile.mkdtemp(prefix="bench-job-start-"))
    (work / "config").mkdir()
    (work / "config" / "config.yaml").write_text((ROOT / "config" / "config.yaml").read_text())
    config_args = ["--config", "dataset=mnist_5k", f"seeds={list(range(10))}", f"grid={json.dumps(GRID)}"]
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "-c1"]
    # The plans, as a controller writes them before its first job (onstart), and the prepared data.
    subprocess.run(base + ["resources/data/mnist_5k.npz", *config_args], cwd=work, env=env_with_source(), check=True,
                   capture_output=True)
    from mnist_sweep.config.validation import sweep_runs

    config = validate_config({"dataset": "mnist_5k", "seeds": list(range(10)), "grid": GRID})
    runs = sweep_runs(config)
    packs = sorted(set(PackBook(work / "results" / "mnist_5k").pack_of.values()))  # written by onstart above
    for run in runs[: len(runs) // 2]:  # half finished: metrics.json and what it vouches for
        run_dir = work / "results" / "mnist_5k" / "runs" / run["run_id"]
        run_dir.mkdir(parents=True)
        write_history(run_dir / "history.tsv", [])
        (run_dir / "predictions.npz").write_bytes(b"PK\x05\x06" + bytes(18))
        (run_dir / "metrics.json").write_text(json.dumps({"status": "completed"}))
    pack = packs[-1]
    commands = {
        "controller start (snakemake -n -q)": base + ["-n", "-q", *config_args],
        "job start (--mode remote, its pack)": base + ["-n", "--mode", "remote", "--target-jobs", f"train:pack={pack}",
                                                       "--allowed-rules", "train", *config_args],
    }
    times = {name: [] for name in commands}
    for _ in range(3):
        for name, command in commands.items():
            tick = time.perf_counter()
            result = subprocess.run(command, cwd=work, env=env_with_source(), capture_output=True, text=True)
            times[name].append(time.perf_counter() - tick)
            if result.returncode != 0:
                raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    print(f"{len(runs):,} runs in {len(packs)} packs, half finished:")
    for name, values in times.items():
        print(f"  {name}: {statistics.median(values):.2f} s (median of 3: {', '.join(f'{v:.2f}' for v in values)})")
    bare = [sys.executable, "-c", "import snakemake.cli"]
    tick = time.perf_counter()
    subprocess.run(bare, check=True)
    print(f"  importing Snakemake alone: {time.perf_counter() - tick:.2f} s")


if __name__ == "__main__":
    main()
