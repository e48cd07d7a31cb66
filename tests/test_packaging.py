"""The wheel that a plain ``pip install`` builds (the Colab path) holds every subpackage.

An editable install (``-e .``, used by make, CI and Binder) imports from the source tree and hides a
subpackage missing from the wheel; this test builds the wheel, installs it with ``--no-deps`` into a
throwaway folder and imports every subpackage from there, in a fresh interpreter outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = [
    "hts_lib",
    "hts_lib.recursion",
    "hts_lib.simulate",
    "hts_lib.tails",
    "hts_lib.nn",
    "hts_lib.book",
    "hts_lib.book.checks",
    "hts_lib.validation",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy of the sources, so that setuptools' build/ and egg-info folders stay out of the tree.
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "hts_lib", src / "hts_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    # --no-build-isolation: the environment's setuptools builds it, so nothing is downloaded at test time.
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(out),
        str(src),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    (path,) = out.glob("hts_lib-*.whl")
    return path


def test_wheel_holds_every_package_folder(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    source_dirs = {p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "hts_lib").rglob("*.py")}
    missing = sorted(d for d in source_dirs if f"{d}/__init__.py" not in names)
    assert not missing, f"package folders missing from the wheel: {missing}"
    checks = [n for n in names if n.startswith("hts_lib/book/checks/ch")]
    assert len(checks) == len(list((ROOT / "hts_lib/book/checks").glob("ch*.py")))


def test_installed_wheel_imports_every_subpackage(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    code = (
        "import importlib, json, sys; mods = json.loads(sys.argv[1]); "
        "files = {m: importlib.import_module(m).__file__ for m in mods}; "
        "from hts_lib.book import check, exercises; n = len(exercises()); "
        "print(json.dumps({'files': files, 'n_exercises': n}))"
    )
    # Run outside the repository, with the installed wheel first on the path (ahead of the editable install).
    env = {**os.environ, "PYTHONPATH": str(target)}
    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(SUBPACKAGES)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for mod, file in out["files"].items():
        assert Path(file).is_relative_to(target), f"{mod} imported from {file}, not from the installed wheel"
    assert out["n_exercises"] >= 24  # the registry found the per-chapter check modules inside the wheel
