r"""The root finder for convex log-moment functions: the tail index of a random linear recursion.

For a random linear recursion :math:`x_k = M_kx_{k-1} + q_k` the moment function
:math:`h(s) = \lim_k k^{-1}\log E\|M_k\cdots M_1\|^s` (for a scalar recursion :math:`h(s) = \log E|A|^s`) is
convex with :math:`h(0) = 0` and :math:`h'(0) = \rho`, the top Lyapunov exponent. The tail index
:math:`\alpha` is its positive root. Every tail index of :mod:`hts_lib.recursion` whose ``h`` is a function
of ``s`` (the scalar Kesten recursion, one-dimensional SGD, offline SGD, product-norm bounds) comes from
:func:`log_moment_root`, with one convention:

* ``nan`` when :math:`\rho \ge 0`: there is no stationary law, so no tail index;
* ``inf`` when :math:`h(s) \le 0` up to the largest order searched: no power-law tail (or :math:`\alpha`
  beyond that order);
* otherwise the root, bracketed by doubling (or halving) from ``s = 1`` and refined by Brent's method.

:func:`empirical_tail_index` is the case of an empirical law given by a sample of :math:`\log|A|` (offline
SGD, norms of sampled products), where ``h`` is a log-sum-exp and the ``inf`` case is decided exactly.

Two engines keep their own root search because they know more than ``h``'s values:
:func:`hts_lib.recursion.tail_index` (Newton's method on an exactly convex quadrature rule, with the exact
even moments to bracket) and the Monte Carlo :func:`hts_lib.recursion.matrix_tail_index_mc` (a spline through
noisy values of ``h`` on a grid of orders). Both follow the same ``nan``/``inf`` convention.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import optimize, special

from hts_lib.validation import check_array, check_callable, check_real

__all__ = ["log_moment_root", "empirical_log_moment", "empirical_tail_index"]

#: Relative and absolute tolerances of Brent's method on the bracket.
_XTOL, _RTOL = 1e-14, 1e-12
#: Smallest order tried when ``h(1) > 0`` (below it ``h(s) > 0`` is read as ``rho >= 0``).
_S_MIN = 1e-12


def log_moment_root(
    log_moment: Callable[[float], float], *, rho: float | None = None, s_max: float = math.inf
) -> float:
    r"""Return the positive root :math:`\alpha` of a convex log-moment function ``h`` with ``h(0) = 0``.

    Parameters
    ----------
    log_moment : callable
        ``s -> h(s)``, convex on ``s >= 0`` with ``h(0) = 0`` (e.g. ``s -> log E|A|^s``).
    rho : float, optional
        :math:`\rho = h'(0)` when it is known (``-inf`` allowed); ``rho >= 0`` returns ``nan`` at once.
        Without it, ``h(s) >= 0`` down to ``s = 1e-12`` is read as :math:`\rho \ge 0`.
    s_max : float
        Largest order searched, ``> 0``; ``inf`` (the default) searches until ``h`` turns positive, which
        only ends when it does.

    Returns
    -------
    float
        :math:`\alpha`; ``nan`` when :math:`\rho \ge 0` (no stationary law); ``inf`` when ``h < 0`` at every
        order ``2^j <= s_max`` tried (no power-law tail within the search).

    Raises
    ------
    TypeError
        If ``log_moment`` is not callable.
    ValueError
        If ``rho`` is not finite or ``s_max`` is not positive.

    Notes
    -----
    Convexity with ``h(0) = 0`` makes the positive root unique when :math:`\rho < 0`, and ``h < 0`` exactly on
    :math:`(0, \alpha)`. The bracket is found by doubling ``s = 1, 2, 4, ...`` while ``h(s) < 0`` (or, when
    ``h(1) >= 0``, by halving until ``h < 0``), and Brent's method refines it to ``xtol = 1e-14``,
    ``rtol = 1e-12``.

    Examples
    --------
    >>> round(log_moment_root(lambda s: math.log((2 * 0.5 ** s + 2 ** s) / 3)), 12)   # |A| = 1/2, 1/2, 2
    1.0
    >>> log_moment_root(lambda s: -s, s_max=100), log_moment_root(lambda s: s * s - s, rho=-1.0)
    (inf, 1.0)
    >>> math.isnan(log_moment_root(lambda s: s))
    True
    """
    check_callable("log_moment", log_moment)
    if rho is not None:
        if not (isinstance(rho, float) and rho == -math.inf):  # -inf: A = 0 with positive probability
            rho = check_real("rho", rho)
        if rho >= 0.0:
            return math.nan
    if not (isinstance(s_max, float) and s_max == math.inf):
        s_max = check_real("s_max", s_max, low=0.0, low_open=True)
    lo, hi = 0.0, 1.0
    while log_moment(hi) < 0.0:
        lo, hi = hi, 2.0 * hi
        if hi > s_max:
            return math.inf
    if lo == 0.0:  # the root is below 1: h < 0 just right of 0 when rho < 0
        lo = 1.0
        while log_moment(lo) >= 0.0:
            if lo <= _S_MIN:
                return math.nan
            lo /= 2.0
    return float(optimize.brentq(log_moment, lo, hi, xtol=_XTOL, rtol=_RTOL))


def _check_logs(log_values) -> np.ndarray:
    arr = check_array("log_values", log_values, ndim=1, finite=False)
    if np.any(np.isnan(arr)) or np.any(arr == math.inf):
        raise ValueError("log_values must not hold NaN or +inf (-inf, a zero multiplier, is allowed)")
    return arr


def empirical_log_moment(log_values) -> Callable[[float], float]:
    r"""Return the log-moment function :math:`h_n(s) = \log n^{-1}\sum_i e^{s\,l_i}` of ``l_i = log|A_i|``.

    Parameters
    ----------
    log_values : array_like, shape (n,)
        Logarithms of the absolute multipliers (``-inf`` for a zero multiplier).

    Returns
    -------
    callable
        ``s -> h_n(s)``, evaluated with a log-sum-exp (no overflow for huge multipliers).

    Raises
    ------
    ValueError
        If ``log_values`` is empty, not 1-D, or holds NaN or ``+inf``.

    Examples
    --------
    >>> h = empirical_log_moment(np.log([0.5, 0.5, 2.0]))
    >>> abs(h(1.0)) < 1e-15, round(h(2.0), 12)      # log((0.5 + 0.5 + 2) / 3), log((0.25 + 0.25 + 4) / 3)
    (True, 0.405465108108)
    """
    logs = _check_logs(log_values)
    log_n = math.log(logs.size)

    def h(s: float) -> float:
        return float(special.logsumexp(s * logs) - log_n)

    return h


def empirical_tail_index(log_values) -> float:
    r"""Return the tail index of the empirical law of a sample ``l_i = log|A_i|``: the root of :math:`h_n`.

    Parameters
    ----------
    log_values : array_like, shape (n,)
        Logarithms of the absolute multipliers (``-inf`` for a zero multiplier).

    Returns
    -------
    float
        The positive root of :math:`h_n(s) = \log n^{-1}\sum_i e^{s\,l_i}` (:func:`empirical_log_moment`);
        ``nan`` when :math:`\rho_n = n^{-1}\sum_i l_i \ge 0`; ``inf`` when every ``l_i <= 0`` (no multiplier
        expands, so :math:`h_n < 0` for every ``s > 0``).

    Raises
    ------
    ValueError
        If ``log_values`` is empty, not 1-D, or holds NaN or ``+inf``.

    Notes
    -----
    :func:`log_moment_root` on :func:`empirical_log_moment`, with :math:`\rho_n` passed in; the root exists
    and is unique when :math:`\rho_n < 0` and some ``l_i > 0``.

    Examples
    --------
    >>> round(empirical_tail_index(np.log([0.25, 2.0])), 12) == round(math.log2((1 + 5 ** 0.5) / 2), 12)
    True
    >>> empirical_tail_index(np.log([0.5, 0.9])), math.isnan(empirical_tail_index(np.log([0.5, 3.0])))
    (inf, True)
    """
    logs = _check_logs(log_values)
    rho = float(np.mean(logs))
    if rho >= 0.0:
        return math.nan
    if np.all(logs <= 0.0):
        return math.inf
    return log_moment_root(empirical_log_moment(logs), rho=rho)
