"""The answer of a sweep or search, stated once: the best point, its test accuracy with its interval and
the seeds it comes from (confirmed or not), its verdict against the tutorial's settings, and where the
tables are. Read from summary/best.json and summary/comparison.tsv as they stand: printed at the end of
every run that ends well (the workflow's onsuccess; a run with nothing to do prints nothing) and written
to summary/answer.html, the report's first result."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import pandas as pd

from mnist_sweep.io import write_text


def _percent_points(value: float) -> str:
    return f"{100 * value:+.2f} points"


def verdict_against_tutorial(summary: Path, best: dict) -> str:
    """The comparison.tsv row of the best point against the tutorial's settings, in words."""
    path = summary / "comparison.tsv"
    table = pd.read_csv(path, sep="\t") if path.exists() else pd.DataFrame(columns=["reference", "run_path"])
    rows = table[(table["reference"] == "tutorial") & (table["run_path"] == best["run_path"])]
    confirmed = "search_seeds" in best
    if rows.empty:
        return "the tutorial's settings were not trained on the same seeds as it: no comparison"
    row = rows.iloc[0]
    where = " (on the search seeds)" if confirmed else ""
    if str(row["verdict"]).startswith("is the"):
        return "it is the tutorial's settings"
    difference = row["mean_difference"]
    if isinstance(difference, float) and math.isnan(difference):
        return f"{row['verdict']}{where}"
    return f"{_percent_points(difference)} of test accuracy{where}: {row['verdict']}"


def answer_lines(sweep_dir, sweep: str | None = None) -> list[str]:
    """The answer block, or [] when the sweep has no best.json yet."""
    summary = Path(sweep_dir) / "summary"
    try:
        best = json.loads((summary / "best.json").read_text())
    except (OSError, ValueError):
        return []
    name = sweep or Path(sweep_dir).name
    lines = [f"mnist-sweep {name}: the answer"]
    if not best.get("run_path"):
        return lines + [f"  no best point: {best.get('reason', 'no point has enough completed seeds')}",
                        f"  tables: {summary}/"]
    lines.append(f"  best point (chosen on validation accuracy): {best['run_path']}")
    seeds = ", ".join(map(str, best.get("seeds", [])))
    mean = best.get("test_accuracy_mean")
    low, high = best.get("test_accuracy_ci95") or (None, None)
    interval = f" (95% CI {low:.4f}-{high:.4f})" if low is not None and high is not None else " (one seed: no interval)"
    if mean is None:
        lines.append(f"  test accuracy: none (every run on the seeds it was confirmed on diverged: {seeds or '-'})")
    elif "search_seeds" in best:
        searched = best["search_seeds"]
        lines.append(f"  test accuracy {mean:.4f}{interval} on {len(best['seeds'])} new seed(s) {seeds} (confirmation: "
                     f"not used to choose); the search seeds {', '.join(map(str, searched['seeds']))} said "
                     f"{searched['test_accuracy_mean']:.4f} (optimistic: they chose it)")
    else:
        lines.append(f"  test accuracy {mean:.4f}{interval} over {len(best.get('seeds', []))} seed(s) {seeds}")
    for entry in (best.get("confirmation") or {}).get("ahead_on_new_seeds", []):
        lines.append(f"  note: on the new seeds {entry['run_path']} came out ahead of it by "
                     f"{_percent_points(entry['mean_difference'])} ({entry['verdict']}); the winner stays the "
                     "search's (config/README.md, Confirmation)")
    lines.append(f"  against the tutorial's settings: {verdict_against_tutorial(summary, best)}")
    lines.append(f"  tables: {summary}/ (best.json, configs.tsv, comparison.tsv"
                 + (", confirmation/" if "search_seeds" in best else "") + f"); figures: {Path(sweep_dir)}/figures/")
    return lines


def _flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _flatten(item, f"{prefix}{key}.")]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return [pair for index, item in enumerate(value) for pair in _flatten(item, f"{prefix}{index}.")]
    return [(prefix.rstrip("."), json.dumps(value) if isinstance(value, (list, bool)) or value is None else str(value))]


def write_answer_html(sweep_dir, out) -> None:
    """summary/answer.html: the answer block, then every field of best.json as a table (the report's first page)."""
    lines = answer_lines(sweep_dir) or ["no best.json"]
    best_file = Path(sweep_dir) / "summary" / "best.json"
    fields = _flatten(json.loads(best_file.read_text())) if best_file.exists() else []
    rows = "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in fields)
    write_text(out, "<!DOCTYPE html><html><head><meta charset='utf-8'><title>The answer</title><style>"
               "body{font:14px sans-serif}table{border-collapse:collapse;font:13px sans-serif}"
               "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}</style></head>"
               f"<body><pre>{html.escape(chr(10).join(lines))}</pre><h3>best.json</h3><table>{rows}</table>"
               "</body></html>\n")
