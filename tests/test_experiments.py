"""Tests of hts_lib.nn.experiments: schema, grids, run ids, resumable atomic sweeps, parallel backends, CLI.

Most tests use stand-in run functions defined here (deterministic, fast, torch-free); one
end-to-end test runs the real training on a tiny config. The resume test starts the command line
in a subprocess, kills it with SIGKILL mid-sweep and finishes the sweep with a second run.
"""

from __future__ import annotations

import copy
import http.server
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hts_lib.nn import experiments as ex
from hts_lib.nn.experiments import (
    GRIDS,
    RESULT_SCHEMA,
    grid_configs,
    load_results,
    main,
    results_table,
    run_id,
    run_sweep,
    sweep_grid,
    sweep_status,
    validate_result,
)

REPO = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve()


# ------------------------------------------------------------------------------------------
# stand-in run functions (module level so that process backends can ship them)
# ------------------------------------------------------------------------------------------
def fake_run(config: dict) -> dict:
    """Deterministic record computed from the config; diverges when eta / batch_size > 0.05."""
    if config.get("fail"):
        raise RuntimeError(f"simulated failure for eta={config['eta']}")
    if config.get("sleep"):
        time.sleep(float(config["sleep"]))
    if config.get("log"):
        with open(config["log"], "a") as fh:
            fh.write(f"{config['eta']}\n")
    ratio = config["eta"] / config["batch_size"]
    diverged = ratio > 0.05
    if diverged:
        metrics = None
        alpha = {}
    else:
        metrics = {
            "train_loss": 0.1 + ratio,
            "train_acc": 0.99,
            "test_loss": 0.2 + ratio,
            "test_acc": 0.9,
            "gen_gap": 0.1,
        }
        a = 2.0 - 10 * ratio
        alpha = {
            f"layer{i}": {
                "alpha_stable": {
                    "alpha": a,
                    "ci_low": a - 0.1,
                    "ci_high": a + 0.1,
                    "method": "alpha_stable",
                    "flags": [],
                },
                "hill": {
                    "alpha": a + 0.5,
                    "ci_low": a + 0.3,
                    "ci_high": a + 0.7,
                    "method": "hill",
                    "flags": [],
                    "k": 100,
                },
            }
            for i in (1, 2, 3)
        }
    return {
        "config": dict(config),
        "diverged": diverged,
        "diverged_at": 123 if diverged else None,
        "metrics": metrics,
        "metrics_average": copy.deepcopy(metrics),
        "alpha": alpha,
        "sharpness": None
        if diverged
        else {"top_eigenvalue": 1 / config["eta"], "converged": True, "n_iter": 7, "trace": None},
        "history": [
            {"step": s, "train_loss": (math.nan if diverged and s > 100 else 1.0 / (s + 1)), "test_acc": 0.5}
            for s in (0, 100, 200)
        ],
        "device": "cpu",
        "n_params": 42,
        "wall_time_s": 0.01,
    }


def where_run(config: dict) -> dict:
    """Like fake_run, but records where it ran (process id and thread name) in the device field."""
    time.sleep(0.05)  # long enough that two workers both get tasks
    r = fake_run(config)
    r["device"] = f"{os.getpid()}:{threading.current_thread().name}"
    return r


def bad_record_run(config: dict) -> dict:
    r = fake_run(config)
    r["n_params"] = -1
    return r


def base_config(**kw) -> dict:
    c = {"dataset": "digits", "model": "fc", "n_steps": 200, "seed": 0}
    c.update(kw)
    return c


def strip_provenance(d: dict) -> dict:
    d = copy.deepcopy(d)
    d.pop("provenance")
    return d


@pytest.fixture
def good_record() -> dict:
    r = fake_run(base_config(eta=0.01, batch_size=5))
    r = ex._to_jsonable(r)
    r["run_id"] = "x"
    r["provenance"] = {
        "hts_lib_version": "0.1.0",
        "git_revision": None,
        "python": "3.11",
        "numpy": "2.4",
        "torch": None,
        "platform": "Linux",
        "started": "2025-01-01T00:00:00+00:00",
        "finished": "2025-01-01T00:00:01+00:00",
    }
    return r


