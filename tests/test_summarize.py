"""Aggregation over seeds, checked against hand-computed numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from mnist_sweep.summarize import confidence_interval, read_benchmark, summarize

BASE = {"dataset": "mnist", "model": "mlp", "hidden_units": [512, 512], "activation": "relu", "optimizer": "adam",
        "learning_rate": 0.001, "batch_size": 128, "epochs": 4}


def write_run(root, dropout, seed, accuracy, loss, status="completed"):
    run_dir = root / f"dropout~{dropout}" / f"seed~{seed}"
    run_dir.mkdir(parents=True)
    metrics = dict(BASE, dropout=dropout, seed=seed, status=status, test_accuracy=accuracy, test_loss=loss)
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
    assert best["best"] is None and "diverged" in best["reason"]


def test_benchmark_file_last_row_and_missing_memory(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    path = tmp_path / "benchmark.tsv"
    path.write_text(header + "5.0\t0:00:05\t100.5\t1\t1\t1\t0\t0\t50\t4\n" + "7.5\t0:00:07\tNA\tNA\tNA\tNA\tNA\tNA\t0\t0\n")
    assert read_benchmark(path) == {"job_seconds": 7.5, "max_rss_mb": None}
    path.write_text(header + "5.0\t0:00:05\t100.5\t1\t1\t1\t0\t0\t50\t4\n")
    assert read_benchmark(path) == {"job_seconds": 5.0, "max_rss_mb": 100.5}
    assert read_benchmark(tmp_path / "none.tsv") == {"job_seconds": None, "max_rss_mb": None}
