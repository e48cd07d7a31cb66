r"""Lyapunov exponent, moment function and tail index of online SGD for general data.

For isotropic Gaussian inputs :mod:`hts_lib.recursion.exact` computes everything exactly. For other data
(an anisotropic covariance, or non-Gaussian inputs such as Rademacher, uniform or Student-t
coordinates) the product :math:`\Pi_k = M_k\cdots M_1`, :math:`M = I - (\eta/b)\sum_{i\le b}a_ia_i^\top`,
no longer reduces to two scalars, and this module estimates its growth rates by Monte Carlo:

* :func:`lyapunov_exponent_mc`: :math:`\rho = \lim_k k^{-1}\log\|\Pi_k u\|` along long renormalised
  trajectories, with a standard error from batch means;
* :func:`moment_function_mc`: :math:`h(s)` as the log of the top eigenvalue of the transfer operator
  :math:`P_s f(u) = E[\|Mu\|^s f(Mu/\|Mu\|)]`, by a population (cloning) Monte Carlo on the unit sphere;
* :func:`tail_index_mc`: the root of :math:`h`, with a standard error from independent replicas;
* :func:`second_moment_spectral_radius` (closed form, Gaussian or independent coordinates) and
  :func:`second_moment_spectral_radius_mc` (any data): :math:`h(2) = \log r(E[M\otimes M])`, so the
  stationary law has infinite variance (``alpha < 2``) exactly when this spectral radius exceeds 1
  (and ``rho < 0``).

Data are given as a sampler ``sample_a(rng, n, dim) -> (n, dim) array`` of i.i.d. inputs; the
factories :func:`gaussian_sampler`, :func:`rademacher_sampler`, :func:`uniform_sampler` and
:func:`student_t_sampler` build the usual ones (all but the anisotropic Gaussian have covariance
``sigma^2 I``, so they can be compared with the Gaussian case at equal curvature).

Used in chapter: "Beyond isotropic Gaussian data".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import interpolate, optimize

from hts_lib.validation import check_array, check_int, check_positive, check_real, check_rng

__all__ = [
    "MCEstimate",
    "gaussian_sampler",
    "rademacher_sampler",
    "uniform_sampler",
    "student_t_sampler",
    "lyapunov_exponent_mc",
    "moment_function_mc",
    "tail_index_mc",
    "second_moment_spectral_radius",
    "second_moment_spectral_radius_mc",
]

Sampler = Callable[[np.random.Generator, int, int], np.ndarray]

#: Largest tail index searched for by :func:`tail_index_mc` (as in :data:`hts_lib.recursion.exact.ALPHA_MAX`).
ALPHA_MAX = 50.0


@dataclass(frozen=True)
class MCEstimate:
    """A Monte Carlo estimate with its standard error.

    Attributes
    ----------
    value : float
        The estimate.
    stderr : float
        Its standard error (batch means or independent replicas, see the producing function).
    n : int
        Number of samples behind it (steps x chains, steps x walkers, or replicas).
    method : str
        Short description of how ``value`` and ``stderr`` were obtained.
    """

    value: float
    stderr: float
    n: int
    method: str

    def interval(self, z: float = 3.0) -> tuple[float, float]:
        """``(value - z * stderr, value + z * stderr)``."""
        return self.value - z * self.stderr, self.value + z * self.stderr


# ----------------------------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------------------------


def _spectrum_and_factor(cov, dim: int | None = None):
    """Return (spectrum, factor F) with cov = F F^T; cov is a 1-D spectrum or a symmetric matrix."""
    arr = check_array("cov", cov, ndim=(1, 2))
    if arr.ndim == 1:
        if np.any(arr <= 0):
            raise ValueError("cov (a spectrum) must hold positive variances")
        return arr, None
    if arr.shape[0] != arr.shape[1] or not np.allclose(arr, arr.T, rtol=1e-12, atol=1e-14 * np.abs(arr).max()):
        raise ValueError(f"cov must be a symmetric square matrix, got shape {arr.shape}")
    lam, vec = np.linalg.eigh(0.5 * (arr + arr.T))
    if lam.min() <= 0:
        raise ValueError("cov must be positive definite")
    return lam, vec * np.sqrt(lam)[None, :]


def gaussian_sampler(cov) -> Sampler:
    """Sampler of ``a ~ N(0, cov)``; ``cov`` is a 1-D spectrum (diagonal covariance) or a matrix.

    Parameters
    ----------
    cov : array_like
        Positive variances (length ``d``) or a symmetric positive definite ``d x d`` matrix.

    Returns
    -------
    callable
        ``sample_a(rng, n, dim) -> (n, dim)`` (``dim`` must equal ``d``).

    Raises
    ------
    ValueError
        If ``cov`` is not a positive spectrum or a symmetric positive definite matrix.

    Notes
    -----
    The law of the SGD products depends on ``cov`` only through its eigenvalues (rotational
    invariance of the Gaussian), so a diagonal covariance loses no generality.

    Examples
    --------
    >>> a = gaussian_sampler([1.0, 4.0])(np.random.default_rng(0), 100_000, 2)
    >>> np.round(a.var(axis=0), 1)
    array([1., 4.])
    """
    lam, factor = _spectrum_and_factor(cov)
    d = lam.size
    sd = np.sqrt(lam)

    def sample_a(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        if dim != d:
            raise ValueError(f"dim must equal the size of cov ({d}), got {dim}")
        z = rng.standard_normal((n, d))
        return z * sd if factor is None else z @ factor.T

    sample_a.spectrum = lam            # used by second_moment_spectral_radius
    sample_a.kurtosis = 3.0
    return sample_a


def _iid_sampler(draw, kurt: float, sigma: float) -> Sampler:
    def sample_a(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        return sigma * draw(rng, (n, dim))

    sample_a.sigma = sigma
    sample_a.kurtosis = kurt
    return sample_a


def rademacher_sampler(sigma: float = 1.0) -> Sampler:
    """Sampler of inputs with i.i.d. coordinates ``+-sigma`` (kurtosis 1).

    Examples
    --------
    >>> np.unique(rademacher_sampler(2.0)(np.random.default_rng(0), 100, 3)).tolist()
    [-2.0, 2.0]
    """
    sigma = check_positive("sigma", sigma)
    return _iid_sampler(lambda rng, shape: 2.0 * rng.integers(0, 2, size=shape) - 1.0, 1.0, sigma)


def uniform_sampler(sigma: float = 1.0) -> Sampler:
    """Sampler of inputs with i.i.d. coordinates uniform on ``[-sqrt(3) sigma, sqrt(3) sigma]``
    (variance ``sigma^2``, kurtosis 9/5).

    Examples
    --------
    >>> x = uniform_sampler()(np.random.default_rng(0), 200_000, 1)
    >>> round(float(x.var()), 2)
    1.0
    """
    sigma = check_positive("sigma", sigma)
    r3 = math.sqrt(3.0)
    return _iid_sampler(lambda rng, shape: rng.uniform(-r3, r3, size=shape), 1.8, sigma)


def student_t_sampler(nu: float, sigma: float = 1.0) -> Sampler:
    """Sampler of inputs with i.i.d. Student-t coordinates scaled to variance ``sigma^2``.

    Parameters
    ----------
    nu : float
        Degrees of freedom, ``nu > 4`` so that the fourth moment (needed for ``E[M (x) M]``) is
        finite; the kurtosis is ``3 + 6 / (nu - 4)``.
    sigma : float
        Standard deviation of each coordinate.

    Notes
    -----
    Student-t data have only moments of order ``< nu``: ``E||M||^s`` is finite only for
    ``s < nu / 2``, so ``h(s)`` and ``alpha`` are meaningful only below that order, and the
    stationary tail index is at most ``nu / 2`` whatever the root of ``h`` says. The paper's
    theorem assumes all moments finite; this sampler is for exploring what heavy-tailed data do.

    Examples
    --------
    >>> x = student_t_sampler(10.0)(np.random.default_rng(0), 400_000, 1)
    >>> round(float(x.var()), 1)
    1.0
    """
    nu = check_real("nu", nu, low=4.0, low_open=True)
    sigma = check_positive("sigma", sigma)
    scale = math.sqrt((nu - 2.0) / nu)
    return _iid_sampler(lambda rng, shape: scale * rng.standard_t(nu, size=shape),
                        3.0 + 6.0 / (nu - 4.0), sigma)


def _default_sampler(dim: int) -> Sampler:
    return gaussian_sampler(np.ones(dim))


# ----------------------------------------------------------------------------------------------
# Common machinery
# ----------------------------------------------------------------------------------------------


def _check_common(eta, batch_size, dim, sample_a):
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    if sample_a is None:
        sample_a = _default_sampler(d)
    elif not callable(sample_a):
        raise TypeError("sample_a must be a callable sample_a(rng, n, dim) -> (n, dim) array")
    return eta, b, d, sample_a


def _draw(sample_a: Sampler, rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    a = np.asarray(sample_a(rng, n, d), dtype=float)
    if a.shape != (n, d):
        raise ValueError(f"sample_a(rng, {n}, {d}) must return shape {(n, d)}, got {a.shape}")
    return a


def _apply_m(u: np.ndarray, a: np.ndarray, eta_over_b: float) -> np.ndarray:
    """Rows of ``u`` (n, d) times their own ``M = I - (eta/b) sum_i a_i a_i^T``; ``a`` is (n, b, d)."""
    proj = np.einsum("nbd,nd->nb", a, u)
    return u - eta_over_b * np.einsum("nbd,nb->nd", a, proj)


def _random_directions(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    u = rng.standard_normal((n, d))
    return u / np.linalg.norm(u, axis=1, keepdims=True)


def _batch_means_se(x: np.ndarray, n_batches: int) -> tuple[float, float]:
    """Mean and batch-means standard error of a (time, ...) array, batches along time."""
    t = x.shape[0]
    nb = max(2, min(n_batches, t))
    usable = (t // nb) * nb
    blocks = x[:usable].reshape(nb, usable // nb, -1).mean(axis=1).ravel()
    return float(x.mean()), float(blocks.std(ddof=1) / math.sqrt(blocks.size))


# ----------------------------------------------------------------------------------------------
# Lyapunov exponent
# ----------------------------------------------------------------------------------------------


def lyapunov_exponent_mc(eta: float, batch_size: int, dim: int, sample_a: Sampler | None = None, *,
                         n_steps: int = 20_000, n_chains: int = 16, burn_in: int = 200,
                         n_batches: int = 20, seed=None) -> MCEstimate:
    r"""Top Lyapunov exponent ``rho`` of online SGD for general data, by renormalised products.

    Parameters
    ----------
    eta : float
        Step size, ``eta > 0``.
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sample_a : callable, optional
        ``sample_a(rng, n, dim) -> (n, dim)`` i.i.d. inputs; default ``N(0, I_d)``.
    n_steps : int
        Steps per chain after the burn-in.
    n_chains : int
        Independent trajectories run side by side (vectorised).
    burn_in : int
        Steps discarded at the start (the direction forgets its random start).
    n_batches : int
        Batches per chain for the batch-means standard error.
    seed : int, numpy Generator or None
        Randomness.

    Returns
    -------
    MCEstimate
        ``rho`` with a batch-means standard error over ``n_chains x n_batches`` blocks.

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    :math:`\rho = \lim_k k^{-1}\sum_{j\le k}\log\|M_j u_{j-1}\|` with
    :math:`u_j = M_j u_{j-1}/\|M_j u_{j-1}\|` (Furstenberg-Kesten), for almost every start. The
    increments are correlated through the direction ``u``, so the error is estimated from means
    over blocks of ``n_steps / n_batches`` consecutive steps. A step that maps ``u`` to 0 exactly
    (possible for discrete data) gives ``-inf``.

    Used in chapter: "Beyond isotropic Gaussian data".

    Examples
    --------
    >>> est = lyapunov_exponent_mc(0.1, 1, 10, n_steps=2000, seed=0)
    >>> round(est.value, 2), est.stderr < 0.01      # exact (theory.lyapunov_exponent): -0.0462
    (-0.05, True)
    """
    eta, b, d, sample_a = _check_common(eta, batch_size, dim, sample_a)
    n_steps = check_int("n_steps", n_steps, low=2)
    n_chains = check_int("n_chains", n_chains, low=1)
    burn_in = check_int("burn_in", burn_in, low=0)
    n_batches = check_int("n_batches", n_batches, low=2)
    if n_batches > n_steps:
        raise ValueError(f"n_batches must be <= n_steps, got {n_batches} > {n_steps}")
    rng = check_rng(seed)
    u = _random_directions(rng, n_chains, d)
    logs = np.empty((n_steps, n_chains))
    chunk = max(1, 4096 // max(1, n_chains * b))
    t = -burn_in
    eob = eta / b
    while t < n_steps:
        m = min(chunk, n_steps - t)
        a = _draw(sample_a, rng, m * n_chains * b, d).reshape(m, n_chains, b, d)
        for j in range(m):
            v = _apply_m(u, a[j], eob)
            nrm = np.linalg.norm(v, axis=1)
            if np.any(nrm == 0.0):
                return MCEstimate(-math.inf, 0.0, n_chains * max(t, 0), "renormalised products (hit 0)")
            if t >= 0:
                logs[t] = np.log(nrm)
            u = v / nrm[:, None]
            t += 1
    value, se = _batch_means_se(logs, n_batches)
    return MCEstimate(value, se, n_steps * n_chains,
                      f"renormalised products, {n_chains} chains x {n_steps} steps, batch means")


# ----------------------------------------------------------------------------------------------
# Moment function: population Monte Carlo on the sphere
# ----------------------------------------------------------------------------------------------


def _population_log_means(s_values: np.ndarray, eta: float, b: int, d: int, sample_a: Sampler,
                          n_walkers: int, n_steps: int, burn_in: int, rng: np.random.Generator,
                          n_replicas: int = 1) -> np.ndarray:
    """log of the mean weight at each recorded step: array (n_steps, n_s, n_replicas).

    ``n_replicas`` independent populations of ``n_walkers`` walkers are run side by side (each
    resampled within itself). Within a replica all orders ``s`` share the inputs and the
    resampling uniforms (common random numbers), so the estimated ``h`` is smooth in ``s``.
    """
    n_s, n_r, n_w = s_values.size, n_replicas, n_walkers
    n_tot = n_r * n_w
    u = np.broadcast_to(_random_directions(rng, n_tot, d), (n_s, n_tot, d)).copy()
    out = np.empty((n_steps, n_s, n_r))
    eob = eta / b
    offsets = np.arange(n_w) / n_w
    base = (np.arange(n_r) * n_w)[:, None]
    for t in range(-burn_in, n_steps):
        a = _draw(sample_a, rng, n_tot * b, d).reshape(n_tot, b, d)
        proj = np.einsum("wbd,swd->swb", a, u)
        v = u - eob * np.einsum("wbd,swb->swd", a, proj)
        nrm = np.linalg.norm(v, axis=2)
        with np.errstate(divide="ignore"):
            logw = (s_values[:, None] * np.log(nrm)).reshape(n_s, n_r, n_w)
        mx = logw.max(axis=2, keepdims=True)
        w = np.exp(logw - mx)
        tot = w.sum(axis=2)
        if t >= 0:
            out[t] = mx[:, :, 0] + np.log(tot / n_w)
        # systematic resampling within each replica, one uniform per replica shared by all orders
        cum = np.cumsum(w, axis=2) / tot[:, :, None]
        cum[:, :, -1] = 1.0
        pos = rng.random((n_r, 1)) / n_w + offsets[None, :]
        idx = np.empty((n_s, n_r, n_w), dtype=np.intp)
        for i in range(n_s):
            for r in range(n_r):
                idx[i, r] = np.searchsorted(cum[i, r], pos[r], side="right")
        np.minimum(idx, n_w - 1, out=idx)
        idx = (idx + base[None, :, :]).reshape(n_s, n_tot)
        v_sel = np.take_along_axis(v, idx[:, :, None], axis=1)
        n_sel = np.take_along_axis(nrm, idx, axis=1)
        u = v_sel / np.where(n_sel > 0, n_sel, 1.0)[:, :, None]
    return out


def _h_from_log_means(log_means: np.ndarray) -> np.ndarray:
    """h = log(time average of the mean weights), per order and replica: (n_s, n_replicas)."""
    ref = log_means.max(axis=0)
    return ref + np.log(np.exp(log_means - ref).mean(axis=0))


def moment_function_mc(s: float, eta: float, batch_size: int, dim: int, sample_a: Sampler | None = None, *,
                       n_walkers: int = 2000, n_steps: int = 300, burn_in: int = 100, n_replicas: int = 8,
                       seed=None) -> MCEstimate:
    r"""Moment function ``h(s)`` of online SGD for general data, by population Monte Carlo.

    Parameters
    ----------
    s : float
        Order, ``s >= 0``.
    eta, batch_size, dim, sample_a
        As in :func:`lyapunov_exponent_mc`.
    n_walkers : int
        Population size (per replica) on the unit sphere.
    n_steps : int
        Recorded steps (after ``burn_in``).
    burn_in : int
        Steps for the population to reach the quasi-stationary law of directions.
    n_replicas : int
        Independent populations; the estimate is their mean, the standard error their standard
        deviation over ``sqrt(n_replicas)`` (no assumption on time correlations).
    seed : int, numpy Generator or None
        Randomness.

    Returns
    -------
    MCEstimate
        ``h(s)`` with a standard error from independent replicas.

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    :math:`e^{h(s)}` is the top eigenvalue :math:`\lambda_s` of the transfer operator
    :math:`P_s f(u) = E[\|Mu\|^s f(Mu/\|Mu\|)]` on the sphere. A population of walkers is moved by
    independent copies of ``M``, weighted by :math:`\|Mu\|^s` and resampled (systematic
    resampling) in proportion to the weights; at stationarity the mean weight has expectation
    :math:`\lambda_s`, up to an ``O(1/n_walkers)`` bias from the finite population's law of
    directions. That bias vanishes for isotropic data (the weight's law does not depend on the
    direction); for the anisotropic example of the tests (spectrum 0.25, 1, 2.5, ``eta = 0.4``,
    ``s = 2``) it is about ``-1.9 / n_walkers`` in ``h``, which is why the tests use 4000 walkers
    there. We average the mean weights over time and take the log (averaging logs would add a
    Jensen bias of order ``Var / n_walkers`` per step).

    Used in chapter: "Beyond isotropic Gaussian data".

    Examples
    --------
    >>> est = moment_function_mc(2.0, 0.1, 1, 10, n_walkers=200, n_steps=100, n_replicas=4, seed=0)
    >>> bool(abs(est.value - np.log(0.92)) < 3 * est.stderr)   # exact h(2) = log(1 - 2 eta + 12 eta^2)
    True
    """
    s = check_real("s", s, low=0.0)
    eta, b, d, sample_a = _check_common(eta, batch_size, dim, sample_a)
    n_walkers = check_int("n_walkers", n_walkers, low=2)
    n_steps = check_int("n_steps", n_steps, low=1)
    burn_in = check_int("burn_in", burn_in, low=0)
    n_replicas = check_int("n_replicas", n_replicas, low=2)
    rng = check_rng(seed)
    lm = _population_log_means(np.array([s]), eta, b, d, sample_a, n_walkers, n_steps, burn_in, rng, n_replicas)
    h = _h_from_log_means(lm)[0]
    return MCEstimate(float(h.mean()), float(h.std(ddof=1) / math.sqrt(n_replicas)), n_replicas * n_walkers * n_steps,
                      f"population Monte Carlo, {n_replicas} independent replicas x {n_walkers} walkers x "
                      f"{n_steps} steps")


def _root_from_grid(s_grid: np.ndarray, h: np.ndarray) -> float:
    """Positive root of a convex ``h`` sampled on an increasing grid whose first value is < 0:
    a cubic spline through the samples (common random numbers make them smooth in ``s``) and
    Brent's method on the bracketing interval. ``inf`` if ``h`` never turns positive."""
    pos = np.nonzero(h > 0)[0]
    if pos.size == 0:
        return math.inf
    j = int(pos[0])
    if j == 0:
        return math.nan
    spline = interpolate.CubicSpline(s_grid, h)
    lo, hi = float(s_grid[j - 1]), float(s_grid[j])
    if spline(lo) < 0 < spline(hi):
        return float(optimize.brentq(spline, lo, hi, xtol=1e-12 * hi))
    return lo + (hi - lo) * float(-h[j - 1] / (h[j] - h[j - 1]))


