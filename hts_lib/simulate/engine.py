"""Many chains of a random linear recursion ``x_k = M_k x_{k-1} + q_k``, simulated in blocks.

This module holds the machinery that every chain simulator of the book shares:

* :class:`SimulationResult`, the frozen result of a run (last iterates, Polyak averages,
  divergence flags, optional tracked coordinates, the settings used);
* :func:`simulate_recursion`, the generic affine recursion driven by user samplers of ``M_k``
  and ``q_k``, batched over chains;
* the block engine every simulator runs on (:func:`chain_settings`, :class:`ChainBlock`,
  :func:`run_chains`, :func:`block_rng`): chains are processed in blocks small enough to stay in cache,
  each block with its own random stream, so that results depend on the seed and the block size but never
  on how many worker processes ran the blocks. A simulator checks its settings with :func:`chain_settings`
  (and :func:`check_start`), writes a block function ``block_fn(rng, c, z0, *, settings, ...)`` that
  starts a :class:`ChainBlock` and updates ``block.z`` in place at each step of ``block.steps()``, and
  hands it to :func:`run_chains`; :mod:`hts_lib.simulate.sgd` is built this way.

The scalar case (``d = 1``, Kesten's recursion ``X_k = A_k X_{k-1} + B_k``) has its own
simulator with its exact theory in :mod:`hts_lib.recursion.kesten`; :func:`simulate_recursion` with
``dim=1`` gives the same law (the tests check this) and is the tool for ``d > 1``.

Divergence policy (shared by every simulator here)
--------------------------------------------------
A chain is flagged as *diverged* at the first step ``k`` at which ``||x_k - c||`` (``c`` the
centre: ``x*`` for SGD, ``0`` for the generic recursion) is not finite or exceeds ``max_norm``
(default ``DEFAULT_MAX_NORM = 1e150``). That default is the largest power of ten for which every
statistic the book computes from the remaining chains stays finite in float64: a sum of up to
``10**3`` such vectors has a squared norm of at most ``1e306 < 1.8e308``. From that step on the
chain is frozen (it no longer affects anything), its rows of ``last`` and ``average`` are NaN,
its tracked trajectory is NaN from the divergence step on, and ``diverged_at`` records the step.
Statistics must therefore be computed on ``result.stable_last`` / ``result.stable_average``
(the non-diverged rows) and reported together with ``result.n_diverged``; a NaN appears only
where a caller mixes diverged rows in, never silently inside this module.

Note that "diverged" here is numerical. A chain can be on its way to infinity (top Lyapunov
exponent ``rho >= 0``) and still be below ``max_norm`` after ``n_steps`` steps; the book reports
``rho`` and the median of ``log10 ||x - c||`` next to any tail estimate for that reason.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Sequence

import numpy as np

from hts_lib.validation import check_array, check_int, check_positive, check_rng

__all__ = [
    "DEFAULT_MAX_NORM",
    "SimulationResult",
    "simulate_recursion",
    "default_block_size",
    "ChainSettings",
    "chain_settings",
    "check_start",
    "check_n_jobs",
    "ChainBlock",
    "run_chains",
    "block_rng",
]

#: Norm above which a chain is flagged as diverged (see the module notes for the reasoning).
DEFAULT_MAX_NORM = 1e150

_CACHE_BYTES = 512 * 1024  # target size of one block's per-step work array (L2 is 1-2 MiB per core)


@dataclasses.dataclass(frozen=True, eq=False)
class SimulationResult:
    """Outcome of simulating many independent chains.

    Attributes
    ----------
    last : ndarray, shape (n_chains, dim)
        Last iterate minus the centre, ``x_K - c`` (NaN rows for diverged chains).
    average : ndarray, shape (n_chains, dim)
        Polyak average of ``x_k - c`` over ``k = burn_in + 1, ..., n_steps`` (NaN rows for
        diverged chains).
    diverged : ndarray of bool, shape (n_chains,)
        Whether the chain was flagged as diverged (non-finite, or norm above ``max_norm``).
    diverged_at : ndarray of int, shape (n_chains,)
        The step ``k`` (1-based) at which the chain was flagged, ``-1`` if it never was.
    trajectories : ndarray or None, shape (n_chains, n_steps, len(track))
        ``x_k - c`` at the tracked coordinates for ``k = 1, ..., n_steps`` when ``track`` was
        given, else None.
    config : dict
        The settings used (step size, sizes, seed, data model, block size, threshold, ...).
    centre : ndarray, shape (dim,)
        The centre ``c`` that was subtracted (``x*``, the least-squares solution, or ``0``).
    """

    last: np.ndarray
    average: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    trajectories: np.ndarray | None
    config: dict
    centre: np.ndarray

    @property
    def n_chains(self) -> int:
        """Number of chains simulated."""
        return int(self.last.shape[0])

    @property
    def dim(self) -> int:
        """Dimension of the iterates."""
        return int(self.last.shape[1])

    @property
    def n_diverged(self) -> int:
        """Number of chains flagged as diverged."""
        return int(self.diverged.sum())

    @property
    def share_diverged(self) -> float:
        """Fraction of chains flagged as diverged."""
        return self.n_diverged / self.n_chains

    @property
    def stable_last(self) -> np.ndarray:
        """Rows of :attr:`last` for the chains that did not diverge."""
        return self.last[~self.diverged]

    @property
    def stable_average(self) -> np.ndarray:
        """Rows of :attr:`average` for the chains that did not diverge."""
        return self.average[~self.diverged]

    def log10_norms(self, which: str = "average") -> np.ndarray:
        """``log10 ||.||`` of each chain's ``average`` or ``last``, ``+inf`` for diverged chains.

        Diverged chains count as ``+inf`` (their norm passed ``max_norm``), so a median over
        all chains is honest about blow-ups.
        """
        if which not in ("average", "last"):
            raise ValueError(f"which must be 'average' or 'last', got {which!r}")
        arr = self.average if which == "average" else self.last
        out = np.full(self.n_chains, np.inf)
        ok = ~self.diverged
        with np.errstate(divide="ignore"):
            out[ok] = np.log10(_safe_norms(arr[ok]))
        return out


# --------------------------------------------------------------------------------------------
# shared helpers (used by hts_lib.simulate.sgd as well)
# --------------------------------------------------------------------------------------------


def default_block_size(row_floats: int) -> int:
    """Return the chains per block for which one block's per-step work array takes about 512 KiB.

    The work array holds ``row_floats`` float64 per chain; the result is a power of two in [32, 8192].

    The block size, together with the seed, fixes the random streams: it is part of a run's
    identity (stored in ``config``), while the number of worker processes is not.

    >>> default_block_size(500), default_block_size(2), default_block_size(10**6)
    (128, 8192, 32)
    """
    row_floats = check_int("row_floats", row_floats, low=1)
    c = _CACHE_BYTES / (8.0 * row_floats)
    c = 2 ** int(round(math.log2(max(c, 1.0))))
    return int(min(max(c, 32), 8192))


def _safe_norms(z: np.ndarray) -> np.ndarray:
    """Row norms that do not overflow for entries up to the largest float (scaled by the max)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        s = np.max(np.abs(z), axis=1)
        scale = np.where((s > 0) & np.isfinite(s), s, 1.0)
        out = s * np.sqrt(np.sum((z / scale[:, None]) ** 2, axis=1)) if z.shape[1] > 1 else s
        out = np.where(s > 0, out, 0.0)
        return np.where(np.isnan(z).any(axis=1), np.nan, out)


