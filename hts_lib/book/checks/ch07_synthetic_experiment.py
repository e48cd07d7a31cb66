"""Checks for the coding exercises of the chapter on the paper's synthetic experiment (ch07)."""

from __future__ import annotations

import math

import numpy as np

from hts_lib.recursion import critical_step_sizes, tail_index

from . import _reference_cases, register


def _expected_draws_reference(n: int, batch_size: int) -> float:
    return 1.0 / math.prod(1.0 - j / n for j in range(batch_size))


@register(
    "ch07-expected-draws",
    "Expected number of i.i.d. draws until b indices are distinct",
    reference=_expected_draws_reference,
)
def _cases_expected_draws():
    # expected values in exact integer arithmetic: n^b / (n (n-1) ... (n-b+1)); a float product of
    # b <= 100 factors loses at most ~1e-13 relative
    cases = [(10_000, 20), (10_000, 1), (5, 2), (100, 10), (1000, 100)]
    return _reference_cases(
        lambda n, b: n**b / math.perm(n, b),
        [(f"n={n}, b={b}", (n, b)) for n, b in cases],
        rtol=1e-10,
        reason="exact rational value; a float product of b factors is accurate to ~1e-13",
    )


def _in_window_reference(etas, batch_size: int, dim: int) -> np.ndarray:
    cs = critical_step_sizes(batch_size, dim)
    etas = np.asarray(etas, dtype=float)
    return (cs.eta_crit < etas) & (etas < cs.eta_max)


def _in_window_expected(etas, batch_size: int, dim: int) -> np.ndarray:
    # independent of the window's end points: the stationary law has infinite variance exactly when
    # rho < 0 (tail_index finite, not nan) and alpha < 2
    alphas = np.array([tail_index(e, batch_size, dim) for e in etas])
    return np.isfinite(alphas) & (alphas < 2)


@register(
    "ch07-in-window",
    "Which step sizes of a grid give a stationary law with infinite variance",
    reference=_in_window_reference,
)
def _cases_in_window():
    paper = [0.02 * k for k in range(1, 11)]
    # grids that do and do not hit the window; no grid point lies within 1e-6 of an end point,
    # so the answer is a clean yes/no for each step size
    cases = [
        (paper, 1, 100),
        (paper, 5, 100),
        (list(np.linspace(0.1, 2.2, 15)), 1, 2),
        (list(np.linspace(0.6, 0.7, 11)), 5, 10),
        ([0.3, 0.9, 1.2, 1.5], 2, 3),
    ]
    return _reference_cases(
        _in_window_expected,
        [(f"{len(e)} step sizes, b={b}, d={d}", (e, b, d)) for e, b, d in cases],
        rtol=0.0,
        atol=0.0,
        reason="a yes/no answer per step size (grid points are far from the edges)",
    )
