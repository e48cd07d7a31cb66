"""Checks for the coding exercises of the chapter "Beyond isotropic Gaussian data"."""

from __future__ import annotations

import numpy as np

from hts_lib.recursion import offline1d_tail_index, second_moment_spectral_radius

from . import _reference_cases, register


def _radius_reference(eta: float, batch_size: int, lam) -> float:
    return second_moment_spectral_radius(eta, batch_size, np.asarray(lam, dtype=float))


@register(
    "ch08-radius", "Spectral radius of E[M (x) M] for anisotropic Gaussian data", reference=_radius_reference
)
def _cases_radius():
    geometric = np.geomspace(1.0, 0.1, 10)
    geometric *= 10 / geometric.sum()
    settings = [
        ("isotropic, d=10, b=1, eta=0.1 (closed form 0.92)", (0.1, 1, np.ones(10))),
        ("geometric spectrum, d=10, b=1, eta=0.15", (0.15, 1, geometric)),
        ("d=3, b=2, spectrum (3, 1, 0.5), eta=0.4", (0.4, 2, np.array([3.0, 1.0, 0.5]))),
        ("d=4, b=5, one large direction, eta=0.5", (0.5, 5, np.array([4.0, 0.2, 0.2, 0.2]))),
    ]
    return _reference_cases(
        _radius_reference,
        settings,
        rtol=1e-9,
        reason="deterministic: an eigenvalue solver on a d x d or d^2 x d^2 matrix",
    )


def _same_special_value(expected: float, got) -> tuple[bool, str]:
    """Compare non-finite answers (inf: no positive root; nan: no stationary law) without arithmetic."""
    try:
        g = float(got)
    except (TypeError, ValueError):
        return False, f"expected a number, got {type(got).__name__}"
    ok = (np.isnan(expected) and np.isnan(g)) or (np.isinf(expected) and g == expected)
    return bool(ok), f"expected {expected}, got {g}"


def _offline_reference(x, eta: float) -> float:
    return offline1d_tail_index(x, eta)


@register(
    "ch08-offline-alpha",
    "Exact tail index alpha_n of one-dimensional offline SGD",
    reference=_offline_reference,
)
def _cases_offline():
    gaussian = [
        (f"n={n} Gaussian inputs (seed {seed}), eta=1", (np.random.default_rng(seed).standard_normal(n), 1.0))
        for n, seed in [(50, 1), (500, 2), (5000, 3)]
    ]
    cases = _reference_cases(
        _offline_reference,
        gaussian,
        rtol=1e-6,
        reason="a root of a smooth function found to 1e-8 by any bracketing method",
    )
    for desc, x, reason in [
        (
            "no input with eta x^2 > 2: nothing expands (expect inf)",
            [0.2, -0.5, 0.9, 1.1],
            "no positive root",
        ),
        ("rho_n > 0: no stationary law (expect nan)", [0.5, 3.0], "no stationary law"),
    ]:
        special = f"special value: {reason}"
        args = [(desc, (np.array(x), 1.0))]
        cases += _reference_cases(_offline_reference, args, reason=special, compare=_same_special_value)
    return cases
