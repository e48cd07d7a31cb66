"""Tests for hts_lib.recursion.finite_data: offline SGD as a random linear recursion with the empirical multiplier law."""

import math

import numpy as np
import pytest

from hts_lib.recursion.kesten import sgd1d_tail_index
from hts_lib.recursion.montecarlo import tail_index_mc
from hts_lib.recursion.finite_data import dataset_sampler, offline_lyapunov_1d, offline_tail_index_1d


# ---------------------------------------------------------------------------------------------
# deterministic maths
# ---------------------------------------------------------------------------------------------

def test_tail_index_two_point_closed_form():
    # |A| in {1/4, 2} with equal weights: (4^-s + 2^s)/2 = 1 <=> 2^s = golden ratio
    x = np.sqrt([0.75, 3.0])                      # eta = 1: |1 - 0.75| = 1/4, |1 - 3| = 2
    phi = (1 + math.sqrt(5)) / 2
    # Brent's method to xtol 1e-14, rtol 1e-12
    assert offline_tail_index_1d(x, 1.0) == pytest.approx(math.log2(phi), rel=1e-11)


def test_lyapunov_closed_form_and_scale_invariance():
    x = np.array([0.3, -1.1, 2.0, 0.7])
    expected = np.mean(np.log(np.abs(1 - 0.4 * x ** 2)))
    # rounding only
    assert offline_lyapunov_1d(x, 0.4) == pytest.approx(expected, rel=1e-14)
    # only eta x^2 matters: (x, eta) and (2x, eta/4) give the same rho_n and alpha_n (rounding only)
    assert offline_lyapunov_1d(2 * x, 0.1) == pytest.approx(expected, rel=1e-12)
    a1, a2 = offline_tail_index_1d(x, 0.9), offline_tail_index_1d(2 * x, 0.9 / 4)
    assert a1 == pytest.approx(a2, rel=1e-10)


def test_special_values():
    assert offline_tail_index_1d([0.5, 1.0, -1.2], 1.0) == math.inf      # every |1 - x^2| <= 1
    assert math.isnan(offline_tail_index_1d([0.5, 3.0], 1.0))            # rho_n > 0
    assert offline_lyapunov_1d([1.0, 2.0], 1.0) == -math.inf             # one step lands exactly on 0


def test_root_solves_the_empirical_moment_equation():
    x = np.random.default_rng(4).standard_normal(500)
    alpha = offline_tail_index_1d(x, 1.2)
    # the definition itself: mean |1 - eta x^2|^alpha = 1 (to the root finder's tolerance)
    assert np.mean(np.abs(1 - 1.2 * x ** 2) ** alpha) == pytest.approx(1.0, abs=1e-9)


# ---------------------------------------------------------------------------------------------
# stochastic checks
# ---------------------------------------------------------------------------------------------

def test_alpha_n_converges_to_the_online_alpha():
    eta, n = 1.0, 200_000
    x = np.random.default_rng(5).standard_normal(n)
    alpha, alpha_n = sgd1d_tail_index(eta), offline_tail_index_1d(x, eta)
    # delta method: alpha_n - alpha ~ -(mean|A|^alpha - 1) / h'(alpha), h'(alpha) = E|A|^alpha log|A|
    a = np.abs(1 - eta * x ** 2)
    w = a ** alpha
    se = w.std() / math.sqrt(n) / np.mean(w * np.log(a))
    assert abs(alpha_n - alpha) < 4 * se            # 4 standard errors


def test_monte_carlo_engine_on_the_dataset_sampler_matches_the_exact_root():
    x = np.random.default_rng(6).standard_normal(300)
    exact = offline_tail_index_1d(x, 1.0)
    est = tail_index_mc(1.0, 1, 1, dataset_sampler(x[:, None]), n_walkers=400, n_steps=150,
                        burn_in=20, n_replicas=6, seed=0)
    # in d = 1 the weight |A|^s does not depend on the direction, so the population estimate has no
    # O(1/n_walkers) bias: 4 replica standard errors
    assert abs(est.value - exact) < 4 * est.stderr


def test_dataset_sampler_draws_rows_uniformly():
    X = np.arange(12.0).reshape(4, 3)
    rows = dataset_sampler(X)(np.random.default_rng(0), 40_000, 3)
    assert rows.shape == (40_000, 3)
    idx = rows[:, 0].astype(int) // 3
    np.testing.assert_array_equal(rows, X[idx])
    counts = np.bincount(idx, minlength=4)
    # binomial standard deviation sqrt(n p (1-p)) ~ 87; 5 of them
    assert np.all(np.abs(counts - 10_000) < 5 * math.sqrt(40_000 * 0.25 * 0.75))


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

def test_bad_input():
    with pytest.raises(ValueError, match="X"):
        dataset_sampler([1.0, 2.0])
    with pytest.raises(ValueError, match="X"):
        dataset_sampler([[1.0, np.nan]])
    with pytest.raises(ValueError, match="dim"):
        dataset_sampler([[1.0, 2.0]])(np.random.default_rng(0), 3, 5)
    with pytest.raises(ValueError, match="eta"):
        offline_tail_index_1d([1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="x"):
        offline_tail_index_1d([], 1.0)
    with pytest.raises(ValueError, match="x"):
        offline_lyapunov_1d([[1.0]], 1.0)
    with pytest.raises(ValueError, match="eta"):
        offline_lyapunov_1d([1.0], -1.0)
