"""Figures (PNG): training samples, and correct / incorrect predictions of a grid point.

Run by hand:
    python -m mnist_sweep.analysis.figures samples --data resources/data/mnist.npz --out samples.png
    python -m mnist_sweep.analysis.figures predictions --data resources/data/mnist.npz \
        --summary results/mnist/summary --out predictions.png

Run files are found through the summary's runs.tsv (its run_dir column), not passed one by
one: Snakemake then tracks one input per figure instead of one per run, which keeps a
dry-run of a 10,000-run sweep fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mnist_sweep.config.hyperparameters import HYPERPARAMETERS  # noqa: E402
from mnist_sweep.io import atomic_path  # noqa: E402

GRID = 3  # 3x3 digits per panel, as in the tutorial
# Beyond this many lines a figure is unreadable (and a 1,000-point sweep took 40 s to draw):
# learning curves show the best grid points only, and accuracy-vs-hyperparameter panels
# show the spread over the other hyperparameters instead of one series per combination.
MOST_LINES = 10


def save(figure, out, **options) -> None:
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=110, format="png", **options)
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
    # One seed: no "all 1 seed(s)" or "wrong in 1/1 seeds".
    right_in = "right" if n_seeds == 1 else f"right in all {n_seeds} seeds"
    left.suptitle(f"Correct: {right_in}\n({np.mean(wrong == 0):.1%} of test digits)", fontsize=10, fontweight="bold")
    axes = right.subplots(GRID, GRID)
    _draw_digits(
        axes,
        images[incorrect],
        [f"Predicted {majority[i]}, Class {labels[i]}" + ("" if n_seeds == 1 else f"\nwrong in {wrong[i]}/{n_seeds} seeds")
         for i in incorrect],
        color="darkred",
    )
    heading = (f"Incorrect\n({np.sum(wrong > 0)} test digits wrong)" if n_seeds == 1 else
               f"Incorrect: most seeds wrong first\n({np.sum(wrong > 0)} test digits wrong in some seed)")
    right.suptitle(heading, fontsize=10, fontweight="bold", color="darkred")
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
    predictions.add_argument("--summary", required=True, type=Path,
                             help="summary folder of the sweep (runs.tsv, best.json)")
    predictions.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)

    from mnist_sweep.data import load_prepared

    data = load_prepared(args.data)
    if args.figure == "samples":
        samples_figure(data, args.out)
    else:
        draw_best_predictions(data, args.summary / "runs.tsv", args.summary / "best.json", args.out)
    return 0


def point_runs(runs: pd.DataFrame, run_path: str, seeds=None) -> pd.DataFrame:
    """The runs.tsv rows of one grid point (optionally only the given seeds)."""
    chosen = runs[runs["run_dir"].str.contains(f"/{run_path}/seed~", regex=False)]
    return chosen if seeds is None else chosen[chosen["seed"].isin(seeds)]


def prediction_paths(runs: pd.DataFrame) -> list:
    """The predictions.npz file of each run (row of runs.tsv)."""
    return [Path(run_dir) / "predictions.npz" for run_dir in runs["run_dir"]]


def read_summary_table(path) -> pd.DataFrame:
    """runs.tsv or configs.tsv, hyperparameters kept as the text of the run path (e.g. 512-512)."""
    return pd.read_csv(path, sep="\t", dtype={name: str for name in HYPERPARAMETERS})


def _nothing_to_show(out, reason: str) -> None:
    figure = plt.figure(figsize=(6, 2))
    figure.text(0.5, 0.5, f"Nothing to show: {reason}", ha="center", wrap=True)
    save(figure, out)


def draw_best_predictions(data: dict, runs_table, best_file, out) -> None:
    """The predictions figure of the best grid point (named in best.json)."""
    best = json.loads(Path(best_file).read_text())
    if not best.get("run_path"):
        _nothing_to_show(out, best.get("reason", "no best grid point"))
        return
    files = best_prediction_files(best, read_summary_table(runs_table))
    if not files:
        _nothing_to_show(out, f"no completed run of {best['run_path']} to show")
        return
    title = (f"Best grid point (chosen on validation accuracy; mean test accuracy {best['test_accuracy_mean']:.4f} "
             f"over {seeds_named(best)}):\n" + wrap_path(best["run_path"]))
    predictions_figure(data, files, out, title)


def best_prediction_files(best: dict, runs: pd.DataFrame) -> list:
    """The predictions of the runs best.json's numbers come from: its completed seeds, or, after a search's
    confirmation, the confirmation's (diverged runs have no meaningful predictions). A best.json written
    before it listed its run_dirs: its seeds' rows of the runs table."""
    if "run_dirs" not in best:
        return prediction_paths(point_runs(runs, best["run_path"], best["seeds"]))
    return [Path(run_dir) / "predictions.npz" for run_dir in best["run_dirs"]]


