"""The bench's 12-run sweep (bench/run.py SWEEP_CONFIG, default config, `snakemake -c2`) by this checkout and by
another (e.g. a clone at 08dfea6, before the plan checkpoint), alternated: what the one planning path costs a
sweep end to end (the plan is one more job).

    git clone -q . /tmp/old && git -C /tmp/old checkout -q 08dfea6
    python bench/sweep_paths.py /tmp/old --data /path/to/mnist.npz --repeats 3
"""
import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import run as bench  # noqa: E402


def sweep_seconds(root: Path, data: Path, work: Path, options=lambda directory: []) -> float:
    """The sweep by the checkout at root, in a folder of its own under work; options(folder): more snakemake options."""
    directory = Path(tempfile.mkdtemp(dir=work))
    (directory / "config").mkdir()
    shutil.copy(root / "config" / "config.yaml", directory / "config" / "config.yaml")
    (directory / "sweep.yaml").write_text(bench.SWEEP_CONFIG.format(data=data))
    seconds, _ = bench.timed([sys.executable, "-m", "snakemake", "--snakefile", root / "Snakefile", "-c2",
                              "--configfile", "sweep.yaml", "-q", *options(directory)], cwd=directory)
    shutil.rmtree(directory)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("other", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    times = {"other": [], "this": []}
    for _ in range(args.repeats):
        for name, root in (("other", args.other.resolve()), ("this", ROOT)):
            times[name].append(sweep_seconds(root, args.data.resolve(), work))
    shutil.rmtree(work)
    other, this = statistics.median(times["other"]), statistics.median(times["this"])
    ratios = [o / t for o, t in zip(times["other"], times["this"])]
    print(f"12-run sweep, snakemake -c2: other {other:.1f} s, this {this:.1f} s (medians of {args.repeats}; "
          f"other {', '.join(f'{x:.1f}' for x in times['other'])}, this {', '.join(f'{x:.1f}' for x in times['this'])}); "
          f"speed of this / other {other / this:.2f}x (per alternation {min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
