"""Several runs trained in one process as one model with a replica axis: a pack.

The MLP (PackedMLP): K copies of model.build_keras_model's MLP (its layers are read from it,
never written twice), every weight stacked along a leading replica axis (K, fan_in, fan_out)
and the dense layers computed as batched matrix products, so K small models fill the machine
like one big one, and the process start-up (importing TensorFlow, loading data) is paid once
per pack. Replicas share the model's shape and step count (mnist_sweep.config.architecture.shape_key)
and each has its own seed and its own value of each PER_REPLICA_KEYS hyperparameter.

A run's result must not depend on its pack, so every random draw comes from that
replica's seed alone and is never drawn as one tensor across replicas:
- initial weights: Glorot uniform (Keras' default) from a generator seeded by (seed, layer);
- data order of epoch e: a permutation seeded by (seed, e);
- dropout masks: a counter-based hash of (seed, step, layer, unit), 16 bits per unit (_dropout).
The loss is the sum over replicas of each replica's mean cross-entropy, so each replica's
gradient is exactly its own; the optimizers offered are element-wise and get a learning
rate and a weight decay per replica (a (K, 1, 1) tensor), so the replicas stay independent. A
pack of one is the same code path. A run then trains the same alone and in any pack up to float
rounding: which kernel computes a batched product, and so the order of its sums, can depend on
K and on the CPU (relative differences below 1e-5 in tests/test_train.py).

The convnet (KerasReplicas): the same interface over one Keras model per run, trained
one after the other within each epoch (grouped convolutions would vectorize it; not done).
"""

from __future__ import annotations

import numpy as np

from mnist_sweep.config.architecture import PER_REPLICA_KEYS, check_hyperparameters, input_shape


# A dropout decision takes 16 random bits: rates are exact to 1 / 65536.
DROPOUT_LEVELS = 2**16
# The stream of a seed's dropout keys (numpy's SeedSequence of [seed, DROPOUT_STREAM]), apart from
# the streams of its initial weights ([seed, layer]) and data order ([seed, epoch]).
DROPOUT_STREAM = 0xD509