def seeds_named(best: dict) -> str:
    """'3 seed(s)', or '5 new seed(s) 3, 4, 5, 6, 7 (confirmation)' when they are a confirmation's."""
    seeds = ", ".join(map(str, best["seeds"]))
    return (f"{len(best['seeds'])} new seed(s) {seeds} (confirmation)" if "search_seeds" in best
            else f"{len(best['seeds'])} seed(s) {seeds}")


class FigureError(ValueError):
    """A figure that cannot be drawn from what was asked, phrased for the user."""


def draw_point_predictions(data: dict, runs_table, run_path: str, out) -> None:
    """The predictions figure of any grid point of the sweep, over its completed seeds."""
    table = read_summary_table(runs_table)
    runs = point_runs(table, run_path)
    if runs.empty:
        points = sorted({str(Path(run_dir).parent) for run_dir in table["run_dir"]})
        example = points[0].split("/runs/", 1)[-1] if points else "<grid point>"
        raise FigureError(
            f"grid point {run_path} is not in this sweep ({runs_table}: {len(points)} grid point(s)); ask for one "
            f"of them, e.g. .../figures/predictions/{example}.png, or name the sweep that has it "
            "(the same --configfile/--config as that sweep)")
    completed = runs[runs["status"] == "completed"]
    if completed.empty:
        _nothing_to_show(out, f"every run of {run_path} diverged: no predictions to show")
        return
    files = prediction_paths(completed)
    title = f"Grid point (mean test accuracy {completed['test_accuracy'].mean():.4f} over {len(files)} seed(s)):\n" \
        + wrap_path(run_path)
    predictions_figure(data, files, out, title)


def draw_sweep_figures(runs_table, configs_table, best_file, curves_out, parameters_out, confusion_out,
                       search_space: dict | None = None) -> None:
    """Learning curves, accuracy vs hyperparameters (a search's sampled values where they lie: search_space,
    the config's search.space), and the best point's confusion matrix."""
    runs = read_summary_table(runs_table)
    configs = read_summary_table(configs_table)
    curves_figure(runs, configs, curves_out)
    best = json.loads(Path(best_file).read_text())
    if (configs["n_seeds"] == 0).all():
        _nothing_to_show(parameters_out, "every run diverged")
    else:
        parameters_figure(configs, parameters_out, confirmed_note(best), search_space)
    if not best.get("run_path"):
        _nothing_to_show(confusion_out, best.get("reason", "no best grid point"))
        return
    files = best_prediction_files(best, runs)
    if not files:
        _nothing_to_show(confusion_out, f"no completed run of {best['run_path']} to show")
        return
    confusion_figure(files, confusion_out, f"Confusion matrix of the best grid point, pooled over "
                                           f"{seeds_named(best)}:\n{wrap_path(best['run_path'], 70)}")



# --- Figures over the whole sweep (read the summary tables) ----------------------------

def swept_parameters(table: pd.DataFrame) -> list:
    """Hyperparameters with more than one value in the sweep (the ones worth naming)."""
    return [name for name in HYPERPARAMETERS if table[name].astype(str).nunique() > 1]


def point_label(row, swept) -> str:
    """The swept hyperparameters of a point; with nothing swept, the whole configuration."""
    names = swept or HYPERPARAMETERS
    return ", ".join(f"{name}={row[name]}" for name in names)


