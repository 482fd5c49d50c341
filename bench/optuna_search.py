"""The peer of a search: Optuna, as a researcher would write it for the Keras MNIST MLP tutorial.

One process; TPE sampler (Optuna's default) and its SuccessiveHalvingPruner (min_resource --min-epochs, default 1 epoch,
reduction factor eta); each trial trains the tutorial MLP once per seed with Keras `fit`, one epoch at a
time, and reports the mean validation accuracy over its seeds after every epoch (what a pruning callback
does, over seeds), so the pruner stops weak trials early. The same space, seeds, data split (last 10% of
the training set for validation) and epoch budget as bench/search.py gives our search. Prints one line
`BENCH {...}`: the best trial (by validation), its mean test accuracy over seeds, epochs trained.

    python bench/optuna_search.py --data mnist.npz --trials 9 --seeds 0 1 2 --epochs 9 --eta 3
"""

import argparse
import json
import math
import time

import numpy as np

started = time.perf_counter()
import keras  # noqa: E402
import optuna  # noqa: E402
from keras import layers  # noqa: E402


def load(data_path):
    with np.load(data_path) as data:
        x_train, y_train, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
    x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
    split = len(x_train) - int(0.1 * len(x_train))
    return (x_train[:split], keras.utils.to_categorical(y_train[:split], 10),
            x_train[split:], y_train[split:], x_test, y_test)


def build(seed, dropout, learning_rate, hidden):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(784,)),
                              layers.Dense(hidden, activation="relu"), layers.Dropout(dropout),
                              layers.Dense(hidden, activation="relu"), layers.Dropout(dropout),
                              layers.Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(learning_rate), metrics=["accuracy"])
    return model


def accuracy(model, x, labels):
    return float((model.predict(x, batch_size=1024, verbose=0).argmax(axis=1) == labels).mean())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-epochs", type=int, default=1, help="the pruner's min_resource: the first rung's epochs")
    parser.add_argument("--lr-low", type=float, default=1e-4)
    parser.add_argument("--lr-high", type=float, default=1e-2)
    parser.add_argument("--dropout-high", type=float, default=0.5)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--sampler-seed", type=int, default=0, help="the TPE sampler's seed")
    args = parser.parse_args()
    x_fit, y_fit, x_val, labels_val, x_test, labels_test = load(args.data)
    epochs_trained = 0

    def objective(trial):
        nonlocal epochs_trained
        learning_rate = trial.suggest_float("learning_rate", args.lr_low, args.lr_high, log=True)
        dropout = trial.suggest_float("dropout", 0.0, args.dropout_high)
        models = [build(seed, dropout, learning_rate, args.hidden) for seed in args.seeds]
        for epoch in range(args.epochs):
            for model in models:
                model.fit(x_fit, y_fit, batch_size=128, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
                epochs_trained += 1
            score = float(np.mean([accuracy(model, x_val, labels_val) for model in models]))
            trial.report(score, epoch + 1)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("test_accuracy_mean", float(np.mean([accuracy(m, x_test, labels_test) for m in models])))
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.sampler_seed),
                                pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=args.min_epochs,
                                                                              reduction_factor=args.eta))
    study.optimize(objective, n_trials=args.trials)
    best = study.best_trial
    print("BENCH " + json.dumps({
        "seconds": time.perf_counter() - started, "best": best.params, "val_accuracy_mean": best.value,
        "test_accuracy_mean": best.user_attrs.get("test_accuracy_mean", math.nan), "epochs_trained": epochs_trained,
        "completed_trials": sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials),
    }), flush=True)


if __name__ == "__main__":
    main()
