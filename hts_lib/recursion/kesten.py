"""The scalar random linear recursion X_k = A_k X_{k-1} + B_k and SGD in one dimension.

Kesten (1973) and Goldie (1991): if E log|A| < 0, the recursion has a unique stationary law, and
if moreover E|A|^alpha = 1 for some alpha > 0 (with E|A|^alpha log+|A| finite, log|A| non-arithmetic
and B not degenerate), that law has a power-law tail, P(|X| > t) ~ c t^(-alpha). For one-dimensional
SGD on linear regression, A = 1 - eta a^2 with a ~ N(0, sigma^2).

Used in chapter: "SGD in one dimension" (and as the d = 1 oracle elsewhere).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import integrate, optimize, stats

from hts_lib.validation import check_int, check_positive, check_real, check_rng

__all__ = [
    "kesten_log_moment",
    "kesten_lyapunov",
    "kesten_tail_index",
    "sgd1d_log_moment",
    "sgd1d_lyapunov",
    "sgd1d_tail_index",
    "sgd1d_step_sizes",
    "StepSizes1D",
    "simulate_kesten",
    "simulate_sgd1d",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: Largest tail index reported as a number; above it the root is returned as ``inf``.
ALPHA_MAX = 200.0


def _check_s(s) -> float:
    return check_real("s", s, low=0.0)


# ----------------------------------------------------------------------------------------------
# Generic scalar Kesten theory for a user-given law of A
# ----------------------------------------------------------------------------------------------

def _quantile_grid(dist) -> np.ndarray:
    """Non-zero points spanning the law (quantiles), used to find the peak of ``|a|^s f(a)``."""
    grid = np.asarray(dist.ppf(np.linspace(1e-9, 1 - 1e-9, 201)), dtype=float)
    return grid[np.isfinite(grid) & (grid != 0)]


def _log_expect_abs_power(dist, s: float, grid: np.ndarray | None = None) -> float:
    """log E|A|^s for a frozen scipy.stats distribution (continuous or discrete)."""
    if s == 0.0:
        return 0.0
    if hasattr(dist.dist, "pdf"):  # continuous: integrate on each side of 0, where |a|^s has a kink
        lo, hi = dist.support()
        if grid is None:
            grid = _quantile_grid(dist)
        # Shift the log-integrand by its maximum over the grid so that large s does not overflow.
        logf = s * np.log(np.abs(grid)) + dist.logpdf(grid)
        shift = float(np.max(logf[np.isfinite(logf)]))

        def integrand(a):
            if a == 0.0:
                return 0.0
            v = s * math.log(abs(a)) + float(dist.logpdf(a)) - shift
            return math.exp(v) if v > -745.0 else 0.0

        total = 0.0
        for a0, a1 in [(lo, min(hi, 0.0)), (max(lo, 0.0), hi)]:
            if a1 > a0:
                val, _ = integrate.quad(integrand, a0, a1, limit=200, epsabs=0.0, epsrel=1e-11)
                total += val
        if total <= 0.0:
            return -math.inf
        return math.log(total) + shift
    val = dist.expect(lambda a: np.abs(a) ** s)
    return math.log(val) if val > 0 else -math.inf


def _as_log_moment(law) -> Callable[[float], float]:
    if isinstance(law, stats.rv_continuous | stats.rv_discrete):
        raise TypeError("law must be a frozen scipy.stats distribution (call it with its parameters, "
                        "e.g. stats.norm(0, 1) or rv_discrete(values=...)())")
    if callable(law) and not hasattr(law, "dist"):
        return lambda s: float(law(s))
    if hasattr(law, "dist") and hasattr(law, "support"):
        grid = _quantile_grid(law) if hasattr(law.dist, "pdf") else None  # computed once per law
        return lambda s: _log_expect_abs_power(law, s, grid)
    raise TypeError("law must be a frozen scipy.stats distribution or a callable s -> log E|A|^s")


def kesten_log_moment(s: float, law) -> float:
    """Moment function of a scalar Kesten recursion, ``log E|A|^s``.

    Parameters
    ----------
    s : float
        Order, ``s >= 0``.
    law : frozen scipy.stats distribution
        The law of the multiplier ``A`` (continuous laws are integrated by adaptive quadrature,
        split at 0; discrete laws use ``dist.expect``).

    Returns
    -------
    float
        ``log E|A|^s`` (``inf`` when the moment is infinite).

    Examples
    --------
    >>> from scipy import stats
    >>> round(kesten_log_moment(2.0, stats.norm(0, 0.5)), 6)  # E A^2 = 1/4
    -1.386294
    """
    s = _check_s(s)
    return _as_log_moment(law)(s)


def kesten_lyapunov(law) -> float:
    """``E log|A|`` for a frozen scipy.stats law of ``A``; negative means a stationary law exists.

    Examples
    --------
    >>> from scipy import stats
    >>> round(kesten_lyapunov(stats.uniform(0, 2)), 6)  # E log U(0,2) = log 2 - 1
    -0.306853
    """
    if not (hasattr(law, "dist") and hasattr(law, "support")):
        raise TypeError("law must be a frozen scipy.stats distribution")
    if hasattr(law.dist, "pdf"):
        lo, hi = law.support()
        total = 0.0
        for a0, a1 in [(lo, min(hi, 0.0)), (max(lo, 0.0), hi)]:
            if a1 > a0:
                val, _ = integrate.quad(lambda a: math.log(abs(a)) * float(law.pdf(a)) if a != 0 else 0.0,
                                        a0, a1, limit=200, epsabs=1e-13, epsrel=1e-11)
                total += val
        return total
    return float(law.expect(lambda a: np.log(np.abs(a))))


def _root_of_log_moment(log_moment: Callable[[float], float], *, s_max: float = ALPHA_MAX,
                        xtol: float = 1e-12) -> float:
    """Positive root of a convex ``f(s) = log E|A|^s`` with ``f(0) = 0`` and ``f'(0) < 0``.

    Brackets the sign change on a geometric grid (convexity makes the positive root unique), then
    refines with Brent's method.
    """
    s_neg = None
    s = 1.0 / 256.0
    while s <= s_max:
        f = log_moment(s)
        if f > 0.0:
            if s_neg is None:  # positive already on the first point: search smaller orders
                lo = s
                while lo > 1e-8:
                    lo /= 4.0
                    if log_moment(lo) < 0.0:
                        s_neg = lo
                        break
                if s_neg is None:
                    return 0.0
            return optimize.brentq(log_moment, s_neg, s, xtol=xtol, rtol=4 * np.finfo(float).eps)
        s_neg = s
        s *= 2.0
    return math.inf


def kesten_tail_index(law, *, check_stationary: bool = True) -> float:
    """Kesten-Goldie tail index: the positive root ``alpha`` of ``E|A|^alpha = 1``.

    Parameters
    ----------
    law : frozen scipy.stats distribution or callable
        The law of ``A``, or a callable ``s -> log E|A|^s``.
    check_stationary : bool
        When ``law`` is a distribution, return ``nan`` if ``E log|A| >= 0`` (no stationary law).

    Returns
    -------
    float
        ``alpha``; ``nan`` when there is no stationary law; ``inf`` when ``E|A|^s < 1`` for all
        ``s <= ALPHA_MAX`` (for example ``|A| <= 1`` almost surely: no power-law tail).

    Notes
    -----
    ``f(s) = log E|A|^s`` is convex with ``f(0) = 0`` and ``f'(0) = E log|A|``, so when
    ``E log|A| < 0`` and ``f`` eventually becomes positive the positive root is unique.

    Examples
    --------
    >>> from scipy import stats
    >>> round(kesten_tail_index(stats.uniform(0, 2)), 6)  # E U^a = 2^a / (a + 1) = 1 at a = 1
    1.0
    """
    if check_stationary and hasattr(law, "dist"):
        if kesten_lyapunov(law) >= 0.0:
            return math.nan
    return _root_of_log_moment(_as_log_moment(law))


# ----------------------------------------------------------------------------------------------
# One-dimensional SGD on linear regression: A = 1 - eta a^2, a ~ N(0, sigma^2)
# ----------------------------------------------------------------------------------------------

def _sgd1d_c(eta, sigma) -> float:
    eta = check_positive("eta", eta)
    sigma = check_positive("sigma", sigma)
    return eta * sigma * sigma


def _log_abs_one_minus_cz2(z: float, c: float) -> float:
    return math.log(abs(1.0 - c * z * z)) if c * z * z != 1.0 else -math.inf


def sgd1d_log_moment(s: float, eta: float, sigma: float = 1.0) -> float:
    r"""Moment function of one-dimensional SGD, ``h(s) = log E|1 - eta a^2|^s`` with ``a ~ N(0, sigma^2)``.

    Parameters
    ----------
    s : float
        Order, ``s >= 0``.
    eta : float
        Step size, ``eta > 0``.
    sigma : float
        Standard deviation of the input ``a``, ``sigma > 0``.

    Returns
    -------
    float

    Notes
    -----
    With ``c = eta sigma^2`` and ``z ~ N(0, 1)``,
    :math:`h(s) = \log 2\int_0^\infty |1 - c z^2|^s \varphi(z)\,dz`. The integrand has a kink at
    :math:`z_0 = c^{-1/2}`; the integral is split there and at the peak of
    :math:`|c z^2|^s\varphi(z)` (near :math:`z^2 = 2s`), and evaluated with a shift of the
    log-integrand so that large ``s`` does not overflow. Closed forms used in tests:
    ``h(2) = log(1 - 2c + 3c^2)``.

    Examples
    --------
    >>> round(sgd1d_log_moment(2.0, 2 / 3), 12)  # alpha = 2 exactly at eta = 2/3
    0.0
    """
    s = _check_s(s)
    c = _sgd1d_c(eta, sigma)
    if s == 0.0:
        return 0.0
    z0 = 1.0 / math.sqrt(c)
    zpeak = math.sqrt(max(2.0 * s, 1e-12))
    # maximum of the log-integrand over a coarse grid, for the shift
    grid = np.concatenate([np.linspace(0.0, max(4.0 * zpeak, z0 * 2, 10.0), 4001)])
    with np.errstate(divide="ignore"):
        lg = s * np.log(np.abs(1.0 - c * grid * grid)) - 0.5 * grid * grid
    shift = float(np.max(lg[np.isfinite(lg)]))

    def integrand(z):
        v = s * _log_abs_one_minus_cz2(z, c) - 0.5 * z * z - shift
        return math.exp(v) if v > -745.0 else 0.0

    points = sorted({z0, zpeak})
    edges = [0.0] + points + [max(points[-1] * 2.0, zpeak + 40.0, z0 + 40.0), math.inf]
    total = 0.0
    for a0, a1 in zip(edges[:-1], edges[1:]):
        if a1 > a0:
            val, _ = integrate.quad(integrand, a0, a1, limit=200, epsabs=0.0, epsrel=1e-12)
            total += val
    return math.log(2.0 * total) + shift - _LOG_SQRT_2PI


def sgd1d_lyapunov(eta: float, sigma: float = 1.0) -> float:
    r"""Lyapunov exponent of one-dimensional SGD, ``rho = E log|1 - eta a^2|``, ``a ~ N(0, sigma^2)``.

    ``rho < 0`` is exactly the condition for a stationary law.

    Notes
    -----
    :math:`\rho = 2\int_0^\infty \log|1 - c z^2|\,\varphi(z)\,dz`, ``c = eta sigma^2``. Writing
    :math:`\log|1 - cz^2| = \log c + \log(z_0 + z) + \log|z_0 - z|` with :math:`z_0 = c^{-1/2}` isolates the
    integrable log singularity, which QUADPACK's algebraic-logarithmic weights (``weight="alg-loga"`` /
    ``"alg-logb"``) integrate exactly against the smooth normal density.

    Examples
    --------
    >>> sgd1d_lyapunov(0.5) < 0 < sgd1d_lyapunov(3.0)
    True
    """
    c = _sgd1d_c(eta, sigma)
    z0 = 1.0 / math.sqrt(c)
    phi = lambda z: math.exp(-0.5 * z * z - _LOG_SQRT_2PI)  # noqa: E731
    opts = dict(limit=400, epsabs=1e-14, epsrel=1e-11)
    if z0 > 12.0:  # the singularity sits where phi < 1e-31: integrate the smooth log1p form up to z = 12
        val, _ = integrate.quad(lambda z: math.log1p(-c * z * z) * phi(z), 0.0, 12.0, **opts)
        return 2.0 * val
    left, _ = integrate.quad(phi, 0.0, z0, weight="alg-logb", wvar=(0.0, 0.0), **opts)  # log(z0 - z)
    right, _ = integrate.quad(phi, z0, z0 + 40.0, weight="alg-loga", wvar=(0.0, 0.0), **opts)  # log(z - z0)
    smooth, _ = integrate.quad(lambda z: math.log(z0 + z) * phi(z), 0.0, math.inf, **opts)
    return 2.0 * (left + right + smooth) + math.log(c)


def sgd1d_tail_index(eta: float, sigma: float = 1.0) -> float:
    """Tail index of the stationary law of one-dimensional SGD: the positive root of ``E|1 - eta a^2|^alpha = 1``.

    Returns ``nan`` when ``eta`` is outside the stable range (``rho >= 0``: no stationary law).

    Examples
    --------
    >>> round(sgd1d_tail_index(2 / 3), 9)
    2.0
    >>> import math; math.isnan(sgd1d_tail_index(5.0))
    True
    """
    if sgd1d_lyapunov(eta, sigma) >= 0.0:
        return math.nan
    return _root_of_log_moment(lambda s: sgd1d_log_moment(s, eta, sigma))


@dataclass(frozen=True)
class StepSizes1D:
    """Edges of the step-size ranges of one-dimensional SGD (``sigma`` fixed).

    Attributes
    ----------
    eta_crit : float
        ``alpha = 2`` here: ``2 / (3 sigma^2)``; larger steps give infinite variance.
    eta_max : float
        ``rho = 0`` here; larger steps have no stationary law.
    """

    eta_crit: float
    eta_max: float


def sgd1d_step_sizes(sigma: float = 1.0) -> StepSizes1D:
    """The critical step sizes of one-dimensional SGD.

    Notes
    -----
    ``E(1 - c W)^2 = 1 - 2c + 3c^2`` for ``W ~ chi^2_1``, so ``h(2) = 0`` at ``c = 2/3``. ``eta_max``
    solves ``rho(eta) = 0`` (Brent's method; ``rho`` is increasing in ``eta`` beyond its minimum).

    Examples
    --------
    >>> st = sgd1d_step_sizes()
    >>> round(st.eta_crit, 6), round(st.eta_max, 4)
    (0.666667, 2.4212)
    """
    sigma = check_positive("sigma", sigma)
    eta_crit = 2.0 / (3.0 * sigma * sigma)
    # rho(eta) < 0 for small eta, > 0 for large eta; bracket on c = eta sigma^2 in (eta_crit, 100)
    eta_max = optimize.brentq(lambda e: sgd1d_lyapunov(e, sigma), eta_crit, 100.0 / sigma**2,
                              xtol=1e-13, rtol=1e-13)
    return StepSizes1D(eta_crit=eta_crit, eta_max=eta_max)


# ----------------------------------------------------------------------------------------------
# Simulation, vectorised over independent chains
# ----------------------------------------------------------------------------------------------

def simulate_kesten(sample_ab: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
                    n_chains: int, n_steps: int, *, x0: float = 0.0, seed=None) -> np.ndarray:
    """Run ``n_chains`` independent scalar recursions ``X_k = A_k X_{k-1} + B_k`` for ``n_steps`` steps.

    Parameters
    ----------
    sample_ab : callable
        ``sample_ab(rng, n) -> (A, B)``, two arrays of ``n`` draws of the pair ``(A_k, B_k)``
        (they may be dependent, as in SGD); called once per step.
    n_chains, n_steps : int
        Number of chains (>= 1) and of steps (>= 1).
    x0 : float
        Common starting point.
    seed : int, Generator or None

    Returns
    -------
    numpy.ndarray
        The ``n_chains`` values ``X_n``. Chains that overflow become ``inf``/``nan``; use
        :func:`numpy.isfinite` to find them (a stationary recursion never overflows in practice).

    Examples
    --------
    >>> x = simulate_kesten(lambda r, n: (r.uniform(0, 1, n), np.ones(n)), 4, 200, seed=0)
    >>> x.shape
    (4,)
    """
    n_chains = check_int("n_chains", n_chains, low=1)
    n_steps = check_int("n_steps", n_steps, low=1)
    x0 = check_real("x0", x0)
    rng = check_rng(seed)
    x = np.full(n_chains, x0)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_steps):
            a, b = sample_ab(rng, n_chains)
            if np.shape(a) != (n_chains,) or np.shape(b) != (n_chains,):
                raise ValueError(f"sample_ab must return two arrays of shape ({n_chains},), "
                                 f"got {np.shape(a)} and {np.shape(b)}")
            x = a * x + b
    return x


def simulate_sgd1d(eta: float, n_chains: int, n_steps: int, *, sigma: float = 1.0, noise: float = 1.0,
                   seed=None) -> np.ndarray:
    """Online SGD on one-dimensional linear regression, started at the solution; returns ``x_n - x*``.

    Each step draws a fresh pair ``a ~ N(0, sigma^2)``, ``y = a x* + noise * eps``; the error
    ``e = x - x*`` then follows ``e_k = (1 - eta a_k^2) e_{k-1} + eta a_k noise eps_k``, a scalar
    Kesten recursion with light-tailed inputs.

    Examples
    --------
    >>> e = simulate_sgd1d(0.5, n_chains=1000, n_steps=300, seed=1)
    >>> e.shape, bool(np.all(np.isfinite(e)))
    ((1000,), True)
    """
    eta = check_positive("eta", eta)
    sigma = check_positive("sigma", sigma)
    noise = check_real("noise", noise, low=0.0)

    def sample_ab(rng, n):
        a = rng.normal(0.0, sigma, n)
        return 1.0 - eta * a * a, eta * noise * a * rng.standard_normal(n)

    return simulate_kesten(sample_ab, n_chains, n_steps, seed=seed)
