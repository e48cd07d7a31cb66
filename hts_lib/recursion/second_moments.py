r"""Closed forms for the second moments of online SGD on linear regression, for any covariance and kurtosis.

Online SGD with batches of ``b`` inputs is :math:`x_k = M_kx_{k-1} + q_k`,
:math:`M = I - (\eta/b)\sum_{i\le b} a_ia_i^\top`. Its second moments close on themselves, so two quantities
have exact closed forms beyond the isotropic Gaussian case of :mod:`hts_lib.recursion.exact`:

* :func:`second_moment_spectral_radius`: the spectral radius of :math:`E[M\otimes M]`, which is
  :math:`e^{h(2)}`; the stationary law has infinite variance (``alpha < 2``) exactly when it exceeds 1
  (and ``rho < 0``). Inputs with a Gaussian law of any covariance, or with independent coordinates of
  any kurtosis;
* :func:`stationary_second_moment`: :math:`E\|x_\infty - x_\star\|^2`, finite exactly when ``alpha > 2``.

Their Monte Carlo counterparts for any data law are in :mod:`hts_lib.recursion.montecarlo`
(:func:`hts_lib.recursion.second_moment_spectral_radius_mc`), and the simulated chains of
:mod:`hts_lib.simulate` are tested against both.
"""

from __future__ import annotations

import math

import numpy as np

from hts_lib.recursion.exact import _check_model
from hts_lib.recursion.samplers import check_covariance
from hts_lib.validation import check_int, check_positive, check_real

__all__ = ["second_moment_spectral_radius", "stationary_second_moment"]


def second_moment_spectral_radius(eta: float, batch_size: int, cov, kurtosis: float = 3.0) -> float:
    r"""Return the spectral radius of ``E[M (x) M]`` in closed form: ``h(2) = log`` of it.

    Parameters
    ----------
    eta : float
        Step size, ``eta > 0``.
    batch_size : int
        Batch size ``b >= 1``.
    cov : array_like
        Either a 1-D array of variances ``lambda_p`` (inputs with independent coordinates, each of
        kurtosis ``kurtosis``), or a symmetric positive definite matrix (Gaussian inputs only).
    kurtosis : float
        ``E a_p^4 / (E a_p^2)^2`` of each coordinate: 3 for Gaussian, 1 for Rademacher, 9/5 for
        uniform, ``3 + 6/(nu - 4)`` for Student-t.

    Returns
    -------
    float
        ``r(E[M (x) M])``. The stationary law has infinite variance (``alpha < 2``) iff ``r > 1``
        (given ``rho < 0``).

    Raises
    ------
    ValueError
        If an argument is outside its range, or a matrix ``cov`` is given with ``kurtosis != 3``.

    Notes
    -----
    :math:`E[M\otimes M]` acts on matrices as :math:`X\mapsto E[MXM^\top]`, a positive map, so its
    spectral radius is attained on positive semi-definite ``X`` and equals the growth rate of
    :math:`E\|\Pi_k x\|^2`, i.e. :math:`e^{h(2)}`. For symmetric ``X`` and independent batch inputs,

    .. math:: E[MXM] = X - \eta(\Sigma X + X\Sigma) + \tfrac{\eta^2}{b}\big[(b-1)\Sigma X\Sigma
              + E(aa^\top X aa^\top)\big],

    and Isserlis' theorem gives :math:`E(aa^\top Xaa^\top) = 2\Sigma X\Sigma + \mathrm{tr}(\Sigma X)\Sigma`
    for Gaussian data, plus :math:`(\kappa - 3)\,\mathrm{diag}(\lambda_p^2 X_{pp})` for independent
    coordinates of kurtosis :math:`\kappa`. In the eigenbasis of :math:`\Sigma` the off-diagonal
    entries of ``X`` are eigenvectors (eigenvalue :math:`1 - \eta(\lambda_p+\lambda_q) +
    \eta^2\tfrac{b+1}{b}\lambda_p\lambda_q`) and the diagonal ones obey the ``d x d`` symmetric
    matrix :math:`\mathrm{diag}((1-\eta\lambda_p)^2 + \tfrac{\eta^2}{b}(\kappa-2)\lambda_p^2)
    + \tfrac{\eta^2}{b}\lambda\lambda^\top`. For isotropic Gaussian data this reduces to
    :math:`1 - 2\eta\sigma^2 + \eta^2\sigma^4(d+b+1)/b` (see :func:`hts_lib.recursion.exact.even_moment`).

    Used in: chapters/ch04_random_linear_recursions.ipynb, chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> round(second_moment_spectral_radius(0.1, 1, np.ones(10)), 12)   # = 1 - 0.2 + 0.01 * 12
    0.92
    >>> second_moment_spectral_radius(0.1, 1, np.ones(10), kurtosis=1.0) < 0.92   # Rademacher
    True
    """
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    kurtosis = check_real("kurtosis", kurtosis, low=1.0)
    arr = check_covariance(cov)
    if arr.ndim == 2 and kurtosis != 3.0:
        raise ValueError(
            "a full covariance matrix is only supported for Gaussian data (kurtosis=3); "
            "give a 1-D spectrum for independent non-Gaussian coordinates"
        )
    lam = arr if arr.ndim == 1 else np.linalg.eigh(0.5 * (arr + arr.T))[0]
    diag = (1.0 - eta * lam) ** 2 + (eta * eta / b) * (kurtosis - 2.0) * lam * lam
    dmat = np.diag(diag) + (eta * eta / b) * np.outer(lam, lam)
    radius = float(np.max(np.abs(np.linalg.eigvalsh(dmat))))
    if lam.size > 1:
        iu = np.triu_indices(lam.size, k=1)
        lp, lq = lam[iu[0]], lam[iu[1]]
        off = 1.0 - eta * (lp + lq) + eta * eta * (b + 1) / b * lp * lq
        radius = max(radius, float(np.max(np.abs(off))))
    return radius


