r"""Moments along the way to stationarity, snapshots of many chains, and Polyak averages.

For the scalar random linear recursion :math:`X_k = A_k X_{k-1} + B_k` this module gives

* the **exact** even moments :math:`\E X_k^p` of one-dimensional SGD along ``k``
  (:func:`sgd1d_moment_path`), from the closed-form mixed moments :math:`\E[A^j B^m]`
  (:func:`sgd1d_mixed_moment`): the oracle against which Monte Carlo moments are compared;
* Monte Carlo estimates of :math:`\E|X_k|^p` along ``k`` with standard errors
  (:func:`kesten_moment_paths`);
* the values of many chains at chosen steps together with their Polyak averages
  (:func:`kesten_snapshots`), for distances to the stationary law and for the limit law of the
  averaged iterates.

The simulators draw ``sample_ab(rng, n_chains)`` once per step from one generator, exactly like
:func:`hts_lib.recursion.kesten.simulate_kesten`, so with the same seed they follow the same chains.

Used in chapter: "Moments, convergence and averaged iterates".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hts_lib.validation import check_array, check_int, check_positive, check_real, check_rng

__all__ = [
    "sgd1d_sampler",
    "sgd1d_mixed_moment",
    "sgd1d_moment_path",
    "MomentPaths",
    "kesten_moment_paths",
    "KestenSnapshots",
    "kesten_snapshots",
]

#: Largest even order accepted by :func:`sgd1d_moment_path` (the alternating binomial sums lose
#: accuracy beyond it).
MAX_ORDER = 16


def _double_factorial_odd(m: int) -> int:
    """``(m - 1)!! = E z^m`` for ``z ~ N(0, 1)`` and even ``m`` (1 for ``m = 0``)."""
    return math.prod(range(m - 1, 0, -2)) if m > 0 else 1


def sgd1d_sampler(eta: float, sigma: float = 1.0, noise: float = 1.0
                  ) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    """The pair ``(A, B)`` of one-dimensional SGD as a sampler ``sample_ab(rng, n) -> (A, B)``.

    ``A = 1 - eta a^2`` and ``B = eta * noise * a * eps`` with ``a ~ N(0, sigma^2)`` and
    ``eps ~ N(0, 1)``, drawn in the same order as :func:`hts_lib.recursion.kesten.simulate_sgd1d`, so that the
    simulators of this module follow the same chains for the same seed.

    Parameters
    ----------
    eta : float
        Step size, ``eta > 0``.
    sigma : float
        Standard deviation of the input, ``> 0``.
    noise : float
        Standard deviation of the label noise, ``>= 0``.

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        An argument outside its range.

    Used in chapter: "Moments, convergence and averaged iterates".

    Examples
    --------
    >>> a, b = sgd1d_sampler(0.5)(np.random.default_rng(0), 3)
    >>> a.shape, b.shape
    ((3,), (3,))
    """
    eta = check_positive("eta", eta)
    sigma = check_positive("sigma", sigma)
    noise = check_real("noise", noise, low=0.0)

    def sample_ab(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        a = rng.normal(0.0, sigma, n)
        return 1.0 - eta * a * a, eta * noise * a * rng.standard_normal(n)

    return sample_ab


def sgd1d_mixed_moment(j: int, m: int, eta: float, sigma: float = 1.0, noise: float = 1.0) -> float:
    r"""Exact mixed moment ``E[A^j B^m]`` of one-dimensional SGD.

    Parameters
    ----------
    j, m : int
        Non-negative powers of ``A = 1 - eta a^2`` and of ``B = eta * noise * a * eps``.
    eta : float
        Step size, ``eta > 0``.
    sigma : float
        Standard deviation of the input, ``a ~ N(0, sigma^2)``.
    noise : float
        Standard deviation of the label noise, ``>= 0`` (``eps ~ N(0, 1)``).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Negative powers, ``eta <= 0``, ``sigma <= 0`` or ``noise < 0``.

    Notes
    -----
    ``eps`` is independent of ``a`` and symmetric, so the moment vanishes for odd ``m``; for even ``m``

    .. math:: \E[A^j B^m] = (\eta\,\mathrm{noise})^m (m-1)!!\sum_{i=0}^{j}\binom{j}{i}(-\eta)^i
              \sigma^{m+2i}(m+2i-1)!!,

    using :math:`\E a^{2n} = \sigma^{2n}(2n-1)!!`. The sum is evaluated with ``math.fsum``.

    Used in chapter: "Moments, convergence and averaged iterates".

    Examples
    --------
    >>> round(sgd1d_mixed_moment(2, 0, eta=2 / 3), 12)   # E A^2 = 1 - 2c + 3c^2 = 1 at c = 2/3
    1.0
    >>> sgd1d_mixed_moment(1, 1, eta=0.5)                 # E[A B] = 0: B is symmetric given a
    0.0
    """
    j = check_int("j", j, low=0)
    m = check_int("m", m, low=0)
    eta = check_positive("eta", eta)
    sigma = check_positive("sigma", sigma)
    noise = check_real("noise", noise, low=0.0)
    if m % 2 == 1:
        return 0.0
    terms = [math.comb(j, i) * (-eta) ** i * sigma ** (m + 2 * i) * _double_factorial_odd(m + 2 * i)
             for i in range(j + 1)]
    return (eta * noise) ** m * _double_factorial_odd(m) * math.fsum(terms)


def sgd1d_moment_path(p: int, eta: float, n_steps: int, *, sigma: float = 1.0, noise: float = 1.0,
                      x0: float = 0.0) -> np.ndarray:
    r"""Exact even moments ``E e_k^p``, ``k = 0, ..., n_steps``, of one-dimensional SGD from ``e_0 = x0``.

    Parameters
    ----------
    p : int
        Even order, ``2 <= p <= 16``.
    eta : float
        Step size, ``eta > 0``.
    n_steps : int
        Number of steps, ``>= 1``.
    sigma, noise : float
        As in :func:`sgd1d_mixed_moment`.
    x0 : float
        Deterministic starting error ``e_0 = x_0 - x*``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_steps + 1,)``; entry ``k`` is :math:`\E e_k^p` (``inf`` once it overflows).

    Raises
    ------
    ValueError
        ``p`` odd or outside ``[2, 16]``, or another argument outside its range.

    Notes
    -----
    With :math:`e_k = A_k e_{k-1} + B_k` and :math:`(A_k, B_k)` independent of :math:`e_{k-1}`, the
    binomial theorem gives the closed linear system

    .. math:: \E e_k^p = \sum_{j\ \mathrm{even}} \binom{p}{j}\E[A^j B^{p-j}]\,\E e_{k-1}^j ,

    (odd ``p - j`` terms vanish), so the even moments of order ``<= p`` evolve by a triangular
    matrix whose diagonal is :math:`\E A^j = e^{h(j)}`. Hence :math:`\E e_k^p` grows like
    :math:`e^{k h(p)}` when :math:`h(p) > 0` (``p`` above the tail index), grows linearly when
    :math:`h(p) = 0` and the lower moments converge (``p`` equal to the tail index), and converges
    when :math:`h(p) < 0`. For ``p = 2``:
    :math:`\E e_k^2 = \E A^2\,\E e_{k-1}^2 + \eta^2\mathrm{noise}^2\sigma^2`.

    Used in chapter: "Moments, convergence and averaged iterates".

    Examples
    --------
    >>> m2 = sgd1d_moment_path(2, eta=2 / 3, n_steps=3)   # alpha = 2: E e_k^2 = k eta^2 exactly
    >>> np.round(m2 / (2 / 3) ** 2, 10).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    p = check_int("p", p, low=2, high=MAX_ORDER)
    if p % 2:
        raise ValueError(f"p must be an even integer in [2, {MAX_ORDER}], got {p}")
    eta = check_positive("eta", eta)
    n_steps = check_int("n_steps", n_steps, low=1)
    sigma = check_positive("sigma", sigma)
    noise = check_real("noise", noise, low=0.0)
    x0 = check_real("x0", x0)
    orders = list(range(0, p + 1, 2))  # 0, 2, ..., p
    n = len(orders)
    # T[r, c]: coefficient of E e_{k-1}^{orders[c]} in E e_k^{orders[r]} (lower triangular)
    T = np.zeros((n, n))
    for r, q in enumerate(orders):
        for c, jj in enumerate(orders[: r + 1]):
            T[r, c] = math.comb(q, jj) * sgd1d_mixed_moment(jj, q - jj, eta, sigma, noise)
    v = np.array([x0 ** q for q in orders], dtype=float)
    out = np.empty(n_steps + 1)
    out[0] = v[-1]
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, n_steps + 1):
            v = T @ v
            out[k] = v[-1]
    out[~np.isfinite(out)] = np.inf
    return out


