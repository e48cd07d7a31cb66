"""What every benchmark script shares: timing with the least disturbance, and the result file format.

Result files are ``benchmarks/results/<name>.json`` with keys name, date, machine, python, numpy (plus any
extra keys a script adds) and rows; ``benchmarks/run_all.py`` turns them into the performance appendix.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(fn, repeat: int = 3) -> float:
    """Smallest wall time of ``repeat`` calls (the least disturbed by other work on a shared machine)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def write_result(name: str, rows: list[dict], *, indent: int = 1, **extra) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine, the date and the versions; return its
    path.
    """
    payload = {
        "name": name,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.platform()}, {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "numpy": np.__version__,
        **extra,
        "rows": rows,
    }
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=indent) + "\n")
    return out
