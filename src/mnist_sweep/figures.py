"""Figures (PNG): training samples, and correct / incorrect predictions of a grid point.

Run by hand:
    python -m mnist_sweep.figures samples --data resources/data/mnist.npz --out samples.png
    python -m mnist_sweep.figures predictions --data resources/data/mnist.npz --best results/mnist/summary/best.json \
        --out predictions.png results/mnist/runs/**/predictions.npz
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mnist_sweep.io import atomic_path  # noqa: E402

GRID = 3  # 3x3 digits per panel, as in the tutorial


def save(figure, out) -> None:
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=110, format="png")
    plt.close(figure)


def _draw_digits(axes_grid, images, titles, color="black") -> None:
    for axis, image, title in zip(axes_grid.ravel(), images, titles):
        axis.imshow(image, cmap="gray", interpolation="none")
        axis.set_title(title, fontsize=9, color=color)
    for axis in axes_grid.ravel():
        axis.set_axis_off()


def samples_figure(data: dict, out) -> None:
    """The first nine training digits with their class, as in the tutorial."""
    figure, axes = plt.subplots(GRID, GRID, figsize=(5, 5.3))
    count = GRID * GRID
    _draw_digits(axes, data["x_train"][:count], [f"Class {label}" for label in data["y_train"][:count]])
    figure.suptitle("Training samples")
    figure.tight_layout()
    save(figure, out)


def seed_votes(prediction_files):
    """Stack the predictions of several seeds: (n_seeds, n_test) predicted classes, and the labels."""
    predicted, labels = [], None
    for path in prediction_files:
        with np.load(path) as npz:
            predicted.append(npz["predicted"])
            labels = npz["label"]
    return np.stack(predicted), labels


def pick_examples(predicted: np.ndarray, labels: np.ndarray, count: int = GRID * GRID):
    """Correct: digits every seed got right. Incorrect: digits most seeds got wrong first.

    Returns (correct indices, incorrect indices, wrong-count per test image, majority prediction).
    """
    wrong = (predicted != labels[None, :]).sum(axis=0)
    majority = np.array([np.bincount(column, minlength=10).argmax() for column in predicted.T])
    correct = np.flatnonzero(wrong == 0)[:count]
    # Stable sort: most seeds wrong first, then test-set order.
    candidates = np.flatnonzero(wrong > 0)
    incorrect = candidates[np.argsort(-wrong[candidates], kind="stable")][:count]
    return correct, incorrect, wrong, majority


def predictions_figure(data: dict, prediction_files, out, title: str) -> None:
    """Correct and incorrect test predictions of one grid point, side by side."""
    predicted, labels = seed_votes(prediction_files)
    n_seeds = len(predicted)
    correct, incorrect, wrong, majority = pick_examples(predicted, labels)
    images = data["x_test"]
    figure = plt.figure(figsize=(10, 6.4))
    header, body = figure.subfigures(2, 1, height_ratios=[0.13, 1])
    header.text(0.5, 0.5, title, ha="center", va="center", fontsize=10)
    left, right = body.subfigures(1, 2, wspace=0.05)
    axes = left.subplots(GRID, GRID)
    _draw_digits(axes, images[correct], [f"Predicted {majority[i]}, Class {labels[i]}" for i in correct])
    left.suptitle(f"Correct: right in all {n_seeds} seed(s)\n({np.mean(wrong == 0):.1%} of test digits)",
                  fontsize=10, fontweight="bold")
    axes = right.subplots(GRID, GRID)
    _draw_digits(
        axes,
        images[incorrect],
        [f"Predicted {majority[i]}, Class {labels[i]}\nwrong in {wrong[i]}/{n_seeds} seeds" for i in incorrect],
        color="darkred",
    )
    right.suptitle(f"Incorrect: most seeds wrong first\n({np.sum(wrong > 0)} test digits wrong in some seed)",
                   fontsize=10, fontweight="bold", color="darkred")
    if len(incorrect) == 0:
        right.text(0.5, 0.5, "no test digit was misclassified", ha="center")
    save(figure, out)


def wrap_path(path: str, width: int = 110) -> str:
    lines, current = [], ""
    for part in path.split("/"):
        candidate = f"{current}/{part}" if current else part
        if len(candidate) > width and current:
            lines.append(current + "/")
            current = part
        else:
            current = candidate
    return "\n".join(lines + [current])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Make the sweep's figures.")
    commands = parser.add_subparsers(dest="figure", required=True)
    samples = commands.add_parser("samples")
    samples.add_argument("--data", required=True, type=Path)
    samples.add_argument("--out", required=True, type=Path)
    predictions = commands.add_parser("predictions")
    predictions.add_argument("--data", required=True, type=Path)
    predictions.add_argument("--best", required=True, type=Path, help="best.json of the summary")
    predictions.add_argument("--out", required=True, type=Path)
    predictions.add_argument("files", nargs="+", type=Path, help="predictions.npz files of the runs")
    args = parser.parse_args(argv)

    from mnist_sweep.data import load_prepared

    data = load_prepared(args.data)
    if args.figure == "samples":
        samples_figure(data, args.out)
    else:
        draw_best_predictions(data, args.best, args.files, args.out)
    return 0


def draw_best_predictions(data: dict, best_file, prediction_files, out) -> None:
    """The predictions figure of the best grid point (named in best.json)."""
    best = json.loads(Path(best_file).read_text())
    if not best.get("run_path"):
        figure = plt.figure(figsize=(6, 2))
        figure.text(0.5, 0.5, f"No predictions to show: {best.get('reason')}", ha="center", wrap=True)
        save(figure, out)
        return
    # Only the completed seeds of the best point (diverged runs have no meaningful predictions).
    wanted = {f"/{best['run_path']}/seed~{seed}/" for seed in best["seeds"]}
    files = [path for path in prediction_files if f"/{Path(path).parent.as_posix()}/".endswith(tuple(wanted))]
    # The run path is long: break it into lines at its '/' separators.
    title = "Best grid point (highest mean test accuracy, " \
            f"{best['test_accuracy_mean']:.4f} over {len(files)} seed(s)):\n" + wrap_path(best["run_path"])
    predictions_figure(data, files, out, title)


if __name__ == "__main__":
    sys.exit(main())
