"""Tests for hts_lib.nn.results and for the shipped result folders (schema, provenance, source hash)."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hts_lib.nn.experiments import grid_configs, load_results, run_id
from hts_lib.nn.results import (
    COLLAPSE_ACC,
    TRAINED_ACC,
    cell_summary,
    hierarchical_bootstrap,
    interval_reading,
    results_dir,
    run_status,
    run_statuses,
    source_hash,
    spearman_interval,
)

ROOT = Path(__file__).resolve().parents[1]
#: Shipped multi-seed folders and the grid that makes each (see results/README.md and `make results`).
SHIPPED = {
    "fc_mnist_seeds": "paper-fc-seeds",
    "fc_mnist_gd": "paper-fc-gd",
    "lenet_mnist_seeds": "lenet-seeds",
}


def _rec(acc, diverged=False):
    return {"diverged": diverged, "metrics_average": None if diverged else {"train_acc": acc}}


# ---------------------------------------------------------------- run status
def test_run_status_rule_and_thresholds():
    assert [run_status(_rec(a)) for a in (0.1, COLLAPSE_ACC, 0.5, TRAINED_ACC, 1.0)] == [
        "collapsed",
        "collapsed",
        "under-trained",
        "ok",
        "ok",
    ]
    assert run_status(_rec(None, diverged=True)) == "diverged"
    assert run_status(_rec(0.5), trained_acc=0.4) == "ok"
    assert run_statuses([_rec(0.95), _rec(0, True)]).tolist() == ["ok", "diverged"]


def test_run_status_bad_input():
    with pytest.raises(ValueError, match="collapse_acc .* must not exceed trained_acc"):
        run_status(_rec(0.5), collapse_acc=0.5, trained_acc=0.4)
    with pytest.raises(ValueError, match="trained_acc"):
        run_status(_rec(0.5), trained_acc=1.5)
    with pytest.raises(ValueError, match="no training accuracy"):
        run_status({"diverged": False, "metrics_average": None})
    with pytest.raises(TypeError, match="record must be a mapping"):
        run_status([0.5])


# ---------------------------------------------------------------- summaries and intervals
def test_cell_summary_against_a_loop():
    rng = np.random.default_rng(0)
    cells = np.c_[np.repeat([0.01, 0.1], 6), np.tile(np.repeat([1, 5], 3), 2)]
    v = rng.normal(size=12)
    s = cell_summary(v, cells)
    assert s["n"].tolist() == [3, 3, 3, 3]
    for k in range(4):
        block = v[3 * k : 3 * k + 3]  # the cells are contiguous blocks of 3 in sorted order
        assert s["median"][k] == np.median(block) and s["lo"][k] == block.min() and s["hi"][k] == block.max()
    with pytest.raises(ValueError, match="one entry per run"):
        cell_summary(v[:5], cells)


def test_spearman_interval_point_estimate_is_scipys():
    rng = np.random.default_rng(1)
    cells = np.repeat(np.arange(12), 5)
    x = cells + 0.0
    y = x + 4 * rng.normal(size=60)
    r, lo, hi = spearman_interval(x, y, cells, n_boot=300)
    assert r == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)  # same ranks, same formula
    assert lo < r < hi


def test_hierarchical_bootstrap_covers_and_includes_seed_noise():
    # Coverage of the mean of cell effects: 12 cells with a random effect (sd 1) and 5 seeds each
    # (sd 1). Over 100 replications, a 90% interval should cover the true mean 0 about 90 times;
    # the binomial sd is sqrt(100 * 0.9 * 0.1) = 3, and the percentile bootstrap with 12 cells is
    # somewhat liberal, so accept 78 or more (4 sd below 90).
    rng = np.random.default_rng(2)
    cells = np.repeat(np.arange(12), 5)
    cover = 0
    for _ in range(100):
        y = np.repeat(rng.normal(size=12), 5) + rng.normal(size=60)
        _, lo, hi = hierarchical_bootstrap(lambda i: float(np.mean(y[i])), cells, n_boot=200, seed=rng)
        cover += lo <= 0 <= hi
    assert cover >= 78
    # with the cells fixed, only the seed noise is left: a narrower interval on the same data
    y = np.repeat(rng.normal(size=12), 5) + rng.normal(size=60)
    _, lo1, hi1 = hierarchical_bootstrap(lambda i: float(np.mean(y[i])), cells, seed=0)
    _, lo2, hi2 = hierarchical_bootstrap(lambda i: float(np.mean(y[i])), cells, seed=0, resample_cells=False)
    assert hi2 - lo2 < hi1 - lo1


def test_interval_reading_and_bad_input():
    assert interval_reading(-0.2, 0.3) == "no resolved sign"
    assert interval_reading(0.0, 0.3) == "no resolved sign"  # an end at 0 contains 0
    assert interval_reading(0.1, 0.3, positive="rises") == "rises"
    assert interval_reading(-0.3, -0.1) == "negative"
    with pytest.raises(ValueError, match="lo <= hi"):
        interval_reading(0.3, 0.1)
    with pytest.raises(ValueError, match="n_boot"):
        hierarchical_bootstrap(np.mean, [0, 1], n_boot=10)
    with pytest.raises(TypeError, match="statistic must be callable"):
        hierarchical_bootstrap(1.0, [0, 1])
    with pytest.raises(ValueError, match="name must be a folder name"):
        results_dir("../x")
    with pytest.raises(FileNotFoundError, match="make results"):
        results_dir("no_such_results_folder")
    with pytest.raises(ValueError, match="module:name"):
        source_hash(["check_int"])
    with pytest.raises(ValueError, match="names nothing"):
        source_hash(["hts_lib.validation:no_such_function"])


def test_source_hash_ignores_docstrings_and_sees_code(tmp_path, monkeypatch):
    mod = tmp_path / "hashme_mod.py"
    mod.write_text('def f(x):\n    """Doc."""\n    return x + 1\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    h1 = source_hash(["hashme_mod:f"])
    import importlib
    import sys

    mod.write_text('def f(x):\n    """Another doc."""\n    # a comment\n    return x + 1\n')
    sys.modules.pop("hashme_mod")
    importlib.invalidate_caches()
    assert source_hash(["hashme_mod:f"]) == h1
    mod.write_text('def f(x):\n    return x + 2\n')
    sys.modules.pop("hashme_mod")
    importlib.invalidate_caches()
    assert source_hash(["hashme_mod:f"]) != h1


# ---------------------------------------------------------------- the shipped results
@pytest.mark.parametrize("folder", sorted(SHIPPED))
def test_shipped_results_are_complete_and_valid(folder):
    path = ROOT / "results" / folder
    if not path.is_dir():
        pytest.skip(f"results/{folder} not shipped yet")
    records = load_results(path)  # validates every file against the schema
    expected = {run_id(json.loads(json.dumps(c))) for c in _normalised(grid_configs(SHIPPED[folder]))}
    assert {r["run_id"] for r in records} == expected, "shipped folder and grid disagree: run `make results`"


@pytest.mark.parametrize("folder", sorted(SHIPPED))
def test_shipped_results_were_made_by_the_current_code(folder):
    path = ROOT / "results" / folder
    if not path.is_dir():
        pytest.skip(f"results/{folder} not shipped yet")
    records = load_results(path)
    hashes = {r["provenance"].get("source_hash") for r in records}
    assert hashes == {source_hash()}, (
        f"results/{folder} was made by other code (hashes {sorted(map(str, hashes))}, now {source_hash()}): "
        "the trainer, estimators or sharpness changed since; re-run `make results`"
    )


def _normalised(configs):
    from hts_lib.nn.training import normalise_config

    return [normalise_config(c) for c in configs]


def test_partial_spearman_matches_rank_regression_residuals():
    from scipy.stats import pearsonr, rankdata

    rng = np.random.default_rng(3)
    cells = np.repeat(np.arange(15), 4)
    z = rng.normal(size=60)
    x = z + rng.normal(size=60)
    y = 0.5 * x - z + rng.normal(size=60)
    # independent route: regress the ranks of x and y on the ranks of z, correlate the residuals
    rz = np.c_[np.ones(60), rankdata(z)]
    res = [r - rz @ np.linalg.lstsq(rz, r, rcond=None)[0] for r in (rankdata(x), rankdata(y))]
    expected = pearsonr(*res).statistic
    r, lo, hi = spearman_interval(x, y, cells, given=z, n_boot=200, seed=0)
    assert r == pytest.approx(expected, abs=1e-12)  # the same number by two algebraic routes
    assert lo <= r <= hi
    # a NaN in the conditioning variable drops that run, as a NaN in x or y does
    z2 = z.copy()
    z2[0] = np.nan
    r2 = spearman_interval(x, y, cells, given=z2, n_boot=200, seed=0)[0]
    assert r2 == pytest.approx(spearman_interval(x[1:], y[1:], cells[1:], given=z[1:], n_boot=200)[0])
    with pytest.raises(ValueError, match="given"):
        spearman_interval(x, y, cells, given=z[:10])
