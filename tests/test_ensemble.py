"""Tests for hts_lib.nn.ensemble: the batched trainer against the per-run trainer, run by run."""

import numpy as np
import pytest
import torch

from hts_lib.nn.data import load_dataset
from hts_lib.nn.ensemble import ensemble_groups, run_ensemble, run_ensemble_sweep, train_ensemble
from hts_lib.nn.experiments import load_results
from hts_lib.nn.nets import build_model, lenet5
from hts_lib.nn.training import run_from_config, train_sgd

# Float32 models: the ensemble and the per-run trainer compute the same update with batched
# instead of single matrix products, so they agree to float32 rounding (about 1e-7 relative per
# step), which SGD amplifies slowly over a short run at a small step size. 2e-5 on weights of
# size ~0.05 after 200 steps leaves a factor 100 over the differences seen (2e-7 to 1e-6).
WEIGHT_ATOL = 2e-5
LOSS_ATOL = 1e-4  # minibatch losses of order 1: same reasoning, relative 1e-4


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=300, n_test=100, seed=0)


def _seed_streams(seeds):
    # the runner's seeding: default_rng(seed).spawn(3)[0] drives the data order
    return [np.random.default_rng(s).spawn(3)[0] for s in seeds]


def _compare(ens, ref):
    assert ens.diverged == ref.diverged and ens.n_steps == ref.n_steps
    for name in ref.average:
        np.testing.assert_allclose(ens.average[name], ref.average[name], rtol=0, atol=WEIGHT_ATOL)
    np.testing.assert_allclose(ens.batch_losses, ref.batch_losses, rtol=0, atol=LOSS_ATOL)
    for key in ("train_loss", "test_loss"):
        assert ens.metrics_average[key] == pytest.approx(ref.metrics_average[key], abs=LOSS_ATOL)
    assert [h["step"] for h in ens.history] == [h["step"] for h in ref.history]


@pytest.mark.parametrize("engine", ["fused", "vmap"])
@pytest.mark.parametrize("order", ["cycle", "permuted", "shuffle"])
def test_ensemble_matches_train_sgd_run_by_run(digits, engine, order):
    seeds, etas = [0, 1, 2, 3], [0.02, 0.05, 0.05, 0.1]
    nets = [build_model("fc", digits.input_shape, 10, seed=s, width=16) for s in seeds]
    res = train_ensemble(
        nets,
        digits,
        etas,
        7,
        200,
        n_average=50,
        eval_every=100,
        data_order=order,
        seeds=_seed_streams(seeds),
        engine=engine,
    )
    for i, s in enumerate(seeds):
        net = build_model("fc", digits.input_shape, 10, seed=s, width=16)
        ref = train_sgd(
            net,
            digits,
            etas[i],
            7,
            200,
            n_average=50,
            eval_every=100,
            data_order=order,
            seed=_seed_streams([s])[0],
        )
        _compare(res[i], ref)
        # the final iterate is written back into the model passed in
        for (_, p), (_, q) in zip(nets[i].named_parameters(), net.named_parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=0, atol=WEIGHT_ATOL)


def test_ensemble_matches_train_sgd_for_a_cnn():
    ds = load_dataset("mnist_subset", n_train=200, n_test=50, seed=0)
    seeds = [0, 1]
    nets = [build_model("lenet", ds.input_shape, 10, seed=s) for s in seeds]
    res = train_ensemble(
        nets, ds, 0.01, 5, 60, n_average=20, eval_every=30, data_order="permuted", seeds=_seed_streams(seeds)
    )
    for i, s in enumerate(seeds):
        ref = train_sgd(
            build_model("lenet", ds.input_shape, 10, seed=s),
            ds,
            0.01,
            5,
            60,
            n_average=20,
            eval_every=30,
            data_order="permuted",
            seed=_seed_streams([s])[0],
        )
        _compare(res[i], ref)


def test_divergence_is_flagged_per_model_and_spares_the_others(digits):
    nets = [build_model("fc", digits.input_shape, 10, seed=0, width=16) for _ in range(2)]
    res = train_ensemble(nets, digits, [0.05, 1e6], 10, 300, n_average=50, eval_every=100)
    ref = train_sgd(
        build_model("fc", digits.input_shape, 10, seed=0, width=16),
        digits,
        1e6,
        10,
        300,
        n_average=50,
        eval_every=100,
    )
    assert ref.diverged and res[1].diverged and res[1].diverged_at == ref.diverged_at
    assert res[1].metrics is None and res[1].average is None and res[1].n_average == 0
    assert not res[0].diverged and res[0].metrics["train_acc"] > 0.5
    solo = train_sgd(
        build_model("fc", digits.input_shape, 10, seed=0, width=16),
        digits,
        0.05,
        10,
        300,
        n_average=50,
        eval_every=100,
    )
    _compare(res[0], solo)


