"""Checks for the coding exercises of the chapter "SGD as a random linear recursion"."""

from __future__ import annotations

import math

import numpy as np

from hts_lib.recursion import even_moment_step_size, log_moment

from . import Case, _reference_cases, register


def _two_scalar_reference(s: float, eta: float, batch_size: int, dim: int, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    c = eta / batch_size
    S = rng.chisquare(batch_size, n)
    Q = rng.chisquare(dim - 1, n) if dim > 1 else np.zeros(n)
    return float(np.log(np.mean(((1 - c * S) ** 2 + c * c * S * Q) ** (s / 2))))


@register(
    "ch05-two-scalar",
    "Monte Carlo moment function from the two-scalar representation",
    reference=_two_scalar_reference,
)
def _cases_two_scalar():
    cases = []
    n = 400_000
    for s, eta, b, d in [(1.0, 0.1, 1, 10), (0.5, 0.6, 5, 10), (2.0, 0.45, 1, 2), (1.5, 2.0, 1, 1)]:
        exact = log_moment(s, eta, b, d)
        # Standard error of log(mean) (delta method): sd(R^{s/2}) / (sqrt(n) E R^{s/2}), with the sd
        # taken from an independent sample of 10^6. 5 SE: a right answer fails with probability < 1e-6.
        rng = np.random.default_rng(12345)
        c = eta / b
        S = rng.chisquare(b, 1_000_000)
        Q = rng.chisquare(d - 1, 1_000_000) if d > 1 else np.zeros(1_000_000)
        w = ((1 - c * S) ** 2 + c * c * S * Q) ** (s / 2)
        se = float(w.std() / (math.sqrt(n) * w.mean()))
        cases.append(
            Case(
                f"s={s:g}, eta={eta:g}, b={b}, d={d}, n={n}",
                args=(s, eta, b, d, n, 2105),
                expected=exact,
                atol=5 * se,
                rtol=0.0,
                reason=f"Monte Carlo with n={n}: 5 standard errors of the log-mean",
            )
        )
    return cases


def _alpha_four_reference(batch_size: int, dim: int) -> float:
    return even_moment_step_size(2, batch_size, dim)


@register(
    "ch05-alpha-four",
    "Step size where alpha = 4, from the fourth moment of ||M e_1||",
    reference=_alpha_four_reference,
)
def _cases_alpha_four():
    return _reference_cases(
        _alpha_four_reference,
        [(f"b={b}, d={d}", (b, d)) for b, d in [(1, 1), (1, 10), (5, 10), (20, 100)]],
        rtol=1e-8,
        reason="a root of an explicit cubic: float rounding and brentq's xtol only",
    )
