"""Figures: what goes in them, and that they are real PNGs."""

import json

import numpy as np
from matplotlib import image

from conftest import small_arrays
from mnist_sweep import figures


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
    figures.draw_best_predictions(data, tmp_path / "best.json", [run / "predictions.npz"], tmp_path / "pred.png")
    for name in ("samples.png", "pred.png"):
        pixels = image.imread(tmp_path / name)
        assert pixels.ndim == 3 and pixels.shape[0] > 300
        assert pixels.std() > 0.05  # not a blank canvas
