"""Regenerate the README's numbers from real runs: never edit them by hand.

    python docs/make_readme_numbers.py --data /path/to/mnist.npz      # about 3 minutes on 2 cores

Runs, each in a fresh folder with `snakemake -c2` (as the README shows): config/examples/search.yaml
(27 sampled points, halving over 1/3/9 epochs, 5 confirmation seeds; --only-search: only this), the
default sweep (the tutorial, 3 seeds) and config/examples/dropout_width.yaml (2 widths x 2 dropout
rates x 5 seeds).
Then rewrites the README's generated parts, each between `<!-- generated: NAME -->` and
`<!-- end: NAME -->` (search, headline, log_line, example), and copies the examples' figures to
docs/example/. Every sentence of the example is derived from the tables it quotes: a verdict is
never typed in, and one that sits at the edge of significance says so, because floating point
differs between CPUs and such a conclusion can flip with the last digits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# A verdict this close to the line (Holm p, or an interval bound, in points of accuracy) is called fragile.
EDGE_P = (0.01, 0.1)
EDGE_BOUND = 0.0005


def machine() -> str:
    """CPU model, vector extensions, cores, and the versions that make the numbers."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", text).group(1).strip()
        flags = set(re.search(r"flags\s*:\s*(.+)", text).group(1).split())
    except (OSError, AttributeError):
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    import keras
    import tensorflow as tf

    return (f"{model} ({vector}), {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow "
            f"{tf.__version__}, Keras {keras.__version__}")


def answer_block(stderr: str, sweep: str) -> list[str]:
    """The answer a run ends with (its onsuccess), as printed, indented as a code block."""
    start = stderr.rindex(f"mnist-sweep {sweep}: the answer")
    lines = []
    for line in stderr[start:].splitlines():
        if lines and not line.startswith("  "):
            break
        lines.append(f"    {line}")
    return lines


def run_sweep(data: Path, work: Path, *args) -> tuple[Path, float, str]:
    """snakemake -c2 in a fresh folder; (folder, seconds, stderr)."""
    folder = Path(tempfile.mkdtemp(dir=work))
    (folder / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", folder / "config" / "config.yaml")
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "-c2", *args,
               "--config", f"data_path={data}"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               TF_CPP_MIN_LOG_LEVEL="2")
    tick = time.perf_counter()
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - tick
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return folder, seconds, result.stderr


def fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def signed(value: float) -> str:
    return f"{value:+.4f}"


def headline(folder: Path, seconds: float) -> str:
    summary = folder / "results" / "mnist" / "sweeps" / "default" / "summary"
    (point,) = pd.read_csv(summary / "configs.tsv", sep="\t").itertuples()
    return (f"On full MNIST it reaches a mean test accuracy of {fmt(point.test_accuracy_mean)} (3 seeds: "
            f"{fmt(point.test_accuracy_min)}-{fmt(point.test_accuracy_max)}, 95% CI {fmt(point.test_accuracy_ci95_low)}-"
            f"{fmt(point.test_accuracy_ci95_high)}; {seconds:.0f} s for the whole sweep with `snakemake -c2` on 2 "
            "cores; numbers from the machine named under \"An example\", whose last digits differ on another CPU).")


def log_line(folder: Path) -> str:
    (log,) = folder.glob("results/mnist/runs/**/seed~0/train.log")
    line = next(line for line in log.read_text().splitlines() if line.startswith("epoch 2/4:"))
    return f"    {line}"


def fragile(row) -> bool:
    if pd.isna(row.p_value_holm):
        return False
    bounds = [row.boot_ci95_low, row.boot_ci95_high, row.ci95_low, row.ci95_high]
    near_zero = any(abs(bound) < EDGE_BOUND for bound in bounds if pd.notna(bound))
    return EDGE_P[0] <= row.p_value_holm <= EDGE_P[1] or near_zero


