"""ruff over the library, tests, benchmarks and chapters (configuration in pyproject.toml).

pyflakes, pycodestyle, import order and numpy-style docstrings, 110 columns; ruff reads the chapters'
notebooks itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    exe = Path(sys.executable).with_name("ruff")
    return [str(exe)] if exe.exists() else [shutil.which("ruff") or "ruff"]


def test_ruff_is_clean():
    paths = ["hts_lib", "tests", "benchmarks", "chapters", "results", "conftest.py"]
    r = subprocess.run([*_ruff(), "check", "--no-cache", *paths], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