# A cross-entropy over 10 classes starts near ln(10) = 2.3; a loss above this has exploded (the packed MLP's
# loss is computed from logits, so it can grow to 1e33 and stay finite).
EXPLODED_LOSS = 1000.0


def exploded_history(history: pd.DataFrame) -> bool:
    """A run's history whose train or validation loss went above EXPLODED_LOSS, or is not a number."""
    losses = pd.concat([pd.to_numeric(history[column], errors="coerce") for column in ("loss", "val_loss")
                        if column in history])
    return bool(((losses > EXPLODED_LOSS) | ~np.isfinite(losses.fillna(0))).any())


def all_diverged(configs: pd.DataFrame) -> pd.DataFrame:
    """Grid points none of whose seeds completed."""
    return configs[configs["n_seeds"] == 0]


def curves_figure(runs: pd.DataFrame, configs: pd.DataFrame, out) -> None:
    """Train/validation loss and accuracy per epoch: mean over seeds, band = +-1 std.

    configs: configs.tsv rows, best first; at most MOST_LINES points with a completed run are
    drawn, and (dashed, up to the epoch where they stopped) at most MOST_LINES points whose
    every seed diverged.
    """
    swept = swept_parameters(runs)
    panels = [("loss", "train loss"), ("val_loss", "validation loss"),
              ("accuracy", "train accuracy"), ("val_accuracy", "validation accuracy")]
    figure, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True)
    finished = configs[configs["n_seeds"] > 0]
    diverged = all_diverged(configs)
    shown = pd.concat([finished.head(MOST_LINES), diverged.head(MOST_LINES)])
    colors = plt.get_cmap("tab10")
    trained = {}  # axis -> the values (mean -/+ std) of the points drawn as trained
    for index, (_, point) in enumerate(shown.iterrows()):
        failed = point["n_seeds"] == 0
        group = point_runs(runs, point["run_path"])
        if not failed:
            group = group[group["status"] == "completed"]
        histories = [pd.read_csv(Path(run_dir) / "history.tsv", sep="\t") for run_dir in group["run_dir"]]
        # A run whose loss exploded (finite, so it completed) would flatten every other curve: left out of the
        # mean and counted, like a diverged one; a point with nothing else is drawn as diverged.
        blown = [exploded_history(history) for history in histories] if not failed else []
        exploded = sum(blown)
        if 0 < exploded < len(histories):
            histories = [history for history, out in zip(histories, blown) if not out]
        elif exploded:
            failed = True
        stats_by_epoch = pd.concat(histories).groupby("epoch").agg(["mean", "std"])
        color = "tab:red" if failed else colors(index % colors.N)
        if failed:
            how = f"loss above {EXPLODED_LOSS:g}" if exploded else "diverged"
            label = f"{point_label(group.iloc[0], swept)} ({how}: all {len(histories)} seeds)"
        else:
            left_out = int(point["n_diverged"]) + exploded
            dropped = (f", {left_out} diverged" + (f" (loss above {EXPLODED_LOSS:g})" if exploded else "")
                       + " left out") if left_out else ""
            seeds = "1 seed" if len(histories) == 1 else f"{len(histories)} seeds"
            label = f"{point_label(group.iloc[0], swept)} ({seeds}{dropped})"
        style = {"marker": "x" if failed else "o", "markersize": 3, "color": color,
                 "linestyle": "--" if failed else "-"}
        drawn = False
        for axis, (column, title) in zip(axes.ravel(), panels):
            axis.set_title(title)
            if stats_by_epoch[column]["mean"].isna().all():
                continue
            mean, std = stats_by_epoch[column]["mean"], stats_by_epoch[column]["std"].fillna(0)
            axis.plot(mean.index, mean, label=label, **style)
            if not failed:  # a diverged point's spread says nothing (and 1e33 of it hides every other band)
                axis.fill_between(mean.index, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
                trained.setdefault(axis, []).extend([*(mean - std), *(mean + std)])
            drawn = True
        if not drawn:  # diverged before any finite number: still named in the legend
            axes[0, 0].plot([], [], label=f"{label}, nothing finite to draw", **style)
    # A diverged point's curve (dashed) may climb to 1e33: the axis keeps the scale of the points that trained.
    for axis, values in trained.items():
        values = [value for value in values if np.isfinite(value)]
        if values and axis.get_ylim()[1] > EXPLODED_LOSS:
            low, high = min(values), max(values)
            margin = 0.1 * (high - low) or 0.1 * abs(high) or 0.1
            axis.set_ylim(low - margin, high + margin)
    last_epoch = max([1, *(int(e) for e in pd.to_numeric(runs.get("epochs_run"), errors="coerce").dropna())])
    for axis in axes.ravel():
        # Whole epochs, from 1: a one-epoch sweep is one point per line at epoch 1, not on a 0.945-1.050 axis.
        axis.set_xlim(0.5, last_epoch + 0.5)
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, min_n_ticks=1))
    for axis in axes[1]:
        axis.set_xlabel("epoch")
    # One legend entry per grid point, from whichever panel could draw it (a diverged point may
    # have a finite accuracy but no finite loss).
    entries = {}
    for axis in axes.ravel():
        for handle, text in zip(*axis.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    labels, handles = list(entries), list(entries.values())
    # Below the panels, as wide as they are: a long label wraps into columns, never widens the figure.
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8,
                  ncol=1 if max(map(len, labels), default=0) > 60 else 2,
                  title="grid point (line: mean over seeds, band: +-1 std)", title_fontsize=8)
    best = f" of the {min(len(finished), MOST_LINES)} best of {len(finished):,} grid points (by the selection " \
           "metric)" if len(finished) > MOST_LINES else ""
    failures = f"; {len(diverged)} grid point(s) with every seed diverged (dashed, red)" if len(diverged) else ""
    figure.suptitle(f"Learning curves{best}{failures}")
    figure.tight_layout()
    save(figure, out, bbox_inches="tight")  # the legend is below the axes


