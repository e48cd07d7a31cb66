r"""SGD in one dimension: :math:`e_k = (1 - \eta a_k^2)e_{k-1} + \eta\,\mathrm{noise}\,a_k\varepsilon_k`.

Online SGD on one-dimensional linear regression with inputs :math:`a \sim N(0, \sigma^2)` and label noise,
written for the error :math:`e = x - x_\star`, is the Kesten recursion of :mod:`hts_lib.recursion.kesten` with
:math:`A = 1 - \eta a^2` and :math:`B = \eta\,\mathrm{noise}\,a\varepsilon`. Everything about it is here:

* exact theory by one-dimensional quadrature: :func:`sgd1d_log_moment` (:math:`h(s)`),
  :func:`sgd1d_lyapunov_exponent` (:math:`\rho`), :func:`sgd1d_tail_index` (:math:`\alpha`),
  :func:`sgd1d_step_sizes` (:math:`\eta_{\mathrm{crit}}`, :math:`\eta_{\max}`);
* exact moments along the way to stationarity: :func:`sgd1d_mixed_moment` (:math:`E[A^jB^m]`) and
  :func:`sgd1d_moment_path` (:math:`E e_k^p` for even ``p``);
* simulation: :func:`simulate_sgd1d` (its pair sampler is :func:`hts_lib.recursion.sgd1d_sampler`).

It is also the ``d = 1`` oracle of the exact engine for isotropic Gaussian data
(:mod:`hts_lib.recursion.exact`), computed by an independent method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize

from hts_lib.recursion.kesten import ALPHA_MAX, simulate_kesten
from hts_lib.recursion.roots import log_moment_root
from hts_lib.recursion.samplers import sgd1d_sampler
from hts_lib.validation import check_int, check_positive, check_real

__all__ = [
    "sgd1d_log_moment",
    "sgd1d_lyapunov_exponent",
    "sgd1d_tail_index",
    "StepSizes1D",
    "sgd1d_step_sizes",
    "sgd1d_mixed_moment",
    "sgd1d_moment_path",
    "simulate_sgd1d",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

#: Largest even order accepted by :func:`sgd1d_moment_path` (the alternating binomial sums lose
#: accuracy beyond it).
MAX_ORDER = 16


def _check_s(s) -> float:
    return check_real("s", s, low=0.0)


# ----------------------------------------------------------------------------------------------
# Theory: h, rho, alpha and the critical step sizes
# ----------------------------------------------------------------------------------------------


def _sgd1d_c(eta, sigma) -> float:
    eta = check_positive("eta", eta)
    sigma = check_positive("sigma", sigma)
    return eta * sigma * sigma


def _log_abs_one_minus_cz2(z: float, c: float) -> float:
    return math.log(abs(1.0 - c * z * z)) if c * z * z != 1.0 else -math.inf


def sgd1d_log_moment(s: float, eta: float, sigma: float = 1.0) -> float:
    r"""Return the moment function ``h(s) = log E|1 - eta a^2|^s``, ``a ~ N(0, sigma^2)``, of 1-D SGD.

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

    Used in: chapters/ch01_sgd_in_one_dimension.ipynb, chapters/ch04_random_linear_recursions.ipynb,
    chapters/ch09_moments_and_averages.ipynb.

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


