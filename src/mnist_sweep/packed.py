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
replicas independent too. A pack of one is the same code path. A seed then trains the same
alone and in any pack up to float rounding: for some shapes a kernel's summation order
depends on K (tests/test_train.py; on a 30-run sweep, losses differed by at most 5e-7).
"""

from __future__ import annotations

import numpy as np

from mnist_sweep.io import EpochState


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
        # The optimizer update is compiled with XLA (its element-wise steps fused: about 8% faster
        # here); results stay independent of the pack size. Compiling the whole step with XLA is
        # faster still (about 25%) but its fused reductions then depend on K, so a seed's result
        # would depend on its pack: not done.
        self._apply_gradients = tf.function(self._apply_gradients_eager, jit_compile=True)
        # All full batches of an epoch in one compiled loop: no Python and no device sync per step.
        self._train_full_batches = tf.function(
            self._train_full_batches_eager,
            input_signature=[tf.TensorSpec((len(self.seeds), None, None), tf.int32), tf.TensorSpec((), tf.int64)],
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
        self._apply_gradients(gradients)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32), 1)
        return per_replica, correct

    def _apply_gradients_eager(self, gradients):
        self.optimizer.apply_gradients(zip(gradients, self.variables))

    def _train_full_batches_eager(self, batches, first_step):
        """batches: (K, steps, B) indices. Returns summed batch losses*B and correct counts per replica."""
        tf = self.tf
        steps = tf.shape(batches)[1]
        batch = tf.cast(tf.shape(batches)[2], tf.float32)
        loss_sum = tf.zeros((self.size,), tf.float32)
        correct_sum = tf.zeros((self.size,), tf.float32)
        for step in tf.range(steps):
            losses, correct = self._train_step_eager(batches[:, step, :], first_step + tf.cast(step, tf.int64))
            loss_sum += losses * batch
            correct_sum += correct
        return loss_sum, correct_sum

    def _predict_eager(self, inputs):
        return self.tf.nn.softmax(self._logits(inputs, training=False))

    def train_epoch(self, epoch: int, batch_size: int, first_step: int):
        """One epoch for every replica; returns (mean loss, accuracy) per replica and the next step."""
        n = int(self.x_fit.shape[0])
        orders = np.stack([np.random.default_rng([seed, epoch]).permutation(n) for seed in self.seeds])
        full = n // batch_size
        batches = orders[:, : full * batch_size].reshape(self.size, full, batch_size).astype("int32")
        loss_sum, correct_sum = (t.numpy().astype(float) for t in self._train_full_batches(batches, np.int64(first_step)))
        step = first_step + full
        if n % batch_size:  # the last, smaller batch (as Keras trains it)
            indices = orders[:, full * batch_size:].astype("int32")
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
        """(loss, accuracy) per replica, scored as a run's test set is (train.test_scores)."""
        from mnist_sweep.train import test_scores

        probabilities = self.predict(x)
        with np.errstate(invalid="ignore"):
            scores = [test_scores(replica, labels) for replica in probabilities]
        loss, accuracy = (np.array(column) for column in zip(*scores))
        loss[np.isnan(probabilities).any(axis=(1, 2))] = np.nan  # a replica with NaN outputs has diverged
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


class PackResume(EpochState):
    """One replica's state after its last completed epoch, in its own run directory.

    <run dir>/resume/epoch-<n>.npz holds weights and optimizer slots; state.json (written
    after it) names that file, the history so far, the step counter and the time spent.
    """

    suffix = ".npz"
    file_key = "arrays_file"

    def load(self):
        state = self.read_pointer()
        if state is None:
            return None
        with np.load(self.state_file(state)) as arrays:
            state["arrays"] = {key: arrays[key] for key in arrays.files}
        return state

    def save(self, arrays: dict, epochs_done: int, history: list, step: int, training_seconds: float):
        def write_arrays(path):
            with open(path, "wb") as f:
                np.savez(f, **arrays)

        self.commit(epochs_done, write_arrays, {"history": history, "step": step,
                                                "training_seconds": training_seconds})


