"""Tests for hts_lib.recursion.montecarlo: Monte Carlo Lyapunov exponent, moment function and tail index for
any random matrix (matrix actions) and for online SGD with any input law.

Stochastic checks are seeded and compare with exact values within 3 standard errors (the
standard errors come from independent replicas or batch means, as documented per function).
Exact comparisons use hts_lib.recursion.exact (isotropic Gaussian data), the closed-form spectral radius of
E[M (x) M] (hts_lib.recursion.second_moments), one-dimensional quadrature (hts_lib.recursion.kesten) for
non-Gaussian data, and closed forms for a random scaled reflection, a matrix given only by its action.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from hts_lib.recursion import exact as theory
from hts_lib.recursion.kesten import kesten_tail_index
from hts_lib.recursion.montecarlo import (
    MCEstimate,
    log_moment_mc,
    lyapunov_exponent_mc,
    matrix_log_moment_mc,
    matrix_lyapunov_exponent_mc,
    matrix_tail_index_mc,
    population_log_moments,
    second_moment_spectral_radius_mc,
    tail_index_mc,
)
from hts_lib.recursion.samplers import (
    gaussian_sampler,
    rademacher_sampler,
    sgd_multiplier,
    student_t_sampler,
    uniform_sampler,
)
from hts_lib.recursion.second_moments import second_moment_spectral_radius

Z = 3.0  # agreement within 3 standard errors (two-sided, ~0.3 % false-alarm rate per check)


def _within(est: MCEstimate, exact: float, z: float = Z) -> bool:
    return abs(est.value - exact) <= z * est.stderr


# ----------------------------------------------------------------------------------------------
# Isotropic Gaussian data: agreement with the exact engine
# ----------------------------------------------------------------------------------------------


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
    est = log_moment_mc(s, eta, b, d, n_walkers=500, n_steps=200, seed=2)
    assert _within(est, theory.log_moment(s, eta, b, d))


def test_alpha_mc_matches_exact_isotropic():
    eta, b, d = 0.6553, 1, 2  # alpha = 1.000 (paper.md section 2.1)
    est = tail_index_mc(eta, b, d, n_walkers=500, n_steps=150, burn_in=50, n_replicas=6, seed=3)
    assert est.stderr > 0
    assert _within(est, theory.tail_index(eta, b, d))


def test_alpha_mc_reports_inf_and_nan():
    small = dict(n_walkers=100, n_steps=50, burn_in=10, n_replicas=2, seed=0)
    assert tail_index_mc(0.02, 1, 3, **small).value == math.inf
    # beyond eta_max: h > 0 at every order tried
    assert math.isnan(tail_index_mc(3.0, 1, 1, **small).value)


# ----------------------------------------------------------------------------------------------
# Non-Gaussian data in one dimension: independent quadrature
# ----------------------------------------------------------------------------------------------


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
    total = sum(
        integrate.quad(lambda z: abs(1 - eta * z * z) ** s, a0, a1, epsabs=0, epsrel=1e-12, limit=200)[0]
        for a0, a1 in zip(pts[:-1], pts[1:])
    )
    return math.log(total / r3)


def test_alpha_mc_uniform_d1_against_kesten_quadrature():
    eta = 1.2
    alpha = kesten_tail_index(lambda s: _uniform_log_moment(s, eta))
    assert 0.5 < alpha < 20
    est = tail_index_mc(
        eta, 1, 1, uniform_sampler(), n_walkers=1000, n_steps=200, burn_in=10, n_replicas=6, seed=4
    )
    assert _within(est, alpha)
    h2 = log_moment_mc(2.0, eta, 1, 1, uniform_sampler(), n_walkers=1000, n_steps=200, seed=5)
    assert _within(h2, _uniform_log_moment(2.0, eta))


# ----------------------------------------------------------------------------------------------
# h(2) = log r(E[M (x) M]) for anisotropic and non-Gaussian data
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# h(2) = log r(E[M (x) M]) for anisotropic and non-Gaussian data
# ----------------------------------------------------------------------------------------------


def test_h2_mc_anisotropic_matches_spectral_radius():
    spec = np.array([0.25, 1.0, 2.5])
    eta = 0.4
    exact = math.log(second_moment_spectral_radius(eta, 1, spec))
    # The population has an O(1/n_walkers) bias for anisotropic data (about -1.9/n_walkers here,
    # measured with 48 replicas); 4000 walkers keep it below a quarter of the standard error.
    est = log_moment_mc(
        2.0, eta, 1, 3, gaussian_sampler(spec), n_walkers=4000, n_steps=150, burn_in=50, n_replicas=6, seed=6
    )
    assert 1.9 / 4000 < 0.3 * est.stderr
    assert _within(est, exact)


@pytest.mark.parametrize("sampler, kurt", [(rademacher_sampler(), 1.0), (uniform_sampler(), 1.8)])
def test_h2_mc_non_gaussian_matches_kurtosis_formula(sampler, kurt):
    eta, b, d = 0.4, 2, 3
    exact = math.log(second_moment_spectral_radius(eta, b, np.ones(d), kurtosis=kurt))
    est = log_moment_mc(2.0, eta, b, d, sampler, n_walkers=1000, n_steps=150, burn_in=50, seed=7)
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


# ----------------------------------------------------------------------------------------------
# The second-moment operator: Monte Carlo for any data
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sampler, cov, kurt",
    [
        (rademacher_sampler(), np.ones(3), 1.0),
        (uniform_sampler(1.5), np.full(3, 2.25), 1.8),
        (student_t_sampler(10.0), np.ones(3), 3.0 + 6.0 / 6.0),
        (gaussian_sampler([0.5, 1.0, 2.0]), np.array([0.5, 1.0, 2.0]), 3.0),
    ],
)
def test_spectral_radius_mc_matches_closed_form(sampler, cov, kurt):
    est = second_moment_spectral_radius_mc(0.3, 2, 3, sampler, n_samples=10_000, n_replicas=20, seed=10)
    assert est.stderr > 0
    assert _within(est, second_moment_spectral_radius(0.3, 2, cov, kurtosis=kurt))


def test_spectral_radius_mc_full_covariance():
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 2.0]])
    est = second_moment_spectral_radius_mc(
        0.25, 1, 3, gaussian_sampler(cov), n_samples=10_000, n_replicas=20, seed=11
    )
    assert _within(est, second_moment_spectral_radius(0.25, 1, cov))


# ----------------------------------------------------------------------------------------------
# Samplers, reproducibility, contracts
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# Matrix actions: a model given only by how M acts
# ----------------------------------------------------------------------------------------------


def scaled_reflection(dim):
    """M = A (I - 2 v v^T), A ~ U(0, 2), v uniform on the sphere: ||M u|| = A ||u|| whatever the direction,
    so h(s) = log E A^s = log(2^s / (s + 1)), rho = E log A = log 2 - 1 and alpha = 1 exactly."""

    def apply_m(rng, u):
        n = u.shape[-2]
        a = rng.uniform(0.0, 2.0, n)
        v = rng.standard_normal((n, dim))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        w = u - 2.0 * np.einsum("nd,...nd->...n", v, u)[..., None] * v
        return a[:, None] * w

    return apply_m


def test_matrix_engines_on_a_closed_form_model():
    act = scaled_reflection(3)
    rho = matrix_lyapunov_exponent_mc(act, 3, n_steps=5000, seed=1)
    assert _within(rho, math.log(2) - 1)
    for s in (0.5, 2.0):
        # 8 replicas: the standard error has 7 degrees of freedom, so 4 of them (t_7, two-sided 0.5 %)
        h = matrix_log_moment_mc(s, act, 3, n_walkers=500, n_steps=100, burn_in=10, seed=2)
        assert _within(h, math.log(2**s / (s + 1)), z=4)
    alpha = matrix_tail_index_mc(act, 3, n_walkers=500, n_steps=100, burn_in=10, n_replicas=6, seed=3)
    assert alpha.stderr > 0 and _within(alpha, 1.0, z=4)


def test_population_replicas_share_random_numbers_across_orders():
    # common random numbers: within a replica h is smooth (here convex) in s; replicas differ
    h = population_log_moments(
        np.linspace(0.5, 3.0, 6),
        scaled_reflection(2),
        2,
        n_walkers=200,
        n_steps=50,
        burn_in=5,
        n_replicas=3,
        seed=4,
    )
    assert h.shape == (6, 3)
    assert np.all(np.diff(h, 2, axis=0) > -1e-12)
    assert not np.allclose(h[:, 0], h[:, 1])


def test_sgd_wrappers_are_the_matrix_engines_on_the_sgd_multiplier():
    # same seed, same numbers: the SGD functions are the general engines on sgd_multiplier
    sampler = uniform_sampler()
    act = sgd_multiplier(0.4, 2, 3, sampler)
    a = log_moment_mc(1.5, 0.4, 2, 3, sampler, n_walkers=50, n_steps=20, seed=5)
    b = matrix_log_moment_mc(1.5, act, 3, n_walkers=50, n_steps=20, seed=5)
    assert a.value == b.value and a.stderr == b.stderr
    a = tail_index_mc(0.4, 2, 3, sampler, n_walkers=50, n_steps=20, n_replicas=2, seed=6)
    b = matrix_tail_index_mc(act, 3, n_walkers=50, n_steps=20, n_replicas=2, seed=6)
    assert a == b
    # lyapunov_exponent_mc draws the inputs of many steps at once; for samplers whose draws do not depend on
    # how they are split (every numpy law), the same numbers as the step-by-step engine
    a = lyapunov_exponent_mc(0.4, 2, 3, sampler, n_steps=300, seed=7)
    b = matrix_lyapunov_exponent_mc(act, 3, n_steps=300, seed=7)
    assert a == b


def test_matrix_action_applies_one_matrix_per_row_to_every_leading_slice():
    act = sgd_multiplier(0.3, 2, 3, gaussian_sampler([1.0, 2.0, 0.5]))
    u = np.random.default_rng(8).standard_normal((2, 5, 3))
    both = act(np.random.default_rng(9), u)
    first = act(np.random.default_rng(9), u[0])
    second = act(np.random.default_rng(9), u[1])
    np.testing.assert_allclose(both, np.stack([first, second]), rtol=1e-14, atol=1e-15)
    # and it is M = I - (eta/b) sum a a^T: rebuild the matrices from the same draws
    a = gaussian_sampler([1.0, 2.0, 0.5])(np.random.default_rng(9), 10, 3).reshape(5, 2, 3)
    m = np.eye(3) - 0.15 * np.einsum("nbi,nbj->nij", a, a)
    np.testing.assert_allclose(first, np.einsum("nij,nj->ni", m, u[0]), rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# Reproducibility and contracts
# ----------------------------------------------------------------------------------------------


def test_same_seed_same_numbers():
    a = lyapunov_exponent_mc(0.2, 2, 4, n_steps=300, seed=42)
    b = lyapunov_exponent_mc(0.2, 2, 4, n_steps=300, seed=42)
    assert a == b
    h1 = log_moment_mc(1.5, 0.2, 2, 4, n_walkers=50, n_steps=30, seed=np.random.default_rng(7))
    h2 = log_moment_mc(1.5, 0.2, 2, 4, n_walkers=50, n_steps=30, seed=np.random.default_rng(7))
    assert h1 == h2


def test_bad_inputs():
    with pytest.raises(ValueError, match="eta"):
        lyapunov_exponent_mc(0.0, 1, 2)
    with pytest.raises(ValueError, match="batch_size"):
        log_moment_mc(1.0, 0.1, 0, 2)
    with pytest.raises(ValueError, match="dim"):
        tail_index_mc(0.1, 1, 0)
    with pytest.raises(ValueError, match="s must be >= 0"):
        log_moment_mc(-1.0, 0.1, 1, 2)
    with pytest.raises(ValueError, match="n_steps"):
        lyapunov_exponent_mc(0.1, 1, 2, n_steps=1)
    with pytest.raises(ValueError, match="n_batches"):
        lyapunov_exponent_mc(0.1, 1, 2, n_steps=10, n_batches=20)
    with pytest.raises(ValueError, match="n_walkers"):
        log_moment_mc(1.0, 0.1, 1, 2, n_walkers=1)
    with pytest.raises(ValueError, match="n_replicas"):
        tail_index_mc(0.1, 1, 2, n_replicas=1)
    with pytest.raises(ValueError, match="n_replicas"):
        second_moment_spectral_radius_mc(0.1, 1, 2, n_replicas=1)
    with pytest.raises(ValueError, match="dim"):
        second_moment_spectral_radius_mc(0.1, 1, 31)
    with pytest.raises(TypeError, match="sample_a"):
        lyapunov_exponent_mc(0.1, 1, 2, sample_a="gaussian")
    with pytest.raises(ValueError, match="sample_a"):
        lyapunov_exponent_mc(
            0.1, 1, 2, sample_a=lambda rng, n, d: np.zeros((n, d + 1)), n_steps=10, n_batches=2
        )
    with pytest.raises(ValueError, match="dim must equal"):
        lyapunov_exponent_mc(0.1, 1, 3, gaussian_sampler([1.0, 2.0]), n_steps=10, n_batches=2)
    with pytest.raises(TypeError, match="apply_m"):
        matrix_log_moment_mc(1.0, "gaussian", 2)
    with pytest.raises(ValueError, match="orders"):
        population_log_moments([1.0, -1.0], scaled_reflection(2), 2)
    with pytest.raises(ValueError, match="dim"):
        matrix_tail_index_mc(scaled_reflection(2), 0)


def test_mc_estimate_interval():
    e = MCEstimate(1.0, 0.1, 10, "x")
    assert e.interval() == pytest.approx((0.7, 1.3))
