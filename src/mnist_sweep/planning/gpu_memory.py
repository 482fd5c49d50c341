"""How many runs of one shape a GPU holds: packs on GPU nodes sized from the GPU's memory.

A pack keeps on its GPU, per replica: the weights, the gradients and Adam's two moments (4 x the
parameters), a training batch's activations with their dropout scales and gradients (3 x the
activations of 128 images, for batch size 128), and a prediction batch's (packed.predict: 500 images,
broadcast to every replica); and once per process the training images (float32) and what CUDA, cuBLAS
and XLA reserve (RESERVED_GB). The site gives the GPU's memory (config/slurm.yaml gpu_memory_gb: the
planning runs on the login node, which has no GPU to ask); a MIG slice counts its own memory.
"""

from __future__ import annotations

import math

from mnist_sweep.config.architecture import IMAGE_PIXELS, activations_per_image, parameter_count

FLOAT_BYTES = 4
PREDICT_BATCH = 500  # packed.PackedMLP.predict's batch
RESERVED_GB = 1.5  # CUDA context, cuBLAS/cuDNN workspaces, XLA's compiled update
USABLE_FRACTION = 0.9  # TensorFlow's allocator does not hand out every byte
# Most runs per GPU whatever its memory: a bound, not a measurement (no GPU was lent to this
# project's tests; packs were measured up to 64 on CPU). A job's host memory grows 32 MB per run
# (packs.PackBook.memory_mb: 256 runs ask for 9.7 GB), and its saved states 8 MB per run.
MAX_RUNS_PER_GPU = 256


def replica_bytes(hyperparameters: dict) -> int:
    """GPU memory one replica of a pack takes, in bytes."""
    activations = activations_per_image(hyperparameters)
    values = 4 * parameter_count(hyperparameters) + 3 * hyperparameters["batch_size"] * activations + PREDICT_BATCH * activations
    return FLOAT_BYTES * values


def runs_per_gpu(hyperparameters: dict, training_images: int, gpu_memory_gb: float) -> int:
    """Replicas of this shape that fit on one GPU of gpu_memory_gb (at least 1, at most MAX_RUNS_PER_GPU)."""
    data = FLOAT_BYTES * IMAGE_PIXELS * training_images
    usable = USABLE_FRACTION * gpu_memory_gb * 1e9 - RESERVED_GB * 1e9 - data
    return max(1, min(MAX_RUNS_PER_GPU, math.floor(usable / replica_bytes(hyperparameters))))
