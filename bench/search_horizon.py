"""How well a short rung predicts the last: the search's points trained to the end, all of them.

    python bench/search_horizon.py --data /path/to/mnist.npz                    # search seed 0
    python bench/search_horizon.py --data ... --search-seeds 0 1 --min-epochs 1

Successive halving ranks points after a short rung (1 epoch) and stops most of them. That pays only where
the short rung's ranking predicts the long one. For each search seed this runs, in one results folder,

1. the search of bench/search.py (`snakemake -c2`: 9 Sobol points x 3 seeds, rungs 1/3/9, eta 3), and
2. the same points without halving (`search.halving: null`): every point trains all 9 epochs (the
   finalist's 9-epoch runs are reused from 1).

and prints each point's mean validation accuracy over seeds after each rung's epochs (from the 9-epoch
runs' history.tsv, the numbers the search ranked by), the Spearman rank correlation of each rung with
the last, and where the search's answer ranks at 9 epochs among the same points, with its test accuracy
against the best's. Takes about 10 minutes per search seed on 2 cores. Nothing here is timed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from search import new_checkout, run_search, search_config  # noqa: E402


def validation_per_epoch(run_dirs: list[Path]) -> np.ndarray:
    """Validation accuracy after each epoch (history.tsv), mean over the runs (a point's seeds)."""
    return np.mean([pd.read_csv(d / "history.tsv", sep="\t")["val_accuracy"].to_numpy() for d in run_dirs], axis=0)


def test_accuracy(run_dirs: list[Path]) -> float:
    """Test accuracy (metrics.json), mean over the runs."""
    return float(np.mean([json.loads((d / "metrics.json").read_text())["test_accuracy"] for d in run_dirs]))


def horizon(data, work, search_seed, trials, seeds, epochs, eta, min_epochs):
    directory = new_checkout(work)
    config = search_config(data, trials, seeds, epochs, eta, search_seed, min_epochs)
    halving = run_search(directory, "halving", config)
    run_search(directory, "full", dict(config, search=dict(config["search"], halving=None)))  # every point, 9 epochs
    chosen = json.loads((halving / "best.json").read_text())["run_path"].rsplit("/epochs~", 1)[0]
    table = pd.read_csv(halving / "search.tsv", sep="\t")
    rung_epochs = sorted(int(c.split("_")[2]) for c in table.columns if c.startswith("val_accuracy_"))
    runs = directory / "results" / "mnist" / "runs"
    rows = []
    for point, learning_rate, dropout in zip(table["point"], table["learning_rate"], table["dropout"]):
        run_dirs = sorted((runs / point / f"epochs~{epochs}").glob("seed~*"))
        validation = validation_per_epoch(run_dirs)
        rows.append({"learning_rate": learning_rate, "dropout": dropout, "chosen": point == chosen,
                     **{f"val_{e}": validation[e - 1] for e in rung_epochs}, "test": test_accuracy(run_dirs)})
    frame = pd.DataFrame(rows).sort_values(f"val_{epochs}", ascending=False).reset_index(drop=True)
    print(f"search seed {search_seed}: the {len(frame)} points, all trained {epochs} epochs, best first "
          f"(mean over {len(seeds)} seeds; * = the search's answer)")
    for index, row in frame.iterrows():
        values = "  ".join(f"val {e:>2} ep {row[f'val_{e}']:.4f}" for e in rung_epochs)
        print(f"  {index + 1}. lr {row['learning_rate']:<9} dropout {row['dropout']:<9} {values}  "
              f"test {row['test']:.4f}{'  *' if row['chosen'] else ''}")
    correlations = {e: spearmanr(frame[f"val_{e}"], frame[f"val_{epochs}"])[0] for e in rung_epochs[:-1]}
    rank = int(frame.index[frame["chosen"]][0]) + 1
    print(f"search seed {search_seed}: Spearman rank correlation with the {epochs}-epoch ranking: "
          + ", ".join(f"{e} epoch(s) {c:+.2f}" for e, c in correlations.items())
          + f"; the search's answer ranks {rank} of {len(frame)} at {epochs} epochs, test "
          f"{frame['test'][rank - 1]:.4f} against the best's {frame['test'][0]:.4f}", flush=True)
    shutil.rmtree(directory)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--search-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-epochs", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-horizon-"))
    for search_seed in args.search_seeds:
        horizon(args.data, work, search_seed, args.trials, args.seeds, args.epochs, args.eta, args.min_epochs)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
