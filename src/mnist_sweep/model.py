"""The two models, each defined once: the Keras MNIST MLP tutorial and the Keras MNIST convnet example.

A run's hyperparameters come as one mapping, and every key of it must be used by something:
the model's layers (MODEL_KEYS), its optimizer (OPTIMIZER_KEYS) or the training loop
(LOOP_KEYS, read by mnist_sweep.trainer). check_hyperparameters refuses any other key, so a
hyperparameter declared in the schema but used nowhere stops the first training job instead
of being recorded in metrics.json while changing nothing.

The MLP is build_mlp below, the tutorial's Keras model. A pack trains K of them as one
vectorized model (mnist_sweep.packed.PackedMLP): it reads the layers from build_mlp's model
(units, activations, where dropout goes) and puts each replica's weights back into one to
save it, so changing the MLP here changes both.
"""

from __future__ import annotations

from mnist_sweep.inputs import NUM_CLASSES

# The optimizers offered (the schema's enum), by their class in keras.optimizers.
OPTIMIZERS = {"adam": "Adam", "nadam": "Nadam", "rmsprop": "RMSprop", "sgd": "SGD", "adagrad": "Adagrad"}
# What reads each hyperparameter. Every hyperparameter of the schema is in exactly one of these.
LOOP_KEYS = ("model", "batch_size", "epochs")
OPTIMIZER_KEYS = ("optimizer", "learning_rate", "weight_decay")
MODEL_KEYS = {"mlp": ("hidden_units", "dropout", "activation"), "cnn": ("dropout", "activation")}
# The convnet's layers are fixed (the Keras example's): a grid over hidden_units gives it nothing to change.
UNUSED_KEYS = {"mlp": (), "cnn": ("hidden_units",)}


def used_keys(model: str) -> tuple:
    return LOOP_KEYS + OPTIMIZER_KEYS + MODEL_KEYS[model]


def check_hyperparameters(hyperparameters: dict) -> None:
    """Raise ValueError naming any hyperparameter that no part of training would use, or one that is missing."""
    model = hyperparameters.get("model")
    if model not in MODEL_KEYS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODEL_KEYS)}")
    used = used_keys(model)
    unused = sorted(set(hyperparameters) - set(used) - set(UNUSED_KEYS[model]))
    if unused:
        raise ValueError(
            f"hyperparameter {unused[0]!r} is not used by the {model} model (it uses {', '.join(used)}): "
            "a new hyperparameter must be read where it acts, see 'Adding a hyperparameter' in config/README.md")
    missing = [name for name in used if name not in hyperparameters]
    if missing:
        raise ValueError(f"hyperparameter {missing[0]!r} is missing; the {model} model needs {', '.join(used)}")


def build_mlp(hyperparameters: dict):
    """784 -> hidden layers (each followed by dropout) -> 10 softmax; the tutorial is [512, 512], dropout 0.2."""
    import keras
    from keras import layers

    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=(784,)))
    for units in hyperparameters["hidden_units"]:
        model.add(layers.Dense(units, activation=hyperparameters["activation"]))
        model.add(layers.Dropout(hyperparameters["dropout"]))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax"))
    return model


def build_cnn(hyperparameters: dict):
    """The Keras convnet example: two conv/pool blocks, dropout, dense softmax (its dropout is 0.5)."""
    import keras
    from keras import layers

    activation = hyperparameters["activation"]
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation=activation),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation=activation),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(hyperparameters["dropout"]),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="cnn",
    )


def build_optimizer(name: str, learning_rate, weight_decay=None):
    """A Keras optimizer with Keras' defaults except the learning rate and the decoupled weight decay
    (as AdamW applies it, for every optimizer: each step first takes weight_decay x learning_rate of
    every weight away). weight_decay None: none at all (PackedMLP applies its own, per replica)."""
    import keras

    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    optimizer = getattr(keras.optimizers, OPTIMIZERS[name])
    # Keras skips the decay only for None; a decay of 0 would still cost an update per weight and step.
    return optimizer(learning_rate=learning_rate, weight_decay=weight_decay or None)


def build_model(hyperparameters: dict, compile: bool = True):
    """The Keras model a run's hyperparameters describe (compiled with its optimizer unless compile=False)."""
    check_hyperparameters(hyperparameters)
    model = (build_mlp if hyperparameters["model"] == "mlp" else build_cnn)(hyperparameters)
    if not compile:  # a model file without optimizer state: a third of the size
        return model
    optimizer = build_optimizer(hyperparameters["optimizer"], hyperparameters["learning_rate"],
                                hyperparameters["weight_decay"])
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model
