r"""The scalar random linear recursion :math:`X_k = A_kX_{k-1} + B_k` (Kesten's recursion).

Kesten (1973) and Goldie (1991): if :math:`E\log|A| < 0`, the recursion has a unique stationary law, and if
moreover :math:`E|A|^\alpha = 1` for some :math:`\alpha > 0` (with :math:`E|A|^\alpha\log^+|A|` and
:math:`E|B|^\alpha` finite, :math:`\log|A|` non-arithmetic and ``B`` not degenerate), that law has a
power-law tail, :math:`P(|X| > t) \sim c\,t^{-\alpha}`. This module gives, for a law of ``A`` (a frozen
``scipy.stats`` distribution, or a callable ``s -> log E|A|^s``):

* the theory: :func:`kesten_log_moment` (:math:`h(s) = \log E|A|^s`), :func:`kesten_lyapunov_exponent`
  (:math:`\rho = E\log|A|`) and :func:`kesten_tail_index` (the root of ``h``);
* simulation of many chains from a pair sampler ``sample_ab(rng, n) -> (A, B)``
  (:mod:`hts_lib.recursion.samplers`): :func:`simulate_kesten` (the values after ``n`` steps),
  :func:`kesten_moment_paths` (Monte Carlo :math:`E|X_k|^p` along ``k``, with standard errors) and
  :func:`kesten_snapshots` (values and Polyak averages at chosen steps). The three draw
  ``sample_ab(rng, n_chains)`` once per step from one generator, so with the same seed they follow the
  same chains.

One-dimensional SGD, :math:`A = 1 - \eta a^2`, is the special case of :mod:`hts_lib.recursion.sgd1d`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, stats

from hts_lib._deprecated import forward
from hts_lib.recursion.roots import log_moment_root
from hts_lib.recursion.samplers import PairSampler, check_pair_sampler, draw_pairs
from hts_lib.validation import check_array, check_bool, check_int, check_real, check_rng

__all__ = [
    "kesten_log_moment",
    "kesten_lyapunov_exponent",
    "kesten_tail_index",
    "simulate_kesten",
    "MomentPaths",
    "kesten_moment_paths",
    "KestenSnapshots",
    "kesten_snapshots",
]

#: Largest order searched for the root of ``h``; a larger tail index is reported as ``inf``.
ALPHA_MAX = 200.0


def _check_s(s) -> float:
    return check_real("s", s, low=0.0)


# ----------------------------------------------------------------------------------------------
# Theory for a user-given law of A
# ----------------------------------------------------------------------------------------------


def _quantile_grid(dist) -> np.ndarray:
    """Non-zero points spanning the law (quantiles), used to find the peak of ``|a|^s f(a)``."""
    grid = np.asarray(dist.ppf(np.linspace(1e-9, 1 - 1e-9, 201)), dtype=float)
    return grid[np.isfinite(grid) & (grid != 0)]


def _log_expect_abs_power(dist, s: float, grid: np.ndarray | None = None) -> float:
    """Log E|A|^s for a frozen scipy.stats distribution (continuous or discrete)."""
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
        raise TypeError(
            "law must be a frozen scipy.stats distribution (call it with its parameters, "
            "e.g. stats.norm(0, 1) or rv_discrete(values=...)())"
        )
    if callable(law) and not hasattr(law, "dist"):
        return lambda s: float(law(s))
    if hasattr(law, "dist") and hasattr(law, "support"):
        grid = _quantile_grid(law) if hasattr(law.dist, "pdf") else None  # computed once per law
        return lambda s: _log_expect_abs_power(law, s, grid)
    raise TypeError("law must be a frozen scipy.stats distribution or a callable s -> log E|A|^s")


def kesten_log_moment(s: float, law) -> float:
    """Return the moment function ``h(s) = log E|A|^s`` of a scalar Kesten recursion.

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

    Used in: chapters/ch04_random_linear_recursions.ipynb.

    Examples
    --------
    >>> from scipy import stats
    >>> round(kesten_log_moment(2.0, stats.norm(0, 0.5)), 6)  # E A^2 = 1/4
    -1.386294
    """
    s = _check_s(s)
    return _as_log_moment(law)(s)


def kesten_lyapunov_exponent(law) -> float:
    """Return the Lyapunov exponent ``rho = E log|A|`` of a scalar Kesten recursion.

    ``law`` is a frozen scipy.stats distribution of ``A``. ``rho < 0`` is the condition for a stationary law.

    Used in: chapters/ch04_random_linear_recursions.ipynb.

    Examples
    --------
    >>> from scipy import stats
    >>> round(kesten_lyapunov_exponent(stats.uniform(0, 2)), 6)  # E log U(0,2) = log 2 - 1
    -0.306853
    """
    if not (hasattr(law, "dist") and hasattr(law, "support")):
        raise TypeError("law must be a frozen scipy.stats distribution")
    if hasattr(law.dist, "pdf"):
        lo, hi = law.support()
        total = 0.0
        for a0, a1 in [(lo, min(hi, 0.0)), (max(lo, 0.0), hi)]:
            if a1 > a0:
                val, _ = integrate.quad(
                    lambda a: math.log(abs(a)) * float(law.pdf(a)) if a != 0 else 0.0,
                    a0,
                    a1,
                    limit=200,
                    epsabs=1e-13,
                    epsrel=1e-11,
                )
                total += val
        return total
    return float(law.expect(lambda a: np.log(np.abs(a))))


def kesten_tail_index(law, *, check_stationary: bool = True) -> float:
    """Return the Kesten-Goldie tail index of a scalar recursion: the positive root of ``E|A|^alpha = 1``.

    Parameters
    ----------
    law : frozen scipy.stats distribution or callable
        The law of ``A``, or a callable ``s -> log E|A|^s``.
    check_stationary : bool
        When ``law`` is a distribution, compute ``rho = E log|A|`` first and return ``nan`` if ``rho >= 0``.

    Returns
    -------
    float
        ``alpha``; ``nan`` when there is no stationary law; ``inf`` when ``E|A|^s < 1`` for all
        ``s <= ALPHA_MAX`` (for example ``|A| <= 1`` almost surely: no power-law tail).

    Notes
    -----
    ``h(s) = log E|A|^s`` is convex with ``h(0) = 0`` and ``h'(0) = E log|A|``, so when
    ``E log|A| < 0`` and ``h`` eventually becomes positive the positive root is unique. The root is found by
    :func:`hts_lib.recursion.log_moment_root` (orders up to ``ALPHA_MAX = 200``), whose ``nan``/``inf``
    convention this follows; for a callable law ``rho >= 0`` is detected there (``h > 0`` at every small
    order).

    Used in: chapters/ch04_random_linear_recursions.ipynb.

    Examples
    --------
    >>> from scipy import stats
    >>> round(kesten_tail_index(stats.uniform(0, 2)), 6)  # E U^a = 2^a / (a + 1) = 1 at a = 1
    1.0
    """
    log_moment = _as_log_moment(law)
    check_stationary = check_bool("check_stationary", check_stationary)
    rho = kesten_lyapunov_exponent(law) if check_stationary and hasattr(law, "dist") else None
    return log_moment_root(log_moment, rho=rho, s_max=ALPHA_MAX)


# ----------------------------------------------------------------------------------------------
# Simulation, vectorised over independent chains
# ----------------------------------------------------------------------------------------------


def _check_x0(x0, n_chains: int) -> np.ndarray:
    if np.ndim(x0) == 0:
        return np.full(n_chains, check_real("x0", x0))
    arr = check_array("x0", x0, ndim=1)
    if arr.shape != (n_chains,):
        raise ValueError(f"x0 must be a number or an array of shape ({n_chains},), got shape {arr.shape}")
    return arr.copy()


def simulate_kesten(sample_ab: PairSampler, n_chains: int, n_steps: int, *, x0=0.0, seed=None) -> np.ndarray:
    """Run ``n_chains`` independent scalar recursions ``X_k = A_k X_{k-1} + B_k`` for ``n_steps`` steps.

    Parameters
    ----------
    sample_ab : callable
        Pair sampler ``sample_ab(rng, n) -> (A, B)`` (:mod:`hts_lib.recursion.samplers`), two arrays of ``n``
        draws of the pair ``(A_k, B_k)`` (they may be dependent, as in SGD); called once per step.
    n_chains, n_steps : int
        Number of chains (>= 1) and of steps (>= 1).
    x0 : float or array of shape (n_chains,)
        Starting point(s).
    seed : int, Generator or None

    Returns
    -------
    numpy.ndarray
        The ``n_chains`` values ``X_n``. Chains that overflow become ``inf``/``nan``; use
        :func:`numpy.isfinite` to find them (a stationary recursion never overflows in practice).

    Used in: chapters/ch04_random_linear_recursions.ipynb, chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> x = simulate_kesten(lambda r, n: (r.uniform(0, 1, n), np.ones(n)), 4, 200, seed=0)
    >>> x.shape
    (4,)
    """
    check_pair_sampler(sample_ab)
    n_chains = check_int("n_chains", n_chains, low=1)
    n_steps = check_int("n_steps", n_steps, low=1)
    x = _check_x0(x0, n_chains)
    rng = check_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(n_steps):
            a, b = draw_pairs(sample_ab, rng, n_chains)
            x = a * x + b
    return x


@dataclass(frozen=True, eq=False)
class MomentPaths:
    """Monte Carlo estimates of ``E|X_k|^p`` along ``k`` for several orders ``p``.

    Attributes
    ----------
    steps : ndarray of int, shape (n_steps + 1,)
        ``0, 1, ..., n_steps``.
    powers : ndarray, shape (n_powers,)
        The orders ``p``.
    mean : ndarray, shape (n_powers, n_steps + 1)
        Sample mean of ``|X_k|^p`` over the chains.
    se : ndarray, shape (n_powers, n_steps + 1)
        Its standard error, ``sd / sqrt(n_chains)``. For ``p`` at or above the tail index the
        sample mean is dominated by rare chains and this standard error is itself unreliable.
    n_chains : int
    """

    steps: np.ndarray
    powers: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    n_chains: int


def kesten_moment_paths(
    sample_ab: PairSampler, n_chains: int, n_steps: int, powers: Sequence[float], *, x0=0.0, seed=None
) -> MomentPaths:
    r"""Return Monte Carlo moments ``E|X_k|^p``, with standard errors, along a scalar Kesten recursion.

    Parameters
    ----------
    sample_ab : callable
        ``sample_ab(rng, n) -> (A, B)``: ``n`` draws of the pair ``(A_k, B_k)``, called once per step.
    n_chains : int
        Number of independent chains, ``>= 2``.
    n_steps : int
        Number of steps, ``>= 1``.
    powers : sequence of float
        Orders ``p > 0``.
    x0 : float or array of shape (n_chains,)
        Starting point(s).
    seed : int, Generator or None

    Returns
    -------
    MomentPaths

    Raises
    ------
    ValueError
        Sizes out of range, a non-positive order, or a sampler returning the wrong shapes.

    Notes
    -----
    At every step the sample mean :math:`\bar m_p(k) = N^{-1}\sum_i |X^{(i)}_k|^p` and its standard
    error :math:`s_p(k)/\sqrt N` are recorded. The estimate is unbiased, but when ``p`` reaches the
    tail index its sampling law is itself heavy tailed: a typical run of ``N`` chains then
    *under*-estimates a growing moment, and the standard error does not warn about it.

    Used in: chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> sab = lambda rng, n: (rng.uniform(0.0, 1.0, n), np.ones(n))
    >>> mp = kesten_moment_paths(sab, n_chains=1000, n_steps=50, powers=[1.0], seed=0)
    >>> mp.mean.shape, round(float(mp.mean[0, -1]), 1)      # E X_inf = 1 / (1 - E A) = 2
    ((1, 51), 2.0)
    """
    check_pair_sampler(sample_ab)
    n_chains = check_int("n_chains", n_chains, low=2)
    n_steps = check_int("n_steps", n_steps, low=1)
    pw = check_array("powers", powers, ndim=1)
    if np.any(pw <= 0):
        raise ValueError(f"powers must be > 0, got {pw.tolist()}")
    x = _check_x0(x0, n_chains)
    rng = check_rng(seed)
    mean = np.empty((pw.size, n_steps + 1))
    se = np.empty_like(mean)

    def record(k, xs):
        ax = np.abs(xs)
        for i, p in enumerate(pw):
            v = ax**p
            mean[i, k] = v.mean()
            se[i, k] = v.std(ddof=1) / math.sqrt(n_chains)

    with np.errstate(over="ignore", invalid="ignore"):
        record(0, x)
        for k in range(1, n_steps + 1):
            a, b = draw_pairs(sample_ab, rng, n_chains)
            x = a * x + b
            record(k, x)
    return MomentPaths(steps=np.arange(n_steps + 1), powers=pw, mean=mean, se=se, n_chains=n_chains)


@dataclass(frozen=True, eq=False)
class KestenSnapshots:
    r"""Values of many chains at chosen steps, and their Polyak averages.

    Attributes
    ----------
    steps : ndarray of int, shape (n_checkpoints,)
        The checkpoints ``k``.
    values : ndarray, shape (n_checkpoints, n_chains)
        ``X_k`` of every chain at each checkpoint.
    averages : ndarray, shape (n_checkpoints, n_chains)
        Polyak averages :math:`\\bar X_k = (k - k_0)^{-1}\\sum_{i=k_0+1}^{k} X_i` with
        ``k_0 = burn_in``.
    burn_in : int
    """

    steps: np.ndarray
    values: np.ndarray
    averages: np.ndarray
    burn_in: int


def kesten_snapshots(
    sample_ab: PairSampler, n_chains: int, checkpoints: Sequence[int], *, burn_in: int = 0, x0=0.0, seed=None
) -> KestenSnapshots:
    r"""Run ``n_chains`` scalar recursions and keep their values and Polyak averages at ``checkpoints``.

    Parameters
    ----------
    sample_ab : callable
        ``sample_ab(rng, n) -> (A, B)``, called once per step (as in
        :func:`simulate_kesten`: same seed, same chains).
    n_chains : int
        Number of chains, ``>= 1``.
    checkpoints : sequence of int
        Strictly increasing steps ``k > burn_in`` at which to record.
    burn_in : int
        Steps before the averages start, ``>= 0``.
    x0 : float or array of shape (n_chains,)
        Starting point(s).
    seed : int, Generator or None

    Returns
    -------
    KestenSnapshots

    Raises
    ------
    ValueError
        Checkpoints not strictly increasing or not above ``burn_in``, bad sizes, wrong sampler shapes.

    Notes
    -----
    Memory is ``O(n_checkpoints * n_chains)``; the running sum :math:`\sum_{i > k_0} X_i` is kept in
    one array, so long runs cost no more memory than short ones.

    Used in: chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> sab = lambda rng, n: (rng.uniform(0.0, 1.0, n), rng.standard_normal(n))
    >>> snap = kesten_snapshots(sab, n_chains=5, checkpoints=[10, 100], burn_in=5, seed=0)
    >>> snap.values.shape, snap.averages.shape
    ((2, 5), (2, 5))
    """
    check_pair_sampler(sample_ab)
    n_chains = check_int("n_chains", n_chains, low=1)
    burn_in = check_int("burn_in", burn_in, low=0)
    cps = np.asarray([check_int("checkpoints", c, low=1) for c in np.atleast_1d(checkpoints)], dtype=int)
    if cps.size == 0:
        raise ValueError("checkpoints must hold at least one step")
    if np.any(np.diff(cps) <= 0):
        raise ValueError(f"checkpoints must be strictly increasing, got {cps.tolist()}")
    if cps[0] <= burn_in:
        raise ValueError(f"checkpoints must all be > burn_in = {burn_in}, got {cps.tolist()}")
    x = _check_x0(x0, n_chains)
    rng = check_rng(seed)
    values = np.empty((cps.size, n_chains))
    averages = np.empty_like(values)
    total = np.zeros(n_chains)
    i = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, int(cps[-1]) + 1):
            a, b = draw_pairs(sample_ab, rng, n_chains)
            x = a * x + b
            if k > burn_in:
                total += x
            if k == cps[i]:
                values[i] = x
                averages[i] = total / (k - burn_in)
                i += 1
    return KestenSnapshots(steps=cps, values=values, averages=averages, burn_in=burn_in)


__getattr__ = forward(__name__)
