"""Is a grid point really better or worse than a reference, or within the noise?

Each grid point is compared with the best grid point (chosen on validation accuracy, see
summarize.best_config) and with the tutorial configuration (when the grid contains it), on
test accuracy, paired by seed: the same seed ran on both sides, so per-seed differences
remove the shared part of the seed-to-seed variation. Diverged runs are left out (their
seed drops from the pairing) and counted.

Differences are counted in whole images (test_images per run): accuracies are k / n_test, and
as floats a constant difference of 2 images would come out with a tiny spread and a p-value
near 0. Counted, a constant difference is exactly constant, and an exact 0 stays 0.

Two intervals of the mean per-seed difference (point minus reference):
- ci95_low/ci95_high: the 95% t-interval over paired seeds; it covers seed noise only, on
  one fixed test set. p_value is the paired t-test's (scipy.stats.ttest_rel), and
  p_value_holm the same adjusted with Holm's method over the family of comparisons with the
  same reference (every point is compared with the best: many comparisons at once).
- boot_ci95_low/boot_ci95_high: the same t-interval widened by the test set's own sampling
  noise (the test set is a sample of digits too): its half-width is t(0.975, n-1) x
  sqrt(s^2 / n + v), where s^2 / n is the seed part above and v the variance of the mean
  difference over BOOTSTRAP_RESAMPLES resamples of the test images (the same images for both
  points and every seed). So it is never narrower than the seeds-only interval. (A percentile
  bootstrap that also resampled the 3-5 seeds was narrower than the t-interval in half the
  rows of a real sweep: it undercovers seed noise.) Recomputable from predictions.npz: images
  are drawn by numpy.random.default_rng(BOOTSTRAP_SEED) as indices, rng.integers(0, n_test,
  size=(250, n_test)) for 250 resamples at a time, and counted per resample; the same draws
  serve every comparison, and the arithmetic is exact (whole images, float64). Only the
  MOST_BOOTSTRAPPED best points (on validation) and the tutorial point get it: loading every
  predictions file of a 10,000-run sweep would take minutes.

The verdict claims "better" or "worse" only with at least MIN_PAIRED_SEEDS paired seeds,
some spread between them (a constant difference is no evidence: accuracy moves in steps of
1/n_test and a constant difference would give p = 0), the widened interval excluding zero (the
t-interval where there was none) and a Holm-adjusted p-value below 0.05; otherwise it says why not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from mnist_sweep.analysis.statistics import t_interval
from mnist_sweep.config.hyperparameters import HYPERPARAMETERS, format_value, run_path_fragment, tutorial_hyperparameters

TUTORIAL_POINT = {name: format_value(name, value) for name, value in tutorial_hyperparameters().items()}
TUTORIAL_PATH = run_path_fragment(TUTORIAL_POINT)
MIN_PAIRED_SEEDS = 3
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261129
BOOTSTRAP_CHUNK = 250  # resamples drawn per call (bounds the memory of the draws: 20 MB)
MOST_BOOTSTRAPPED = 50
# The image count behind each accuracy in the runs table (its accuracies are k / count).
IMAGE_COUNTS = {"test_accuracy": "test_images", "val_accuracy": "validation_images"}
COLUMNS = (
    ["reference", "reference_run_path", "run_path", *HYPERPARAMETERS]
    + ["n_paired", "n_diverged", "mean_difference", "ci95_low", "ci95_high", "boot_ci95_low", "boot_ci95_high"]
    + ["p_value", "p_value_holm", "verdict"]
)


def seed_scores(runs: pd.DataFrame, metric: str = "test_accuracy") -> tuple[dict, int]:
    """A grid point's runs as ({seed: score} over its completed runs, number of diverged runs).

    A score is (correct images, images) where the runs table has the image count behind the
    accuracy (IMAGE_COUNTS), so differences are exact integers; else the metric's value."""
    status = runs["status"].to_numpy()
    completed = status == "completed"
    seeds = runs["seed"].to_numpy()[completed].tolist()
    values = runs[metric].to_numpy(dtype=float)[completed]
    diverged = int((status == "diverged").sum())
    count_column = IMAGE_COUNTS.get(metric)
    if count_column in runs:
        counts = pd.to_numeric(runs[count_column]).to_numpy(dtype=float)[completed]
        if len(values) and np.isfinite(counts).all() and (counts > 0).all() and np.isfinite(values).all():
            correct = np.rint(values * counts).astype(int).tolist()
            return dict(zip(seeds, zip(correct, counts.astype(int).tolist()))), diverged
    return dict(zip(seeds, values.tolist())), diverged


