"""Samplers for laws with a known tail index, used to test and benchmark the estimators.

* :func:`sample_pareto`: the exact Pareto law, ``P(X > x) = (x / scale)^(-alpha)`` for ``x >= scale``
  (NumPy's ``Generator.pareto`` is the *Lomax* law ``P(X > x) = (1 + x)^(-alpha)``, a common trap).
* :func:`sample_symmetric_stable`: symmetric alpha-stable (SaS) variables by the Chambers-Mallows-Stuck
  method, with characteristic function ``exp(-|t|^alpha)``.
* :func:`sample_elliptical_stable`: elliptically contoured (sub-Gaussian) SaS vectors, whose every
  one-dimensional margin is standard SaS.
* :func:`symmetric_stable_tail_constant`, :func:`student_t_tail_constant`: the constants ``C`` in
  ``P(|X| > x) ~ C x^(-alpha)``.

``scipy.stats.levy_stable`` samples the same laws but is much slower; the tests check these samplers
against its distribution function and against the closed forms at alpha = 1 (Cauchy) and 2 (Gaussian).

Used in chapter: "Heavy tails", "Estimating a tail index".
"""

from __future__ import annotations

import math

import numpy as np

from hts_lib.validation import check_int, check_positive, check_real, check_rng

__all__ = [
    "sample_pareto",
    "sample_symmetric_stable",
    "sample_elliptical_stable",
    "symmetric_stable_tail_constant",
    "student_t_tail_constant",
]


def _check_size(size) -> tuple[int, ...]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return (check_int("size", size, low=0),)
    try:
        dims = tuple(size)
    except TypeError:
        raise TypeError(f"size must be an int or a tuple of ints, got {type(size).__name__}") from None
    return tuple(check_int("size", s, low=0) for s in dims)


def sample_pareto(alpha: float, size, seed=None, *, scale: float = 1.0) -> np.ndarray:
    """Draw from the Pareto law ``P(X > x) = (x / scale)^(-alpha)``, ``x >= scale``.

    Parameters
    ----------
    alpha : float
        Tail index, ``alpha > 0``.
    size : int or tuple of int
        Output shape.
    seed : int, Generator or None
        Source of randomness.
    scale : float
        Lower end of the support, ``scale > 0``.

    Returns
    -------
    numpy.ndarray
        Samples of shape ``size``.

    Notes
    -----
    Inversion: ``X = scale * U^(-1/alpha)`` with ``U ~ Uniform(0, 1]``.

    Examples
    --------
    >>> x = sample_pareto(2.0, 5, seed=0)
    >>> bool(x.min() >= 1.0), x.shape
    (True, (5,))
    """
    alpha = check_positive("alpha", alpha)
    scale = check_positive("scale", scale)
    shape = _check_size(size)
    rng = check_rng(seed)
    u = 1.0 - rng.random(shape)  # in (0, 1]
    return scale * u ** (-1.0 / alpha)


def sample_symmetric_stable(alpha: float, size, seed=None) -> np.ndarray:
    r"""Draw standard symmetric alpha-stable variables (Chambers-Mallows-Stuck).

    Parameters
    ----------
    alpha : float
        Stability index, ``0 < alpha <= 2``. The tail index of ``|X|`` is ``alpha`` for
        ``alpha < 2``; ``alpha = 2`` gives the Gaussian ``N(0, 2)``.
    size : int or tuple of int
        Output shape; a shape ``(N, d)`` gives vectors with i.i.d. SaS coordinates.
    seed : int, Generator or None
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Samples with characteristic function ``E exp(itX) = exp(-|t|^alpha)``.

    Notes
    -----
    With ``V ~ Uniform(-pi/2, pi/2)`` and ``W ~ Exp(1)`` independent (Chambers, Mallows & Stuck 1976),

    .. math:: X = \frac{\sin(\alpha V)}{(\cos V)^{1/\alpha}}
              \left(\frac{\cos((1-\alpha)V)}{W}\right)^{(1-\alpha)/\alpha},

    which reduces to ``tan V`` (Cauchy) at ``alpha = 1``. For ``alpha < 2``,
    ``P(|X| > x) ~ (2/pi) Gamma(alpha) sin(pi alpha / 2) x^(-alpha)``.
    This is ``scipy.stats.levy_stable(alpha, 0)`` (its default S1 parametrisation, ``beta = 0``).

    Examples
    --------
    >>> x = sample_symmetric_stable(1.5, 4, seed=0)
    >>> x.shape
    (4,)
    """
    alpha = check_real("alpha", alpha, low=0.0, high=2.0, low_open=True)
    shape = _check_size(size)
    rng = check_rng(seed)
    v = rng.uniform(-0.5 * math.pi, 0.5 * math.pi, shape)
    w = rng.standard_exponential(shape)
    if alpha == 1.0:
        return np.tan(v)
    with np.errstate(over="ignore", divide="ignore"):
        return (
            np.sin(alpha * v)
            / np.cos(v) ** (1.0 / alpha)
            * (np.cos((1.0 - alpha) * v) / w) ** ((1.0 - alpha) / alpha)
        )