def mix32(tf, h):
    """MurmurHash3's 32-bit finalizer: every input bit flips about half the output bits.
    Integer arithmetic, so exact on every CPU, GPU and compiler."""
    shift = lambda value, bits: tf.bitwise.right_shift(value, tf.constant(bits, tf.uint32))  # noqa: E731
    h = tf.bitwise.bitwise_xor(h, shift(h, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    h = tf.bitwise.bitwise_xor(h, shift(h, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(h, shift(h, 16))

# The training set as tensors, for the arrays it was made from: (x_fit, y_fit, x tensor, labels tensor).
_bound = None


def glorot_uniform(seed: int, layer: int, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return np.random.default_rng([seed, layer]).uniform(-limit, limit, (fan_in, fan_out)).astype("float32")


class PackedMLP:
    """K replicas of the MLP, one per run: its seed, dropout, learning rate and weight decay."""

    def __init__(self, seeds, hyperparameters: list[dict]):
        import keras
        import tensorflow as tf

        from mnist_sweep.training.model import build_keras_model, build_optimizer

        self.tf = tf
        self.seeds = [int(seed) for seed in seeds]
        size = len(self.seeds)
        if len(hyperparameters) != size:
            raise ValueError(f"{size} seeds but {len(hyperparameters)} hyperparameter mappings")
        for hp in hyperparameters:
            check_hyperparameters(hp)
            differing = [name for name in hp if name not in PER_REPLICA_KEYS and hp[name] != hyperparameters[0][name]]
            if differing:
                raise ValueError(f"the runs of a pack differ in {differing[0]}; they may differ only in the seed and "
                                 f"{', '.join(PER_REPLICA_KEYS)}")
        per_replica = {name: np.array([hp[name] for hp in hyperparameters], "float64").reshape(size, 1, 1)
                       for name in PER_REPLICA_KEYS}
        # The layers, from the Keras model itself: Dense layers, a Dropout after each hidden one, softmax last.
        template = build_keras_model(hyperparameters[0])
        dense = [layer for layer in template.layers if isinstance(layer, keras.layers.Dense)]
        dropout_after = [isinstance(after, keras.layers.Dropout) for after in template.layers[1:]
                         if not isinstance(after, keras.layers.Dense)]
        if (len(template.layers) != 2 * len(dense) - 1 or not all(dropout_after)
                or dense[-1].activation is not keras.activations.softmax):
            raise ValueError("PackedMLP trains Dense layers each followed by Dropout, then a softmax Dense layer; "
                             f"model.build_keras_model made {[layer.__class__.__name__ for layer in template.layers]}")
        self.activations = [layer.activation for layer in dense[:-1]]
        self.sizes = [*input_shape("mlp"), *(layer.units for layer in dense)]
        # Per-replica dropout as (K, 1, 1) tensors: a unit is dropped when its 16 random bits are
        # below ceil(rate * 65536) (see _dropout); kept units are scaled by 1 / (1 - rate).
        rates = per_replica["dropout"]
        self.dropouts = rates
        self.drop_below = np.ceil(rates * DROPOUT_LEVELS).astype("int32")
        self.keep_scales = (1.0 / (1.0 - rates)).astype("float32")
        self.kernels, self.biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            kernel = np.stack([glorot_uniform(seed, layer, fan_in, fan_out) for seed in self.seeds])
            self.kernels.append(keras.Variable(kernel, name=f"kernel_{layer}"))
            # (K, 1, out): every variable has rank 3, so a (K, 1, 1) learning rate broadcasts.
            self.biases.append(keras.Variable(np.zeros((size, 1, fan_out), "float32"), name=f"bias_{layer}"))
        self.variables = [v for pair in zip(self.kernels, self.biases) for v in pair]
        learning_rates = tf.constant(per_replica["learning_rate"].astype("float32"))
        self.optimizer = build_optimizer(hyperparameters[0]["optimizer"], lambda: learning_rates)
        self.optimizer.build(self.variables)
        # Decoupled weight decay as Keras applies it (w - w * decay * learning rate, before the
        # update), with each replica's own decay; skipped when no replica has one.
        decays = per_replica["weight_decay"].astype("float32")
        self.decay_rates = tf.constant(decays * per_replica["learning_rate"].astype("float32")) if decays.any() else None
        self.dropout_keys = tf.constant(
            np.array([np.random.default_rng([seed, DROPOUT_STREAM]).integers(2**32, dtype=np.uint32) for seed in self.seeds],
                     dtype=np.uint32).reshape(size, 1, 1))
        self._dropout_scales = tf.function(self._dropout_scales_eager, jit_compile=True, autograph=False)
        # The optimizer update is compiled with XLA (its element-wise steps fused); results stay
        # independent of the pack size. Compiling the whole step with XLA was slower on CPU (6.1 s
        # instead of 5.6 s per epoch, 4 tutorial MLPs, 1 thread) and its fused reductions depend
        # on K: not done.
        self._apply_gradients = tf.function(self._apply_gradients_eager, jit_compile=True, autograph=False)
        # All full batches of an epoch in one compiled loop: no Python and no device sync per step.
        # The last, smaller batch goes through the same function (one step of another batch size):
        # its shapes are left open, so it is traced once per pack, not twice (0.23 s per pack).
        # Written as a tf.while_loop, without AutoGraph: converting this code and everything it calls
        # took 0.25 s per pack, for the same graph.
        self._train_full_batches = tf.function(
            self._train_full_batches_eager, autograph=False,
            input_signature=[tf.TensorSpec((len(self.seeds), None, None), tf.int32), tf.TensorSpec((), tf.int64)],
        )
        self._predict = tf.function(self._predict_eager, autograph=False,
                                    input_signature=[tf.TensorSpec((None, *input_shape("mlp")), tf.float32)])

    @property
    def size(self) -> int:
        return len(self.seeds)

    def _dropout(self, hidden, step, layer):
        """Inverted dropout: hidden times each replica's own mask of 0 and 1 / (1 - rate)."""
        return hidden * self._dropout_scales(self.tf.shape(hidden)[1], hidden.shape[-1], step, layer)

    def _dropout_scales_eager(self, batch, units, step, layer):
        """The (K, batch, units) dropout scales of one step and layer, for every replica at once.

        A unit's 16 random bits are half of a 32-bit hash of (replica's key, step, layer, its index):
        two rounds of mix32, the (key, step, layer) words entering before and after the index is
        mixed, so no two replicas, steps or layers share a stretch of masks. A unit is dropped when
        its bits are below ceil(rate * 65536): the rate is exact to 2^-16 (0.2 drops a unit with
        probability 13108 / 65536 = 0.200012). One fused (XLA) computation for the whole pack,
        where a random op per replica (TensorFlow's stateless ops take one seed each) put 2 x K
        draws and their reshapes into every step's graph: on a GPU, as many kernel launches per
        step; on one CPU thread, a first epoch (tracing) 2-9 s longer for packs of 14 and 64 and
        later epochs the same within noise (bench/README.md, 2026-12-02).
        """
        tf = self.tf
        word = tf.cast(step, tf.uint32) * tf.constant(0x9E3779B9, tf.uint32) + tf.cast(layer + 1, tf.uint32)
        before = mix32(tf, tf.bitwise.bitwise_xor(self.dropout_keys, mix32(tf, word)))  # (K, 1, 1)
        after = mix32(tf, before + tf.constant(0x6A09E667, tf.uint32))
        half = (units + 1) // 2
        index = tf.bitcast(tf.reshape(tf.range(batch * half, dtype=tf.int32), (1, batch, half)), tf.uint32)
        words = mix32(tf, tf.bitwise.bitwise_xor(mix32(tf, index + before), after))
        bits = tf.reshape(tf.bitcast(words, tf.uint16), (self.size, batch, 2 * half))[:, :, :units]
        kept = tf.cast(bits, tf.int32) >= self.drop_below  # rate 0: every unit kept, scale 1
        return tf.where(kept, self.keep_scales, 0.0)

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
            hidden = tf.linalg.matmul(hidden, kernel) + tf.linalg.matmul(ones, bias)
            if layer < last:
                hidden = self.activations[layer](hidden)
                if training and self.dropouts.any():
                    hidden = self._dropout(hidden, step, layer)
        return hidden

    def bind_data(self, x_fit: np.ndarray, y_fit: np.ndarray) -> None:
        """Keep the training set on the device, as tensors (batches are gathered from it).

        The packs of a job train on the same arrays: they share one copy (copying the 54,000
        images again took 0.4 s and another 170 MB per pack).
        """
        global _bound
        if _bound is None or _bound[0] is not x_fit or _bound[1] is not y_fit:
            _bound = (x_fit, y_fit, self.tf.constant(x_fit), self.tf.constant(y_fit.argmax(axis=1).astype("int32")))
        self.x_fit, self.labels_fit = _bound[2:]

    def _train_step(self, indices, step):
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
        if self.decay_rates is not None:
            for variable in self.variables:
                variable.assign(variable - variable * self.decay_rates)
        self.optimizer.apply_gradients(zip(gradients, self.variables))

    def _train_full_batches_eager(self, batches, first_step):
        """batches: (K, steps, B) indices. Returns summed batch losses*B and correct counts per replica."""
        tf = self.tf
        steps = tf.shape(batches)[1]
        batch = tf.cast(tf.shape(batches)[2], tf.float32)

        def step_once(step, loss_sum, correct_sum):
            losses, correct = self._train_step(batches[:, step, :], first_step + tf.cast(step, tf.int64))
            return step + 1, loss_sum + losses * batch, correct_sum + correct

        zeros = tf.zeros((self.size,), tf.float32)
        _, loss_sum, correct_sum = tf.while_loop(lambda step, *_: step < steps, step_once, (tf.constant(0), zeros, zeros))
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
        if n % batch_size:  # the last, smaller batch (as Keras trains it): one more step
            last = orders[:, full * batch_size:].reshape(self.size, 1, -1).astype("int32")
            losses, correct = (t.numpy().astype(float) for t in self._train_full_batches(last, np.int64(step)))
            loss_sum += losses
            correct_sum += correct
            step += 1
        return loss_sum / n, correct_sum / n, step

    def predict(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Class probabilities of every replica: (K, n, 10).

        Inputs are broadcast to every replica, so a batch costs K x batch_size images of memory
        (a pack of 64 with 2,000-image batches held 400 MB more). The batch size does not depend
        on K: a kernel may sum differently for other shapes, and a run must not depend on its pack.
        """
        parts = [self._predict(x[start:start + batch_size]).numpy() for start in range(0, len(x), batch_size)]
        return np.concatenate(parts, axis=1)

    # --- Per-replica state: for per-seed model files and for resuming -------------------

    def replica_models(self, hyperparameters: list[dict]):
        """Each replica as a plain Keras model (no optimizer state, loadable with keras.models.load_model),
        one at a time: hyperparameters[i] is replica i's (its dropout goes into the model's config).

        Each variable is copied off the device once for all replicas (copying it per replica made
        saving a 64-run pack's models copy the whole pack 64 times), and replicas with the same
        hyperparameters (seeds of one point) share one Keras model, its weights set for each in turn
        (building one took 0.12 s on 2 CPU cores).
        """
        import json

        from mnist_sweep.training.model import build_model

        values = [variable.numpy() for variable in self.variables]
        models = {}
        for index, hp in enumerate(hyperparameters):
            key = json.dumps(hp, sort_keys=True)
            if key not in models:
                models[key] = build_model(hp, compile=False)
            model = models[key]
            # Keras Dense order and shapes: kernel (in, out), bias (out,).
            model.set_weights([value[index] if position % 2 == 0 else value[index, 0]
                               for position, value in enumerate(values)])
            yield model

    def replica_states(self) -> list[dict]:
        """Everything needed to continue each replica: weights and optimizer slots, one dict per replica.

        Each variable is copied off the device once and sliced per replica (views, no copy): taking
        every replica's state costs one copy of the pack, not one per replica (64 copies of a 64-pack
        before: 8 s an epoch on CPU).
        """
        weights = [variable.numpy() for variable in self.variables]
        optimizer = [(variable.numpy(), self._is_slot(variable)) for variable in self.optimizer.variables]
        states = []
        for index in range(self.size):
            state = {f"weight_{i}": value[index] for i, value in enumerate(weights)}
            state.update({f"optimizer_{i}": value[index] if slot else value
                          for i, (value, slot) in enumerate(optimizer)})
            states.append(state)
        return states

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




class KerasReplicas:
    """The PackedMLP interface over one Keras model per run (the convnet): each trained by `fit`.

    Each model is built right after keras.utils.set_random_seed(its seed), so its initial
    weights and dropout generator come from its seed alone, as if trained in its own process.
    """

    def __init__(self, runs):
        import keras

        from mnist_sweep.training.model import build_model

        self.seeds = [int(run["seed"]) for run in runs]
        self.models = []
        for run in runs:
            keras.utils.set_random_seed(int(run["seed"]))
            self.models.append(build_model(run["hyperparameters"]))

    @property
    def size(self) -> int:
        return len(self.models)

    def bind_data(self, x_fit: np.ndarray, y_fit: np.ndarray) -> None:
        self.x_fit, self.y_fit = x_fit, y_fit

    def train_epoch(self, epoch: int, batch_size: int, first_step: int):
        from mnist_sweep.training.inputs import epoch_order

        losses, accuracies = [], []
        n = len(self.x_fit)
        for seed, model in zip(self.seeds, self.models):
            order = epoch_order(seed, epoch, n)
            result = model.fit(self.x_fit[order], self.y_fit[order], batch_size=batch_size, epochs=1, shuffle=False,
                               verbose=0).history
            losses.append(result["loss"][-1])
            accuracies.append(result["accuracy"][-1])
        return np.array(losses, float), np.array(accuracies, float), first_step + -(-n // batch_size)

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        return np.stack([model.predict(x, batch_size=batch_size, verbose=0) for model in self.models])

    def replica_models(self, hyperparameters: list[dict]):
        from mnist_sweep.training.model import build_model

        for model, hp in zip(self.models, hyperparameters, strict=True):
            plain = build_model(hp, compile=False)
            plain.set_weights(model.get_weights())
            yield plain

    def replica_states(self) -> list[dict]:
        return [self.replica_state(index) for index in range(self.size)]

    def replica_state(self, index: int) -> dict:
        """Weights, optimizer variables and the dropout generators' states (Keras saves none of the last)."""
        model = self.models[index]
        state = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
        if model.optimizer.built:
            state.update({f"optimizer_{i}": v.numpy() for i, v in enumerate(model.optimizer.variables)})
        generators = [layer.seed_generator for layer in model.layers if hasattr(layer, "seed_generator")]
        state.update({f"generator_{i}": g.state.numpy() for i, g in enumerate(generators)})
        return state

    def load_replica_states(self, states: list) -> None:
        for model, state in zip(self.models, states, strict=True):
            model.set_weights([state[f"weight_{i}"] for i in range(len(model.weights))])
            if "optimizer_0" in state:
                model.optimizer.build(model.trainable_variables)
                for i, variable in enumerate(model.optimizer.variables):
                    variable.assign(state[f"optimizer_{i}"])
            generators = [layer.seed_generator for layer in model.layers if hasattr(layer, "seed_generator")]
            for i, generator in enumerate(generators):
                generator.state.assign(state[f"generator_{i}"])


def build_pack(runs: list[dict]):
    """The packed model of runs that share a shape (mnist_sweep.config.architecture.shape_key)."""
    if runs[0]["hyperparameters"]["model"] == "cnn":
        return KerasReplicas(runs)
    return PackedMLP([run["seed"] for run in runs], [run["hyperparameters"] for run in runs])
