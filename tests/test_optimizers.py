"""The one-pass Adam of a pack gives exactly Keras' Adam's numbers (it only reorders reads and writes)."""

import numpy as np
import pytest


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("compiled", [False, True])
def test_one_pass_adam_equals_keras_adam(name, compiled):
    import keras
    import tensorflow as tf

    from mnist_sweep.model import OPTIMIZERS
    from mnist_sweep.optimizers import ONE_PASS, pack_optimizer

    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 20, 7)).astype("float32"), rng.normal(size=(3, 1, 7)).astype("float32")]
    gradients = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(5)]
    rates = tf.constant(np.array([0.001, 0.01, 1.0], "float32").reshape(3, 1, 1))  # per replica, as in a pack
    results = []
    for optimizer in (OPTIMIZERS[name](learning_rate=lambda: rates), pack_optimizer(name, learning_rate=lambda: rates)):
        variables = [keras.Variable(w) for w in start]
        optimizer.build(variables)
        apply = tf.function(lambda g: optimizer.apply_gradients(zip(g, variables)), jit_compile=True) if compiled \
            else (lambda g: optimizer.apply_gradients(zip(g, variables)))
        for step in gradients:
            apply([tf.constant(g) for g in step])
        results.append(([v.numpy() for v in variables], [v.numpy() for v in optimizer.variables]))
    assert isinstance(pack_optimizer(name, 0.001), ONE_PASS[name])
    (keras_weights, keras_state), (ours_weights, ours_state) = results
    assert not np.array_equal(keras_weights[0], start[0])  # it trained
    for ours, theirs in zip(ours_weights + ours_state, keras_weights + keras_state, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_other_optimizers_are_keras_own():
    import keras

    from mnist_sweep.optimizers import pack_optimizer

    assert type(pack_optimizer("rmsprop", 0.001)) is keras.optimizers.RMSprop