def _check_sampler(sample_ab) -> None:
    if not callable(sample_ab):
        raise TypeError("sample_ab must be callable: sample_ab(rng, n) -> (A, B), two arrays of shape (n,)")


def _draw(sample_ab, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = sample_ab(rng, n)
    if np.shape(a) != (n,) or np.shape(b) != (n,):
        raise ValueError(f"sample_ab must return two arrays of shape ({n},), got {np.shape(a)} and {np.shape(b)}")
    return a, b


def _check_x0(x0, n_chains: int) -> np.ndarray:
    if np.ndim(x0) == 0:
        return np.full(n_chains, check_real("x0", x0))
    arr = check_array("x0", x0, ndim=1)
    if arr.shape != (n_chains,):
        raise ValueError(f"x0 must be a number or an array of shape ({n_chains},), got shape {arr.shape}")
    return arr.copy()


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


def kesten_moment_paths(sample_ab: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
                        n_chains: int, n_steps: int, powers: Sequence[float], *, x0=0.0,
                        seed=None) -> MomentPaths:
    r"""Monte Carlo moments ``E|X_k|^p`` with standard errors along a scalar Kesten recursion.

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

    Used in chapter: "Moments, convergence and averaged iterates".

    Examples
    --------
    >>> sab = lambda rng, n: (rng.uniform(0.0, 1.0, n), np.ones(n))
    >>> mp = kesten_moment_paths(sab, n_chains=1000, n_steps=50, powers=[1.0], seed=0)
    >>> mp.mean.shape, round(float(mp.mean[0, -1]), 1)      # E X_inf = 1 / (1 - E A) = 2
    ((1, 51), 2.0)
    """
    _check_sampler(sample_ab)
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
            v = ax ** p
            mean[i, k] = v.mean()
            se[i, k] = v.std(ddof=1) / math.sqrt(n_chains)

    with np.errstate(over="ignore", invalid="ignore"):
        record(0, x)
        for k in range(1, n_steps + 1):
            a, b = _draw(sample_ab, rng, n_chains)
            x = a * x + b
            record(k, x)
    return MomentPaths(steps=np.arange(n_steps + 1), powers=pw, mean=mean, se=se, n_chains=n_chains)


@dataclass(frozen=True, eq=False)
class KestenSnapshots:
    """Values of many chains at chosen steps, and their Polyak averages.

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


def kesten_snapshots(sample_ab: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
                     n_chains: int, checkpoints: Sequence[int], *, burn_in: int = 0, x0=0.0,
                     seed=None) -> KestenSnapshots:
    r"""Run ``n_chains`` scalar recursions and keep their values and Polyak averages at ``checkpoints``.

    Parameters
    ----------
    sample_ab : callable
        ``sample_ab(rng, n) -> (A, B)``, called once per step (as in
        :func:`hts_lib.recursion.kesten.simulate_kesten`: same seed, same chains).
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

    Used in chapter: "Moments, convergence and averaged iterates".

    Examples
    --------
    >>> sab = lambda rng, n: (rng.uniform(0.0, 1.0, n), rng.standard_normal(n))
    >>> snap = kesten_snapshots(sab, n_chains=5, checkpoints=[10, 100], burn_in=5, seed=0)
    >>> snap.values.shape, snap.averages.shape
    ((2, 5), (2, 5))
    """
    _check_sampler(sample_ab)
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
            a, b = _draw(sample_ab, rng, n_chains)
            x = a * x + b
            if k > burn_in:
                total += x
            if k == cps[i]:
                values[i] = x
                averages[i] = total / (k - burn_in)
                i += 1
    return KestenSnapshots(steps=cps, values=values, averages=averages, burn_in=burn_in)