# ------------------------------------------------------------------------------------------
# schema
# ------------------------------------------------------------------------------------------
def test_schema_is_a_valid_json_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(RESULT_SCHEMA)


def test_good_record_validates(good_record):
    assert validate_result(good_record) is good_record
    diverged = ex._to_jsonable(fake_run(base_config(eta=1.0, batch_size=1)))  # NaN in history -> null
    diverged.update(run_id="y", provenance=good_record["provenance"])
    assert diverged["history"][2]["train_loss"] is None
    validate_result(diverged)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("metrics"), r"at <root>: 'metrics' is a required property"),
        (
            lambda d: d["config"].update(eta=-1),
            r"at config\.eta: -1 is less than or equal to the minimum of 0",
        ),
        (
            lambda d: d["config"].update(batch_size=2.5),
            r"at config\.batch_size: 2\.5 is not of type 'integer'",
        ),
        (
            lambda d: d.update(metrics=None),
            r"at metrics: None is not of type 'object' \(a run that did not diverge",
        ),
        (
            lambda d: d.update(diverged=True),
            r"at alpha: .* is expected to be empty \(a diverged run has no alpha",
        ),
        (lambda d: d["alpha"]["layer1"].pop("hill"), r"at alpha\.layer1: 'hill' is a required property"),
        (lambda d: d["metrics"].update(test_acc="high"), r"at metrics\.test_acc: 'high' is not of type"),
        (lambda d: d["metrics"].update(test_acc=float("nan")), r"at metrics\.test_acc: non-finite number"),
        (lambda d: d.update(run_id="a/b"), r"at run_id: 'a/b' does not match"),
        (
            lambda d: d["provenance"].pop("git_revision"),
            r"at provenance: 'git_revision' is a required property",
        ),
        (
            lambda d: d.update(sharpness={"top_eigenvalue": 3.0}),
            r"at sharpness: 'converged' is a required property",
        ),
    ],
)
def test_broken_record_fails_with_clear_message(good_record, mutate, match):
    mutate(good_record)
    with pytest.raises(ValueError, match=r"invalid result r\.json: \d+ problems?\n  [\s\S]*" + match):
        validate_result(good_record, source="r.json")


def test_validate_non_mapping():
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        validate_result([1, 2])


# ------------------------------------------------------------------------------------------
# grids and run ids
# ------------------------------------------------------------------------------------------
def test_sweep_grid_product_and_copies():
    base = {"model": "fc", "nested": {"a": 1}, "eta": 99}
    cfgs = sweep_grid(base, eta=[0.1, 0.2, 0.3], batch_size=(1, 5))
    assert len(cfgs) == 6
    assert [(c["eta"], c["batch_size"]) for c in cfgs] == [(e, b) for e in (0.1, 0.2, 0.3) for b in (1, 5)]
    cfgs[0]["nested"]["a"] = 2  # deep copies: neither the base nor the other configs change
    assert base["nested"]["a"] == 1 and cfgs[1]["nested"]["a"] == 1 and base["eta"] == 99
    assert sweep_grid(base) == [base]


@pytest.mark.parametrize(
    "axes, match",
    [
        (dict(eta=[]), "axis 'eta' is empty"),
        (dict(dataset="digits"), "axis 'dataset' must be a list of values"),
        (dict(eta=0.1), "axis 'eta' must be a list of values"),
        (dict(eta={"a": 1}), "axis 'eta' must be a list of values"),
    ],
)
def test_sweep_grid_bad_input(axes, match):
    with pytest.raises(ValueError, match=match):
        sweep_grid({}, **axes)
    with pytest.raises(TypeError, match="base_config must be a mapping"):
        sweep_grid([("a", 1)])


