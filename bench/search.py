"""A search against Optuna, side by side in one run: wall time to the answer and the answer's quality.

    python bench/search.py --data /path/to/mnist.npz               # 9 points x 3 seeds, 1/3/9 epochs, eta 3
    python bench/search.py --data ... --repeats 3                  # alternating A, B, A, B, ...: medians
    python bench/search.py --data ... --search-seeds 0 1 2         # the answer's quality over 3 searches each
    python bench/search.py --data ... --trials 27 --search-seeds 0 1 2   # the README's example search's scale

Which points a search tries is luck (Sobol's scramble, TPE's seed): one search per side says little about
whose answer is better. --search-seeds runs each side once per search seed (ours: search.seed; Optuna: the
TPE sampler's seed) and prints the mean test accuracy of their answers besides the time.

Ours: `snakemake -c2` on a search config (Sobol, successive halving, survivors continued, packed), up to
summary/best.json (the answer; figures left out, Optuna draws none). Optuna: bench/optuna_search.py (TPE,
SuccessiveHalvingPruner, Keras fit per seed), the same space, seeds, data split and epoch range. Both on
full MNIST, 2 cores. Prints each side's seconds, the chosen point, its mean test accuracy over the seeds
and the epochs trained, then the speed ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from run import env_with_source  # noqa: E402


def search_config(data, trials, seeds, epochs, eta, search_seed=0, min_epochs=1):
    return {"dataset": "mnist", "data_path": str(data), "seeds": seeds, "grid": {"epochs": [epochs]},
            "search": {"sampler": "sobol", "trials": trials, "seed": search_seed,
                       "space": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                                 "dropout": {"low": 0.0, "high": 0.5}},
                       "halving": {"min_epochs": min_epochs, "eta": eta}}}


def new_checkout(work) -> Path:
    """A folder to run the workflow in, with the project's config/config.yaml (nothing else of ours)."""
    directory = Path(tempfile.mkdtemp(dir=work))
    (directory / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", directory / "config" / "config.yaml")
    return directory


def run_search(directory: Path, sweep: str, config: dict) -> Path:
    """`snakemake -c2` on a search config as sweep `sweep`, up to summary/best.json and search.tsv (figures
    left out); returns the summary folder."""
    (directory / f"{sweep}.yaml").write_text(yaml.safe_dump(config))
    summary = Path("results", "mnist", "sweeps", sweep, "summary")
    result = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", ROOT / "Snakefile", "-c2",
                             str(summary / "best.json"), str(summary / "search.tsv"), "--configfile", f"{sweep}.yaml"],
                            cwd=directory, env=env_with_source(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return directory / summary


def ours(data, work, trials, seeds, epochs, eta, search_seed, min_epochs):
    directory = new_checkout(work)
    config = search_config(data, trials, seeds, epochs, eta, search_seed, min_epochs)
    tick = time.perf_counter()
    summary = run_search(directory, "search", config)
    seconds = time.perf_counter() - tick
    best = json.loads((summary / "best.json").read_text())
    import pandas as pd

    table = pd.read_csv(summary / "search.tsv", sep="\t")
    shutil.rmtree(directory)
    return {"seconds": seconds, "best": {k: best["hyperparameters"][k] for k in ("learning_rate", "dropout")},
            "val_accuracy_mean": best["val_accuracy_mean"], "test_accuracy_mean": best["test_accuracy_mean"],
            "epochs_trained": int(table["run_epochs_trained"].sum())}


def optuna(data, trials, seeds, epochs, eta, search_seed, min_epochs):
    tick = time.perf_counter()
    result = subprocess.run([sys.executable, ROOT / "bench" / "optuna_search.py", "--data", data, "--trials",
                             str(trials), "--seeds", *map(str, seeds), "--epochs", str(epochs), "--eta", str(eta),
                             "--sampler-seed", str(search_seed), "--min-epochs", str(min_epochs)],
                            env=env_with_source(), capture_output=True, text=True)
    seconds = time.perf_counter() - tick
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCH "))
    return json.loads(line[6:]) | {"seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-epochs", type=int, default=1, help="the first rung's epochs (Optuna: min_resource)")
    parser.add_argument("--search-seeds", type=int, nargs="+", default=[0],
                        help="one search per side and seed (ours: search.seed, Optuna: TPE's seed); default 0")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    rows = {"ours": [], "optuna": []}
    for repeat in range(args.repeats):
        for search_seed in args.search_seeds:
            for name in ("ours", "optuna"):
                setting = (args.data, args.trials, args.seeds, args.epochs, args.eta, search_seed, args.min_epochs)
                row = (ours(setting[0], work, *setting[1:]) if name == "ours" else optuna(*setting)) | {
                    "search_seed": search_seed}
                rows[name].append(row)
                print(f"{name:7s} round {repeat + 1}, search seed {search_seed}: {row['seconds']:7.1f} s, chose "
                      f"{row['best']}, validation {row['val_accuracy_mean']:.4f}, test {row['test_accuracy_mean']:.4f} "
                      f"(mean over {len(args.seeds)} seeds), {row['epochs_trained']} run-epochs trained", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    median = {name: statistics.median(r["seconds"] for r in runs) for name, runs in rows.items()}
    print(f"search of {args.trials} points x {len(args.seeds)} seeds, {args.min_epochs} to {args.epochs} epochs, eta {args.eta}, "
          f"{args.repeats} round(s) x {len(args.search_seeds)} search seed(s): ours {median['ours']:.1f} s, Optuna "
          f"{median['optuna']:.1f} s (medians): ours {median['optuna'] / median['ours']:.2f}x faster")
    # The answer's quality: each search seed once (a side's searches are deterministic), paired by seed.
    answers = {name: {r["search_seed"]: r["test_accuracy_mean"] for r in runs} for name, runs in rows.items()}
    differences = [answers["ours"][seed] - answers["optuna"][seed] for seed in args.search_seeds]
    print(f"test accuracy of the answer, mean over {len(args.search_seeds)} search seed(s): ours "
          f"{statistics.mean(answers['ours'].values()):.4f}, Optuna {statistics.mean(answers['optuna'].values()):.4f}; "
          f"ours minus Optuna per search seed: {', '.join(f'{d:+.4f}' for d in differences)}")


if __name__ == "__main__":
    main()