def tail_index_mc(eta: float, batch_size: int, dim: int, sample_a: Sampler | None = None, *,
                  n_walkers: int = 2000, n_steps: int = 300, burn_in: int = 100, n_replicas: int = 8,
                  n_grid: int = 9, seed=None) -> MCEstimate:
    r"""Tail index ``alpha`` of online SGD for general data: the root of the Monte Carlo ``h``.

    Parameters
    ----------
    eta, batch_size, dim, sample_a
        As in :func:`lyapunov_exponent_mc`.
    n_walkers, n_steps, burn_in
        Population size and length of each population run (see :func:`moment_function_mc`).
    n_replicas : int
        Independent replicas; ``alpha`` is their mean and the standard error their standard
        deviation over ``sqrt(n_replicas)``.
    n_grid : int
        Orders per refinement pass (two passes: a geometric search grid, then a fine grid).
    seed : int, numpy Generator or None
        Randomness.

    Returns
    -------
    MCEstimate
        ``alpha`` and its standard error. ``value`` is ``inf`` when every replica has
        ``h(ALPHA_MAX) < 0`` (``alpha > 50``) and ``nan`` when ``h > 0`` already at the smallest
        order tried, ``2^-8`` (no stationary law, or ``alpha`` below that).

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    Each replica runs the population of :func:`moment_function_mc` for a grid of orders at once
    with common random numbers, first on 15 orders ``2^-8, ..., 50`` (geometric) to bracket the
    sign change of ``h``, then on ``n_grid`` orders spanning the bracket; the root is that of a
    cubic spline through the fine grid.
    The replicas are independent, so their spread is an honest standard error (it includes the
    interpolation and finite-population effects that vary between replicas).

    Used in chapter: "Beyond isotropic Gaussian data".

    Examples
    --------
    >>> est = tail_index_mc(0.6553, 1, 2, n_walkers=1000, n_steps=200, n_replicas=4, seed=1)
    >>> abs(est.value - 1.0) < 4 * est.stderr + 0.02    # exact alpha = 1.000 (theory.tail_index)
    True
    """
    eta, b, d, sample_a = _check_common(eta, batch_size, dim, sample_a)
    n_walkers = check_int("n_walkers", n_walkers, low=2)
    n_steps = check_int("n_steps", n_steps, low=2)
    burn_in = check_int("burn_in", burn_in, low=0)
    n_replicas = check_int("n_replicas", n_replicas, low=2)
    n_grid = check_int("n_grid", n_grid, low=3)
    rng = check_rng(seed)
    coarse = np.geomspace(2.0 ** -8, ALPHA_MAX, 15)
    alphas = []
    for _ in range(n_replicas):
        sub = np.random.default_rng(rng.integers(2 ** 63))
        st = sub.bit_generator.state
        lm = _population_log_means(coarse, eta, b, d, sample_a, n_walkers, n_steps, burn_in, sub)
        h = _h_from_log_means(lm)[:, 0]
        pos = np.nonzero(h > 0)[0]
        if pos.size == 0:
            alphas.append(math.inf)
            continue
        j = int(pos[0])
        if j == 0:
            alphas.append(math.nan)
            continue
        fine = np.linspace(coarse[j - 1], coarse[j], n_grid)
        sub.bit_generator.state = st            # same random numbers for the fine pass
        lm = _population_log_means(fine, eta, b, d, sample_a, n_walkers, n_steps, burn_in, sub)
        h = _h_from_log_means(lm)[:, 0]
        root = _root_from_grid(fine, h)
        if not math.isfinite(root):             # the fine pass disagreed at the edge: use the coarse one
            root = float(fine[-1]) if root == math.inf else float(fine[0])
        alphas.append(root)
    arr = np.array(alphas)
    method = f"root of population-MC h, {n_replicas} replicas x {n_walkers} walkers x {n_steps} steps"
    if np.all(np.isinf(arr)):
        return MCEstimate(math.inf, math.nan, n_replicas, method)
    if np.any(np.isnan(arr)) or np.any(np.isinf(arr)):
        return MCEstimate(math.nan, math.nan, n_replicas, method + " (replicas disagree on the bracket)")
    return MCEstimate(float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size)), n_replicas, method)


