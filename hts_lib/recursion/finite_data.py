r"""Offline (multi-pass) SGD on a finite data set, seen as a random linear recursion.

With ``n`` fixed data points :math:`(x_i, y_i)` and batches drawn independently at every step,
offline SGD centred at the least-squares solution is :math:`z_k = M_k z_{k-1} + q_k` with
:math:`M_k = I - (\eta/b)\sum_{i\in B_k} x_ix_i^\top` and i.i.d. pairs :math:`(M_k, q_k)`: it is again a
random linear recursion, only the law of the multiplier is now the *empirical* one. Its moment
function :math:`h_n(s)` and tail index :math:`\alpha_n` (the positive root of :math:`h_n`) are those of
that empirical law; they approach the online :math:`h` and :math:`\alpha` as ``n`` grows.

* In any dimension, :func:`hts_lib.recursion.dataset_sampler` gives the inputs of offline SGD as an input
  sampler for the Monte Carlo engine, so ``tail_index_mc(eta, 1, d, dataset_sampler(X))`` estimates
  :math:`\alpha_n`;
* in one dimension with ``b = 1``, :math:`h_n(s) = \log n^{-1}\sum_i|1-\eta x_i^2|^s` exactly:
  :func:`offline1d_log_moment`, :func:`offline1d_lyapunov_exponent` and :func:`offline1d_tail_index`.
"""

from __future__ import annotations

import numpy as np

from hts_lib._deprecated import forward
from hts_lib.recursion.roots import empirical_log_moment, empirical_tail_index
from hts_lib.validation import check_array, check_positive, check_real

__all__ = ["offline1d_log_moment", "offline1d_lyapunov_exponent", "offline1d_tail_index"]


def _log_multipliers_1d(x, eta) -> np.ndarray:
    """``log|1 - eta x_i^2|`` (``-inf`` where a step lands exactly on the solution)."""
    arr = check_array("x", x, ndim=1)
    eta = check_positive("eta", eta)
    with np.errstate(divide="ignore"):
        return np.log(np.abs(1.0 - eta * arr * arr))


def offline1d_log_moment(s: float, x, eta: float) -> float:
    r"""Return the moment function :math:`h_n(s) = \log n^{-1}\sum_i|1-\eta x_i^2|^s` of 1-D offline SGD.

    Parameters
    ----------
    s : float
        Order, ``s >= 0``.
    x : array_like, shape (n,)
        The inputs of the data set.
    eta : float
        Step size, ``eta > 0``.

    Returns
    -------
    float
        :math:`h_n(s)`, evaluated with a log-sum-exp.

    Raises
    ------
    ValueError
        If ``s < 0``, ``x`` is empty or not finite, or ``eta <= 0``.

    Examples
    --------
    >>> round(offline1d_log_moment(1.0, np.sqrt([0.75, 0.75, 3.0]), 1.0), 12)   # log((1/4 + 1/4 + 2) / 3)
    -0.182321556794
    """
    s = check_real("s", s, low=0.0)
    return empirical_log_moment(_log_multipliers_1d(x, eta))(s)


def offline1d_lyapunov_exponent(x, eta: float) -> float:
    r"""Return the Lyapunov exponent :math:`\rho_n = n^{-1}\sum_i\log|1-\eta x_i^2|` of 1-D offline SGD.

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
    >>> round(offline1d_lyapunov_exponent([0.5, 2.0], 0.5), 6)    # (log 0.875 + log 1) / 2
    -0.066766
    """
    return float(np.mean(_log_multipliers_1d(x, eta)))


def offline1d_tail_index(x, eta: float) -> float:
    r"""Return the exact tail index :math:`\alpha_n` of 1-D offline SGD with batch size 1 on the inputs ``x``.

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
    with :math:`h_n(0) = 0`, :math:`h_n'(0) = \rho_n`; the root is
    :func:`hts_lib.recursion.empirical_tail_index` of the :math:`\log|1-\eta x_i^2|`.

    Examples
    --------
    >>> x = np.sqrt([0.75, 0.75, 3.0])               # |A| = 1/4, 1/4, 2
    >>> round(offline1d_tail_index(x, 1.0), 10)       # root of (2 * 4**-s + 2**s) / 3 = 1
    1.4499843135
    >>> offline1d_tail_index([0.5, 1.0], 1.0), offline1d_tail_index([0.5, 3.0], 1.0)
    (inf, nan)
    """
    return empirical_tail_index(_log_multipliers_1d(x, eta))


__getattr__ = forward(__name__)
