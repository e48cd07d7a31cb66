r"""Monte Carlo Lyapunov exponent, moment function and tail index of random matrix products, for any law.

For isotropic Gaussian inputs :mod:`hts_lib.recursion.exact` computes everything exactly. For other data
(an anisotropic covariance, or non-Gaussian inputs such as Rademacher, uniform or Student-t
coordinates) the product :math:`\Pi_k = M_k\cdots M_1` no longer reduces to two scalars, and this module
estimates its growth rates by Monte Carlo. The engines take the random matrix as a *matrix action*
``apply_m(rng, u)`` (see :mod:`hts_lib.recursion.samplers`), so they serve any model where :math:`Mu` can be
computed, a network's minibatch Hessians included:

* :func:`matrix_lyapunov_exponent_mc`: :math:`\rho = \lim_k k^{-1}\log\|\Pi_k u\|` along long renormalised
  trajectories, with a standard error from batch means;
* :func:`population_log_moments` and :func:`matrix_log_moment_mc`: :math:`h(s)` as the log of the top
  eigenvalue of the transfer operator :math:`P_s f(u) = E[\|Mu\|^s f(Mu/\|Mu\|)]`, by a population (cloning)
  Monte Carlo on the unit sphere;
* :func:`matrix_tail_index_mc`: the root of :math:`h`, with a standard error from independent replicas.

For online SGD on linear regression, :math:`M = I - (\eta/b)\sum_{i\le b}a_ia_i^\top` with inputs from an
input sampler ``sample_a(rng, n, dim)``, the same three quantities are :func:`lyapunov_exponent_mc`,
:func:`log_moment_mc` and :func:`tail_index_mc` (the engines above run on
:func:`hts_lib.recursion.sgd_multiplier`), and :func:`second_moment_spectral_radius_mc` estimates
:math:`e^{h(2)} = r(E[M\otimes M])` from moments of the inputs (its closed form is
:func:`hts_lib.recursion.second_moment_spectral_radius`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import interpolate, optimize

from hts_lib._deprecated import forward
from hts_lib.recursion.samplers import (
    InputSampler,
    MatrixAction,
    check_input_sampler,
    draw_inputs,
    sgd_multiplier,
)
from hts_lib.validation import check_array, check_callable, check_int, check_positive, check_real, check_rng

__all__ = [
    "MCEstimate",
    "matrix_lyapunov_exponent_mc",
    "PopulationTrace",
    "population_trace",
    "population_log_moments",
    "matrix_log_moment_mc",
    "matrix_tail_index_mc",
    "lyapunov_exponent_mc",
    "log_moment_mc",
    "tail_index_mc",
    "second_moment_spectral_radius_mc",
]

#: Largest tail index searched for by :func:`matrix_tail_index_mc` (as :data:`hts_lib.recursion.ALPHA_MAX`).
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
        """Return ``(value - z * stderr, value + z * stderr)``."""
        return self.value - z * self.stderr, self.value + z * self.stderr


# ----------------------------------------------------------------------------------------------
# Common machinery
# ----------------------------------------------------------------------------------------------


def _check_action(apply_m, dim) -> int:
    check_callable("apply_m", apply_m)
    return check_int("dim", dim, low=1)


def _check_population(n_walkers, n_steps, burn_in, n_replicas, *, min_steps: int = 1, min_replicas: int = 2):
    return (
        check_int("n_walkers", n_walkers, low=2),
        check_int("n_steps", n_steps, low=min_steps),
        check_int("burn_in", burn_in, low=0),
        check_int("n_replicas", n_replicas, low=min_replicas),
    )


def _check_orders(orders) -> np.ndarray:
    arr = check_array("orders", orders, ndim=1)
    if np.any(arr < 0):
        raise ValueError(f"orders must be >= 0, got {arr.tolist()}")
    return arr


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


def matrix_lyapunov_exponent_mc(
    apply_m: MatrixAction,
    dim: int,
    *,
    n_steps: int = 20_000,
    n_chains: int = 16,
    burn_in: int = 200,
    n_batches: int = 20,
    seed=None,
) -> MCEstimate:
    r"""Return the top Lyapunov exponent ``rho`` of products of i.i.d. random matrices, by renormalisation.

    Parameters
    ----------
    apply_m : callable
        Matrix action ``apply_m(rng, u) -> v`` (:mod:`hts_lib.recursion.samplers`), called once per step on
        the ``(n_chains, dim)`` array of current directions.
    dim : int
        Dimension ``d >= 1``.
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
    ValueError, TypeError
        If an argument is outside its range, or ``apply_m`` is not callable.

    Notes
    -----
    :math:`\rho = \lim_k k^{-1}\sum_{j\le k}\log\|M_j u_{j-1}\|` with
    :math:`u_j = M_j u_{j-1}/\|M_j u_{j-1}\|` (Furstenberg-Kesten), for almost every start. The
    increments are correlated through the direction ``u``, so the error is estimated from means
    over blocks of ``n_steps / n_batches`` consecutive steps. A step that maps ``u`` to 0 exactly
    (possible for discrete data) gives ``-inf``.

    Examples
    --------
    >>> from hts_lib.recursion import sgd_multiplier
    >>> est = matrix_lyapunov_exponent_mc(sgd_multiplier(0.1, 1, 10), 10, n_steps=2000, seed=0)
    >>> round(est.value, 2), est.stderr < 0.01      # exact (hts_lib.recursion.lyapunov_exponent): -0.0462
    (-0.05, True)
    """
    d = _check_action(apply_m, dim)
    n_steps = check_int("n_steps", n_steps, low=2)
    n_chains = check_int("n_chains", n_chains, low=1)
    burn_in = check_int("burn_in", burn_in, low=0)
    n_batches = check_int("n_batches", n_batches, low=2)
    if n_batches > n_steps:
        raise ValueError(f"n_batches must be <= n_steps, got {n_batches} > {n_steps}")
    rng = check_rng(seed)
    u = _random_directions(rng, n_chains, d)
    logs = np.empty((n_steps, n_chains))
    for t in range(-burn_in, n_steps):
        v = apply_m(rng, u)
        nrm = np.linalg.norm(v, axis=1)
        if np.any(nrm == 0.0):
            return MCEstimate(-math.inf, 0.0, n_chains * max(t, 0), "renormalised products (hit 0)")
        if t >= 0:
            logs[t] = np.log(nrm)
        u = v / nrm[:, None]
    value, se = _batch_means_se(logs, n_batches)
    return MCEstimate(
        value,
        se,
        n_steps * n_chains,
        f"renormalised products, {n_chains} chains x {n_steps} steps, batch means",
    )


def _prefetching(apply_m: MatrixAction, n_rows: int, n_calls: int) -> MatrixAction:
    """Return the SGD multiplier ``apply_m`` for exactly ``n_calls`` calls on ``n_rows`` rows, drawing ahead.

    It draws the inputs of up to ``4096 / (n_rows b)`` calls with one sampler call (the draws of
    :func:`lyapunov_exponent_mc` since hts_lib 0.1, so its numbers are unchanged), which saves the
    per-call overhead of the sampler on small problems.
    """
    b, d, eob = apply_m.batch_size, apply_m.dim, apply_m.eta / apply_m.batch_size
    chunk = max(1, 4096 // max(1, n_rows * b))
    state = {"inputs": np.empty((0, n_rows, b, d)), "next": 0, "done": 0}

    def apply(rng: np.random.Generator, u: np.ndarray) -> np.ndarray:
        if state["next"] == len(state["inputs"]):
            m = min(chunk, n_calls - state["done"])
            state["inputs"] = draw_inputs(apply_m.sample_a, rng, m * n_rows * b, d).reshape(m, n_rows, b, d)
            state["next"] = 0
        a = state["inputs"][state["next"]]
        state["next"] += 1
        state["done"] += 1
        proj = np.einsum("nbd,...nd->...nb", a, u)
        return u - eob * np.einsum("nbd,...nb->...nd", a, proj)

    return apply


def lyapunov_exponent_mc(
    eta: float,
    batch_size: int,
    dim: int,
    sample_a: InputSampler | None = None,
    *,
    n_steps: int = 20_000,
    n_chains: int = 16,
    burn_in: int = 200,
    n_batches: int = 20,
    seed=None,
) -> MCEstimate:
    r"""Return the top Lyapunov exponent ``rho`` of online SGD for any input law, by renormalised products.

    :func:`matrix_lyapunov_exponent_mc` for the SGD multiplier
    :math:`M = I - (\eta/b)\sum_{i\le b}a_ia_i^\top`.

    Parameters
    ----------
    eta : float
        Step size, ``eta > 0``.
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sample_a : callable, optional
        Input sampler ``sample_a(rng, n, dim) -> (n, dim)`` of i.i.d. inputs; default ``N(0, I_d)``.
    n_steps, n_chains, burn_in, n_batches, seed
        As in :func:`matrix_lyapunov_exponent_mc`.

    Returns
    -------
    MCEstimate
        ``rho`` with a batch-means standard error.

    Raises
    ------
    ValueError, TypeError
        If an argument is outside its range, or ``sample_a`` is not callable.

    Used in: chapters/ch04_random_linear_recursions.ipynb, chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> est = lyapunov_exponent_mc(0.1, 1, 10, n_steps=2000, seed=0)
    >>> round(est.value, 2), est.stderr < 0.01      # exact (hts_lib.recursion.lyapunov_exponent): -0.0462
    (-0.05, True)
    """
    apply_m = sgd_multiplier(eta, batch_size, dim, sample_a)
    n_steps = check_int("n_steps", n_steps, low=2)
    n_chains = check_int("n_chains", n_chains, low=1)
    burn_in = check_int("burn_in", burn_in, low=0)
    return matrix_lyapunov_exponent_mc(
        _prefetching(apply_m, n_chains, burn_in + n_steps),
        dim,
        n_steps=n_steps,
        n_chains=n_chains,
        burn_in=burn_in,
        n_batches=n_batches,
        seed=seed,
    )


# ----------------------------------------------------------------------------------------------
# Moment function: population Monte Carlo on the sphere
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PopulationTrace:
    r"""What one run of the population Monte Carlo recorded (see :func:`population_trace`).

    Attributes
    ----------
    orders : ndarray, shape (n_orders,)
        The orders ``s``.
    log_means : ndarray, shape (n_steps, n_orders, n_replicas)
        Log of each replica's mean weight :math:`\overline{\|Mu\|^s}` at each recorded step.
    mean_log_norm : ndarray, shape (n_orders, n_replicas)
        Time average of the walkers' mean :math:`\log\|Mu\|` (finite values only); at order 0, where no
        walker is reweighted, the Lyapunov exponent :math:`\rho` of each replica.
    ess_fraction : ndarray, shape (n_orders,)
        Mean effective sample size of the weights, :math:`(\sum w)^2/\sum w^2`, as a fraction of the
        walkers (recorded steps and replicas averaged); near 1 when the weights are nearly equal.
    unique_fraction : ndarray, shape (n_orders,)
        Mean fraction of distinct walkers that survive a resampling.
    n_resampled : int
        Resampling events (orders > 0 x replicas x steps, burn-in included).
    """

    orders: np.ndarray
    log_means: np.ndarray
    mean_log_norm: np.ndarray
    ess_fraction: np.ndarray
    unique_fraction: np.ndarray
    n_resampled: int

    def log_moments(self) -> np.ndarray:
        """``h(s)`` of each replica, shape (n_orders, n_replicas): log of its time-averaged mean weight."""
        ref = self.log_means.max(axis=0)
        return ref + np.log(np.exp(self.log_means - ref).mean(axis=0))


def _norms(v) -> np.ndarray:
    """Walker norms of a (n_orders, n_walkers, d) array as float64 numpy (a torch tensor is accepted)."""
    if isinstance(v, np.ndarray):
        return np.linalg.norm(v, axis=2)
    return v.norm(dim=2).double().cpu().numpy()  # a torch tensor: the matrix-free actions of hts_lib.nn


def _select(v, idx: np.ndarray, nrm: np.ndarray, out=None):
    """Walkers ``idx`` (n_orders, n_walkers) of ``v``, each divided by its norm.

    For a torch ``v`` the result is written into ``out`` when given (a tensor of ``v``'s shape that does not
    share its memory): the network walkers are hundreds of MB, and a fresh tensor per step costs more than the
    copy itself.
    """
    n_sel = np.take_along_axis(nrm, idx, axis=1)
    n_sel = np.where(n_sel > 0, n_sel, 1.0)
    if isinstance(v, np.ndarray):
        return np.take_along_axis(v, idx[:, :, None], axis=1) / n_sel[:, :, None]
    import torch  # v is a torch tensor, so torch is there

    n_s, n_w, d = v.shape
    rows = torch.from_numpy((idx + n_w * np.arange(n_s)[:, None]).ravel()).to(v.device)
    if out is None or out.data_ptr() == v.data_ptr():
        out = torch.empty_like(v)
    torch.index_select(v.reshape(-1, d), 0, rows, out=out.view(-1, d))
    return out.div_(torch.from_numpy(n_sel).to(v)[:, :, None])


def population_trace(
    orders,
    apply_m: MatrixAction,
    start,
    *,
    n_walkers: int,
    n_steps: int,
    burn_in: int,
    n_replicas: int,
    seed=None,
    diagnostics: bool = False,
) -> PopulationTrace:
    r"""Run the population (cloning) Monte Carlo for ``h(s)`` at several orders from given start directions.

    The one engine behind :func:`population_log_moments` (matrices drawn explicitly, numpy) and
    :func:`hts_lib.nn.linearised_tail_index` (matrix-free :math:`M_B = I - \eta H_B` from a network's
    minibatch Hessian-vector products, torch).

    Parameters
    ----------
    orders : array_like, shape (n_orders,)
        Orders ``s >= 0``.
    apply_m : callable
        Matrix action ``apply_m(rng, u) -> v`` on a ``(n_orders, n_replicas * n_walkers, d)`` array (numpy or
        torch): walker ``j`` of every order is moved by the same matrix (common random numbers).
    start : array (numpy or torch), shape (n_replicas * n_walkers, d)
        Unit start directions, shared by all orders.
    n_walkers, n_steps, burn_in, n_replicas : int
        Walkers per replica (>= 2), recorded steps (>= 1), burn-in steps (>= 0), independent populations (>=
        1).
    seed : int, numpy Generator or None
        Randomness of ``apply_m`` and of the resampling (a Generator is used, and advanced, in place).
    diagnostics : bool
        Also record the effective sample size and the fraction of distinct survivors (costs a sort per step).

    Returns
    -------
    PopulationTrace

    Raises
    ------
    ValueError, TypeError
        An argument outside its range, ``apply_m`` not callable, or ``start`` of the wrong shape.

    Notes
    -----
    At each step every walker :math:`u` becomes :math:`Mu`, is weighted by :math:`w = \|Mu\|^s` and the
    population of each replica is resampled in proportion to the weights (systematic resampling, one uniform
    per replica shared by all orders), the survivors renormalised to the sphere. The log of the mean weight is
    recorded; :meth:`PopulationTrace.log_moments` averages the mean weights over time before taking the log.
    A walker with :math:`Mu = 0` gets weight 0 at every order. Chapters 4, 8 and 13 use it (through the
    functions above).
    """
    s_values = _check_orders(orders)
    check_callable("apply_m", apply_m)
    n_walkers, n_steps, burn_in, n_replicas = _check_population(
        n_walkers, n_steps, burn_in, n_replicas, min_replicas=1
    )
    rng = check_rng(seed)
    n_s, n_r, n_w = s_values.size, n_replicas, n_walkers
    n_tot = n_r * n_w
    if getattr(start, "ndim", None) != 2 or start.shape[0] != n_tot:
        raise ValueError(f"start must have shape (n_replicas * n_walkers, d) = ({n_tot}, d)")
    if isinstance(start, np.ndarray):
        u = np.broadcast_to(start, (n_s,) + start.shape).copy()
    else:
        u = start.expand((n_s,) + tuple(start.shape)).clone()
    out = np.empty((n_steps, n_s, n_r))
    lognorm = np.zeros((n_s, n_r))
    ess, uniq = np.zeros(n_s), np.zeros(n_s)
    offsets = np.arange(n_w) / n_w
    base = (np.arange(n_r) * n_w)[:, None]
    for t in range(-burn_in, n_steps):
        v = apply_m(rng, u)
        nrm = _norms(v)
        with np.errstate(divide="ignore"):
            ln = np.log(nrm)
        logw = np.where(nrm > 0, s_values[:, None] * ln, -np.inf).reshape(n_s, n_r, n_w)
        mx = logw.max(axis=2, keepdims=True)
        w = np.exp(logw - mx)
        tot = w.sum(axis=2)
        if t >= 0:
            out[t] = mx[:, :, 0] + np.log(tot / n_w)
            lognorm += np.where(nrm > 0, ln, 0.0).reshape(n_s, n_r, n_w).mean(axis=2) / n_steps
        # systematic resampling within each replica, one uniform per replica shared by all orders
        cum = np.cumsum(w, axis=2) / tot[:, :, None]
        cum[:, :, -1] = 1.0
        pos = rng.random((n_r, 1)) / n_w + offsets[None, :]
        idx = np.empty((n_s, n_r, n_w), dtype=np.intp)
        for i in range(n_s):
            for r in range(n_r):
                idx[i, r] = np.searchsorted(cum[i, r], pos[r], side="right")
        np.minimum(idx, n_w - 1, out=idx)
        if diagnostics and t >= 0:
            ess += np.mean(tot**2 / (w**2).sum(axis=2), axis=1) / n_w / n_steps
            uniq += np.mean([[np.unique(idx[i, r]).size for r in range(n_r)] for i in range(n_s)], axis=1) / (
                n_w * n_steps
            )
        idx = (idx + base[None, :, :]).reshape(n_s, n_tot)
        u = _select(v, idx, nrm, out=None if isinstance(u, np.ndarray) else u)
    return PopulationTrace(
        orders=s_values,
        log_means=out,
        mean_log_norm=lognorm,
        ess_fraction=ess if diagnostics else np.full(n_s, np.nan),
        unique_fraction=uniq if diagnostics else np.full(n_s, np.nan),
        n_resampled=int(np.count_nonzero(s_values > 0)) * n_r * (n_steps + burn_in),
    )


def population_log_moments(
    orders,
    apply_m: MatrixAction,
    dim: int,
    *,
    n_walkers: int = 2000,
    n_steps: int = 300,
    burn_in: int = 100,
    n_replicas: int = 8,
    seed=None,
) -> np.ndarray:
    r"""Return population Monte Carlo estimates of ``h(s)`` at several orders, one per independent replica.

    The engine behind :func:`matrix_log_moment_mc` and :func:`matrix_tail_index_mc`, for callers that want the
    replicas themselves (their own root search, jackknife or diagnostics).

    Parameters
    ----------
    orders : array_like, shape (n_orders,)
        Orders ``s >= 0``.
    apply_m : callable
        Matrix action ``apply_m(rng, u) -> v`` (:mod:`hts_lib.recursion.samplers`), called once per step on a
        ``(n_orders, n_replicas * n_walkers, dim)`` array: the walkers of all orders share the matrices.
    dim : int
        Dimension ``d >= 1``.
    n_walkers : int
        Population size (per replica) on the unit sphere.
    n_steps : int
        Recorded steps (after ``burn_in``).
    burn_in : int
        Steps for the population to reach the quasi-stationary law of directions.
    n_replicas : int
        Independent populations, run side by side.
    seed : int, numpy Generator or None
        Randomness (a Generator is used, and advanced, in place).

    Returns
    -------
    ndarray, shape (n_orders, n_replicas)
        ``h(s)`` of each replica: the log of its mean weight averaged over the recorded steps.

    Raises
    ------
    ValueError, TypeError
        If an argument is outside its range, or ``apply_m`` is not callable.

    Notes
    -----
    :math:`e^{h(s)}` is the top eigenvalue :math:`\lambda_s` of the transfer operator
    :math:`P_s f(u) = E[\|Mu\|^s f(Mu/\|Mu\|)]` on the sphere. A population of walkers is moved by
    independent copies of ``M``, weighted by :math:`\|Mu\|^s` and resampled (systematic
    resampling) in proportion to the weights; at stationarity the mean weight has expectation
    :math:`\lambda_s`, up to an ``O(1/n_walkers)`` bias from the finite population's law of
    directions. That bias vanishes when the weight's law does not depend on the direction (isotropic
    data, or ``d = 1``); for the anisotropic example of the tests (spectrum 0.25, 1, 2.5, ``eta = 0.4``,
    ``s = 2``) it is about ``-1.9 / n_walkers`` in ``h``. The mean weights are averaged over time before
    the log is taken (averaging logs would add a Jensen bias of order ``Var / n_walkers`` per step). Within a
    replica every order sees the same matrices and resampling uniforms (common random numbers), so ``h`` is
    smooth in ``s``; the replicas are independent.

    Examples
    --------
    >>> from hts_lib.recursion import sgd_multiplier
    >>> h = population_log_moments([1.0, 2.0], sgd_multiplier(0.1, 1, 10), 10, n_walkers=200, n_steps=50,
    ...                            n_replicas=3, seed=0)
    >>> h.shape, bool(np.all(h < 0))          # exact h(2) = log(1 - 2 eta + 12 eta^2) = -0.083
    ((2, 3), True)
    """
    s_values = _check_orders(orders)
    d = _check_action(apply_m, dim)
    n_walkers, n_steps, burn_in, n_replicas = _check_population(
        n_walkers, n_steps, burn_in, n_replicas, min_replicas=1
    )
    rng = check_rng(seed)
    start = _random_directions(rng, n_replicas * n_walkers, d)
    options = dict(n_walkers=n_walkers, n_steps=n_steps, burn_in=burn_in, n_replicas=n_replicas, seed=rng)
    return population_trace(s_values, apply_m, start, **options).log_moments()


def matrix_log_moment_mc(
    s: float,
    apply_m: MatrixAction,
    dim: int,
    *,
    n_walkers: int = 2000,
    n_steps: int = 300,
    burn_in: int = 100,
    n_replicas: int = 8,
    seed=None,
) -> MCEstimate:
    r"""Return the moment function ``h(s)`` of products of i.i.d. random matrices, by population Monte Carlo.

    Parameters
    ----------
    s : float
        Order, ``s >= 0``.
    apply_m, dim, n_walkers, n_steps, burn_in, seed
        As in :func:`population_log_moments`.
    n_replicas : int
        Independent populations, ``>= 2``; the estimate is their mean, the standard error their standard
        deviation over ``sqrt(n_replicas)`` (no assumption on time correlations).

    Returns
    -------
    MCEstimate
        ``h(s)`` with a standard error from independent replicas.

    Raises
    ------
    ValueError, TypeError
        If an argument is outside its range, or ``apply_m`` is not callable.

    Notes
    -----
    See :func:`population_log_moments` for the method and its ``O(1/n_walkers)`` bias.

    Examples
    --------
    >>> from hts_lib.recursion import sgd_multiplier
    >>> est = matrix_log_moment_mc(2.0, sgd_multiplier(0.1, 1, 10), 10, n_walkers=200, n_steps=100,
    ...                            n_replicas=4, seed=0)
    >>> bool(abs(est.value - np.log(0.92)) < 3 * est.stderr)   # exact h(2) = log(1 - 2 eta + 12 eta^2)
    True
    """
    s = check_real("s", s, low=0.0)
    d = _check_action(apply_m, dim)
    n_walkers, n_steps, burn_in, n_replicas = _check_population(n_walkers, n_steps, burn_in, n_replicas)
    h = population_log_moments(
        [s],
        apply_m,
        d,
        n_walkers=n_walkers,
        n_steps=n_steps,
        burn_in=burn_in,
        n_replicas=n_replicas,
        seed=check_rng(seed),
    )[0]
    return MCEstimate(
        float(h.mean()),
        float(h.std(ddof=1) / math.sqrt(n_replicas)),
        n_replicas * n_walkers * n_steps,
        f"population Monte Carlo, {n_replicas} independent replicas x {n_walkers} walkers x {n_steps} steps",
    )


def log_moment_mc(
    s: float,
    eta: float,
    batch_size: int,
    dim: int,
    sample_a: InputSampler | None = None,
    *,
    n_walkers: int = 2000,
    n_steps: int = 300,
    burn_in: int = 100,
    n_replicas: int = 8,
    seed=None,
) -> MCEstimate:
    r"""Return the moment function ``h(s)`` of online SGD for any input law, by population Monte Carlo.

    :func:`matrix_log_moment_mc` for the SGD multiplier :math:`M = I - (\eta/b)\sum_{i\le b}a_ia_i^\top`.

    Parameters
    ----------
    s : float
        Order, ``s >= 0``.
    eta, batch_size, dim, sample_a
        As in :func:`lyapunov_exponent_mc`.
    n_walkers, n_steps, burn_in, n_replicas, seed
        As in :func:`matrix_log_moment_mc`.

    Returns
    -------
    MCEstimate
        ``h(s)`` with a standard error from independent replicas.

    Raises
    ------
    ValueError, TypeError
        If an argument is outside its range, or ``sample_a`` is not callable.

    Notes
    -----
    For the anisotropic example of the tests (spectrum 0.25, 1, 2.5, ``eta = 0.4``, ``s = 2``) the
    population bias is about ``-1.9 / n_walkers`` in ``h``, which is why the tests use 4000 walkers there.

    Used in: chapters/ch04_random_linear_recursions.ipynb.

    Examples
    --------
    >>> est = log_moment_mc(2.0, 0.1, 1, 10, n_walkers=200, n_steps=100, n_replicas=4, seed=0)
    >>> bool(abs(est.value - np.log(0.92)) < 3 * est.stderr)   # exact h(2) = log(1 - 2 eta + 12 eta^2)
    True
    """
    s = check_real("s", s, low=0.0)
    population = dict(n_walkers=n_walkers, n_steps=n_steps, burn_in=burn_in, n_replicas=n_replicas)
    apply_m = sgd_multiplier(eta, batch_size, dim, sample_a)
    return matrix_log_moment_mc(s, apply_m, dim, **population, seed=seed)


# ----------------------------------------------------------------------------------------------
# Tail index: the root of the Monte Carlo h
# ----------------------------------------------------------------------------------------------


def _root_from_grid(s_grid: np.ndarray, h: np.ndarray) -> float:
    """Positive root of a convex ``h`` sampled on an increasing grid whose first value is < 0.

    A cubic spline through the samples (common random numbers make them smooth in ``s``) and Brent's
    method on the bracketing interval; ``inf`` if ``h`` never turns positive.
    """
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


def matrix_tail_index_mc(
    apply_m: MatrixAction,
    dim: int,
    *,
    n_walkers: int = 2000,
    n_steps: int = 300,
    burn_in: int = 100,
    n_replicas: int = 8,
    n_grid: int = 9,
    seed=None,
) -> MCEstimate:
    r"""Return the tail index ``alpha`` of products of i.i.d. random matrices, the root of the Monte Carlo h.

    Parameters
    ----------
    apply_m, dim
        As in :func:`population_log_moments`.
    n_walkers, n_steps, burn_in
        Population size and length of each population run (see :func:`population_log_moments`).
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
        order tried, ``2^-8`` (no stationary law, or ``alpha`` below that): the convention of
        :func:`hts_lib.recursion.log_moment_root`.

    Raises
    ------
    ValueError, TypeError
        If an argument is outside its range, or ``apply_m`` is not callable.

    Notes
    -----
    Each replica runs :func:`population_log_moments` for a grid of orders at once with common random numbers,
    first on 15 orders ``2^-8, ..., 50`` (geometric) to bracket the sign change of ``h``, then on ``n_grid``
    orders spanning the bracket (with the same random numbers); the root is that of a cubic spline through the
    fine grid. The replicas are independent, so their spread is an honest standard error (it includes the
    interpolation and finite-population effects that vary between replicas).

    Examples
    --------
    >>> from hts_lib.recursion import sgd_multiplier
    >>> est = matrix_tail_index_mc(sgd_multiplier(0.6553, 1, 2), 2, n_walkers=500, n_steps=100, n_replicas=4,
    ...                            seed=1)
    >>> abs(est.value - 1.0) < 4 * est.stderr + 0.02    # exact alpha = 1.000 (hts_lib.recursion.tail_index)
    True
    """
    d = _check_action(apply_m, dim)
    n_walkers, n_steps, burn_in, n_replicas = _check_population(
        n_walkers, n_steps, burn_in, n_replicas, min_steps=2
    )
    n_grid = check_int("n_grid", n_grid, low=3)
    rng = check_rng(seed)
    coarse = np.geomspace(2.0**-8, ALPHA_MAX, 15)
    options = dict(n_walkers=n_walkers, n_steps=n_steps, burn_in=burn_in, n_replicas=1)
    alphas = []
    for _ in range(n_replicas):
        sub = np.random.default_rng(rng.integers(2**63))
        st = sub.bit_generator.state
        h = population_log_moments(coarse, apply_m, d, seed=sub, **options)[:, 0]
        pos = np.nonzero(h > 0)[0]
        if pos.size == 0:
            alphas.append(math.inf)
            continue
        j = int(pos[0])
        if j == 0:
            alphas.append(math.nan)
            continue
        fine = np.linspace(coarse[j - 1], coarse[j], n_grid)
        sub.bit_generator.state = st  # same random numbers for the fine pass
        h = population_log_moments(fine, apply_m, d, seed=sub, **options)[:, 0]
        root = _root_from_grid(fine, h)
        if not math.isfinite(root):  # the fine pass disagreed at the edge: use the coarse one
            root = float(fine[-1]) if root == math.inf else float(fine[0])
        alphas.append(root)
    arr = np.array(alphas)
    method = f"root of population-MC h, {n_replicas} replicas x {n_walkers} walkers x {n_steps} steps"
    if np.all(np.isinf(arr)):
        return MCEstimate(math.inf, math.nan, n_replicas, method)
    if np.any(np.isnan(arr)) or np.any(np.isinf(arr)):
        return MCEstimate(math.nan, math.nan, n_replicas, method + " (replicas disagree on the bracket)")
    return MCEstimate(float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size)), n_replicas, method)


def tail_index_mc(
    eta: float,
    batch_size: int,
    dim: int,
    sample_a: InputSampler | None = None,
    *,
    n_walkers: int = 2000,
    n_steps: int = 300,
    burn_in: int = 100,
    n_replicas: int = 8,
    n_grid: int = 9,
    seed=None,
) -> MCEstimate:
    r"""Return the tail index ``alpha`` of online SGD for any input law: the root of the Monte Carlo ``h``.

    :func:`matrix_tail_index_mc` for the SGD multiplier :math:`M = I - (\eta/b)\sum_{i\le b}a_ia_i^\top`.

    Parameters
    ----------
    eta, batch_size, dim, sample_a
        As in :func:`lyapunov_exponent_mc`.
    n_walkers, n_steps, burn_in, n_replicas, n_grid, seed
        As in :func:`matrix_tail_index_mc`.

    Returns
    -------
    MCEstimate
        ``alpha`` and its standard error (``inf``/``nan`` as in :func:`matrix_tail_index_mc`).

    Raises
    ------
    ValueError, TypeError
        If an argument is outside its range, or ``sample_a`` is not callable.

    Used in: chapters/ch04_random_linear_recursions.ipynb, chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> est = tail_index_mc(0.6553, 1, 2, n_walkers=1000, n_steps=200, n_replicas=4, seed=1)
    >>> abs(est.value - 1.0) < 4 * est.stderr + 0.02    # exact alpha = 1.000 (hts_lib.recursion.tail_index)
    True
    """
    population = dict(n_walkers=n_walkers, n_steps=n_steps, burn_in=burn_in, n_replicas=n_replicas)
    apply_m = sgd_multiplier(eta, batch_size, dim, sample_a)
    return matrix_tail_index_mc(apply_m, dim, **population, n_grid=n_grid, seed=seed)


# ----------------------------------------------------------------------------------------------
# The second-moment operator E[M (x) M], from moments of the inputs
# ----------------------------------------------------------------------------------------------


def second_moment_spectral_radius_mc(
    eta: float,
    batch_size: int,
    dim: int,
    sample_a: InputSampler | None = None,
    *,
    n_samples: int = 100_000,
    n_replicas: int = 10,
    seed=None,
) -> MCEstimate:
    r"""Return the spectral radius of ``E[M (x) M]`` of online SGD for any input law, from input moments.

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

    Examples
    --------
    >>> from hts_lib.recursion import rademacher_sampler, second_moment_spectral_radius
    >>> est = second_moment_spectral_radius_mc(0.1, 1, 3, rademacher_sampler(), n_samples=20_000, seed=0)
    >>> exact = second_moment_spectral_radius(0.1, 1, np.ones(3), kurtosis=1.0)
    >>> abs(est.value - exact) < 4 * est.stderr + 1e-12
    True
    """
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sample_a = check_input_sampler(sample_a, d)
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
            a = draw_inputs(sample_a, rng, m, d)
            sig += a.T @ a
            v = (a[:, :, None] * a[:, None, :]).reshape(m, d * d)
            k4 += v.T @ v
            done += m
        sig_blocks.append(sig)
        k4_blocks.append(k4)

    def radius(sig, k4):
        op = (
            np.kron(eye, eye)
            - eta * (np.kron(sig, eye) + np.kron(eye, sig))
            + (eta * eta / b) * ((b - 1) * np.kron(sig, sig) + k4)
        )
        return float(np.max(np.abs(np.linalg.eigvals(op))))

    sig_tot, k4_tot = sum(sig_blocks), sum(k4_blocks)
    r = n_replicas
    theta_all = radius(sig_tot / (n_samples * r), k4_tot / (n_samples * r))
    loo = np.array(
        [
            radius((sig_tot - s_) / (n_samples * (r - 1)), (k4_tot - k_) / (n_samples * (r - 1)))
            for s_, k_ in zip(sig_blocks, k4_blocks)
        ]
    )
    value = r * theta_all - (r - 1) * float(loo.mean())
    se = math.sqrt((r - 1) / r * float(((loo - loo.mean()) ** 2).sum()))
    return MCEstimate(
        value,
        se,
        n_samples * n_replicas,
        f"moments of {n_samples * n_replicas} inputs, jackknife over {n_replicas} blocks",
    )


__getattr__ = forward(__name__)
