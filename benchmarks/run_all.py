"""Run every benchmark in this folder and regenerate the performance appendix of the book.

    python benchmarks/run_all.py              # run all bench_*.py, then write appendix/performance.md
    python benchmarks/run_all.py --page-only  # only regenerate the page from benchmarks/results/*.json

Each ``bench_<name>.py`` measures its targets against a baseline run in the same process (absolute times drift
on shared machines; ratios are what we compare) and writes ``benchmarks/results/<name>.json`` with keys name,
date, machine, python, numpy and rows of {metric, value, unit, baseline, ratio, target, ok}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PAGE = ROOT / "appendix" / "performance.md"

HEADER = """# Performance

How fast the library is, measured by the benchmark scripts in `benchmarks/`. \
Each row compares a measured value
with a baseline **run in the same process on the same machine** \
(the ratio is what carries over between machines;
absolute times drift), and states the target from the project's issue tracker. \
Regenerate every number on this page
with one command:

```bash
make benchmarks        # = python benchmarks/run_all.py
```

This page is generated from `benchmarks/results/*.json`; do not edit it by hand.

GPU figures come from `benchmarks/gpu_vgg_check.py`, run by hand on a machine with a GPU (CI has none):
`python benchmarks/gpu_vgg_check.py --steps 10000 --write-result`, then `python benchmarks/run_all.py
--page-only`. Its section, `gpu_vgg_check`, names the device and says in words where the run's time went;
until it has been run on a GPU there is no such section.
"""


def _fmt(v) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else ("yes" if v else "**no**")
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def render_page(results_dir: Path = RESULTS) -> str:
    """The Markdown of the performance appendix, from the result files (deterministic: sorted by name)."""
    parts = [HEADER]
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        rows = data.get("rows", [])
        if not rows:
            continue
        parts.append(f"\n## `{data.get('name', path.stem)}`\n")
        script = (
            data.get("script")
            or f"benchmarks/{path.stem if path.stem.startswith('bench_') else 'bench_' + path.stem}.py"
        )
        device = f"{data['machine_device']}, " if data.get("machine_device") else ""
        load = (
            f" Load average (1, 5, 15 min) before: {data['load_average_before']}, after: "
            f"{data.get('load_average_after')}."
            if data.get("load_average_before")
            else ""
        )
        parts.append(
            f"Measured {data.get('date', '?')} on {device}{data.get('machine', '?')} "
            f"(Python {data.get('python', '?')}, numpy {data.get('numpy', '?')}). "
            f"Script: `{script}`.{load}\n"
        )
        parts.append(
            "\n| metric | value | unit | baseline | ratio | target | met |\n|---|---|---|---|---|---|---|"
        )
        for r in rows:
            cells = [
                str(r.get("metric", "")).replace("|", "\\|"),
                _fmt(r.get("value")),
                str(r.get("unit", "")),
                _fmt(r.get("baseline")),
                _fmt(r.get("ratio")),
                str(r.get("target", "")).replace("|", "\\|"),
                _fmt(r.get("ok")),
            ]
            parts.append("| " + " | ".join(cells) + " |")
        if data.get("diagnosis"):
            parts.append("\nWhere the time went:\n")
            parts.extend(f"- {line}" for line in data["diagnosis"])
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def run_all() -> int:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], cwd=ROOT, env=env)
        print(f"== {script.name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page-only", action="store_true", help="only regenerate the appendix page")
    args = parser.parse_args(argv)
    rc = 0 if args.page_only else run_all()
    PAGE.write_text(render_page())
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
