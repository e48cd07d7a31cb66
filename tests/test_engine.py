"""Tests for hts_lib.simulate.engine: the generic random linear recursion and the block engine."""

import math

import numpy as np
import pytest
from scipy import stats

from hts_lib.recursion import simulate_sgd1d, stationary_second_moment
from hts_lib.simulate.engine import (
    DEFAULT_MAX_NORM,
    SimulationResult,
    default_block_size,
    simulate_recursion,
)


def const_m(value, dim):
    def sample_m(rng, n):
        return np.broadcast_to(value * np.eye(dim), (n, dim, dim)).copy()

    return sample_m


def const_q(value, dim):
    def sample_q(rng, n):
        return np.full((n, dim), float(value))

    return sample_q


# ---------------------------------------------------------------- deterministic recursions


def test_contraction_is_exact():
    # x_k = 0.5 x_k-1 exactly: x_K = 0.5^K x0; only rounding-free halvings, so equality is exact
    res = simulate_recursion(
        const_m(0.5, 3),
        const_q(0.0, 3),
        dim=3,
        n_chains=5,
        n_steps=10,
        burn_in=0,
        x0=np.array([1.0, -2.0, 4.0]),
        seed=0,
    )
    np.testing.assert_array_equal(res.last, np.tile([1.0, -2.0, 4.0], (5, 1)) * 0.5**10)
    assert res.n_diverged == 0 and not res.diverged.any()
    assert np.all(res.diverged_at == -1)


def test_average_window_convention():
    # x_k = x_{k-1} + 1 from x0 = 0: x_k = k, so the average over k = burn_in+1..K is (burn_in+1+K)/2;
    # integers are exact in float64, tolerance is a few ulps of the sum
    res = simulate_recursion(
        const_m(1.0, 1), const_q(1.0, 1), dim=1, n_chains=3, n_steps=10, burn_in=4, seed=0
    )
    np.testing.assert_allclose(res.average, (4 + 1 + 10) / 2, rtol=1e-15)
    np.testing.assert_array_equal(res.last, 10.0)


def test_trajectories_record_every_step():
    res = simulate_recursion(
        const_m(1.0, 2), const_q(1.0, 2), dim=2, n_chains=4, n_steps=6, burn_in=0, seed=0, track=[1]
    )
    assert res.trajectories.shape == (4, 6, 1)
    np.testing.assert_array_equal(res.trajectories[:, :, 0], np.tile(np.arange(1.0, 7.0), (4, 1)))


def test_divergence_step_is_exact():
    # x_k = 2^k: 2^33 < 1e10 < 2^34, so every chain is flagged at step 34, with NaN rows afterwards
    res = simulate_recursion(
        const_m(2.0, 1),
        const_q(0.0, 1),
        dim=1,
        n_chains=6,
        n_steps=50,
        burn_in=10,
        x0=np.ones(1),
        seed=0,
        max_norm=1e10,
        track=[0],
    )
    assert res.diverged.all() and np.all(res.diverged_at == 34)
    assert np.isnan(res.last).all() and np.isnan(res.average).all()
    assert res.stable_last.shape == (0, 1)
    np.testing.assert_array_equal(res.trajectories[0, :33, 0], 2.0 ** np.arange(1, 34))
    assert np.isnan(res.trajectories[:, 33:, :]).all()
    assert np.all(np.isinf(res.log10_norms()))


def test_overflow_is_flagged_without_warnings():
    # x_k = 1e100^k overflows to inf at step 4 (1e300 * 1e100): with a threshold above the largest
    # float it can only be caught by the finite check, which must not emit numpy warnings
    with np.errstate(all="raise"):
        res = simulate_recursion(
            const_m(1e100, 1),
            const_q(0.0, 1),
            dim=1,
            n_chains=2,
            n_steps=8,
            burn_in=0,
            x0=np.ones(1),
            seed=0,
            max_norm=1.7e308,
        )
    assert res.diverged.all() and np.all(res.diverged_at == 4)


def test_only_diverged_chains_are_frozen():
    # chain-dependent M: the first chain grows (2x), the second contracts (0.5x)
    def sample_m(rng, n):
        m = np.empty((n, 1, 1))
        m[0::2] = 2.0
        m[1::2] = 0.5
        return m

    res = simulate_recursion(
        sample_m,
        const_q(0.0, 1),
        dim=1,
        n_chains=4,
        n_steps=40,
        burn_in=0,
        x0=np.ones(1),
        seed=0,
        max_norm=1e6,
        block_size=4,
    )
    np.testing.assert_array_equal(res.diverged, [True, False, True, False])
    np.testing.assert_array_equal(res.diverged_at, [20, -1, 20, -1])  # 2^19 < 1e6 < 2^20
    np.testing.assert_array_equal(res.stable_last[:, 0], [0.5**40, 0.5**40])
    assert res.share_diverged == 0.5


# ---------------------------------------------------------------- stochastic checks


def _sgd_samplers(eta, b, d, noise=1.0):
    def sample_m(rng, n):
        A = rng.standard_normal((n, b, d))
        return np.eye(d) - (eta / b) * np.matmul(A.transpose(0, 2, 1), A)

    def sample_q(rng, n):
        # q alone (independent of M here): its law enters the stationary second moment only
        # through E q q^T = eta^2 noise^2 / b I, the same as in SGD, so the moment formula applies
        A = rng.standard_normal((n, b, d))
        return (eta / b) * noise * np.einsum("nbd,nb->nd", A, rng.standard_normal((n, b)))

    return sample_m, sample_q