def _root_entropy(seed) -> tuple[int, ...]:
    """Turn ``seed`` into SeedSequence entropy, so blocks get independent, reproducible streams."""
    rng = check_rng(seed)
    return tuple(int(v) for v in rng.integers(0, 2**63, size=4, dtype=np.int64))


def _block_rng(entropy: tuple[int, ...], block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(block,))))


def block_rng(seed, block: int) -> np.random.Generator:
    """Return the random generator that block ``block`` of a run seeded with ``seed`` uses.

    Block ``j`` covers chains ``[j * block_size, (j + 1) * block_size)`` and draws from
    ``SeedSequence(entropy, spawn_key=(j,))``, the entropy coming from ``seed``: replaying it reproduces
    a run's random numbers (the tests check the simulators against textbook loops this way).

    Examples
    --------
    >>> block_rng(21, 0).standard_normal() == block_rng(21, 0).standard_normal()
    True
    """
    return _block_rng(_root_entropy(seed), check_int("block", block, low=0))


def _seed_repr(seed):
    if seed is None or isinstance(seed, (numbers.Integral, np.integer)):
        return None if seed is None else int(seed)
    return f"<{type(seed).__name__}>"


def check_n_jobs(n_jobs) -> int:
    """Return ``n_jobs`` checked: a positive number of worker processes, or -1 for all cores.

    Examples
    --------
    >>> check_n_jobs(-1), check_n_jobs(2)
    (-1, 2)
    """
    n_jobs = check_int("n_jobs", n_jobs, low=None)
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs}")
    return n_jobs