def test_record_fn_sees_the_last_iterates(digits):
    nets = [build_model("fc", digits.input_shape, 10, seed=s, width=8) for s in range(3)]
    seen = []
    train_ensemble(
        nets,
        digits,
        0.05,
        5,
        100,
        n_average=10,
        eval_every=100,
        record_every=10,
        record_last=40,
        record_fn=lambda step, p: seen.append((step, p["layer1.weight"][:, 0, 0].clone())),
    )
    assert [s for s, _ in seen] == [70, 80, 90, 100]
    assert seen[-1][1].shape == (3,)
    last = [n.layer1.weight[0, 0].item() for n in nets]
    np.testing.assert_allclose(seen[-1][1].numpy(), last, rtol=0, atol=0)  # the same numbers


def test_average_is_the_mean_of_the_last_iterates(digits):
    nets = [build_model("fc", digits.input_shape, 10, seed=s, width=16) for s in (0, 1)]
    seen = []
    res = train_ensemble(
        nets,
        digits,
        [0.05, 0.1],
        7,
        100,
        n_average=25,  # blocks of 10, 10 and 5 iterates: the last block is partial
        eval_every=50,
        record_every=1,
        record_last=25,
        record_fn=lambda step, p: seen.append({k: v.double().clone() for k, v in p.items()}),
    )
    assert len(seen) == 25
    for name in seen[0]:
        mean = torch.stack([s[name] for s in seen]).mean(dim=0)
        for i in range(2):
            # float32 sums of k <= 10 iterates err by at most (k - 1) * 2**-24 * (sum of |w|), so the three
            # blocks by (9 * 10 + 9 * 10 + 4 * 5) * 2**-24 * max|w| = 200 * 2**-24 * max|w|, the mean of 25
            # by 8 * 2**-24 * max|w|: the bound below is 10 of those units (float64 steps add ~1e-16).
            w_max = float(mean[i].abs().max())
            np.testing.assert_allclose(
                res[i].average[name], mean[i].numpy(), rtol=0, atol=10 * 2**-24 * w_max
            )


def test_run_ensemble_matches_run_from_config():
    base = {
        "dataset": "digits",
        "n_train": 300,
        "n_test": 100,
        "width": 16,
        "batch_size": 10,
        "n_steps": 200,
        "n_average": 50,
        "eval_every": 100,
        "data_order": "permuted",
    }
    cfgs = [{**base, "eta": 0.05, "seed": 0}, {**base, "eta": 0.08, "seed": 3}]
    ens = run_ensemble(cfgs)
    for cfg, rec in zip(cfgs, ens):
        ref = run_from_config(cfg)
        assert rec["config"] == ref["config"] and rec["trainer"] == "ensemble"
        # the same record, built by the same code: same keys, and every phase of the run timed
        assert set(rec) - {"trainer"} == set(ref) and set(rec["timings"]) == set(ref["timings"])
        assert rec["timings"]["training_s"] > 0 and rec["timings"]["tail_estimates_s"] > 0
        assert rec["sharpness"]["subset"] == ref["sharpness"]["subset"] == "all"
        for layer, est in ref["alpha"].items():
            # same weights to 2e-5 and the same bootstrap stream: the estimates agree closely
            assert rec["alpha"][layer]["hill"]["alpha"] == pytest.approx(est["hill"]["alpha"], rel=1e-3)
        lam, lam_ref = rec["sharpness"]["top_eigenvalue"], ref["sharpness"]["top_eigenvalue"]
        assert lam == pytest.approx(lam_ref, rel=1e-3)  # Lanczos tolerance 1e-4, weights within 2e-5


def test_run_ensemble_sweep_writes_valid_files_and_resumes(tmp_path):
    cfgs = [
        {
            "dataset": "digits",
            "n_train": 200,
            "n_test": 50,
            "width": 8,
            "eta": e,
            "batch_size": 10,
            "n_steps": 50,
            "n_average": 10,
            "eval_every": 50,
            "sharpness": False,
            "seed": s,
        }
        for e in (0.05, 0.1)
        for s in (0, 1)
    ]
    rep = run_ensemble_sweep(cfgs, tmp_path, progress=False, extra_provenance={"source_hash": "abc"})
    assert rep.n_done == 4 and rep.complete
    recs = load_results(tmp_path)
    assert len(recs) == 4 and {r["provenance"]["ensemble_size"] for r in recs} == {4}
    assert {r["provenance"]["source_hash"] for r in recs} == {"abc"}
    assert run_ensemble_sweep(cfgs, tmp_path, progress=False).n_skipped == 4


