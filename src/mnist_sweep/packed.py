"""Several seeds of one MLP grid point trained in one process as one vectorized model.

Every weight is stacked along a leading replica axis (K, fan_in, fan_out) and the dense
layers are batched matrix products, so K small models fill the machine like one big one
and the process start-up (importing TensorFlow, loading data) is paid once per pack.

A seed's result must not depend on its pack, so every random draw comes from that
replica's seed alone and is never drawn as one tensor across replicas:
- initial weights: Glorot uniform (Keras' default) from a generator seeded by (seed, layer);
- data order of epoch e: a permutation seeded by (seed, e), as in solo training;
- dropout masks: a stateless random op seeded by (seed, step, layer).
The loss is the sum over replicas of each replica's mean cross-entropy, so each replica's
gradient is exactly its own; the optimizers offered are element-wise, so they keep the
replicas independent too. A pack of one is the same code path.
"""

from __future__ import annotations

import numpy as np


def glorot_uniform(seed: int, layer: int, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return np.random.default_rng([seed, layer]).uniform(-limit, limit, (fan_in, fan_out)).astype("float32")


class PackedMLP:
    """K replicas of the tutorial MLP (any hidden sizes), one per seed."""

    def __init__(self, seeds, hidden_units, dropout: float, activation: str, optimizer: str,
                 learning_rate: float):
        import keras
        import tensorflow as tf

        from mnist_sweep.model import NUM_CLASSES, OPTIMIZERS

        self.tf = tf
        self.seeds = [int(seed) for seed in seeds]
        self.dropout = float(dropout)
        self.activation = keras.activations.get(activation)
        self.sizes = [784, *hidden_units, NUM_CLASSES]
        self.kernels, self.biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            kernel = np.stack([glorot_uniform(seed, layer, fan_in, fan_out) for seed in self.seeds])
            self.kernels.append(keras.Variable(kernel, name=f"kernel_{layer}"))
            self.biases.append(keras.Variable(np.zeros((len(self.seeds), fan_out), "float32"), name=f"bias_{layer}"))
        self.variables = [v for pair in zip(self.kernels, self.biases) for v in pair]
        self.optimizer = OPTIMIZERS[optimizer](learning_rate=learning_rate)
        self.optimizer.build(self.variables)
        self.seed_tensor = tf.constant(self.seeds, dtype=tf.int64)
        self._train_step = tf.function(
            self._train_step_eager,
            input_signature=[tf.TensorSpec((len(self.seeds), None), tf.int32), tf.TensorSpec((), tf.int64)],
        )
        self._predict = tf.function(self._predict_eager, input_signature=[tf.TensorSpec((None, 784), tf.float32)])

    @property
    def size(self) -> int:
        return len(self.seeds)

    def _dropout(self, hidden, step, layer):
        tf = self.tf
        batch = tf.shape(hidden)[1]
        keep = []
        for index in range(self.size):  # one draw per replica: never across replicas
            seed = tf.stack([self.seed_tensor[index], step * 64 + layer])
            keep.append(tf.random.stateless_uniform((batch, hidden.shape[-1]), seed=seed) >= self.dropout)
        mask = tf.cast(tf.stack(keep), hidden.dtype)
        return hidden * mask / (1.0 - self.dropout)

    def _logits(self, inputs, training: bool, step=None):
        """inputs: (K, B, 784) per-replica batches, or (B, 784) shared by every replica."""
        tf = self.tf
        hidden = inputs
        last = len(self.kernels) - 1
        for layer, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            if len(hidden.shape) == 2:  # shared inputs: the same batch for every replica
                hidden = tf.broadcast_to(hidden[None], (self.size, tf.shape(hidden)[0], hidden.shape[-1]))
            # Batched matmul (K, B, in) x (K, in, out): each replica's slice is its own product.
            # The bias is added as a product too: the gradient of a broadcast add is a reduction
            # whose summation order depends on K, a batched matmul's is the same for any K.
            ones = tf.ones((self.size, tf.shape(hidden)[1], 1), hidden.dtype)
            hidden = tf.linalg.matmul(hidden, kernel) + tf.linalg.matmul(ones, bias[:, None, :])
            if layer < last:
                hidden = self.activation(hidden)
                if training and self.dropout > 0:
                    hidden = self._dropout(hidden, step, layer)
        return hidden

    def bind_data(self, x_fit: np.ndarray, labels_fit: np.ndarray) -> None:
        """Keep the training set on the device once, as tensors (batches are gathered from it)."""
        self.x_fit = self.tf.constant(x_fit)
        self.labels_fit = self.tf.constant(labels_fit.astype("int32"))

    def _train_step_eager(self, indices, step):
        tf = self.tf
        inputs = tf.gather(self.x_fit, indices)  # (K, B, 784): each replica its own batch
        labels = tf.gather(self.labels_fit, indices)  # (K, B)
        with tf.GradientTape() as tape:
            logits = self._logits(inputs, training=True, step=step)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            per_replica = tf.reduce_mean(losses, axis=1)  # (K,)
            total = tf.reduce_sum(per_replica)
        gradients = tape.gradient(total, self.variables)
        self.optimizer.apply_gradients(zip(gradients, self.variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32), 1)
        return per_replica, correct

    def _predict_eager(self, inputs):
        return self.tf.nn.softmax(self._logits(inputs, training=False))

    def train_epoch(self, epoch: int, batch_size: int, first_step: int):
        """One epoch for every replica; returns (mean loss, accuracy) per replica and the next step."""
        n = int(self.x_fit.shape[0])
        orders = np.stack([np.random.default_rng([seed, epoch]).permutation(n) for seed in self.seeds])
        loss_sum = np.zeros(self.size)
        correct_sum = np.zeros(self.size)
        step = first_step
        for start in range(0, n, batch_size):
            indices = orders[:, start:start + batch_size].astype("int32")
            losses, correct = self._train_step(indices, np.int64(step))
            loss_sum += losses.numpy() * indices.shape[1]
            correct_sum += correct.numpy()
            step += 1
        return loss_sum / n, correct_sum / n, step

    def predict(self, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        """Class probabilities of every replica: (K, n, 10)."""
        parts = [self._predict(x[start:start + batch_size]).numpy() for start in range(0, len(x), batch_size)]
        return np.concatenate(parts, axis=1)

    def evaluate(self, x: np.ndarray, labels: np.ndarray):
        """(loss, accuracy) per replica, with Keras' clipped categorical cross-entropy."""
        probabilities = self.predict(x)
        picked = np.take_along_axis(probabilities, labels[None, :, None].astype(int), axis=2)[..., 0]
        with np.errstate(invalid="ignore"):
            loss = -np.log(np.clip(picked, 1e-7, 1 - 1e-7)).mean(axis=1)
        accuracy = (probabilities.argmax(axis=2) == labels[None, :]).mean(axis=1)
        nan = np.isnan(probabilities).any(axis=(1, 2))
        loss[nan] = np.nan
        return loss, accuracy

    # --- Per-replica state: for per-seed model files and for resuming -------------------

    def replica_weights(self, index: int) -> list:
        """[kernel, bias, kernel, bias, ...] of one replica, in Keras Dense order."""
        return [np.array(v.numpy()[index]) for v in self.variables]

    def replica_state(self, index: int) -> dict:
        """Everything needed to continue one replica: weights and optimizer slots."""
        state = {f"weight_{i}": w for i, w in enumerate(self.replica_weights(index))}
        for i, variable in enumerate(self.optimizer.variables):
            value = variable.numpy()
            state[f"optimizer_{i}"] = value[index] if self._is_slot(variable) else value
        return state

    def _is_slot(self, variable) -> bool:
        return tuple(variable.shape) in {tuple(v.shape) for v in self.variables}

    def load_replica_states(self, states: list) -> None:
        """Stack per-replica states (one per seed, in order) back into the pack."""
        for i, variable in enumerate(self.variables):
            variable.assign(np.stack([state[f"weight_{i}"] for state in states]))
        for i, variable in enumerate(self.optimizer.variables):
            values = [state[f"optimizer_{i}"] for state in states]
            if self._is_slot(variable):
                variable.assign(np.stack(values))
            else:
                variable.assign(values[0])