def example(folder: Path, seconds: float, where: str, stderr: str) -> str:
    summary = folder / "results" / "mnist" / "sweeps" / "dropout_width" / "summary"
    configs = pd.read_csv(summary / "configs.tsv", sep="\t", dtype={"hidden_units": str, "dropout": str})
    comparison = pd.read_csv(summary / "comparison.tsv", sep="\t", dtype={"hidden_units": str, "dropout": str})
    best = json.loads((summary / "best.json").read_text())
    versus = comparison[comparison["reference"] == "tutorial"].set_index("run_path")
    tied = {point["run_path"] for point in best["tied_on_validation"]}
    runs = len(list(folder.glob("results/mnist/runs/**/metrics.json")))
    jobs = len(list(folder.glob("results/mnist/packs/*/done.json")))
    rows, sentences, edges = [], [], []
    for point in configs.itertuples():
        name = f"{point.hidden_units}, dropout {point.dropout}"
        mark = " (best)" if point.run_path == best["run_path"] else ""
        cells = [point.hidden_units, point.dropout, fmt(point.val_accuracy_mean) + mark,
                 f"{fmt(point.test_accuracy_mean)} [{fmt(point.test_accuracy_ci95_low)}, "
                 f"{fmt(point.test_accuracy_ci95_high)}]"]
        row = versus.loc[point.run_path]
        if row.verdict == "is the tutorial":
            cells += ["(the tutorial)", "", "", ""]
        else:
            holm = "<0.001" if row.p_value_holm < 0.001 else f"{row.p_value_holm:.3f}"
            cells += [f"{signed(row.mean_difference)} [{signed(row.ci95_low)}, {signed(row.ci95_high)}]",
                      f"[{signed(row.boot_ci95_low)}, {signed(row.boot_ci95_high)}]", holm, row.verdict]
            points = abs(row.mean_difference) * 100
            if row.verdict in ("better", "worse"):
                text = (f"{name} is {row.verdict} than the tutorial by {points:.2f} points of test accuracy, "
                        f"beyond seed and test-set noise (Holm p {holm})")
            else:
                text = (f"{name} differs from the tutorial by {row.mean_difference * 100:+.2f} points, "
                        f"within the noise ({row.verdict}; Holm p {holm}): no claim either way")
            if fragile(row):
                edges.append(name)
                text += " - at the edge of significance: on another CPU this verdict may flip"
            sentences.append(text + ".")
        rows.append("| " + " | ".join(cells) + " |")
    chosen = (f"The best point on validation is {best['hyperparameters']['hidden_units']} with dropout "
              f"{best['hyperparameters']['dropout']} (mean validation accuracy {fmt(best['val_accuracy_mean'])}; "
              f"mean test accuracy {fmt(best['test_accuracy_mean'])})")
    chosen += (f"; `best.json` lists {len(tied)} other point(s) as tied with it on validation (paired by seed)."
               if tied else "; no other point is tied with it on validation.")
    edge_note = (f" The verdict(s) for {', '.join(edges)} sit at the edge of significance: read them as "
                 "\"unclear\"." if edges else " No verdict here sits at the edge of significance.")
    return "\n".join([
        "    snakemake -c2 --configfile config/examples/dropout_width.yaml --config data_path=../shared/data/mnist.npz",
        "",
        f"{runs} runs (2 widths x 2 dropout rates x 5 seeds) on full MNIST, in {jobs} training jobs, in "
        f"{seconds:.0f} s on 2 cores. Made on {where}, by `python docs/make_readme_numbers.py` (which writes this "
        "section and the numbers above); floating point differs between CPUs (AVX2, AVX-512), so another "
        "machine gives other last digits. `configs.tsv` (the best point is chosen on validation) and "
        "`comparison.tsv` (the rows with reference=tutorial, seeds paired) answer the question:",
        "",
        "| hidden | dropout | mean val accuracy | mean test accuracy [95% CI over seeds] | vs the tutorial "
        "(512-512, 0.2): difference, t 95% CI (seeds) | widened 95% CI (seeds and test set) | Holm p | verdict |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        chosen + " " + " ".join(sentences) + edge_note,
        "",
        "The run ends with its answer, stated once (the same lines open the report, `summary/answer.html`):",
        "",
        *answer_block(stderr, "dropout_width"),
    ])


