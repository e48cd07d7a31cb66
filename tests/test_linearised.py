"""Tests for hts_lib.nn.linearised: the linearised tail index against the exact engine, minima, chains."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hts_lib.nn.linearised import (
    check_minimum,
    digits_mlp,
    find_minimum,
    linearised_tail_index,
    minibatch_hvp,
    mlp_minibatch_hvp,
    mnist_fc,
    sgd_chains_from_minimum,
    teacher_student,
)
from hts_lib.recursion import tail_index
from hts_lib.simulate import step_size_for_tail_index

try:  # the exact engine's h(s) (renamed log_moment in hts_lib 0.2)
    from hts_lib.recursion import log_moment
except ImportError:  # pragma: no cover
    from hts_lib.recursion import moment_function as log_moment


def _lsq(p, x, t):
    return 0.5 * ((x @ p["w"] - t) ** 2).mean()


def _regression(n, d, seed=1):
    """Least squares on isotropic Gaussian rows (sigma = 1) with label noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, dtype=torch.float64, generator=g)
    w = torch.randn(d, dtype=torch.float64, generator=g)
    return {"w": w}, (x, x @ w + 0.5 * torch.randn(n, dtype=torch.float64, generator=g))


# 200,000 rows: the empirical covariance's eigenvalues lie within 1 +- 2 sqrt(d / n) = 1 +- 1.4 % (d = 10),
# so the finite-data alpha is within about 1 % of the online one.
N_ROWS = 200_000

# (target alpha, batch size, dimension): alpha from 0.5 to 6, away from the powers of two where the search
# brackets end.
GRID_FAST = [(0.6, 1, 2), (2.7, 1, 10), (5.8, 3, 10)]
GRID_SLOW = [(1.3, 2, 5), (4.5, 5, 10), (0.9, 4, 3), (3.3, 2, 20)]


def _validate(alpha_target, b, d, seed):
    eta = step_size_for_tail_index(alpha_target, b, d)
    params, data = _regression(N_ROWS, d)
    est = linearised_tail_index(
        _lsq,
        params,
        data,
        eta,
        b,
        seed=seed,
        # 128 x 8 walkers x 250 steps: a standard error of about 1.5 % of alpha (2.5 % with 64 x 150), so that
        # 3 standard errors fit inside the 5 % bound and the 5 % check does not fail by chance
        n_walkers=128,
        n_replicas=8,
        n_steps=250,
        burn_in=20,
        n_grid=4,
        start="random",
    )
    exact = tail_index(eta, b, d)
    return est, exact


@pytest.mark.parametrize("alpha_target,b,d", GRID_FAST)
def test_recovers_the_exact_tail_index_of_least_squares(alpha_target, b, d):
    est, exact = _validate(alpha_target, b, d, seed=3)
    assert not est.flags
    # 3 Monte Carlo standard errors (jackknife over 8 independent replicas), and the 5 % bound; the
    # finite-data alpha is within about 1 % of the exact online one (N_ROWS).
    assert abs(est.alpha - exact) <= 3 * est.alpha_se, (est.alpha, est.alpha_se, exact)
    assert abs(est.alpha / exact - 1) <= 0.05, (est.alpha, exact)


@pytest.mark.slow
@pytest.mark.parametrize("alpha_target,b,d", GRID_SLOW)
def test_recovers_the_exact_tail_index_of_least_squares_more_points(alpha_target, b, d):
    est, exact = _validate(alpha_target, b, d, seed=4)
    # as in the fast test
    assert abs(est.alpha - exact) <= 3 * est.alpha_se, (est.alpha, est.alpha_se, exact)
    assert abs(est.alpha / exact - 1) <= 0.05, (est.alpha, exact)


