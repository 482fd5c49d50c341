"""The arithmetic of one image through a model: what packs.py's time estimate of a run scales
(and, with the parameters and activations, gpu_memory.py's estimate of a replica's memory).

With fewer slots than runs (cores, GPUs, the SLURM `jobs` limit), a sweep whose grid points
differ in size ends sooner when the longest packs start first (the train rule's priority), and
packs are cut to a target length; both come from this count (mnist_sweep.packs).
"""

from __future__ import annotations

IMAGE_PIXELS = 28 * 28
NUM_CLASSES = 10
# Multiply-adds per image of the Keras convnet example (see model.build_cnn): two 3x3
# convolutions (26x26x32 from 1 channel, 11x11x64 from 32) and the 1600 -> 10 dense layer.
CNN_MACS = 26 * 26 * 32 * 9 + 11 * 11 * 64 * 32 * 9 + 1600 * NUM_CLASSES


def multiply_adds_per_image(model: str, hidden_units: list[int]) -> int:
    """Forward multiply-adds of one image (training costs about three times this)."""
    if model == "cnn":
        return CNN_MACS
    widths = [IMAGE_PIXELS, *hidden_units, NUM_CLASSES]
    return sum(a * b for a, b in zip(widths, widths[1:]))


def training_flops_per_image(hyperparameters: dict) -> int:
    """6 FLOPs per multiply-add of the forward pass (forward and backward)."""
    return 6 * multiply_adds_per_image(hyperparameters["model"], hyperparameters["hidden_units"])


# Parameters and activations per image of the Keras convnet example: its 34,826 weights (the count
# Keras reports), and the outputs of its conv, pool, flatten and dense layers (26x26x32, 13x13x32,
# 11x11x64, 5x5x64, 1600, 10).
CNN_PARAMETERS = 34_826
CNN_ACTIVATIONS = 26 * 26 * 32 + 13 * 13 * 32 + 11 * 11 * 64 + 5 * 5 * 64 + 1600 + NUM_CLASSES


def parameter_count(model: str, hidden_units: list[int]) -> int:
    """Weights and biases of one model (what the optimizer keeps two more copies of, for Adam)."""
    if model == "cnn":
        return CNN_PARAMETERS
    widths = [IMAGE_PIXELS, *hidden_units, NUM_CLASSES]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def activations_per_image(model: str, hidden_units: list[int]) -> int:
    """Values one image leaves in the model's layers (inputs included), which training keeps for the backward pass."""
    if model == "cnn":
        return IMAGE_PIXELS + CNN_ACTIVATIONS
    return IMAGE_PIXELS + sum(hidden_units) + NUM_CLASSES
