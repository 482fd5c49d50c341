"""Baseline: the Keras MNIST MLP tutorial as published, ported minimally to Keras 3.

One run per Python process, as people run it: load MNIST, build, compile, fit 4 epochs
with batch 128, evaluate. The only changes: data from a local .npz (no internet here), a
seed argument, and a timing line the benchmark reads (training seconds and epoch times).

    python bench/tutorial_baseline.py --data /path/to/mnist.npz --seed 0
"""

import argparse
import json
import time

import numpy as np

started = time.perf_counter()
import keras  # noqa: E402
from keras import layers  # noqa: E402


def train(data_path, seed=0, dropout=0.2, hidden=512, epochs=4, batch_size=128):
    keras.utils.set_random_seed(seed)
    with np.load(data_path) as data:
        x_train, y_train, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    x_train = x_train.reshape(60000, 784).astype("float32") / 255
    x_test = x_test.reshape(10000, 784).astype("float32") / 255
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)

    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            layers.Dense(hidden, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(hidden, activation="relu"),
            layers.Dropout(dropout),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])

    epoch_seconds = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.tick = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.tick)

    tick = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0, validation_split=0.1,
              callbacks=[EpochTimer()])
    training_seconds = time.perf_counter() - tick
    score = model.evaluate(x_test, y_test, verbose=0)
    return {"test_loss": score[0], "test_accuracy": score[1], "training_seconds": training_seconds,
            "epoch_seconds": epoch_seconds, "training_images": 54000, "epochs": epochs}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--hidden", type=int, default=512)
    args = parser.parse_args()
    result = train(args.data, args.seed, args.dropout, args.hidden)
    result["process_seconds"] = time.perf_counter() - started
    print("BENCH " + json.dumps(result), flush=True)