def test_h2_rho_and_the_linear_stability_test():
    eta, b, d = 0.3, 2, 5
    params, data = _regression(50_000, d)
    est = linearised_tail_index(
        _lsq,
        params,
        data,
        eta,
        b,
        seed=0,
        n_walkers=32,
        n_replicas=8,
        n_steps=80,
        burn_in=10,
        s_grid=[2.0, 5.0, 7.0, 9.0],
        start="random",
    )  # alpha = 7.75
    h2 = math.log(1 - 2 * eta + eta**2 * (d + b + 1) / b)  # exact E||M u||^2 for isotropic data
    # h(2) is a pooled mean of 5,120 weights per step: 4 jackknife standard errors (plus 1 % of |h2| for the
    # finite data set of 50,000 rows)
    assert abs(est.h2 - h2) <= 4 * est.h2_se + 0.01 * abs(h2)
    # rho: mean of log ||M u|| over walkers and steps; 4 standard errors and 2 % for the finite data
    rho = log_moment(1e-6, eta, b, d) / 1e-6  # h'(0) by a forward difference (h is smooth at 0)
    assert abs(est.rho - rho) <= 4 * est.rho_se + 0.02 * abs(rho)
    assert (est.h2 < 0) == (est.alpha > 2)
    assert est.s_grid.tolist() == [2.0, 5.0, 7.0, 9.0]
    # h on the grid below the root (alpha = 7.75): 4 jackknife standard errors and 1 % for the finite data.
    # Above the root the weights ||M u||^9 are so skewed that 256 walkers' mean weight is biased low and the
    # replica spread understates its error (-0.3 to -5 standard errors over seeds and populations of 32 and
    # 128); there only the sign is checked: h(9) > 0, the root lies below 9.
    exact_h = np.array([log_moment(s, eta, b, d) for s in est.s_grid])
    below = est.s_grid < 7.75
    assert np.all(np.abs(est.h - exact_h)[below] <= 4 * est.h_se[below] + 0.01 * np.abs(exact_h[below]))
    assert est.h[-1] > 0 and exact_h[-1] > 0


def test_divergence_is_predicted():
    # eta beyond the exact engine's critical step (rho >= 0): no stationary law, alpha is nan
    params, data = _regression(20_000, 3)
    est = linearised_tail_index(
        _lsq, params, data, 1.6, 1, seed=0, n_walkers=16, n_steps=40, burn_in=10, start="random"
    )
    assert math.isnan(tail_index(1.6, 1, 3))
    assert "divergent" in est.flags and math.isnan(est.alpha) and est.rho > 0


def test_seeded_and_params_unchanged():
    params, data = _regression(5_000, 3)
    before = {k: v.clone() for k, v in params.items()}
    kw = dict(seed=7, n_walkers=8, n_replicas=2, n_steps=10, burn_in=2, s_grid=[1.0, 3.0])
    a = linearised_tail_index(_lsq, params, data, 0.4, 2, **kw)
    b = linearised_tail_index(_lsq, params, data, 0.4, 2, **kw)
    assert a.alpha == b.alpha and np.array_equal(a.h, b.h)
    assert all(torch.equal(before[k], params[k]) for k in params)
    assert a.resampling_steps == 3 * (10 + 2) * 2  # passes at s = 1, 2, 3; steps x replicas
    assert a.hvp_count > 0 and a.n_params == 3 and a.n_rows == 5_000


def test_bad_input_names_the_argument():
    params, data = _regression(100, 2)
    with pytest.raises(TypeError, match="loss_fn"):
        linearised_tail_index(3, params, data, 0.1, 1)
    with pytest.raises(TypeError, match="params"):
        linearised_tail_index(_lsq, [1.0], data, 0.1, 1)
    with pytest.raises(TypeError, match="data"):
        linearised_tail_index(_lsq, params, data[0], 0.1, 1)
    with pytest.raises(ValueError, match="data"):
        linearised_tail_index(_lsq, params, (data[0], data[1][:5]), 0.1, 1)
    with pytest.raises(ValueError, match="eta"):
        linearised_tail_index(_lsq, params, data, -0.1, 1)
    with pytest.raises(ValueError, match="batch_size"):
        linearised_tail_index(_lsq, params, data, 0.1, 101)
    with pytest.raises(ValueError, match="n_walkers"):
        linearised_tail_index(_lsq, params, data, 0.1, 1, n_walkers=1)
    with pytest.raises(ValueError, match="s_grid"):
        linearised_tail_index(_lsq, params, data, 0.1, 1, s_grid=[2.0, 1.0])
    with pytest.raises(ValueError, match="start"):
        linearised_tail_index(_lsq, params, data, 0.1, 1, start="sphere")
    with pytest.raises(ValueError, match="directions"):
        sgd_chains_from_minimum(_lsq, params, data, 0.1, 1, {"v": torch.ones(5)})