def sgd1d_lyapunov_exponent(eta: float, sigma: float = 1.0) -> float:
    r"""Return the Lyapunov exponent ``rho = E log|1 - eta a^2|``, ``a ~ N(0, sigma^2)``, of 1-D SGD.

    ``rho < 0`` is exactly the condition for a stationary law.

    Notes
    -----
    :math:`\rho = 2\int_0^\infty \log|1 - c z^2|\,\varphi(z)\,dz`, ``c = eta sigma^2``. Writing
    :math:`\log|1 - cz^2| = \log c + \log(z_0 + z) + \log|z_0 - z|` with :math:`z_0 = c^{-1/2}` isolates the
    integrable log singularity, which QUADPACK's algebraic-logarithmic weights (``weight="alg-loga"`` /
    ``"alg-logb"``) integrate exactly against the smooth normal density.

    Used in: chapters/ch01_sgd_in_one_dimension.ipynb, chapters/ch03_estimating_tail_index.ipynb,
    chapters/ch04_random_linear_recursions.ipynb, chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> sgd1d_lyapunov_exponent(0.5) < 0 < sgd1d_lyapunov_exponent(3.0)
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
    """Return the tail index of one-dimensional SGD: the positive root of ``E|1 - eta a^2|^alpha = 1``.

    Returns ``nan`` when ``eta`` is outside the stable range (``rho >= 0``: no stationary law), ``inf``
    when the root is above ``ALPHA_MAX = 200``: the convention of :func:`hts_lib.recursion.log_moment_root`,
    which finds the root of :func:`sgd1d_log_moment` given :func:`sgd1d_lyapunov_exponent`.

    Used in: chapters/ch01_sgd_in_one_dimension.ipynb, chapters/ch03_estimating_tail_index.ipynb,
    chapters/ch04_random_linear_recursions.ipynb, chapters/ch08_beyond_isotropic_data.ipynb,
    chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> round(sgd1d_tail_index(2 / 3), 9)
    2.0
    >>> import math; math.isnan(sgd1d_tail_index(5.0))
    True
    """
    rho = sgd1d_lyapunov_exponent(eta, sigma)
    return log_moment_root(lambda s: sgd1d_log_moment(s, eta, sigma), rho=rho, s_max=ALPHA_MAX)


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
    """Return the critical step sizes of one-dimensional SGD.

    Notes
    -----
    ``E(1 - c W)^2 = 1 - 2c + 3c^2`` for ``W ~ chi^2_1``, so ``h(2) = 0`` at ``c = 2/3``. ``eta_max``
    solves ``rho(eta) = 0`` (Brent's method; ``rho`` is increasing in ``eta`` beyond its minimum).

    Used in: chapters/ch01_sgd_in_one_dimension.ipynb.

    Examples
    --------
    >>> st = sgd1d_step_sizes()
    >>> round(st.eta_crit, 6), round(st.eta_max, 4)
    (0.666667, 2.4212)
    """
    sigma = check_positive("sigma", sigma)
    eta_crit = 2.0 / (3.0 * sigma * sigma)
    # rho(eta) < 0 for small eta, > 0 for large eta; bracket on c = eta sigma^2 in (eta_crit, 100)
    eta_max = optimize.brentq(
        lambda e: sgd1d_lyapunov_exponent(e, sigma), eta_crit, 100.0 / sigma**2, xtol=1e-13, rtol=1e-13
    )
    return StepSizes1D(eta_crit=eta_crit, eta_max=eta_max)


# ----------------------------------------------------------------------------------------------
# Exact moments along k
# ----------------------------------------------------------------------------------------------


def _double_factorial_odd(m: int) -> int:
    """``(m - 1)!! = E z^m`` for ``z ~ N(0, 1)`` and even ``m`` (1 for ``m = 0``)."""
    return math.prod(range(m - 1, 0, -2)) if m > 0 else 1


def sgd1d_mixed_moment(j: int, m: int, eta: float, sigma: float = 1.0, noise: float = 1.0) -> float:
    r"""Return the exact mixed moment ``E[A^j B^m]`` of one-dimensional SGD.

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
    terms = [
        math.comb(j, i) * (-eta) ** i * sigma ** (m + 2 * i) * _double_factorial_odd(m + 2 * i)
        for i in range(j + 1)
    ]
    return (eta * noise) ** m * _double_factorial_odd(m) * math.fsum(terms)


def sgd1d_moment_path(
    p: int, eta: float, n_steps: int, *, sigma: float = 1.0, noise: float = 1.0, x0: float = 0.0
) -> np.ndarray:
    r"""Return the exact even moments ``E e_k^p``, ``k = 0, ..., n_steps``, of 1-D SGD from ``e_0 = x0``.

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

    Used in: chapters/ch09_moments_and_averages.ipynb.

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
    v = np.array([x0**q for q in orders], dtype=float)
    out = np.empty(n_steps + 1)
    out[0] = v[-1]
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, n_steps + 1):
            v = T @ v
            out[k] = v[-1]
    out[~np.isfinite(out)] = np.inf
    return out


# ----------------------------------------------------------------------------------------------
# Simulation
# ----------------------------------------------------------------------------------------------


def simulate_sgd1d(
    eta: float, n_chains: int, n_steps: int, *, sigma: float = 1.0, noise: float = 1.0, seed=None
) -> np.ndarray:
    """Simulate online SGD on one-dimensional linear regression, started at the solution; return ``x_n - x*``.

    Each step draws a fresh pair ``a ~ N(0, sigma^2)``, ``y = a x* + noise * eps``; the error
    ``e = x - x*`` then follows ``e_k = (1 - eta a_k^2) e_{k-1} + eta a_k noise eps_k``, a scalar
    Kesten recursion with light-tailed inputs: :func:`hts_lib.recursion.simulate_kesten` on
    :func:`hts_lib.recursion.sgd1d_sampler`, so the same seed gives the same chains.

    Used in: chapters/ch01_sgd_in_one_dimension.ipynb, chapters/ch03_estimating_tail_index.ipynb.

    Examples
    --------
    >>> e = simulate_sgd1d(0.5, n_chains=1000, n_steps=300, seed=1)
    >>> e.shape, bool(np.all(np.isfinite(e)))
    ((1000,), True)
    """
    return simulate_kesten(sgd1d_sampler(eta, sigma, noise), n_chains, n_steps, seed=seed)
