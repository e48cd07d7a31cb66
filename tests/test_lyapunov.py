"""Tests for hts_lib.recursion.montecarlo: Monte Carlo Lyapunov exponent, moment function and tail index for
general data, and the exact second-moment (alpha < 2) criterion.

Stochastic checks are seeded and compare with exact values within 3 standard errors (the
standard errors come from independent replicas or batch means, as documented per function).
Exact comparisons use hts_lib.recursion.exact (isotropic Gaussian data), the closed-form spectral radius of
E[M (x) M], and one-dimensional quadrature (hts_lib.recursion.kesten) for non-Gaussian data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from hts_lib.recursion import exact as theory
from hts_lib.recursion.montecarlo import (
    MCEstimate,
    gaussian_sampler,
    lyapunov_exponent_mc,
    moment_function_mc,
    rademacher_sampler,
    second_moment_spectral_radius,
    second_moment_spectral_radius_mc,
    student_t_sampler,
    tail_index_mc,
    uniform_sampler,
)

Z = 3.0   # agreement within 3 standard errors (two-sided, ~0.3 % false-alarm rate per check)


def _within(est: MCEstimate, exact: float, z: float = Z) -> bool:
    return abs(est.value - exact) <= z * est.stderr


# ----------------------------------------------------------------------------------------------
# Isotropic Gaussian data: agreement with the exact engine
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("eta, b, d", [(0.6553, 1, 2), (0.3004, 1, 5), (1.5, 1, 1), (0.05, 4, 30)])
def test_rho_mc_matches_exact(eta, b, d):
    est = lyapunov_exponent_mc(eta, b, d, n_steps=10_000, seed=1)
    assert est.stderr > 0
    assert _within(est, theory.lyapunov_exponent(eta, b, d))


@pytest.mark.parametrize("s", [0.5, 2.0, 5.0])
def test_h_mc_matches_exact(s):
    eta, b, d = 0.3004, 1, 5
    est = moment_function_mc(s, eta, b, d, n_walkers=500, n_steps=200, seed=2)
    assert _within(est, theory.moment_function(s, eta, b, d))


def test_alpha_mc_matches_exact_isotropic():
    eta, b, d = 0.6553, 1, 2     # alpha = 1.000 (paper.md section 2.1)
    est = tail_index_mc(eta, b, d, n_walkers=500, n_steps=150, burn_in=50, n_replicas=6, seed=3)
    assert est.stderr > 0
    assert _within(est, theory.tail_index(eta, b, d))


def test_alpha_mc_reports_inf_and_nan():
    assert tail_index_mc(0.02, 1, 3, n_walkers=100, n_steps=50, burn_in=10, n_replicas=2, seed=0).value == math.inf
    # beyond eta_max: h > 0 at every order tried
    assert math.isnan(tail_index_mc(3.0, 1, 1, n_walkers=100, n_steps=50, burn_in=10, n_replicas=2, seed=0).value)


# ----------------------------------------------------------------------------------------------
# Non-Gaussian data in one dimension: independent quadrature
# ----------------------------------------------------------------------------------------------

def test_rho_rademacher_d1_is_deterministic():
    # a = +-1, b = 1: M = 1 - eta exactly, so every log-norm is log|1 - eta| and the SE is 0
    est = lyapunov_exponent_mc(0.5, 1, 1, rademacher_sampler(), n_steps=500, seed=0)
    assert est.value == pytest.approx(math.log(0.5), abs=1e-14)
    assert est.stderr == pytest.approx(0.0, abs=1e-14)


def _uniform_log_moment(s, eta):
    """log E|1 - eta a^2|^s for a ~ U(-sqrt 3, sqrt 3), by adaptive quadrature split at the kink."""
    r3 = math.sqrt(3.0)
    z0 = 1 / math.sqrt(eta)
    pts = [0.0] + ([z0] if z0 < r3 else []) + [r3]
    total = sum(integrate.quad(lambda z: abs(1 - eta * z * z) ** s, a0, a1, epsabs=0, epsrel=1e-12, limit=200)[0]
                for a0, a1 in zip(pts[:-1], pts[1:]))
    return math.log(total / r3)


def test_alpha_mc_uniform_d1_against_kesten_quadrature():
    kesten = pytest.importorskip("hts_lib.recursion.kesten")
    eta = 1.2
    alpha = kesten.kesten_tail_index(lambda s: _uniform_log_moment(s, eta))
    assert 0.5 < alpha < 20
    est = tail_index_mc(eta, 1, 1, uniform_sampler(), n_walkers=1000, n_steps=200, burn_in=10, n_replicas=6, seed=4)
    assert _within(est, alpha)
    h2 = moment_function_mc(2.0, eta, 1, 1, uniform_sampler(), n_walkers=1000, n_steps=200, seed=5)
    assert _within(h2, _uniform_log_moment(2.0, eta))


# ----------------------------------------------------------------------------------------------
# h(2) = log r(E[M (x) M]) for anisotropic and non-Gaussian data
# ----------------------------------------------------------------------------------------------

def test_h2_mc_anisotropic_matches_spectral_radius():
    spec = np.array([0.25, 1.0, 2.5])
    eta = 0.4
    exact = math.log(second_moment_spectral_radius(eta, 1, spec))
    # The population has an O(1/n_walkers) bias for anisotropic data (about -1.9/n_walkers here,
    # measured with 48 replicas); 4000 walkers keep it below a quarter of the standard error.
    est = moment_function_mc(2.0, eta, 1, 3, gaussian_sampler(spec), n_walkers=4000, n_steps=150, burn_in=50,
                             n_replicas=6, seed=6)
    assert 1.9 / 4000 < 0.3 * est.stderr
    assert _within(est, exact)


@pytest.mark.parametrize("sampler, kurt", [(rademacher_sampler(), 1.0), (uniform_sampler(), 1.8)])
def test_h2_mc_non_gaussian_matches_kurtosis_formula(sampler, kurt):
    eta, b, d = 0.4, 2, 3
    exact = math.log(second_moment_spectral_radius(eta, b, np.ones(d), kurtosis=kurt))
    est = moment_function_mc(2.0, eta, b, d, sampler, n_walkers=1000, n_steps=150, burn_in=50, seed=7)
    assert _within(est, exact)


def test_rho_below_half_h2_for_anisotropic_data():
    # convexity of h with h(0) = 0: rho = h'(0) <= h(2) / 2, exactly computable on the right
    spec = np.array([0.25, 1.0, 2.5])
    for eta in (0.3, 0.45):
        est = lyapunov_exponent_mc(eta, 1, 3, gaussian_sampler(spec), n_steps=5000, seed=8)
        assert est.value - Z * est.stderr < 0.5 * math.log(second_moment_spectral_radius(eta, 1, spec))


# ----------------------------------------------------------------------------------------------
# The second-moment operator: closed form
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("eta, b, d", [(0.1, 1, 10), (0.7, 5, 3), (1.9, 1000, 1), (0.01, 2, 200)])
def test_spectral_radius_isotropic_gaussian_is_the_even_moment(eta, b, d):
    r = second_moment_spectral_radius(eta, b, np.ones(d))
    # both exact; the eigen-solver adds ~1e-15 relative
    assert r == pytest.approx(theory.even_moment(1, eta, b, d), rel=1e-13)


def test_spectral_radius_scalar_case():
    # d = 1: E M^2 = 1 - 2 eta lam + eta^2 lam^2 (b - 1 + kurtosis) / b
    for eta, b, lam, kurt in [(0.3, 1, 2.0, 3.0), (0.8, 4, 0.5, 1.0), (0.2, 3, 1.0, 5.0)]:
        expected = 1 - 2 * eta * lam + eta * eta * lam * lam * (b - 1 + kurt) / b
        assert second_moment_spectral_radius(eta, b, [lam], kurtosis=kurt) == pytest.approx(expected, rel=1e-14)


def test_spectral_radius_rotation_invariant_for_gaussian_data():
    rng = np.random.default_rng(9)
    spec = np.array([0.3, 1.0, 1.7, 4.0])
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    cov = q @ np.diag(spec) @ q.T
    assert second_moment_spectral_radius(0.2, 3, cov) == pytest.approx(second_moment_spectral_radius(0.2, 3, spec),
                                                                       rel=1e-12)


def test_spectral_radius_against_brute_force_operator():
    """Build E[M X M^T] on all d x d matrices from the Isserlis fourth moments directly (no block
    structure) and compare the spectral radius."""
    spec = np.array([0.5, 1.0, 3.0])
    d, b, eta = 3, 2, 0.3
    sig = np.diag(spec)
    k4 = np.zeros((d, d, d, d))
    for p in range(d):
        for q in range(d):
            for r in range(d):
                for t in range(d):
                    k4[p, q, r, t] = sig[p, q] * sig[r, t] + sig[p, r] * sig[q, t] + sig[p, t] * sig[q, r]
    # (M (x) M)_{(p r),(q t)} = M_pq M_rt; E[aa^T (x) aa^T]_{(p r),(q t)} = E a_p a_q a_r a_t
    k4m = k4.transpose(0, 2, 1, 3).reshape(d * d, d * d)
    eye = np.eye(d)
    op = (np.kron(eye, eye) - eta * (np.kron(sig, eye) + np.kron(eye, sig))
          + eta ** 2 / b * ((b - 1) * np.kron(sig, sig) + k4m))
    brute = np.max(np.abs(np.linalg.eigvals(op)))
    assert second_moment_spectral_radius(eta, b, spec) == pytest.approx(brute, rel=1e-12)


def test_alpha_below_two_iff_radius_above_one_isotropic():
    b, d = 2, 10
    cs = theory.critical_step_sizes(b, d)
    for eta in np.linspace(0.5, 0.99, 5) * cs.eta_max:
        heavy = theory.tail_index(eta, b, d) < 2
        assert heavy == (second_moment_spectral_radius(eta, b, np.ones(d)) > 1)


# ----------------------------------------------------------------------------------------------
# The second-moment operator: Monte Carlo for any data
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sampler, cov, kurt", [
    (rademacher_sampler(), np.ones(3), 1.0),
    (uniform_sampler(1.5), np.full(3, 2.25), 1.8),
    (student_t_sampler(10.0), np.ones(3), 3.0 + 6.0 / 6.0),
    (gaussian_sampler([0.5, 1.0, 2.0]), np.array([0.5, 1.0, 2.0]), 3.0),
])
def test_spectral_radius_mc_matches_closed_form(sampler, cov, kurt):
    est = second_moment_spectral_radius_mc(0.3, 2, 3, sampler, n_samples=10_000, n_replicas=20, seed=10)
    assert est.stderr > 0
    assert _within(est, second_moment_spectral_radius(0.3, 2, cov, kurtosis=kurt))


def test_spectral_radius_mc_full_covariance():
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 2.0]])
    est = second_moment_spectral_radius_mc(0.25, 1, 3, gaussian_sampler(cov), n_samples=10_000, n_replicas=20, seed=11)
    assert _within(est, second_moment_spectral_radius(0.25, 1, cov))


# ----------------------------------------------------------------------------------------------
# Samplers, reproducibility, contracts
# ----------------------------------------------------------------------------------------------

def test_samplers_have_the_stated_moments():
    rng = np.random.default_rng(12)
    n = 200_000
    for sampler, var, kurt in [(rademacher_sampler(2.0), 4.0, 1.0), (uniform_sampler(0.5), 0.25, 1.8),
                               (student_t_sampler(12.0), 1.0, 3.75), (gaussian_sampler([1.0, 9.0]), None, 3.0)]:
        x = sampler(rng, n, 2)
        assert x.shape == (n, 2)
        v = (x * x).mean(axis=0)             # the mean is 0 by construction
        expected = np.array([1.0, 9.0]) if var is None else np.full(2, var)
        # SD of the mean of x^2 is sqrt((kurt - 1) / n) var (0 for Rademacher: x^2 is constant);
        # 4 SE because the Student-t fourth moment makes that SD itself noisy
        se = np.sqrt((kurt - 1) / n) * expected
        assert np.all(np.abs(v - expected) <= 4 * se + 1e-12)
        assert sampler.kurtosis == kurt


def test_gaussian_sampler_with_matrix_has_that_covariance():
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    x = gaussian_sampler(cov)(np.random.default_rng(13), 400_000, 2)
    # entries of the sample covariance have SE <= sqrt(2 * 2 * 2 / n) ~ 0.0045
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.02)


def test_same_seed_same_numbers():
    a = lyapunov_exponent_mc(0.2, 2, 4, n_steps=300, seed=42)
    b = lyapunov_exponent_mc(0.2, 2, 4, n_steps=300, seed=42)
    assert a == b
    h1 = moment_function_mc(1.5, 0.2, 2, 4, n_walkers=50, n_steps=30, seed=np.random.default_rng(7))
    h2 = moment_function_mc(1.5, 0.2, 2, 4, n_walkers=50, n_steps=30, seed=np.random.default_rng(7))
    assert h1 == h2


def test_bad_inputs():
    with pytest.raises(ValueError, match="eta"):
        lyapunov_exponent_mc(0.0, 1, 2)
    with pytest.raises(ValueError, match="batch_size"):
        moment_function_mc(1.0, 0.1, 0, 2)
    with pytest.raises(ValueError, match="dim"):
        tail_index_mc(0.1, 1, 0)
    with pytest.raises(ValueError, match="s must be >= 0"):
        moment_function_mc(-1.0, 0.1, 1, 2)
    with pytest.raises(ValueError, match="n_steps"):
        lyapunov_exponent_mc(0.1, 1, 2, n_steps=1)
    with pytest.raises(ValueError, match="n_batches"):
        lyapunov_exponent_mc(0.1, 1, 2, n_steps=10, n_batches=20)
    with pytest.raises(ValueError, match="n_walkers"):
        moment_function_mc(1.0, 0.1, 1, 2, n_walkers=1)
    with pytest.raises(ValueError, match="n_replicas"):
        tail_index_mc(0.1, 1, 2, n_replicas=1)
    with pytest.raises(ValueError, match="n_replicas"):
        second_moment_spectral_radius_mc(0.1, 1, 2, n_replicas=1)
    with pytest.raises(ValueError, match="dim"):
        second_moment_spectral_radius_mc(0.1, 1, 31)
    with pytest.raises(TypeError, match="sample_a"):
        lyapunov_exponent_mc(0.1, 1, 2, sample_a="gaussian")
    with pytest.raises(ValueError, match="sample_a"):
        lyapunov_exponent_mc(0.1, 1, 2, sample_a=lambda rng, n, d: np.zeros((n, d + 1)), n_steps=10, n_batches=2)
    with pytest.raises(ValueError, match="dim must equal"):
        lyapunov_exponent_mc(0.1, 1, 3, gaussian_sampler([1.0, 2.0]), n_steps=10, n_batches=2)
    with pytest.raises(ValueError, match="nu"):
        student_t_sampler(4.0)
    with pytest.raises(ValueError, match="sigma"):
        rademacher_sampler(0.0)
    with pytest.raises(ValueError, match="sigma"):
        uniform_sampler(-1.0)
    with pytest.raises(ValueError, match="cov"):
        gaussian_sampler([1.0, -1.0])
    with pytest.raises(ValueError, match="cov"):
        gaussian_sampler([[1.0, 2.0], [2.0, 1.0]])          # not positive definite
    with pytest.raises(ValueError, match="cov"):
        gaussian_sampler([[1.0, 0.5], [0.0, 1.0]])          # not symmetric
    with pytest.raises(ValueError, match="kurtosis"):
        second_moment_spectral_radius(0.1, 1, np.eye(2), kurtosis=1.0)
    with pytest.raises(ValueError, match="kurtosis"):
        second_moment_spectral_radius(0.1, 1, [1.0], kurtosis=0.5)
    with pytest.raises(ValueError, match="eta"):
        second_moment_spectral_radius(-0.1, 1, [1.0])
    with pytest.raises(ValueError, match="cov"):
        second_moment_spectral_radius(0.1, 1, [[[1.0]]])


def test_mc_estimate_interval():
    e = MCEstimate(1.0, 0.1, 10, "x")
    assert e.interval() == pytest.approx((0.7, 1.3))