def test_minibatch_hvp_matches_the_dense_hessian():
    loss, params, (x, y) = teacher_student(n_rows=50)
    names = list(params)
    flat0 = torch.cat([params[n].reshape(-1) for n in names])

    def unflat(t):
        out, i = {}, 0
        for n in names:
            out[n] = t[i : i + params[n].numel()].reshape(params[n].shape)
            i += params[n].numel()
        return out

    hvp, p = minibatch_hvp(loss, params, (x, y))
    idx = torch.tensor([[1, 4, 9], [0, 2, 3]])
    u = torch.randn(2, p, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = hvp(u, idx)
    for i in range(2):
        h = torch.autograd.functional.hessian(lambda t: loss(unflat(t), x[idx[i]], y[idx[i]]), flat0)
        # float64 products: only rounding
        assert torch.allclose(out[i], h @ u[i], atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("activation", ["softplus", "relu"])
def test_mlp_minibatch_hvp_matches_the_dense_hessian(activation):
    """The closed-form R-operator against the dense Hessian (autograd) of the same loss."""
    g = torch.Generator().manual_seed(1)
    shapes = {"a": (6, 4), "b": (5, 6), "c": (3, 5)}
    params = {k: torch.randn(s, dtype=torch.float64, generator=g) for k, s in shapes.items()}
    x = torch.randn(30, 4, dtype=torch.float64, generator=g)
    y = torch.randint(0, 3, (30,), generator=g)
    act = torch.nn.functional.softplus if activation == "softplus" else torch.relu
    lam = 0.05

    def loss(flat, xb, yb):
        w, i = [], 0
        for s in shapes.values():
            w.append(flat[i : i + s[0] * s[1]].reshape(s))
            i += s[0] * s[1]
        out = act(act(xb @ w[0].T) @ w[1].T) @ w[2].T
        return torch.nn.functional.cross_entropy(out, yb) + 0.5 * lam * (flat**2).sum()

    flat0 = torch.cat([v.reshape(-1) for v in params.values()])
    hvp, p = mlp_minibatch_hvp(params, (x, y), activation=activation, weight_decay=lam, chunk_size=2)
    idx = torch.tensor([[1, 4, 9], [0, 2, 3], [5, 6, 7]])
    u = torch.randn(3, p, dtype=torch.float64, generator=g)
    out = hvp(u, idx)
    for i in range(3):
        h = torch.autograd.functional.hessian(lambda t: loss(t, x[idx[i]], y[idx[i]]), flat0)
        # float64 products in a different order: only rounding
        assert torch.allclose(out[i], h @ u[i], atol=1e-12, rtol=1e-10)


def test_mlp_minibatch_hvp_matches_torch_func_on_the_mnist_net():
    loss, p0, (x, y) = mnist_fc(n_train=60, activation="softplus", dtype=torch.float64)
    fast, p = mlp_minibatch_hvp(p0, (x, y), activation="softplus", weight_decay=0.05)
    ref, _ = minibatch_hvp(loss, p0, (x, y))
    u = torch.randn(5, p, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    idx = torch.randint(0, 60, (5, 16), generator=torch.Generator().manual_seed(3))
    # float64, two summation orders of the same products: rounding only
    assert torch.allclose(fast(u, idx), ref(u, idx), atol=1e-12, rtol=1e-9)


def test_mlp_minibatch_hvp_bad_input_names_the_argument():
    w = {"a": torch.zeros(3, 4), "b": torch.zeros(2, 3)}
    data = (torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="activation"):
        mlp_minibatch_hvp(w, data, activation="tanh")
    with pytest.raises(ValueError, match="weight_decay"):
        mlp_minibatch_hvp(w, data, activation="relu", weight_decay=-1.0)
    with pytest.raises(TypeError, match=r"params\['a'\] must be a 2-D"):
        mlp_minibatch_hvp({"a": torch.zeros(3)}, data, activation="relu")
    with pytest.raises(ValueError, match="has 2 inputs"):
        mlp_minibatch_hvp({"a": torch.zeros(3, 4), "b": torch.zeros(2, 2)}, data, activation="relu")
    with pytest.raises(TypeError, match="integer class labels"):
        mlp_minibatch_hvp(w, (data[0], torch.zeros(5)), activation="relu")
    with pytest.raises(ValueError, match="features per row"):
        mlp_minibatch_hvp(w, (torch.zeros(5, 7), data[1]), activation="relu")
    with pytest.raises(TypeError, match="hvp"):
        linearised_tail_index(_lsq, *_regression(100, 2), 0.1, 1, hvp=3)


def test_teacher_student_minimum_is_genuine():
    loss, p0, data = teacher_student()
    pm = find_minimum(loss, p0, data)
    lanczos = check_minimum(loss, pm, data)
    dense = check_minimum(loss, pm, data, dense_limit=100)
    # float64 L-BFGS to a gradient entry below 1e-7 (13 parameters: the norm is below 4e-7)
    assert lanczos.grad_norm < 1e-6
    # Lanczos agrees with the exact eigenvalues to its relative tolerance (1e-6) times the spectral radius
    assert abs(lanczos.lowest_eigenvalue - dense.lowest_eigenvalue) < 1e-5 * dense.top_eigenvalue
    assert dense.lowest_eigenvalue > 0 and lanczos.is_minimum(1e-6, 0.0)


def test_chains_match_the_linear_recursion_on_least_squares():
    # On least squares SGD is exactly the linear recursion: the stationary variance of a coordinate of
    # theta - theta* is known in closed form for isotropic data when the noise is independent of the input.
    d, b, eta, n = 3, 2, 0.1, 100_000
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, dtype=torch.float64, generator=g)
    w = torch.zeros(d, dtype=torch.float64)
    y = 0.5 * torch.randn(n, dtype=torch.float64, generator=g)
    wstar = torch.linalg.lstsq(x, y[:, None]).solution[:, 0]
    ch = sgd_chains_from_minimum(
        _lsq, {"w": wstar}, (x, y), eta, b, {"w0": 0}, n_chains=200, n_steps=600, burn_in=100, thin=25, seed=0
    )
    # E x x^T = I, noise variance 0.25: stationary covariance (online)
    # = eta sigma^2 / (b (2 - eta (d + b + 1) / b)) I
    var = eta * 0.25 / (b * (2 - eta * (d + b + 1) / b))
    got = float(np.var(ch.samples("w0")))
    # 200 chains x 20 records, records 25 steps apart (correlation (1 - eta)^25 ~ 0.07): relative SE of the
    # variance about sqrt(2 / 4000) = 2.2 %; 10 % covers 4 SE and the finite-data effects
    assert abs(got / var - 1) < 0.10, (got, var)
    assert not ch.diverged.any() and ch.projections["w0"].shape == (20, 200)
    assert torch.equal(w, torch.zeros(d, dtype=torch.float64))


def test_digits_mlp_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="n_train"):
        digits_mlp(n_train=1)
    with pytest.raises(ValueError, match="n_train"):
        digits_mlp(n_train=1438)  # the default split keeps 360 of the 1,797 digits for testing
    with pytest.raises(ValueError, match="width"):
        digits_mlp(width=0)
    with pytest.raises(ValueError, match="weight_decay"):
        digits_mlp(weight_decay=0.0)
    with pytest.raises(TypeError, match="dtype"):
        digits_mlp(dtype="float64")
    with pytest.raises(ValueError, match="activation"):
        mnist_fc(n_train=10, activation="gelu")


def test_digits_mlp_minimum_is_genuine():
    loss, p0, data = digits_mlp(n_train=200, width=4)
    before = {k: v.clone() for k, v in p0.items()}
    assert sum(v.numel() for v in p0.values()) == 65 * 4 + 10 * 5
    pm = find_minimum(loss, p0, data)
    assert all(torch.equal(before[k], p0[k]) for k in p0)
    lanczos = check_minimum(loss, pm, data)
    dense = check_minimum(loss, pm, data, dense_limit=500)
    # float64 L-BFGS to a gradient entry below 1e-7: the norm over 310 parameters is below sqrt(310) * 1e-7
    assert lanczos.grad_norm < 2e-6
    # weight decay 0.05 on a smooth loss: a strict minimum; Lanczos agrees with the exact lowest eigenvalue
    # to its relative tolerance (1e-6) times the spectral radius
    assert dense.lowest_eigenvalue > 0 and lanczos.is_minimum(2e-6, 0.0)
    assert abs(lanczos.lowest_eigenvalue - dense.lowest_eigenvalue) < 1e-5 * dense.top_eigenvalue


def test_mnist_fc_softplus_has_the_same_parameters():
    _, p_relu, (x, _) = mnist_fc(n_train=20)
    loss, p_soft, data = mnist_fc(n_train=20, activation="softplus")
    assert list(p_relu) == list(p_soft) and all(torch.equal(p_relu[k], p_soft[k]) for k in p_relu)
    # the softplus loss is smooth: its gradient is defined everywhere and finite
    g = torch.func.grad(lambda p: loss(p, *data))(p_soft)
    assert all(torch.isfinite(v).all() for v in g.values())


def test_check_minimum_ncv_is_checked():
    params, data = _regression(50, 3)
    with pytest.raises(ValueError, match="ncv"):
        check_minimum(_lsq, params, data, ncv=2)