def _check_track(track, dim: int) -> np.ndarray | None:
    if track is None:
        return None
    if isinstance(track, (numbers.Integral, np.integer)) and not isinstance(track, bool):
        track = [track]
    try:
        arr = np.asarray(track)
    except Exception:  # pragma: no cover - defensive
        raise TypeError("track must be a sequence of coordinate indices") from None
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"track must be a non-empty sequence of integer coordinate indices, got {track!r}")
    if arr.min() < 0 or arr.max() >= dim:
        raise ValueError(f"track indices must lie in [0, {dim - 1}], got {arr.tolist()}")
    return arr.astype(np.intp)


def check_start(x0, n_chains: int, dim: int) -> np.ndarray | None:
    """Return a starting point as an ``(n_chains, dim)`` array (a broadcast view for one point), or None.

    Parameters
    ----------
    x0 : array_like or None
        Shape ``(dim,)`` (one start for every chain) or ``(n_chains, dim)``.
    n_chains, dim : int
        The run's sizes.

    Returns
    -------
    ndarray or None

    Raises
    ------
    ValueError
        A shape that fits neither form, or values that are not finite.

    Examples
    --------
    >>> check_start([1.0, 2.0], 3, 2).shape
    (3, 2)
    """
    n_chains = check_int("n_chains", n_chains, low=1)
    dim = check_int("dim", dim, low=1)
    if x0 is None:
        return None
    arr = check_array("x0", x0, ndim=(1, 2))
    if arr.ndim == 1:
        if arr.shape[0] != dim:
            raise ValueError(f"x0 must have shape ({dim},) or ({n_chains}, {dim}), got {arr.shape}")
        return np.broadcast_to(arr, (n_chains, dim))
    if arr.shape != (n_chains, dim):
        raise ValueError(f"x0 must have shape ({dim},) or ({n_chains}, {dim}), got {arr.shape}")
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class ChainSettings:
    """The checked settings that every chain simulator shares (made by :func:`chain_settings`).

    Attributes
    ----------
    n_chains, n_steps, burn_in, dim : int
        Chains, steps ``K``, steps before the Polyak average starts, dimension.
    track : ndarray of int or None
        Coordinates whose trajectories are kept.
    max_norm : float
        Divergence threshold (see the module notes).
    n_jobs : int
        Worker processes over blocks.
    """

    n_chains: int
    n_steps: int
    burn_in: int
    dim: int
    track: np.ndarray | None
    max_norm: float
    n_jobs: int


def chain_settings(
    n_chains: int,
    n_steps: int,
    burn_in: int,
    dim: int,
    *,
    track: Sequence[int] | None = None,
    max_norm: float = DEFAULT_MAX_NORM,
    n_jobs: int = 1,
) -> ChainSettings:
    """Return the checked settings of a run of ``n_chains`` chains (:class:`ChainSettings`).

    Raises
    ------
    ValueError
        A size below 1, ``burn_in`` outside ``[0, n_steps)``, ``track`` indices outside ``[0, dim)``,
        ``max_norm <= 0`` or a bad ``n_jobs``.

    Examples
    --------
    >>> chain_settings(100, 50, 10, 3, track=[0]).track.tolist()
    [0]
    """
    n_chains = check_int("n_chains", n_chains, low=1)
    n_steps = check_int("n_steps", n_steps, low=1)
    burn_in = check_int("burn_in", burn_in, low=0)
    if burn_in >= n_steps:
        raise ValueError(
            f"burn_in must be < n_steps (got burn_in={burn_in}, n_steps={n_steps}); "
            "the average needs at least one iterate after the burn-in"
        )
    dim = check_int("dim", dim, low=1)
    return ChainSettings(
        n_chains=n_chains,
        n_steps=n_steps,
        burn_in=burn_in,
        dim=dim,
        track=_check_track(track, dim),
        max_norm=check_positive("max_norm", max_norm),
        n_jobs=check_n_jobs(n_jobs),
    )


