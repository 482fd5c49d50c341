"""Seconds per epoch of one packed MLP (K replicas) on full MNIST, and of the variants it was chosen over.

    python bench/pack_epoch.py --data /path/to/mnist.npz --size 4 --threads 1
    python bench/pack_epoch.py --data ... --size 4 --threads 1 --variant float-dropout
    python bench/pack_epoch.py --data ... --size 64 --images 6400      # a big pack, short epochs

Variants (what bench/README.md compares; the workflow trains the first):
  workflow          the pack as mnist_sweep.training.packed.PackedMLP trains it
  fused-kernel-adam TensorFlow's ResourceApplyAdam (one learning rate for every replica)
  float-dropout     dropout masks from a float32 draw per unit, as before 16-bit draws
  no-dropout        dropout 0 (what the masks cost)
Epoch 1 includes tracing; quote the later ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
VARIANTS = ("workflow", "fused-kernel-adam", "float-dropout", "no-dropout")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="full MNIST .npz (Keras layout)")
    parser.add_argument("--size", type=int, default=4, help="replicas K")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--variant", choices=VARIANTS, default="workflow")
    parser.add_argument("--images", type=int, default=None,
                        help="train on the first N training images only (short epochs for big packs); default all")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mnist_sweep.training.tensorflow_setup import configure_tensorflow

    configure_tensorflow(args.threads)
    import tensorflow as tf

    from mnist_sweep.config.hyperparameters import tutorial_hyperparameters
    from mnist_sweep.data import load_prepared
    from mnist_sweep.training.inputs import prepare_inputs
    from mnist_sweep.training.packed import PackedMLP

    inputs = prepare_inputs(load_prepared(args.data), "mlp", validation_split=0.1)  # as a training job
    dropout = 0.0 if args.variant == "no-dropout" else args.dropout
    hyperparameters = dict(tutorial_hyperparameters(), hidden_units=[args.hidden, args.hidden], dropout=dropout)
    model = PackedMLP(list(range(args.size)), [hyperparameters] * args.size)
    if args.variant == "float-dropout":
        def float_dropout(hidden, step, layer):
            batch = tf.shape(hidden)[1]
            draws = [tf.random.stateless_uniform((batch, hidden.shape[-1]), seed=tf.stack([tf.constant(model.seeds[i], tf.int64), step * 64 + layer]))
                     for i in range(model.size)]
            rates = model.dropouts.astype("float32")
            return hidden * tf.cast(tf.stack(draws) >= rates, hidden.dtype) / (1.0 - rates)
        model._dropout = float_dropout
    if args.variant == "fused-kernel-adam":
        weights = [variable.value for variable in model.variables]
        moments = [(tf.Variable(tf.zeros_like(w)), tf.Variable(tf.zeros_like(w))) for w in weights]
        step_count = tf.Variable(0.0)

        def fused_adam(gradients):
            step_count.assign_add(1.0)
            for weight, (m, v), gradient in zip(weights, moments, gradients):
                tf.raw_ops.ResourceApplyAdam(var=weight.handle, m=m.handle, v=v.handle,
                                             beta1_power=tf.pow(0.9, step_count), beta2_power=tf.pow(0.999, step_count),
                                             lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-7, grad=gradient)
        model._apply_gradients = fused_adam
    model.bind_data(inputs["x_fit"][: args.images], inputs["y_fit"][: args.images])
    step = 0
    for epoch in range(args.epochs):
        tick = time.perf_counter()
        loss, _, step = model.train_epoch(epoch, 128, step)
        print(f"K={args.size} hidden={args.hidden} dropout={dropout} threads={args.threads} {args.variant} "
              f"images={len(inputs['x_fit'][: args.images])}: "
              f"epoch {epoch + 1} {time.perf_counter() - tick:.2f} s (loss of replica 0: {loss[0]:.4f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
