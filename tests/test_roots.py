"""Tests for hts_lib.recursion.roots: the root finder for convex log-moment functions, and its nan/inf
convention.

References are closed forms: laws of |A| whose moment equation E|A|^s = 1 is solved by hand.
"""

import math

import numpy as np
import pytest
from scipy import optimize

from hts_lib.recursion.roots import empirical_log_moment, empirical_tail_index, log_moment_root

PHI = (1 + math.sqrt(5)) / 2


@pytest.mark.parametrize(
    "h, alpha",
    [
        (lambda s: math.log((0.25**s + 2.0**s) / 2), math.log2(PHI)),  # 2^s = golden ratio
        (lambda s: s * math.log(2.0) - math.log1p(s), 1.0),  # A ~ U(0, 2): 2^s / (s + 1)
        (lambda s: -0.3 * s + 0.5 * 0.36 * s * s, 2 * 0.3 / 0.36),  # log-normal A: mu = -0.3, tau = 0.6
        (lambda s: -s + 1e-3 * s * s, 1000.0),  # a root far out (doubling)
        (lambda s: -1e-4 * s + s * s, 1e-4),  # a root close to 0 (halving)
    ],
)
def test_closed_form_roots(h, alpha):
    # Brent's method to xtol 1e-14, rtol 1e-12, on functions evaluated to rounding
    assert log_moment_root(h) == pytest.approx(alpha, rel=1e-11)


def test_convention_nan_when_rho_nonnegative_and_inf_beyond_the_search():
    assert math.isnan(log_moment_root(lambda s: s))  # rho = 1 > 0, detected from h
    assert math.isnan(log_moment_root(lambda s: s * s))  # rho = 0: no stationary law
    assert math.isnan(log_moment_root(lambda s: -s + s * s, rho=0.0))  # rho given: nan without search
    assert log_moment_root(lambda s: -s, s_max=100.0) == math.inf  # |A| <= 1: never returns to 0
    assert log_moment_root(lambda s: -s + 1e-3 * s * s, s_max=100.0) == math.inf  # root 1000 > s_max
    assert log_moment_root(lambda s: -s + s * s, rho=-math.inf) == pytest.approx(1.0, rel=1e-12)


def test_rho_is_used_and_not_recomputed():
    calls = []

    def h(s):
        calls.append(s)
        return -s + s * s

    assert log_moment_root(h, rho=-1.0) == pytest.approx(1.0, rel=1e-12)
    assert all(s > 0 for s in calls)


def test_empirical_root_solves_the_sample_moment_equation():
    a = np.abs(1 - 1.2 * np.random.default_rng(4).standard_normal(500) ** 2)
    alpha = empirical_tail_index(np.log(a))
    # the definition itself: mean |A|^alpha = 1 (to the root finder's tolerance)
    assert np.mean(a**alpha) == pytest.approx(1.0, abs=1e-9)
    ref = optimize.brentq(lambda s: np.mean(a**s) - 1, 0.1 * alpha, 10 * alpha, xtol=1e-15)
    assert alpha == pytest.approx(ref, rel=1e-10)


def test_empirical_special_values_and_huge_values():
    assert empirical_tail_index(np.log([0.5, 1.0])) == math.inf  # nothing expands
    assert math.isnan(empirical_tail_index(np.log([0.5, 3.0])))  # rho_n > 0
    assert math.isnan(empirical_tail_index([0.0, 0.0]))  # rho_n = 0
    # a zero multiplier (log = -inf) lowers every moment: mean(3^s [0, 0, 1]) = 3^s / 3 = 1 at s = 1
    assert empirical_tail_index([-math.inf, -math.inf, math.log(3.0)]) == pytest.approx(1.0, rel=1e-12)
    # log-sum-exp: log|A| = +-690 must not overflow; (2 / x + x) / 3 = 1 with x = e^{690 s} gives x = 2
    r = empirical_tail_index([-690.0, -690.0, 690.0])
    assert r == pytest.approx(math.log(2.0) / 690.0, rel=1e-9)
    h = empirical_log_moment([-690.0, -690.0, 690.0])
    assert h(2.0) == pytest.approx(1380.0 - math.log(3.0), rel=1e-15)


def test_bad_input():
    with pytest.raises(TypeError, match="log_moment"):
        log_moment_root(3.0)
    with pytest.raises(ValueError, match="rho"):
        log_moment_root(lambda s: s, rho=math.nan)
    with pytest.raises(ValueError, match="s_max"):
        log_moment_root(lambda s: -s, s_max=0.0)
    with pytest.raises(ValueError, match="log_values"):
        empirical_tail_index([])
    with pytest.raises(ValueError, match="log_values"):
        empirical_tail_index([0.1, math.nan])
    with pytest.raises(ValueError, match="log_values"):
        empirical_log_moment([0.1, math.inf])
