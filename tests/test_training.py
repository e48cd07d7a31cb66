"""Tests for hts_lib.nn.training: the SGD loop, averaging, divergence, tail indices, run_from_config."""

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hts_lib.nn.data import load_dataset
from hts_lib.nn.nets import build_model
from hts_lib.nn.training import (
    AUTHORS_M,
    DEFAULT_CONFIG,
    evaluate,
    normalise_config,
    resolve_device,
    run_from_config,
    train_sgd,
    weight_tail_indices,
)

# A run that takes about a second: 300 real 8x8 digits, a width-16 net, 200 steps.
TINY = {
    "dataset": "digits",
    "n_train": 300,
    "n_test": 100,
    "width": 16,
    "eta": 0.05,
    "batch_size": 10,
    "n_steps": 200,
    "n_average": 50,
    "eval_every": 100,
}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=300, n_test=100, seed=0)


def _net(ds, seed=0, width=16):
    return build_model("fc", ds.input_shape, 10, seed=seed, width=width)


# ---------------------------------------------------------------- config
def test_normalise_config_fills_every_key_with_python_types():
    c = normalise_config({"eta": np.float32(0.5), "batch_size": np.int64(5)})
    assert list(c) == list(DEFAULT_CONFIG)
    assert type(c["eta"]) is float and type(c["batch_size"]) is int
    assert (c["n_train"], c["n_test"], c["n_steps"], c["n_average"]) == (4000, 1000, 10_000, 1000)
    assert normalise_config(c) == c  # idempotent
    assert normalise_config({"dataset": "digits", "eta": 1, "batch_size": 1})["n_train"] == 1437
    json.dumps(c)  # JSON-ready


def test_normalise_config_bad_input():
    ok = {"eta": 0.1, "batch_size": 5}
    with pytest.raises(ValueError, match=r"unknown config keys \['lr'\]"):
        normalise_config({**ok, "lr": 0.1})
    with pytest.raises(ValueError, match="config needs eta"):
        normalise_config({"batch_size": 5})
    with pytest.raises(ValueError, match="config needs batch_size"):
        normalise_config({"eta": 0.1})
    with pytest.raises(ValueError, match="eta must be > 0"):
        normalise_config({**ok, "eta": 0.0})
    with pytest.raises(ValueError, match="eta must be > 0"):
        normalise_config({**ok, "eta": -1e-3})
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        normalise_config({**ok, "batch_size": 0})
    with pytest.raises(ValueError, match="batch_size must be an integer <= 4000"):
        normalise_config({**ok, "batch_size": 4001})
    with pytest.raises(ValueError, match="n_average must be an integer <= 100"):
        normalise_config({**ok, "n_steps": 100})
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*mnist_subset"):
        normalise_config({**ok, "dataset": "imagenet"})
    with pytest.raises(ValueError, match="unknown model 'mlp'.*fc, cnn, lenet, vgg"):
        normalise_config({**ok, "model": "mlp"})
    with pytest.raises(ValueError, match="data_order must be one of"):
        normalise_config({**ok, "data_order": "random"})
    with pytest.raises(ValueError, match="device must be one of"):
        normalise_config({**ok, "device": "tpu"})
    with pytest.raises(ValueError, match="sharpness must be True or False"):
        normalise_config({**ok, "sharpness": "yes"})
    with pytest.raises(ValueError, match="trace_probes must be 0"):
        normalise_config({**ok, "trace_probes": 1})
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        normalise_config({**ok, "seed": -1})


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


# ---------------------------------------------------------------- the SGD loop
def test_train_sgd_is_deterministic_and_restores_torch_settings(digits):
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    a = train_sgd(_net(digits), digits, 0.05, 5, 150, n_average=30, data_order="shuffle", seed=1)
    b = train_sgd(_net(digits), digits, 0.05, 5, 150, n_average=30, data_order="shuffle", seed=1)
    c = train_sgd(_net(digits), digits, 0.05, 5, 150, n_average=30, data_order="shuffle", seed=2)
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == det
    np.testing.assert_array_equal(a.batch_losses, b.batch_losses)  # bitwise on CPU
    for k in a.average:
        np.testing.assert_array_equal(a.average[k], b.average[k])
    assert a.metrics == b.metrics and a.history == b.history
    assert not np.array_equal(a.batch_losses, c.batch_losses)  # the seed drives the shuffle


