"""Tests for hts_lib.recursion.second_moments: the closed forms of E[M (x) M]'s spectral radius and of the
stationary second moment, against brute-force linear algebra and exact special cases."""

import math

import numpy as np
import pytest

from hts_lib.recursion import exact as theory
from hts_lib.recursion.second_moments import second_moment_spectral_radius, stationary_second_moment


def random_rotation(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q * np.sign(np.diag(r))


# ----------------------------------------------------------------------------------------------
# The spectral radius of E[M (x) M]
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
        assert second_moment_spectral_radius(eta, b, [lam], kurtosis=kurt) == pytest.approx(
            expected, rel=1e-14
        )


def test_spectral_radius_rotation_invariant_for_gaussian_data():
    rng = np.random.default_rng(9)
    spec = np.array([0.3, 1.0, 1.7, 4.0])
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    cov = q @ np.diag(spec) @ q.T
    expected = second_moment_spectral_radius(0.2, 3, spec)
    assert second_moment_spectral_radius(0.2, 3, cov) == pytest.approx(expected, rel=1e-12)


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
    op = (
        np.kron(eye, eye)
        - eta * (np.kron(sig, eye) + np.kron(eye, sig))
        + eta**2 / b * ((b - 1) * np.kron(sig, sig) + k4m)
    )
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


# ----------------------------------------------------------------------------------------------
# The stationary second moment
# ----------------------------------------------------------------------------------------------


def test_second_moment_closed_form_values():
    # eta noise^2 d / (2b - eta sigma^2 (d+b+1)): d=10, b=1, eta=0.1 -> 1 / (2 - 1.2) = 1.25
    assert stationary_second_moment(0.1, 1, 10) == pytest.approx(1.25, rel=1e-14)
    # scales with noise^2 and the eta sigma^2 combination in the denominator
    assert stationary_second_moment(0.1, 1, 10, noise=3.0) == pytest.approx(9 * 1.25, rel=1e-14)
    assert stationary_second_moment(0.05, 2, 3, sigma=2.0) == pytest.approx(
        0.05 * 3 / (4 - 0.05 * 4 * 6), rel=1e-14
    )
    assert stationary_second_moment(0.1, 1, 10, noise=0.0) == 0.0


def test_second_moment_is_infinite_exactly_beyond_eta_crit():
    # E||x_inf||^2 < inf iff eta < eta_crit = 2b / (sigma^2 (d+b+1)) (alpha > 2)
    for b, d, sigma in [(1, 1, 1.0), (5, 100, 1.0), (3, 10, 0.7)]:
        eta_crit = 2 * b / (sigma**2 * (d + b + 1))
        assert math.isfinite(stationary_second_moment(eta_crit * (1 - 1e-9), b, d, sigma))
        assert stationary_second_moment(eta_crit, b, d, sigma) == math.inf
        assert stationary_second_moment(eta_crit * 1.5, b, d, sigma) == math.inf


def test_second_moment_increases_with_eta():
    etas = np.linspace(0.01, 0.16, 20)  # below eta_crit = 2/12 for d = 10, b = 1
    vals = [stationary_second_moment(e, 1, 10) for e in etas]
    assert np.all(np.diff(vals) > 0)


def test_contraction_factor_agrees_with_theory_h2():
    # E[M^T M] = m2 I means E||M e_1||^2 = m2, i.e. h(2) = log m2, which the theory module gets by
    # quadrature (independent method); tolerance: its quadrature accuracy (~1e-9 relative)
    for eta, b, d in [(0.1, 1, 10), (0.5, 5, 10), (0.02, 5, 100), (1.0, 1, 1)]:
        m2 = 1 - 2 * eta + eta**2 * (d + b + 1) / b
        assert math.exp(theory.log_moment(2.0, eta, b, d)) == pytest.approx(m2, rel=1e-8)


def _isserlis_second_moment(eta, b, cov, noise):
    """Solve V = E[M V M^T] + E[q q^T] as a d^2 x d^2 linear system (no eigen-reduction)."""
    d = cov.shape[0]
    eye = np.eye(d * d)
    # L(V) = V - eta (S V + V S) + eta^2 (b+1)/b S V S + eta^2/b tr(V S) S, column-major vec
    kron = np.kron
    L = (
        eye
        - eta * (kron(np.eye(d), cov) + kron(cov, np.eye(d)))
        + eta**2 * (b + 1) / b * kron(cov, cov)
        + eta**2 / b * np.outer(cov.reshape(-1, order="F"), cov.reshape(-1, order="F"))
    )
    Q = eta**2 * noise**2 / b * cov
    V = np.linalg.solve(eye - L, Q.reshape(-1, order="F")).reshape(d, d, order="F")
    return np.trace(V)


def test_anisotropic_closed_form_matches_full_linear_system():
    # the eigenbasis reduction against a direct solve of the d^2-dim. linear system;
    # both are exact linear algebra, tolerance = a few hundred ulps of the condition number
    U = random_rotation(4, 0)
    cov = U @ np.diag([2.0, 1.0, 0.5, 0.25]) @ U.T
    for eta, b in [(0.1, 1), (0.3, 3), (0.05, 10)]:
        ours = stationary_second_moment(eta, b, 4, noise=1.5, cov=cov)
        assert ours == pytest.approx(_isserlis_second_moment(eta, b, cov, 1.5), rel=1e-10)
    # cov = I reduces to the isotropic formula
    assert stationary_second_moment(0.1, 2, 4, cov=np.eye(4)) == pytest.approx(
        stationary_second_moment(0.1, 2, 4), rel=1e-13
    )


# ================================================================ simulation vs closed form


def test_bad_input():
    with pytest.raises(ValueError, match="eta"):
        stationary_second_moment(0.0, 1, 2)
    with pytest.raises(ValueError, match="batch_size"):
        stationary_second_moment(0.1, 0, 2)
    with pytest.raises(ValueError, match="noise"):
        stationary_second_moment(0.1, 1, 2, noise=-1)
    with pytest.raises(ValueError, match="kurtosis"):
        stationary_second_moment(0.1, 1, 2, kurtosis=0.5)
    with pytest.raises(ValueError, match="kurtosis"):
        stationary_second_moment(0.1, 1, 2, cov=np.eye(2), kurtosis=1.0)
    with pytest.raises(ValueError, match="cov"):
        stationary_second_moment(0.1, 1, 2, cov=np.eye(3))
    with pytest.raises(ValueError, match="cov"):
        stationary_second_moment(0.1, 1, 2, cov=[1.0, 1.0])  # a spectrum is for the spectral radius only
    with pytest.raises(ValueError, match="kurtosis"):
        second_moment_spectral_radius(0.1, 1, np.eye(2), kurtosis=1.0)
    with pytest.raises(ValueError, match="kurtosis"):
        second_moment_spectral_radius(0.1, 1, [1.0], kurtosis=0.5)
    with pytest.raises(ValueError, match="eta"):
        second_moment_spectral_radius(-0.1, 1, [1.0])
    with pytest.raises(ValueError, match="cov"):
        second_moment_spectral_radius(0.1, 1, [[[1.0]]])
