"""Tests for hts_lib.simulate.studies: each study against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from hts_lib import recursion
from hts_lib.recursion import (
    gaussian_sampler,
    lyapunov_exponent,
    rademacher_sampler,
    sgd1d_tail_index,
    tail_index,
    tail_index_mc,
)
from hts_lib.simulate.studies import (
    kurtosis_threshold,
    mc_sweep,
    offline_spread_1d,
    offline_study,
    online_norm_tail,
    product_bound_path,
    rademacher_plane_tail_index,
)

# the exact offline tail index in one dimension, under its current name (the old one is a deprecated alias)
offline_tail_index_1d = getattr(recursion, "offline1d_tail_index", None) or recursion.offline_tail_index_1d
SMALL_MC = dict(n_walkers=300, n_steps=100, burn_in=30, n_replicas=5)


def test_mc_sweep_matches_the_exact_isotropic_engine():
    etas = [0.5, 0.7]
    sweep = mc_sweep(etas, 1, 2, gaussian_sampler(np.ones(2)), seed=11, **SMALL_MC)
    exact_a = np.array([tail_index(e, 1, 2) for e in etas])
    exact_r = np.array([lyapunov_exponent(e, 1, 2) for e in etas])
    # seeded Monte Carlo: 5 standard errors (plus 2 % for the root finder's grid bias of tail_index_mc)
    assert np.all(np.abs(sweep.alpha - exact_a) <= 5 * sweep.alpha_se + 0.02 * exact_a)
    assert np.all(np.abs(sweep.rho - exact_r) <= 5 * sweep.rho_se)
    no_rho = mc_sweep(etas[:1], 1, 2, gaussian_sampler(np.ones(2)), seed=11, with_rho=False, **SMALL_MC)
    assert np.isnan(no_rho.rho).all() and no_rho.alpha[0] == sweep.alpha[0]  # same seed, same alpha


@pytest.mark.parametrize("kappa, b, d", [(1.0, 2, 2), (1.8, 2, 2), (3.0, 1, 10), (4.0, 5, 3)])
def test_kurtosis_threshold_root_agrees_with_closed_form(kappa, b, d):
    formula, root = kurtosis_threshold(kappa, b, d)
    assert formula == pytest.approx(2 * b / (b + d + kappa - 2), rel=1e-15)
    # two computations of one number (closed form, root of a spectral radius found to 1e-14)
    assert root == pytest.approx(formula, rel=1e-9)


def test_kurtosis_threshold_gaussian_matches_eta_crit():
    # kappa = 3 is the Gaussian case: eta_crit = 2b / (d + b + 1)
    assert kurtosis_threshold(3.0, 4, 6)[1] == pytest.approx(8 / 11, rel=1e-9)


def test_rademacher_plane_tail_index_against_direct_root_and_monte_carlo():
    eta, b = 1.4, 2
    # N ~ Bin(2, 1/2): |1 - eta N| takes the values 1, |1 - eta|, |1 - 2 eta| with probabilities 1/4, 1/2, 1/4
    h = lambda s: math.log(0.25 + 0.5 * abs(1 - eta) ** s + 0.25 * abs(1 - 2 * eta) ** s)  # noqa: E731
    direct = optimize.brentq(h, 1e-6, 20.0, xtol=1e-13)
    assert rademacher_plane_tail_index(eta, b) == pytest.approx(direct, rel=1e-6)  # two root finders
    mc = tail_index_mc(eta, b, 2, rademacher_sampler(), seed=5, **SMALL_MC)
    # independent Monte Carlo on the 2 x 2 products: 5 standard errors plus 2 % grid bias
    assert abs(mc.value - direct) <= 5 * mc.stderr + 0.02 * direct
    # at eta = 1 no multiplier expands (|1 - N| <= 1): no power law
    assert rademacher_plane_tail_index(1.0, 2) == math.inf


def test_product_bound_path_in_one_dimension_is_exact():
    # in d = 1 the norm of a product is the product of |A_i|, so E|Pi_k|^s = (E|A|^s)^k and every bound
    # equals the tail index itself
    path = product_bound_path(
        1.0, 1, 1, gaussian_sampler(np.ones(1)), [1, 4], n_samples=20_000, n_replicas=8, seed=3
    )
    assert path.ks.tolist() == [1, 4]
    target = sgd1d_tail_index(1.0)
    # seeded Monte Carlo: 5 standard errors plus 2 % for the root finder's grid
    assert np.all(np.abs(path.value - target) <= 5 * path.stderr + 0.02 * target)


def test_online_norm_tail_hill_tracks_exact_alpha():
    eta = 0.6553  # alpha = 1 for d = 2, b = 1
    tail = online_norm_tail(eta, 1, 2, n_chains=20_000, n_steps=300, burn_in=150, seed=2)
    assert tail.norms.shape == (20_000,)
    # Hill's 90% interval, with 0.1 of slack for the bias of a 300-step chain started at 0
    assert tail.hill.ci_low - 0.1 <= tail_index(eta, 1, 2) <= tail.hill.ci_high + 0.1


def test_offline_study_in_one_dimension_matches_the_exact_offline_index():
    eta, n = 1.0, 300
    study = offline_study(eta, 1, [n], seed=4, n_chains=2000, n_steps=100, burn_in=50, mc=SMALL_MC)
    case = study[n]
    # regenerate the data set exactly as documented: one generator seeded with `seed`
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, 1))[:, 0]
    assert case.expand == pytest.approx(eta * np.max(x**2), rel=1e-12)
    exact = offline_tail_index_1d(x, eta)
    # engine (Monte Carlo on the empirical law) vs the exact root: 5 standard errors plus 2 % grid bias
    assert abs(case.alpha_n.value - exact) <= 5 * case.alpha_n.stderr + 0.02 * exact
    assert case.norms.shape == (2000,)


def test_offline_spread_counts_and_convergence():
    eta = 1.0
    spread = offline_spread_1d(eta, [10, 10_000], n_datasets=40, seed=7)
    assert spread.alphas.shape == (2, 40)
    # alpha_n = inf exactly for the data sets in which no point expands (eta x_i^2 <= 2 for all i)
    data = np.random.default_rng([7, 10]).standard_normal((40, 10))
    assert spread.n_inf[0] == int(np.sum(np.all(eta * data**2 <= 2, axis=1)))
    # at n = 10^4 the median is near the online alpha: the spread of an average of 10^4 terms is ~0.02,
    # so 0.1 is several of its widths
    assert spread.quantiles[1, 1] == pytest.approx(sgd1d_tail_index(eta), abs=0.1)
    assert spread.n_nan[1] == 0 and spread.n_inf[1] == 0


def test_bad_input():
    g = gaussian_sampler(np.ones(2))
    with pytest.raises(ValueError, match="etas"):
        mc_sweep([0.0, 0.5], 1, 2, g)
    with pytest.raises(TypeError, match="sample_a"):
        mc_sweep([0.5], 1, 2, "gaussian")
    with pytest.raises(ValueError, match="kurtosis"):
        kurtosis_threshold(0.5, 1, 2)
    with pytest.raises(ValueError, match="eta"):
        rademacher_plane_tail_index(-1.0, 2)
    with pytest.raises(ValueError, match="ks"):
        product_bound_path(1.0, 1, 2, g, [])
    with pytest.raises(ValueError, match="x_true"):
        offline_study(0.5, 2, [10], x_true=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="sizes"):
        offline_study(0.5, 2, [])
    with pytest.raises(ValueError, match="levels"):
        offline_spread_1d(1.0, [10], levels=[0.5, 1.0])