def test_named_grids():
    fc = grid_configs("paper-fc")
    assert len(fc) == 48
    assert sorted({c["eta"] for c in fc}) == sorted(ex.PAPER_ETAS) and len(ex.PAPER_ETAS) == 16
    assert {c["batch_size"] for c in fc} == {1, 5, 10}
    assert all(
        c["n_steps"] == 10_000
        and c["n_average"] == 1000
        and c["dataset"] == "mnist_subset"
        and c["data_order"] == "cycle"
        for c in fc
    )
    etas = [c["eta"] for c in fc]
    assert min(etas) / 10 == pytest.approx(1e-5) and max(etas) / 1 == pytest.approx(0.1)  # eta/b 1e-5 .. 0.1
    over = grid_configs("paper-fc", {"n_steps": 100, "batch_size": 5, "seed": [0, 1]})
    assert len(over) == 32 and all(c["n_steps"] == 100 and c["batch_size"] == 5 for c in over)
    assert len(grid_configs("paper-vgg")) == 15 and "not known" in GRIDS["paper-vgg"]["description"]
    with pytest.raises(
        ValueError,
        match="unknown grid 'paper'; named grids: paper-fc, paper-vgg, paper-fc-seeds, paper-fc-gd, "
        "lenet-seeds, smoke",
    ):
        grid_configs("paper")


def test_run_id_stable_and_distinct():
    c = base_config(eta=0.01, batch_size=5)
    rid = run_id(c)
    assert rid.startswith("fc_digits_eta0.01_b5_s0_") and len(rid.rsplit("_", 1)[1]) == 10
    assert run_id(dict(reversed(list(c.items())))) == rid  # key order does not matter
    assert run_id({**c, "data_dir": "/elsewhere"}) == rid  # where the data lives does not matter
    assert run_id({**c, "eta": np.float64(0.01), "batch_size": np.int64(5)}) == rid
    variants = [{**c, "eta": 0.011}, {**c, "seed": 1}, {**c, "n_steps": 201}, {**c, "extra": None}]
    assert len({rid, *map(run_id, variants)}) == 5
    assert run_id({"x": 1}).startswith("run_")
    assert "/" not in run_id({"model": "a/b", "dataset": "c d"})
    with pytest.raises(TypeError, match="config must be a mapping"):
        run_id([1])


# ------------------------------------------------------------------------------------------
# sweeps
# ------------------------------------------------------------------------------------------
def small_grid(**base_kw):
    return sweep_grid(base_config(**base_kw), eta=[0.01, 0.1, 0.2], batch_size=[1, 5])


def test_run_sweep_writes_valid_files_with_provenance(tmp_path):
    cfgs = small_grid()
    rep = run_sweep(cfgs, tmp_path / "out", progress=False, run_fn=fake_run)
    assert (rep.n_total, rep.n_done, rep.n_skipped, rep.failed, rep.complete) == (6, 6, 0, (), True)
    files = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in files] == sorted(f"{r}.json" for r in rep.run_ids)  # nothing else left behind
    results = load_results(tmp_path / "out")
    assert [r["run_id"] for r in results] == sorted(rep.run_ids)
    for r in results:
        assert r["config"] == next(c for c in cfgs if run_id(c) == r["run_id"])
        assert strip_provenance(r) == {"run_id": r["run_id"], **ex._to_jsonable(fake_run(r["config"]))}
        prov = r["provenance"]
        assert prov["numpy"] == np.__version__ and prov["python"] == sys.version.split()[0]
        assert prov["started"] <= prov["finished"] and prov["schema_version"] == ex.SCHEMA_VERSION
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    if head:  # running inside the repository's git checkout
        assert results[0]["provenance"]["git_revision"].split("+")[0] == head
    assert sum(r["diverged"] for r in results) == 2  # eta/b = 0.1 and 0.2 exceed fake_run's 0.05
    mask = os.umask(0o022)
    os.umask(mask)
    assert all((p.stat().st_mode & 0o777) == 0o666 & ~mask for p in files)  # like any new file, not 0o600