def _accuracy(score) -> float:
    """A seed_scores score as a number: (correct images, images) or already a value."""
    return score[0] / score[1] if isinstance(score, tuple) else score


def paired_difference(point: tuple[dict, int], reference: tuple[dict, int]) -> dict:
    """Mean per-seed difference point - reference over the seeds both completed, its t-interval and
    p-value, and a preliminary verdict from the t-interval alone (seed_scores of each side)."""
    (a, diverged_a), (b, diverged_b) = point, reference
    seeds = sorted(a.keys() & b.keys())
    row = {"n_paired": len(seeds), "n_diverged": diverged_a + diverged_b, "seeds": seeds}
    empty = {"ci95_low": np.nan, "ci95_high": np.nan, "p_value": np.nan}
    if len(seeds) == 0:
        return row | empty | {"mean_difference": np.nan, "verdict": "no seed completed on both sides"}
    counted = all(isinstance(a[seed], tuple) and isinstance(b[seed], tuple) for seed in seeds)
    if counted and len({a[seed][1] for seed in seeds} | {b[seed][1] for seed in seeds}) == 1:
        # Whole images: integer differences, so "the same every seed" is exact, never a rounding accident.
        images = a[seeds[0]][1]
        counts = np.array([a[seed][0] - b[seed][0] for seed in seeds], dtype=np.int64)
        constant = bool((counts == counts[0]).all())
        differences = counts / images
    else:
        differences = np.array([_accuracy(a[seed]) - _accuracy(b[seed]) for seed in seeds], dtype=float)
        constant = bool(np.ptp(differences) <= 1e-12)
    mean = differences.mean()
    if len(seeds) < 2:
        return row | empty | {"mean_difference": mean, "verdict": "one paired seed: no interval can be given"}
    if constant:
        return row | {"mean_difference": mean, "ci95_low": mean, "ci95_high": mean, "p_value": np.nan,
                      "verdict": "every paired seed differs by the same amount: no spread to test, no claim"}
    spread = differences.std(ddof=1)
    low, high = t_interval(mean, spread / np.sqrt(len(seeds)), len(seeds))
    p_value = float(stats.ttest_1samp(differences, 0.0).pvalue)  # = ttest_rel of the two sides
    row |= {"mean_difference": mean, "ci95_low": low, "ci95_high": high, "p_value": p_value,
            "seed_variance_of_mean": spread**2 / len(seeds)}
    if len(seeds) < MIN_PAIRED_SEEDS:
        return row | {"verdict": f"{len(seeds)} paired seeds: too few to claim a difference "
                                 f"(at least {MIN_PAIRED_SEEDS} needed)"}
    return row | {"verdict": direction(low, high)}


def direction(low: float, high: float) -> str:
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "indistinguishable at 95%"


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    order = present[np.argsort(p[present], kind="stable")]
    m, running = len(order), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


class Bootstrap:
    """The test set's sampling noise of a mean difference, by resampling test images (see the module docstring)."""

    def __init__(self, n_test: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED):
        rng = np.random.default_rng(seed)
        # Image counts per resample: n_test images drawn with replacement, counted. float64 holds
        # these small integers, and the products below, exactly.
        self.image_counts = np.empty((resamples, n_test), "float64")
        for start in range(0, resamples, BOOTSTRAP_CHUNK):
            drawn = rng.integers(0, n_test, size=(min(BOOTSTRAP_CHUNK, resamples - start), n_test))
            rows = len(drawn)
            flat = (drawn + n_test * np.arange(rows)[:, None]).ravel()  # each resample counts in its own row
            self.image_counts[start:start + rows] = np.bincount(flat, minlength=rows * n_test).reshape(rows, n_test)
        self.n_test, self.resamples, self.seed = n_test, resamples, seed

    def test_set_variance(self, correct_point: np.ndarray, correct_reference: np.ndarray) -> float:
        """Variance over image resamples of the mean accuracy difference (over seeds); inputs: (n_paired, n_test)
        0/1, seeds in the same order. Exactly 0 when the two points got the same images right on every seed."""
        differences = correct_point.astype("float64") - correct_reference.astype("float64")  # -1, 0, 1
        # Whole images won (+) or lost (-) per resample, summed over seeds: exact integers.
        images = differences.sum(axis=0) @ self.image_counts.T
        means = images / (self.n_test * len(differences))
        return float(means.var(ddof=1))

    def interval(self, row: dict, correct_point: np.ndarray, correct_reference: np.ndarray) -> tuple[float, float]:
        """The seeds' t-interval of `row` (paired_difference) widened by the test set's variance."""
        n_paired = row["n_paired"]
        variance = row.get("seed_variance_of_mean", 0.0) + self.test_set_variance(correct_point, correct_reference)
        low, high = t_interval(row["mean_difference"], np.sqrt(variance), n_paired)
        return float(low), float(high)


