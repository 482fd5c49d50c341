"""Paired comparisons over seeds, checked against hand-computed numbers and scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mnist_sweep.config.hyperparameters import format_value, run_path_fragment, tutorial_hyperparameters
from mnist_sweep.analysis.compare import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, TUTORIAL_POINT, Bootstrap, compare, holm, paired_difference, seed_scores


def runs_of(dropout, accuracies, statuses=None):
    rows = []
    for seed, accuracy in enumerate(accuracies):
        status = statuses[seed] if statuses else "completed"
        rows.append(dict(TUTORIAL_POINT, dropout=dropout, seed=seed, status=status,
                         test_accuracy=accuracy if status == "completed" else np.nan))
    return pd.DataFrame(rows)


def difference(point, reference):
    """paired_difference of two grid points' runs tables."""
    return paired_difference(seed_scores(point), seed_scores(reference))


def test_paired_difference_matches_hand_computation():
    better = runs_of("0.5", [0.980, 0.982, 0.985])
    reference = runs_of("0.2", [0.975, 0.978, 0.979])
    row = difference(better, reference)
    differences = np.array([0.005, 0.004, 0.006])
    half = stats.t.ppf(0.975, 2) * differences.std(ddof=1) / np.sqrt(3)
    assert row["n_paired"] == 3
    assert row["mean_difference"] == pytest.approx(0.005)
    assert row["ci95_low"] == pytest.approx(0.005 - half)
    assert row["ci95_high"] == pytest.approx(0.005 + half)
    assert row["p_value"] == pytest.approx(stats.ttest_rel([0.980, 0.982, 0.985], [0.975, 0.978, 0.979]).pvalue)
    assert row["verdict"] == "better"
    assert difference(reference, better)["verdict"] == "worse"


def test_noise_is_indistinguishable_and_single_seed_gives_no_interval():
    a = runs_of("0.5", [0.980, 0.970, 0.985])
    b = runs_of("0.2", [0.975, 0.978, 0.979])
    assert difference(a, b)["verdict"] == "indistinguishable at 95%"
    one = difference(runs_of("0.5", [0.98]), runs_of("0.2", [0.97]))
    assert one["verdict"] == "one paired seed: no interval can be given"
    assert np.isnan(one["ci95_low"]) and np.isnan(one["p_value"])


def test_no_claim_from_a_zero_width_interval_or_too_few_seeds():
    """Accuracy moves in steps of 1/n_test: equal per-seed differences give no spread, and p = 0 would lie."""
    constant = difference(runs_of("0.5", [0.981, 0.983]), runs_of("0.2", [0.980, 0.982]))
    assert constant["verdict"].startswith("every paired seed differs by the same amount")
    assert np.isnan(constant["p_value"])
    two = difference(runs_of("0.5", [0.990, 0.985]), runs_of("0.2", [0.970, 0.972]))
    assert two["mean_difference"] > 0.01 and two["verdict"].startswith("2 paired seeds: too few to claim a difference")


def test_holm_adjustment_matches_hand_computation():
    # sorted 0.01, 0.02, 0.04 with m = 3: 0.03, max(0.03, 0.04) = 0.04, max(0.04, 0.04) = 0.04
    assert holm([0.04, 0.01, np.nan, 0.02]).tolist()[:2] == pytest.approx([0.04, 0.03])
    assert holm([0.04, 0.01, np.nan, 0.02])[3] == pytest.approx(0.04) and np.isnan(holm([np.nan])[0])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])


def test_bootstrap_recomputes_from_the_documented_draws():
    rng = np.random.default_rng(0)
    n_test = 300
    a = (rng.random((4, n_test)) < 0.90).astype(int)
    b = (rng.random((4, n_test)) < 0.88).astype(int)
    row = paired_difference(({s: (int(a[s].sum()), n_test) for s in range(4)}, 0),
                            ({s: (int(b[s].sum()), n_test) for s in range(4)}, 0))
    low, high = Bootstrap(n_test).interval(row, a, b)
    # Independently, as the compare module's docstring says.
    image_rng = np.random.default_rng(BOOTSTRAP_SEED)
    drawn = np.concatenate([image_rng.integers(0, n_test, size=(min(250, BOOTSTRAP_RESAMPLES - start), n_test))
                            for start in range(0, BOOTSTRAP_RESAMPLES, 250)])
    images = np.array([np.bincount(row, minlength=n_test) for row in drawn])
    assert (images.sum(axis=1) == n_test).all()  # each resample draws n_test images
    means = [np.mean([(a[s] - b[s]) @ images[r] / n_test for s in range(4)]) for r in range(BOOTSTRAP_RESAMPLES)]
    differences = (a - b).sum(axis=1) / n_test
    half = stats.t.ppf(0.975, 3) * np.sqrt(differences.var(ddof=1) / 4 + np.var(means, ddof=1))
    assert (low, high) == pytest.approx((differences.mean() - half, differences.mean() + half), abs=1e-12)
    # Never narrower than the seeds-only t-interval.
    assert low <= row["ci95_low"] and high >= row["ci95_high"]


