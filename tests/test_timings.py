"""Per-phase timings of a run, their sum in `hts-experiments status`, and the sharpness subset of big nets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hts_lib.nn.experiments import grid_configs, load_results, main, run_id, run_sweep, sweep_status

torch = pytest.importorskip("torch")  # the training half of the library needs torch (an optional extra)

from hts_lib.nn.sharpness import SHARPNESS_EXAMPLES, stratified_subset  # noqa: E402
from hts_lib.nn.training import normalise_config, run_from_config  # noqa: E402

PHASES = {"data_loading_s", "training_s", "evaluation_s", "tail_estimates_s", "sharpness_s", "other_s"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke grid, shortened, with sharpness on, through the runner (a few seconds on one core)."""
    out = tmp_path_factory.mktemp("smoke")
    cfgs = grid_configs(
        "smoke",
        {
            "n_steps": 60,
            "n_average": 20,
            "eval_every": 30,
            "n_train": 300,
            "n_test": 100,
            "width": 16,
            "sharpness": True,
        },
    )
    rep = run_sweep(cfgs, out, progress=False)
    assert rep.failed == () and rep.n_done == len(cfgs)
    return out, load_results(out)


def test_every_result_holds_per_phase_timings(smoke):
    _, results = smoke
    for r in results:
        t = r["timings"]
        assert set(t) == PHASES and all(v >= 0 for v in t.values())
        # the phases partition the run: they sum to its wall time up to the rounding of each to 0.1 ms
        assert math.isclose(sum(t.values()), r["wall_time_s"], abs_tol=1e-3 * len(t))
        assert t["training_s"] > 0 and t["evaluation_s"] > 0 and t["data_loading_s"] > 0
        if not r["diverged"]:
            assert t["tail_estimates_s"] > 0 and t["sharpness_s"] > 0
        assert r["provenance"]["schema_version"] == 2


def test_status_sums_the_phases_over_a_folder(smoke, capsys):
    out, results = smoke
    st = sweep_status(out)
    assert st["n_timed"] == len(results)
    for phase in PHASES:
        # the same floats added in the same order: equal to rounding
        assert st["timings"][phase] == pytest.approx(sum(r["timings"][phase] for r in results), rel=1e-12)
    assert main(["status", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"time by phase over {len(results)} results" in text and "training" in text and "sharpness" in text


def test_results_without_timings_still_validate_and_are_not_counted(smoke, tmp_path):
    import json

    _, results = smoke
    old = dict(results[0])
    del old["timings"]
    (tmp_path / f"{old['run_id']}.json").write_text(json.dumps(old))
    st = sweep_status(tmp_path)
    assert st["valid"] == 1 and st["n_timed"] == 0 and st["timings"] == {}


def test_a_key_added_at_its_default_leaves_the_run_id_unchanged():
    # sharpness_examples=None (the model's default) was added after results were shipped: their run ids
    # must not change, so the key is left out of the hash while it holds that default
    cfg = normalise_config({"dataset": "digits", "eta": 0.1, "batch_size": 5})
    assert cfg["sharpness_examples"] is None
    legacy = {k: v for k, v in cfg.items() if k != "sharpness_examples"}
    assert run_id(cfg) == run_id(legacy)
    assert run_id({**cfg, "sharpness_examples": 100}) != run_id(cfg)


def test_stratified_subset_keeps_class_proportions():
    labels = np.repeat(np.arange(10), [400, 450, 380, 420, 390, 410, 400, 370, 380, 400])
    idx = stratified_subset(labels, 2048)
    assert idx.size == 2048 and np.unique(idx).size == 2048 and np.all(np.diff(idx) > 0)
    expected = 2048 * np.bincount(labels) / labels.size
    # largest-remainder rounding: every class within one example of its exact share
    assert np.all(np.abs(np.bincount(labels[idx]) - expected) < 1)
    assert np.array_equal(idx, stratified_subset(labels, 2048))  # fixed: seed 0 by default
    assert np.array_equal(stratified_subset(labels, labels.size), np.arange(labels.size))
    with pytest.raises(ValueError, match="n must be"):
        stratified_subset(labels, 0)
    with pytest.raises(ValueError, match="y must be one-dimensional"):
        stratified_subset(labels.reshape(2, -1), 5)
    with pytest.raises(ValueError, match="sharpness_examples"):
        normalise_config({"dataset": "digits", "eta": 0.1, "batch_size": 5, "sharpness_examples": 10**6})


def test_cnn_sharpness_uses_the_recorded_subset():
    # a cnn run measures sharpness on a stratified subset (sharpness_examples, by default
    # SHARPNESS_EXAMPLES["cnn"] when the training set is larger) and records its size and kind
    cfg = {
        "dataset": "digits",
        "model": "cnn",
        "n_train": 1437,
        "n_test": 100,
        "eta": 0.05,
        "batch_size": 10,
        "n_steps": 30,
        "n_average": 10,
        "eval_every": 30,
        "width_scale": 0.5,
        "sharpness_examples": 400,
    }
    r = run_from_config(cfg)
    s = r["sharpness"]
    assert (s["n_samples"], s["n_train"], s["subset"]) == (400, 1437, "stratified, seed 0")
    default = normalise_config({**cfg, "sharpness_examples": None})
    assert default["sharpness_examples"] is None and SHARPNESS_EXAMPLES["cnn"] < 50_000


def test_gpu_check_script_runs_on_cpu(tmp_path, capsys):
    # the GPU check must also run on a CPU with a tiny step count (the smoke check that keeps it working)
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_vgg_check.py"
    spec = importlib.util.spec_from_file_location("gpu_vgg_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "summary.json"
    assert (
        mod.main(
            [
                "--device",
                "cpu",
                "--steps",
                "2",
                "--n-train",
                "100",
                "--n-test",
                "50",
                "--width-scale",
                "0.125",
                "--batch-size",
                "10",
                "--no-sharpness",
                "--data-dir",
                str(tmp_path),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads(out.read_text())
    assert summary["machine"]["device"] == "cpu" and summary["run"]["steps"] == 2
    assert set(summary["run"]["timings"]) == PHASES and summary["run"]["config"]["model"] == "vgg"
    assert (tmp_path / "cifar10" / "cifar-10-python.tar.gz").is_file() and summary["diagnosis"]
    assert json.loads(capsys.readouterr().out)["run"]["steps"] == 2  # the printed summary is the same JSON
