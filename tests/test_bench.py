"""The benchmark script runs (tiny scale only; the real benchmark is not a test)."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

# Each starts real processes (about 70 s together): not part of the fast suite.
pytestmark = pytest.mark.slow


def test_bench_smoke():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["scale"]["runs"] == 270
    dry_run = report["scale"]["dry_run_seconds"]
    contenders = ("workflow before its plan", "workflow planned", "workflow finished", "bare rule, same files per run",
                  "bare rule, metrics.json only", "runs as outputs (pack + run)")
    assert set(dry_run) == {f"{name}, snakemake {flags}" for name in contenders for flags in ("-n", "-n -q")}
    assert all(seconds > 0 for seconds in dry_run.values())
    assert report["scale"]["summarize_seconds"] > 0 and report["scale"]["plan_seconds"] > 0
    assert set(report["scale"]["with_runs_seconds"]) == {"-n -q", "--summary"}


def test_pack_epoch_variants_run(mnist_5k_file):
    """bench/pack_epoch.py, each variant, on the bundled subset (the figures in bench/README.md use full MNIST)."""
    for variant in ("workflow", "fused-kernel-adam", "float-dropout", "no-dropout"):
        result = subprocess.run([sys.executable, str(ROOT / "bench" / "pack_epoch.py"), "--data", str(mnist_5k_file),
                                 "--size", "2", "--hidden", "16", "--epochs", "1", "--variant", variant,
                                 *(["--images", "800"] if variant == "workflow" else [])],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        images = 800 if variant == "workflow" else 3600  # --images, or all 3,600 training images of mnist_5k
        assert f"threads=1 {variant} images={images}: epoch 1 " in result.stdout