def scored(point_accuracies, reference_accuracies, n_test=1000):
    """seed_scores of two points from accuracies, as runs.tsv has them (with test_images)."""
    def table(dropout, accuracies):
        return runs_of(dropout, accuracies).assign(test_images=n_test)
    return seed_scores(table("0.5", point_accuracies)), seed_scores(table("0.2", reference_accuracies))


def test_a_constant_difference_in_whole_images_is_never_a_claim():
    """A constant 2-image difference is constant however the accuracies round as floats (e.g. 0.975 - 0.973
    and 0.982 - 0.98 differ in the last bits): no spread, no p-value, no claim. Checked on 200 constructed
    cases, each with 5 seeds."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        reference = rng.integers(950, 990, size=5)
        row = paired_difference(*scored((reference + 2) / 1000, reference / 1000))
        assert row["verdict"].startswith("every paired seed differs by the same amount"), row
        assert np.isnan(row["p_value"]) and row["mean_difference"] == pytest.approx(0.002)


def test_an_exact_zero_stays_zero_in_the_widened_interval():
    """Two points that got the same images right on every seed: every bound is exactly 0, and one image
    of difference on one seed gives an interval around it, never a verdict from rounding."""
    n_test = 1000
    rng = np.random.default_rng(2)
    same = (rng.random((5, n_test)) < 0.97).astype(int)
    scores = ({s: (int(same[s].sum()), n_test) for s in range(5)}, 0)
    row = paired_difference(scores, scores)
    assert row["mean_difference"] == 0 and row["verdict"].startswith("every paired seed differs by the same")
    assert Bootstrap(n_test).test_set_variance(same, same) == 0.0
    other = same.copy()
    other[0, 0] = 1 - other[0, 0]
    row = paired_difference(({s: (int(other[s].sum()), n_test) for s in range(5)}, 0), scores)
    low, high = Bootstrap(n_test).interval(row, other, same)
    assert low < 0 < high and row["verdict"] == "indistinguishable at 95%"


def test_diverged_runs_are_left_out_and_counted():
    a = runs_of("0.5", [0.980, 0.982, 0.985], statuses=["completed", "diverged", "completed"])
    b = runs_of("0.2", [0.975, 0.978, 0.979])
    row = difference(a, b)
    assert row["n_paired"] == 2 and row["n_diverged"] == 1
    assert row["mean_difference"] == pytest.approx((0.005 + 0.006) / 2)


def test_compare_against_best_and_tutorial():
    runs = pd.concat([runs_of("0.2", [0.975, 0.978, 0.979]), runs_of("0.5", [0.980, 0.982, 0.985]),
                      runs_of("0.3", [0.976, 0.979, 0.980])])
    best_path = run_path_fragment({name: format_value(name, value)
                                   for name, value in dict(tutorial_hyperparameters(), dropout=0.5).items()})
    table = compare(runs, best_path)
    assert set(table["reference"]) == {"best", "tutorial"}
    assert len(table) == 6
    best_rows = table[table["reference"] == "best"].set_index("dropout")
    assert best_rows.loc["0.5", "verdict"] == "is the best"
    assert best_rows.loc["0.2", "verdict"] == "worse"
    tutorial_rows = table[table["reference"] == "tutorial"].set_index("dropout")
    assert tutorial_rows.loc["0.2", "verdict"] == "is the tutorial"
    assert tutorial_rows.loc["0.5", "verdict"] == "better"
    # Holm over the family of comparisons with the same reference, the raw p-value kept beside it.
    raw = best_rows.loc[["0.2", "0.3"], "p_value"].to_numpy()
    assert best_rows.loc[["0.2", "0.3"], "p_value_holm"].tolist() == pytest.approx(holm(raw).tolist())
    # Without the tutorial point in the grid there is only the comparison with the best.
    assert set(compare(runs[runs["dropout"] != "0.2"], best_path)["reference"]) == {"best"}
