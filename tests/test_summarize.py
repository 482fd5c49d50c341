"""Aggregation over seeds, checked against hand-computed numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from mnist_sweep.analysis.statistics import confidence_interval
from mnist_sweep.analysis.summarize import read_benchmark, read_job, summarize

from conftest import tutorial_run_fields

BASE = tutorial_run_fields()


def write_run(root, dropout, seed, accuracy, loss, status="completed", val_accuracy=None):
    run_dir = root / f"dropout~{dropout}" / f"seed~{seed}"
    run_dir.mkdir(parents=True)
    metrics = dict(BASE, dropout=dropout, seed=seed, status=status, test_accuracy=accuracy, test_loss=loss,
                   val_accuracy=val_accuracy)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir / "metrics.json"


def test_confidence_interval_matches_hand_computation():
    # values 0.97, 0.98, 0.99: mean 0.98, sd 0.01, t(0.975, 2) = 4.302653
    low, high = confidence_interval([0.97, 0.98, 0.99])
    half = 4.302652729749464 * 0.01 / np.sqrt(3)
    assert low == pytest.approx(0.98 - half, abs=1e-12)
    assert high == pytest.approx(0.98 + half, abs=1e-12)
    assert np.isnan(confidence_interval([0.9])[0])


def test_tables_and_best(tmp_path):
    files = [
        write_run(tmp_path / "runs", 0.2, 0, 0.97, 0.10),
        write_run(tmp_path / "runs", 0.2, 1, 0.98, 0.08),
        write_run(tmp_path / "runs", 0.2, 2, 0.99, 0.06),
        write_run(tmp_path / "runs", 0.5, 0, 0.95, 0.20),
        write_run(tmp_path / "runs", 0.5, 1, None, None, status="diverged"),
        write_run(tmp_path / "runs", 0.5, 2, 0.97, 0.10),
    ]
    summarize(files, tmp_path / "summary")
    runs = pd.read_csv(tmp_path / "summary" / "runs.tsv", sep="\t")
    assert len(runs) == 6
    assert runs["status"].tolist().count("diverged") == 1
    configs = pd.read_csv(tmp_path / "summary" / "configs.tsv", sep="\t")
    assert configs["dropout"].tolist() == [0.2, 0.5]  # best first
    first, second = configs.iloc[0], configs.iloc[1]
    assert first["n_seeds"] == 3 and first["n_diverged"] == 0
    assert first["test_accuracy_mean"] == pytest.approx(0.98)
    assert first["test_accuracy_std"] == pytest.approx(0.01)
    assert first["test_accuracy_min"] == pytest.approx(0.97)
    assert first["test_accuracy_max"] == pytest.approx(0.99)
    assert first["test_accuracy_ci95_low"] == pytest.approx(0.98 - 4.302652729749464 * 0.01 / np.sqrt(3))
    assert first["test_loss_mean"] == pytest.approx(0.08)
    # The diverged run is counted, and the statistics are over the two completed seeds.
    assert second["n_seeds"] == 2 and second["n_diverged"] == 1
    assert second["test_accuracy_mean"] == pytest.approx(0.96)
    assert second["test_accuracy_std"] == pytest.approx(np.std([0.95, 0.97], ddof=1))
    assert second["seeds"] == "0,2"
    best = json.loads((tmp_path / "summary" / "best.json").read_text())
    assert best["hyperparameters"]["dropout"] == "0.2"
    assert best["n_seeds"] == 3 and best["seeds"] == [0, 1, 2]
    assert best["test_accuracy_mean"] == pytest.approx(0.98)
    html = (tmp_path / "summary" / "configs.html").read_text()
    assert "<table" in html and "0.9800" in html


def test_all_diverged_gives_no_best(tmp_path):
    files = [write_run(tmp_path / "runs", 0.2, seed, None, None, status="diverged") for seed in (0, 1)]
    summarize(files, tmp_path / "summary")
    best = json.loads((tmp_path / "summary" / "best.json").read_text())
    assert best["best"] is None and "enough completed seeds" in best["reason"]
    assert "0 of 2 seeds completed (2 diverged)" in best["ineligible"][0]["reason"]


def test_best_is_chosen_on_validation_and_reported_on_test(tmp_path):
    """A point that is best on test but not on validation is not chosen (no winner's curse)."""
    files = []
    for seed in range(3):
        files.append(write_run(tmp_path / "runs", 0.2, seed, 0.970 + 0.001 * seed, 0.1, val_accuracy=0.980 + 0.001 * seed))
        files.append(write_run(tmp_path / "runs", 0.5, seed, 0.975 + 0.001 * seed, 0.1, val_accuracy=0.970 + 0.002 * seed))
        files.append(write_run(tmp_path / "runs", 0.3, seed, 0.960, 0.1, val_accuracy=0.979 + 0.0015 * seed))
    summarize(files, tmp_path / "summary")
    best = json.loads((tmp_path / "summary" / "best.json").read_text())
    assert best["hyperparameters"]["dropout"] == "0.2" and "val_accuracy" in best["selection_metric"]
    assert best["val_accuracy_mean"] == pytest.approx(0.981)
    assert best["test_accuracy_mean"] == pytest.approx(0.971)  # reported on test, though 0.5 tests higher
    tied = [point["run_path"] for point in best["tied_on_validation"]]
    assert len(tied) == 1 and "dropout~0.3/" in tied[0]  # within validation noise of the best
    configs = pd.read_csv(tmp_path / "summary" / "configs.tsv", sep="\t")
    assert configs["dropout"].tolist() == [0.2, 0.3, 0.5]  # by mean validation accuracy


def test_a_point_resting_on_one_surviving_seed_is_not_eligible(tmp_path):
    """4 of 5 seeds diverged and the survivor is lucky: that point cannot be the best."""
    files = [write_run(tmp_path / "runs", 0.2, seed, 0.97, 0.1, val_accuracy=0.975) for seed in range(5)]
    files += [write_run(tmp_path / "runs", 0.9, seed, None, None, status="diverged") for seed in range(4)]
    files.append(write_run(tmp_path / "runs", 0.9, 4, 0.99, 0.05, val_accuracy=0.995))
    result = summarize(files, tmp_path / "summary")
    best = result["best"]
    assert best["hyperparameters"]["dropout"] == "0.2"
    (ineligible,) = best["ineligible"]
    assert "dropout~0.9/" in ineligible["run_path"] and "1 of 5 seeds completed (4 diverged); at least 3" in \
        ineligible["reason"]
    assert result["configs"].set_index("dropout").loc["0.9", "eligible"] == False  # noqa: E712
    # A sweep with one seed can still name a best point (min_seeds is capped by the seeds there are).
    single = summarize([write_run(tmp_path / "one", 0.2, 0, 0.97, 0.1, val_accuracy=0.96)], tmp_path / "s1")
    assert single["best"]["n_seeds"] == 1


def test_a_best_point_with_diverged_seeds_says_so(tmp_path):
    """2 of 5 seeds diverged: the point is still eligible (3 completed >= min_seeds and half), and
    best.json says its means are over the survivors."""
    files = [write_run(tmp_path / "runs", 0.2, seed, 0.97, 0.1, val_accuracy=0.975) for seed in range(5)]
    files += [write_run(tmp_path / "runs", 0.5, seed, None, None, status="diverged") for seed in (1, 3)]
    files += [write_run(tmp_path / "runs", 0.5, seed, 0.98, 0.1, val_accuracy=0.985) for seed in (0, 2, 4)]
    best = summarize(files, tmp_path / "summary")["best"]
    assert best["hyperparameters"]["dropout"] == "0.5" and best["n_diverged"] == 2
    assert best["diverged_warning"] == ("2 of 5 seeds of this point diverged (seeds 1, 3); its means are over the "
                                        "completed seeds only")
    clean = summarize(files[:5], tmp_path / "clean")["best"]
    assert "diverged_warning" not in clean


def test_benchmark_file_last_row_and_missing_memory(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    path = tmp_path / "benchmark.tsv"
    path.write_text(header + "5.0\t0:00:05\t100.5\t1\t1\t1\t0\t0\t50\t4\n" + "7.5\t0:00:07\tNA\tNA\tNA\tNA\tNA\tNA\t0\t0\n")
    assert read_benchmark(path) == {"job_seconds": 7.5, "max_rss_mb": None}
    path.write_text(header + "5.0\t0:00:05\t100.5\t1\t1\t1\t0\t0\t50\t4\n")
    assert read_benchmark(path) == {"job_seconds": 5.0, "max_rss_mb": 100.5}
    assert read_benchmark(tmp_path / "none.tsv") == {"job_seconds": None, "max_rss_mb": None}


def test_every_attempt_of_a_job_is_charged(tmp_path):
    """A job stopped at its time limit and continued, or rerun after a killed Snakemake: Snakemake's
    benchmark holds only the last attempt, attempts.tsv (the train command's) holds all."""
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "benchmark.tsv").write_text(header + "0.03\t0:00:00\t100.5\t1\t1\t1\t0\t0\t50\t4\n")
    assert read_job(tmp_path) == {"job_seconds": 0.03, "max_rss_mb": 100.5}
    (tmp_path / "attempts.tsv").write_text("started\tseconds\texit_code\thost\tslurm_job_id\n"
                                           "2026-12-01T10:00:00+00:00\t110.5\t143\tnode1\t7\n"
                                           "2026-12-01T10:05:00+00:00\t40.0\t0\tnode2\t7\n")
    assert read_job(tmp_path) == {"job_seconds": 150.5, "max_rss_mb": 100.5}


def test_damaged_job_records_leave_the_time_empty_not_a_traceback(tmp_path, capsys):
    (tmp_path / "benchmark.tsv").write_text("s\th:m:s\n")  # header only: truncated
    (tmp_path / "attempts.tsv").write_text("started\tseconds\n2026\tnot a number\n")
    assert read_job(tmp_path) == {"job_seconds": None, "max_rss_mb": None}
    assert "cannot be read" in capsys.readouterr().err


@pytest.mark.parametrize("listed_first", [87.53, 4026.0])
def test_equal_validation_means_go_to_the_point_listed_first_not_to_the_values_text(tmp_path, listed_first):
    """A search lists its points in sample order (a grid in the config's): that order breaks a tie, whatever
    the values' text says ("4026.0" sorts before "87.53")."""
    other = 4026.0 if listed_first == 87.53 else 87.53
    files = [write_run(tmp_path / "runs", dropout, seed, 0.9, 0.3, val_accuracy=0.95)
             for dropout in (listed_first, other) for seed in (0, 1)]
    best = summarize(files, tmp_path / "summary")["best"]
    assert best["hyperparameters"]["dropout"] == str(listed_first)
    assert "listed first" in best["selection_metric"]
    assert best["run_dirs"] == [str(path.parent) for path in files[:2]]
    assert "listed" not in pd.read_csv(tmp_path / "summary" / "runs.tsv", sep="\t").columns


def test_a_point_chosen_elsewhere_is_the_reference_even_when_another_is_ahead(tmp_path):
    """A confirmation reports the search's winner: summarize(chosen=...) keeps it as 'best' and compares the
    other points with it, though one of them has the higher mean here."""
    files = [write_run(tmp_path / "runs", 0.2, seed, accuracy, 0.3, val_accuracy=accuracy)
             for seed, accuracy in ((0, 0.90), (1, 0.91), (2, 0.92))]
    files += [write_run(tmp_path / "runs", 0.5, seed, accuracy, 0.3, val_accuracy=accuracy)
              for seed, accuracy in ((0, 0.93), (1, 0.95), (2, 0.94))]
    plain = summarize(files, tmp_path / "plain", min_seeds=1)
    paths = dict(zip(plain["configs"]["dropout"], plain["configs"]["run_path"]))
    assert plain["best"]["run_path"] == paths["0.5"]  # on its own numbers, the other point is ahead
    result = summarize(files, tmp_path / "summary", min_seeds=1, chosen=paths["0.2"])
    assert result["best"]["run_path"] == paths["0.2"] and result["best"]["test_accuracy_mean"] == pytest.approx(0.91)
    assert result["best"]["selection_metric"] == f"chosen before these runs: {paths['0.2']}"
    versus = result["comparison"][(result["comparison"]["reference"] == "best")].set_index("run_path")
    assert versus.loc[paths["0.5"], "mean_difference"] == pytest.approx(0.03)
