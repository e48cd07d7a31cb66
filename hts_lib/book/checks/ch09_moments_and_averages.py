"""Checks for the coding exercises of the chapter "Moments, convergence and averaged iterates"."""

from __future__ import annotations

import numpy as np
from scipy import stats

from hts_lib.recursion import sgd1d_moment_path
from hts_lib.tails import sample_symmetric_stable

from . import _reference_cases, register


def _fourth_moment_reference(eta: float, n_steps: int) -> np.ndarray:
    return sgd1d_moment_path(4, eta, n_steps)


@register(
    "ch09-fourth-moment",
    "Exact fourth moment of one-dimensional SGD along the run",
    reference=_fourth_moment_reference,
)
def _cases_fourth_moment():
    # Deterministic: a hand-written recursion and the library's triangular system add the same few terms in a
    # different order; 1e-9 relative leaves room for that rounding over tens of steps of growth.
    return _reference_cases(
        _fourth_moment_reference,
        [
            (f"eta={eta:.4g}, n_steps={n}", (eta, n))
            for eta, n in [(0.3, 12), (2 / 3, 15), (0.8, 10), (0.1, 5)]
        ],
        rtol=1e-9,
        atol=1e-15,
        reason="exact recursion: only floating-point rounding",
    )


def _w1_reference(u, v) -> float:
    return float(stats.wasserstein_distance(u, v))


@register("ch09-w1", "Wasserstein-1 distance between two samples of equal size", reference=_w1_reference)
def _cases_w1():
    rng = np.random.default_rng(2024)
    pairs = [
        ("normal vs shifted normal, n=1000", rng.standard_normal(1000), rng.standard_normal(1000) + 0.7),
        ("uniform vs exponential, n=500", rng.uniform(0, 2, 500), rng.exponential(1.0, 500)),
        (
            "two stable samples, alpha=1.5, n=2000",
            sample_symmetric_stable(1.5, 2000, seed=1),
            sample_symmetric_stable(1.5, 2000, seed=2) * 1.5,
        ),
        ("five points", np.array([3.0, -1.0, 2.0, 0.5, 4.0]), np.array([0.0, 1.0, 1.0, 2.0, -2.0])),
    ]
    # Deterministic: scipy integrates |F_u - F_v| over the merged support, the quantile form averages sorted
    # differences; the two agree up to floating-point rounding (1e-9 relative).
    return _reference_cases(
        _w1_reference,
        [(desc, (u, v)) for desc, u, v in pairs],
        rtol=1e-9,
        atol=1e-12,
        reason="exact identity between the CDF and quantile forms: only rounding",
    )
