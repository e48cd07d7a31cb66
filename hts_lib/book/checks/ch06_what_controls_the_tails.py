"""Checks for the coding exercises of the chapter "What controls the tails"."""

from __future__ import annotations

from hts_lib.recursion import critical_step_sizes, even_moment_step_size

from . import _reference_cases, register


def _window_reference(batch_size: int, dim: int) -> float:
    return critical_step_sizes(batch_size, dim).window


@register("ch06-window", "Relative width of the infinite-variance window", reference=_window_reference)
def _cases_window():
    # eta_max is a Brent root of rho (library: 1e-13 relative); a student's root finder with
    # xtol ~1e-10 changes the width by far less than 1e-6 relative, even for the 0.1 % windows of d = 100
    return _reference_cases(
        _window_reference,
        [(f"b={b}, d={d}", (b, d)) for b, d in [(1, 1), (1, 2), (5, 10), (5, 100)]],
        rtol=1e-6,
        reason="two root findings (library and answer) to better than 1e-9 relative in eta_max",
    )


def _eta_for_alpha_reference(alpha: float, batch_size: int, dim: int) -> float:
    return even_moment_step_size(int(round(alpha / 2)), batch_size, dim)


@register("ch06-eta-for-alpha", "Step size for a target tail index", reference=_eta_for_alpha_reference)
def _cases_eta_for_alpha():
    # Expected values are exact: alpha = 2k where E||M e_1||^{2k} = 1 (roots of the even-moment
    # polynomials), independent of the quadrature behind tail_index.
    return _reference_cases(
        _eta_for_alpha_reference,
        [
            (f"alpha={2 * k}, b={b}, d={d}", (2.0 * k, b, d))
            for k, b, d in [(1, 1, 10), (2, 5, 10), (3, 1, 2), (1, 5, 100)]
        ],
        rtol=1e-7,
        reason="alpha is accurate to ~1e-10 and d(alpha)/d(eta) is moderate: 1e-7 in eta",
    )
