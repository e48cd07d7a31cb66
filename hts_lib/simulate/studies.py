r"""Parameter studies of SGD beyond isotropic Gaussian data: sweeps that a chapter shows as one call each.

Each function runs one study of the chapter "Beyond isotropic Gaussian data" and returns its numbers in a
small frozen dataclass (or a float), so that the chapter's cells only plot and quote them:

* :func:`mc_sweep`: Monte Carlo :math:`\rho` and :math:`\alpha` over a list of step sizes, for any input law;
* :func:`kurtosis_threshold`: the step size where :math:`\alpha = 2` for inputs with independent coordinates,
  in closed form and as the root of the spectral radius of :math:`E[M\otimes M]`;
* :func:`rademacher_plane_tail_index`: the exact tail index for Rademacher inputs in :math:`d = 2`;
* :func:`product_bound_path`: the product-norm lower bounds :math:`\hat\alpha_k` over a list of :math:`k`;
* :func:`online_norm_tail`: simulated stationary norms of online SGD and their Hill estimate;
* :func:`offline_study`: offline SGD on data sets of several sizes, simulated and through the engine;
* :func:`offline_spread_1d`: the spread of the exact offline tail index :math:`\alpha_n` over many data sets
  in one dimension.

Used in: chapters/ch08_beyond_isotropic_data.ipynb.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from hts_lib.recursion.bounds import product_norm_bound
from hts_lib.recursion.finite_data import offline1d_tail_index
from hts_lib.recursion.kesten import kesten_tail_index
from hts_lib.recursion.montecarlo import MCEstimate, lyapunov_exponent_mc, tail_index_mc
from hts_lib.recursion.samplers import dataset_sampler
from hts_lib.recursion.second_moments import second_moment_spectral_radius
from hts_lib.simulate.sgd import simulate_offline, simulate_online
from hts_lib.tails.estimators import TailEstimate, hill
from hts_lib.validation import check_array, check_int, check_positive, check_real

__all__ = [
    "MCSweep",
    "mc_sweep",
    "kurtosis_threshold",
    "rademacher_plane_tail_index",
    "BoundPath",
    "product_bound_path",
    "NormTail",
    "online_norm_tail",
    "OfflineCase",
    "offline_study",
    "OfflineSpread",
    "offline_spread_1d",
]


def _check_sampler(sample_a):
    if not callable(sample_a):
        raise TypeError(f"sample_a must be a sampler sample_a(rng, n, dim), got {type(sample_a).__name__}")
    return sample_a


def _check_steps(name: str, etas) -> np.ndarray:
    arr = check_array(name, etas, ndim=1, min_size=1)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must hold positive step sizes, got {arr.tolist()}")
    return arr


@dataclass(frozen=True)
class MCSweep:
    r"""Monte Carlo Lyapunov exponents and tail indices over step sizes.

    Attributes
    ----------
    etas : ndarray
        The step sizes.
    rho, rho_se : ndarray
        :math:`\rho` and its standard error (NaN when the sweep was run with ``with_rho=False``).
    alpha, alpha_se : ndarray
        :math:`\alpha` and its standard error.
    """

    etas: np.ndarray
    rho: np.ndarray
    rho_se: np.ndarray
    alpha: np.ndarray
    alpha_se: np.ndarray


def mc_sweep(etas, batch_size: int, dim: int, sample_a, *, seed=None, with_rho: bool = True, **mc) -> MCSweep:
    r"""Monte Carlo :math:`\rho` and :math:`\alpha` of online SGD at each step size, for any input law.

    Parameters
    ----------
    etas : array_like, shape (n,)
        Positive step sizes.
    batch_size, dim : int
        Batch size :math:`b` and dimension :math:`d`.
    sample_a : callable
        Input sampler ``sample_a(rng, n, dim)`` (e.g. :func:`hts_lib.recursion.gaussian_sampler`).
    seed : int, optional
        Seed used for every step size (common random numbers make neighbouring step sizes comparable).
    with_rho : bool
        Also estimate :math:`\rho` (with the defaults of :func:`hts_lib.recursion.lyapunov_exponent_mc`).
    **mc
        Settings of :func:`hts_lib.recursion.tail_index_mc` (``n_walkers``, ``n_steps``, ``burn_in``,
        ``n_replicas``, ...).

    Returns
    -------
    MCSweep

    Raises
    ------
    ValueError, TypeError
        Non-positive step sizes, a bad ``batch_size``/``dim`` or a ``sample_a`` that is not callable.

    Notes
    -----
    :math:`\rho = \lim_k k^{-1}\log\|\Pi_k u\|` and :math:`\alpha` the positive root of
    :math:`h(s) = \lim_k k^{-1}\log E\|\Pi_k\|^s`, :math:`\Pi_k = M_k\cdots M_1`,
    :math:`M = I - (\eta/b)\sum_{i\le b} a_ia_i^\top`.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.
    """
    etas = _check_steps("etas", etas)
    b, d = check_int("batch_size", batch_size), check_int("dim", dim)
    sample_a = _check_sampler(sample_a)
    nan = np.full(etas.size, np.nan)
    rho, rho_se, alpha, alpha_se = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    for i, eta in enumerate(etas):
        if with_rho:
            r = lyapunov_exponent_mc(float(eta), b, d, sample_a, seed=seed)
            rho[i], rho_se[i] = r.value, r.stderr
        a = tail_index_mc(float(eta), b, d, sample_a, seed=seed, **mc)
        alpha[i], alpha_se[i] = a.value, a.stderr
    return MCSweep(etas, rho, rho_se, alpha, alpha_se)


def kurtosis_threshold(kurtosis: float, batch_size: int, dim: int) -> tuple[float, float]:
    r"""Step size where :math:`\alpha = 2` for inputs with i.i.d. unit-variance coordinates of given kurtosis.

    Returns the closed form and, as an independent computation, the root of
    :math:`r(E[M\otimes M]) = 1` found numerically.

    Parameters
    ----------
    kurtosis : float
        :math:`\kappa = E a_p^4 \ge 1` (1 Rademacher, 9/5 uniform, 3 Gaussian).
    batch_size, dim : int

    Returns
    -------
    (float, float)
        :math:`\eta_{\mathrm{crit}}(\kappa) = 2b/(b + d + \kappa - 2)` and the root of the spectral radius.

    Raises
    ------
    ValueError
        ``kurtosis < 1`` or a bad ``batch_size``/``dim``.

    Notes
    -----
    :math:`E[M^\top M] = \mu I` with :math:`\mu = 1 - 2\eta + \eta^2(b + d + \kappa - 2)/b`, so
    :math:`h(2) = \log\mu` and :math:`\alpha < 2` (given :math:`\rho < 0`) exactly when
    :math:`\eta > \eta_{\mathrm{crit}}(\kappa)`.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> [round(v, 6) for v in kurtosis_threshold(3.0, 2, 2)]
    [0.8, 0.8]
    """
    kappa = check_real("kurtosis", kurtosis, low=1.0)
    b, d = check_int("batch_size", batch_size), check_int("dim", dim)
    formula = 2 * b / (b + d + kappa - 2)
    excess = lambda eta: second_moment_spectral_radius(eta, b, np.ones(d), kurtosis=kappa) - 1  # noqa: E731
    hi = formula
    while excess(hi) <= 0:  # r < 1 just above 0 (r = 1 - 2 eta + O(eta^2)); double until r > 1
        hi *= 2
    return formula, float(optimize.brentq(excess, 1e-3 * formula, hi, xtol=1e-14, rtol=1e-12))


def rademacher_plane_tail_index(eta: float, batch_size: int) -> float:
    r"""Exact tail index of online SGD with Rademacher inputs in :math:`d = 2`.

    Parameters
    ----------
    eta : float
        Step size, positive.
    batch_size : int

    Returns
    -------
    float
        :math:`\alpha` (``inf`` when no multiplier expands, NaN when :math:`\rho \ge 0`, following
        :func:`hts_lib.recursion.kesten_tail_index`).

    Raises
    ------
    ValueError
        ``eta <= 0`` or a bad ``batch_size``.

    Notes
    -----
    In :math:`d = 2` the inputs point along :math:`(1, \pm1)/\sqrt2` (times :math:`\sqrt2`), so every
    :math:`M` is diagonal in that basis, :math:`M = \mathrm{diag}(1 - 2\eta N/b, 1 - 2\eta(b-N)/b)` with
    :math:`N \sim \mathrm{Bin}(b, 1/2)`. The products commute and, by symmetry of :math:`N`,
    :math:`h(s) = \log E|1 - 2\eta N/b|^s` exactly.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.
    """
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size)
    n = np.arange(b + 1)
    p, a = stats.binom.pmf(n, b, 0.5), np.abs(1 - 2 * eta * n / b)
    return kesten_tail_index(lambda s: float(np.log(np.sum(p * a**s))))


@dataclass(frozen=True)
class BoundPath:
    r"""Product-norm lower bounds :math:`\hat\alpha_k` over ``ks``, with Monte Carlo standard errors."""

    ks: np.ndarray
    value: np.ndarray
    stderr: np.ndarray


def product_bound_path(
    eta: float,
    batch_size: int,
    dim: int,
    sample_a,
    ks: Sequence[int],
    *,
    n_samples: int = 4000,
    n_replicas: int = 8,
    seed: int = 0,
) -> BoundPath:
    r"""Lower bounds :math:`\hat\alpha_k` on the tail index from :math:`k`-step products, for each ``k``.

    Parameters
    ----------
    eta : float
    batch_size, dim : int
    sample_a : callable
        Input sampler.
    ks : sequence of int
        Numbers of factors :math:`k \ge 1`.
    n_samples, n_replicas : int
        Monte Carlo settings of :func:`hts_lib.recursion.product_norm_bound`.
    seed : int
        The bound for ``k`` uses the seed ``seed + k``.

    Returns
    -------
    BoundPath

    Raises
    ------
    ValueError, TypeError
        Bad ``eta``, sizes, ``ks`` or ``sample_a``.

    Notes
    -----
    :math:`h(s) \le k^{-1}\log E\|M_k\cdots M_1\|^s` (subadditivity), so the positive root
    :math:`\hat\alpha_k` of :math:`E\|M_k\cdots M_1\|^s = 1` satisfies :math:`\hat\alpha_k \le \alpha`.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.
    """
    eta = check_positive("eta", eta)
    b, d = check_int("batch_size", batch_size), check_int("dim", dim)
    sample_a = _check_sampler(sample_a)
    ks = np.array([check_int("ks", k) for k in ks], dtype=int)
    if ks.size == 0:
        raise ValueError("ks must hold at least one number of factors")
    seed = check_int("seed", seed, low=0)
    est = [
        product_norm_bound(
            eta,
            b,
            d,
            sample_a,
            n_factors=int(k),
            n_samples=n_samples,
            n_replicas=n_replicas,
            seed=seed + int(k),
        )
        for k in ks
    ]
    return BoundPath(ks, np.array([e.value for e in est]), np.array([e.stderr for e in est]))


@dataclass(frozen=True)
class NormTail:
    """Norms of simulated (nearly) stationary SGD iterates and the Hill estimate of their tail."""

    norms: np.ndarray
    hill: TailEstimate


def online_norm_tail(
    eta: float,
    batch_size: int,
    dim: int,
    *,
    data: str = "gaussian",
    n_chains: int = 20_000,
    n_steps: int = 400,
    burn_in: int = 200,
    seed=None,
) -> NormTail:
    r"""Simulate online SGD and estimate the tail of :math:`\|x_K - x_\star\|` with Hill's estimator.

    Parameters
    ----------
    eta : float
    batch_size, dim : int
    data : str
        Input law, as for :func:`hts_lib.simulate.simulate_online` (``"gaussian"``, ``"rademacher"``, ...).
    n_chains, n_steps, burn_in : int
        Simulation size (see :func:`hts_lib.simulate.simulate_online`).
    seed : int, optional
        Seed of the simulation and of Hill's bootstrap.

    Returns
    -------
    NormTail

    Raises
    ------
    ValueError
        Bad arguments (see :func:`hts_lib.simulate.simulate_online`).

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.
    """
    res = simulate_online(
        eta, batch_size, dim, data=data, n_chains=n_chains, n_steps=n_steps, burn_in=burn_in, seed=seed
    )
    norms = np.linalg.norm(res.last, axis=1)
    return NormTail(norms, hill(norms, seed=seed))


@dataclass(frozen=True)
class OfflineCase:
    r"""Offline SGD on one data set of ``n`` points: simulated norms, Hill's estimate, the engine's view.

    Attributes
    ----------
    n : int
        Data-set size.
    norms : ndarray
        :math:`\|x_K - x_{\mathrm{LS}}\|` over the chains.
    hill : TailEstimate
        Hill's estimate on ``norms``.
    expand : float
        :math:`\eta\max_i\|x_i\|^2` (with :math:`b = 1` a point expands when this exceeds 2).
    rho_n, alpha_n : MCEstimate
        Lyapunov exponent and tail index of the recursion with the empirical input law.
    """

    n: int
    norms: np.ndarray
    hill: TailEstimate
    expand: float
    rho_n: MCEstimate
    alpha_n: MCEstimate


def offline_study(
    eta: float,
    dim: int,
    sizes: Sequence[int],
    *,
    x_true=None,
    seed: int = 0,
    n_chains: int = 20_000,
    n_steps: int = 400,
    burn_in: int = 200,
    mc: dict | None = None,
) -> dict[int, OfflineCase]:
    r"""Offline SGD (:math:`b = 1`) on Gaussian data sets of several sizes, simulated and through the engine.

    For each ``n`` in ``sizes`` a data set :math:`x_i \sim \mathcal N(0, I_d)`,
    :math:`y_i = x_i^\top x_{\mathrm{true}} + \varepsilon_i` is drawn (one generator seeded with ``seed``,
    used in the order of ``sizes``), offline SGD is simulated on it (seed ``seed + n``), Hill's
    estimator is applied to the final distances to the least-squares solution, and
    :math:`\rho_n`, :math:`\alpha_n` of the recursion with the empirical input law are estimated by
    Monte Carlo (seed ``seed``).

    Parameters
    ----------
    eta : float
    dim : int
    sizes : sequence of int
        Data-set sizes.
    x_true : array_like, shape (dim,), optional
        True coefficients (default: alternating +1, -1).
    seed : int
    n_chains, n_steps, burn_in : int
        Simulation size (see :func:`hts_lib.simulate.simulate_offline`).
    mc : dict, optional
        Settings of :func:`hts_lib.recursion.tail_index_mc`.

    Returns
    -------
    dict of int to OfflineCase

    Raises
    ------
    ValueError
        Bad ``eta``, ``dim``, ``sizes`` or ``x_true``.

    Notes
    -----
    Offline SGD with independently drawn indices is
    :math:`x_k - x_{\mathrm{LS}} = M_k(x_{k-1} - x_{\mathrm{LS}}) + q_k` with
    :math:`M = I - \eta x_Ix_I^\top`, :math:`I` uniform: the online recursion with the empirical law of
    the inputs, hence its own :math:`\rho_n` and :math:`\alpha_n`.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.
    """
    eta = check_positive("eta", eta)
    d = check_int("dim", dim)
    sizes = [check_int("sizes", n) for n in sizes]
    if not sizes:
        raise ValueError("sizes must hold at least one data-set size")
    seed = check_int("seed", seed, low=0)
    x_true = (
        np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
        if x_true is None
        else check_array("x_true", x_true, ndim=1)
    )
    if x_true.size != d:
        raise ValueError(f"x_true must have dim = {d} entries, got {x_true.size}")
    rng = np.random.default_rng(seed)
    out = {}
    for n in sizes:
        X = rng.standard_normal((n, d))
        y = X @ x_true + rng.standard_normal(n)
        res = simulate_offline(
            X, y, eta, 1, n_chains=n_chains, n_steps=n_steps, burn_in=burn_in, seed=seed + n
        )
        norms = np.linalg.norm(res.last, axis=1)
        inputs = dataset_sampler(X)
        out[n] = OfflineCase(
            n,
            norms,
            hill(norms, seed=seed),
            float(eta * np.max(np.sum(X**2, axis=1))),
            lyapunov_exponent_mc(eta, 1, d, inputs, seed=seed),
            tail_index_mc(eta, 1, d, inputs, seed=seed, **(mc or {})),
        )
    return out


@dataclass(frozen=True)
class OfflineSpread:
    r"""Exact offline tail indices of many one-dimensional data sets per size.

    Attributes
    ----------
    sizes : ndarray
        Data-set sizes.
    alphas : ndarray, shape (len(sizes), n_datasets)
        :math:`\alpha_n` of each data set (``inf``: no point expands; NaN: :math:`\rho_n \ge 0`).
    levels : ndarray
        Quantile levels.
    quantiles : ndarray, shape (len(sizes), len(levels))
        Quantiles of the finite :math:`\alpha_n` per size.
    n_inf, n_nan : ndarray of int
        Data sets per size with :math:`\alpha_n = \infty` and with :math:`\rho_n \ge 0`.
    """

    sizes: np.ndarray
    alphas: np.ndarray
    levels: np.ndarray
    quantiles: np.ndarray
    n_inf: np.ndarray
    n_nan: np.ndarray


def offline_spread_1d(
    eta: float,
    sizes: Sequence[int],
    *,
    n_datasets: int = 100,
    seed: int = 0,
    levels: Sequence[float] = (0.1, 0.5, 0.9),
) -> OfflineSpread:
    r"""Spread of the exact offline tail index :math:`\alpha_n` over Gaussian data sets in one dimension.

    For each ``n`` in ``sizes``, ``n_datasets`` data sets of ``n`` standard normal inputs are drawn
    (generator seeded with ``[seed, n]``) and :math:`\alpha_n` is computed exactly with
    :func:`hts_lib.recursion.offline1d_tail_index`.

    Parameters
    ----------
    eta : float
    sizes : sequence of int
    n_datasets : int
    seed : int
    levels : sequence of float in (0, 1)
        Quantile levels of the band and centre.

    Returns
    -------
    OfflineSpread

    Raises
    ------
    ValueError
        Bad ``eta``, ``sizes``, ``n_datasets`` or ``levels``.

    Notes
    -----
    :math:`\alpha_n` is the positive root of :math:`h_n(s) = \log n^{-1}\sum_i|1 - \eta x_i^2|^s`; its
    fluctuation around the online :math:`\alpha` is that of an average of :math:`n` i.i.d. terms.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.
    """
    eta = check_positive("eta", eta)
    sizes = np.array([check_int("sizes", n) for n in sizes], dtype=int)
    if sizes.size == 0:
        raise ValueError("sizes must hold at least one data-set size")
    n_datasets = check_int("n_datasets", n_datasets)
    seed = check_int("seed", seed, low=0)
    levels = check_array("levels", levels, ndim=1)
    if np.any((levels <= 0) | (levels >= 1)):
        raise ValueError(f"levels must lie in (0, 1), got {levels.tolist()}")
    alphas = np.empty((sizes.size, n_datasets))
    for i, n in enumerate(sizes):
        data = np.random.default_rng([seed, int(n)]).standard_normal((n_datasets, int(n)))
        alphas[i] = [offline1d_tail_index(x, eta) for x in data]
    quantiles = np.full((sizes.size, levels.size), math.nan)
    for i, row in enumerate(alphas):
        finite = row[np.isfinite(row)]
        if finite.size:
            quantiles[i] = np.quantile(finite, levels)
    return OfflineSpread(
        sizes, alphas, levels, quantiles, np.isinf(alphas).sum(axis=1), np.isnan(alphas).sum(axis=1)
    )
