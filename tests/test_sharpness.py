"""Tests for hts_lib.nn.sharpness against the exact Hessian of tiny networks."""

import numpy as np
import pytest
import torch
from torch.func import functional_call

from hts_lib.nn.nets import build_model
from hts_lib.nn.sharpness import (
    DENSE_LIMIT,
    hessian_trace,
    hessian_vector_product,
    sharpness,
    top_hessian_eigenvalue,
)


def _tiny_problem(width=6, n_in=5, n_classes=3, n=40, seed=0):
    """A float64 bias-free ReLU net and random data, so the Hessian is exact to ~1e-15."""
    net = build_model("fc", (n_in,), n_classes, seed=seed, width=width, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_in, dtype=torch.float64, generator=g)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return net, x, y


def _exact_hessian(net, x, y):
    names = [k for k, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]

    def loss_of_flat(flat):
        params, o = {}, 0
        for k, s, m in zip(names, shapes, sizes):
            params[k] = flat[o : o + m].view(s)
            o += m
        return torch.nn.functional.cross_entropy(functional_call(net, params, (x,)), y)

    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    return torch.autograd.functional.hessian(loss_of_flat, flat).numpy()


def test_hvp_matches_exact_hessian_and_is_chunk_invariant():
    net, x, y = _tiny_problem()
    h = _exact_hessian(net, x, y)
    hvp, n = hessian_vector_product(net, x, y)
    hvp7, _ = hessian_vector_product(net, x, y, chunk_size=7)  # 40 = 5 * 7 + 5: unequal chunks
    v = torch.from_numpy(np.random.default_rng(1).standard_normal(n))
    # float64 products of O(1) numbers over ~100 terms: rounding ~1e-14; 1e-10 is a wide margin.
    np.testing.assert_allclose(hvp(v).numpy(), h @ v.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(hvp7(v).numpy(), h @ v.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_eigenvalue_lanczos_matches_exact_within_tolerance(seed):
    net, x, y = _tiny_problem(seed=seed)
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params > DENSE_LIMIT  # exercise the Lanczos path, not the dense one
    lam_exact = np.linalg.eigvalsh(_exact_hessian(net, x, y))[-1]
    tol = 1e-8
    est = top_hessian_eigenvalue(net, x, y, tol=tol, seed=seed)
    assert est.converged and est.method == "lanczos" and est.n_iter >= 1
    # ARPACK's stopping rule bounds |lambda_hat - lambda| by tol * |lambda_hat| (symmetric H);
    # 1e-12 absorbs float64 rounding of the products.
    assert abs(est.top_eigenvalue - lam_exact) <= tol * abs(est.top_eigenvalue) + 1e-12


def test_top_eigenvalue_float32_model_close_to_float64():
    net, x, y = _tiny_problem(seed=4)
    lam64 = top_hessian_eigenvalue(net, x, y, tol=1e-8).top_eigenvalue
    est32 = top_hessian_eigenvalue(net.float(), x.float(), y, tol=1e-4)
    # tolerance 1e-4 relative from the stopping rule, plus float32 rounding (~1e-6 relative).
    assert est32.converged
    assert abs(est32.top_eigenvalue - lam64) <= 1e-4 * abs(lam64) + 1e-5 * abs(lam64)


def test_dense_path_for_tiny_models():
    net, x, y = _tiny_problem(width=2, n_in=3, n_classes=2)
    assert sum(p.numel() for p in net.parameters()) <= DENSE_LIMIT
    est = top_hessian_eigenvalue(net, x, y)
    assert est.method == "dense" and est.converged
    # exact diagonalisation of the same matrix: only rounding differs.
    assert est.top_eigenvalue == pytest.approx(np.linalg.eigvalsh(_exact_hessian(net, x, y))[-1], abs=1e-12)


def test_nonconvergence_is_reported():
    net = build_model("fc", (20,), 5, seed=0, width=32, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 20, dtype=torch.float64, generator=g)
    y = torch.randint(0, 5, (200,), generator=g)
    # one ARPACK restart cannot reach a 1e-10 relative residual on this 1,824-parameter Hessian
    est = top_hessian_eigenvalue(net, x, y, tol=1e-10, max_hvp=1)
    assert not est.converged
    assert est.n_iter <= 40  # a single restart: about ncv = 20 products plus the start-up
    ok = top_hessian_eigenvalue(net, x, y, tol=1e-10)
    assert ok.converged and np.isfinite(ok.top_eigenvalue)


def test_zero_hessian_of_a_collapsed_relu_net():
    # layer1 = 0: every ReLU is dead (relu'(0) = 0 in torch), the output is 0 whatever the other
    # weights, so the Hessian is exactly zero; ARPACK alone would fail ("starting vector is zero").
    net = build_model("fc", (20,), 5, seed=0, width=32)
    with torch.no_grad():
        net.layer1.weight.zero_()
    g = torch.Generator().manual_seed(0)
    est = top_hessian_eigenvalue(
        net, torch.randn(100, 20, generator=g), torch.randint(0, 5, (100,), generator=g)
    )
    assert est.top_eigenvalue == 0.0 and est.converged


def test_hutchinson_trace_within_three_standard_errors():
    net, x, y = _tiny_problem(seed=3)
    h = _exact_hessian(net, x, y)
    n_probes = 400
    est = hessian_trace(net, x, y, n_probes=n_probes, seed=11)
    # Seeded stochastic check: the estimate is a mean of 400 i.i.d. terms, so |error| < 3 SE
    # (fails with probability ~0.3 % for an unlucky seed; the seed is fixed).
    assert abs(est.trace - np.trace(h)) < 3 * est.se
    # Var(v'Hv) = 2 * sum_{i != j} H_ij^2 for Rademacher v (Hutchinson 1990). The sample SE of
    # 400 draws is within 25 % of the true one (relative SE of a sample sd is ~1/sqrt(2n) ~ 4 %,
    # inflated by the kurtosis of a quadratic form; 25 % is > 3 of those).
    off = h - np.diag(np.diag(h))
    se_true = np.sqrt(2 * (off**2).sum() / n_probes)
    assert abs(est.se / se_true - 1) < 0.25


def test_sharpness_combines_and_is_deterministic():
    net, x, y = _tiny_problem(seed=5)
    a = sharpness(net, x, y, n_probes=10, seed=2)
    b = sharpness(net, x, y, n_probes=10, seed=2)
    assert a == b
    assert a.trace is not None and a.n_probes == 10
    # For any symmetric H, lambda_max >= mean eigenvalue = tr(H) / n (exact inequality).
    assert a.top_eigenvalue >= np.trace(_exact_hessian(net, x, y)) / sum(p.numel() for p in net.parameters())
    c = sharpness(net, x, y)
    assert (
        c.trace is None and c.n_probes == 0 and c.top_eigenvalue == pytest.approx(a.top_eigenvalue, rel=1e-4)
    )


def test_training_mode_restored():
    net, x, y = _tiny_problem()
    net.train()
    top_hessian_eigenvalue(net, x, y)
    assert net.training


def test_bad_input():
    net, x, y = _tiny_problem()
    with pytest.raises(ValueError, match="tol must be > 0"):
        top_hessian_eigenvalue(net, x, y, tol=0)
    with pytest.raises(ValueError, match="tol must be <= 0.1"):
        top_hessian_eigenvalue(net, x, y, tol=0.5)
    with pytest.raises(ValueError, match="max_hvp must be an integer >= 1"):
        top_hessian_eigenvalue(net, x, y, max_hvp=0)
    with pytest.raises(ValueError, match="same number of rows"):
        hessian_vector_product(net, x, y[:-1])
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1"):
        hessian_vector_product(net, x, y, chunk_size=0)
    with pytest.raises(ValueError, match="n_probes must be an integer >= 2"):
        hessian_trace(net, x, y, n_probes=1)
    with pytest.raises(ValueError, match="n_probes must be 0 .* or >= 2"):
        sharpness(net, x, y, n_probes=1)
    with pytest.raises(ValueError, match="x must hold at least one row"):
        hessian_vector_product(net, x[:0], y[:0])
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        top_hessian_eigenvalue(1.0, x, y)
    with pytest.raises(ValueError, match="x of shape .* does not fit the model"):
        hessian_trace(net, x[:, :-1], y)
    with pytest.raises(ValueError, match=r"y must hold class labels in \[0, "):
        sharpness(net, x, y + 100)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        hessian_vector_product(net, x, y, loss_fn="mse")