class ChainBlock:
    """One block of chains being simulated: the centred iterates and their bookkeeping.

    Holds the iterates ``z`` (``(c, dim)``, updated in place by the simulator), the running sum for the
    Polyak average, the divergence flags and the tracked values. A block function makes one with
    :meth:`start`, updates ``block.z`` in place at each step of ``for k in block.steps()`` and returns
    :meth:`finish`.
    """

    def __init__(self, z: np.ndarray, settings: ChainSettings):
        c, d = z.shape
        track, max_norm = settings.track, settings.max_norm
        self.z = z
        self.n_steps = settings.n_steps
        self.burn_in = settings.burn_in
        self.track = track
        self.max_sq = max_norm * max_norm if max_norm < 1e154 else np.inf
        self.max_sq_or_norm = self.max_sq if self.max_sq < np.inf else max_norm
        self.sum = np.zeros((c, d))
        self.sq = np.empty(c)
        self.diverged_at = np.full(c, -1, dtype=np.int64)
        self.alive = np.ones(c, dtype=bool)
        self.n_alive = c
        self.traj = None if track is None else np.full((c, self.n_steps, track.size), np.nan)

    @classmethod
    def start(
        cls,
        rng: np.random.Generator,
        c: int,
        z0: np.ndarray | None,
        settings: ChainSettings,
        init_scale: float = 0.0,
    ) -> ChainBlock:
        """Return a block of ``c`` chains started at ``z0`` (zero if None) plus ``init_scale * N(0, I)``."""
        z = np.zeros((c, settings.dim)) if z0 is None else z0.copy()
        if init_scale > 0.0:
            z += init_scale * rng.standard_normal((c, settings.dim))
        return cls(z, settings)

    def steps(self):
        """Yield the steps ``k = 1, ..., n_steps``, recording each once the caller has updated ``z``.

        Each step is recorded by :meth:`after_step` when the caller asks for the next one; the iteration
        stops early once every chain of the block has diverged.
        """
        for k in range(1, self.n_steps + 1):
            yield k
            if not self.after_step(k):
                return

    def after_step(self, k: int) -> bool:
        """Record step ``k`` (1-based); return False when every chain of the block has diverged."""
        z = self.z
        if self.max_sq < np.inf:
            np.einsum("cd,cd->c", z, z, out=self.sq)
        else:  # threshold above sqrt(float max): squares could overflow, compare norms instead
            self.sq[:] = _safe_norms(z)
        if not (self.sq.max() <= self.max_sq_or_norm):  # also catches NaN / inf
            bad = ~(self.sq <= self.max_sq_or_norm) & self.alive
            if bad.any():
                self.diverged_at[bad] = k
                self.alive[bad] = False
                self.n_alive = int(self.alive.sum())
            z[~self.alive] = 0.0  # frozen: keeps the arithmetic finite, ignored in the output
        if self.traj is not None:
            self.traj[:, k - 1, :] = z[:, self.track]
            if self.n_alive < z.shape[0]:
                self.traj[~self.alive, k - 1, :] = np.nan
        if k > self.burn_in:
            self.sum += z
        return self.n_alive > 0

    def finish(self):
        """Return ``(last, average, diverged_at, trajectories)``, with NaN rows for diverged chains."""
        dead = ~self.alive
        last = self.z.copy()
        avg = self.sum / (self.n_steps - self.burn_in)
        last[dead] = np.nan
        avg[dead] = np.nan
        return last, avg, self.diverged_at, self.traj


