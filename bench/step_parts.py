"""Where one training step of a packed MLP spends its time, per replica: the parts timed alone.

    python bench/step_parts.py --size 14                 # the tutorial MLP, 1 thread, random images

Prints milliseconds per replica and step of: the whole step (forward, backward, Adam), forward and
backward only, the forward pass with and without dropout, Adam's update alone and the gather of a
batch. Each part is compiled once and called 40 times; the parts overlap, so they do not add up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=14, help="replicas K")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mnist_sweep.training.tensorflow_setup import configure_tensorflow

    configure_tensorflow(args.threads)
    import numpy as np
    import tensorflow as tf

    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.training.packed import PackedMLP

    size = args.size
    model = PackedMLP(list(range(size)), [tutorial_hyperparameters()] * size)
    rng = np.random.default_rng(0)
    model.bind_data(rng.random((54_000, 784), dtype=np.float32), np.eye(10, dtype=np.float32)[rng.integers(0, 10, 54_000)])
    indices = tf.constant(rng.integers(0, 54_000, (size, 128)).astype("int32"))
    step = tf.constant(5, tf.int64)
    gradients = [tf.identity(variable.value) * 1e-9 for variable in model.variables]

    def forward_backward():
        inputs, labels = tf.gather(model.x_fit, indices), tf.gather(model.labels_fit, indices)
        with tf.GradientTape() as tape:
            logits = model._logits(inputs, training=True, step=step)
            loss = tf.reduce_sum(tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits), 1))
        return tape.gradient(loss, model.variables)

    parts = {
        "whole step": lambda: model._train_step(indices, step),
        "forward and backward": forward_backward,
        "forward with dropout": lambda: model._logits(tf.gather(model.x_fit, indices), training=True, step=step),
        "forward without dropout": lambda: model._logits(tf.gather(model.x_fit, indices), training=False),
        "Adam's update": lambda: (model._apply_gradients(gradients), model.variables[0].value)[1],
        "gather a batch": lambda: tf.gather(model.x_fit, indices),
    }
    for name, part in parts.items():
        compiled = part if name == "Adam's update" else tf.function(part, autograph=False)
        compiled()  # trace and compile
        tick = time.perf_counter()
        for _ in range(args.calls):
            result = compiled()
        tf.nest.flatten(result)[0].numpy()  # wait for the last call
        milliseconds = (time.perf_counter() - tick) / args.calls * 1000 / size
        print(f"K={size} threads={args.threads} {name}: {milliseconds:.2f} ms per replica and step", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
