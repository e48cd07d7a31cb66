"""Checks for the coding exercises of the chapter "The paper's synthetic experiment, reproduced and examined"."""

from __future__ import annotations

import numpy as np

from hts_lib.simulate.synthetic import step_size_for_tail_index
from hts_lib.recursion.exact import critical_step_sizes
from . import Case, register


def _window_reference(batch_size: int, dim: int) -> np.ndarray:
    cs = critical_step_sizes(batch_size, dim)
    return np.array([cs.eta_crit, cs.eta_max])


@register("ch07-window", "The heavy-tailed window (eta_crit, eta_max) of online SGD",
          reference=_window_reference)
def _cases_window():
    # eta_crit is a closed form; eta_max is a root of rho(eta) = 0 with rho accurate to ~1e-10:
    # a student's brentq with default tolerances (xtol 2e-12) lands well inside 1e-7 relative
    return [Case(f"b={b}, d={d}", args=(b, d), expected=_window_reference(b, d), rtol=1e-7,
                 reason="closed form and a root of the quadrature-exact rho")
            for b, d in [(1, 100), (5, 100), (20, 100), (1, 5), (2, 10)]]


def _eta_for_alpha_reference(alpha: float, batch_size: int, dim: int) -> float:
    return step_size_for_tail_index(alpha, batch_size, dim)


@register("ch07-eta-for-alpha", "The step size that gives a prescribed tail index",
          reference=_eta_for_alpha_reference)
def _cases_eta_for_alpha():
    # alpha(eta) is steep near eta_max, so eta is well determined: 1e-6 relative allows any
    # root finder that stops within 1e-9 in eta
    return [Case(f"alpha={a}, b={b}, d={d}", args=(a, b, d), expected=_eta_for_alpha_reference(a, b, d),
                 rtol=1e-6, reason="root of the exact tail index, found to ~1e-9")
            for a, b, d in [(1.0, 1, 2), (0.5, 1, 5), (1.5, 5, 10), (2.0, 1, 100), (4.0, 2, 3)]]
