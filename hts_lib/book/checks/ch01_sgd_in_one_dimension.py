"""Checks for the coding exercises of the chapter "SGD in one dimension"."""

from __future__ import annotations

import math

import numpy as np

from hts_lib.recursion import sgd1d_log_moment, sgd1d_tail_index

from . import Case, _reference_cases, register


def _mc_log_moment_reference(s: float, eta: float, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n)
    return float(np.log(np.mean(np.abs(1.0 - eta * a * a) ** s)))


@register(
    "ch01-mc-moment",
    "Monte Carlo estimate of h(s) = log E|1 - eta a^2|^s",
    reference=_mc_log_moment_reference,
)
def _cases_mc_moment():
    cases = []
    n = 400_000
    for s, eta in [(1.0, 0.5), (2.0, 2 / 3), (0.5, 2.0)]:
        exact = sgd1d_log_moment(s, eta)
        # Standard error of log(mean) by the delta method: sd(|A|^s) / (sqrt(n) E|A|^s); sd from an
        # independent large sample. 5 SE: a right answer fails with probability < 1e-6 per case.
        rng = np.random.default_rng(12345)
        v = np.abs(1.0 - eta * rng.standard_normal(1_000_000) ** 2) ** s
        se = float(v.std() / (math.sqrt(n) * v.mean()))
        cases.append(
            Case(
                f"s={s:g}, eta={eta:.4g}, n={n}",
                args=(s, eta, n, 2026),
                expected=exact,
                atol=5 * se,
                rtol=0.0,
                reason=f"Monte Carlo with n={n}: 5 standard errors of the log-mean",
            )
        )
    return cases


def _tail_index_reference(eta: float) -> float:
    return sgd1d_tail_index(eta)


@register(
    "ch01-tail-index", "Tail index of one-dimensional SGD by root finding", reference=_tail_index_reference
)
def _cases_tail_index():
    return _reference_cases(
        _tail_index_reference,
        [(f"eta={eta:g}", (eta,)) for eta in (0.3, 2 / 3, 1.0, 1.8)],
        rtol=1e-3,
        reason="a root finder stopped at 1e-4 and a quadrature to 1e-6 are enough",
    )
