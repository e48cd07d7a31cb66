"""Checks for the coding exercises of the chapter "Flatness, noise and tails"."""

from __future__ import annotations

import math

import numpy as np

from . import Case, register


def _psd_matrix(dim: int, top: float, second: float, seed: int) -> np.ndarray:
    """Symmetric PSD matrix with eigenvalues top > second > the rest (uniform on [0, second/2])."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    lam = np.concatenate([[top, second], rng.uniform(0.0, second / 2, dim - 2)])
    return (q * lam) @ q.T


# ---------------------------------------------------------------------------------------------
# ch12-power: power iteration from Hessian-vector products
# ---------------------------------------------------------------------------------------------
def _power_reference(hvp, dim: int, tol: float, seed: int) -> float:
    v = np.random.default_rng(seed).standard_normal(dim)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(10_000):
        w = hvp(v)
        new = float(v @ w)
        v = w / np.linalg.norm(w)
        if abs(new - lam) <= tol * abs(new):
            return new
        lam = new
    return lam


@register(
    "ch12-power", "Top eigenvalue by power iteration from Hessian-vector products", reference=_power_reference
)
def _cases_power():
    cases = []
    for dim, top, second, seed in [(50, 5.0, 3.0, 1), (200, 1.0, 0.7, 2), (400, 40.0, 10.0, 3)]:
        h = _psd_matrix(dim, top, second, seed)
        exact = float(np.linalg.eigvalsh(h)[-1])
        # Stopping at a relative change of 1e-10 with a gap ratio <= 0.7 leaves a Rayleigh-quotient
        # error far below 1e-6 (it shrinks like (second/top)^(2k)); 1e-6 also absorbs rounding.
        cases.append(
            Case(
                f"{dim} x {dim} PSD matrix, eigenvalues {top:g} > {second:g} > ...",
                args=(lambda v, h=h: h @ v, dim, 1e-10, seed),
                expected=exact,
                rtol=1e-6,
                reason="converged power iteration on a matrix with a spectral gap",
            )
        )
    return cases


# ---------------------------------------------------------------------------------------------
# ch12-hutchinson: Hutchinson's trace estimator with a standard error
# ---------------------------------------------------------------------------------------------
def _hutchinson_reference(hvp, dim: int, n_probes: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = np.array([v @ hvp(v) for v in rng.choice([-1.0, 1.0], size=(n_probes, dim))])
    return float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(n_probes))


def _hutchinson_compare(exact_trace: float, se_true: float, n_probes: int):
    def compare(_expected, got):
        try:
            est, se = (float(v) for v in got)
        except (TypeError, ValueError):
            return False, "expected a pair (estimate, standard_error)"
        # the estimate is a mean of n_probes i.i.d. terms: within 4 true SE with probability > 0.9999
        if not abs(est - exact_trace) <= 4 * se_true:
            return False, (
                f"estimate {est:.4g} is more than 4 standard errors ({4 * se_true:.3g}) from the "
                f"trace {exact_trace:.4g}"
            )
        # the sample SE of n_probes draws is within 35 % of the true one (relative SE of a sample
        # standard deviation ~ sqrt((kurtosis - 1) / (4 n)), < 10 % here; 35 % leaves > 3 of those)
        if not abs(se / se_true - 1) <= 0.35:
            return False, f"standard error {se:.3g}, but the true one is {se_true:.3g} (more than 35 % off)"
        return (
            True,
            f"estimate {est:.4g} vs trace {exact_trace:.4g} (SE {se_true:.3g}); standard error {se:.3g}",
        )

    return compare


@register(
    "ch12-hutchinson", "Hutchinson's trace estimator with a standard error", reference=_hutchinson_reference
)
def _cases_hutchinson():
    cases = []
    for dim, n_probes, seed in [(30, 200, 4), (100, 400, 5), (300, 300, 6)]:
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((dim, dim)) / math.sqrt(dim)
        h = a @ a.T + np.diag(rng.uniform(1.0, 3.0, dim))  # trace >> its Hutchinson SE
        off = h - np.diag(np.diag(h))
        se_true = math.sqrt(2.0 * float((off**2).sum()) / n_probes)
        cases.append(
            Case(
                f"{dim} x {dim} matrix, {n_probes} probes",
                args=(lambda v, h=h: h @ v, dim, n_probes, seed),
                expected=float(np.trace(h)),
                compare=_hutchinson_compare(float(np.trace(h)), se_true, n_probes),
                reason="within 4 standard errors; standard error within 35 %",
            )
        )
    return cases
