"""Tests for hts_lib.recursion.finite_data: offline SGD as a random linear recursion with the empirical
multiplier law."""

import math

import numpy as np
import pytest

from hts_lib.recursion.finite_data import (
    offline1d_log_moment,
    offline1d_lyapunov_exponent,
    offline1d_tail_index,
)
from hts_lib.recursion.montecarlo import tail_index_mc
from hts_lib.recursion.samplers import dataset_sampler
from hts_lib.recursion.sgd1d import sgd1d_tail_index

# ---------------------------------------------------------------------------------------------
# deterministic maths
# ---------------------------------------------------------------------------------------------


def test_tail_index_two_point_closed_form():
    # |A| in {1/4, 2} with equal weights: (4^-s + 2^s)/2 = 1 <=> 2^s = golden ratio
    x = np.sqrt([0.75, 3.0])  # eta = 1: |1 - 0.75| = 1/4, |1 - 3| = 2
    phi = (1 + math.sqrt(5)) / 2
    # Brent's method to xtol 1e-14, rtol 1e-12
    assert offline1d_tail_index(x, 1.0) == pytest.approx(math.log2(phi), rel=1e-11)


def test_lyapunov_closed_form_and_scale_invariance():
    x = np.array([0.3, -1.1, 2.0, 0.7])
    expected = np.mean(np.log(np.abs(1 - 0.4 * x**2)))
    # rounding only
    assert offline1d_lyapunov_exponent(x, 0.4) == pytest.approx(expected, rel=1e-14)
    # only eta x^2 matters: (x, eta) and (2x, eta/4) give the same rho_n and alpha_n (rounding only)
    assert offline1d_lyapunov_exponent(2 * x, 0.1) == pytest.approx(expected, rel=1e-12)
    a1, a2 = offline1d_tail_index(x, 0.9), offline1d_tail_index(2 * x, 0.9 / 4)
    assert a1 == pytest.approx(a2, rel=1e-10)


def test_special_values():
    assert offline1d_tail_index([0.5, 1.0, -1.2], 1.0) == math.inf  # every |1 - x^2| <= 1
    assert math.isnan(offline1d_tail_index([0.5, 3.0], 1.0))  # rho_n > 0
    assert offline1d_lyapunov_exponent([1.0, 2.0], 1.0) == -math.inf  # one step lands exactly on 0


def test_log_moment_is_the_empirical_mean():
    x = np.array([0.3, -1.1, 2.0, 0.7])
    for s_ in (0.5, 2.0, 7.0):
        # log-sum-exp against the direct mean (no overflow here): rounding only
        expected = np.log(np.mean(np.abs(1 - 0.9 * x**2) ** s_))
        assert offline1d_log_moment(s_, x, 0.9) == pytest.approx(expected, rel=1e-13)
    assert offline1d_log_moment(0.0, x, 0.9) == 0.0


def test_root_solves_the_empirical_moment_equation():
    x = np.random.default_rng(4).standard_normal(500)
    alpha = offline1d_tail_index(x, 1.2)
    # the definition itself: mean |1 - eta x^2|^alpha = 1 (to the root finder's tolerance)
    assert np.mean(np.abs(1 - 1.2 * x**2) ** alpha) == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# stochastic checks
# ---------------------------------------------------------------------------------------------


def test_alpha_n_converges_to_the_online_alpha():
    eta, n = 1.0, 200_000
    x = np.random.default_rng(5).standard_normal(n)
    alpha, alpha_n = sgd1d_tail_index(eta), offline1d_tail_index(x, eta)
    # delta method: alpha_n - alpha ~ -(mean|A|^alpha - 1) / h'(alpha), h'(alpha) = E|A|^alpha log|A|
    a = np.abs(1 - eta * x**2)
    w = a**alpha
    se = w.std() / math.sqrt(n) / np.mean(w * np.log(a))
    assert abs(alpha_n - alpha) < 4 * se  # 4 standard errors


def test_monte_carlo_engine_on_the_dataset_sampler_matches_the_exact_root():
    x = np.random.default_rng(6).standard_normal(300)
    exact = offline1d_tail_index(x, 1.0)
    est = tail_index_mc(
        1.0, 1, 1, dataset_sampler(x[:, None]), n_walkers=400, n_steps=150, burn_in=20, n_replicas=6, seed=0
    )
    # in d = 1 the weight |A|^s does not depend on the direction, so the population estimate has no
    # O(1/n_walkers) bias: 4 replica standard errors
    assert abs(est.value - exact) < 4 * est.stderr


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_bad_input():
    with pytest.raises(ValueError, match="eta"):
        offline1d_tail_index([1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="x"):
        offline1d_tail_index([], 1.0)
    with pytest.raises(ValueError, match="x"):
        offline1d_lyapunov_exponent([[1.0]], 1.0)
    with pytest.raises(ValueError, match="eta"):
        offline1d_lyapunov_exponent([1.0], -1.0)