# The longest legend entry that still fits two to a row under a params.png panel (5 inches, 8 pt).
LEGEND_COLUMN_CHARACTERS = 26
# Each panel of params.png has its own colours and marker, so a colour never means two things in one figure.
PANEL_PALETTES = ("tab10", "Dark2", "Set1", "Set2", "Accent", "Paired")
PANEL_MARKERS = ("o", "D", "^", "v", "P", "X")


def confirmed_accuracy(best: dict) -> str | None:
    """'0.9822 [0.9804, 0.9840]': the winner's test accuracy on a search's confirmation seeds; None without one."""
    if "search_seeds" not in best or best.get("test_accuracy_mean") is None:
        return None
    low, high = best["test_accuracy_ci95"]
    return f"{best['test_accuracy_mean']:.4f}" + (f" [{low:.4f}, {high:.4f}]" if low is not None else "")


def confirmed_note(best: dict) -> str:
    """For a search's figures drawn from its search seeds: that they are optimistic for the chosen point, and
    its confirmed test accuracy."""
    accuracy = confirmed_accuracy(best)
    if accuracy is None:
        return ""
    return (f"\nsearch seeds (optimistic for the chosen point); its confirmed test accuracy: "
            f"{accuracy} over {seeds_named(best)}")


def parameters_figure(configs: pd.DataFrame, out, note: str = "", search_space: dict | None = None) -> None:
    """Mean test accuracy against each swept hyperparameter, with 95% CI error bars over seeds.

    A point with one completed seed has no interval (drawn as an open square), a point some of
    whose seeds diverged is drawn open and labelled with how many. A panel with more than
    MOST_LINES combinations of the other hyperparameters shows, per value, the spread of the grid
    points' means (box, with its count) and the point chosen on validation instead. Points whose
    every seed diverged are marked (red x at the bottom of the panel) and counted in the title.
    With nothing swept, the one panel names the configuration. Legends sit below their panel.
    """
    swept = swept_parameters(configs)
    finished = configs[configs["n_seeds"] > 0]
    diverged = all_diverged(configs)
    figure, axes = plt.subplots(1, max(len(swept), 1), figsize=(5 * max(len(swept), 1), 4.5), squeeze=False)
    if not swept:
        single_point_panel(axes[0][0], finished)
    search_space = search_space or {}
    for panel, (axis, name) in enumerate(zip(axes[0], swept)):
        others = [other for other in swept if other != name]
        values = sorted(configs[name].astype(str).unique(), key=_sort_key)
        colors = plt.get_cmap(PANEL_PALETTES[panel % len(PANEL_PALETTES)])
        marker = PANEL_MARKERS[panel % len(PANEL_MARKERS)]
        sampled = search_space.get(name, {})
        if "low" in sampled:  # a sampled range: the values where they lie (log where the range is), one series
            series_panel(axis, [((), finished)], name, values, [], colors, marker,
                         scale="log" if sampled.get("log") else "linear")
        else:
            series = list(finished.groupby(others, sort=True)) if others else [((), finished)]
            if len(series) > MOST_LINES:
                spread_panel(axis, finished, name, values, colors)
            else:
                series_panel(axis, series, name, values, others, colors, marker)
        if len(diverged):
            bottom = axis.get_ylim()[0]
            positions = ({value: float(value) for value in values} if "low" in sampled
                         else {value: index for index, value in enumerate(values)})
            axis.plot([positions[str(v)] for v in diverged[name]], [bottom] * len(diverged), "x", color="tab:red",
                      markersize=9, clip_on=False, label=f"every seed diverged ({len(diverged)})")
        axis.set_xlabel(name + (" (log scale)" if sampled.get("log") else ""))
        if axis.get_legend_handles_labels()[1]:
            # Below the x label (lower still under two-line tick labels), never over the points.
            two_lines = any("\n" in tick.get_text() for tick in axis.get_xticklabels())
            # Two columns only where two fit in the panel's width: a wider legend runs into its neighbour's.
            labels = axis.get_legend_handles_labels()[1]
            axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3 if two_lines else -0.2),
                        ncol=2 if max(map(len, labels)) <= LEGEND_COLUMN_CHARACTERS else 1)
        axis.grid(axis="y", alpha=0.3)
    for axis in axes[0][1:]:  # the same measure in every panel: named once, at the left
        axis.set_ylabel("")
    single = finished["n_seeds"].max() < 2
    failures = f"; {len(diverged)} grid point(s) with every seed diverged (red x)" if len(diverged) else ""
    figure.suptitle("Test accuracy vs hyperparameters" + (" (one seed: no intervals)" if single else "") + failures
                    + note)
    figure.tight_layout()
    save(figure, out, bbox_inches="tight")  # legends below the panels