def test_streaming_average_equals_mean_of_stored_iterates(digits):
    stored = []

    def keep(step, model):
        stored.append({k: v.detach().double().clone() for k, v in model.named_parameters()})

    k_avg, n_steps = 40, 120
    net = _net(digits)
    res = train_sgd(net, digits, 0.05, 7, n_steps, n_average=k_avg, callback=keep)
    assert len(stored) == n_steps and res.n_average == k_avg
    for name, avg in res.average.items():
        plain = torch.stack([s[name] for s in stored[-k_avg:]]).mean(0).numpy()
        # float64 sums of 40 float32 iterates: rounding ~40 * 1e-16 relative; 1e-12 is a wide margin.
        np.testing.assert_allclose(avg, plain, rtol=1e-12, atol=1e-15)
    # the model is left at the final iterate (the last one the callback saw)
    for name, p in net.named_parameters():
        assert torch.equal(p.detach().double(), stored[-1][name])


def test_metrics_average_are_those_of_the_averaged_weights(digits):
    net = _net(digits)
    res = train_sgd(net, digits, 0.05, 10, 100, n_average=20)
    avg_net = copy.deepcopy(net)
    with torch.no_grad():
        for name, p in avg_net.named_parameters():
            p.copy_(torch.from_numpy(res.average[name]))
    loss, acc = evaluate(avg_net, digits.x_test, digits.y_test)
    assert res.metrics_average["test_acc"] == acc
    assert res.metrics_average["test_loss"] == pytest.approx(loss, rel=1e-6)  # float32 average of 100 losses
    loss_f, acc_f = evaluate(net, digits.x_train, digits.y_train)
    assert res.metrics["train_acc"] == acc_f
    assert res.metrics["gen_gap"] == pytest.approx(
        res.metrics["train_acc"] - res.metrics["test_acc"], abs=1e-15
    )
    assert list(res.averaged_layer_weights()) == ["layer1", "layer2", "layer3"]


class _Recorder(torch.nn.Module):
    """Linear classifier that records which examples (feature 0 = index) each step used."""

    def __init__(self):
        super().__init__()
        self.layer1 = torch.nn.Linear(2, 2, bias=False)
        self.seen = []

    def forward(self, x):
        if self.training:
            self.seen.append(x[:, 0].round().long().tolist())
        return self.layer1(x)


def _index_dataset(n):
    x = np.stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)], axis=1)
    y = np.arange(n) % 2
    return SimpleNamespace(x_train=x, y_train=y, x_test=x[:3], y_test=y[:3])


def test_cycle_order_is_fixed_consecutive_batches_with_short_last_batch():
    model = _Recorder()
    train_sgd(model, _index_dataset(10), 1e-6, 4, 7, n_average=0)
    # DataLoader(shuffle=False, drop_last=False): [0-3], [4-7], [8, 9], then again from 0.
    assert model.seen == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
        [0, 1, 2, 3],
    ]


