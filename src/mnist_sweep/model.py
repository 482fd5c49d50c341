"""The two models: the Keras MNIST MLP tutorial and the Keras MNIST convnet example."""

from __future__ import annotations

import keras
from keras import layers

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
}
from mnist_sweep.inputs import NUM_CLASSES



def build_mlp(hidden_units, dropout: float, activation: str) -> keras.Model:
    """784 -> hidden layers (each followed by dropout) -> 10 softmax; the tutorial is [512, 512]."""
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=(784,)))
    for units in hidden_units:
        model.add(layers.Dense(units, activation=activation))
        model.add(layers.Dropout(dropout))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax"))
    return model


def build_cnn(dropout: float, activation: str) -> keras.Model:
    """The Keras convnet example: two conv/pool blocks, dropout, dense softmax (its dropout is 0.5)."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation=activation),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation=activation),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(dropout),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="cnn",
    )


def build_model(hyperparameters: dict, compile: bool = True) -> keras.Model:
    """Build (and compile, with its optimizer) the model a run's hyperparameters describe."""
    if hyperparameters["model"] == "mlp":
        model = build_mlp(hyperparameters["hidden_units"], hyperparameters["dropout"], hyperparameters["activation"])
    elif hyperparameters["model"] == "cnn":
        model = build_cnn(hyperparameters["dropout"], hyperparameters["activation"])
    else:
        raise ValueError(f"unknown model {hyperparameters['model']!r}; allowed: mlp, cnn")
    if not compile:  # a model file without optimizer state: a third of the size
        return model
    optimizer = OPTIMIZERS[hyperparameters["optimizer"]](learning_rate=hyperparameters["learning_rate"])
    model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model

