"""Checks for the coding exercises of the chapter "Estimating a tail index"."""

from __future__ import annotations

import numpy as np

from hts_lib.tails import alpha_stable, hill, sample_pareto, sample_symmetric_stable

from . import _reference_cases, register


def _data():
    rng = np.random.default_rng(2024)
    return {
        "Pareto(1.5), N=2000": sample_pareto(1.5, 2000, seed=rng),
        "Student-t(3), N=5000": rng.standard_t(3.0, 5000),
        "SaS(1.2), N=3000": sample_symmetric_stable(1.2, 3000, seed=rng),
    }


def _hill_reference(x, k):
    return hill(x, k=k, ci="none").alpha


@register("ch03-hill", "The Hill estimator at a given k", reference=_hill_reference)
def _cases_hill():
    settings = [(f"{name}, k={k}", (x, k)) for name, x in _data().items() for k in (50, 500)]
    return _reference_cases(
        _hill_reference, settings, rtol=1e-9, reason="deterministic: only floating-point rounding"
    )


def _interval_reference(x, k, level):
    e = hill(x, k=k, ci="gamma", level=level)
    return np.array([e.ci_low, e.ci_high])


@register(
    "ch03-gamma-interval",
    "Exact interval for alpha from the Gamma law of the Hill sum",
    reference=_interval_reference,
)
def _cases_interval():
    settings = [
        (f"{name}, k={k}, level={level}", (x, k, level))
        for (name, x), (k, level) in zip(_data().items(), ((100, 0.9), (400, 0.95), (30, 0.8)))
    ]
    return _reference_cases(
        _interval_reference,
        settings,
        rtol=1e-8,
        reason="deterministic: Gamma quantiles from scipy, rounding only",
    )


def _block_reference(x, m):
    return alpha_stable(x, m=m, ci="none").alpha


@register("ch03-block", "The authors' block-sum estimator at one block size", reference=_block_reference)
def _cases_block():
    rng = np.random.default_rng(7)
    settings = [
        (f"SaS({alpha:g}), N={n}, m={m}", (sample_symmetric_stable(alpha, n, seed=rng), m))
        for alpha, n, m in ((1.5, 4000, 10), (0.8, 3001, 7), (1.8, 10_000, 100))
    ]
    return _reference_cases(
        _block_reference, settings, rtol=1e-9, reason="deterministic: only floating-point rounding"
    )
