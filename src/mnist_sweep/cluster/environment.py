"""The process environment that workflow jobs inherit."""

from __future__ import annotations

import os


def prepend_pythonpath(directory: str) -> None:
    """Let every job (shell, script, conda env, SLURM job) import the package from the checkout."""
    existing = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    if directory not in existing:
        os.environ["PYTHONPATH"] = os.pathsep.join([directory] + existing)