def stationary_second_moment(
    eta: float,
    batch_size: int,
    dim: int,
    sigma: float = 1.0,
    noise: float = 1.0,
    cov=None,
    kurtosis: float = 3.0,
) -> float:
    r"""Return the closed form of ``E||x_inf - x*||^2`` for online SGD on linear regression.

    Parameters
    ----------
    eta : float
        Step size, > 0.
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sigma : float
        Data scale: ``a = sigma * g`` (times a Cholesky factor of ``cov`` when given).
    noise : float
        Standard deviation of the label noise, ``>= 0``.
    cov : array_like, optional
        ``d x d`` covariance of ``g`` for anisotropic Gaussian data (``a ~ N(0, sigma^2 cov)``).
    kurtosis : float
        ``E g^4`` of the i.i.d. standardised coordinates when ``cov`` is None (3 for Gaussian,
        1 for Rademacher, 1.8 for uniform); must be >= 1. Only 3 is allowed with ``cov``.

    Returns
    -------
    float
        The stationary second moment, or ``inf`` when it is infinite (the tail index is
        ``<= 2``, or the iterates have no stationary law at all).

    Raises
    ------
    ValueError
        Bad arguments (non-positive ``eta``, ``cov`` not symmetric positive definite, ...).

    Notes
    -----
    With ``z = x - x*`` the centred recursion is ``z_k = M_k z_{k-1} + q_k`` with
    ``M = I - (eta/b) H``, ``H = sum_i a_i a_i^T`` and ``q = (eta/b) sum_i a_i noise eps_i``.
    ``q`` has mean zero and is independent of ``z_{k-1}``, so ``V = E[z z^T]`` solves
    ``V = E[M V M^T] + E[q q^T]`` with ``E[q q^T] = (eta^2/b) noise^2 Sigma``.

    *Isotropic data* (``Sigma = sigma^2 I``, i.i.d. coordinates with fourth moment ``kappa``):
    ``E[H^2] = b sigma^4 (d + b + kappa - 2) I``, hence

    ``E[M^T M] = m_2 I``, ``m_2 = 1 - 2 eta sigma^2 + eta^2 sigma^4 (d + b + kappa - 2) / b``

    (for Gaussian data, ``kappa = 3``: ``(d + b + 1)/b``), and
    ``E||z_k||^2 = m_2 E||z_{k-1}||^2 + eta^2 sigma^2 noise^2 d / b``, so

    ``E||z_inf||^2 = eta noise^2 d / (2 b - eta sigma^2 (d + b + kappa - 2))``,

    finite iff ``m_2 < 1``, i.e. ``eta < eta_crit = 2b / (sigma^2 (d + b + kappa - 2))``
    (for Gaussian data exactly where the tail index passes 2).

    *Anisotropic Gaussian data* (eigenvalues ``lambda_i`` of ``Sigma = sigma^2 cov``): by
    Isserlis, ``E[H V H] = b (b+1) Sigma V Sigma + b tr(V Sigma) Sigma``; in the eigenbasis the
    stationary ``V`` is diagonal with
    ``v_i = (eta/b)(T + noise^2) / (2 - eta (b+1) lambda_i / b)``, ``T = sum_j lambda_j v_j``,
    which gives, with ``g = sum_i (eta lambda_i / b) / (2 - eta (b+1) lambda_i / b)``,

    ``E||z_inf||^2 = (eta/b) noise^2 / (1 - g) * sum_i 1 / (2 - eta (b+1) lambda_i / b)``,

    finite iff every denominator is positive and ``g < 1`` (Perron-Frobenius on the
    non-negative second-moment map). For ``cov = I`` it reduces to the isotropic formula.

    Used in: chapters/ch05_sgd_as_random_recursion.ipynb.

    Examples
    --------
    >>> round(stationary_second_moment(0.1, 1, 10), 6)
    1.25
    >>> stationary_second_moment(0.2, 1, 10)   # eta above eta_crit = 2/12: infinite variance
    inf
    """
    eta, b, d, sigma = _check_model(eta, batch_size, dim, sigma)
    noise = check_real("noise", noise, low=0.0)
    kappa = check_real("kurtosis", kurtosis, low=1.0)
    if cov is None:
        denom = 2.0 * b - eta * sigma**2 * (d + b + kappa - 2.0)
        if denom <= 0.0:
            return math.inf
        return eta * noise**2 * d / denom
    if kappa != 3.0:
        raise ValueError(
            "kurtosis must be 3 (Gaussian) when cov is given: the anisotropic closed "
            "form is derived for Gaussian data"
        )
    lam = sigma**2 * np.linalg.eigvalsh(check_covariance(cov, d, spectrum=False))
    den = 2.0 - eta * (b + 1) * lam / b
    if np.any(den <= 0.0):
        return math.inf
    g = float(np.sum((eta * lam / b) / den))
    if g >= 1.0:
        return math.inf
    return float((eta / b) * noise**2 / (1.0 - g) * np.sum(1.0 / den))
