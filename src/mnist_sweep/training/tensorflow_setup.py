"""TensorFlow's process settings: threads, GPU memory growth, determinism, and the GPU guard."""

from __future__ import annotations

import contextlib
import os
import platform


class NoGpuError(RuntimeError):
    """The job was given a GPU but TensorFlow cannot use it."""


def gpu_was_given() -> str | None:
    """What says this process should have a GPU (SLURM's allocation, CUDA_VISIBLE_DEVICES), or None."""
    for name in ("SLURM_GPUS_ON_NODE", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS"):
        value = os.environ.get(name, "")
        if value and value != "0":
            return f"{name}={value}"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if visible and visible not in ("-1", "NoDevFiles"):
        return f"CUDA_VISIBLE_DEVICES={visible}"
    return None


@contextlib.contextmanager
def stderr_silenced(enabled: bool = True):
    """Hide what C++ code writes to stderr: TensorFlow's start-up lines about missing CUDA drivers,
    which its log-level settings do not reach and which alarm for nothing on a CPU-only machine."""
    if not enabled:
        yield
        return
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_DEVICE = None


def configure_tensorflow(threads: int, allow_cpu: bool = False) -> str:
    """Set threads (several jobs may share a node), GPU memory growth (several may share a GPU),
    op determinism; return the device used, e.g. "GPU:0 (NVIDIA H200)" or "CPU (x86_64)".

    When the job was given a GPU and TensorFlow sees none (a CPU-only TensorFlow, a driver
    mismatch), raise NoGpuError unless allow_cpu: otherwise a sweep can burn thousands of GPU
    allocations training on two CPU threads. TensorFlow accepts these settings once per
    process: later calls return the first answer.
    """
    global _DEVICE
    if _DEVICE is not None:
        return _DEVICE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    given = gpu_was_given()
    with stderr_silenced(enabled=not given):  # on a GPU node, keep CUDA's errors: they explain a failure
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already started in this process (tests, notebooks): keep its threads
            pass
        gpus = tf.config.list_physical_devices("GPU")
    if given and not gpus and not allow_cpu:
        raise NoGpuError(
            f"this job was given a GPU ({given}) but TensorFlow {tf.__version__} sees none. Check: the NVIDIA "
            "driver (nvidia-smi on the node), that TensorFlow has CUDA (pip install -e \".[gpu]\" installs "
            "tensorflow[and-cuda]), and CUDA_VISIBLE_DEVICES. To train on CPU on purpose, set the config "
            "key allow_cpu: true"
        )
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    tf.config.experimental.enable_op_determinism()
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        _DEVICE = f"GPU:0 ({details.get('device_name', 'unknown')})"
    else:
        _DEVICE = f"CPU ({platform.processor() or platform.machine()})"
    return _DEVICE