def search(folder: Path, seconds: float, stderr: str) -> str:
    """The search example: its command, the start line it printed, and what it found."""
    sweep = folder / "results" / "mnist" / "sweeps" / "search"
    start = next(line for line in stderr.splitlines() if line.startswith("mnist-sweep search:"))
    best = json.loads((sweep / "summary" / "best.json").read_text())
    table = pd.read_csv(sweep / "summary" / "search.tsv", sep="\t")
    hp = best["hyperparameters"]
    low, high = best["test_accuracy_ci95"]
    return "\n".join([
        "    snakemake -c2 --configfile config/examples/search.yaml --config data_path=../shared/data/mnist.npz",
        "",
        "prints first (also with `-n`):",
        "",
        f"    {start}",
        "",
        f"and ends in {seconds:.0f} s on 2 cores (same machine as \"An example\" below). The search trained "
        f"{int(table['run_epochs_trained'].sum())} run-epochs ({len(table)} points); its winner on validation is "
        f"learning rate {hp['learning_rate']}, dropout {hp['dropout']} (mean validation accuracy "
        f"{fmt(best['search_seeds']['val_accuracy_mean'])} over seeds "
        f"{', '.join(map(str, best['search_seeds']['seeds']))}). On the "
        f"{len(best['seeds'])} new seeds {', '.join(map(str, best['seeds']))} its mean test accuracy is "
        f"{fmt(best['test_accuracy_mean'])} (95% CI {fmt(low)}-{fmt(high)}); the search's own seeds, which chose "
        f"it, say {fmt(best['search_seeds']['test_accuracy_mean'])}."
        + "".join(f" On the new seeds {entry['run_path']} came out ahead of it by "
                  f"{entry['mean_difference'] * 100:+.2f} points of test accuracy ({entry['verdict']}); the winner "
                  "stays the search's (config/README.md, Confirmation)." for entry in best["confirmation"]["ahead_on_new_seeds"])
        + " It ends with:",
        "",
        *answer_block(stderr, "search"),
        "",
        "`figures/search.png`:",
        "",
        "![search.png: validation accuracy against rungs for every point, and each searched hyperparameter against "
        "the first rung's validation accuracy](docs/example/search.png)",
    ])


def replace_part(text: str, name: str, content: str) -> str:
    pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(\n<!-- end: {name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no '<!-- generated: {name} -->' ... '<!-- end: {name} -->' part")
    return pattern.sub(lambda match: match.group(1) + content + match.group(2), text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="full MNIST .npz (Keras layout)")
    parser.add_argument("--only-search", action="store_true", help="regenerate the search part only")
    args = parser.parse_args(argv)
    for name in ("search", "headline", "log_line", "example"):  # before minutes of training, not after
        replace_part(README.read_text(), name, "")
    work = Path(tempfile.mkdtemp(prefix="readme-numbers-"))
    found, search_seconds, stderr = run_sweep(args.data.resolve(), work, "--configfile",
                                              str(ROOT / "config" / "examples" / "search.yaml"))
    README.write_text(replace_part(README.read_text(), "search", search(found, search_seconds, stderr)))
    shutil.copy(found / "results" / "mnist" / "sweeps" / "search" / "figures" / "search.png",
                ROOT / "docs" / "example" / "search.png")
    if args.only_search:
        shutil.rmtree(work)
        print(f"README.md's search part regenerated (search {search_seconds:.0f} s)")
        return 0
    default, default_seconds, _ = run_sweep(args.data.resolve(), work)
    sweep, sweep_seconds, sweep_stderr = run_sweep(args.data.resolve(), work, "--configfile",
                                                   str(ROOT / "config" / "examples" / "dropout_width.yaml"))
    text = README.read_text()
    text = replace_part(text, "headline", headline(default, default_seconds))
    text = replace_part(text, "log_line", log_line(default))
    text = replace_part(text, "example", example(sweep, sweep_seconds, machine(), sweep_stderr))
    README.write_text(text)
    figures = sweep / "results" / "mnist" / "sweeps" / "dropout_width" / "figures"
    for name in ("params.png", "predictions.png", "curves.png"):
        shutil.copy(figures / name, ROOT / "docs" / "example" / name)
    shutil.rmtree(work)
    print(f"README.md and docs/example/ regenerated (default sweep {default_seconds:.0f} s, example "
          f"{sweep_seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
