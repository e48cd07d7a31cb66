"""Tests for hts_lib.recursion.samplers: the input samplers, the pair sampler of one-dimensional SGD, the SGD
multiplier as a matrix action, and the checks shared by the functions that take samplers."""

import math

import numpy as np
import pytest

from hts_lib.recursion.samplers import (
    check_covariance,
    check_input_sampler,
    check_pair_sampler,
    dataset_sampler,
    draw_inputs,
    draw_pairs,
    gaussian_sampler,
    rademacher_sampler,
    sgd1d_sampler,
    sgd_multiplier,
    student_t_sampler,
    uniform_sampler,
)


def test_samplers_have_the_stated_moments():
    rng = np.random.default_rng(12)
    n = 200_000
    for sampler, var, kurt in [
        (rademacher_sampler(2.0), 4.0, 1.0),
        (uniform_sampler(0.5), 0.25, 1.8),
        (student_t_sampler(12.0), 1.0, 3.75),
        (gaussian_sampler([1.0, 9.0]), None, 3.0),
    ]:
        x = sampler(rng, n, 2)
        assert x.shape == (n, 2)
        v = (x * x).mean(axis=0)  # the mean is 0 by construction
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


def test_dataset_sampler_draws_rows_uniformly():
    X = np.arange(12.0).reshape(4, 3)
    rows = dataset_sampler(X)(np.random.default_rng(0), 40_000, 3)
    assert rows.shape == (40_000, 3)
    idx = rows[:, 0].astype(int) // 3
    np.testing.assert_array_equal(rows, X[idx])
    counts = np.bincount(idx, minlength=4)
    # binomial standard deviation sqrt(n p (1-p)) ~ 87; 5 of them
    assert np.all(np.abs(counts - 10_000) < 5 * math.sqrt(40_000 * 0.25 * 0.75))


def test_sgd1d_sampler_has_the_closed_form_moments():
    # E A = 1 - eta sigma^2, E B = 0, E B^2 = eta^2 noise^2 sigma^2: 4 standard errors of 400k draws
    a, b = sgd1d_sampler(0.3, sigma=1.5, noise=0.7)(np.random.default_rng(1), 400_000)
    for x, mean in ((a, 1 - 0.3 * 2.25), (b, 0.0), (b * b, 0.09 * 0.49 * 2.25)):
        assert abs(x.mean() - mean) < 4 * x.std() / math.sqrt(x.size)


def test_sgd_multiplier_is_i_minus_eta_over_b_sum_a_a_t():
    # rebuild each M from the same draws (the multiplier takes its n * b inputs with one sampler call)
    sampler = rademacher_sampler()
    u = np.random.default_rng(2).standard_normal((4, 3))
    v = sgd_multiplier(0.2, 2, 3, sampler)(np.random.default_rng(3), u)
    a = sampler(np.random.default_rng(3), 8, 3).reshape(4, 2, 3)
    m = np.eye(3) - 0.1 * np.einsum("nbi,nbj->nij", a, a)
    np.testing.assert_allclose(v, np.einsum("nij,nj->ni", m, u), rtol=1e-13, atol=1e-15)  # rounding only


def test_checks():
    assert check_covariance([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert check_input_sampler(None, 2)(np.random.default_rng(0), 3, 2).shape == (3, 2)
    assert check_pair_sampler(sgd1d_sampler(0.1)) is not None
    with pytest.raises(ValueError, match="cov"):
        check_covariance([[1.0, 0.0], [0.0, 1.0]], dim=3)
    with pytest.raises(ValueError, match="cov"):
        check_covariance([1.0, 2.0], spectrum=False)
    with pytest.raises(TypeError, match="sample_a"):
        check_input_sampler("gaussian", 2)
    with pytest.raises(ValueError, match="sample_a"):
        draw_inputs(lambda rng, n, d: np.zeros((n, d + 1)), np.random.default_rng(0), 2, 2)
    with pytest.raises(TypeError, match="sample_ab"):
        check_pair_sampler(3)
    with pytest.raises(ValueError, match="sample_ab must return two arrays"):
        draw_pairs(lambda rng, n: (np.ones(n), np.ones(n + 1)), np.random.default_rng(0), 2)
    with pytest.raises(ValueError, match="u must have 3 columns"):
        sgd_multiplier(0.1, 1, 3)(np.random.default_rng(0), np.ones((2, 2)))


def test_bad_input():
    with pytest.raises(ValueError, match="nu"):
        student_t_sampler(4.0)
    with pytest.raises(ValueError, match="sigma"):
        rademacher_sampler(0.0)
    with pytest.raises(ValueError, match="sigma"):
        uniform_sampler(-1.0)
    with pytest.raises(ValueError, match="cov"):
        gaussian_sampler([1.0, -1.0])
    with pytest.raises(ValueError, match="cov"):
        gaussian_sampler([[1.0, 2.0], [2.0, 1.0]])  # not positive definite
    with pytest.raises(ValueError, match="cov"):
        gaussian_sampler([[1.0, 0.5], [0.0, 1.0]])  # not symmetric
    with pytest.raises(ValueError, match="dim must equal"):
        gaussian_sampler([1.0, 2.0])(np.random.default_rng(0), 3, 3)
    with pytest.raises(ValueError, match="X"):
        dataset_sampler([1.0, 2.0])
    with pytest.raises(ValueError, match="X"):
        dataset_sampler([[1.0, np.nan]])
    with pytest.raises(ValueError, match="dim"):
        dataset_sampler([[1.0, 2.0]])(np.random.default_rng(0), 3, 5)
    with pytest.raises(ValueError, match="eta"):
        sgd_multiplier(0.0, 1, 2)
    with pytest.raises(TypeError, match="sample_a"):
        sgd_multiplier(0.1, 1, 2, "rademacher")