def test_git_revision_and_dirty_flag(tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    repo, lib = tmp_path / "repo", tmp_path / "repo" / "lib"
    lib.mkdir(parents=True)
    assert ex._git_revision_of(lib) is None  # not a repository
    (lib / "a.py").write_text("x = 1\n")
    (repo / "notes.md").write_text("n\n")
    for cmd in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "c"]):
        subprocess.run(git + cmd, cwd=repo, check=True, capture_output=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert ex._git_revision_of(lib) == head
    (repo / "notes.md").write_text("changed\n")  # outside the library folder: still clean
    assert ex._git_revision_of(lib) == head
    (lib / "new.py").write_text("y = 2\n")  # untracked library code: dirty
    assert ex._git_revision_of(lib) == head + "+dirty"
    (lib / "new.py").unlink()
    (lib / "a.py").write_text("x = 3\n")  # modified library code: dirty
    assert ex._git_revision_of(lib) == head + "+dirty"


def test_resume_skips_finished_runs(tmp_path):
    calls = []

    def counting(config):
        calls.append(config["eta"])
        return fake_run(config)

    cfgs = small_grid()
    run_sweep(cfgs[:4], tmp_path, progress=False, run_fn=counting)
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.json")}
    calls.clear()
    rep = run_sweep(cfgs, tmp_path, progress=False, run_fn=counting)
    assert (rep.n_skipped, rep.n_done) == (4, 2) and len(calls) == 2
    assert all(tmp_path.joinpath(n).stat().st_mtime_ns == t for n, t in mtimes.items())
    calls.clear()
    assert run_sweep(cfgs + cfgs, tmp_path, progress=False, run_fn=counting).n_skipped == 6 and calls == []


def test_duplicates_run_once_and_invalid_files_are_redone(tmp_path):
    calls = []

    def counting(config):
        calls.append(config["eta"])
        return fake_run(config)

    c = base_config(eta=0.01, batch_size=1)
    rep = run_sweep([c, dict(c), copy.deepcopy(c)], tmp_path, progress=False, run_fn=counting)
    assert rep.n_total == 1 and calls == [0.01]
    path = tmp_path / f"{run_id(c)}.json"
    path.write_text('{"run_id": "truncated')  # a damaged file (e.g. copied by hand) is not trusted
    rep = run_sweep([c], tmp_path, progress=False, run_fn=counting)
    assert rep.n_done == 1 and len(calls) == 2
    validate_result(json.loads(path.read_text()))
    d = json.loads(path.read_text())
    d["run_id"] = "someone-else"
    path.write_text(json.dumps(d))  # valid, but for another config: redone too
    assert run_sweep([c], tmp_path, progress=False, run_fn=counting).n_done == 1 and len(calls) == 3


def test_failed_runs_leave_no_result_and_the_sweep_goes_on(tmp_path):
    cfgs = [
        base_config(eta=0.01, batch_size=1),
        base_config(eta=0.02, batch_size=1, fail=True),
        base_config(eta=0.03, batch_size=1),
    ]
    rep = run_sweep(cfgs, tmp_path, progress=False, run_fn=fake_run)
    bad = run_id(cfgs[1])
    assert rep.n_done == 2 and [r for r, _ in rep.failed] == [bad] and not rep.complete
    assert "RuntimeError: simulated failure for eta=0.02" in rep.failed[0][1]
    assert not (tmp_path / f"{bad}.json").exists()
    assert "Traceback" in (tmp_path / f"{bad}.error.txt").read_text()
    assert len(load_results(tmp_path)) == 2
    # an invalid record from run_fn is a failure too, with the schema message
    rep2 = run_sweep(
        [base_config(eta=0.05, batch_size=1)], tmp_path / "b", progress=False, run_fn=bad_record_run
    )
    assert (
        "at n_params: -1 is less than the minimum of 0"
        in (tmp_path / "b" / f"{rep2.failed[0][0]}.error.txt").read_text()
    )
    assert list((tmp_path / "b").glob("*.json")) == []


def test_crash_during_write_leaves_no_file(tmp_path, monkeypatch):
    cfgs = small_grid()
    run_sweep(cfgs[:2], tmp_path, progress=False, run_fn=fake_run)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    target = tmp_path / f"{run_id(cfgs[0])}.json"
    target.write_text("{}")  # invalid: will be redone, and must survive a crash of its rewrite intact
    before[target.name] = b"{}"
    real_fsync = os.fsync

    def failing_fsync(fd):  # the data was written to the temporary file but never committed
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ex.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(cfgs, tmp_path, progress=False, run_fn=fake_run)
    monkeypatch.setattr(ex.os, "fsync", real_fsync)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # no new result, no temporary file, the old file unchanged
    rep = run_sweep(cfgs, tmp_path, progress=False, run_fn=fake_run)
    assert rep.n_done == 5 and rep.n_skipped == 1 and len(load_results(tmp_path)) == 6


def test_parallel_equals_serial(tmp_path):
    cloudpickle = ex._cloudpickle()
    # worker processes cannot import this test module by name: ship its functions by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        cfgs = small_grid()
        outs = {}
        for label, kw in {
            "serial": dict(n_jobs=1),
            "loky": dict(n_jobs=2),
            "threading": dict(n_jobs=2, backend="threading"),
        }.items():
            rep = run_sweep(cfgs, tmp_path / label, progress=False, run_fn=fake_run, **kw)
            assert rep.n_done == 6
            outs[label] = {r["run_id"]: strip_provenance(r) for r in load_results(tmp_path / label)}
        assert outs["serial"] == outs["loky"] == outs["threading"]
        assert {p.name for p in (tmp_path / "serial").iterdir()} == {
            p.name for p in (tmp_path / "loky").iterdir()
        }
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_backend_argument_reaches_joblib(tmp_path):
    cloudpickle = ex._cloudpickle()
    cfgs = small_grid()
    parent = os.getpid()
    run_sweep(cfgs, tmp_path / "t", n_jobs=2, backend="threading", progress=False, run_fn=where_run)
    where = [r["device"].split(":", 1) for r in load_results(tmp_path / "t")]
    assert all(int(pid) == parent for pid, _ in where)  # threads of this process ...
    assert all(name != "MainThread" for _, name in where)  # ... but not the main thread
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        run_sweep(cfgs, tmp_path / "l", n_jobs=2, backend="loky", progress=False, run_fn=where_run)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    pids = {int(r["device"].split(":")[0]) for r in load_results(tmp_path / "l")}
    assert parent not in pids and len(pids) >= 1  # other processes did the work
    run_sweep(cfgs, tmp_path / "s", n_jobs=1, progress=False, run_fn=where_run)
    assert {r["device"] for r in load_results(tmp_path / "s")} == {f"{parent}:MainThread"}
    with pytest.raises(ValueError, match="nope"):
        run_sweep(cfgs, tmp_path / "x", n_jobs=2, backend="nope", progress=False, run_fn=fake_run)


def test_dask_backend_points_to_cluster(tmp_path):
    # the joblib hook of version 0.1 is gone: Dask sweeps go through cluster= (tests/test_cluster.py)
    with pytest.raises(
        ValueError,
        match=r"backend='dask' was replaced by cluster= .*'local:N' or "
        r"'tcp://HOST:PORT'",
    ):
        run_sweep(small_grid(), tmp_path, n_jobs=2, backend="dask", progress=False, run_fn=fake_run)
    assert list(tmp_path.glob("*.json")) == []


def test_retries_without_a_cluster(tmp_path):
    calls = []

    def flaky(config):
        calls.append(config["eta"])
        if calls.count(config["eta"]) == 1 or config.get("fail"):
            raise RuntimeError(f"attempt {calls.count(config['eta'])}")
        return fake_run(config)

    cfgs = [base_config(eta=0.01, batch_size=1), base_config(eta=0.02, batch_size=1, fail=True)]
    rep = run_sweep(cfgs, tmp_path, progress=False, run_fn=flaky, retries=2)
    assert rep.n_done == 1 and calls == [0.01, 0.01, 0.02, 0.02, 0.02]  # retried until it worked, or 3 times
    assert rep.failed == ((run_id(cfgs[1]), "RuntimeError: attempt 3 (tried 3 times)"),)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(configs=[]), "configs is empty"),
        (dict(configs={"eta": 0.1}), "configs must be a list of config dicts"),
        (dict(configs=[1]), r"configs\[0\] must be a mapping"),
        (dict(n_jobs=0), "n_jobs must be a non-zero integer"),
        (dict(n_jobs=True), "n_jobs must be a non-zero integer"),
        (dict(n_jobs="2"), "n_jobs must be a non-zero integer"),
        (dict(backend=3), "backend must be a joblib backend name"),
    ],
)
def test_run_sweep_bad_input(tmp_path, kwargs, match):
    kw = dict(configs=small_grid(), out_dir=tmp_path, progress=False, run_fn=fake_run)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        run_sweep(**kw)
    with pytest.raises(TypeError, match="run_fn must be callable"):
        run_sweep(small_grid(), tmp_path, progress=False, run_fn="fake_run")


