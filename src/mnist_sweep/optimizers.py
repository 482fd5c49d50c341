"""A pack's optimizer: Keras' own, except that Adam and AdamW update each variable in one pass.

Keras' Adam adds to the first moment, then to the second, then reads both back to update
the variable. Each step reads a variable the one before wrote, so even compiled with XLA
(packed.PackedMLP) these are separate passes over memory, and for a pack's weights
(K x 670,000 floats for the tutorial) memory is what an optimizer step costs. Here the new
moments are computed from the old ones first and the three assignments follow: the same
arithmetic in the same order, so the same numbers as Keras' Adam (tests/test_train.py),
fused into one pass. A pack of 4 tutorial MLPs on one CPU thread: 5.07 s per epoch instead
of 5.55 s (bench/README.md).
"""

from __future__ import annotations

import keras
from keras import ops

from mnist_sweep.model import OPTIMIZERS


class OnePassAdamUpdate:
    """Adam's update_step (keras/src/optimizers/adam.py) with its reads before its writes."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:  # not offered by the config; Keras' own step keeps it correct
            return super().update_step(gradient, variable, learning_rate)
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        local_step = ops.cast(self.iterations + 1, variable.dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, variable.dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        new_m = ops.add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        new_v = ops.add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign(m, new_m)
        self.assign(v, new_v)
        self.assign_sub(variable, ops.divide(ops.multiply(new_m, alpha), ops.add(ops.sqrt(new_v), self.epsilon)))


class Adam(OnePassAdamUpdate, keras.optimizers.Adam):
    pass


class AdamW(OnePassAdamUpdate, keras.optimizers.AdamW):  # AdamW is Adam plus Keras' separate weight decay
    pass


ONE_PASS = {"adam": Adam, "adamw": AdamW}


def pack_optimizer(name: str, learning_rate):
    """The optimizer `name` of the config (mnist_sweep.model.OPTIMIZERS), one-pass where available."""
    return ONE_PASS.get(name, OPTIMIZERS[name])(learning_rate=learning_rate)