def single_point_panel(axis, finished: pd.DataFrame) -> None:
    """A sweep of one grid point: its mean test accuracy and interval, named by its configuration."""
    point = finished.iloc[0]
    mean = point["test_accuracy_mean"]
    low = 0 if pd.isna(point["test_accuracy_ci95_low"]) else mean - point["test_accuracy_ci95_low"]
    high = 0 if pd.isna(point["test_accuracy_ci95_high"]) else point["test_accuracy_ci95_high"] - mean
    axis.errorbar([0], [mean], yerr=[[low], [high]], fmt="o", capsize=4)
    axis.set_xticks([0], [f"{int(point['n_seeds'])} seed(s)"])
    axis.set_ylabel("test accuracy (mean, 95% CI over seeds)")
    axis.set_title("nothing swept: " + wrap_path(", ".join(f"{n}={point[n]}" for n in HYPERPARAMETERS)
                                                 .replace(", ", "/"), 45).replace("/", ", "), fontsize=8)


def series_panel(axis, series, name: str, values: list, others: list, colors, marker: str = "o",
                 scale: str | None = None) -> None:
    """One series per combination of the other hyperparameters, 95% CI error bars; one-seed points and
    points with diverged seeds drawn open, so they never pass for exact or whole. scale (a search's sampled
    range: linear or log): values on a numeric axis, not as evenly spaced categories."""
    positions = ({value: float(value) for value in values} if scale
                 else {value: index for index, value in enumerate(values)})
    width = 0 if scale else 0.5 / max(len(series), 1)
    marked = {"one": False, "diverged": False}
    for index, (key, group) in enumerate(series):
        color = colors(index % colors.N)
        offset = (index - (len(series) - 1) / 2) * width
        x = np.array([positions[str(v)] + offset for v in group[name]])
        mean = group["test_accuracy_mean"].to_numpy(dtype=float)
        low = (mean - group["test_accuracy_ci95_low"]).fillna(0).to_numpy()
        high = (group["test_accuracy_ci95_high"] - mean).fillna(0).to_numpy()
        label = ", ".join(f"{o}={v}" for o, v in zip(others, key if isinstance(key, tuple) else (key,))) or None
        seeds = group["n_seeds"].to_numpy(dtype=int)
        lost = group["n_diverged"].to_numpy(dtype=int)
        whole, partial, one = (seeds >= 2) & (lost == 0), (seeds >= 2) & (lost > 0), seeds < 2
        for points, face in ((whole, color), (partial, "white")):
            if points.any():
                axis.errorbar(x[points], mean[points], yerr=[low[points], high[points]], fmt=marker, capsize=4,
                              color=color, markerfacecolor=face, label=label)
                label = None  # one legend entry per series
        for px, py, n_lost, n_runs in zip(x[partial], mean[partial], lost[partial], (seeds + lost)[partial]):
            axis.annotate(f"{n_lost}/{n_runs} diverged", (px, py), xytext=(4, 4), textcoords="offset points",
                          fontsize=7, color=color)
        if one.any():
            axis.plot(x[one], mean[one], "s", color=color, markerfacecolor="white", label=label)
        marked["diverged"] |= bool(partial.any())
        marked["one"] |= bool(one.any())
    if marked["one"]:
        axis.plot([], [], "s", color="grey", markerfacecolor="white", label="1 completed seed: no interval")
    if marked["diverged"]:
        axis.plot([], [], marker, color="grey", markerfacecolor="white",
                  label="some seeds diverged (mean of the rest)")
    if scale:
        axis.set_xscale(scale)
        if scale == "log":
            axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        axis.set_xticks(range(len(values)), values)
    axis.set_ylabel("test accuracy (mean, 95% CI over seeds)")