def _run_blocks(
    block_fn: Callable, n_chains: int, block_size: int, seed, n_jobs: int, x0: np.ndarray | None, **kwargs
) -> tuple[np.ndarray, ...]:
    """Run ``block_fn(rng, c, x0_block, **kwargs)`` over blocks of chains and stack the results.

    Block ``j`` always covers chains ``[j*block_size, (j+1)*block_size)`` and uses the stream
    ``SeedSequence(entropy, spawn_key=(j,))``, so the output does not depend on ``n_jobs``.
    """
    entropy = _root_entropy(seed)
    starts = list(range(0, n_chains, block_size))
    jobs = []
    for j, s in enumerate(starts):
        c = min(block_size, n_chains - s)
        xb = None if x0 is None else np.array(x0[s : s + c], dtype=np.float64)
        jobs.append((j, c, xb))
    if n_jobs == 1 or len(jobs) == 1:
        outs = [block_fn(_block_rng(entropy, j), c, xb, **kwargs) for j, c, xb in jobs]
    else:
        from joblib import Parallel, delayed

        outs = Parallel(n_jobs=n_jobs)(
            delayed(_run_one_block)(block_fn, entropy, j, c, xb, kwargs) for j, c, xb in jobs
        )
    last = np.concatenate([o[0] for o in outs])
    avg = np.concatenate([o[1] for o in outs])
    dat = np.concatenate([o[2] for o in outs])
    traj = None if outs[0][3] is None else np.concatenate([o[3] for o in outs])
    return last, avg, dat, traj


def _run_one_block(block_fn, entropy, j, c, xb, kwargs):
    return block_fn(_block_rng(entropy, j), c, xb, **kwargs)


def run_chains(
    block_fn: Callable,
    settings: ChainSettings,
    *,
    seed,
    block_size: int,
    centre,
    config: dict,
    z0: np.ndarray | None = None,
    **kwargs,
) -> SimulationResult:
    """Run a simulator's block function over blocks of chains and collect a :class:`SimulationResult`.

    Parameters
    ----------
    block_fn : callable
        ``block_fn(rng, c, z0_block, settings=settings, **kwargs)`` simulates ``c`` chains from the block's
        own generator and returns :meth:`ChainBlock.finish` (picklable when ``settings.n_jobs != 1``).
    settings : ChainSettings
        The checked settings (:func:`chain_settings`).
    seed : int, numpy Generator or None
        Randomness; block ``j`` draws from :func:`block_rng` ``(seed, j)``.
    block_size : int
        Chains per block (part of the run's identity: it fixes the random streams).
    centre : array_like, shape (dim,)
        What the iterates are centred at (stored in the result).
    config : dict
        The simulator's settings; the shared ones (sizes, seed, threshold, block size, tracked
        coordinates) are added.
    z0 : ndarray, shape (n_chains, dim), optional
        Centred starting points (:func:`check_start`), split over the blocks.
    **kwargs
        Passed to ``block_fn``.

    Returns
    -------
    SimulationResult
        Read-only arrays; ``result.config`` is ``config`` with the shared settings.
    """
    block_size = check_int("block_size", block_size, low=1)
    last, avg, dat, traj = _run_blocks(
        block_fn, settings.n_chains, block_size, seed, settings.n_jobs, z0, settings=settings, **kwargs
    )
    config = dict(
        config,
        n_chains=settings.n_chains,
        n_steps=settings.n_steps,
        burn_in=settings.burn_in,
        seed=_seed_repr(seed),
        max_norm=settings.max_norm,
        block_size=block_size,
        track=None if settings.track is None else settings.track.tolist(),
    )
    centre = np.array(centre, dtype=np.float64)
    for a in (last, avg, dat, centre):
        a.setflags(write=False)
    if traj is not None:
        traj.setflags(write=False)
    diverged = dat >= 0
    diverged.setflags(write=False)
    return SimulationResult(
        last=last,
        average=avg,
        diverged=diverged,
        diverged_at=dat,
        trajectories=traj,
        config=config,
        centre=centre,
    )


# --------------------------------------------------------------------------------------------
# generic affine recursion
# --------------------------------------------------------------------------------------------


def _recursion_block(rng, c, x0b, *, sample_m, sample_q, settings):
    st = ChainBlock.start(rng, c, x0b, settings)
    z, dim = st.z, settings.dim
    with np.errstate(over="ignore", invalid="ignore"):
        for k in st.steps():
            m = np.asarray(sample_m(rng, c), dtype=np.float64)
            q = np.asarray(sample_q(rng, c), dtype=np.float64)
            if k == 1:
                if m.shape != (c, dim, dim):
                    raise ValueError(
                        f"sample_m(rng, {c}) must return shape ({c}, {dim}, {dim}), got {m.shape}"
                    )
                if q.shape != (c, dim):
                    raise ValueError(f"sample_q(rng, {c}) must return shape ({c}, {dim}), got {q.shape}")
            z[...] = np.matmul(m, z[:, :, None])[:, :, 0] + q
    return st.finish()


