"""Tests for hts_lib.tails.distributions: samplers of laws with a known tail index."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hts_lib.tails.distributions import (
    _positive_stable,
    sample_elliptical_stable,
    sample_pareto,
    sample_symmetric_stable,
    student_t_tail_constant,
    symmetric_stable_tail_constant,
)

N = 100_000
# The empirical mean of cos(tX) (or exp(-sA)) has standard error at most sqrt(1/(2N)) (the
# variance of a [-1, 1]-valued variable with mean near 0.5 or more is at most 1/2); four standard
# errors keep the false-alarm rate below 1e-4 per check.
TOL_CF = 4.0 * math.sqrt(0.5 / N)
# Kolmogorov-Smirnov critical value at level 1e-3 for N samples: sqrt(-log(5e-4)/2) / sqrt(N).
KS_CRIT = math.sqrt(-math.log(5e-4) / 2.0) / math.sqrt(N)


def _ks(x, cdf) -> float:
    return float(stats.kstest(x, cdf).statistic)


def test_pareto_matches_scipy_law():
    x = sample_pareto(1.7, N, seed=0, scale=2.0)
    assert x.min() >= 2.0
    assert _ks(x, stats.pareto(b=1.7, scale=2.0).cdf) < KS_CRIT


@pytest.mark.parametrize("alpha", [0.5, 1.2, 1.5, 1.9])
def test_symmetric_stable_characteristic_function(alpha):
    # E cos(tX) = exp(-|t|^alpha) for the standard SaS law (the imaginary part vanishes by symmetry)
    x = sample_symmetric_stable(alpha, N, seed=1)
    for t in (0.3, 1.0, 2.5):
        assert abs(np.cos(t * x).mean() - math.exp(-(t**alpha))) < TOL_CF


def test_symmetric_stable_closed_forms():
    # alpha = 1 is the standard Cauchy law, alpha = 2 the Gaussian N(0, 2)
    assert _ks(sample_symmetric_stable(1.0, N, seed=2), stats.cauchy.cdf) < KS_CRIT
    assert _ks(sample_symmetric_stable(2.0, N, seed=3), stats.norm(scale=math.sqrt(2.0)).cdf) < KS_CRIT


def test_symmetric_stable_matches_levy_stable_cdf():
    # an independent implementation: scipy's levy_stable (S1, beta = 0) distribution function at a few
    # points; binomial standard error of an empirical CDF is at most 0.5/sqrt(N), tolerance 4 SE
    x = sample_symmetric_stable(1.5, N, seed=4)
    pts = np.array([-4.0, -1.0, 0.3, 2.0, 6.0])
    ref = stats.levy_stable.cdf(pts, 1.5, 0.0)
    emp = (x[:, None] <= pts).mean(axis=0)
    assert np.all(np.abs(emp - ref) < 4 * 0.5 / math.sqrt(N))


def _sas_survival_series(alpha: float, x: float, terms: int = 60) -> float:
    """P(|X| > x) for standard SaS with alpha < 1 from the convergent series (Feller 1971, XVII.6):
    P(X > x) = (1/pi) sum_k (-1)^(k+1) Gamma(alpha k) / k! sin(k pi alpha / 2) x^(-alpha k)."""
    total = 0.0
    for k in range(1, terms + 1):
        total += (
            (-1) ** (k + 1)
            * math.exp(math.lgamma(alpha * k) - math.lgamma(k + 1))
            * math.sin(k * math.pi * alpha / 2)
            * x ** (-alpha * k)
        )
    return 2.0 * total / math.pi


def test_symmetric_stable_tail_probability_series():
    # exact tail probabilities (series) against the empirical frequency; tolerance 4 binomial SE
    alpha = 0.8
    x = np.abs(sample_symmetric_stable(alpha, N, seed=5))
    for x0 in (2.0, 5.0, 50.0):
        ref = _sas_survival_series(alpha, x0)
        assert abs(float(np.mean(x > x0)) - ref) < 4 * math.sqrt(ref * (1 - ref) / N)


def test_positive_stable_laplace_transform():
    rng = np.random.default_rng(6)
    for a in (0.3, 0.75):
        s_vals = (0.5, 2.0)
        sample = _positive_stable(a, N, rng)
        assert sample.min() > 0
        for s in s_vals:
            assert abs(np.exp(-s * sample).mean() - math.exp(-(s**a))) < TOL_CF


def test_elliptical_stable_projections_are_standard_sas():
    alpha, dim = 1.4, 5
    x = sample_elliptical_stable(alpha, N, dim=dim, seed=7)
    assert x.shape == (N, dim)
    u = np.random.default_rng(8).standard_normal(dim)
    u /= np.linalg.norm(u)
    for proj in (x[:, 0], x @ u):
        for t in (0.5, 1.5):
            assert abs(np.cos(t * proj).mean() - math.exp(-(t**alpha))) < TOL_CF
    # elliptical, not i.i.d. coordinates: the characteristic function at t = (1, 1, 0, ...) is
    # exp(-|t|^alpha) = exp(-2^(alpha/2)), not exp(-2) as for independent coordinates
    t_vec = np.zeros(dim)
    t_vec[:2] = 1.0
    assert abs(np.cos(x @ t_vec).mean() - math.exp(-(2 ** (alpha / 2)))) < TOL_CF


def test_samplers_are_seeded():
    assert np.array_equal(sample_symmetric_stable(1.3, 10, seed=9), sample_symmetric_stable(1.3, 10, seed=9))
    assert not np.array_equal(sample_pareto(1.3, 10, seed=9), sample_pareto(1.3, 10, seed=10))
    assert sample_symmetric_stable(1.3, (4, 3), seed=0).shape == (4, 3)


def test_stable_tail_constant_against_scipy():
    # scipy's levy_stable survival function (numerical integration) against the first six terms of the
    # series (asymptotic for a > 1), whose first term is C x^-a. Measured agreement 1e-9 at x >= 50; the
    # seventh term is below 1e-9 relative there: rtol 1e-7. The leading term alone is within 2 % at x = 50
    # (the second term is -1.0 % of it for a = 0.8, +0.45 % for a = 1.5).
    for a in (0.8, 1.5):
        for x in (50.0, 100.0):
            series = _sas_survival_series(a, x, terms=6)
            assert 2 * stats.levy_stable.sf(x, a, 0.0) == pytest.approx(series, rel=1e-7)
            assert series == pytest.approx(symmetric_stable_tail_constant(a) * x**-a, rel=0.02)
    # the series is exact for a < 1: x^a P(|X| > x) -> C, with relative correction ~ x^-a = 2.5e-4 at 1e6
    assert _sas_survival_series(0.6, 1e6) * 1e6**0.6 == pytest.approx(
        symmetric_stable_tail_constant(0.6), rel=1e-3
    )


@pytest.mark.parametrize("nu", [0.5, 1.0, 3.0, 7.5])
def test_student_t_tail_constant_against_scipy(nu):
    # 2 P(T > x) x^nu -> C; the relative correction is O(x^-2) = 1e-8 at x = 1e4; rtol 1e-6
    x = 1e4
    assert 2 * stats.t.sf(x, nu) * x**nu == pytest.approx(student_t_tail_constant(nu), rel=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: symmetric_stable_tail_constant(2.0), "alpha"),
        (lambda: student_t_tail_constant(0.0), "nu"),
        (lambda: sample_pareto(0.0, 5), "alpha"),
        (lambda: sample_pareto(1.0, 5, scale=-1.0), "scale"),
        (lambda: sample_pareto(1.0, -1), "size"),
        (lambda: sample_symmetric_stable(2.5, 5), "alpha"),
        (lambda: sample_symmetric_stable(0.0, 5), "alpha"),
        (lambda: sample_symmetric_stable(float("nan"), 5), "alpha"),
        (lambda: sample_elliptical_stable(2.0, 5, dim=2), "alpha"),
        (lambda: sample_elliptical_stable(1.5, 5, dim=0), "dim"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
