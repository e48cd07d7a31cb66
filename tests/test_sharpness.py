"""Tests for hts_lib.nn.sharpness against the exact Hessian of tiny networks."""

import numpy as np
import pytest
import torch
from torch.func import functional_call

from hts_lib.nn.nets import build_model
from hts_lib.nn.sharpness import (
    DENSE_LIMIT,
    LANCZOS_VECTORS,
    _lanczos_top,
    _MlpHessian,
    ensemble_sharpness,
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
    # the stopping rule (ARPACK's) bounds |lambda_hat - lambda| by tol * |lambda_hat| (symmetric H);
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
    # one product cannot reach a 1e-10 relative residual on this 1,824-parameter Hessian
    est = top_hessian_eigenvalue(net, x, y, tol=1e-10, max_hvp=1)
    assert not est.converged and np.isnan(est.top_eigenvalue)
    assert est.n_iter == 1  # the budget is exact
    ok = top_hessian_eigenvalue(net, x, y, tol=1e-10)
    assert ok.converged and np.isfinite(ok.top_eigenvalue)


def test_zero_hessian_of_a_collapsed_relu_net():
    # layer1 = 0: every ReLU is dead (relu'(0) = 0 in torch), the output is 0 whatever the other
    # weights, so the Hessian is exactly zero: the first product is 0 and Lanczos stops there.
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


def _mlp_ensemble(depth, n_models=3, n=60, n_in=6, width=12, seed=0):
    nets = [
        build_model("fc", (n_in,), 4, seed=seed + i, width=width, depth=depth, dtype=torch.float64)
        for i in range(n_models)
    ]
    g = torch.Generator().manual_seed(seed)
    return (
        nets,
        torch.randn(n, n_in, dtype=torch.float64, generator=g),
        torch.randint(0, 4, (n,), generator=g),
    )


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_closed_form_mlp_products_match_autograd(depth):
    nets, x, y = _mlp_ensemble(depth)
    ops = _MlpHessian(nets, x, y)
    n = sum(p.numel() for p in nets[0].parameters())
    u = torch.from_numpy(np.random.default_rng(depth).standard_normal((3, n)))
    refs = [hessian_vector_product(net, x, y)[0](row) for net, row in zip(nets, u)]
    # float64 on O(1) numbers: the two computations differ by rounding (~1e-15); 1e-10 is a wide margin
    np.testing.assert_allclose(ops(u).numpy(), torch.stack(refs).numpy(), rtol=0, atol=1e-10)
    ops.keep(torch.tensor([2, 0]))  # dropping a model keeps the others' products
    np.testing.assert_allclose(ops(u[[2, 0]]).numpy(), torch.stack([refs[2], refs[0]]).numpy(), atol=1e-10)


class _Diagonal:
    """Symmetric test operators with known spectra: H_i = diag(d_i)."""

    def __init__(self, diagonals):
        self.d, self.dtype, self.calls = torch.as_tensor(diagonals, dtype=torch.float64), torch.float64, 0

    def keep(self, rows):
        self.d = self.d[rows]

    def __call__(self, u):
        self.calls += 1
        return u * self.d


def test_lanczos_finds_known_top_eigenvalues_with_and_without_restarts():
    rng = np.random.default_rng(0)
    dim = 400
    easy = np.linspace(-1.0, 1.0, dim)
    easy[-1] = 3.0  # well separated: converges long before the basis is full
    hard = np.linspace(0.0, 1.0, dim)  # gaps 1/399 at the top: needs restarts
    negative = -np.linspace(1.0, 2.0, dim)  # the largest (algebraic) eigenvalue is -1
    ops = _Diagonal(np.stack([easy, hard, negative]))
    tol = 1e-6
    values, converged, used = _lanczos_top(ops, torch.from_numpy(rng.standard_normal((3, dim))), tol, 2000)
    assert converged.all()
    # the stopping rule bounds the distance to some eigenvalue by tol * |theta|; with a random start it
    # is the top one. 1e-12 absorbs float64 rounding of the recursion.
    np.testing.assert_array_less(np.abs(values - np.array([3.0, 1.0, -1.0])), tol * np.abs(values) + 1e-12)
    assert used[0] < LANCZOS_VECTORS < used[1]  # the separated top converges in one basis, the clustered not
    assert ops.calls == used.max()  # one batched product per step, converged operators dropped


def test_lanczos_budget_exhausted_is_nan_and_flagged():
    ops = _Diagonal(np.linspace(0.0, 1.0, 500)[None, :])
    values, converged, used = _lanczos_top(ops, torch.ones(1, 500, dtype=torch.float64), 1e-12, 7)
    assert np.isnan(values[0]) and not converged[0] and used[0] == 7


def test_ensemble_sharpness_matches_model_by_model_and_arpack():
    from scipy.sparse.linalg import LinearOperator, eigsh

    nets, x, y = _mlp_ensemble(3, n_models=3, n=80, width=20)
    tol = 1e-8
    ests = ensemble_sharpness(nets, x, y, tol=tol, seeds=[0, 1, 2])
    for net, est, seed in zip(nets, ests, [0, 1, 2]):
        assert est.converged and est.method == "lanczos"
        alone = sharpness(net, x, y, tol=tol, seed=seed)
        # the same recursion from the same start; batched and single matrix products round differently
        # (float64: ~1e-16 relative per product), so the values agree to far better than 1e-12
        assert est.n_iter == alone.n_iter and est.top_eigenvalue == pytest.approx(
            alone.top_eigenvalue, rel=1e-12
        )
        hvp, n = hessian_vector_product(net, x, y)
        op = LinearOperator((n, n), matvec=lambda v, hvp=hvp: hvp(torch.from_numpy(v.ravel())).numpy())
        lam = eigsh(op, k=1, which="LA", tol=1e-12, return_eigenvectors=False)[0]  # ARPACK, independent
        # both stop within tol * |lambda| of the top eigenvalue; 1e-12 absorbs rounding
        assert abs(est.top_eigenvalue - lam) <= tol * abs(lam) + 1e-12


def test_ensemble_sharpness_of_models_with_biases_uses_autograd_and_is_exact():
    nets = [build_model("fc", (5,), 3, seed=s, width=8, bias=True, dtype=torch.float64) for s in (0, 1)]
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 5, dtype=torch.float64, generator=g), torch.randint(0, 3, (50,), generator=g)
    tol = 1e-8
    for net, est in zip(nets, ensemble_sharpness(nets, x, y, tol=tol, seeds=[3, 4])):
        lam = np.linalg.eigvalsh(_exact_hessian(net, x, y))[-1]
        assert est.converged and abs(est.top_eigenvalue - lam) <= tol * abs(lam) + 1e-12


def test_ensemble_sharpness_bad_input():
    nets, x, y = _mlp_ensemble(2, n_models=2)
    with pytest.raises(TypeError, match="models must be a sequence of torch.nn.Module"):
        ensemble_sharpness(nets[0], x, y)
    with pytest.raises(ValueError, match="models must hold at least one model"):
        ensemble_sharpness([], x, y)
    with pytest.raises(ValueError, match=r"seeds must hold one seed per model \(2\), got 1"):
        ensemble_sharpness(nets, x, y, seeds=[0])
    with pytest.raises(TypeError, match="seeds must be a sequence"):
        ensemble_sharpness(nets, x, y, seeds=3)
    wide = build_model("fc", (6,), 4, seed=0, width=13, depth=2, dtype=torch.float64)
    with pytest.raises(ValueError, match="same number of trainable parameters"):
        ensemble_sharpness([nets[0], wide], x, y)
    with pytest.raises(ValueError, match="n_probes must be 0"):
        ensemble_sharpness(nets, x, y, n_probes=1)
