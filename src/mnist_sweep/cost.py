"""Estimated training cost of a run, used to start the longest runs first.

With fewer slots than runs (cores, GPUs, the SLURM `jobs` limit), a sweep whose grid points
differ in size ends sooner when the longest runs start first: otherwise one big run can be
left training alone at the end while the other slots idle. Snakemake starts jobs in
priority order, and the train rule's priority is this estimate.
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


def training_cost(model: str, hidden_units: list[int], epochs: int) -> int:
    """Thousands of multiply-adds per training image over all epochs: a ranking, not a time.

    Batch size and optimizer change the time per image too, but much less than model size
    and epochs do, so they are left out.
    """
    return epochs * multiply_adds_per_image(model, hidden_units) // 1000
