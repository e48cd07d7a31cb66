"""Tests for hts_lib.recursion.sgd1d: one-dimensional SGD (theory by quadrature, exact moments,
simulation)."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from hts_lib.recursion import sgd1d
from hts_lib.recursion.kesten import kesten_moment_paths, simulate_kesten
from hts_lib.recursion.samplers import sgd1d_sampler
from hts_lib.recursion.sgd1d import (
    sgd1d_log_moment,
    sgd1d_lyapunov_exponent,
    sgd1d_mixed_moment,
    sgd1d_moment_path,
    sgd1d_step_sizes,
    sgd1d_tail_index,
    simulate_sgd1d,
)


def sgd_sampler(eta, sigma=1.0, noise=1.0):
    """(A, B) of one-dimensional SGD, drawn as the library's sgd1d_sampler documents (a first, then eps)."""

    def sample_ab(rng, n):
        a = rng.normal(0.0, sigma, n)
        return 1.0 - eta * a * a, eta * noise * a * rng.standard_normal(n)

    return sample_ab


# Moments of W ~ chi^2_1: E W^k = (2k - 1)!!
CHI2_1_MOMENTS = [1.0, 1.0, 3.0, 15.0, 105.0, 945.0, 10395.0]


def even_moment_1d(k: int, c: float) -> float:
    """E(1 - c W)^(2k) for W ~ chi^2_1, by the binomial expansion (independent of the quadrature)."""
    return sum(math.comb(2 * k, j) * (-c) ** j * CHI2_1_MOMENTS[j] for j in range(2 * k + 1))


# ------------------------------------------------------------------ closed forms and properties
@pytest.mark.parametrize("k", [1, 2, 3])
def test_alpha_at_closed_form_points(k):
    # alpha = 2k exactly where E(1 - eta a^2)^(2k) = 1; the polynomial root is found independently.
    c = (
        optimize.brentq(
            lambda c: even_moment_1d(k, c) - 1.0, 1e-6, 2.0 / 3.0 + 1e-9 if k == 1 else 2 / 3, xtol=1e-15
        )
        if k > 1
        else 2.0 / 3.0
    )
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
    assert abs(sgd1d_lyapunov_exponent(st.eta_max)) < 1e-10  # it is the root of rho


def test_sigma_enters_only_through_eta_sigma_squared():
    # A = 1 - eta sigma^2 z^2: exact invariance, up to quadrature error (1e-9 relative).
    assert sgd1d_tail_index(0.25, sigma=2.0) == pytest.approx(sgd1d_tail_index(1.0), rel=1e-9)
    assert sgd1d_step_sizes(sigma=2.0).eta_max == pytest.approx(sgd1d_step_sizes().eta_max / 4, rel=1e-9)


def test_h_zero_convex_and_slope_rho():
    eta = 1.2
    assert sgd1d_log_moment(0.0, eta) == 0.0
    s = np.linspace(0.1, 6.0, 40)
    h = np.array([sgd1d_log_moment(v, eta) for v in s])
    # convexity: second differences non-negative up to quadrature noise (1e-10 per value)
    assert np.all(np.diff(h, 2) > -1e-9)
    # h'(0) = rho: central-free forward difference h(eps)/eps has O(eps) bias, h''(0) ~ Var log|A| ~ 10
    eps = 1e-5
    assert sgd1d_log_moment(eps, eta) / eps == pytest.approx(sgd1d_lyapunov_exponent(eta), abs=1e-3)


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


@pytest.mark.parametrize("eta", [0.001, 0.005, 1 / 144 * 0.999, 1 / 144 * 1.001])
def test_lyapunov_small_eta_matches_series(eta):
    # E log(1 - c Z^2) = -sum_k c^k (2k-1)!! / k, an asymptotic series whose terms for c <= 0.007 are
    # below 1e-13 by k = 8; the two code paths (smooth form for c < 1/144, weighted form above) must agree.
    series = -sum(eta**k * math.prod(range(1, 2 * k, 2)) / k for k in range(1, 9))
    assert sgd1d_lyapunov_exponent(eta) == pytest.approx(series, rel=1e-9, abs=1e-14)


# ------------------------------------------------------------------ Monte Carlo agreement and simulation
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
    assert sgd1d_lyapunov_exponent(eta) == pytest.approx(vals.mean(), abs=4 * se)


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
    top = np.sort(x)[-(k + 1) :]
    hill = 1.0 / np.mean(np.log(top[1:] / top[0]))
    alpha = sgd1d_tail_index(eta)
    assert hill == pytest.approx(alpha, abs=4 * alpha / math.sqrt(k) + 0.05)


# ------------------------------------------------------------------ exact moments along k
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
    # E A^s = exp(h(s)) for even s: the same numbers as the quadrature of sgd1d_log_moment (1e-10 relative)
    for s in (2, 4, 6):
        assert math.log(sgd1d_mixed_moment(s, 0, 0.9)) == pytest.approx(sgd1d_log_moment(s, 0.9), rel=1e-10)


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


def test_sgd1d_sampler_draws_the_chains_of_simulate_sgd1d():
    # the documented draw order (a, then eps), written out independently above: identical chains for one seed
    ref = simulate_kesten(sgd_sampler(0.7, sigma=1.3, noise=0.4), 50, 25, seed=4)
    x = simulate_kesten(sgd1d_sampler(0.7, sigma=1.3, noise=0.4), 50, 25, seed=4)
    np.testing.assert_array_equal(x, ref)
    np.testing.assert_array_equal(simulate_sgd1d(0.7, 50, 25, sigma=1.3, noise=0.4, seed=4), ref)


# ------------------------------------------------------------------ bad input


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sgd1d_tail_index(0.0), "eta must be > 0"),
        (lambda: sgd1d_tail_index(-1.0), "eta must be > 0"),
        (lambda: sgd1d_tail_index(float("nan")), "eta must be finite"),
        (lambda: sgd1d_tail_index(0.5, sigma=0.0), "sigma must be > 0"),
        (lambda: sgd1d_log_moment(-1.0, 0.5), "s must be >= 0"),
        (lambda: sgd1d_lyapunov_exponent(float("inf")), "eta must be finite"),
        (lambda: sgd1d_step_sizes(sigma=-2), "sigma must be > 0"),
        (lambda: simulate_sgd1d(0.5, n_chains=0, n_steps=10), "n_chains must be an integer >= 1"),
        (lambda: simulate_sgd1d(0.5, n_chains=10, n_steps=2.5), "n_steps must be a whole number"),
        (lambda: simulate_sgd1d(0.5, 10, 10, noise=-1.0), "noise must be >= 0"),
        (lambda: sgd1d_sampler(-0.5), "eta must be"),
        (lambda: sgd1d_sampler(0.5, noise=-1), "noise must be"),
        (lambda: sgd1d_mixed_moment(-1, 0, 0.5), "j must be"),
        (lambda: sgd1d_mixed_moment(1, 0, 0.0), "eta must be"),
        (lambda: sgd1d_mixed_moment(1, 2, 0.5, noise=-1.0), "noise must be"),
        (lambda: sgd1d_moment_path(3, 0.5, 10), "p must be an even integer"),
        (lambda: sgd1d_moment_path(18, 0.5, 10), "p must be an integer <= 16"),
        (lambda: sgd1d_moment_path(2, 0.5, 0), "n_steps must be"),
        (lambda: sgd1d_moment_path(2, 0.5, 5, x0=math.nan), "x0 must be finite"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="eta must be a real number"):
        sgd1d_tail_index("0.5")


def test_public_api_is_listed():
    for name in sgd1d.__all__:
        assert hasattr(sgd1d, name)