def test_second_moment_of_generic_recursion_matches_sgd_closed_form():
    eta, b, d = 0.2, 2, 3
    sm, sq = _sgd_samplers(eta, b, d)
    res = simulate_recursion(sm, sq, dim=d, n_chains=20000, n_steps=150, burn_in=100, seed=3)
    v = np.sum(res.last**2, axis=1)
    # E[M^T M] = m2 I with m2 = 1 - 2 eta + eta^2 (d+b+1)/b = 0.76; 0.76^150 ~ 1e-18: stationary.
    # Tolerance: 3 standard errors of the mean over independent chains (alpha >> 4 here, so the
    # fourth moment exists and the SE is meaningful).
    target = stationary_second_moment(eta, b, d)
    assert abs(v.mean() - target) < 3 * v.std(ddof=1) / math.sqrt(v.size)


def test_scalar_case_matches_kesten_simulator_in_law():
    # 1-D SGD as a Kesten recursion: A = 1 - eta a^2, B = eta a eps, a, eps ~ N(0, 1).
    eta = 0.9

    def sample_m(rng, n):
        return (1.0 - eta * rng.standard_normal(n) ** 2).reshape(n, 1, 1)

    def sample_q(rng, n):
        return (eta * rng.standard_normal(n) * rng.standard_normal(n)).reshape(n, 1)

    ours = simulate_recursion(
        sample_m, sample_q, dim=1, n_chains=4000, n_steps=300, burn_in=200, seed=1
    ).last[:, 0]
    ref = simulate_sgd1d(eta, n_chains=4000, n_steps=300, seed=2)
    # two-sample KS test of the same stationary law (two independent seeded samples): reject only
    # at the 0.1% level, so a real discrepancy in the update shows while noise does not
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3


# ---------------------------------------------------------------- reproducibility


def test_same_seed_same_arrays_and_jobs_do_not_matter():
    sm, sq = _sgd_samplers(0.1, 1, 2)
    kw = dict(dim=2, n_chains=300, n_steps=30, burn_in=10, block_size=64, track=[0])
    a = simulate_recursion(sm, sq, seed=5, **kw)
    b = simulate_recursion(sm, sq, seed=5, **kw)
    c = simulate_recursion(sm, sq, seed=5, n_jobs=2, **kw)
    d = simulate_recursion(sm, sq, seed=6, **kw)
    for r in (b, c):
        np.testing.assert_array_equal(a.last, r.last)
        np.testing.assert_array_equal(a.average, r.average)
        np.testing.assert_array_equal(a.trajectories, r.trajectories)
    assert not np.array_equal(a.last, d.last)
    assert a.config["block_size"] == 64 and a.config["seed"] == 5


def test_result_is_read_only():
    res = simulate_recursion(const_m(0.5, 1), const_q(1.0, 1), dim=1, n_chains=2, n_steps=3, burn_in=1)
    assert isinstance(res, SimulationResult)
    with pytest.raises(ValueError):
        res.last[0, 0] = 1.0


def test_default_block_size():
    # 512 KiB of float64 per block, power of two, clipped to [32, 8192]
    assert default_block_size(500) == 128
    assert default_block_size(1) == 8192
    assert default_block_size(10**7) == 32
    assert DEFAULT_MAX_NORM == 1e150


# ---------------------------------------------------------------- bad input


def test_bad_input():
    sm, sq = const_m(0.5, 2), const_q(0.0, 2)
    with pytest.raises(ValueError, match="dim"):
        simulate_recursion(sm, sq, dim=0)
    with pytest.raises(ValueError, match="n_chains"):
        simulate_recursion(sm, sq, dim=2, n_chains=0)
    with pytest.raises(ValueError, match="burn_in"):
        simulate_recursion(sm, sq, dim=2, n_steps=10, burn_in=10)
    with pytest.raises(ValueError, match="n_steps"):
        simulate_recursion(sm, sq, dim=2, n_steps=0, burn_in=0)
    with pytest.raises(ValueError, match="track"):
        simulate_recursion(sm, sq, dim=2, n_steps=3, burn_in=1, track=[2])
    with pytest.raises(ValueError, match="x0"):
        simulate_recursion(sm, sq, dim=2, n_steps=3, burn_in=1, x0=np.zeros(3))
    with pytest.raises(ValueError, match="max_norm"):
        simulate_recursion(sm, sq, dim=2, n_steps=3, burn_in=1, max_norm=0.0)
    with pytest.raises(ValueError, match="n_jobs"):
        simulate_recursion(sm, sq, dim=2, n_steps=3, burn_in=1, n_jobs=0)
    with pytest.raises(ValueError, match="sample_m"):
        simulate_recursion(const_m(0.5, 3), sq, dim=2, n_steps=3, burn_in=1)
    with pytest.raises(ValueError, match="sample_q"):
        simulate_recursion(sm, const_q(0.0, 3), dim=2, n_steps=3, burn_in=1)
    with pytest.raises(TypeError, match="sample_m"):
        simulate_recursion(None, sq, dim=2)
    with pytest.raises(ValueError, match="row_floats"):
        default_block_size(0)
    res = simulate_recursion(sm, sq, dim=2, n_chains=2, n_steps=3, burn_in=1)
    with pytest.raises(ValueError, match="which"):
        res.log10_norms("first")
