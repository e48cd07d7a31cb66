r"""Fast, honest simulation of many SGD chains on linear regression.

SGD on the least-squares loss with mini-batches of size ``b`` is the affine random recursion

.. math::

    x_k = x_{k-1} - \frac{\eta}{b} A_k^\top (A_k x_{k-1} - y_k)
        = M_k x_{k-1} + q_k, \qquad M_k = I - \frac{\eta}{b} A_k^\top A_k,

where the rows of ``A_k`` (shape ``b x d``) are the batch's data vectors. Two data models:

* **online** (:func:`simulate_online`): fresh data at every step, ``a ~ N(0, sigma^2 I_d)``
  (or an anisotropic covariance, or other i.i.d. coordinates), ``y = a^T x* + noise * eps``.
  This is the model of the paper's theorems; ``(M_k, q_k)`` are i.i.d.
* **offline** (:func:`simulate_offline`): a fixed data set ``(X, y)``; each step takes a
  uniformly random ``b``-subset of the rows (without replacement, as the authors' code does with
  ``np.random.permutation(n)[:b]``) or ``b`` rows with replacement.

Both simulate the centred iterate ``z_k = x_k - c`` (``c = x*`` online, the least-squares
solution offline), which is the same recursion in exact arithmetic and keeps rounding relative to
the quantity of interest. Chains are vectorised in blocks (see :mod:`hts_lib.simulate.engine` for the
block engine, the seeding scheme, and the divergence policy shared with it).

Also here: :func:`sample_batch_indices`, the without-replacement batch sampler. The closed form of
``E||x_inf - x*||^2`` for the online model, against which the simulations are tested, is
:func:`hts_lib.recursion.stationary_second_moment`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from hts_lib._deprecated import forward
from hts_lib.recursion.samplers import check_covariance
from hts_lib.simulate.engine import (
    DEFAULT_MAX_NORM,
    ChainBlock,
    SimulationResult,
    chain_settings,
    check_start,
    default_block_size,
    run_chains,
)
from hts_lib.validation import (
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_positive,
    check_real,
    check_rng,
)

__all__ = [
    "simulate_online",
    "simulate_offline",
    "sample_batch_indices",
    "DATA_MODELS",
]

#: Built-in standardised coordinate laws for online data (mean 0, variance 1) and their
#: fourth moments ``E g^4`` (the "kurtosis" of :func:`hts_lib.recursion.stationary_second_moment`).
DATA_MODELS = {"gaussian": 3.0, "rademacher": 1.0, "uniform": 1.8}

_SQRT3 = math.sqrt(3.0)


# --------------------------------------------------------------------------------------------
# batch sampling
# --------------------------------------------------------------------------------------------


def _draw_indices(rng: np.random.Generator, n: int, b: int, c: int, replace: bool) -> np.ndarray:
    if replace or b == 1:
        return rng.integers(0, n, size=(c, b))
    if b * (b - 1) <= 2 * n:
        # Rejection: b i.i.d. uniform indices, redrawn (per row) until all distinct. Conditioned on
        # being distinct, the ordered b-tuple is uniform over distinct tuples, so the set is a
        # uniformly random b-subset: the law of permutation(n)[:b]. The acceptance probability
        # prod_{j<b} (1 - j/n) is about exp(-b(b-1)/(2n)) >= ~0.37 on this branch, 0.98 for
        # the authors' n = 10^4, b = 20.
        idx = rng.integers(0, n, size=(c, b))
        if b == 2:
            dup = idx[:, 0] == idx[:, 1]
        else:
            # fast check on the whole block first (one 1-D sort of row-offset keys); repeats are
            # rare (probability about b(b-1)/(2n) per row), so the per-row search seldom runs
            keys = np.sort((idx + (np.arange(c) * n)[:, None]).ravel())
            if not (keys[1:] == keys[:-1]).any():
                return idx
            s = np.sort(idx, axis=1)
            dup = (s[:, 1:] == s[:, :-1]).any(axis=1)
        while dup.any():
            nd = int(dup.sum())
            new = rng.integers(0, n, size=(nd, b))
            idx[dup] = new
            s = np.sort(new, axis=1)
            dup[dup] = (s[:, 1:] == s[:, :-1]).any(axis=1)
        return idx
    # Many collisions expected (b^2 > 2n, so n is small): b smallest of n i.i.d. uniform keys.
    keys = rng.random((c, n))
    return np.argpartition(keys, b - 1, axis=1)[:, :b]


def sample_batch_indices(
    n: int, batch_size: int, n_chains: int = 1, replace: bool = False, seed=None
) -> np.ndarray:
    r"""Draw one mini-batch of row indices for each of ``n_chains`` chains.

    Parameters
    ----------
    n : int
        Size of the data set.
    batch_size : int
        Rows per batch, ``1 <= batch_size <= n``.
    n_chains : int
        Number of independent batches (rows of the output).
    replace : bool
        With replacement (i.i.d. uniform indices) or, by default, without (a uniformly random
        ``batch_size``-subset per row, the law of ``np.random.permutation(n)[:batch_size]``).
    seed : int, numpy Generator or None
        Randomness.

    Returns
    -------
    ndarray of int, shape (n_chains, batch_size)

    Raises
    ------
    ValueError
        ``batch_size`` outside ``[1, n]`` or ``n_chains < 1``.

    Notes
    -----
    Without replacement the sampler draws ``b`` i.i.d. uniform indices and redraws the rows that
    contain a repeat (exact: conditioned on being distinct, the tuple is uniform over distinct
    tuples). The expected number of draws per row is ``1 / prod_{j<b}(1 - j/n)``, about 1.02 for
    the authors' ``n = 10^4``, ``b = 20``: ``O(b)`` work per chain, where a permutation costs
    ``O(n)``. When ``b(b-1) > 2n`` it takes the ``b`` smallest of ``n`` uniform keys
    (``argpartition``), ``O(n)`` per chain, which is then ``O(b^2)``.

    Used in: chapters/ch07_synthetic_experiment.ipynb.

    Examples
    --------
    >>> idx = sample_batch_indices(10, 4, n_chains=3, seed=0)
    >>> idx.shape, all(len(set(row)) == 4 for row in idx.tolist())
    ((3, 4), True)
    """
    n = check_int("n", n, low=1)
    b = check_int("batch_size", batch_size, low=1)
    if b > n:
        raise ValueError(f"batch_size must be <= n = {n} (the data set size), got {b}")
    c = check_int("n_chains", n_chains, low=1)
    return _draw_indices(check_rng(seed), n, b, c, check_bool("replace", replace))


# --------------------------------------------------------------------------------------------
# online SGD
# --------------------------------------------------------------------------------------------


def _draw_standard(rng: np.random.Generator, data, out: np.ndarray) -> None:
    if data == "gaussian":
        rng.standard_normal(out=out)
    elif data == "uniform":
        rng.random(out=out)
        out *= 2.0 * _SQRT3
        out -= _SQRT3
    elif data == "rademacher":
        out[...] = rng.integers(0, 2, size=out.shape, dtype=np.int8)
        out *= 2.0
        out -= 1.0
    else:
        g = np.asarray(data(rng, out.shape), dtype=np.float64)
        if g.shape != out.shape:
            raise ValueError(f"data(rng, size={out.shape}) must return an array of that shape, got {g.shape}")
        out[...] = g


def _online_block(rng, c, z0b, *, eta, b, sigma, noise, chol_t, data, init_scale, settings):
    st = ChainBlock.start(rng, c, z0b, settings, init_scale)
    z, d = st.z, settings.dim
    G = np.empty((c, b, d))
    eps = np.empty((c, b))
    r = np.empty((c, b, 1))
    g = np.empty((c, 1, d))
    step = eta / b
    with np.errstate(over="ignore", invalid="ignore"):
        for k in st.steps():
            _draw_standard(rng, data, G)
            rng.standard_normal(out=eps)
            A = G if chol_t is None else np.matmul(G, chol_t)
            if sigma != 1.0:
                A *= sigma
            np.matmul(A, z[:, :, None], out=r)  # A z
            r[:, :, 0] -= noise * eps  # A z - noise * eps  (= A x - y, centred)
            np.matmul(r.transpose(0, 2, 1), A, out=g)  # r^T A = (A^T r)^T
            g *= step
            z -= g[:, 0, :]
    return st.finish()


def _online_block_projected(rng, c, z0b, *, eta, b, sigma, noise, chol_t, data, init_scale, settings):
    """Run :func:`_online_block` for Gaussian data from ``2b + d`` normals per chain-step (the same law).

    The full sampler draws ``b d + b`` (see the Notes of :func:`simulate_online`).
    """
    st = ChainBlock.start(rng, c, z0b, settings, init_scale)
    z, d = st.z, settings.dim
    h = np.empty((c, b))
    eps = np.empty((c, b))
    xi = np.empty((c, d))
    e1 = np.zeros(d)
    e1[0] = 1.0
    step = eta / b
    chol = None if chol_t is None else chol_t.T
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for k in st.steps():
            rng.standard_normal(out=h)  # h_i = g_i . u
            rng.standard_normal(out=eps)
            rng.standard_normal(out=xi)  # direction of the part of sum_i g_i w_i orthogonal to u
            v = z if chol is None else z @ chol  # L^T z, as rows
            nv = np.sqrt(np.einsum("cd,cd->c", v, v))
            pos = nv > 0.0
            u = np.where(pos[:, None], v / np.where(pos, nv, 1.0)[:, None], e1)
            nv *= sigma
            w = h * nv[:, None]  # A z = sigma * (g_i . L^T z) = sigma ||L^T z|| h_i
            w -= noise * eps  # A z - noise * eps
            proj = np.einsum("cd,cd->c", xi, u)
            xi -= proj[:, None] * u  # xi projected orthogonally to u
            xi *= np.sqrt(np.einsum("cb,cb->c", w, w))[:, None]
            xi += np.einsum("cb,cb->c", h, w)[:, None] * u  # sum_i g_i w_i
            grad = xi if chol_t is None else xi @ chol_t  # L sum_i g_i w_i, as rows
            z -= (step * sigma) * grad
    return st.finish()


def _run_config(kind: str, eta: float, b: int, d: int, x0, init_scale: float, **model) -> dict:
    """Return the ``config`` of a simulation: the common settings around the model's own ones."""
    given = x0 is not None
    return dict(kind=kind, eta=eta, batch_size=b, dim=d, **model, init_scale=init_scale, x0_given=given)


