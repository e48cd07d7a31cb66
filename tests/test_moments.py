"""Tests for hts_lib.recursion.moments: exact SGD moments along k, Monte Carlo moment paths, snapshots and averages."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from hts_lib.recursion.kesten import sgd1d_log_moment, simulate_kesten, simulate_sgd1d
from hts_lib.recursion.moments import (
    kesten_moment_paths,
    sgd1d_sampler,
    kesten_snapshots,
    sgd1d_mixed_moment,
    sgd1d_moment_path,
)


def sgd_sampler(eta, sigma=1.0, noise=1.0):
    """(A, B) of one-dimensional SGD, drawn exactly as hts_lib.recursion.kesten.simulate_sgd1d draws them."""
    def sample_ab(rng, n):
        a = rng.normal(0.0, sigma, n)
        return 1.0 - eta * a * a, eta * noise * a * rng.standard_normal(n)
    return sample_ab


# ------------------------------------------------------------------ exact mixed moments
@pytest.mark.parametrize("j,m", [(0, 2), (1, 2), (2, 2), (3, 0), (4, 0), (2, 4), (0, 6)])
@pytest.mark.parametrize("eta,sigma,noise", [(0.3, 1.0, 1.0), (2 / 3, 1.0, 0.5), (0.2, 1.7, 2.0)])
def test_mixed_moment_matches_quadrature(j, m, eta, sigma, noise):
    # Independent method: adaptive quadrature of E[(1 - eta a^2)^j a^m] against the normal density,
    # times the exact E eps^m. quad is asked for 1e-12 relative; 1e-9 covers cancellation in the sum.
    f = lambda a: (1 - eta * a * a) ** j * a**m * stats.norm.pdf(a, scale=sigma)  # noqa: E731
    val = integrate.quad(f, -np.inf, np.inf, epsabs=0, epsrel=1e-12, limit=200)[0]
    eps_m = math.prod(range(m - 1, 0, -2)) if m else 1
    expected = (eta * noise) ** m * eps_m * val
    assert sgd1d_mixed_moment(j, m, eta, sigma, noise) == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_mixed_moment_closed_forms_and_odd_powers():
    c = 0.4
    # E A = 1 - c, E A^2 = 1 - 2c + 3c^2, E B^2 = eta^2 noise^2 sigma^2: exact up to rounding (1e-14)
    assert sgd1d_mixed_moment(1, 0, c) == pytest.approx(1 - c, rel=1e-14)
    assert sgd1d_mixed_moment(2, 0, c) == pytest.approx(1 - 2 * c + 3 * c * c, rel=1e-14)
    assert sgd1d_mixed_moment(0, 2, c, sigma=2.0, noise=3.0) == pytest.approx(c * c * 9 * 4, rel=1e-14)
    for j in range(4):
        assert sgd1d_mixed_moment(j, 3, c) == 0.0  # odd powers of the symmetric B vanish exactly
    # E A^s = exp(h(s)) for even s: the same numbers as the quadrature of hts_lib.recursion.kesten (1e-10 relative)
    for s in (2, 4, 6):
        assert math.log(sgd1d_mixed_moment(s, 0, 0.9)) == pytest.approx(sgd1d_log_moment(s, 0.9), rel=1e-10)


# ------------------------------------------------------------------ exact moment paths
@pytest.mark.parametrize("eta", [0.3, 2 / 3, 0.9])
def test_second_moment_path_closed_form(eta):
    # E e_k^2 = r^k x0^2 + q (1 - r^k) / (1 - r), r = E A^2, q = eta^2: geometric sums, exact to rounding.
    x0, k = 1.5, np.arange(31)
    r = 1 - 2 * eta + 3 * eta * eta
    expected = r**k * x0**2 + (eta**2 * k if r == 1 else eta**2 * (1 - r**k) / (1 - r))
    got = sgd1d_moment_path(2, eta, 30, x0=x0)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_second_moment_is_linear_at_the_critical_step():
    # alpha = 2 at eta = 2/3: E e_k^2 = k eta^2 exactly (a polynomial, not exponential, growth at p = alpha)
    m2 = sgd1d_moment_path(2, 2 / 3, 200)
    np.testing.assert_allclose(m2, np.arange(201) * 4 / 9, rtol=1e-12, atol=1e-15)


def test_second_moment_converges_to_the_stationary_value():
    # E e_inf^2 = eta noise^2 / (2 - 3 eta sigma^2) (stationarity of the recursion); after 400 steps the
    # geometric error r^400 with r = 0.62 is far below the 1e-12 tolerance.
    eta, noise = 0.3, 0.7
    m2 = sgd1d_moment_path(2, eta, 400, noise=noise, x0=3.0)
    assert m2[-1] == pytest.approx(eta * noise**2 / (2 - 3 * eta), rel=1e-12)


@pytest.mark.parametrize("p,eta", [(4, 2 / 3), (4, 0.9), (6, 0.5), (2, 1.2)])
def test_growth_rate_is_h_of_p_above_the_tail_index(p, eta):
    # For h(p) > 0 the top diagonal entry E A^p = e^{h(p)} dominates the triangular system, so
    # log(m_k / m_{k-1}) -> h(p). The next rate is max(h(p-2), 0) < h(p); the gap exceeds 1 in these cases,
    # so after 60 steps the relative correction is below e^-60 (60 steps keep m_k far from overflow), and
    # the quadrature gives h to 1e-10: 1e-9 relative is ample.
    h = sgd1d_log_moment(p, eta)
    assert h - max(sgd1d_log_moment(p - 2, eta), 0.0) > 1.0
    m = sgd1d_moment_path(p, eta, 60)
    assert np.all(np.isfinite(m))
    assert math.log(m[-1] / m[-2]) == pytest.approx(h, rel=1e-9)


def test_fourth_moment_matches_monte_carlo():
    # Seeded Monte Carlo, 200k chains, few steps, small eta (tail index ~ 12 > 8, so e^4 has finite
    # variance): within 4 standard errors.
    eta, n = 0.2, 200_000
    exact = sgd1d_moment_path(4, eta, 10, x0=0.5)
    mp = kesten_moment_paths(sgd_sampler(eta), n, 10, [4.0], x0=0.5, seed=11)
    z = np.abs(mp.mean[0, 1:] - exact[1:]) / mp.se[0, 1:]
    assert np.all(z < 4), z


def test_moment_path_is_monotone_in_eta_and_scales_with_noise():
    # E e_k^p is homogeneous of degree p in (noise, x0) jointly: exact identity up to rounding
    a = sgd1d_moment_path(4, 0.5, 20, noise=1.0, x0=0.3)
    b = sgd1d_moment_path(4, 0.5, 20, noise=2.0, x0=0.6)
    np.testing.assert_allclose(b, 16 * a, rtol=1e-12)
    # from x0 = 0 the moments increase with k (each step adds non-negative noise): property
    m = sgd1d_moment_path(2, 0.5, 50)
    assert np.all(np.diff(m) > 0)


def test_moment_path_overflow_gives_inf():
    m = sgd1d_moment_path(16, 2.0, 2000)
    assert np.isinf(m[-1]) and np.all(np.isfinite(m[:5]))


# ------------------------------------------------------------------ Monte Carlo moment paths
def test_moment_paths_agree_with_exact_second_moment():
    # eta = 0.3: tail index 5.3 > 4, so e^2 has a finite variance and the standard error is valid; 4 SE.
    eta = 0.3
    mp = kesten_moment_paths(sgd_sampler(eta), 50_000, 40, [2.0, 1.0], seed=3)
    exact = sgd1d_moment_path(2, eta, 40)
    z = np.abs(mp.mean[0, 1:] - exact[1:]) / mp.se[0, 1:]
    assert np.all(z < 4), z.max()
    assert mp.mean.shape == (2, 41) and mp.se.shape == (2, 41)
    assert mp.mean[0, 0] == 0.0 and mp.se[0, 0] == 0.0  # x0 = 0 exactly
    assert np.all(mp.steps == np.arange(41)) and mp.n_chains == 50_000


def test_moment_paths_follow_the_same_chains_as_simulate_kesten():
    # Same sampler, same seed, same order of draws: the last step must match simulate_kesten exactly.
    sab = sgd_sampler(0.8)
    mp = kesten_moment_paths(sab, 500, 30, [1.0], seed=5)
    x = simulate_kesten(sab, 500, 30, seed=5)
    assert mp.mean[0, -1] == pytest.approx(np.mean(np.abs(x)), rel=1e-14)


def test_moment_paths_accept_an_array_start():
    x0 = np.linspace(-1, 1, 100)
    mp = kesten_moment_paths(sgd_sampler(0.3), 100, 2, [2.0], x0=x0, seed=0)
    assert mp.mean[0, 0] == pytest.approx(np.mean(x0**2), rel=1e-14)


# ------------------------------------------------------------------ snapshots and averages
def test_snapshots_match_simulate_kesten_and_a_direct_average():
    sab = sgd_sampler(0.8)
    snap = kesten_snapshots(sab, 200, [10, 25, 60], burn_in=5, seed=7)
    for i, k in enumerate([10, 25, 60]):  # same stream as simulate_kesten: identical values
        np.testing.assert_array_equal(snap.values[i], simulate_kesten(sab, 200, k, seed=7))
    # direct average from a recorded path (checkpoints at every step), exact up to summation order
    full = kesten_snapshots(sab, 200, list(range(6, 61)), burn_in=5, seed=7)
    np.testing.assert_allclose(snap.averages[2], full.values.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(snap.averages[0], full.values[:5].mean(axis=0), rtol=1e-12, atol=1e-15)
    assert snap.burn_in == 5 and snap.steps.tolist() == [10, 25, 60]


def test_snapshots_agree_with_simulate_sgd1d_in_law():
    # simulate_sgd1d draws the same pairs in the same order: identical chains for the same seed.
    snap = kesten_snapshots(sgd_sampler(0.5), 300, [40], seed=9)
    np.testing.assert_array_equal(snap.values[0], simulate_sgd1d(0.5, 300, 40, seed=9))


def test_average_of_a_stationary_chain_has_the_right_mean():
    # A ~ U(0, 1), B = 1: E X_inf = 2. Averages over 2000 steps of 2000 chains; the standard deviation of
    # the average is estimated from the chains themselves: 4 SE.
    sab = lambda rng, n: (rng.uniform(0, 1, n), np.ones(n))  # noqa: E731
    snap = kesten_snapshots(sab, 2000, [2100], burn_in=100, seed=1)
    avg = snap.averages[0]
    assert abs(avg.mean() - 2.0) < 4 * avg.std(ddof=1) / math.sqrt(avg.size)


def test_sgd1d_sampler_draws_the_chains_of_simulate_sgd1d():
    # same draws in the same order as hts_lib.recursion.kesten.simulate_sgd1d: identical chains for one seed
    x = simulate_kesten(sgd1d_sampler(0.7, sigma=1.3, noise=0.4), 50, 25, seed=4)
    np.testing.assert_array_equal(x, simulate_sgd1d(0.7, 50, 25, sigma=1.3, noise=0.4, seed=4))


# ------------------------------------------------------------------ bad input
def test_bad_input():
    sab = sgd_sampler(0.5)
    with pytest.raises(ValueError, match="eta must be"):
        sgd1d_sampler(-0.5)
    with pytest.raises(ValueError, match="noise must be"):
        sgd1d_sampler(0.5, noise=-1)
    with pytest.raises(ValueError, match="j must be"):
        sgd1d_mixed_moment(-1, 0, 0.5)
    with pytest.raises(ValueError, match="eta must be"):
        sgd1d_mixed_moment(1, 0, 0.0)
    with pytest.raises(ValueError, match="noise must be"):
        sgd1d_mixed_moment(1, 2, 0.5, noise=-1.0)
    with pytest.raises(ValueError, match="p must be an even integer"):
        sgd1d_moment_path(3, 0.5, 10)
    with pytest.raises(ValueError, match="p must be an integer <= 16"):
        sgd1d_moment_path(18, 0.5, 10)
    with pytest.raises(ValueError, match="n_steps must be"):
        sgd1d_moment_path(2, 0.5, 0)
    with pytest.raises(ValueError, match="x0 must be finite"):
        sgd1d_moment_path(2, 0.5, 5, x0=math.nan)
    with pytest.raises(ValueError, match="powers must be > 0"):
        kesten_moment_paths(sab, 10, 5, [0.0])
    with pytest.raises(ValueError, match="n_chains must be"):
        kesten_moment_paths(sab, 1, 5, [1.0])
    with pytest.raises(ValueError, match="x0 must be a number or an array of shape"):
        kesten_moment_paths(sab, 10, 5, [1.0], x0=np.zeros(3))
    with pytest.raises(TypeError, match="sample_ab must be callable"):
        kesten_moment_paths(None, 10, 5, [1.0])
    with pytest.raises(ValueError, match="sample_ab must return two arrays"):
        kesten_moment_paths(lambda r, n: (np.ones(n), np.ones(n + 1)), 10, 5, [1.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        kesten_snapshots(sab, 10, [5, 5])
    with pytest.raises(ValueError, match="> burn_in"):
        kesten_snapshots(sab, 10, [5, 8], burn_in=5)
    with pytest.raises(ValueError, match="burn_in must be"):
        kesten_snapshots(sab, 10, [5], burn_in=-1)
    with pytest.raises(ValueError, match="at least one step"):
        kesten_snapshots(sab, 10, [])
    with pytest.raises(ValueError, match="checkpoints must be"):
        kesten_snapshots(sab, 10, [0, 3])
