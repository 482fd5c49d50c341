"""Which GPUs a job sees and which runs each of its processes trains (the processes: test_train.py)."""

import pytest

from mnist_sweep.cluster.gpu_processes import part_of, visible_gpus


@pytest.mark.parametrize("value, on_node, gpus", [
    (None, None, []), ("", "2", []), ("-1", None, []), ("NoDevFiles", None, []), ("0", "4", ["0"]),
    ("0,1,2,3", None, ["0", "1", "2", "3"]), ("GPU-5f3a,GPU-77b1", None, ["GPU-5f3a", "GPU-77b1"]),
    ("2, 3", None, ["2", "3"]),
    (None, "2", ["0", "1"]),  # SLURM gave 2 GPUs but set no CUDA_VISIBLE_DEVICES (the test cluster's fake GPUs)
    (None, "0", []),
])
def test_visible_gpus_are_read_from_cuda_visible_devices(monkeypatch, value, on_node, gpus):
    for name, setting in (("CUDA_VISIBLE_DEVICES", value), ("SLURM_GPUS_ON_NODE", on_node)):
        if setting is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, setting)
    assert visible_gpus() == gpus


def test_each_part_takes_every_nth_run_so_every_shape_is_shared():
    runs = ["a1", "a2", "a3", "a4", "b1", "b2", "b3"]  # a plan lists a shape's runs together
    assert [part_of(runs, f"{i}/3") for i in range(3)] == [["a1", "a4", "b3"], ["a2", "b1"], ["a3", "b2"]]
    assert sorted(sum((part_of(runs, f"{i}/3") for i in range(3)), [])) == sorted(runs)
    with pytest.raises(ValueError, match="0 <= i < n"):
        part_of(runs, "3/3")
