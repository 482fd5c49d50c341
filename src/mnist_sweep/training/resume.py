"""A run's state after a completed epoch, so a stopped or killed job continues from there.

<run dir>/resume/epoch-<n>.npz holds the replica's weights, optimizer variables and (the
convnet) dropout generators; state.json, written after it, names that file and holds the
history so far, the step counter and the training time. The pointer never names a
half-written file, older state files are removed, and the folder goes when the run completes.
One mechanism for every model: the trainer saves each replica of a pack on its own, so a run
resumes in whatever pack it is trained next.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np

from mnist_sweep.io import atomic_path, write_json


class RunResume:
    """folder "resume": the state while the run trains. folder "state": the state after its last epoch,
    kept for a search's next rung, which continues from it (mnist_sweep.planning.rungs)."""

    def __init__(self, run_dir, folder: str = "resume"):
        self.folder = Path(run_dir) / folder
        self.pointer = self.folder / "state.json"

    def load(self) -> dict | None:
        """The saved state ({epochs_done, history, step, training_seconds, arrays}), or None."""
        if not self.pointer.exists():
            return None
        try:
            state = json.loads(self.pointer.read_text())
            with np.load(self.folder / state["arrays_file"]) as arrays:
                state["arrays"] = {key: arrays[key] for key in arrays.files}
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as error:
            # Damaged, or of an older layout: the run starts over (it says so in its log).
            print(f"{self.folder}: the saved state cannot be read ({type(error).__name__}); training from the start",
                  flush=True)
            return None
        return state

    def save(self, arrays: dict, epochs_done: int, history: list, step: int, training_seconds: float) -> None:
        name = f"epoch-{epochs_done}.npz"
        with atomic_path(self.folder / name) as partial:
            with open(partial, "wb") as f:
                np.savez(f, **arrays)
        write_json(self.pointer, {"epochs_done": epochs_done, "arrays_file": name, "history": history,
                                  "step": step, "training_seconds": training_seconds})
        for old in self.folder.glob("epoch-*.npz"):
            if old.name != name:
                old.unlink()

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
