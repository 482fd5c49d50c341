"""No shared file system: a sweep and a search through Snakemake's storage plugins.

(a) snakemake-storage-plugin-fs with --shared-fs-usage none: jobs stage their declared inputs from a "remote" folder
into a local prefix and their declared outputs back (how HPC users put jobs on node-local scratch): the grid sweep
and a search; (b) S3, against moto's server started here: the search. tests/test_slurm.py runs (a)'s search
through the SLURM profile. The working directory holds a *file* named results, so a job that wrote a result
without declaring it (through results_dir, not its outputs) would fail; Snakemake removes its local copies at the
end, and the rerun starts without them (another node), so every file a job read came from storage.
"""

import io
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import SMALL, snakemake

# 2 points x 1 seed: rung 0 (1 epoch), the winner to 2 epochs, then the winner on a new seed.
SEARCH = {
    "dataset": "mnist_5k", "sweep": "tiny-search", "seeds": [0], "train_threads": 1, "grid": {"epochs": [2]},
    "search": {"trials": 2, "seed": 3, "space": {"learning_rate": {"low": 0.0003, "high": 0.01, "log": True}},
               "halving": {"min_epochs": 1, "eta": 2}, "confirm_seeds": 1},
}


def sweep_and_search(workdir: Path, storage: list[str], stored, grid: bool = True) -> None:
    """The small grid sweep (unless not grid) and a tiny search in one storage, each run again from nothing local;
    stored(path) is the bytes storage holds under a path (results/...)."""
    (workdir / "results").parent.mkdir(parents=True, exist_ok=True)
    (workdir / "results").write_text("a file, not a folder: a job that writes a result it did not declare fails\n")
    search_file = workdir / "search.yaml"
    search_file.write_text(yaml.safe_dump(SEARCH))
    local = workdir / "local-copies"
    for config in (SMALL, search_file) if grid else (search_file,):
        args = ["-c2", "--configfile", str(config), "--shared-fs-usage", "none", *storage,
                "--local-storage-prefix", str(local)]
        first = snakemake(workdir, *args)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "plans and results in storage" in first.stderr and "the answer is in storage" in first.stderr
        # Snakemake removed its local copies: nothing read later can come from them.
        assert not list(local.rglob("metrics.json"))
        again = snakemake(workdir, *args)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "Nothing to be done" in again.stderr and "rule train" not in again.stderr, again.stderr[-2000:]
    if grid:
        check_grid(stored)
        # `snakemake with_runs`: each pack's folder (its runs inside), as Snakemake's own tools see them in storage.
        summary = snakemake(workdir, "with_runs", "--summary", "--configfile", str(SMALL), "--shared-fs-usage", "none",
                            *storage, "--local-storage-prefix", str(local))
        folders = [line for line in summary.stdout.splitlines() if re.search(r"/packs/rung-0/[0-9a-f]{12}\t", line)]
        assert len(folders) == 2 and all(line.split("\t")[2:5:2] == ["train", "ok"] for line in folders), \
            summary.stdout[-3000:]
    check_search(stored)


def check_grid(stored) -> None:
    """The grid: each run's files in the folder of the pack that trained it, its numbers those runs.tsv reports."""
    summary = "results/mnist_5k/sweeps/small/summary"
    runs = pd.read_csv(io.BytesIO(stored(f"{summary}/runs.tsv")), sep="\t")
    assert len(runs) == 4 and (runs["status"] == "completed").all()
    plan = json.loads(stored("results/mnist_5k/sweeps/small/plan/rung-0.json"))
    assert plan["runs_in_packs"] and len(plan["packs"]) == 2
    assert plan["pack_folder"] == "sweeps/small/packs/rung-0"
    for run, pack in plan["run_packs"].items():
        folder = f"sweeps/small/packs/rung-0/{pack}/runs/{run}"
        metrics = json.loads(stored(f"results/mnist_5k/{folder}/metrics.json"))
        row = runs[runs["run_dir"].str.endswith(folder)]
        assert row["test_accuracy"].item() == pytest.approx(metrics["test_accuracy"])
    assert stored("results/mnist_5k/sweeps/small/figures/predictions.png").startswith(b"\x89PNG")
    best = json.loads(stored(f"{summary}/best.json"))
    assert best["run_path"] and best["n_seeds"] == 2


def check_search(stored) -> None:
    """The search: both rungs, then the winner confirmed on a new seed."""
    summary = "results/mnist_5k/sweeps/tiny-search/summary"
    table = pd.read_csv(io.BytesIO(stored(f"{summary}/search.tsv")), sep="\t")
    assert sorted(table["epochs_reached"]) == [1, 2] and table["confirmed"].sum() == 1
    best = json.loads(stored(f"{summary}/best.json"))
    assert best["seeds"] == [1] and best["search_seeds"]["seeds"] == [0]
    # No state travels between packs: the survivor's 2-epoch run trained from its first epoch (1 + 1 + 2).
    assert best["search"]["run_epochs_trained"] == 4
    assert stored("results/mnist_5k/sweeps/tiny-search/figures/search.png").startswith(b"\x89PNG")


def test_a_dry_run_in_storage_says_so_and_an_absolute_results_dir_is_refused(tmp_path):
    storage = ["--shared-fs-usage", "none", "--default-storage-provider", "fs", "--default-storage-prefix",
               str(tmp_path / "storage"), "--local-storage-prefix", str(tmp_path / "local-copies")]
    dry = snakemake(tmp_path, "-n", "-c2", "--configfile", str(SMALL), *storage)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert ("4 runs; plans and results in storage (fs); at most about 11 MB in storage; under "
            "results/mnist_5k/sweeps/small/") in dry.stderr
    assert not (tmp_path / "storage").exists() and not (tmp_path / "results").exists()
    absolute = snakemake(tmp_path, "-n", "-c2", "--configfile", str(SMALL), "--config",
                         f"results_dir={tmp_path / 'elsewhere'}", *storage)
    assert absolute.returncode != 0
    assert f"error: results_dir = {tmp_path / 'elsewhere'} is an absolute path" in absolute.stderr


@pytest.mark.slow
def test_node_local_scratch_through_the_fs_storage_plugin(tmp_path):
    remote = tmp_path / "shared storage"
    storage = ["--default-storage-provider", "fs", "--default-storage-prefix", str(remote)]
    sweep_and_search(tmp_path / "work", storage, lambda path: (remote / path).read_bytes())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def s3_server():
    """moto's S3 server on a free local port, with an empty bucket `sweep`; its endpoint URL."""
    boto3 = pytest.importorskip("boto3")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                          region_name="us-east-1")
    try:
        for _ in range(100):
            try:
                client.create_bucket(Bucket="sweep")
                break
            except Exception:  # not listening yet
                time.sleep(0.2)
        else:
            pytest.fail("moto's S3 server did not start")
        yield endpoint, client
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_an_s3_object_store(tmp_path, s3_server):
    endpoint, client = s3_server
    storage = ["--default-storage-provider", "s3", "--default-storage-prefix", "s3://sweep/project",
               "--storage-s3-endpoint-url", endpoint, "--storage-s3-access-key", "test",
               "--storage-s3-secret-key", "test"]
    # The search only (the fs test runs the grid too): it takes every path a grid takes in storage but the grid's
    # summary, and the plugins differ only in how a file travels.
    sweep_and_search(tmp_path / "work", storage,
                     lambda path: client.get_object(Bucket="sweep", Key=f"project/{path}")["Body"].read(), grid=False)
