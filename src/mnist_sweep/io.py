"""Files that appear complete or not at all: write to a temporary name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
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


class EpochState:
    """A run's state after its last completed epoch, kept in <run dir>/resume/.

    The state file (epoch-<n><suffix>) is written first, then state.json naming it under
    file_key, so the pointer never names a half-written file; older state files are then
    removed. Subclasses say how a state file is written and read.
    """

    suffix = ""
    file_key = ""

    def __init__(self, run_dir):
        self.folder = Path(run_dir) / "resume"
        self.pointer = self.folder / "state.json"

    def read_pointer(self) -> dict | None:
        return json.loads(self.pointer.read_text()) if self.pointer.exists() else None

    def state_file(self, pointer: dict) -> Path:
        return self.folder / pointer[self.file_key]

    def commit(self, epochs_done: int, write_state_file, fields: dict) -> None:
        """write_state_file(path) writes the state; fields go into state.json beside its name."""
        name = f"epoch-{epochs_done}{self.suffix}"
        with atomic_path(self.folder / name) as partial:
            write_state_file(partial)
        write_json(self.pointer, {"epochs_done": epochs_done, self.file_key: name, **fields})
        for old in self.folder.glob(f"epoch-*{self.suffix}"):
            if old.name != name:
                old.unlink()

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def collect_run(pack_dir, seed, run_dir, log=None) -> None:
    """Move one seed's files from its pack's staging folder into its run directory.

    The pack's log and benchmark are copied (they describe every seed of the pack);
    metrics.json moves last, so a run directory with metrics.json is complete.
    """
    staged = Path(pack_dir) / f"seed~{seed}"
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("train.log", "benchmark.tsv"):
        with atomic_path(run_dir / name) as partial:
            shutil.copyfile(Path(pack_dir) / name, partial)
    for name in ("history.tsv", "predictions.npz", "model.keras", "metrics.json"):
        os.replace(staged / name, run_dir / name)
    if log:
        write_text(log, f"moved seed {seed} from {staged} to {run_dir}\n")
