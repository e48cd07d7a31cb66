"""Tests for hts_lib.recursion.kesten: the scalar Kesten recursion and one-dimensional SGD."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from hts_lib.recursion import kesten
from hts_lib.recursion.kesten import (
    kesten_log_moment,
    kesten_lyapunov,
    kesten_tail_index,
    sgd1d_log_moment,
    sgd1d_lyapunov,
    sgd1d_step_sizes,
    sgd1d_tail_index,
    simulate_kesten,
    simulate_sgd1d,
)

# Moments of W ~ chi^2_1: E W^k = (2k - 1)!!
CHI2_1_MOMENTS = [1.0, 1.0, 3.0, 15.0, 105.0, 945.0, 10395.0]


def even_moment_1d(k: int, c: float) -> float:
    """E(1 - c W)^(2k) for W ~ chi^2_1, by the binomial expansion (independent of the quadrature)."""
    return sum(math.comb(2 * k, j) * (-c) ** j * CHI2_1_MOMENTS[j] for j in range(2 * k + 1))


# ------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("k", [1, 2, 3])
def test_alpha_at_closed_form_points(k):
    # alpha = 2k exactly where E(1 - eta a^2)^(2k) = 1; the polynomial root is found independently.
    c = optimize.brentq(lambda c: even_moment_1d(k, c) - 1.0, 1e-6, 2.0 / 3.0 + 1e-9 if k == 1 else 2 / 3,
                        xtol=1e-15) if k > 1 else 2.0 / 3.0
    # brentq xtol 1e-15 on c, |d alpha / d c| = O(10) there, so 1e-9 relative is ample headroom over the
    # quadrature (epsrel 1e-12) and root-finder (xtol 1e-12) errors.
    assert sgd1d_tail_index(c) == pytest.approx(2 * k, rel=1e-9)


@pytest.mark.parametrize("s", [2.0, 4.0, 6.0])
@pytest.mark.parametrize("eta", [0.05, 0.4, 1.0, 2.2])
def test_log_moment_matches_binomial_expansion(s, eta):
    # Even orders have a polynomial closed form; quadrature is asked for 1e-12 relative accuracy,
    # 1e-10 leaves room for the cancellation in the alternating sum.
    exact = math.log(even_moment_1d(int(s) // 2, eta))
    assert sgd1d_log_moment(s, eta) == pytest.approx(exact, rel=1e-10, abs=1e-12)


def test_step_sizes_match_closed_form_and_reference():
    st = sgd1d_step_sizes()
    assert st.eta_crit == pytest.approx(2 / 3, rel=1e-15)  # closed form
    # eta_max from the paper digest's independent table (quoted to 3 decimals): 2.421
    assert st.eta_max == pytest.approx(2.421, abs=5e-4)
    assert abs(sgd1d_lyapunov(st.eta_max)) < 1e-10  # it is the root of rho


def test_sigma_enters_only_through_eta_sigma_squared():
    # A = 1 - eta sigma^2 z^2: exact invariance, up to quadrature error (1e-9 relative).
    assert sgd1d_tail_index(0.25, sigma=2.0) == pytest.approx(sgd1d_tail_index(1.0), rel=1e-9)
    assert sgd1d_step_sizes(sigma=2.0).eta_max == pytest.approx(sgd1d_step_sizes().eta_max / 4, rel=1e-9)


# ------------------------------------------------------------------ properties of h
def test_h_zero_convex_and_slope_rho():
    eta = 1.2
    assert sgd1d_log_moment(0.0, eta) == 0.0
    s = np.linspace(0.1, 6.0, 40)
    h = np.array([sgd1d_log_moment(v, eta) for v in s])
    # convexity: second differences non-negative up to quadrature noise (1e-10 per value)
    assert np.all(np.diff(h, 2) > -1e-9)
    # h'(0) = rho: central-free forward difference h(eps)/eps has O(eps) bias, h''(0) ~ Var log|A| ~ 10
    eps = 1e-5
    assert sgd1d_log_moment(eps, eta) / eps == pytest.approx(sgd1d_lyapunov(eta), abs=1e-3)


def test_alpha_decreases_with_eta():
    etas = np.linspace(0.05, 2.4, 25)
    alphas = np.array([sgd1d_tail_index(e) for e in etas])
    assert np.all(np.diff(alphas) < 0)
    assert math.isnan(sgd1d_tail_index(2.5))  # beyond eta_max = 2.421: no stationary law


def test_reference_values_from_independent_computation():
    # paper digest: plain Gauss-Laguerre gives 0.24 at d = 1, eta = 2.04, the kink-aware value is 0.147
    assert sgd1d_tail_index(2.04) == pytest.approx(0.147, abs=1e-3)
    # digest table (d = 1, b = 1, eta = 0.1): 17.3 to the quoted precision
    assert sgd1d_tail_index(0.1) == pytest.approx(17.3, abs=0.05)


# ------------------------------------------------------------------ generic law of A
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
    assert kesten_lyapunov(law) == pytest.approx(math.log(2) - 1, abs=1e-10)
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
        kesten_tail_index(stats.uniform(0, 1.5)), rel=1e-9)


# ------------------------------------------------------------------ Monte Carlo agreement
def test_moment_agrees_with_monte_carlo():
    # E|1 - eta Z^2|^s by Monte Carlo with n = 4e6 draws; tolerance 4 standard errors of the sample mean
    # (false-failure probability ~ 6e-5 for a fixed seed, and the seed is fixed).
    rng = np.random.default_rng(20261124)
    eta, s, n = 1.0, 0.8, 4_000_000
    vals = np.abs(1.0 - eta * rng.standard_normal(n) ** 2) ** s
    se = vals.std(ddof=1) / math.sqrt(n)
    assert math.exp(sgd1d_log_moment(s, eta)) == pytest.approx(vals.mean(), abs=4 * se)


def test_lyapunov_agrees_with_monte_carlo():
    rng = np.random.default_rng(7)
    eta, n = 1.7, 4_000_000
    vals = np.log(np.abs(1.0 - eta * rng.standard_normal(n) ** 2))
    se = vals.std(ddof=1) / math.sqrt(n)  # 4 SE, as above
    assert sgd1d_lyapunov(eta) == pytest.approx(vals.mean(), abs=4 * se)


# ------------------------------------------------------------------ simulation
def test_simulation_is_reproducible_and_stationary_second_moment():
    eta = 0.3  # alpha = 5.3 > 4, so the sample variance has finite variance and a usable SE
    e1 = simulate_sgd1d(eta, n_chains=40_000, n_steps=200, seed=3)
    e2 = simulate_sgd1d(eta, n_chains=40_000, n_steps=200, seed=3)
    np.testing.assert_array_equal(e1, e2)
    # stationary E e^2 = E B^2 / (1 - E A^2) = eta^2 / (2 eta - 3 eta^2) (sigma = noise = 1);
    # after 200 steps the transient is (E A^2)^200 = (0.67)^200, negligible. Tolerance: 4 SE.
    exact = eta**2 / (2 * eta - 3 * eta**2)
    se = (e1**2).std(ddof=1) / math.sqrt(e1.size)
    assert np.mean(e1**2) == pytest.approx(exact, abs=4 * se)


def test_simulated_tail_slope_matches_alpha():
    # Hill estimator on the top 0.5% of 200k stationary draws at eta = 1 (alpha = 1.09).
    # Hill's SE is alpha / sqrt(k) = 1.09 / sqrt(1000) = 0.034; allow 4 SE plus 0.05 for the
    # second-order (slowly varying) bias of the Kesten tail at this depth.
    eta = 1.0
    x = np.abs(simulate_sgd1d(eta, n_chains=200_000, n_steps=300, seed=11))
    k = 1000
    top = np.sort(x)[-(k + 1):]
    hill = 1.0 / np.mean(np.log(top[1:] / top[0]))
    alpha = sgd1d_tail_index(eta)
    assert hill == pytest.approx(alpha, abs=4 * alpha / math.sqrt(k) + 0.05)


def test_simulate_kesten_general_and_shape_errors():
    x = simulate_kesten(lambda r, n: (np.full(n, 0.5), np.ones(n)), 5, 60, seed=0)
    np.testing.assert_allclose(x, 2.0, rtol=1e-12)  # fixed point of x = x/2 + 1 after 60 halvings
    with pytest.raises(ValueError, match="sample_ab must return"):
        simulate_kesten(lambda r, n: (np.ones(n + 1), np.ones(n)), 5, 3, seed=0)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, match", [
    (lambda: sgd1d_tail_index(0.0), "eta must be > 0"),
    (lambda: sgd1d_tail_index(-1.0), "eta must be > 0"),
    (lambda: sgd1d_tail_index(float("nan")), "eta must be finite"),
    (lambda: sgd1d_tail_index(0.5, sigma=0.0), "sigma must be > 0"),
    (lambda: sgd1d_log_moment(-1.0, 0.5), "s must be >= 0"),
    (lambda: sgd1d_lyapunov(float("inf")), "eta must be finite"),
    (lambda: sgd1d_step_sizes(sigma=-2), "sigma must be > 0"),
    (lambda: simulate_sgd1d(0.5, n_chains=0, n_steps=10), "n_chains must be an integer >= 1"),
    (lambda: simulate_sgd1d(0.5, n_chains=10, n_steps=2.5), "n_steps must be a whole number"),
    (lambda: simulate_sgd1d(0.5, 10, 10, noise=-1.0), "noise must be >= 0"),
    (lambda: kesten_log_moment(-0.5, stats.norm()), "s must be >= 0"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="eta must be a real number"):
        sgd1d_tail_index("0.5")
    with pytest.raises(TypeError, match="law must be"):
        kesten_tail_index(3.0)
    with pytest.raises(TypeError, match="law must be"):
        kesten_lyapunov(lambda s: s)
    with pytest.raises(TypeError, match="frozen"):
        kesten_tail_index(stats.rv_discrete(values=([0.5, 2], [0.5, 0.5])))


def test_public_api_is_listed():
    for name in kesten.__all__:
        assert hasattr(kesten, name)


@pytest.mark.parametrize("eta", [0.001, 0.005, 1 / 144 * 0.999, 1 / 144 * 1.001])
def test_lyapunov_small_eta_matches_series(eta):
    # E log(1 - c Z^2) = -sum_k c^k (2k-1)!! / k, an asymptotic series whose terms for c <= 0.007 are
    # below 1e-13 by k = 8; the two code paths (smooth form for c < 1/144, weighted form above) must agree.
    series = -sum(eta**k * math.prod(range(1, 2 * k, 2)) / k for k in range(1, 9))
    assert sgd1d_lyapunov(eta) == pytest.approx(series, rel=1e-9, abs=1e-14)