def _positive_stable(a: float, shape, rng) -> np.ndarray:
    """Positive ``a``-stable variables (``0 < a < 1``) with Laplace transform ``exp(-s^a)``.

    Kanter (1975): ``sin(aU) / sin(U)^(1/a) * (sin((1-a)U) / E)^((1-a)/a)``, ``U ~ U(0, pi)``, ``E ~ Exp(1)``.
    """
    u = rng.uniform(0.0, math.pi, shape)
    e = rng.standard_exponential(shape)
    return np.sin(a * u) / np.sin(u) ** (1.0 / a) * (np.sin((1.0 - a) * u) / e) ** ((1.0 - a) / a)


def sample_elliptical_stable(alpha: float, size: int, dim: int, seed=None) -> np.ndarray:
    r"""Draw elliptically contoured (sub-Gaussian) symmetric alpha-stable vectors in ``R^dim``.

    Parameters
    ----------
    alpha : float
        Stability index, ``0 < alpha < 2``.
    size : int
        Number of vectors.
    dim : int
        Dimension, ``dim >= 1``.
    seed : int, Generator or None
        Source of randomness.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(size, dim)`` with characteristic function ``exp(-|t|^alpha)``, so that every
        projection ``u^T X`` on a unit vector is standard SaS.

    Notes
    -----
    ``X = sqrt(A) G`` with ``G ~ N(0, 2 I)`` and ``A`` positive ``(alpha/2)``-stable with
    ``E exp(-sA) = exp(-s^(alpha/2))`` (Kanter's representation), so that
    ``E exp(i t^T X) = E exp(-A |t|^2) = exp(-|t|^alpha)`` (Samorodnitsky & Taqqu 1994, Sec. 2.5).

    Examples
    --------
    >>> sample_elliptical_stable(1.5, 3, dim=4, seed=0).shape
    (3, 4)
    """
    alpha = check_real("alpha", alpha, low=0.0, high=2.0, low_open=True, high_open=True)
    size = check_int("size", size, low=0)
    dim = check_int("dim", dim, low=1)
    rng = check_rng(seed)
    a = _positive_stable(0.5 * alpha, (size, 1), rng)
    g = rng.standard_normal((size, dim)) * math.sqrt(2.0)
    return np.sqrt(a) * g


def symmetric_stable_tail_constant(alpha: float) -> float:
    r"""Return ``C`` in ``P(|X| > x) ~ C x^(-alpha)`` for the standard SaS law (``exp(-|t|^alpha)``).

    Parameters
    ----------
    alpha : float
        Stability index, ``0 < alpha < 2``.

    Returns
    -------
    float
        :math:`C_\alpha = \frac{2}{\pi}\Gamma(\alpha)\sin(\pi\alpha/2)`.

    Notes
    -----
    First term of the series :math:`P(X > x) = \frac1\pi\sum_{k\ge1} \frac{(-1)^{k+1}}{k!}
    \Gamma(\alpha k)\sin(k\pi\alpha/2)\,x^{-\alpha k}` (Feller 1971, XVII.6), doubled for ``|X|``.
    A scale ``sigma`` multiplies it by ``sigma^alpha``.

    Examples
    --------
    >>> round(symmetric_stable_tail_constant(1.0), 6)  # Cauchy: P(|X| > x) ~ 2 / (pi x)
    0.63662
    """
    alpha = check_real("alpha", alpha, low=0.0, high=2.0, low_open=True, high_open=True)
    return 2.0 / math.pi * math.gamma(alpha) * math.sin(math.pi * alpha / 2.0)


def student_t_tail_constant(nu: float) -> float:
    r"""Return ``C`` in ``P(|T| > x) ~ C x^(-nu)`` for Student's t with ``nu`` degrees of freedom.

    Parameters
    ----------
    nu : float
        Degrees of freedom, ``nu > 0`` (the tail index is ``nu``).

    Returns
    -------
    float
        :math:`C_\nu = \frac{2\,\Gamma((\nu+1)/2)\,\nu^{\nu/2-1}}{\sqrt\pi\,\Gamma(\nu/2)}`.

    Notes
    -----
    The density is :math:`\frac{\Gamma((\nu+1)/2)}{\sqrt{\nu\pi}\Gamma(\nu/2)}(1+t^2/\nu)^{-(\nu+1)/2}
    \sim c\,|t|^{-\nu-1}` with :math:`c = \frac{\Gamma((\nu+1)/2)\,\nu^{(\nu+1)/2}}{\sqrt{\nu\pi}
    \Gamma(\nu/2)}`; integrating both tails gives :math:`C_\nu = 2c/\nu`.

    Examples
    --------
    >>> round(student_t_tail_constant(1.0), 6)  # t with 1 degree of freedom is Cauchy
    0.63662
    """
    nu = check_positive("nu", nu)
    return (
        2.0
        * math.exp(math.lgamma((nu + 1.0) / 2.0) - math.lgamma(nu / 2.0) + (nu / 2.0 - 1.0) * math.log(nu))
        / math.sqrt(math.pi)
    )
