"""Tests for hts_lib.recursion.kesten: the scalar Kesten recursion (theory for a law of A, simulation, moment
paths and snapshots)."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from hts_lib.recursion import kesten
from hts_lib.recursion.kesten import (
    kesten_log_moment,
    kesten_lyapunov_exponent,
    kesten_moment_paths,
    kesten_snapshots,
    kesten_tail_index,
    simulate_kesten,
)
from hts_lib.recursion.samplers import sgd1d_sampler as sgd_sampler
from hts_lib.recursion.sgd1d import sgd1d_log_moment, sgd1d_moment_path, simulate_sgd1d


# ------------------------------------------------------------------ theory for a law of A
def test_generic_law_matches_sgd_specialisation():
    # A = 1 - eta Z^2 written as a scipy law: c - c*chi2_1 shifted; use loc/scale of chi2(1)
    eta = 0.9
    a_law = _affine_chi2(eta)  # E|1 - eta W|^s through the generic integrator on the law of A
    for s in (0.5, 1.0, 3.0):
        # both are adaptive quadratures asked for ~1e-11; 1e-7 absorbs the different kink handling
        # (the generic one integrates the chi2_1 density's a^(-1/2) end-point singularity directly)
        assert kesten_log_moment(s, a_law) == pytest.approx(sgd1d_log_moment(s, eta), rel=1e-7, abs=1e-9)


def _affine_chi2(eta):
    """Frozen law of A = 1 - eta W, W ~ chi2_1: a chi2 with loc 1 and negative scale is not allowed,
    so build it as a custom rv_continuous."""

    class _A(stats.rv_continuous):
        def _pdf(self, a):
            w = (1.0 - a) / eta
            return np.where(w > 0, stats.chi2.pdf(w, 1) / eta, 0.0)

        def _ppf(self, q):  # analytic quantile, so that scipy does not invert the cdf numerically
            return 1.0 - eta * stats.chi2.ppf(1.0 - q, 1)

        def _logpdf(self, a):
            w = (1.0 - a) / eta
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(w > 0, stats.chi2.logpdf(w, 1) - math.log(eta), -np.inf)

    return _A(a=-np.inf, b=1.0, name="one_minus_eta_chi2")()


def test_uniform_multiplier_closed_form():
    # A ~ U(0, 2): E A^s = 2^s / (s + 1); root at s = 1, E log A = log 2 - 1.
    law = stats.uniform(0, 2)
    assert kesten_lyapunov_exponent(law) == pytest.approx(math.log(2) - 1, abs=1e-10)
    assert kesten_tail_index(law) == pytest.approx(1.0, rel=1e-9)
    # U(0, 1.5): E A^s = 1.5^s/(s+1) = 1 has a root found independently
    root = optimize.brentq(lambda s: s * math.log(1.5) - math.log1p(s), 0.1, 20, xtol=1e-14)
    assert kesten_tail_index(stats.uniform(0, 1.5)) == pytest.approx(root, rel=1e-9)


def test_bounded_contraction_has_no_power_law_and_expansion_has_no_stationary_law():
    assert kesten_tail_index(stats.uniform(0, 1)) == math.inf  # |A| <= 1: E|A|^s < 1 for all s
    assert math.isnan(kesten_tail_index(stats.uniform(0.5, 2)))  # E log A > 0
    # discrete law: A = +-2 with prob 1/8 each, 1/2 otherwise (0.75): E|A|^s = 0.25*2^s + 0.75*0.5^s
    law = stats.rv_discrete(values=([-2, 0.5, 2], [0.125, 0.75, 0.125]))()
    root = optimize.brentq(lambda s: 0.25 * 2**s + 0.75 * 0.5**s - 1, 0.1, 10, xtol=1e-14)
    assert kesten_tail_index(law) == pytest.approx(root, rel=1e-9)


def test_callable_law_is_accepted():
    assert kesten_tail_index(lambda s: s * math.log(1.5) - math.log1p(s)) == pytest.approx(
        kesten_tail_index(stats.uniform(0, 1.5)), rel=1e-9
    )


# ------------------------------------------------------------------ Monte Carlo agreement


def test_simulate_kesten_general_and_shape_errors():
    x = simulate_kesten(lambda r, n: (np.full(n, 0.5), np.ones(n)), 5, 60, seed=0)
    np.testing.assert_allclose(x, 2.0, rtol=1e-12)  # fixed point of x = x/2 + 1 after 60 halvings
    with pytest.raises(ValueError, match="sample_ab must return"):
        simulate_kesten(lambda r, n: (np.ones(n + 1), np.ones(n)), 5, 3, seed=0)


# ------------------------------------------------------------------ bad input


# ------------------------------------------------------------------ Monte Carlo moment paths and snapshots
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


def test_rho_nan_convention_for_a_callable_law():
    # A = 1.5 surely: h(s) = s log 1.5 > 0 for every s > 0, rho = log 1.5 > 0, no stationary law: nan (the
    # convention of log_moment_root, detected from h alone); a law with E log A > 0 gives nan through rho
    assert math.isnan(kesten_tail_index(lambda s: s * math.log(1.5)))
    assert math.isnan(kesten_tail_index(stats.uniform(0.5, 2)))


def test_simulate_kesten_accepts_one_start_per_chain():
    # A = 0.5, B = 0: x_k = x0 / 2^k exactly (halvings are exact in floating point)
    x0 = np.array([1.0, -3.0, 8.0])
    x = simulate_kesten(lambda r, n: (np.full(n, 0.5), np.zeros(n)), 3, 4, x0=x0, seed=0)
    np.testing.assert_array_equal(x, x0 / 16)


# ------------------------------------------------------------------ bad input
def test_bad_input():
    sab = sgd_sampler(0.5)
    with pytest.raises(ValueError, match="s must be >= 0"):
        kesten_log_moment(-0.5, stats.norm())
    with pytest.raises(TypeError, match="law must be"):
        kesten_tail_index(3.0)
    with pytest.raises(TypeError, match="law must be"):
        kesten_lyapunov_exponent(lambda s: s)
    with pytest.raises(TypeError, match="frozen"):
        kesten_tail_index(stats.rv_discrete(values=([0.5, 2], [0.5, 0.5])))
    with pytest.raises(ValueError, match="powers must be > 0"):
        kesten_moment_paths(sab, 10, 5, [0.0])
    with pytest.raises(ValueError, match="n_chains must be"):
        kesten_moment_paths(sab, 1, 5, [1.0])
    with pytest.raises(ValueError, match="x0 must be a number or an array of shape"):
        kesten_moment_paths(sab, 10, 5, [1.0], x0=np.zeros(3))
    with pytest.raises(TypeError, match="sample_ab must be callable"):
        kesten_moment_paths(None, 10, 5, [1.0])
    with pytest.raises(TypeError, match="sample_ab must be callable"):
        simulate_kesten("abc", 10, 5)
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


def test_public_api_is_listed():
    for name in kesten.__all__:
        assert hasattr(kesten, name)
