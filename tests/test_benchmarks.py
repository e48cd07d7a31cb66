"""The performance appendix is generated from the committed benchmark results and stays in sync with them."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_all():
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_results_have_the_documented_keys():
    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert files, "no benchmark results committed"
    for f in files:
        data = json.loads(f.read_text())
        for key in ("name", "date", "machine", "rows"):
            assert key in data, f"{f.name} lacks {key}"
        for row in data["rows"]:
            assert {"metric", "value"} <= set(row), f"{f.name}: row without metric/value"


def test_performance_page_is_in_sync_with_results():
    page = (ROOT / "appendix" / "performance.md").read_text()
    assert page == _run_all().render_page(), (
        "run `python benchmarks/run_all.py --page-only` and commit the page"
    )


def test_every_benchmark_script_has_results():
    mod_results = {p.stem for p in (ROOT / "benchmarks" / "results").glob("*.json")}
    for script in (ROOT / "benchmarks").glob("bench_*.py"):
        stem = script.stem
        assert stem in mod_results or stem.removeprefix("bench_") in mod_results, (
            f"{script.name} has no results"
        )
