"""Workstation GPU slots: concurrent jobs take different GPUs; a lock dies with its process."""

import os
import subprocess
import sys
import time

from conftest import ROOT

TAKE = (
    "import os, sys, time; from mnist_sweep.cluster.gpu_slots import take_gpu; "
    "print(take_gpu([0, 1], sys.argv[1], poll_seconds=0.05), flush=True); time.sleep(float(sys.argv[2]))"
)


def start(lock_dir, hold_seconds):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.Popen([sys.executable, "-c", TAKE, str(lock_dir), str(hold_seconds)], env=env,
                            stdout=subprocess.PIPE, text=True)


def test_jobs_get_distinct_gpus_and_wait_for_a_free_one(tmp_path):
    first, second = start(tmp_path, 3), start(tmp_path, 3)
    ids = {first.stdout.readline().strip(), second.stdout.readline().strip()}
    assert ids == {"0", "1"}
    tick = time.monotonic()
    third = start(tmp_path, 0)
    third_id = third.stdout.readline().strip()
    assert third_id in {"0", "1"}
    assert time.monotonic() - tick > 1.0, "the third job waited for a GPU to be freed"
    for process in (first, second, third):
        process.wait(timeout=30)


def test_scheduler_assignment_is_respected(monkeypatch, tmp_path):
    from mnist_sweep.cluster.gpu_slots import take_gpu

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert take_gpu([0, 1], tmp_path) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert take_gpu([], tmp_path) is None
