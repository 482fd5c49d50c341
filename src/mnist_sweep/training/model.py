"""The Keras models, built from their one definition (mnist_sweep.config.architecture.layers):
the Keras MNIST MLP tutorial and the Keras MNIST convnet example.

A pack trains K MLPs as one vectorized model (mnist_sweep.training.packed.PackedMLP): it reads
the layers from build_keras_model's model (units, activations, where dropout goes) and puts each
replica's weights back into one to save it, so changing the MLP's definition changes both.
"""

from __future__ import annotations

from mnist_sweep.config.architecture import OPTIMIZERS, check_hyperparameters, input_shape, layers


def build_keras_model(hyperparameters: dict):
    """One Keras layer per entry of architecture.layers (the tutorial MLP: 784 -> 512 -> dropout 0.2 ->
    512 -> dropout 0.2 -> 10 softmax)."""
    import keras

    model = keras.Sequential(name=hyperparameters["model"])
    model.add(keras.Input(shape=input_shape(hyperparameters["model"])))
    for kind, settings in layers(hyperparameters):
        if kind == "dense":
            model.add(keras.layers.Dense(settings["units"], activation=settings["activation"]))
        elif kind == "dropout":
            model.add(keras.layers.Dropout(settings["rate"]))
        elif kind == "conv":
            model.add(keras.layers.Conv2D(settings["filters"], kernel_size=(settings["kernel"],) * 2,
                                          activation=settings["activation"]))
        elif kind == "pool":
            model.add(keras.layers.MaxPooling2D(pool_size=(settings["size"],) * 2))
        elif kind == "flatten":
            model.add(keras.layers.Flatten())
        else:
            raise ValueError(f"architecture.layers gave a layer of unknown kind {kind!r}")
    return model


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
    model = build_keras_model(hyperparameters)
    if not compile:  # a model file without optimizer state: a third of the size
        return model
    optimizer = build_optimizer(hyperparameters["optimizer"], hyperparameters["learning_rate"],
                                hyperparameters["weight_decay"])
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model