def spread_panel(axis, configs: pd.DataFrame, name: str, values: list, colors) -> None:
    """Per value: a box of the grid points' mean accuracies (their count under the value), and the point
    the sweep would choose among them (best on validation, as best.json chooses) with its test accuracy."""
    text = configs[name].astype(str)
    groups = [configs[text == value] for value in values]
    means = [group["test_accuracy_mean"].to_numpy(dtype=float) for group in groups]
    axis.boxplot([m if len(m) else [np.nan] for m in means], positions=range(len(values)), widths=0.5)
    chosen = []
    for group in groups:
        if group.empty:
            chosen.append(np.nan)
            continue
        by = "val_accuracy_mean" if group["val_accuracy_mean"].notna().any() else "test_accuracy_mean"
        chosen.append(float(group.loc[group[by].idxmax(), "test_accuracy_mean"]))
    axis.plot(range(len(values)), chosen, "o-", color=colors(0), label="best on validation: its test accuracy")
    axis.set_xticks(range(len(values)), [f"{value}\n(n={len(m)})" for value, m in zip(values, means)],
                    rotation=45 if len(values) > 6 else 0)
    axis.set_ylabel("test accuracy (mean over seeds)")
    axis.set_title("box: the grid points with each value (n under it)", fontsize=9)


def _sort_key(text: str):
    """Numbers by value, then layer widths written as `64-64` by their numbers (64-64 before 256-256), then
    the rest as text."""
    try:
        return (0, (float(text),), text)
    except ValueError:
        pass
    try:
        return (1, tuple(float(part) for part in text.split("-")), text)
    except ValueError:
        return (2, (), text)


def confusion_figure(prediction_files, out, title: str) -> None:
    """Confusion matrix of one grid point, pooled over its seeds (rows: true class)."""
    counts = np.zeros((10, 10), dtype=int)
    for path in prediction_files:
        with np.load(path) as npz:
            np.add.at(counts, (npz["label"], npz["predicted"]), 1)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(7, 6.2))
    image = axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for true in range(10):
        for predicted in range(10):
            if counts[true, predicted]:
                axis.text(predicted, true, counts[true, predicted], ha="center", va="center", fontsize=7,
                          color="white" if rates[true, predicted] > 0.5 else "black")
    axis.set_xticks(range(10))
    axis.set_yticks(range(10))
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    figure.colorbar(image, label="fraction of the true class")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    save(figure, out)


