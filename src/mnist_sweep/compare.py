"""Is a grid point really better or worse than a reference, or within seed noise?

Each grid point is compared with the best grid point and with the tutorial configuration
(when the grid contains it), on test accuracy, paired by seed: the same seed ran on both
sides, so per-seed differences remove the shared part of the seed-to-seed variation. The
interval is the 95% t-interval of the mean difference, the p-value that of a paired t-test
(scipy.stats.ttest_rel); the verdict is "better" or "worse" when the interval excludes 0.
Diverged runs are left out (their seed drops from the pairing) and counted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from mnist_sweep.config import HYPERPARAMETERS, format_value, run_path_fragment, tutorial_hyperparameters

TUTORIAL_POINT = {name: format_value(name, value) for name, value in tutorial_hyperparameters().items()}
TUTORIAL_PATH = run_path_fragment(TUTORIAL_POINT)
COLUMNS = (
    ["reference", "reference_run_path", "run_path", *HYPERPARAMETERS]
    + ["n_paired", "n_diverged", "mean_difference", "ci95_low", "ci95_high", "p_value", "verdict"]
)


def seed_scores(runs: pd.DataFrame, metric: str = "test_accuracy") -> tuple[dict, int]:
    """A grid point's runs as ({seed: metric} over its completed runs, number of diverged runs)."""
    status = runs["status"].to_numpy()
    completed = status == "completed"
    values = runs[metric].to_numpy(dtype=float)[completed]
    return dict(zip(runs["seed"].to_numpy()[completed].tolist(), values)), int((status == "diverged").sum())


def paired_difference(point: tuple[dict, int], reference: tuple[dict, int]) -> dict:
    """Mean per-seed difference point - reference over the seeds both completed (seed_scores of each)."""
    (a, diverged_a), (b, diverged_b) = point, reference
    seeds = sorted(a.keys() & b.keys())
    differences = np.array([a[seed] - b[seed] for seed in seeds])
    row = {"n_paired": len(seeds), "n_diverged": diverged_a + diverged_b}
    if len(seeds) == 0:
        return row | {"mean_difference": np.nan, "ci95_low": np.nan, "ci95_high": np.nan, "p_value": np.nan,
                      "verdict": "no seed completed on both sides"}
    mean = differences.mean()
    if len(seeds) < 2:
        return row | {"mean_difference": mean, "ci95_low": np.nan, "ci95_high": np.nan, "p_value": np.nan,
                      "verdict": "one paired seed: no interval can be given"}
    spread = differences.std(ddof=1)
    if spread == 0:
        low = high = mean
        p_value = 1.0 if mean == 0 else 0.0
    else:
        half = stats.t.ppf(0.975, df=len(seeds) - 1) * spread / np.sqrt(len(seeds))
        low, high = mean - half, mean + half
        p_value = float(stats.ttest_rel([a[seed] for seed in seeds], [b[seed] for seed in seeds]).pvalue)
    if low > 0:
        verdict = "better"
    elif high < 0:
        verdict = "worse"
    else:
        verdict = "indistinguishable at 95%"
    return row | {"mean_difference": mean, "ci95_low": low, "ci95_high": high, "p_value": p_value,
                  "verdict": verdict}


def compare(runs: pd.DataFrame, best_run_path: str | None) -> pd.DataFrame:
    """comparison.tsv: every grid point against the best one and against the tutorial."""
    names = list(HYPERPARAMETERS)
    runs = runs.assign(run_path=[run_path_fragment(dict(zip(names, values)))
                                 for values in runs[names].itertuples(index=False)])
    # One pass over the runs (a sweep may have 10,000): each point's values and seed scores.
    values = runs.drop_duplicates("run_path").set_index("run_path")[names].to_dict("index")
    scores = {path: seed_scores(point_runs) for path, point_runs in runs.groupby("run_path", sort=False)}
    references = []
    if best_run_path:
        references.append(("best", best_run_path))
    if TUTORIAL_PATH in scores:
        references.append(("tutorial", TUTORIAL_PATH))
    rows = []
    for reference, reference_path in references:
        for run_path, point_scores in scores.items():
            row = {"reference": reference, "reference_run_path": reference_path, "run_path": run_path,
                   **values[run_path]}
            if run_path == reference_path:
                completed, diverged = point_scores
                row.update({"n_paired": len(completed), "n_diverged": diverged, "verdict": f"is the {reference}"})
            else:
                row.update(paired_difference(point_scores, scores[reference_path]))
            rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["reference", "mean_difference"], ascending=[True, False], na_position="first",
                             kind="stable").reset_index(drop=True)
