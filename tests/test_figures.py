"""Figures: what goes in them, and that they are real PNGs."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import image

from conftest import small_arrays, tutorial_run_fields
from mnist_sweep.analysis import figures
from mnist_sweep.config.hyperparameters import HYPERPARAMETERS, format_value, run_path_fragment


def test_pick_examples_prefers_digits_most_seeds_got_wrong():
    labels = np.array([0, 1, 2, 3, 4])
    predicted = np.array([
        [0, 1, 9, 9, 4],  # seed 0
        [0, 1, 2, 9, 4],  # seed 1
        [0, 7, 2, 8, 4],  # seed 2
    ])
    correct, incorrect, wrong, majority = figures.pick_examples(predicted, labels)
    assert correct.tolist() == [0, 4]
    assert incorrect.tolist() == [3, 1, 2]  # 3 wrong in 3 seeds, then 1 and 2 (wrong in 1) in test order
    assert wrong.tolist() == [0, 1, 1, 3, 0]
    assert majority[3] == 9


def test_figures_are_written(tmp_path):
    data = small_arrays(n_test=50)
    figures.samples_figure(data, tmp_path / "samples.png")
    run = tmp_path / "runs" / "model~mlp" / "seed~0"
    run.mkdir(parents=True)
    predicted = data["y_test"].copy()
    predicted[:5] = (predicted[:5] + 1) % 10
    np.savez(run / "predictions.npz", predicted=predicted, label=data["y_test"],
             probabilities=np.full((50, 10), 0.1, dtype="float32"))
    best = {"run_path": "model~mlp", "seeds": [0], "test_accuracy_mean": 0.9}
    (tmp_path / "best.json").write_text(json.dumps(best))
    pd.DataFrame({"run_dir": [str(run)], "seed": [0], "status": ["completed"]}).to_csv(
        tmp_path / "runs.tsv", sep="\t", index=False)
    figures.draw_best_predictions(data, tmp_path / "runs.tsv", tmp_path / "best.json", tmp_path / "pred.png")
    for name in ("samples.png", "pred.png"):
        pixels = image.imread(tmp_path / name)
        assert pixels.ndim == 3 and pixels.shape[0] > 300
        assert pixels.std() > 0.05  # not a blank canvas


def make_sweep(root, data, diverged_point=False):
    """Hand-made run directories of a 2-point x 2-seed sweep, with histories and predictions."""
    base = tutorial_run_fields()
    files = []
    for dropout in (0.2, 0.5):
        for seed in (0, 1):
            point = {name: format_value(name, value) for name, value in dict(base, dropout=dropout).items()
                     if name in HYPERPARAMETERS}
            run = root / "runs" / run_path_fragment(point) / f"seed~{seed}"
            run.mkdir(parents=True)
            status = "diverged" if diverged_point and dropout == 0.5 else "completed"
            accuracy = None if status == "diverged" else 0.9 + 0.01 * seed - dropout / 10
            metrics = dict(base, dropout=dropout, seed=seed, status=status, test_accuracy=accuracy, test_loss=0.3)
            (run / "metrics.json").write_text(json.dumps(metrics))
            pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.5, 0.3, 0.2], "accuracy": [0.8, 0.9, 0.95],
                          "val_loss": [0.4, 0.3, 0.25], "val_accuracy": [0.85, 0.9, 0.92],
                          "seconds": [1, 1, 1]}).to_csv(run / "history.tsv", sep="\t", index=False)
            predicted = data["y_test"].copy()
            predicted[seed: seed + 4] = (predicted[seed: seed + 4] + 1) % 10
            np.savez(run / "predictions.npz", predicted=predicted, label=data["y_test"],
                     probabilities=np.full((len(predicted), 10), 0.1, dtype="float32"))
            files.append(run / "metrics.json")
    return files


@pytest.mark.parametrize("diverged_point", [False, True])
def test_sweep_figures_and_point_predictions(tmp_path, diverged_point):
    from mnist_sweep.analysis.summarize import summarize

    data = small_arrays(n_test=50)
    files = make_sweep(tmp_path, data, diverged_point)
    summarize(files, tmp_path / "summary")
    summary = tmp_path / "summary"
    figures.draw_sweep_figures(summary / "runs.tsv", summary / "configs.tsv", summary / "best.json",
                               tmp_path / "curves.png", tmp_path / "params.png", tmp_path / "confusion.png")
    point = run_path_fragment({name: format_value(name, value)
                               for name, value in dict(tutorial_run_fields(), dropout=0.2).items()
                               if name in HYPERPARAMETERS})
    figures.draw_point_predictions(data, summary / "runs.tsv", point, tmp_path / "point.png")
    for name in ("curves.png", "params.png", "confusion.png", "point.png"):
        pixels = image.imread(tmp_path / name)
        assert pixels.std() > 0.02, name
    # A point the sweep does not have: an error naming it and what to ask for, not an empty figure.
    with pytest.raises(figures.FigureError, match="dropout~0.9/.* is not in this sweep .*2 grid point"):
        figures.draw_point_predictions(data, summary / "runs.tsv", point.replace("dropout~0.2", "dropout~0.9"),
                                       tmp_path / "missing.png")
    assert not (tmp_path / "missing.png").exists()


def test_swept_parameters_name_only_what_varies():
    table = pd.DataFrame([{**{n: "x" for n in figures.HYPERPARAMETERS}, "dropout": d} for d in ("0.2", "0.5")])
    assert figures.swept_parameters(table) == ["dropout"]


def write_fake_run(root, metrics: dict, last_epoch: str) -> Path:
    """A run directory with metrics.json and a 2-epoch history.tsv (last_epoch: its loss/accuracy columns)."""
    from mnist_sweep.config.hyperparameters import HYPERPARAMETERS, format_value, run_path_fragment

    point = run_path_fragment({name: format_value(name, metrics[name]) for name in HYPERPARAMETERS})
    run = root / "runs" / point / f"seed~{metrics['seed']}"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "history.tsv").write_text("epoch\tloss\taccuracy\tval_loss\tval_accuracy\tseconds\n"
                                     f"1\t0.5\t0.8\t0.4\t0.85\t1\n2\t{last_epoch}\t1\n")
    return run / "metrics.json"


def draw_from_runs(tmp_path, monkeypatch, files) -> tuple:
    """Summarize the runs, draw curves.png and params.png in memory; return (curves, params, configs)."""
    from mnist_sweep.analysis.summarize import summarize

    summarize(files, tmp_path / "summary")
    drawn = {}
    monkeypatch.setattr(figures, "save", lambda figure, out, **options: drawn.update({out: figure}))
    runs = figures.read_summary_table(tmp_path / "summary" / "runs.tsv")
    configs = figures.read_summary_table(tmp_path / "summary" / "configs.tsv")
    figures.curves_figure(runs, configs, "curves")
    figures.parameters_figure(configs, "params")
    return drawn["curves"], drawn["params"], configs


def test_big_sweep_figures_stay_readable(tmp_path, monkeypatch):
    """22 grid points: learning curves of the 10 best only; a dropout panel over 11 learning rates shows boxes."""
    base = tutorial_run_fields()
    files = []
    for dropout in (0.2, 0.5):
        for step in range(11):
            for seed in (0, 1):
                accuracy = 0.95 + 0.001 * step + 0.01 * dropout + 0.0001 * seed
                metrics = dict(base, dropout=dropout, learning_rate=0.001 * (step + 1), seed=seed,
                               status="completed", test_accuracy=accuracy, test_loss=0.2)
                files.append(write_fake_run(tmp_path, metrics, f"0.3\t{accuracy}\t0.3\t0.9"))
    curves, params, configs = draw_from_runs(tmp_path, monkeypatch, files)
    assert "10 best of 22 grid points" in curves.get_suptitle()
    labels = curves.axes[0].get_legend_handles_labels()[1]
    best = configs.head(10)  # configs.tsv: best first
    assert labels == [f"dropout={d}, learning_rate={lr} (2 seeds)" for d, lr in zip(best["dropout"], best["learning_rate"])]
    assert labels[0] == "dropout=0.5, learning_rate=0.011 (2 seeds)"
    dropout_panel, rate_panel = params.axes
    assert dropout_panel.get_title().startswith("box: the grid points with each value")
    assert [tick.get_text() for tick in dropout_panel.get_xticklabels()] == ["0.2\n(n=11)", "0.5\n(n=11)"]
    assert rate_panel.get_title() == ""  # 2 series with error bars: readable as they are
    assert len(rate_panel.get_legend_handles_labels()[1]) == 2


def test_a_fully_diverged_point_is_drawn_as_diverged_not_on_a_wrong_axis(tmp_path, monkeypatch):
    """Two learning rates, one of which diverged on every seed: the learning-rate panel keeps both
    values, the diverged one marked and counted; its curves are drawn dashed and labelled."""
    base = tutorial_run_fields()
    files = []
    for learning_rate, status in ((0.001, "completed"), (1000.0, "diverged")):
        for seed in (0, 1):
            metrics = dict(base, dropout=0.2, learning_rate=learning_rate, seed=seed, status=status,
                           test_accuracy=0.95 + 0.01 * seed if status == "completed" else None, test_loss=0.2,
                           val_accuracy=0.95 if status == "completed" else None)
            last = "0.3\t0.9\t0.3\t0.9" if status == "completed" else "nan\tnan\tnan\tnan"
            files.append(write_fake_run(tmp_path, metrics, last))
    curves, params, _ = draw_from_runs(tmp_path, monkeypatch, files)
    (panel,) = params.axes
    assert panel.get_xlabel() == "learning_rate"  # not an unswept hyperparameter
    assert [tick.get_text() for tick in panel.get_xticklabels()] == ["0.001", "1000.0"]
    assert "1 grid point(s) with every seed diverged" in params.get_suptitle()
    assert "every seed diverged (1)" in panel.get_legend_handles_labels()[1]
    labels = curves.axes[0].get_legend_handles_labels()[1]
    assert labels == ["learning_rate=0.001 (2 seeds)", "learning_rate=1000.0 (diverged: all 2 seeds)"]
    assert "every seed diverged" in curves.get_suptitle()


def test_params_figure_marks_one_seed_and_partly_diverged_points_and_chooses_on_validation(tmp_path, monkeypatch):
    """3 learning rates x 2 dropouts: lr 0.002 has one seed (no interval: an open square), dropout 0.5 with
    lr 0.003 lost one of 3 seeds (open, labelled); the two panels use different colours."""
    base = tutorial_run_fields()
    files = []
    for dropout in (0.2, 0.5):
        for learning_rate in (0.001, 0.002, 0.003):
            seeds = (0,) if learning_rate == 0.002 else (0, 1, 2)
            for seed in seeds:
                lost = dropout == 0.5 and learning_rate == 0.003 and seed == 2
                accuracy = None if lost else 0.95 + 0.01 * seed + dropout / 100
                metrics = dict(base, dropout=dropout, learning_rate=learning_rate, seed=seed,
                               status="diverged" if lost else "completed", test_accuracy=accuracy, test_loss=0.2,
                               val_accuracy=accuracy)
                files.append(write_fake_run(tmp_path, metrics, "0.3\t0.9\t0.3\t0.9"))
    _, params, _ = draw_from_runs(tmp_path, monkeypatch, files)
    dropout_panel, rate_panel = params.axes
    for panel in params.axes:
        labels = panel.get_legend_handles_labels()[1]
        assert "1 completed seed: no interval" in labels and "some seeds diverged (mean of the rest)" in labels
    assert "1/3 diverged" in [text.get_text() for text in dropout_panel.texts]
    # The legend is below the panel, not over its points.
    assert dropout_panel.get_legend().get_bbox_to_anchor().y0 < dropout_panel.get_window_extent().y0
    from matplotlib.colors import to_hex

    colors = [{to_hex(line.get_color()) for line in panel.get_lines() if line.get_color() != "grey"}
              for panel in params.axes]
    assert len(colors[0]) == 3 and len(colors[1]) == 2 and not colors[0] & colors[1]


def test_spread_panel_picks_each_values_point_on_validation(tmp_path, monkeypatch):
    """With boxes, the line is the point best on validation for each value, drawn at its test accuracy (here
    lower than another point's test accuracy, which must not be picked)."""
    base = tutorial_run_fields()
    files = []
    for step in range(11):
        for seed in (0, 1):
            test = 0.95 + (0.02 if step == 3 else 0.0)  # best on test
            validation = 0.96 + (0.02 if step == 5 else 0.0)  # best on validation
            metrics = dict(base, dropout=0.2, learning_rate=0.001 * (step + 1),
                           seed=seed, status="completed", test_accuracy=test + 0.0001 * seed, test_loss=0.2,
                           val_accuracy=validation)
            files.append(write_fake_run(tmp_path, metrics, "0.3\t0.9\t0.3\t0.9"))
            metrics = dict(metrics, dropout=0.5)
            files.append(write_fake_run(tmp_path, metrics, "0.3\t0.9\t0.3\t0.9"))
    _, params, _ = draw_from_runs(tmp_path, monkeypatch, files)
    dropout_panel = params.axes[0]
    (chosen,) = [line for line in dropout_panel.get_lines() if line.get_label() == "best on validation: its test accuracy"]
    assert list(chosen.get_ydata()) == pytest.approx([0.95005, 0.95005])


def test_one_epoch_curves_sit_on_epoch_1(tmp_path, monkeypatch):
    base = tutorial_run_fields()
    files = []
    for seed in (0, 1):
        metrics = dict(base, epochs=1, seed=seed, status="completed", test_accuracy=0.9, test_loss=0.3,
                       val_accuracy=0.9, epochs_run=1)
        path = write_fake_run(tmp_path, metrics, "0.3\t0.9\t0.3\t0.9")
        (path.parent / "history.tsv").write_text("epoch\tloss\taccuracy\tval_loss\tval_accuracy\tseconds\n"
                                                 "1\t0.5\t0.8\t0.4\t0.85\t1\n")
        files.append(path)
    curves, _, _ = draw_from_runs(tmp_path, monkeypatch, files)
    for axis in curves.axes:
        assert axis.get_xlim() == (0.5, 1.5)
        assert [tick for tick in axis.get_xticks() if 0.5 <= tick <= 1.5] == [1.0]
    width, height = curves.get_size_inches()
    assert width <= 12  # the legend sits below, it does not widen the figure


def test_runs_whose_loss_exploded_never_enter_a_mean_curve(tmp_path, monkeypatch):
    """Completed runs with a finite but exploded loss (the packed MLP's loss comes from logits: 4.4e16 and 7.6e33
    were seen) are left out of their point's mean and counted; a point with nothing else is drawn as diverged.
    The loss panels keep the scale of the runs that trained."""
    base = tutorial_run_fields()
    files = []
    for learning_rate, seed, last in ((0.001, 0, "0.3\t0.9\t0.3\t0.9"), (0.001, 1, "0.31\t0.9\t0.3\t0.9"),
                                      (0.5, 0, "4.4e16\t0.1\t3e16\t0.1"), (0.5, 1, "7.6e33\t0.1\t2e33\t0.1"),
                                      (0.5, 2, "0.4\t0.88\t0.35\t0.88"), (10.0, 0, "1e20\t0.1\t1e20\t0.1"),
                                      (10.0, 1, "3e19\t0.1\t1e19\t0.1")):
        metrics = dict(base, learning_rate=learning_rate, seed=seed, status="completed", test_accuracy=0.9,
                       test_loss=0.3, val_accuracy=0.9)
        files.append(write_fake_run(tmp_path, metrics, last))
    curves, _, _ = draw_from_runs(tmp_path, monkeypatch, files)
    labels = curves.axes[0].get_legend_handles_labels()[1]
    assert "learning_rate=0.5 (1 seed, 2 diverged (loss above 1000) left out)" in labels, labels
    assert "learning_rate=10.0 (loss above 1000: all 2 seeds)" in labels, labels
    assert "learning_rate=0.001 (2 seeds)" in labels, labels
    train_loss = curves.axes[0]
    assert train_loss.get_title() == "train loss"
    drawn = [line for line in train_loss.get_lines() if not line.get_label().startswith("learning_rate=10.0")]
    assert max(max(line.get_ydata()) for line in drawn) < 1  # the mean of the runs that trained
    assert train_loss.get_ylim()[1] < 1  # the exploded point's dashed curve runs off the top, not the scale


def test_search_figure_draws_every_rung_a_point_ran_and_marks_the_confirmed_winner(tmp_path, monkeypatch):
    """8 points, 4 go on, 2 reach the last rung: a dot at every rung each point ran (8 + 4 + 2 = 14), points
    with equal scores apart, and the winner starred with its confirmed test accuracy in the panel's title."""
    rows = []
    for sample in range(8):
        point = f"dropout~0.{sample}"
        rows.append({"sample": sample, "point": point, "dropout": f"0.{sample}",
                     "val_accuracy_1_epochs": 0.9, "val_accuracy_3_epochs": 0.95 if sample < 4 else None,
                     "val_accuracy_9_epochs": 0.97 + 0.001 * sample if sample < 2 else None,
                     "epochs_reached": 9 if sample < 2 else 3 if sample < 4 else 1, "confirmed": sample == 1,
                     "run_epochs_trained": 3})
    pd.DataFrame(rows).to_csv(tmp_path / "search.tsv", sep="\t", index=False)
    best = {"run_path": "dropout~0.1/epochs~9", "seeds": [3, 4, 5], "test_accuracy_mean": 0.9822,
            "test_accuracy_ci95": [0.9804, 0.984], "search_seeds": {"seeds": [0, 1, 2]}}
    (tmp_path / "best.json").write_text(json.dumps(best))
    drawn = {}
    monkeypatch.setattr(figures, "save", lambda figure, out, **options: drawn.update({out: figure}))
    figures.search_figure(tmp_path / "search.tsv", [], "search", tmp_path / "best.json")
    rungs = drawn["search"].axes[0]
    lines = [line for line in rungs.get_lines() if line.get_marker() == "o"]
    assert sum(len(line.get_xdata()) for line in lines) == 14
    assert len({round(line.get_xdata()[0], 6) for line in lines}) > 1  # equal scores at rung 1, drawn apart
    (star,) = [line for line in rungs.get_lines() if line.get_marker() == "*"]
    assert star.get_ydata()[0] == pytest.approx(0.971)
    assert "confirmed: test accuracy\n0.9822 [0.9804, 0.9840] on 3 new seed(s)" in rungs.get_title()


def test_a_searchs_sampled_values_sit_where_they_lie_on_a_log_axis(tmp_path, monkeypatch):
    """A search's points differ in every sampled value: each panel is one series on a numeric axis (log for a
    log range), not evenly spaced categories with a legend entry per combination of the others."""
    base = tutorial_run_fields()
    files = []
    for learning_rate, dropout in ((0.0003, 0.017), (0.001956, 0.09), (0.0081, 0.33)):
        for seed in (0, 1):
            metrics = dict(base, learning_rate=learning_rate, dropout=dropout, seed=seed, status="completed",
                           test_accuracy=0.95 + 0.001 * seed, test_loss=0.2, val_accuracy=0.95)
            files.append(write_fake_run(tmp_path, metrics, "0.3\t0.9\t0.3\t0.9"))
    from mnist_sweep.analysis.summarize import summarize

    summarize(files, tmp_path / "summary")
    drawn = {}
    monkeypatch.setattr(figures, "save", lambda figure, out, **options: drawn.update({out: figure}))
    configs = figures.read_summary_table(tmp_path / "summary" / "configs.tsv")
    space = {"learning_rate": {"low": 0.0001, "high": 0.01, "log": True}, "dropout": {"low": 0.0, "high": 0.5}}
    figures.parameters_figure(configs, "params", search_space=space)
    dropout_panel, rate_panel = drawn["params"].axes
    assert rate_panel.get_xscale() == "log" and rate_panel.get_xlabel() == "learning_rate (log scale)"
    assert dropout_panel.get_xscale() == "linear"
    xs = sorted({round(float(x), 9) for line in rate_panel.get_lines() for x in line.get_xdata()})  # and caps
    assert xs == pytest.approx([0.0003, 0.001956, 0.0081])
    assert not rate_panel.get_legend_handles_labels()[1]  # one series: no legend to cover the points


def test_three_hyperparameters_one_seed_legends_stay_apart_and_widths_sort_by_number(tmp_path, monkeypatch):
    """A 2x2x2 grid on one seed (the issue's case): each params.png panel's legend is below it and does not run
    into its neighbour's (two columns were wider than a panel), and layer widths sort as numbers (64-64 first)."""
    base = tutorial_run_fields()
    files = []
    for dropout in (0.1, 0.5):
        for learning_rate in (0.001, 0.01):
            for width in (64, 256):
                metrics = dict(base, dropout=dropout, learning_rate=learning_rate, hidden_units=[width, width], seed=0,
                               status="completed", test_accuracy=0.9 + width / 1e4 - dropout / 10, test_loss=0.3)
                files.append(write_fake_run(tmp_path, metrics, "0.3\t0.9\t0.3\t0.9"))
    _, params, _ = draw_from_runs(tmp_path, monkeypatch, files)
    params.canvas.draw()
    panels = params.axes[:3]
    assert [panel.get_xlabel() for panel in panels] == ["hidden_units", "dropout", "learning_rate"]
    assert [tick.get_text() for tick in panels[0].get_xticklabels()] == ["64-64", "256-256"]
    boxes = [panel.get_legend().get_window_extent() for panel in panels]
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0, "two legends overlap"
    for panel, box in zip(panels, boxes):
        assert box.y1 < panel.get_window_extent().y0  # below its panel, over no point
