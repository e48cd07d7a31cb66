"""Checks for the coding exercises of the chapter "Predicting the tail index of a trained network"."""

from __future__ import annotations

import math

import numpy as np

from . import Case, register


# ---------------------------------------------------------------------------------------------
# ch13-h2: the linear-stability exponent h(2) of SGD on least squares, isotropic Gaussian data
# ---------------------------------------------------------------------------------------------
def _h2_reference(eta: float, batch_size: int, dim: int) -> float:
    return math.log(1.0 - 2.0 * eta + eta * eta * (dim + batch_size + 1) / batch_size)


@register(
    "ch13-h2",
    "h(2) = log of the growth rate of E||M u||^2 (least squares, isotropic data)",
    reference=_h2_reference,
)
def _cases_h2():
    try:  # the exact engine's h(s) (renamed log_moment in hts_lib 0.2)
        from hts_lib.recursion import log_moment
    except ImportError:  # pragma: no cover
        from hts_lib.recursion import log_moment as log_moment

    cases = []
    for eta, b, d in [(0.1, 1, 10), (0.3, 5, 20), (0.05, 2, 100), (0.9, 10, 3)]:
        # expected from the exact engine's quadrature (independent of the closed form); its relative accuracy
        # is far below 1e-8
        cases.append(
            Case(
                f"eta = {eta}, b = {b}, d = {d}",
                args=(eta, b, d),
                expected=log_moment(2.0, eta, b, d),
                rtol=1e-8,
                atol=1e-10,
                reason="closed form against the exact engine's quadrature",
            )
        )
    return cases


# ---------------------------------------------------------------------------------------------
# ch13-systematic: systematic resampling of a population
# ---------------------------------------------------------------------------------------------
def _systematic_reference(weights, u):
    w = np.asarray(weights, dtype=float)
    n = w.size
    cum = np.cumsum(w) / w.sum()
    cum[-1] = 1.0
    return np.minimum(np.searchsorted(cum, (np.arange(n) + u) / n, side="right"), n - 1)


def _same_indices(expected, got):
    got = np.asarray(got)
    if got.shape != expected.shape:
        return False, f"expected {expected.size} indices, got shape {got.shape}"
    if not np.array_equal(np.sort(got), expected):
        return False, f"expected (sorted) {expected.tolist()[:12]}..., got {np.sort(got).tolist()[:12]}..."
    return True, "the same indices"


@register(
    "ch13-systematic",
    "Systematic resampling: keep walker i about n w_i / sum(w) times",
    reference=_systematic_reference,
)
def _cases_systematic():
    rng = np.random.default_rng(13)
    cases = []
    for n, u in [(5, 0.5), (8, 0.01), (100, 0.73), (64, 0.999)]:
        w = rng.exponential(size=n) ** 3
        cases.append(
            Case(
                f"{n} walkers, uniform u = {u}",
                args=(w, u),
                expected=_systematic_reference(w, u),
                compare=_same_indices,
                reason="deterministic given the uniform: exact equality",
            )
        )
    w = np.zeros(6)
    w[2] = 1.0
    cases.append(
        Case(
            "all weight on one walker",
            args=(w, 0.3),
            expected=np.full(6, 2),
            compare=_same_indices,
            reason="deterministic",
        )
    )
    return cases