def _run_sgd(block_fn, settings, seed, block_size, cost, centre, config, x0_arr, eta, b, init_scale, **state):
    """Run SGD chains about ``centre`` (blocks sized for ``cost`` numbers per chain and step by default)."""
    return run_chains(
        block_fn,
        settings,
        seed=seed,
        block_size=default_block_size(cost) if block_size is None else block_size,
        centre=centre,
        config=config,
        z0=None if x0_arr is None else x0_arr - centre,
        eta=eta,
        b=b,
        **state,
        init_scale=init_scale,
    )


def simulate_online(
    eta: float,
    batch_size: int,
    dim: int,
    sigma: float = 1.0,
    noise: float = 1.0,
    n_chains: int = 1000,
    n_steps: int = 1000,
    burn_in: int = 500,
    seed=None,
    cov=None,
    data: str | Callable = "gaussian",
    x_star=None,
    track: Sequence[int] | None = None,
    *,
    x0=None,
    init_scale: float = 0.0,
    max_norm: float = DEFAULT_MAX_NORM,
    block_size: int | None = None,
    n_jobs: int = 1,
    method: str = "auto",
) -> SimulationResult:
    r"""Simulate ``n_chains`` independent runs of online (single-pass) SGD on linear regression.

    Parameters
    ----------
    eta : float
        Step size, > 0.
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sigma : float
        Data scale: each data vector is ``a = sigma * g`` (``g`` standardised, see ``data``).
    noise : float
        Label noise: ``y = a^T x* + noise * eps`` with ``eps ~ N(0, 1)``; ``>= 0``.
    n_chains, n_steps, burn_in : int
        Chains, SGD steps ``K``, and steps before the Polyak average starts
        (average over ``x_k`` for ``k = burn_in + 1, ..., n_steps``).
    seed : int, numpy Generator or None
        Randomness; same seed (and block size) gives identical arrays.
    cov : array_like, optional
        ``d x d`` covariance: ``a = sigma * L g`` with ``L L^T = cov`` (anisotropic data).
    data : {"gaussian", "rademacher", "uniform"} or callable
        Law of the standardised coordinates of ``g`` (mean 0, variance 1), or a callable
        ``data(rng, size) -> ndarray of shape size`` with ``size = (n, b, d)`` returning the
        standardised data vectors (then also multiplied by ``sigma`` and ``L``).
    x_star : array_like, optional
        The true regressor (default ``0``). The simulation is centred, so ``x_star`` only matters
        through ``x0``.
    track : sequence of int, optional
        Coordinates whose trajectories ``x_k - x*`` are kept (``result.trajectories``).
    x0 : array_like, optional
        Starting point (absolute coordinates), shape ``(dim,)`` or ``(n_chains, dim)``;
        default ``x*``.
    init_scale : float
        Add ``init_scale * N(0, I)`` to the starting point (the authors use 5 with ``x0 = 0``).
    max_norm : float
        Divergence threshold on ``||x_k - x*||`` (see :mod:`hts_lib.simulate.engine`).
    block_size : int, optional
        Chains per block (default :func:`~hts_lib.simulate.engine.default_block_size` of the floats
        drawn per chain-step, ``b * d`` or ``2b + d``).
    n_jobs : int
        Worker processes over blocks (joblib); the result does not depend on it.
    method : {"auto", "full", "projected"}
        ``"full"`` draws the whole batch ``A`` every step. ``"projected"`` (Gaussian data only)
        draws only what the update depends on, ``2b + d`` normals per chain-step instead of
        ``b d + b``, with exactly the same law (Notes). ``"auto"`` picks ``"projected"`` for
        Gaussian data when it needs fewer draws. The two give different numbers for one seed.

    Returns
    -------
    SimulationResult
        ``last``, ``average`` (centred at ``x*``), ``diverged``, ``diverged_at``, optional
        ``trajectories`` and ``config`` (``config["method"]`` says which sampler ran).

    Raises
    ------
    ValueError
        ``eta <= 0``, sizes below 1, ``burn_in >= n_steps``, shapes that disagree with ``dim``,
        an unknown ``data`` name, ``cov`` not positive definite, and so on.

    Notes
    -----
    One step for a block of ``c`` chains draws ``A`` of shape ``(c, b, d)`` and ``eps`` of shape
    ``(c, b)`` and applies ``z <- z - (eta/b) A^T (A z - noise * eps)`` with two batched
    ``matmul`` calls: ``O(b d)`` flops per chain-step. Memory is ``O(c b d + n_chains d)``.
    With ``z = x - x*`` this is exactly ``x_k = M_k x_{k-1} + q_k`` with
    ``M_k = I - (eta/b) A_k^T A_k`` (paper, Section 1.1).

    *Projected sampler.* For ``a_i = sigma L g_i`` with ``g_i ~ N(0, I)`` the update needs only
    ``A z - noise eps`` and ``A^T (A z - noise eps)``. With ``v = L^T z`` and the unit vector
    ``u = v / ||v||``, split ``g_i = h_i u + g_i^perp``: ``h_i = g_i . u ~ N(0, 1)`` and
    ``g_i^perp ~ N(0, I - u u^T)`` are independent, and ``A z = sigma ||v|| h`` depends on the
    ``h_i`` alone. Given ``w = A z - noise eps``, ``sum_i g_i^perp w_i`` is
    ``N(0, ||w||^2 (I - u u^T))``, i.e. ``||w||`` times one projected standard normal vector. So
    ``A^T w = sigma L (u sum_i h_i w_i + ||w|| (I - u u^T) xi)`` with ``h``, ``eps`` and ``xi``
    fresh normals: the same transition kernel, from ``2b + d`` draws.

    Used in: chapters/ch04_random_linear_recursions.ipynb, chapters/ch05_sgd_as_random_recursion.ipynb,
    chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> res = simulate_online(0.1, 1, 10, n_chains=4000, n_steps=300, burn_in=200, seed=0)
    >>> res.last.shape, res.n_diverged
    ((4000, 10), 0)
    >>> sq = np.sum(res.last**2, axis=1)      # ||x_K - x*||^2 per chain
    >>> se = sq.std() / np.sqrt(sq.size)
    >>> from hts_lib.recursion import stationary_second_moment
    >>> bool(abs(sq.mean() - stationary_second_moment(0.1, 1, 10)) < 3 * se)
    True
    """
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sigma = check_positive("sigma", sigma)
    noise = check_real("noise", noise, low=0.0)
    settings = chain_settings(n_chains, n_steps, burn_in, d, track=track, max_norm=max_norm, n_jobs=n_jobs)
    init_scale = check_real("init_scale", init_scale, low=0.0)
    if isinstance(data, str):
        if data not in DATA_MODELS:
            raise ValueError(f"data must be one of {sorted(DATA_MODELS)} or a callable, got {data!r}")
        data_name = data
    elif callable(data):
        data_name = getattr(data, "__name__", "callable")
    else:
        raise ValueError(f"data must be one of {sorted(DATA_MODELS)} or a callable, got {data!r}")
    method = check_choice("method", method, ("auto", "full", "projected"))
    if method == "projected" and data != "gaussian":
        raise ValueError("method='projected' needs data='gaussian' (it uses rotational invariance)")
    if method == "auto":
        method = "projected" if data == "gaussian" and 2 * b + d < b * d + b else "full"
    chol_t = None
    if cov is not None:
        chol_t = np.ascontiguousarray(np.linalg.cholesky(check_covariance(cov, d, spectrum=False)).T)
    xs = np.zeros(d) if x_star is None else check_array("x_star", x_star, ndim=1)
    if xs.shape != (d,):
        raise ValueError(f"x_star must have shape ({d},), got {xs.shape}")
    x0_arr = check_start(x0, settings.n_chains, d)
    model = dict(sigma=sigma, noise=noise, data=data_name, anisotropic=cov is not None, method=method)
    config = _run_config("online", eta, b, d, x0, init_scale, **model)
    block_fn, cost = (_online_block, b * d) if method == "full" else (_online_block_projected, 2 * b + d)
    state = dict(sigma=sigma, noise=noise, chol_t=chol_t, data=data)
    return _run_sgd(
        block_fn, settings, seed, block_size, cost, xs, config, x0_arr, eta, b, init_scale, **state
    )