def test_progress_bar_counts_skipped_runs(tmp_path, capsys):
    cfgs = small_grid()
    run_sweep(cfgs[:2], tmp_path, progress=False, run_fn=fake_run)
    run_sweep(cfgs, tmp_path, progress=True, run_fn=fake_run)
    err = capsys.readouterr().err
    assert "6/6" in err and "2/6" in err  # starts at the 2 already done, ends at 6 of 6


# ------------------------------------------------------------------------------------------
# reading results
# ------------------------------------------------------------------------------------------
def test_load_results_and_table(tmp_path):
    cfgs = small_grid()
    run_sweep(cfgs, tmp_path, progress=False, run_fn=fake_run)
    (tmp_path / ".leftover.json.abc.tmp").write_text("{")  # as left by a kill during a write: ignored
    (tmp_path / "x.error.txt").write_text("Traceback")
    res = load_results(tmp_path)
    assert len(res) == 6
    t = results_table(res)
    assert t["config.eta"].dtype == np.float64 and t["diverged"].dtype == bool
    np.testing.assert_array_equal(t["eta_over_b"], t["config.eta"] / t["config.batch_size"])
    # diverged runs have no alpha: NaN in those rows, numbers elsewhere
    a = t["alpha.layer1.hill.alpha"]
    assert np.array_equal(np.isnan(a), t["diverged"])
    np.testing.assert_allclose(a[~t["diverged"]], 2.5 - 10 * t["eta_over_b"][~t["diverged"]])
    assert t["run_id"].dtype == object and "history" not in t
    st = sweep_status(tmp_path, cfgs + [base_config(eta=0.3, batch_size=1)])
    assert (st["valid"], st["diverged"], st["invalid"], st["failed"], st["temp"]) == (6, 2, 0, 1, 1)
    assert (st["total"], st["done"], len(st["missing"])) == (7, 6, 1)


