"""`snakemake -n -q` of one 10,000-run sweep by this checkout and by another (e.g. a clone at 08dfea6, where a
grid was planned while the Snakefile was read), alternated 3 times: nothing planned yet, then every run finished
(fake run files, bench/run.py finish_every_run).

    git clone -q . /tmp/old && git -C /tmp/old checkout -q 08dfea6
    python bench/planning_paths.py /tmp/old
"""
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))
import run as bench  # noqa: E402

OTHER = Path(sys.argv[1]).resolve()
work = Path(tempfile.mkdtemp())
(work / "config").mkdir()
shutil.copy(ROOT / "config" / "config.yaml", work / "config" / "config.yaml")
v = lambda n, s: ", ".join(str(round(s * (i + 1), 6)) for i in range(n))
(work / "sweep.yaml").write_text("dataset: mnist_5k\nmodels: none\nseeds: [" + ", ".join(map(str, range(10))) + "]\ngrid:\n"
    f"  dropout: [{v(10, 0.05)}]\n  learning_rate: [{v(10, 0.0005)}]\n  batch_size: [{', '.join(str(16 * (i + 1)) for i in range(10))}]\n")
def cmd(root, *extra):
    return [sys.executable, "-m", "snakemake", "--snakefile", f"{root}/Snakefile", "--configfile", "sweep.yaml", *extra]
def t(c):
    tick = time.perf_counter(); r = subprocess.run(c, cwd=work, capture_output=True, text=True); s = time.perf_counter() - tick
    assert r.returncode == 0, r.stderr[-2000:]; return s, r.stderr
for state in ("nothing planned", "all finished"):
    if state == "all finished":
        t(cmd(ROOT, "-c1", "--until", "plan"))
        bench.finish_every_run(work)
    times = {"old": [], "new": []}
    for _ in range(3):
        for name, root in (("old", OTHER), ("new", ROOT)):
            s, err = t(cmd(root, "-n", "-q")); times[name].append(s)
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"{state:16} other {old:5.2f} s, this {new:5.2f} s (medians of 3; each: other "
          f"{', '.join(f'{x:.2f}' for x in times['old'])}, this {', '.join(f'{x:.2f}' for x in times['new'])}); this / other {new / old:.2f}x")
shutil.rmtree(work)