# --------------------------------------------------------------------------------------------
# offline SGD
# --------------------------------------------------------------------------------------------


def _offline_block(rng, c, z0b, *, X, res, eta, b, init_scale, replace, settings):
    n, d = X.shape
    st = ChainBlock.start(rng, c, z0b, settings, init_scale)
    z = st.z
    A = np.empty((c * b, d))
    A3 = A.reshape(c, b, d)
    r = np.empty((c, b, 1))
    g = np.empty((c, 1, d))
    step = eta / b
    with np.errstate(over="ignore", invalid="ignore"):
        for k in st.steps():
            idx = _draw_indices(rng, n, b, c, replace)
            np.take(X, idx.ravel(), axis=0, out=A)  # gather the batch rows: (c*b, d)
            np.matmul(A3, z[:, :, None], out=r)  # A z
            r[:, :, 0] -= res[idx]  # A z - (y - X x_ls)[batch] = A x - y
            np.matmul(r.transpose(0, 2, 1), A3, out=g)
            g *= step
            z -= g[:, 0, :]
    return st.finish()


def simulate_offline(
    X,
    y,
    eta: float,
    batch_size: int,
    n_chains: int = 1000,
    n_steps: int = 1000,
    burn_in: int = 500,
    replace: bool = False,
    seed=None,
    *,
    x0=None,
    init_scale: float = 0.0,
    track: Sequence[int] | None = None,
    max_norm: float = DEFAULT_MAX_NORM,
    block_size: int | None = None,
    n_jobs: int = 1,
) -> SimulationResult:
    r"""Simulate ``n_chains`` independent runs of finite-sum (offline) SGD on least squares.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Design matrix, full column rank.
    y : array_like, shape (n,)
        Responses.
    eta : float
        Step size, > 0.
    batch_size : int
        Batch size, ``1 <= batch_size <= n`` (also with replacement).
    n_chains, n_steps, burn_in : int
        Chains, SGD steps, and steps before the Polyak average starts (average over ``x_k`` for
        ``k = burn_in + 1, ..., n_steps``).
    replace : bool
        Batches with replacement; default False: each batch is a uniformly random subset, the law
        of ``np.random.permutation(n)[:b]`` that the authors' code draws at every step.
    seed : int, numpy Generator or None
        Randomness; same seed (and block size) gives identical arrays.
    x0 : array_like, optional
        Starting point (absolute coordinates), ``(d,)`` or ``(n_chains, d)``; default the
        least-squares solution.
    init_scale : float
        Add ``init_scale * N(0, I)`` to the starting point (authors: ``x0 = 0``, ``init_scale = 5``).
    track : sequence of int, optional
        Coordinates whose trajectories ``x_k - x_ls`` are kept.
    max_norm : float
        Divergence threshold on ``||x_k - x_ls||`` (see :mod:`hts_lib.simulate.engine`).
    block_size : int, optional
        Chains per block (default :func:`~hts_lib.simulate.engine.default_block_size` of ``b * d``).
    n_jobs : int
        Worker processes over blocks (joblib); the result does not depend on it.

    Returns
    -------
    SimulationResult
        Centred at the least-squares solution ``x_ls = argmin ||X x - y||`` (``result.centre``).

    Raises
    ------
    ValueError
        Shapes that disagree, ``X`` without full column rank, ``batch_size > n``, ``eta <= 0``,
        ``burn_in >= n_steps``, ...

    Notes
    -----
    With residuals ``r = y - X x_ls`` the centred update is
    ``z <- z - (eta/b) X_B^T (X_B z - r_B)`` for the batch ``B``. Per chain-step it gathers
    ``b`` rows of ``X`` (``8 b d`` bytes) and does ``4 b d`` flops, so the speed is bounded by the
    bandwidth of that gather; blocks of chains are sized so that the gathered rows stay in cache
    between the two ``matmul`` calls.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.standard_normal((200, 3)); y = X @ np.ones(3) + rng.standard_normal(200)
    >>> res = simulate_offline(X, y, eta=0.05, batch_size=2, n_chains=100, n_steps=400,
    ...                        burn_in=200, seed=0, x0=np.zeros(3))
    >>> res.average.shape, res.n_diverged, bool(np.abs(res.average).mean() < 0.1)
    ((100, 3), 0, True)
    """
    Xa = check_array("X", X, ndim=2)
    ya = check_array("y", y, ndim=1)
    n, d = Xa.shape
    if ya.shape[0] != n:
        raise ValueError(f"y must have length n = {n} to match X, got {ya.shape[0]}")
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    if b > n:
        raise ValueError(f"batch_size must be <= n = {n} (the data set size), got {b}")
    settings = chain_settings(n_chains, n_steps, burn_in, d, track=track, max_norm=max_norm, n_jobs=n_jobs)
    init_scale = check_real("init_scale", init_scale, low=0.0)
    x_ls, _, rank, _ = np.linalg.lstsq(Xa, ya, rcond=None)
    if rank < d:
        raise ValueError(
            f"X must have full column rank {d} (got rank {rank}): the least-squares centre is not unique"
        )
    res = ya - Xa @ x_ls
    x0_arr = check_start(x0, settings.n_chains, d)
    replace = check_bool("replace", replace)
    config = _run_config("offline", eta, b, d, x0, init_scale, n=n, replace=replace)
    state = dict(X=np.ascontiguousarray(Xa), res=res, replace=replace)
    return _run_sgd(
        _offline_block, settings, seed, block_size, b * d, x_ls, config, x0_arr, eta, b, init_scale, **state
    )


__getattr__ = forward(__name__)
