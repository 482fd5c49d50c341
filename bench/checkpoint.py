"""What saving a pack's resume state costs, per save and per epoch, before and after (issue #20).

    python bench/checkpoint.py --data /path/to/mnist.npz --sizes 8 32 64

For packs of K tutorial MLPs (784-512-512-10, Adam), side by side in one process:
  before     every replica's state taken as the trainer took it until now: for each replica,
             every variable of the whole pack copied off the device and sliced (K copies of the pack)
  after      PackedMLP.replica_states(): each variable copied once, sliced per replica (views)
  write      writing every replica's state with RunResume.save (np.savez, 8 MB per run)
and the time of a training epoch of the pack on full MNIST, estimated from the steps of 6,000
images (an epoch is 54,000) so that a 64-pack on 2 CPU cores does not take minutes per size.
Before, the trainer took and wrote the state after every epoch; after, it does so every
checkpoint_minutes (default 10) and when stopped: the per-epoch share is printed for both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
SAMPLE_IMAGES = 6_000


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        function()
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="full MNIST .npz (Keras layout)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mnist_sweep.training.tensorflow_setup import configure_tensorflow

    configure_tensorflow(args.threads)
    import numpy as np

    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.data import load_prepared
    from mnist_sweep.training.inputs import prepare_inputs
    from mnist_sweep.training.packed import PackedMLP
    from mnist_sweep.training.resume import RunResume

    inputs = prepare_inputs(load_prepared(args.data), "mlp", validation_split=0.1)
    full_epoch_images = len(inputs["x_fit"])
    print(f"{args.threads} thread(s); epoch estimated from {SAMPLE_IMAGES:,} of {full_epoch_images:,} images")
    print("K   before (s)  after (s)  ratio   write (s)  epoch (s)  per epoch before  after (at 10 min, "
          "this epoch)")
    for size in args.sizes:
        model = PackedMLP(list(range(size)), [tutorial_hyperparameters()] * size)
        model.bind_data(inputs["x_fit"][:SAMPLE_IMAGES], inputs["y_fit"][:SAMPLE_IMAGES])
        model.train_epoch(0, 128, 0)  # traced and warm; the optimizer's slots are filled

        def before():  # the trainer until now: model.replica_state(index) for each replica
            return [{**{f"weight_{i}": np.array(v.numpy()[index]) for i, v in enumerate(model.variables)},
                     **{f"optimizer_{i}": (v.numpy()[index] if model._is_slot(v) else v.numpy())
                        for i, v in enumerate(model.optimizer.variables)}} for index in range(size)]

        seconds_before = median_seconds(before, args.repeats)
        seconds_after = median_seconds(model.replica_states, args.repeats)
        with tempfile.TemporaryDirectory() as folder:
            states = model.replica_states()

            def write():
                for index, state in enumerate(states):
                    RunResume(Path(folder) / f"run{index}").save(state, 1, [], 0, 0.0)

            seconds_write = median_seconds(write, 1)
        tick = time.perf_counter()
        model.train_epoch(1, 128, 0)
        epoch = (time.perf_counter() - tick) * full_epoch_images / SAMPLE_IMAGES
        per_epoch_before = (seconds_before + seconds_write) / epoch
        # After: one save per 10 minutes of training, so a fraction epoch / 600 of a save per epoch.
        per_epoch_after = (seconds_after + seconds_write) / epoch * min(1.0, epoch / 600)
        print(f"{size:<3} {seconds_before:10.3f} {seconds_after:10.3f} {seconds_before / seconds_after:6.1f}x "
              f"{seconds_write:10.2f} {epoch:10.1f} {per_epoch_before:16.1%} {per_epoch_after:8.2%}", flush=True)
        del model
    return 0


if __name__ == "__main__":
    sys.exit(main())