def train_packed(inputs: dict, run_dirs, hyperparameters: dict, seeds, info: dict, stop) -> list:
    """Train the seeds of one MLP grid point together; write each seed's run files.

    Resumes when every seed of the pack has a saved state after the same epoch. A replica
    whose loss becomes NaN or infinite is recorded as diverged; the others go on.
    """
    import time

    from mnist_sweep.model import build_model
    from mnist_sweep.train import EXIT_PREEMPTED, HISTORY_COLUMNS, _fmt, finish_run, finite_or_none

    hp = hyperparameters
    pack = PackedMLP(seeds, hp["hidden_units"], hp["dropout"], hp["activation"], hp["optimizer"],
                     hp["learning_rate"])
    pack.bind_data(inputs["x_fit"], inputs["y_fit"].argmax(axis=1))
    resumes = [PackResume(run_dir) for run_dir in run_dirs]
    states = [resume.load() for resume in resumes]
    histories = [[] for _ in seeds]
    step, training_seconds, resumed_from = 0, 0.0, None
    if all(states) and len({state["epochs_done"] for state in states}) == 1:
        pack.load_replica_states([state["arrays"] for state in states])
        histories = [state["history"] for state in states]
        step, training_seconds = states[0]["step"], states[0]["training_seconds"]
        resumed_from = states[0]["epochs_done"]
        print(f"resuming seeds {list(seeds)} from the state after epoch {resumed_from}", flush=True)
    elif any(states):
        print("saved states of this pack's seeds disagree (different packing or epochs): starting over", flush=True)

    diverged = [False] * len(seeds)
    epochs = hp["epochs"]
    for epoch in range(len(histories[0]), epochs):
        tick = time.perf_counter()
        loss, accuracy, step = pack.train_epoch(epoch, hp["batch_size"], step)
        if inputs["x_validation"] is not None:
            val_loss, val_accuracy = pack.evaluate(inputs["x_validation"], inputs["y_validation"].argmax(axis=1))
        else:
            val_loss = val_accuracy = [None] * len(seeds)
        seconds = time.perf_counter() - tick
        training_seconds += seconds
        for index, seed in enumerate(seeds):
            if diverged[index]:
                continue
            row = dict(zip(HISTORY_COLUMNS, [epoch + 1, finite_or_none(loss[index]),
                                             finite_or_none(accuracy[index]),
                                             None if val_loss[index] is None else finite_or_none(val_loss[index]),
                                             None if val_accuracy[index] is None else float(val_accuracy[index]),
                                             round(seconds, 3)]))
            histories[index].append(row)
            print(f"seed {seed} epoch {epoch + 1}/{epochs}: loss {_fmt(row['loss'])} accuracy "
                  f"{_fmt(row['accuracy'])} val_loss {_fmt(row['val_loss'])} val_accuracy "
                  f"{_fmt(row['val_accuracy'])} ({seconds:.1f} s for {len(seeds)} seed(s))", flush=True)
            if row["loss"] is None:
                diverged[index] = True
                print(f"seed {seed}: loss is not finite in epoch {epoch + 1}: run diverged", flush=True)
        if all(diverged):
            break
        if epoch + 1 < epochs:
            for index, resume in enumerate(resumes):
                resume.save(pack.replica_state(index), epoch + 1, histories[index], step, training_seconds)
            if stop:
                print(f"stopped by {stop.signal_name} after epoch {epoch + 1}; state saved, rerun to resume",
                      flush=True)
                raise SystemExit(EXIT_PREEMPTED)

    probabilities = pack.predict(inputs["x_test"])
    results = []
    for index, (seed, run_dir) in enumerate(zip(seeds, run_dirs)):
        model = build_model(hp)  # a plain Keras model per seed, loadable with keras.models.load_model
        model.set_weights(pack.replica_weights(index))
        model.optimizer.build(model.trainable_variables)  # saved with its (fresh) optimizer, loads cleanly
        status = "diverged" if diverged[index] else "completed"
        results.append(finish_run(run_dir, model, histories[index], probabilities[index], inputs, status, {
            **info, "seed": seed, "training_seconds": training_seconds, "resumed_from": resumed_from,
            "samples": len(inputs["x_fit"]) * sum(len(h) for h in histories),
            "pack_size": len(seeds), "pack_seeds": list(seeds),
        }, resumes[index]))
    return results