def test_groups_and_bad_input(digits):
    cfgs = [{"eta": 0.1, "batch_size": b, "seed": s} for b in (1, 5) for s in range(3)]
    assert [len(g) for g in ensemble_groups(cfgs, max_models=2)] == [2, 1, 2, 1]
    with pytest.raises(ValueError, match="may differ only in"):
        run_ensemble([{"eta": 0.1, "batch_size": 1}, {"eta": 0.1, "batch_size": 5}])
    net = build_model("fc", digits.input_shape, 10, seed=0, width=8)
    with pytest.raises(ValueError, match="models must hold at least one"):
        train_ensemble([], digits, 0.1, 5, 10, n_average=5)
    with pytest.raises(ValueError, match="etas must be one float or one per model"):
        train_ensemble([net, net], digits, [0.1, 0.1, 0.1], 5, 10, n_average=5)
    with pytest.raises(ValueError, match="etas must be finite and > 0"):
        train_ensemble([net], digits, [0.0], 5, 10, n_average=5)
    with pytest.raises(ValueError, match="same parameter names and shapes"):
        other = build_model("fc", digits.input_shape, 10, seed=0, width=9)
        train_ensemble([net, other], digits, 0.1, 5, 10, n_average=5)
    with pytest.raises(ValueError, match="engine='fused' needs a bias-free ReLU MLP"):
        cnn = lenet5((1, 8, 8), 10, kernel_size=1)
        train_ensemble([cnn], digits, 0.1, 5, 10, engine="fused", n_average=5)
    with pytest.raises(ValueError, match="engine must be"):
        train_ensemble([net], digits, 0.1, 5, 10, engine="jit", n_average=5)
    with pytest.raises(ValueError, match="seeds must hold one seed per model"):
        train_ensemble([net], digits, 0.1, 5, 10, seeds=[0, 1], n_average=5)
    with pytest.raises(ValueError, match="max_models"):
        ensemble_groups(cfgs, max_models=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device (benchmarks/gpu_ensemble_check.py)")
def test_cuda_ensemble_matches_cpu(digits):
    nets = [build_model("fc", digits.input_shape, 10, seed=s, width=16) for s in range(2)]
    gpu = train_ensemble(nets, digits, 0.05, 10, 100, n_average=20, eval_every=100, device="cuda")
    cpu = [
        train_sgd(
            build_model("fc", digits.input_shape, 10, seed=s, width=16),
            digits,
            0.05,
            10,
            100,
            n_average=20,
            eval_every=100,
        )
        for s in range(2)
    ]
    for g, c in zip(gpu, cpu):
        for name in c.average:  # different kernels (TF32 off by default for float32 matmul): looser
            np.testing.assert_allclose(g.average[name], c.average[name], rtol=0, atol=1e-3)


def test_record_iterates_shapes_and_values(digits):
    from hts_lib.nn.ensemble import record_iterates

    nets = [build_model("fc", digits.input_shape, 10, seed=s, width=8) for s in range(3)]
    rec = record_iterates(nets, digits, 0.05, 5, 100, last=50, every=10, n_weights=3, n_projections=2, seed=0)
    assert rec.steps.tolist() == [60, 70, 80, 90, 100]
    assert rec.weights.shape == (5, 3, 3) and rec.projections.shape == (5, 3, 2)
    # the last row holds the final iterates (written back into the models): the same numbers
    final = np.stack([n.layer1.weight.detach().numpy().ravel()[rec.coordinates] for n in nets])
    np.testing.assert_array_equal(rec.weights[-1], final)
    dev = rec.deviations("projections")
    assert dev.shape == (15, 2)
    # each run's time mean is removed: per-run means vanish up to float64 rounding of 5 float32 values
    np.testing.assert_allclose(dev.reshape(5, 3, 2).mean(axis=0), 0, atol=1e-6)
    with pytest.raises(ValueError, match="layer 'layer9' has no weight"):
        record_iterates(nets, digits, 0.05, 5, 100, last=50, every=10, layer="layer9")


def test_run_sweep_dispatches_sweeps_to_the_ensemble(tmp_path):
    from hts_lib.nn.experiments import run_sweep

    base = {
        "dataset": "digits",
        "n_train": 200,
        "n_test": 50,
        "width": 8,
        "batch_size": 10,
        "n_steps": 40,
        "n_average": 10,
        "eval_every": 40,
        "sharpness": False,
    }
    cfgs = [{**base, "eta": e, "seed": s} for e in (0.05, 0.1) for s in (0, 1)]
    run_sweep(cfgs, tmp_path / "auto", progress=False)
    run_sweep(cfgs, tmp_path / "one", progress=False, trainer="per-run")
    auto, one = load_results(tmp_path / "auto"), load_results(tmp_path / "one")
    assert {r.get("trainer") for r in auto} == {"ensemble"} and {r.get("trainer") for r in one} == {None}
    assert all(r["provenance"]["source_hash"] for r in auto)
    by_id = {r["run_id"]: r for r in one}
    for r in auto:  # the two trainers agree on the same run (float32 rounding in the batched products)
        ref = by_id[r["run_id"]]["metrics"]["train_loss"]
        assert r["metrics"]["train_loss"] == pytest.approx(ref, rel=1e-4)
    with pytest.raises(ValueError, match="trainer"):
        run_sweep(cfgs, tmp_path / "bad", progress=False, trainer="batched")
    with pytest.raises(ValueError, match="per-run"):
        run_sweep(cfgs, tmp_path / "bad", progress=False, trainer="ensemble", run_fn=dict)
