"""The bench's 12-run sweep (bench/run.py SWEEP_CONFIG, `snakemake -c2`) on a shared file system and without one
(--shared-fs-usage none, the fs storage plugin staging every job's inputs and outputs through a local prefix),
alternated: what staging costs a sweep end to end (copies of the data into each job, of each pack's folder and its
models back, and of the packs' folders into the summary and figures).

    python bench/storage.py --data /path/to/mnist.npz --repeats 3
"""
import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from sweep_paths import sweep_seconds  # noqa: E402


def in_storage(directory: Path) -> list[str]:
    """The fs storage plugin, its storage and its local copies in the sweep's folder."""
    return ["--shared-fs-usage", "none", "--default-storage-provider", "fs", "--default-storage-prefix",
            str(directory / "storage"), "--local-storage-prefix", str(directory / "local")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    times = {"shared": [], "storage": []}
    for _ in range(args.repeats):
        for name in times:
            times[name].append(sweep_seconds(ROOT, args.data.resolve(), work, in_storage if name == "storage"
                                             else lambda directory: []))
    shutil.rmtree(work)
    shared, storage = statistics.median(times["shared"]), statistics.median(times["storage"])
    ratios = [s / t for s, t in zip(times["storage"], times["shared"])]
    print(f"12-run sweep, snakemake -c2: shared file system {shared:.1f} s, fs storage plugin {storage:.1f} s "
          f"(medians of {args.repeats}; shared {', '.join(f'{x:.1f}' for x in times['shared'])}, storage "
          f"{', '.join(f'{x:.1f}' for x in times['storage'])}); storage / shared {storage / shared:.2f}x "
          f"(per alternation {min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