if __name__ == "__main__":
    sys.exit(main())


def winner_note(best: dict) -> str:
    """', confirmed: test accuracy 0.9822 [0.9804, 0.9840] on 5 new seeds' after a confirmation, else ''."""
    accuracy = confirmed_accuracy(best)
    return "" if accuracy is None else f"; confirmed: test accuracy\n{accuracy} on {len(best['seeds'])} new seed(s)"


def search_figure(table_file, log_axes, out, best_file=None) -> None:
    """search.png: left, every point's score (mean validation accuracy over seeds) at each rung it ran, a
    dot per rung and a line per point ending where it was stopped (points spread a little sideways, so equal
    scores stay apart), the winner marked with its confirmed test accuracy when there is one (best_file:
    best.json); right, one panel per searched hyperparameter: its value against the first rung's score
    (every point ran it), coloured by the rung the point reached."""
    table = pd.read_csv(table_file, sep="\t", dtype={"point": str})
    score_columns = [column for column in table.columns if column.startswith("val_accuracy_")]
    epochs = [int(column.split("_")[2]) for column in score_columns]
    searched = [column for column in table.columns[2:] if column not in score_columns
                and column not in ("epochs_reached", "confirmed", "run_epochs_trained")]
    reached = sorted(table["epochs_reached"].unique())
    colors = dict(zip(reached, plt.cm.viridis(np.linspace(0.15, 0.85, len(reached)))))
    figure, axes = plt.subplots(1, 1 + len(searched), figsize=(4.2 * (1 + len(searched)), 4.0), squeeze=False)
    axes = axes[0]
    best = json.loads(Path(best_file).read_text()) if best_file else {}
    winner = str(best.get("run_path") or "").rsplit("/epochs~", 1)[0]
    for index, (_, row) in enumerate(table.iterrows()):
        values = [(e, row[c]) for e, c in zip(epochs, score_columns) if pd.notna(row[c])]
        xs, ys = zip(*values)
        spread = 1 + 0.06 * ((index % 7) - 3) / 3  # up to 6% sideways (the axis is a log scale)
        xs = [x * spread for x in xs]
        axes[0].plot(xs, ys, "-o", color=colors[row["epochs_reached"]], alpha=0.6, linewidth=1, markersize=3.5)
        if row["point"] == winner:
            axes[0].plot(xs[-1], ys[-1], "*", color="crimson", markersize=14, zorder=5)
    if len(epochs) > 2:
        axes[0].set_xscale("log", base=2)
    axes[0].set_xticks(epochs, [str(e) for e in epochs])
    axes[0].set_xlabel("epochs (rung)")
    axes[0].set_ylabel("mean validation accuracy over seeds")
    # The winner's note in the title, not a legend over the points.
    axes[0].set_title(f"{len(table)} points, {int(table['run_epochs_trained'].sum())} run-epochs trained"
                      + ("\nred star: the winner (validation)" + winner_note(best) if winner else ""), fontsize=9)
    first = score_columns[0]
    for axis, name in zip(axes[1:], searched):
        numeric = pd.to_numeric(table[name], errors="coerce")
        if numeric.notna().all():
            x = numeric
        else:  # a choice: one position per value, in the order first drawn
            labels = list(dict.fromkeys(table[name]))
            x = table[name].map({label: index for index, label in enumerate(labels)})
            axis.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        for epochs_reached, group in table.groupby("epochs_reached"):
            axis.scatter(x[group.index], group[first], color=colors[epochs_reached], s=18,
                         label=f"stopped after {epochs_reached} epoch(s)" if epochs_reached < max(reached)
                         else f"reached the last rung ({epochs_reached} epochs)")
        if name in log_axes:
            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labels of 2x, 3x ... overlap
        axis.set_xlabel(name + (" (log scale)" if name in log_axes else ""))
        axis.set_ylabel(f"validation accuracy after {epochs[0]} epoch(s)")
    handles, labels = (axes[1] if searched else axes[0]).get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    save(figure, out)