# ----------------------------------------------------------------------------------------------
# The second-moment operator E[M (x) M]
# ----------------------------------------------------------------------------------------------


def second_moment_spectral_radius(eta: float, batch_size: int, cov, kurtosis: float = 3.0) -> float:
    r"""Spectral radius of ``E[M (x) M]`` in closed form: ``h(2) = log`` of it.

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

    Used in chapter: "Beyond isotropic Gaussian data".

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
    arr = check_array("cov", cov, ndim=(1, 2))
    if arr.ndim == 2 and kurtosis != 3.0:
        raise ValueError("a full covariance matrix is only supported for Gaussian data (kurtosis=3); "
                         "give a 1-D spectrum for independent non-Gaussian coordinates")
    lam, _ = _spectrum_and_factor(arr)
    diag = (1.0 - eta * lam) ** 2 + (eta * eta / b) * (kurtosis - 2.0) * lam * lam
    dmat = np.diag(diag) + (eta * eta / b) * np.outer(lam, lam)
    radius = float(np.max(np.abs(np.linalg.eigvalsh(dmat))))
    if lam.size > 1:
        iu = np.triu_indices(lam.size, k=1)
        lp, lq = lam[iu[0]], lam[iu[1]]
        off = 1.0 - eta * (lp + lq) + eta * eta * (b + 1) / b * lp * lq
        radius = max(radius, float(np.max(np.abs(off))))
    return radius


def second_moment_spectral_radius_mc(eta: float, batch_size: int, dim: int, sample_a: Sampler | None = None, *,
                                     n_samples: int = 100_000, n_replicas: int = 10, seed=None) -> MCEstimate:
    r"""Spectral radius of ``E[M (x) M]`` for any data, from Monte Carlo moments of the inputs.

    Parameters
    ----------
    eta, batch_size, dim, sample_a
        As in :func:`lyapunov_exponent_mc` (``dim <= 30``: the operator is ``d^2 x d^2``).
    n_samples : int
        Inputs drawn per replica.
    n_replicas : int
        Blocks for the delete-one-block jackknife (bias correction and standard error).
    seed : int, numpy Generator or None
        Randomness.

    Returns
    -------
    MCEstimate
        Estimate of ``r(E[M (x) M]) = exp(h(2))``; ``alpha < 2`` iff it exceeds 1.

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Notes
    -----
    The batch structure is exact: with :math:`\Sigma = E aa^\top` and
    :math:`K = E[(aa^\top)\otimes(aa^\top)]` estimated from the samples,
    :math:`E[M\otimes M] = I\otimes I - \eta(\Sigma\otimes I + I\otimes\Sigma)
    + \tfrac{\eta^2}{b}\big((b-1)\Sigma\otimes\Sigma + K\big)`. This operator estimate is unbiased,
    but its spectral radius is not: near-degenerate eigenvalues (isotropic data) push the top one up
    by ``O(1/(n gap))``, which can exceed the sampling error. The delete-one-block jackknife over
    ``n_replicas`` blocks removes the ``O(1/n)`` bias and gives the standard error.

    Used in chapter: "Beyond isotropic Gaussian data".

    Examples
    --------
    >>> est = second_moment_spectral_radius_mc(0.1, 1, 3, rademacher_sampler(), n_samples=20_000, seed=0)
    >>> exact = second_moment_spectral_radius(0.1, 1, np.ones(3), kurtosis=1.0)
    >>> abs(est.value - exact) < 4 * est.stderr + 1e-12
    True
    """
    eta, b, d, sample_a = _check_common(eta, batch_size, dim, sample_a)
    if d > 30:
        raise ValueError(f"dim must be <= 30 for the d^2 x d^2 operator, got {d}")
    n_samples = check_int("n_samples", n_samples, low=10)
    n_replicas = check_int("n_replicas", n_replicas, low=2)
    rng = check_rng(seed)
    eye = np.eye(d)
    chunk = max(1, 2_000_000 // (d * d * d * d + 1))
    sig_blocks, k4_blocks = [], []
    for _ in range(n_replicas):
        sig = np.zeros((d, d))
        k4 = np.zeros((d * d, d * d))
        done = 0
        while done < n_samples:
            m = min(chunk, n_samples - done)
            a = _draw(sample_a, rng, m, d)
            sig += a.T @ a
            v = (a[:, :, None] * a[:, None, :]).reshape(m, d * d)
            k4 += v.T @ v
            done += m
        sig_blocks.append(sig)
        k4_blocks.append(k4)

    def radius(sig, k4):
        op = (np.kron(eye, eye) - eta * (np.kron(sig, eye) + np.kron(eye, sig))
              + (eta * eta / b) * ((b - 1) * np.kron(sig, sig) + k4))
        return float(np.max(np.abs(np.linalg.eigvals(op))))

    sig_tot, k4_tot = sum(sig_blocks), sum(k4_blocks)
    r = n_replicas
    theta_all = radius(sig_tot / (n_samples * r), k4_tot / (n_samples * r))
    loo = np.array([radius((sig_tot - s_) / (n_samples * (r - 1)), (k4_tot - k_) / (n_samples * (r - 1)))
                    for s_, k_ in zip(sig_blocks, k4_blocks)])
    value = r * theta_all - (r - 1) * float(loo.mean())
    se = math.sqrt((r - 1) / r * float(((loo - loo.mean()) ** 2).sum()))
    return MCEstimate(value, se, n_samples * n_replicas,
                      f"moments of {n_samples * n_replicas} inputs, jackknife over {n_replicas} blocks")
