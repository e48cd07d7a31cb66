"""Checks for the coding exercises of the chapter "Heavy tails"."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from hts_lib.tails import sample_symmetric_stable

from . import Case, _reference_cases, register


def _pareto_quantile_reference(u, alpha):
    return (1.0 - np.asarray(u, dtype=float)) ** (-1.0 / alpha)


@register(
    "ch02-pareto-quantile",
    "Quantile function of the Pareto law (sampling by inversion)",
    reference=_pareto_quantile_reference,
)
def _cases_pareto_quantile():
    u = np.array([0.0, 0.1, 0.5, 0.9, 0.99, 0.999])
    # expected values from scipy's Pareto law (an independent implementation of the same closed form)
    return _reference_cases(
        lambda u, a: stats.pareto(a).ppf(u),
        [(f"alpha={a:g}, u={u.tolist()}", (u, a)) for a in (0.5, 1.5, 3.0)],
        rtol=1e-10,
        reason="closed form: only floating-point rounding",
    )


def _normalised_sums_reference(x, alpha):
    x = np.asarray(x, dtype=float)
    return x.sum(axis=1) / x.shape[1] ** (1.0 / alpha)


def _ecf_compare(alpha: float, n_rows: int):
    """Compare through the characteristic function: normalised sums of standard SaS data are standard SaS."""
    ts = (0.5, 1.0, 2.0)
    # mean of cos(tZ) over n_rows values has SE <= sqrt(1/(2 n_rows)); 4.5 SE keeps a right answer's
    # false-alarm rate below 1e-4 over the three t values
    tol = 4.5 * math.sqrt(0.5 / n_rows)

    def compare(expected, got):
        g = np.asarray(got, dtype=float)
        if g.shape != (n_rows,):
            return (
                False,
                f"expected an array of shape ({n_rows},) (one normalised sum per row), got {g.shape}",
            )
        if not np.all(np.isfinite(g)):
            return False, "the result contains NaN or inf"
        errs = [abs(float(np.mean(np.cos(t * g))) - math.exp(-(t**alpha))) for t in ts]
        ok = max(errs) < tol
        return ok, (
            f"empirical characteristic function vs exp(-|t|^alpha) at t = {ts}: errors "
            f"{', '.join(f'{e:.4f}' for e in errs)}; tolerance {tol:.4f} (4.5 Monte Carlo standard errors)"
        )

    return compare


@register(
    "ch02-normalised-sums",
    "Normalised sums of stable variables (generalized CLT scaling)",
    reference=_normalised_sums_reference,
)
def _cases_normalised_sums():
    cases = []
    n_rows = 20_000
    for alpha, n, seed in ((1.5, 50, 1), (1.0, 100, 2), (0.7, 20, 3), (2.0, 30, 4)):
        x = sample_symmetric_stable(alpha, (n_rows, n), seed=seed)
        cases.append(
            Case(
                f"alpha={alpha:g}: {n_rows} rows of n={n} standard SaS draws",
                args=(x, alpha),
                expected=alpha,
                compare=_ecf_compare(alpha, n_rows),
            )
        )
    return cases