def simulate_recursion(
    sample_m: Callable[[np.random.Generator, int], np.ndarray],
    sample_q: Callable[[np.random.Generator, int], np.ndarray],
    dim: int,
    n_chains: int = 1000,
    n_steps: int = 1000,
    burn_in: int = 500,
    *,
    x0=None,
    seed=None,
    track: Sequence[int] | None = None,
    max_norm: float = DEFAULT_MAX_NORM,
    block_size: int | None = None,
    n_jobs: int = 1,
) -> SimulationResult:
    r"""Simulate ``n_chains`` independent chains of ``x_k = M_k x_{k-1} + q_k``.

    Parameters
    ----------
    sample_m : callable
        ``sample_m(rng, n) -> ndarray (n, dim, dim)``: ``n`` i.i.d. draws of the random matrix.
    sample_q : callable
        ``sample_q(rng, n) -> ndarray (n, dim)``: ``n`` i.i.d. draws of the random vector
        (drawn after ``M_k`` at every step, from the same generator).
    dim : int
        Dimension ``d`` of the iterates.
    n_chains, n_steps, burn_in : int
        Number of chains, of steps ``K``, and of steps before the Polyak average starts
        (``0 <= burn_in < n_steps``).
    x0 : array_like, optional
        Starting point, shape ``(dim,)`` or ``(n_chains, dim)``; default ``0``.
    seed : int, numpy Generator or None
        Randomness; each block of chains gets its own stream derived from it.
    track : sequence of int, optional
        Coordinates whose whole trajectories are kept (memory ``n_chains * n_steps * len(track)``).
    max_norm : float
        Divergence threshold on ``||x_k||`` (see the module notes).
    block_size : int, optional
        Chains per block; default :func:`default_block_size` of ``dim * dim``. Part of the run's
        identity (changing it changes the random streams).
    n_jobs : int
        Worker processes (joblib) over blocks; does not change the result. Samplers must be
        picklable by cloudpickle when ``n_jobs != 1``.

    Returns
    -------
    SimulationResult
        Centred at ``0``; ``config["kind"] == "recursion"``.

    Raises
    ------
    ValueError
        Bad sizes, ``burn_in >= n_steps``, or samplers that return the wrong shape.

    Notes
    -----
    The update is the batched ``x <- M x + q`` over a block of chains (one ``matmul``), so a
    step costs ``O(d^2)`` per chain. If ``E log||M||`` is negative enough (top Lyapunov exponent
    ``rho < 0``) and ``E log+||q|| < inf``, the chains converge in law to the unique stationary
    solution of ``x = M x + q``, whose tails are governed by Kesten's theorem
    (tail index ``alpha`` with ``lim (1/k) log E||M_k...M_1||^alpha = 0``).

    Examples
    --------
    A scalar Kesten recursion ``x_k = A_k x_{k-1} + B_k`` with ``A ~ U(0, 1.2)``:

    >>> sm = lambda rng, n: rng.uniform(0.0, 1.2, size=(n, 1, 1))
    >>> sq = lambda rng, n: rng.standard_normal((n, 1))
    >>> res = simulate_recursion(sm, sq, dim=1, n_chains=2000, n_steps=200, burn_in=100, seed=0)
    >>> res.last.shape, res.n_diverged
    ((2000, 1), 0)
    """
    if not callable(sample_m):
        raise TypeError("sample_m must be callable: sample_m(rng, n) -> (n, dim, dim)")
    if not callable(sample_q):
        raise TypeError("sample_q must be callable: sample_q(rng, n) -> (n, dim)")
    dim = check_int("dim", dim, low=1)
    settings = chain_settings(n_chains, n_steps, burn_in, dim, track=track, max_norm=max_norm, n_jobs=n_jobs)
    return run_chains(
        _recursion_block,
        settings,
        seed=seed,
        block_size=default_block_size(dim * dim) if block_size is None else block_size,
        centre=np.zeros(dim),
        config=dict(kind="recursion", dim=dim),
        z0=check_start(x0, settings.n_chains, dim),
        sample_m=sample_m,
        sample_q=sample_q,
    )