def test_load_results_invalid_files(tmp_path):
    run_sweep(small_grid()[:2], tmp_path, progress=False, run_fn=fake_run)
    (tmp_path / "broken.json").write_text('{"run_id": "broken"')
    with pytest.raises(ValueError, match=r"invalid result .*broken\.json: not valid JSON"):
        load_results(tmp_path)
    (tmp_path / "broken.json").write_text('{"run_id": "broken"}')
    with pytest.raises(ValueError, match=r"invalid result .*broken\.json: 12 problems"):
        load_results(tmp_path)
    assert len(load_results(tmp_path, on_invalid="skip")) == 2
    assert sweep_status(tmp_path)["invalid"] == 1
    with pytest.raises(ValueError, match="on_invalid must be 'raise' or 'skip'"):
        load_results(tmp_path, on_invalid="ignore")
    with pytest.raises(FileNotFoundError, match="no results folder"):
        load_results(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no results folder"):
        sweep_status(tmp_path / "nothing")


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------
def cli(*args, env_extra=None, **popen_kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.update(env_extra or {})
    return [sys.executable, "-m", "hts_lib.nn.experiments", *args], dict(env=env, cwd=REPO, **popen_kw)


def test_cli_resume_after_sigkill(tmp_path):
    log = tmp_path / "calls.log"
    configs = [
        base_config(eta=round(0.01 * (i + 1), 2), batch_size=1, sleep=0.4, log=str(log)) for i in range(8)
    ]
    (tmp_path / "sweep.json").write_text(json.dumps(configs))
    out = tmp_path / "out"
    argv, kw = cli(
        "run",
        "--config",
        str(tmp_path / "sweep.json"),
        "--out",
        str(out),
        "--run-fn",
        f"{THIS_FILE}:fake_run",
        "--no-progress",
    )
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("*.json"))) < 3:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*.json")}
    assert 3 <= len(finished) < 8  # killed midway
    for name in finished:  # every file present is complete and valid
        validate_result(json.loads((out / name).read_text()), source=name)
    calls_before = log.read_text().split()

    # second time through the environment variable instead of --run-fn
    argv, kw = cli(
        "run",
        "--config",
        str(tmp_path / "sweep.json"),
        "--out",
        str(out),
        "--no-progress",
        env_extra={ex.RUN_FN_ENV: f"{THIS_FILE}:fake_run"},
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    assert done.returncode == 0, done.stderr
    assert f"{8 - len(finished)} run, {len(finished)} already done, 0 failed of 8" in done.stdout
    assert len(load_results(out)) == 8
    for name, (mtime, content) in finished.items():  # finished files untouched
        assert (out / name).stat().st_mtime_ns == mtime and (out / name).read_bytes() == content
    calls_after = log.read_text().split()
    finished_etas = {str(json.loads(c)["config"]["eta"]) for _, c in finished.values()}
    new_calls = calls_after[len(calls_before) :]
    assert not finished_etas & set(new_calls)  # nothing finished was redone
    assert sorted(set(calls_after)) == sorted(str(c["eta"]) for c in configs)


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_cli_parallel_in_subprocess(tmp_path, backend):
    # `python -m` makes the module __main__: worker processes must still find the task functions
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"base": base_config(batch_size=1), "axes": {"eta": [0.01, 0.02, 0.03, 0.04]}}))
    argv, kw = cli(
        "run",
        "--config",
        str(cfg),
        "--out",
        str(tmp_path / "o"),
        "--jobs",
        "2",
        "--backend",
        backend,
        "--run-fn",
        f"{THIS_FILE}:fake_run",
        "--no-progress",
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    assert done.returncode == 0, done.stderr
    assert "4 run, 0 already done, 0 failed of 4" in done.stdout
    assert [r["config"]["eta"] for r in load_results(tmp_path / "o")] == [0.01, 0.02, 0.03, 0.04]


def test_cli_grid_set_dry_run_status(tmp_path, capsys):
    out = tmp_path / "smoke"
    args = [
        "--grid",
        "smoke",
        "--set",
        "n_steps=50",
        "--set",
        "eta=[0.05]",
        "--set",
        "dataset=digits",
        "--out",
        str(out),
        "--run-fn",
        f"{THIS_FILE}:fake_run",
    ]
    assert main(["run", *args, "--dry-run"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len([ln for ln in lines if ln.startswith("todo  fc_digits_eta0.05_b")]) == 2
    assert main(["run", *args, "--no-progress"]) == 0
    assert "smoke: 2 run, 0 already done, 0 failed of 2" in capsys.readouterr().out
    res = load_results(out)
    assert {r["config"]["n_steps"] for r in res} == {50} and {r["config"]["batch_size"] for r in res} == {
        1,
        10,
    }
    assert main(["run", *args, "--dry-run"]) == 0
    assert capsys.readouterr().out.count("done  fc_digits") == 2
    assert (
        main(
            [
                "status",
                "--out",
                str(out),
                "--grid",
                "smoke",
                "--set",
                "n_steps=50",
                "--set",
                "eta=[0.05]",
                "--run-fn",
                f"{THIS_FILE}:fake_run",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "2 valid results (0 diverged), 0 invalid, 0 failed runs" in text and "smoke: 2 of 2 done" in text
    assert main(["grids"]) == 0
    assert "paper-fc (48 runs)" in capsys.readouterr().out


def test_cli_failures_and_errors(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"base": base_config(batch_size=1), "axes": {"eta": [0.01, 0.02]}}))
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{eta: 0.1")
    assert (
        main(
            [
                "run",
                "--config",
                str(cfg),
                "--out",
                str(tmp_path / "o"),
                "--set",
                "fail=true",
                "--run-fn",
                f"{THIS_FILE}:fake_run",
                "--no-progress",
            ]
        )
        == 1
    )
    assert capsys.readouterr().err.count("FAILED") == 2
    for argv, match in [
        (["run", "--grid", "nope", "--out", str(tmp_path)], "unknown grid 'nope'"),
        (["run", "--grid", "smoke", "--set", "n_steps", "--out", str(tmp_path)], "--set expects key=value"),
        (
            ["run", "--grid", "smoke", "--config", str(cfg), "--out", str(tmp_path)],
            "either --grid or --config",
        ),
        (["run", "--out", str(tmp_path)], "give --grid NAME"),
        (["run", "--grid", "smoke", "--out", str(tmp_path), "--run-fn", "nocolon"], "module:function"),
        (["run", "--grid", "smoke", "--out", str(tmp_path), "--run-fn", "json:nothing"], "has no function"),
        (["status", "--out", str(tmp_path / "absent")], "no results folder"),
        (["download", "fashion", "--dir", str(tmp_path)], "no download for dataset 'fashion'"),
        (
            ["run", "--grid", "smoke", "--set", "eta=abc", "--out", str(tmp_path), "--dry-run"],
            "eta must be a real",
        ),
        (
            ["run", "--grid", "smoke", "--set", "eta=NaN", "--out", str(tmp_path), "--dry-run"],
            "eta must be finite",
        ),
        (
            ["run", "--grid", "smoke", "--set", "batch_size=2.5", "--out", str(tmp_path), "--dry-run"],
            "batch_size must be a whole number",
        ),
        (["run", "--config", str(bad_json), "--out", str(tmp_path)], f"--config {bad_json}: not a JSON file"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert match in err, argv
        assert err.count("\n") == 1 and err.startswith("error: "), err  # one line, no traceback
    with pytest.raises(SystemExit):
        main(["run", "--grid", "smoke"])  # argparse: --out is required


def test_cli_download_checks_sha(tmp_path, capsys, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"not the real archive"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        assert main(["download", "cifar10", "--dir", str(tmp_path), "--base-url", url, "--no-progress"]) == 2
    finally:
        httpd.shutdown()
        httpd.server_close()
    err = capsys.readouterr().err
    assert "has 20 bytes, expected 170498071" in err  # the built-in size/SHA-256 guard the real archive
    assert list((tmp_path / "cifar10").iterdir()) == []


def test_import_does_not_need_torch():
    code = "import sys, hts_lib.nn.experiments; print('torch' in sys.modules)"
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.stdout.strip() == "False", r.stderr


# ------------------------------------------------------------------------------------------
# end to end with the real training
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_sweeps(tmp_path_factory):
    """The same tiny sweep run twice with the real training (about 3 s on one core)."""
    pytest.importorskip("torch")
    pytest.importorskip("hts_lib.tails.estimators")  # training estimates alpha with it
    training = pytest.importorskip("hts_lib.nn.training")
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
            "eta": [0.05],
            "batch_size": [1, 10],
        },
    )
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    reps = [run_sweep(cfgs, d, progress=False) for d in (first, second)]
    return training, cfgs, first, reps, load_results(first), {r["run_id"]: r for r in load_results(second)}


def test_end_to_end_real_training(real_sweeps):
    training, cfgs, first, reps, res, again = real_sweeps
    assert all(rep.failed == () and rep.n_done == 2 for rep in reps)
    for r in res:
        assert r["config"] == training.normalise_config(r["config"])  # stored config is the normalised one
        assert r["run_id"] == run_id(training.normalise_config(r["config"]))
        assert r["provenance"]["torch"] is not None and r["device"] == "cpu"
        assert not r["diverged"] and 0 <= r["metrics"]["test_acc"] <= 1
        assert r["alpha"] and all(set(v) == {"alpha_stable", "hill"} for v in r["alpha"].values())
        # deterministic on CPU: a fresh run reproduces metrics, history and the point estimates
        b = again[r["run_id"]]
        assert (r["metrics"], r["metrics_average"], r["history"]) == (
            b["metrics"],
            b["metrics_average"],
            b["history"],
        )
        for layer, ests in r["alpha"].items():
            for name, est in ests.items():
                assert est["alpha"] == b["alpha"][layer][name]["alpha"]
    assert run_sweep(cfgs, first, progress=False).n_skipped == 2  # resume with the real normaliser


def test_real_training_result_is_a_pure_function_of_config(real_sweeps):
    # the contract: run_from_config is a pure function of the config on CPU; only the wall time
    # (and the runner's provenance) may differ between two runs of the same config
    _, _, _, _, res, again = real_sweeps

    def comparable(d):
        d = strip_provenance(d)
        d.pop("wall_time_s")
        d.pop("timings", None)  # seconds per phase, like the wall time
        return d

    for r in res:
        assert comparable(r) == comparable(again[r["run_id"]])