def test_shuffle_order_is_a_permutation_per_epoch():
    model = _Recorder()
    train_sgd(model, _index_dataset(10), 1e-6, 5, 6, n_average=0, data_order="shuffle", seed=0)
    epochs = [model.seen[i] + model.seen[i + 1] for i in (0, 2, 4)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert len({tuple(e) for e in epochs}) == 3  # three different orders (probability of a tie ~ 1e-6)


def test_divergence_flagged_with_exact_step(digits):
    # eta = 1e8 overflows within a few steps (at eta ~ 1e4 this net collapses instead: all ReLUs
    # dead, loss log 10, finite, which is not flagged as divergence)
    res = train_sgd(_net(digits), digits, 1e8, 1, 500, n_average=100, eval_every=50)
    assert res.diverged and res.diverged_at is not None
    assert res.metrics is None and res.metrics_average is None and res.average is None
    losses = res.batch_losses
    first_bad = int(np.flatnonzero(~np.isfinite(losses))[0]) + 1
    assert res.diverged_at == first_bad  # 1-based step of the first non-finite minibatch loss
    assert np.all(np.isfinite(losses[: first_bad - 1]))
    assert res.n_steps < 500  # training stopped early


def test_train_sgd_bad_input(digits):
    net = _net(digits)
    with pytest.raises(ValueError, match="eta must be > 0"):
        train_sgd(net, digits, 0.0, 5, 10)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        train_sgd(net, digits, 0.1, 0, 10)
    with pytest.raises(ValueError, match="batch_size must be an integer <= 300"):
        train_sgd(net, digits, 0.1, 301, 10)
    with pytest.raises(ValueError, match="n_average must be an integer <= 10"):
        train_sgd(net, digits, 0.1, 5, 10, n_average=11)
    with pytest.raises(ValueError, match="data_order must be one of"):
        train_sgd(net, digits, 0.1, 5, 10, n_average=5, data_order="random")
    bad = SimpleNamespace(
        x_train=digits.x_train, y_train=digits.y_train[:-1], x_test=digits.x_test, y_test=digits.y_test
    )
    with pytest.raises(ValueError, match="x_train .* and y_train .* same number of examples"):
        train_sgd(net, bad, 0.1, 5, 10, n_average=5)
    bad = SimpleNamespace(
        x_train=digits.x_train, y_train=digits.y_train, x_test=digits.x_test[:, :, :4], y_test=digits.y_test
    )
    with pytest.raises(ValueError, match="same example shape"):
        train_sgd(net, bad, 0.1, 5, 10, n_average=5)
    wrong_in = build_model("fc", (1, 28, 28), 10, width=4)
    with pytest.raises(ValueError, match="model does not accept inputs of shape"):
        train_sgd(wrong_in, digits, 0.1, 5, 10, n_average=5)
    too_few = build_model("fc", digits.input_shape, 5, width=4)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\]"):
        train_sgd(too_few, digits, 0.1, 5, 10, n_average=5)
    with pytest.raises(ValueError, match="must have x_train"):
        train_sgd(net, SimpleNamespace(x_train=1), 0.1, 5, 10)
    with pytest.raises(ValueError, match="same number of rows"):
        evaluate(net, digits.x_test, digits.y_test[:-1])


# ---------------------------------------------------------------- tail indices of weights
def test_weight_tail_indices_follow_the_authors_protocol():
    from hts_lib.tails.estimators import alpha_stable, hill

    rng = np.random.default_rng(0)
    w = rng.standard_t(3, size=(60, 50))
    out = weight_tail_indices({"layer1": w})
    x = w.ravel() - w.mean()
    seed = np.random.default_rng(0).spawn(1)[0]  # weight_tail_indices spawns one stream per layer
    assert out["layer1"]["alpha_stable"] == alpha_stable(
        x, m=list(AUTHORS_M), seed=seed
    )  # 3,000 weights: all m
    assert out["layer1"]["hill"] == hill(x)
    # centring makes the estimate shift-invariant; both estimators are scale-invariant
    shifted = weight_tail_indices({"layer1": 3.0 * w + 7.0})["layer1"]
    assert shifted["alpha_stable"].alpha == pytest.approx(out["layer1"]["alpha_stable"].alpha, rel=1e-9)
    assert shifted["hill"].alpha == pytest.approx(out["layer1"]["hill"].alpha, rel=1e-9)


def test_weight_tail_indices_drop_block_sizes_that_leave_one_block():
    from hts_lib.tails.estimators import alpha_stable

    rng = np.random.default_rng(1)
    w = rng.standard_normal(1280)  # the paper's layer 3 size: m = 1000 leaves a single block
    out = weight_tail_indices({"layer3": torch.from_numpy(w)})
    expect = alpha_stable(
        w - w.mean(), m=[2, 5, 10, 20, 50, 100, 500], seed=np.random.default_rng(0).spawn(1)[0]
    )
    assert out["layer3"]["alpha_stable"] == expect


def test_weight_tail_indices_bad_input():
    with pytest.raises(ValueError, match="at least 50 values"):  # the estimators' minimum sample size
        weight_tail_indices({"layer1": np.ones(49)})
    with pytest.raises(ValueError, match="only finite values"):
        weight_tail_indices({"layer1": np.r_[np.nan, np.arange(60.0)]})
    with pytest.raises(ValueError, match="no block size"):
        weight_tail_indices({"layer1": np.arange(60.0)}, m=[40, 100])
    with pytest.raises(ValueError, match="m must be an integer >= 2"):
        weight_tail_indices({"layer1": np.arange(50.0)}, m=[1])
    with pytest.raises(ValueError, match="at least one block size"):
        weight_tail_indices({"layer1": np.arange(50.0)}, m=[])


