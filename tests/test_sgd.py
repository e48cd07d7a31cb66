"""Tests for hts_lib.simulate.sgd: online and offline SGD chains against closed forms, batches."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from hts_lib.recursion import sgd1d_tail_index, simulate_sgd1d, stationary_second_moment
from hts_lib.simulate.engine import block_rng
from hts_lib.simulate.sgd import sample_batch_indices, simulate_offline, simulate_online


def within_se(samples, target, n_se=3.0):
    """|mean - target| < n_se standard errors of the mean over independent chains."""
    samples = np.asarray(samples, dtype=float)
    se = samples.std(ddof=1) / math.sqrt(samples.size)
    return abs(samples.mean() - target) < n_se * se, (samples.mean(), target, se)


def random_rotation(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# ================================================================ closed form (deterministic)


@pytest.mark.parametrize(
    "eta,b,d,method",
    [
        (0.1, 1, 10, "full"),
        (0.1, 1, 10, "projected"),
        (0.3, 3, 2, "full"),
        (0.3, 3, 2, "projected"),
        (0.05, 4, 20, "auto"),
    ],
)
def test_online_second_moment_matches_closed_form(eta, b, d, method):
    # From x0 = x*, E||z_K||^2 = v (1 - m2^K) exactly (scalar recursion of the second moment);
    # the chains are independent, so the tolerance is 3 standard errors of the mean. The tail
    # index here is > 8, so ||z||^2 has a finite variance and its SE is meaningful.
    m2 = 1 - 2 * eta + eta**2 * (d + b + 1) / b
    K = 200
    res = simulate_online(eta, b, d, n_chains=10000, n_steps=K, burn_in=K - 1, seed=11, method=method)
    target = stationary_second_moment(eta, b, d) * (1 - m2**K)
    ok, info = within_se(np.sum(res.last**2, axis=1), target)
    assert ok, info
    assert res.n_diverged == 0


@pytest.mark.parametrize("data,kurt", [("rademacher", 1.0), ("uniform", 1.8)])
def test_online_second_moment_non_gaussian(data, kurt):
    # i.i.d. standardised coordinates with fourth moment kappa: E[M^T M] = m2 I with
    # m2 = 1 - 2 eta + eta^2 (d + b + kappa - 2)/b; 3 SE as above
    eta, b, d, K = 0.1, 2, 8, 200
    m2 = 1 - 2 * eta + eta**2 * (d + b + kurt - 2) / b
    res = simulate_online(eta, b, d, n_chains=20000, n_steps=K, burn_in=K - 1, seed=12, data=data)
    target = stationary_second_moment(eta, b, d, kurtosis=kurt) * (1 - m2**K)
    ok, info = within_se(np.sum(res.last**2, axis=1), target)
    assert ok, info


@pytest.mark.parametrize("method", ["full", "projected"])
def test_online_second_moment_anisotropic(method):
    # 300 steps: the second-moment map contracts at rate <= 1 - 2 eta lambda_min + ... ~ 0.95,
    # 0.95^300 ~ 2e-7, far below the statistical error; tolerance 3 SE
    U = random_rotation(4, 1)
    cov = U @ np.diag([2.0, 1.0, 0.5, 0.25]) @ U.T
    eta, b = 0.2, 2
    res = simulate_online(
        eta, b, 4, n_chains=20000, n_steps=300, burn_in=299, seed=13, cov=cov, noise=0.7, method=method
    )
    ok, info = within_se(np.sum(res.last**2, axis=1), stationary_second_moment(eta, b, 4, noise=0.7, cov=cov))
    assert ok, info


def test_projected_sampler_has_the_same_law_as_full_batches():
    # heavy-tailed case (alpha = 1.5, where moments do not test much): the projected sampler and
    # the full one must give the same stationary law of a coordinate and of the norm;
    # two-sample KS tests at the 0.1% level each
    # (any K will do: from the same start, equal kernels give equal laws at every step)
    kw = dict(n_chains=5000, n_steps=200, burn_in=199, sigma=1.3)
    full = simulate_online(0.6406 / 1.3**2, 5, 10, seed=61, method="full", **kw).last
    proj = simulate_online(0.6406 / 1.3**2, 5, 10, seed=62, method="projected", **kw).last
    assert stats.ks_2samp(full[:, 3], proj[:, 3]).pvalue > 1e-3
    assert stats.ks_2samp(np.linalg.norm(full, axis=1), np.linalg.norm(proj, axis=1)).pvalue > 1e-3


def test_auto_method_choice():
    # projected needs 2b + d draws per chain-step, full b d + b: auto takes the smaller
    assert simulate_online(0.1, 1, 10, n_chains=2, n_steps=2, burn_in=1).config["method"] == "full"
    assert simulate_online(0.1, 5, 10, n_chains=2, n_steps=2, burn_in=1).config["method"] == "projected"
    assert (
        simulate_online(0.1, 5, 10, n_chains=2, n_steps=2, burn_in=1, data="uniform").config["method"]
        == "full"
    )


def test_online_callable_data_matches_builtin():
    # a callable returning standard normals gives the same law as "gaussian"; with the same block
    # layout and the same generator calls it even gives the same numbers
    def gauss(rng, size):
        return rng.standard_normal(size)

    kw = dict(n_chains=50, n_steps=20, burn_in=10, seed=4, method="full")
    a = simulate_online(0.1, 2, 3, data=gauss, **kw)
    b = simulate_online(0.1, 2, 3, **kw)
    np.testing.assert_allclose(a.last, b.last, rtol=1e-12)  # identical draws; rounding only
    assert a.config["data"] == "gauss"


def test_online_average_is_centred():
    # E[x_inf - x*] = 0 (q has mean zero); 3 SE over independent chains, per coordinate 0
    res = simulate_online(0.2, 2, 3, n_chains=20000, n_steps=300, burn_in=100, seed=14)
    ok, info = within_se(res.average[:, 0], 0.0)
    assert ok, info


# ================================================================ exact update checks


def test_online_update_equals_naive_loop():
    # replay the block's random stream and apply the textbook update chain by chain
    eta, b, d, c, K, noise = 0.15, 3, 4, 7, 25, 0.8
    xs = np.arange(d, dtype=float)
    x0 = np.ones(d)
    res = simulate_online(
        eta,
        b,
        d,
        noise=noise,
        n_chains=c,
        n_steps=K,
        burn_in=5,
        seed=21,
        x_star=xs,
        x0=x0,
        block_size=c,
        method="full",
    )
    rng = block_rng(21, 0)
    x = np.tile(x0, (c, 1))
    total = np.zeros((c, d))
    for k in range(1, K + 1):
        A = rng.standard_normal((c, b, d))
        eps = rng.standard_normal((c, b))
        for i in range(c):
            y = A[i] @ xs + noise * eps[i]
            x[i] = x[i] - eta / b * A[i].T @ (A[i] @ x[i] - y)
        if k > 5:
            total += x - xs
    # rounding only (different summation order): relative 1e-12 on O(1) numbers
    np.testing.assert_allclose(res.last, x - xs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.average, total / (K - 5), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(res.centre, xs)


def test_offline_update_equals_naive_loop():
    rng0 = np.random.default_rng(3)
    n, d, b, c, K, eta = 40, 3, 4, 6, 30, 0.1
    X = rng0.standard_normal((n, d))
    y = X @ np.array([1.0, -1.0, 2.0]) + rng0.standard_normal(n)
    x_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    res = simulate_offline(
        X, y, eta, b, n_chains=c, n_steps=K, burn_in=10, seed=8, x0=np.zeros(d), block_size=c
    )
    rng = block_rng(8, 0)
    x = np.zeros((c, d))
    for _ in range(K):
        idx = sample_batch_indices(n, b, n_chains=c, seed=rng)
        for i in range(c):
            Ak, yk = X[idx[i]], y[idx[i]]
            x[i] = x[i] - eta * (Ak.T @ (Ak @ x[i]) - Ak.T @ yk) / b
    # the library works with x - x_ls and the residuals, the loop with x: rounding differs by
    # O(eps * ||x_ls|| * K)
    np.testing.assert_allclose(res.last, x - x_ls, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(res.centre, x_ls, rtol=1e-12)


def test_offline_full_batch_is_gradient_descent():
    # b = n without replacement: every step uses all rows, i.e. deterministic gradient descent
    # z_K = (I - eta/n X^T X)^K z_0 (X^T r = 0 at the least-squares solution); rounding only
    rng0 = np.random.default_rng(5)
    n, d, K, eta = 12, 3, 40, 0.3
    X = rng0.standard_normal((n, d))
    y = rng0.standard_normal(n)
    x_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    res = simulate_offline(X, y, eta, n, n_chains=3, n_steps=K, burn_in=0, seed=0, x0=np.ones(d))
    Mgd = np.eye(d) - eta / n * X.T @ X
    expected = np.linalg.matrix_power(Mgd, K) @ (np.ones(d) - x_ls)
    np.testing.assert_allclose(res.last, np.tile(expected, (3, 1)), rtol=1e-9, atol=1e-13)


def test_noise_free_online_stays_at_solution():
    res = simulate_online(0.1, 2, 5, noise=0.0, n_chains=10, n_steps=20, burn_in=10, seed=0)
    np.testing.assert_array_equal(res.last, 0.0)


def test_offline_interpolating_data_converges_to_solution():
    # y = X w exactly: the residuals vanish, so z_k = M_k ... M_1 z_0 -> 0 geometrically (rho < 0)
    rng0 = np.random.default_rng(6)
    X = rng0.standard_normal((500, 4))
    w = np.array([1.0, 2.0, -1.0, 0.5])
    res = simulate_offline(X, X @ w, 0.1, 5, n_chains=20, n_steps=600, burn_in=300, seed=1, x0=np.zeros(4))
    np.testing.assert_allclose(res.centre, w, rtol=1e-12)
    assert np.max(np.abs(res.last)) < 1e-12  # ~ (0.93)^600 * ||w||: well below 1e-12


# ================================================================ theory: tail index


def _hill_covers(x, alpha):
    from hts_lib.tails.estimators import hill

    est = hill(x)
    return est.ci_low <= alpha <= est.ci_high, (est.alpha, est.ci_low, est.ci_high, alpha)


def test_hill_matches_kesten_tail_index_in_one_dimension():
    # d = b = 1, eta = 1.2 lies in the heavy-tailed window (0.667, 2.42): alpha = 0.785 exactly
    # (hts_lib.recursion.sgd1d); Hill on 40,000 stationary chains must cover it with its interval.
    eta = 1.2
    alpha = sgd1d_tail_index(eta)
    res = simulate_online(eta, 1, 1, n_chains=40000, n_steps=400, burn_in=399, seed=31)
    assert res.n_diverged == 0
    ok, info = _hill_covers(res.last[:, 0], alpha)
    assert ok, info


@pytest.mark.slow
@pytest.mark.parametrize("eta,b,d", [(0.6553, 1, 2), (0.5680, 1, 2), (0.3004, 1, 5), (0.6406, 5, 10)])
def test_hill_matches_theory_tail_index(eta, b, d):
    # paper digest Section 2.1 table: alpha = 1.0, 1.5, 1.5, 1.5. Stationary samples of ||x - x*||
    # (every direction has the same index) from 50,000 chains after 1,000 steps
    # (|rho| >= 0.035: 1000 steps is > 35 e-folds of the contraction).
    from hts_lib.recursion import tail_index

    alpha = tail_index(eta, b, d)
    res = simulate_online(eta, b, d, n_chains=50_000, n_steps=1000, burn_in=999, seed=32)
    assert res.n_diverged == 0
    ok, info = _hill_covers(np.linalg.norm(res.last, axis=1), alpha)
    assert ok, info


def test_online_one_dimension_matches_kesten_simulator_in_law():
    # same stationary law as hts_lib.recursion.simulate_sgd1d (the scalar simulator) (independent code);
    # two-sample KS at the 0.1% level
    ours = simulate_online(0.9, 1, 1, n_chains=5000, n_steps=300, burn_in=299, seed=41).last[:, 0]
    ref = simulate_sgd1d(0.9, n_chains=5000, n_steps=300, seed=42)
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3


# ================================================================ divergence


def test_unstable_step_size_is_flagged():
    # d = 10, b = 1: eta_max = 0.1799 (rho = 0); at eta = 0.5 every chain blows past 1e150
    res = simulate_online(0.5, 1, 10, n_chains=500, n_steps=3000, burn_in=100, seed=51, track=[0])
    assert res.diverged.all()
    assert np.all((res.diverged_at > 0) & (res.diverged_at <= 3000))
    assert np.isnan(res.last).all() and np.isnan(res.average).all()
    i = 0
    k = res.diverged_at[i]
    assert np.isfinite(res.trajectories[i, : k - 1]).all() and np.isnan(res.trajectories[i, k - 1 :]).all()
    assert np.abs(res.trajectories[i, k - 2, 0]) < 1e150


def test_stable_step_size_is_not_flagged_and_threshold_is_used():
    res = simulate_online(0.1, 1, 10, n_chains=500, n_steps=500, burn_in=100, seed=52)
    assert res.n_diverged == 0 and np.isfinite(res.last).all()
    # a low threshold flags exactly the chains whose norm passes it, at the first such step
    low = simulate_online(
        0.5, 1, 2, n_chains=500, n_steps=30, burn_in=10, seed=52, max_norm=2.0, track=[0, 1]
    )
    assert 0 < low.n_diverged < 500
    norms = np.linalg.norm(low.trajectories, axis=2)  # NaN from the flagged step on
    ok = ~low.diverged
    assert np.all(norms[ok] <= 2.0)
    for i in np.flatnonzero(low.diverged)[:50]:
        k = low.diverged_at[i]
        assert np.all(norms[i, : k - 1] <= 2.0) and np.isnan(norms[i, k - 1 :]).all()


def test_offline_blow_up_is_flagged_without_warnings():
    rng0 = np.random.default_rng(7)
    X = rng0.standard_normal((2000, 20))
    y = rng0.standard_normal(2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid-value warnings may escape
        res = simulate_offline(X, y, 1.0, 1, n_chains=64, n_steps=2000, burn_in=10, seed=2)
    assert res.diverged.all() and res.share_diverged == 1.0
    assert np.all(np.isinf(res.log10_norms()))


# ================================================================ reproducibility


def test_reproducible_and_independent_of_n_jobs():
    kw = dict(n_chains=700, n_steps=40, burn_in=20, block_size=128, track=[0, 2])
    a = simulate_online(0.1, 2, 5, seed=7, **kw)
    b = simulate_online(0.1, 2, 5, seed=7, **kw)
    c = simulate_online(0.1, 2, 5, seed=7, n_jobs=2, **kw)
    d = simulate_online(0.1, 2, 5, seed=np.random.default_rng(7), **kw)
    e = simulate_online(0.1, 2, 5, seed=8, **kw)
    for r in (b, c, d):
        np.testing.assert_array_equal(a.last, r.last)
        np.testing.assert_array_equal(a.average, r.average)
        np.testing.assert_array_equal(a.trajectories, r.trajectories)
    assert not np.array_equal(a.last, e.last)

    rng0 = np.random.default_rng(0)
    X = rng0.standard_normal((300, 5))
    y = rng0.standard_normal(300)
    kw = dict(n_chains=300, n_steps=30, burn_in=10, block_size=64)
    o1 = simulate_offline(X, y, 0.1, 3, seed=9, **kw)
    o2 = simulate_offline(X, y, 0.1, 3, seed=9, n_jobs=2, **kw)
    np.testing.assert_array_equal(o1.last, o2.last)
    assert o1.config["block_size"] == 64 and o1.config["n"] == 300


def test_config_records_settings():
    res = simulate_online(0.1, 2, 3, n_chains=5, n_steps=4, burn_in=1, seed=3, data="uniform")
    cfg = res.config
    assert cfg["kind"] == "online" and cfg["eta"] == 0.1 and cfg["batch_size"] == 2
    assert cfg["dim"] == 3 and cfg["data"] == "uniform" and cfg["seed"] == 3
    assert res.trajectories is None


# ================================================================ batch sampler


def test_batches_have_distinct_rows_in_both_regimes():
    # rejection branch (b^2 <= 2n) and key branch (b^2 > 2n, e.g. n = 6, b = 5)
    for n, b in [(50, 5), (6, 5), (10, 10), (10_000, 20)]:
        idx = sample_batch_indices(n, b, n_chains=3000, seed=n + b)
        assert idx.shape == (3000, b) and idx.min() >= 0 and idx.max() < n
        assert np.all(np.diff(np.sort(idx, axis=1), axis=1) > 0)


@pytest.mark.parametrize("n,b", [(5, 2), (6, 3), (20, 2)])
def test_batches_are_uniform_subsets(n, b):
    # every b-subset equally likely: chi-square goodness of fit over all C(n, b) subsets;
    # reject at the 0.1% level (seeded, so this is a fixed check of the law, not a flaky one)
    from itertools import combinations

    subsets = {s: i for i, s in enumerate(combinations(range(n), b))}
    draws = sample_batch_indices(n, b, n_chains=60 * len(subsets), seed=100 + n)
    counts = np.bincount([subsets[tuple(sorted(r))] for r in draws.tolist()], minlength=len(subsets))
    assert stats.chisquare(counts).pvalue > 1e-3


def test_with_replacement_has_the_right_collision_rate():
    # P(all distinct) = prod_{j<b} (1 - j/n) = 0.6048 for n = 10, b = 3; binomial SE over 20000 rows
    idx = sample_batch_indices(10, 3, n_chains=20000, replace=True, seed=3)
    distinct = np.mean([len(set(r)) == 3 for r in idx.tolist()])
    p = 1 * 0.9 * 0.8
    assert abs(distinct - p) < 3 * math.sqrt(p * (1 - p) / 20000)


# ================================================================ bad input


def test_bad_input_online():
    with pytest.raises(ValueError, match="eta"):
        simulate_online(0.0, 1, 2)
    with pytest.raises(ValueError, match="eta"):
        simulate_online(-0.1, 1, 2)
    with pytest.raises(ValueError, match="batch_size"):
        simulate_online(0.1, 0, 2)
    with pytest.raises(ValueError, match="dim"):
        simulate_online(0.1, 1, 0)
    with pytest.raises(ValueError, match="sigma"):
        simulate_online(0.1, 1, 2, sigma=0.0)
    with pytest.raises(ValueError, match="noise"):
        simulate_online(0.1, 1, 2, noise=-1.0)
    with pytest.raises(ValueError, match="n_chains"):
        simulate_online(0.1, 1, 2, n_chains=0)
    with pytest.raises(ValueError, match="burn_in"):
        simulate_online(0.1, 1, 2, n_steps=10, burn_in=10)
    with pytest.raises(ValueError, match="data"):
        simulate_online(0.1, 1, 2, data="cauchy")
    with pytest.raises(ValueError, match="x_star"):
        simulate_online(0.1, 1, 2, x_star=np.zeros(3))
    with pytest.raises(ValueError, match="x0"):
        simulate_online(0.1, 1, 2, x0=np.zeros((5, 2)), n_chains=4)
    with pytest.raises(ValueError, match="cov"):
        simulate_online(0.1, 1, 2, cov=np.eye(3))
    with pytest.raises(ValueError, match="cov"):
        simulate_online(0.1, 1, 2, cov=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="cov"):
        simulate_online(0.1, 1, 2, cov=np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="track"):
        simulate_online(0.1, 1, 2, track=[-1])
    with pytest.raises(ValueError, match="init_scale"):
        simulate_online(0.1, 1, 2, init_scale=-1.0)
    with pytest.raises(ValueError, match="n_jobs"):
        simulate_online(0.1, 1, 2, n_jobs=-2)
    with pytest.raises(ValueError, match="data"):
        simulate_online(0.1, 1, 2, n_steps=2, burn_in=1, data=lambda rng, size: np.zeros(3))
    with pytest.raises(ValueError, match="eta"):
        simulate_online(float("nan"), 1, 2)
    with pytest.raises(ValueError, match="method"):
        simulate_online(0.1, 1, 2, method="fast")
    with pytest.raises(ValueError, match="method"):
        simulate_online(0.1, 1, 2, method="projected", data="rademacher")


def test_bad_input_offline():
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.zeros(20)
    with pytest.raises(ValueError, match="X"):
        simulate_offline(np.zeros(5), y, 0.1, 1)
    with pytest.raises(ValueError, match="y"):
        simulate_offline(X, np.zeros(19), 0.1, 1)
    with pytest.raises(ValueError, match="batch_size"):
        simulate_offline(X, y, 0.1, 21)
    with pytest.raises(ValueError, match="batch_size"):
        simulate_offline(X, y, 0.1, 21, replace=True)
    with pytest.raises(ValueError, match="eta"):
        simulate_offline(X, y, 0.0, 1)
    with pytest.raises(ValueError, match="burn_in"):
        simulate_offline(X, y, 0.1, 1, n_steps=5, burn_in=6)
    with pytest.raises(ValueError, match="rank"):
        simulate_offline(np.ones((20, 3)), y, 0.1, 1)
    with pytest.raises(ValueError, match="X"):
        simulate_offline(np.full((20, 3), np.nan), y, 0.1, 1)
    with pytest.raises(ValueError, match="n_chains"):
        simulate_offline(X, y, 0.1, 1, n_chains=0)


def test_bad_input_batch_sampler():
    with pytest.raises(ValueError, match="batch_size"):
        sample_batch_indices(5, 6)
    with pytest.raises(ValueError, match="n_chains"):
        sample_batch_indices(5, 2, n_chains=0)
    with pytest.raises(ValueError, match="n"):
        sample_batch_indices(0, 1)
