"""Tests for hts_lib.recursion.bounds: lower bounds on the tail index from norms of products of SGD
multipliers."""

import math

import numpy as np
import pytest
from scipy import optimize

from hts_lib.recursion.bounds import norm_moment_root, product_norm_bound, product_norms
from hts_lib.recursion.exact import tail_index
from hts_lib.recursion.samplers import gaussian_sampler, rademacher_sampler
from hts_lib.recursion.sgd1d import sgd1d_tail_index

# ---------------------------------------------------------------------------------------------
# deterministic maths
# ---------------------------------------------------------------------------------------------


def test_norm_moment_root_closed_form():
    # (4^-s + 2^s) / 2 = 1  <=>  u^3 - 2u^2 + 1 = 0 with u = 2^s  <=>  u = golden ratio
    phi = (1 + math.sqrt(5)) / 2
    # 1e-12: Brent's method is run to xtol 1e-14 and rtol 1e-12
    assert norm_moment_root([0.25, 2.0]) == pytest.approx(math.log2(phi), rel=1e-12)
    assert norm_moment_root([0.5, 0.5, 2.0]) == pytest.approx(1.0, rel=1e-12)


def test_norm_moment_root_special_values_and_huge_norms():
    assert norm_moment_root([0.5, 1.0]) == math.inf  # nothing expands
    assert norm_moment_root([1.0, 1.5]) == 0.0  # mean log >= 0: vacuous
    # zero norms count as log 0 = -inf: mean(norms^s) = 3^s / 3 = 1 at s = 1 (rounding only)
    assert norm_moment_root([0.0, 0.0, 3.0]) == pytest.approx(1.0, rel=1e-12)
    # log-sum-exp: a norm of 1e300 must not overflow; root solves (2 * 1e-300^s + 1e300^s)/3 = 1
    r = norm_moment_root([1e-300, 1e-300, 1e300])

    def f(s):
        return (2 * 1e-300**s + 1e300**s) / 3 - 1

    # 1e-9: the reference root itself is only found to that accuracy here
    assert r == pytest.approx(optimize.brentq(f, 1e-6, 0.01, xtol=1e-16), rel=1e-9)


def test_product_norms_one_dimension_matches_scalar_products():
    def sample(rng, n, dim):  # deterministic inputs a = 2 (so A = 1 - 4 eta)
        return np.full((n, dim), 2.0)

    nrm = product_norms(0.3, 1, 1, sample, n_factors=3, n_samples=4, seed=0)
    # exact up to rounding: |1 - 1.2|^3
    np.testing.assert_allclose(nrm, abs(1 - 0.3 * 4) ** 3, rtol=1e-13)


def test_product_norms_match_explicit_matrices():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2 * 3 * 2, 3))  # k=2 factors, b=3, d=3, n=2 samples

    calls = iter([a[:6], a[6:]])

    def sample_seq(r, n, dim):
        return next(calls)

    nrm = product_norms(0.2, 3, 3, sample_seq, n_factors=2, n_samples=2, seed=0)
    expected = []
    for j in range(2):
        m1 = np.eye(3) - 0.2 / 3 * a[3 * j : 3 * j + 3].T @ a[3 * j : 3 * j + 3]
        m2 = np.eye(3) - 0.2 / 3 * a[6 + 3 * j : 6 + 3 * j + 3].T @ a[6 + 3 * j : 6 + 3 * j + 3]
        expected.append(np.linalg.norm(m2 @ m1, 2))
    # rounding only
    np.testing.assert_allclose(nrm, expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_rademacher_batch_one_is_householder(dim):
    # M = I - eta a a^T with ||a||^2 = d: a contraction for eta <= 2/d, a reflection at 2/d
    rad = rademacher_sampler()
    below = product_norms(0.9 * 2 / dim, 1, dim, rad, n_factors=5, n_samples=200, seed=1)
    at = product_norms(2 / dim, 1, dim, rad, n_factors=5, n_samples=200, seed=1)
    # 1e-12: products of exact reflections are orthogonal up to rounding
    assert np.all(below <= 1 + 1e-12)
    np.testing.assert_allclose(at, 1.0, rtol=1e-12)


def test_bound_is_vacuous_when_k_times_b_below_dim():
    g = gaussian_sampler(np.ones(6))
    nrm = product_norms(0.1, 2, 6, g, n_factors=2, n_samples=500, seed=0)
    # k b = 4 < d = 6: every product fixes a 2-dimensional subspace, so its norm is >= 1 (rounding)
    assert np.all(nrm >= 1 - 1e-12)
    assert product_norm_bound(0.1, 2, 6, g, n_factors=2, n_samples=500, n_replicas=2, seed=0).value == 0.0


# ---------------------------------------------------------------------------------------------
# stochastic checks (seeded, tolerances from standard errors)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_bound_is_exact_in_one_dimension(k):
    # scalars commute: E|A_1...A_k|^s = (E|A|^s)^k, so every k gives the exact Kesten root
    est = product_norm_bound(
        1.0, 1, 1, gaussian_sampler([1.0]), n_factors=k, n_samples=10_000, n_replicas=10, seed=11
    )
    # 4 jackknife standard errors (plus the tiny O(1/n) bias of a root of a sample mean)
    assert abs(est.value - sgd1d_tail_index(1.0)) < 4 * est.stderr + 1e-3


def test_bounds_increase_with_k_and_stay_below_alpha():
    g = gaussian_sampler([1.0, 1.0])
    alpha = tail_index(1.0, 2, 2)
    b4 = product_norm_bound(1.0, 2, 2, g, n_factors=4, n_samples=8_000, seed=2)
    b16 = product_norm_bound(1.0, 2, 2, g, n_factors=16, n_samples=8_000, seed=3)
    # separated by many standard errors (the gaps are about 0.45 and 0.12, the errors below 0.01)
    assert b4.value + 4 * b4.stderr < b16.value - 4 * b16.stderr
    assert b16.value + 4 * b16.stderr < alpha


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_bad_input():
    g = gaussian_sampler([1.0, 1.0])
    with pytest.raises(ValueError, match="eta"):
        product_norms(0.0, 1, 2, g)
    with pytest.raises(ValueError, match="batch_size"):
        product_norms(0.1, 0, 2, g)
    with pytest.raises(ValueError, match="n_factors"):
        product_norms(0.1, 1, 2, g, n_factors=0)
    with pytest.raises(ValueError, match="n_samples"):
        product_norms(0.1, 1, 2, g, n_samples=0)
    with pytest.raises(TypeError, match="sample_a"):
        product_norms(0.1, 1, 2, "gaussian")
    with pytest.raises(ValueError, match="must return shape"):
        product_norms(0.1, 1, 2, lambda rng, n, d: np.zeros((n, d + 1)))
    with pytest.raises(ValueError, match="n_replicas"):
        product_norm_bound(0.1, 1, 2, g, n_replicas=1)
    with pytest.raises(ValueError, match="dim"):
        product_norm_bound(0.1, 1, 0, g)
    with pytest.raises(ValueError, match="norms"):
        norm_moment_root([])
    with pytest.raises(ValueError, match="norms"):
        norm_moment_root([1.0, -2.0])
    with pytest.raises(ValueError, match="norms"):
        norm_moment_root([1.0, np.inf])
