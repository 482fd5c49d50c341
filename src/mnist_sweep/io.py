"""Files that appear complete or not at all: write to a temporary name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target):
    """Yield a temporary path next to target; rename it to target only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix so libraries that look at it (Keras' .keras, numpy's .npz) accept the name.
    partial = target.with_name(f".{target.stem}.partial-{os.getpid()}{target.suffix}")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()


def write_text(target, text: str) -> None:
    with atomic_path(target) as partial:
        partial.write_text(text)


def write_json(target, data) -> None:
    write_text(target, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_table(target, frame) -> None:
    """A pandas DataFrame as a TSV."""
    with atomic_path(target) as partial:
        frame.to_csv(partial, sep="\t", index=False)
