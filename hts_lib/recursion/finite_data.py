r"""Offline (multi-pass) SGD on a finite data set, seen as a random linear recursion.

With ``n`` fixed data points :math:`(x_i, y_i)` and batches drawn independently at every step,
offline SGD centred at the least-squares solution is :math:`z_k = M_k z_{k-1} + q_k` with
:math:`M_k = I - (\eta/b)\sum_{i\in B_k} x_ix_i^\top` and i.i.d. pairs :math:`(M_k, q_k)`: it is again a
random linear recursion, only the law of the multiplier is now the *empirical* one. Its moment
function :math:`h_n(s)` and tail index :math:`\alpha_n` (the positive root of :math:`h_n`) are those of
that empirical law; they approach the online :math:`h` and :math:`\alpha` as ``n`` grows.

* :func:`dataset_sampler`: the inputs of offline SGD as a sampler for the Monte Carlo engine of
  :mod:`hts_lib.recursion.montecarlo` (rows of the data set drawn uniformly with replacement), so
  ``tail_index_mc(eta, 1, d, dataset_sampler(X))`` estimates :math:`\alpha_n` in any dimension;
* :func:`offline_lyapunov_1d` and :func:`offline_tail_index_1d`: the exact :math:`\rho_n` and
  :math:`\alpha_n` in one dimension with ``b = 1``, where :math:`h_n(s) = \log n^{-1}\sum_i|1-\eta x_i^2|^s`.

Used in chapter: "Beyond isotropic Gaussian data".
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import optimize, special

from hts_lib.validation import check_array, check_positive

__all__ = ["dataset_sampler", "offline_lyapunov_1d", "offline_tail_index_1d"]


def dataset_sampler(X) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    r"""Sampler of rows of a fixed data set ``X`` (uniformly, with replacement).

    Parameters
    ----------
    X : array_like, shape (n, d)
        The data set (inputs only: the multiplier of SGD does not depend on the responses).

    Returns
    -------
    callable
        ``sample_a(rng, m, dim) -> (m, dim)`` array of rows of ``X`` (``dim`` must equal ``d``),
        the interface of :mod:`hts_lib.recursion.montecarlo` and :mod:`hts_lib.recursion.bounds`.

    Raises
    ------
    ValueError
        If ``X`` is not a finite 2-D array with at least one row, or ``dim`` disagrees with it.

    Notes
    -----
    With batch size 1 this is exactly the law of the multiplier of offline SGD
    :math:`M = I - \eta x_ix_i^\top`, ``i`` uniform; for ``b > 1`` it is offline SGD with batches drawn
    with replacement (without replacement differs by ``O(b/n)``).

    Used in chapter: "Beyond isotropic Gaussian data".

    Examples
    --------
    >>> sample = dataset_sampler([[1.0, 0.0], [0.0, 2.0]])
    >>> sample(np.random.default_rng(0), 4, 2).tolist()
    [[0.0, 2.0], [0.0, 2.0], [0.0, 2.0], [1.0, 0.0]]
    """
    data = check_array("X", X, ndim=2)
    n, d = data.shape
    data = np.ascontiguousarray(data)

    def sample_a(rng: np.random.Generator, m: int, dim: int) -> np.ndarray:
        if dim != d:
            raise ValueError(f"dim must equal the number of columns of X ({d}), got {dim}")
        return data[rng.integers(0, n, size=m)]

    sample_a.n = n
    return sample_a


def _multipliers_1d(x, eta) -> np.ndarray:
    arr = check_array("x", x, ndim=1)
    eta = check_positive("eta", eta)
    return np.abs(1.0 - eta * arr * arr)


def offline_lyapunov_1d(x, eta: float) -> float:
    r"""Lyapunov exponent :math:`\rho_n = n^{-1}\sum_i\log|1-\eta x_i^2|` of 1-D offline SGD (``b = 1``).

    Parameters
    ----------
    x : array_like, shape (n,)
        The inputs of the data set.
    eta : float
        Step size, ``eta > 0``.

    Returns
    -------
    float
        :math:`\rho_n`; ``-inf`` if some :math:`\eta x_i^2 = 1` exactly (that step erases the error).
        Offline SGD has a stationary law when :math:`\rho_n < 0`.

    Raises
    ------
    ValueError
        If ``x`` is empty or not finite, or ``eta <= 0``.

    Examples
    --------
    >>> round(offline_lyapunov_1d([0.5, 2.0], 0.5), 6)    # (log 0.875 + log 1) / 2
    -0.066766
    """
    a = _multipliers_1d(x, eta)
    with np.errstate(divide="ignore"):
        return float(np.mean(np.log(a)))


def offline_tail_index_1d(x, eta: float) -> float:
    r"""Exact tail index :math:`\alpha_n` of 1-D offline SGD with batch size 1 on the inputs ``x``.

    Parameters
    ----------
    x : array_like, shape (n,)
        The inputs of the data set.
    eta : float
        Step size, ``eta > 0``.

    Returns
    -------
    float
        The positive root of :math:`h_n(s) = \log n^{-1}\sum_i|1-\eta x_i^2|^s`. Special values:
        ``nan`` when :math:`\rho_n \ge 0` (no stationary law); ``inf`` when every
        :math:`|1-\eta x_i^2| \le 1` (no step can expand the error: no power-law tail, all moments
        of the stationary law are finite).

    Raises
    ------
    ValueError
        If ``x`` is empty or not finite, or ``eta <= 0``.

    Notes
    -----
    Offline SGD with ``b = 1`` picks one of the ``n`` points uniformly at every step, so its
    multiplier :math:`A = 1 - \eta x_I^2` has the empirical law and the Kesten-Goldie theorem applies
    to it directly (when :math:`\log|A|` is non-arithmetic, which holds for data with a density):
    the stationary law has a power-law tail with index :math:`\alpha_n`. :math:`h_n` is convex
    with :math:`h_n(0) = 0`, :math:`h_n'(0) = \rho_n`; the root is bracketed by doubling and
    found by Brent's method on a log-sum-exp evaluation.

    Used in chapter: "Beyond isotropic Gaussian data".

    Examples
    --------
    >>> x = np.sqrt([0.75, 0.75, 3.0])               # |A| = 1/4, 1/4, 2
    >>> round(offline_tail_index_1d(x, 1.0), 10)      # root of (2 * 4**-s + 2**s) / 3 = 1
    1.4499843135
    >>> offline_tail_index_1d([0.5, 1.0], 1.0), offline_tail_index_1d([0.5, 3.0], 1.0)
    (inf, nan)
    """
    a = _multipliers_1d(x, eta)
    with np.errstate(divide="ignore"):
        logs = np.log(a)
    if np.mean(logs) >= 0.0:
        return math.nan
    if np.all(logs <= 0.0):
        return math.inf
    log_n = math.log(a.size)

    def h(s: float) -> float:
        return float(special.logsumexp(s * logs) - log_n)

    lo, hi = 0.0, 1.0
    while h(hi) < 0.0:
        lo, hi = hi, 2.0 * hi
    if lo == 0.0:
        lo = 1.0
        while h(lo) >= 0.0 and lo > 1e-12:
            lo /= 2.0
    return float(optimize.brentq(h, lo, hi, xtol=1e-14, rtol=1e-12))