def correct_matrix(point_runs: pd.DataFrame, seeds) -> np.ndarray | None:
    """(len(seeds), n_test) 0/1: which test images each seed of a point classified right (None: no files)."""
    if "run_dir" not in point_runs:
        return None
    by_seed = dict(zip(point_runs["seed"], point_runs["run_dir"]))
    rows = []
    for seed in seeds:
        path = Path(by_seed[seed]) / "predictions.npz"
        if not path.exists():
            return None
        with np.load(path) as npz:
            rows.append(npz["predicted"] == npz["label"])
    return np.stack(rows)


def runs_by_point(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{grid point's run path: its rows of the runs table}, in one pass (a sweep may have 10,000 runs)."""
    names = list(HYPERPARAMETERS)
    paths = [run_path_fragment(dict(zip(names, values))) for values in runs[names].itertuples(index=False)]
    return dict(iter(runs.assign(run_path=paths).groupby("run_path", sort=False)))


def compare(runs: pd.DataFrame, best_run_path: str | None, order: list | None = None,
            groups: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """comparison.tsv: every grid point against the best one and against the tutorial.

    order: run paths best first on validation (configs.tsv); the first MOST_BOOTSTRAPPED are
    bootstrapped. groups: runs_by_point(runs), when the caller has it already.
    """
    names = list(HYPERPARAMETERS)
    groups = groups if groups is not None else runs_by_point(runs)
    values = {path: point_runs.iloc[0][names].to_dict() for path, point_runs in groups.items()}
    scores = {path: seed_scores(point_runs) for path, point_runs in groups.items()}
    bootstrapped = set((order or list(scores))[:MOST_BOOTSTRAPPED]) | {TUTORIAL_PATH}
    references = []
    if best_run_path:
        references.append(("best", best_run_path))
    if TUTORIAL_PATH in scores:
        references.append(("tutorial", TUTORIAL_PATH))
    bootstrap, correct_cache = None, {}

    def correct(path, seeds):
        key = (path, tuple(seeds))
        if key not in correct_cache:
            correct_cache[key] = correct_matrix(groups[path], seeds)
        return correct_cache[key]

    tables = []
    for reference, reference_path in references:
        rows = []
        for run_path, point_scores in scores.items():
            row = {"reference": reference, "reference_run_path": reference_path, "run_path": run_path,
                   **values[run_path]}
            if run_path == reference_path:
                completed, diverged = point_scores
                row.update({"n_paired": len(completed), "n_diverged": diverged, "verdict": f"is the {reference}"})
                rows.append(row)
                continue
            difference = paired_difference(point_scores, scores[reference_path])
            seeds = difference.pop("seeds")
            if run_path in bootstrapped and len(seeds) >= 2:
                point, other = correct(run_path, seeds), correct(reference_path, seeds)
                if point is not None and other is not None:
                    bootstrap = bootstrap or Bootstrap(point.shape[1])
                    row["boot_ci95_low"], row["boot_ci95_high"] = bootstrap.interval(difference, point, other)
            difference.pop("seed_variance_of_mean", None)
            row.update(difference)
            rows.append(row)
        table = pd.DataFrame(rows, columns=COLUMNS)
        table["p_value_holm"] = holm(table["p_value"])
        table["verdict"] = [final_verdict(row) for row in table.itertuples(index=False)]
        tables.append(table)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
    return table.sort_values(["reference", "mean_difference"], ascending=[True, False], na_position="first",
                             kind="stable").reset_index(drop=True)


def final_verdict(row) -> str:
    """better / worse only if the interval widened by the test set's noise excludes 0 and Holm's p < 0.05."""
    if row.verdict not in ("better", "worse"):
        return row.verdict
    if not np.isnan(row.boot_ci95_low):
        bootstrap = direction(row.boot_ci95_low, row.boot_ci95_high)
        if bootstrap != row.verdict:
            return "indistinguishable at 95% (seeds and test images)"
    if not row.p_value_holm < 0.05:
        return "indistinguishable at 95% (Holm-adjusted p >= 0.05)"
    return row.verdict