# ---------------------------------------------------------------- run_from_config (the contract)
CONTRACT_KEYS = {
    "config",
    "diverged",
    "diverged_at",
    "metrics",
    "metrics_average",
    "alpha",
    "sharpness",
    "history",
    "device",
    "n_params",
    "wall_time_s",
    "timings",
}
METRIC_KEYS = {"train_loss", "train_acc", "test_loss", "test_acc", "gen_gap"}


@pytest.fixture(scope="module")
def tiny_result():
    return run_from_config(TINY)


def test_run_from_config_matches_the_contract(tiny_result):
    r = tiny_result
    assert set(r) == CONTRACT_KEYS
    assert r["config"] == normalise_config(TINY)
    assert r["diverged"] is False and r["diverged_at"] is None
    assert set(r["metrics"]) == METRIC_KEYS and set(r["metrics_average"]) == METRIC_KEYS
    assert list(r["alpha"]) == ["layer1", "layer2", "layer3"]
    for est in r["alpha"].values():
        assert set(est) == {"alpha_stable", "hill"}
        for e in est.values():
            assert {"alpha", "ci_low", "ci_high", "method", "flags"} <= set(e)
    s = r["sharpness"]
    assert {"top_eigenvalue", "converged", "n_iter", "trace"} <= set(s)
    assert s["converged"] is True and s["top_eigenvalue"] > 0 and s["trace"] is None
    assert [h["step"] for h in r["history"]] == [0, 100, 200]
    assert all(set(h) == {"step", "train_loss", "test_acc"} for h in r["history"])
    assert r["device"] == "cpu" and r["n_params"] == 64 * 16 + 16 * 16 + 16 * 10
    assert r["history"][-1]["train_loss"] < r["history"][0]["train_loss"]  # it learned something
    json.dumps(r, allow_nan=False)  # strict JSON


def test_run_from_config_validates_against_the_runner_schema(tiny_result):
    from hts_lib.nn import experiments

    record = {
        **tiny_result,
        "run_id": "test",
        "provenance": {
            "hts_lib_version": "0",
            "git_revision": None,
            "python": "3",
            "numpy": "2",
            "torch": "2",
            "platform": "x",
            "started": "t0",
            "finished": "t1",
        },
    }
    experiments.validate_result(record)


def test_run_from_config_is_deterministic_and_leaves_global_rng_alone(tiny_result):
    state = torch.get_rng_state()
    again = run_from_config(TINY)
    assert torch.equal(state, torch.get_rng_state())
    strip = lambda r: {k: v for k, v in r.items() if k not in ("wall_time_s", "timings")}  # noqa: E731
    assert strip(again) == strip(tiny_result)


def test_run_from_config_diverged_run_has_no_alpha_and_no_sharpness():
    r = run_from_config({**TINY, "eta": 1e8, "batch_size": 1})
    assert r["diverged"] is True and isinstance(r["diverged_at"], int) and r["diverged_at"] >= 1
    assert r["alpha"] == {} and r["sharpness"] is None
    assert r["metrics"] is None and r["metrics_average"] is None
    json.dumps(r, allow_nan=False)  # non-finite losses in the history are written as null


def test_run_from_config_cnn_with_trace_and_no_sharpness():
    r = run_from_config(
        {
            **TINY,
            "model": "cnn",
            "n_steps": 60,
            "n_average": 20,
            "eval_every": 30,
            "trace_probes": 4,
            "data_order": "shuffle",
        }
    )
    assert list(r["alpha"]) == ["layer1", "layer2", "layer3"]
    assert r["sharpness"]["n_probes"] == 4 and r["sharpness"]["trace"] is not None
    r2 = run_from_config({**TINY, "sharpness": False, "n_steps": 20, "n_average": 5})
    assert r2["sharpness"] is None and r2["alpha"]


def test_run_from_config_leaves_out_layers_too_small_to_estimate():
    # width_scale 0.25 on the 8x8 digits: layer1 has 1 * 2 * 9 = 18 weights (< 50), layer2 2 * 4 * 9 = 72
    r = run_from_config(
        {**TINY, "model": "cnn", "width_scale": 0.25, "n_steps": 20, "n_average": 5, "sharpness": False}
    )
    assert list(r["alpha"]) == ["layer2", "layer3"]


def test_run_from_config_bad_input():
    with pytest.raises(ValueError, match="unknown config keys"):
        run_from_config({**TINY, "momentum": 0.9})
    with pytest.raises(ValueError, match="eta must be > 0"):
        run_from_config({**TINY, "eta": 0})
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        run_from_config({**TINY, "batch_size": 0})
