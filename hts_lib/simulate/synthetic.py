r"""The paper's synthetic experiment (finite-sum SGD on Gaussian linear regression) as one call.

The protocol follows the authors' released notebook (``synth_experiments.ipynb`` in
github.com/umutsimsekli/sgd_ht; paper digest Section 3.1):

* data: ``n = 10^4`` rows, ``d = 100``; ``A`` has i.i.d. ``N(0, sigma^2)`` entries
  (``sigma = 1``), true regressor ``x_0 ~ N(0, 3^2 I)``, responses ``y = A x_0 + N(0, 3^2)``;
  one data set shared by every cell; centre ``x*`` = the least-squares solution;
* SGD: each step takes a uniformly random ``b``-subset of the rows (their
  ``np.random.permutation(n)[:b]``), gradient ``(1/b) A_k^T (A_k x - y_k)``, start
  ``x ~ N(0, 5^2 I)``; the loop ``for k in range(1, K)`` makes ``K - 1 = 999`` updates and the
  running mean covers the iterates after updates ``K0, ..., K - 1`` (500 iterates, ``K0 = 500``);
* 1600 independent runs per ``(b, eta)``; the tail index is the median over
  ``m in (2, 5, 10, 20, 50, 100, 40)`` of the multivariate block estimator (Mohammadi,
  Mohammadpour & Ogata 2015, Corollary 2.4) applied to the 1600 averaged iterates minus ``x*``.

Beside each cell's estimate :func:`authors_protocol` reports what the estimate alone hides:
the top Lyapunov exponent ``rho`` and the exact tail index ``alpha`` of the **online** model with
the same ``(d, b, eta, sigma)`` (from :mod:`hts_lib.recursion.exact`; the offline model with ``n = 10^4``
rows is close to it but not identical), the share of runs that diverged numerically, and the
median ``log10 ||x_bar - x*||``. Cells with ``rho >= 0`` are blow-ups, not stationary tails.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hts_lib._deprecated import forward
from hts_lib.simulate.engine import DEFAULT_MAX_NORM, check_n_jobs
from hts_lib.simulate.sgd import simulate_offline
from hts_lib.validation import check_array, check_choice, check_int, check_path, check_positive, check_real

__all__ = [
    "PAPER_M",
    "PAPER_ETAS",
    "PAPER_BATCH_SIZES",
    "make_regression_data",
    "ProtocolTable",
    "authors_protocol",
    "step_size_for_tail_index",
    "ValidationTable",
    "validation_experiment",
]

#: Block sizes ``m`` of the authors' synthetic experiment (their list, ``40 = sqrt(1600)`` last). Formerly
#: ``AUTHORS_M``, a name the network experiments use for their own list (:data:`hts_lib.nn.AUTHORS_M`).
PAPER_M = (2, 5, 10, 20, 50, 100, 40)
#: The authors' step-size grid, ``np.linspace(0.02, 0.2, 10)``.
PAPER_ETAS = tuple(float(v) for v in np.linspace(0.02, 0.2, 10))
#: The authors' batch-size grid.
PAPER_BATCH_SIZES = (1, 2, 3, 4, 5, 10, 20)

_CACHE_VERSION = 1


def make_regression_data(
    n: int = 10_000, dim: int = 100, sigma: float = 1.0, x_scale: float = 3.0, noise: float = 3.0, seed=0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Return the authors' synthetic regression data.

    ``A ~ N(0, sigma^2)``, ``x_0 ~ N(0, x_scale^2 I)``, ``y = A x_0 + noise * N(0, 1)``.

    Parameters
    ----------
    n, dim : int
        Rows and columns of ``A``.
    sigma, x_scale, noise : float
        Entry scale of ``A``, scale of the true regressor, label-noise standard deviation
        (authors: 1, 3, 3).
    seed : int, numpy Generator or None

    Returns
    -------
    (A, y, x_true) : tuple of ndarrays, shapes (n, dim), (n,), (dim,)

    Raises
    ------
    ValueError
        Non-positive sizes or scales.

    Examples
    --------
    >>> A, y, x0 = make_regression_data(n=50, dim=3, seed=0)
    >>> A.shape, y.shape, x0.shape
    ((50, 3), (50,), (3,))
    """
    from hts_lib.validation import check_rng

    n = check_int("n", n, low=1)
    dim = check_int("dim", dim, low=1)
    sigma = check_positive("sigma", sigma)
    x_scale = check_real("x_scale", x_scale, low=0.0)
    noise = check_real("noise", noise, low=0.0)
    rng = check_rng(seed)
    A = sigma * rng.standard_normal((n, dim))
    x_true = x_scale * rng.standard_normal(dim)
    y = A @ x_true + noise * rng.standard_normal(n)
    return A, y, x_true


@dataclasses.dataclass(frozen=True, eq=False)
class ProtocolTable:
    """The ``(b x eta)`` table of the authors' synthetic experiment, with diagnostics per cell.

    Every array has shape ``(len(batch_sizes), len(etas))``.

    Attributes
    ----------
    etas, batch_sizes : ndarray
        The grid.
    alpha_hat : ndarray
        Median over ``m`` of the block estimator on the averaged iterates minus ``x*`` of the
        runs that did not diverge (NaN if fewer than ``2 * max(m)`` runs remain).
    alpha_hat_ci_low, alpha_hat_ci_high : ndarray
        Its interval (``hts_lib.tails.estimators.alpha_stable``: normal interval with a bootstrap
        standard error over resampled runs, nominal 90 %; NaN when ``n_boot = 0``).
    alpha_hat_flags : ndarray of str
        The estimator's flags, comma-separated (``"at_ceiling"``: indistinguishable from 2,
        the value every finite-variance law gives; ``"not_centred"``, ...).
    alpha_hat_last : ndarray
        The same estimator on the last iterates.
    rho : ndarray
        Top Lyapunov exponent of the **online** model with the same ``(dim, b, eta, sigma)``.
    alpha_exact : ndarray
        Exact tail index of that online model (NaN where ``rho >= 0``: no stationary law).
    share_diverged : ndarray
        Fraction of runs flagged as diverged (norm above ``max_norm`` or non-finite).
    median_log10_norm : ndarray
        Median over all runs of ``log10 ||x_bar - x*||``, diverged runs counted as ``+inf``.
    n_used : ndarray of int
        Runs used by the estimator (the non-diverged ones).
    wall_time_s, cpu_time_s : ndarray
        Wall-clock and CPU time of each cell's simulation + estimation, in its worker process
        (seconds). On a shared machine the CPU time is the steadier measure of the work; half
        their sum is what 2 idle cores would need.
    config : dict
        The protocol's settings (sizes, seed, ``m`` list, threshold, versions).
    """

    etas: np.ndarray
    batch_sizes: np.ndarray
    alpha_hat: np.ndarray
    alpha_hat_ci_low: np.ndarray
    alpha_hat_ci_high: np.ndarray
    alpha_hat_flags: np.ndarray
    alpha_hat_last: np.ndarray
    rho: np.ndarray
    alpha_exact: np.ndarray
    share_diverged: np.ndarray
    median_log10_norm: np.ndarray
    n_used: np.ndarray
    wall_time_s: np.ndarray
    cpu_time_s: np.ndarray
    config: dict

    @property
    def unstable(self) -> np.ndarray:
        """Cells where the online model has no stationary law (``rho >= 0``): blow-ups."""
        return self.rho >= 0.0

    @property
    def heavy_tailed(self) -> np.ndarray:
        """Cells with a stationary law of infinite variance (``rho < 0`` and ``alpha < 2``)."""
        return (self.rho < 0.0) & (self.alpha_exact < 2.0)

    def records(self) -> list[dict]:
        """One dict per cell (``batch_size``, ``eta`` and every per-cell quantity), row-major."""
        cell_fields = [
            f.name for f in dataclasses.fields(self) if f.name not in ("etas", "batch_sizes", "config")
        ]
        kinds = {"alpha_hat_flags": str, "n_used": int}
        out = []
        for i, b in enumerate(self.batch_sizes):
            for j, eta in enumerate(self.etas):
                rec = dict(batch_size=int(b), eta=float(eta))
                rec.update((f, kinds.get(f, float)(getattr(self, f)[i, j])) for f in cell_fields)
                out.append(rec)
        return out


# --------------------------------------------------------------------------------------------
# per-cell work
# --------------------------------------------------------------------------------------------


def _estimate(x: np.ndarray, ms: tuple[int, ...], n_boot: int, seed) -> tuple[float, float, float, str]:
    """Return the authors' estimate: the median over ``ms`` of the block estimator.

    With a bootstrap interval when ``n_boot > 0``; NaN when fewer than ``2 max(ms)`` rows are left.
    """
    from hts_lib.tails import alpha_stable

    if x.shape[0] < 2 * max(ms):
        return math.nan, math.nan, math.nan, "too_few_runs"
    est = alpha_stable(x, m=ms, ci="bootstrap" if n_boot > 0 else "none", n_boot=max(n_boot, 20), seed=seed)
    return float(est.alpha), float(est.ci_low), float(est.ci_high), ",".join(est.flags)


@dataclasses.dataclass(frozen=True)
class _Protocol:
    """The settings shared by :func:`authors_protocol` and :func:`validation_experiment`, checked."""

    ms: tuple[int, ...]
    n_runs: int
    n_steps: int
    burn_in: int
    sigma: float
    seed: int

    def config(self) -> dict:
        """Return the settings as they are recorded in a table's ``config``."""
        return dict(
            n_runs=self.n_runs,
            n_steps=self.n_steps,
            burn_in=self.burn_in,
            sigma=self.sigma,
            seed=self.seed,
            ms=list(self.ms),
        )

    def chain_options(self, rng, dim: int, init_scale: float) -> dict:
        """Return the simulator options of a cell (``n_steps`` iterates count the start: one update less)."""
        return dict(
            n_chains=self.n_runs,
            n_steps=self.n_steps - 1,
            burn_in=self.burn_in - 1,
            seed=rng,
            x0=np.zeros(dim),
            init_scale=init_scale,
        )


def _check_protocol(ms, n_runs, n_steps, burn_in, sigma, seed) -> _Protocol:
    """Check the settings of the authors' protocol."""
    ms_t = tuple(check_int("ms", m, low=2) for m in np.atleast_1d(np.asarray(ms, dtype=object)))
    if len(ms_t) == 0:
        raise ValueError("ms must not be empty")
    n_runs = check_int("n_runs", n_runs, low=2 * max(ms_t))
    n_steps = check_int("n_steps", n_steps, low=2)
    burn_in = check_int("burn_in", burn_in, low=1)
    if burn_in >= n_steps:
        raise ValueError(f"burn_in must be < n_steps, got burn_in={burn_in}, n_steps={n_steps}")
    return _Protocol(
        ms_t, n_runs, n_steps, burn_in, check_positive("sigma", sigma), check_int("seed", seed, low=0)
    )


def _cell_seed(seed: int, b: int, eta: float) -> np.random.SeedSequence:
    # keyed by the cell's values, so a cell's runs do not depend on the rest of the grid
    return np.random.SeedSequence(seed, spawn_key=(1, int(b), int(round(eta * 1e12))))


def _run_cell(X, y, b, eta, proto: _Protocol, max_norm, init_scale, n_boot):
    t0 = time.perf_counter()
    c0 = time.process_time()
    rng = np.random.default_rng(_cell_seed(proto.seed, b, eta))
    res = simulate_offline(
        X, y, eta, b, **proto.chain_options(rng, X.shape[1], init_scale), max_norm=max_norm
    )
    with np.errstate(all="ignore"):
        a_avg, lo, hi, flags = _estimate(res.stable_average, proto.ms, n_boot, rng)
        a_last = _estimate(res.stable_last, proto.ms, 0, None)[0]
    return dict(
        batch_size=int(b),
        eta=float(eta),
        alpha_hat=a_avg,
        alpha_hat_ci_low=lo,
        alpha_hat_ci_high=hi,
        alpha_hat_flags=flags,
        alpha_hat_last=a_last,
        share_diverged=res.share_diverged,
        median_log10_norm=float(np.median(res.log10_norms("average"))),
        n_used=int(res.n_chains - res.n_diverged),
        wall_time_s=time.perf_counter() - t0,
        cpu_time_s=time.process_time() - c0,
    )


def _cell_key(b: int, eta: float) -> str:
    return f"b={int(b)},eta={float(eta):.12g}"


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)  # 'nan', 'inf'
    return v


def _from_json(v):
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return v


def _load_cache(path: Path, fingerprint: str) -> dict:
    if not path.exists():
        return {}
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"cache file {path} is not readable JSON ({exc}); move it away to start afresh"
        ) from None
    if data.get("fingerprint") != fingerprint:
        raise ValueError(
            f"cache file {path} was written for different protocol settings; use another path or delete it"
        )
    return {k: {kk: _from_json(vv) for kk, vv in cell.items()} for k, cell in data.get("cells", {}).items()}


def _write_cache(path: Path, fingerprint: str, config: dict, cells: dict) -> None:
    payload = dict(
        version=_CACHE_VERSION,
        fingerprint=fingerprint,
        config=config,
        cells={k: {kk: _jsonable(vv) for kk, vv in c.items()} for k, c in cells.items()},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _theory_cells(etas, batch_sizes, dim, sigma):
    from hts_lib.recursion import lyapunov_exponent, tail_index

    rho = np.empty((len(batch_sizes), len(etas)))
    alpha = np.empty_like(rho)
    for i, b in enumerate(batch_sizes):
        for j, eta in enumerate(etas):
            rho[i, j] = lyapunov_exponent(eta, b, dim, sigma)
            alpha[i, j] = tail_index(eta, b, dim, sigma) if rho[i, j] < 0 else math.nan
    return rho, alpha


def authors_protocol(
    etas: Sequence[float] = PAPER_ETAS,
    batch_sizes: Sequence[int] = PAPER_BATCH_SIZES,
    dim: int = 100,
    n: int = 10_000,
    n_runs: int = 1600,
    n_steps: int = 1000,
    burn_in: int = 500,
    sigma: float = 1.0,
    seed: int = 0,
    n_jobs: int = 2,
    *,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    ms: Sequence[int] = PAPER_M,
    max_norm: float = DEFAULT_MAX_NORM,
    init_scale: float = 5.0,
    n_boot: int = 50,
) -> ProtocolTable:
    r"""Run the authors' synthetic experiment over a ``(b x eta)`` grid and tabulate ``alpha_hat``.

    Next to each estimate stand the facts that decide whether it means anything.

    Parameters
    ----------
    etas, batch_sizes : sequence
        The grid (default: the paper's ``linspace(0.02, 0.2, 10)`` and ``(1, 2, 3, 4, 5, 10, 20)``).
    dim, n : int
        Dimension and number of rows of the data set (authors: 100 and 10^4).
    n_runs : int
        Independent runs per cell (authors: 1600).
    n_steps : int
        The authors' ``K``: their loop makes ``K - 1`` updates (we do the same).
    burn_in : int
        The authors' ``K0``: the average covers the iterates after updates ``K0, ..., K - 1``.
    sigma : float
        Scale of the data entries.
    seed : int
        Seeds the data set and, per cell, the runs (keyed by the cell's ``(b, eta)``, so a cell's
        result does not depend on the rest of the grid or on ``n_jobs``).
    n_jobs : int
        Cells run in parallel (joblib processes).
    cache : path, optional
        JSON file where finished cells are saved as they complete (atomically); a rerun with the
        same settings skips them, so an interrupted sweep resumes. A cache written for other
        settings raises ValueError.
    progress : bool
        Show a tqdm progress bar over cells.
    ms : sequence of int
        Block sizes of the estimator (authors' list by default).
    max_norm : float
        Divergence threshold on ``||x_k - x*||`` (see :mod:`hts_lib.simulate.engine`).
    init_scale : float
        Runs start at ``init_scale * N(0, I)`` (authors: 5).
    n_boot : int
        Bootstrap resamples for the interval of ``alpha_hat`` (0: no interval; else >= 20). The
        default 50 estimates the standard error to about 10 % (relative SE ``1/sqrt(2(n_boot-1))``)
        at a quarter of the cost of 200; the resamples dominate a cell's time otherwise.

    Returns
    -------
    ProtocolTable

    Raises
    ------
    ValueError
        Bad sizes (``burn_in`` must satisfy ``1 <= burn_in < n_steps``), an empty grid,
        ``n_runs < 2 * max(ms)``, an incompatible cache file, ...

    Notes
    -----
    Estimator (paper digest Section 4.1): for ``N = m n_b`` vectors ``X_i`` and block sums
    ``Y_j``, ``1/alpha_hat = [mean_j log||Y_j|| - mean_i log||X_i||] / log m``; the table holds
    the median over ``ms``. It is built for strictly stable laws, so it saturates near 2 on
    finite-variance data and reads a diverging run's exploding norm as a small ``alpha_hat``.
    Statistics exclude diverged runs (``n_used`` says how many remain); ``median_log10_norm``
    counts them as ``+inf``. ``rho`` and ``alpha_exact`` are for the online model (fresh
    Gaussian data each step): the offline experiment draws from ``n = 10^4`` fixed rows, whose
    empirical law is close to, but not exactly, that Gaussian.

    Used in: chapters/ch07_synthetic_experiment.ipynb.

    Examples
    --------
    A tiny grid (the real one is ``authors_protocol()``; a few minutes on 2 cores):

    >>> t = authors_protocol(etas=[0.05], batch_sizes=[5], dim=5, n=500, n_runs=200,
    ...                      n_steps=200, burn_in=100, n_jobs=1, progress=False, ms=(2, 5, 10))
    >>> t.alpha_hat.shape, int(t.n_used[0, 0]), bool(t.rho[0, 0] < 0)
    ((1, 1), 200, True)
    """
    etas_a = check_array("etas", etas, ndim=1)
    if np.any(etas_a <= 0):
        raise ValueError(f"etas must all be > 0, got {etas_a.tolist()}")
    bs = [check_int("batch_sizes", b, low=1) for b in np.atleast_1d(np.asarray(batch_sizes))]
    if len(bs) == 0:
        raise ValueError("batch_sizes must not be empty")
    dim = check_int("dim", dim, low=1)
    n = check_int("n", n, low=dim)
    if max(bs) > n:
        raise ValueError(f"batch_sizes must be <= n = {n}, got {max(bs)}")
    proto = _check_protocol(ms, n_runs, n_steps, burn_in, sigma, seed)
    sigma, seed = proto.sigma, proto.seed
    n_jobs = check_n_jobs(n_jobs)
    init_scale = check_real("init_scale", init_scale, low=0.0)
    max_norm = check_positive("max_norm", max_norm)
    n_boot = check_int("n_boot", n_boot, low=0)
    if 0 < n_boot < 20:
        raise ValueError(f"n_boot must be 0 (no interval) or >= 20, got {n_boot}")

    config = dict(
        protocol="authors-synthetic",
        dim=dim,
        n=n,
        **proto.config(),
        max_norm=max_norm,
        init_scale=init_scale,
        n_boot=n_boot,
        x_scale=3.0,
        noise=3.0,
        sampling="without replacement",
        updates=proto.n_steps - 1,
        averaged_iterates=proto.n_steps - proto.burn_in,
    )
    fingerprint = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    cache_path = check_path("cache", cache, optional=True)
    cells = {} if cache_path is None else _load_cache(cache_path, fingerprint)

    X, y, _ = make_regression_data(
        n,
        dim,
        sigma=sigma,
        x_scale=3.0,
        noise=3.0,
        seed=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))),
    )
    todo = [(b, float(eta)) for b in bs for eta in etas_a if _cell_key(b, eta) not in cells]
    args = dict(proto=proto, max_norm=max_norm, init_scale=init_scale, n_boot=n_boot)

    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc="authors' protocol (cells)")
    t_start = time.perf_counter()
    try:
        if n_jobs == 1 or len(todo) <= 1:
            results = (_run_cell(X, y, b, eta, **args) for b, eta in todo)
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(_run_cell)(X, y, b, eta, **args) for b, eta in todo
            )
        for out in results:
            cells[_cell_key(out["batch_size"], out["eta"])] = out
            if cache_path is not None:
                _write_cache(cache_path, fingerprint, config, cells)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t_start

    shape = (len(bs), etas_a.size)
    fields = (
        "alpha_hat",
        "alpha_hat_ci_low",
        "alpha_hat_ci_high",
        "alpha_hat_last",
        "share_diverged",
        "median_log10_norm",
        "wall_time_s",
        "cpu_time_s",
    )
    arrs = {f: np.full(shape, np.nan) for f in fields}
    n_used = np.zeros(shape, dtype=np.int64)
    flags = np.empty(shape, dtype=object)
    for i, b in enumerate(bs):
        for j, eta in enumerate(etas_a):
            c = cells[_cell_key(b, eta)]
            for f in fields:
                arrs[f][i, j] = float(c.get(f, math.nan))
            n_used[i, j] = int(c["n_used"])
            flags[i, j] = str(c.get("alpha_hat_flags", ""))
    rho, alpha = _theory_cells(etas_a, bs, dim, sigma)
    import scipy

    config = dict(
        config,
        fingerprint=fingerprint,
        wall_time_s=elapsed,
        n_jobs=n_jobs,
        numpy=np.__version__,
        scipy=scipy.__version__,
        theory="online model, same (dim, b, eta, sigma)",
    )
    return ProtocolTable(
        etas=etas_a.copy(),
        batch_sizes=np.array(bs),
        rho=rho,
        alpha_exact=alpha,
        n_used=n_used,
        alpha_hat_flags=flags,
        config=config,
        **arrs,
    )


# --------------------------------------------------------------------------------------------
# a corrected experiment: small d, step sizes chosen inside the heavy-tailed window
# --------------------------------------------------------------------------------------------


def step_size_for_tail_index(alpha: float, batch_size: int, dim: int, sigma: float = 1.0) -> float:
    r"""Return the step size at which online SGD (isotropic Gaussian data) has tail index ``alpha``.

    Parameters
    ----------
    alpha : float
        Target tail index, ``0 < alpha <= 50`` (``hts_lib.recursion.exact.ALPHA_MAX``).
    batch_size, dim : int
    sigma : float

    Returns
    -------
    float
        ``eta`` in ``(0, eta_max)`` with ``tail_index(eta, batch_size, dim, sigma) == alpha``.

    Raises
    ------
    ValueError
        ``alpha`` outside ``(0, 50]`` or bad sizes.

    Notes
    -----
    ``alpha`` is strictly decreasing in ``eta`` on ``(0, eta_max)``, from ``+inf`` to 0 (paper
    digest Section 2.3), so ``1/alpha(eta) - 1/alpha`` has a single sign change there; Brent's
    method on it, with ``1/alpha = 0`` where the library reports ``alpha > 50`` as ``inf``.
    For ``alpha = 2`` the answer is ``eta_crit = 2b / (sigma^2 (d + b + 1))``.

    Examples
    --------
    >>> round(step_size_for_tail_index(2.0, 5, 10), 6), round(2 * 5 / (10 + 5 + 1), 6)
    (0.625, 0.625)
    """
    from scipy import optimize

    from hts_lib.recursion import ALPHA_MAX, critical_step_sizes, tail_index

    alpha = check_real("alpha", alpha, low=0.0, high=ALPHA_MAX, low_open=True)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sigma = check_positive("sigma", sigma)
    eta_max = critical_step_sizes(b, d, sigma).eta_max

    def g(eta):
        a = tail_index(eta, b, d, sigma)
        if math.isnan(a):  # numerically at the edge: treat as alpha -> 0
            return math.inf
        return 1.0 / a - 1.0 / alpha

    hi = eta_max * (1.0 - 1e-12)
    while not g(hi) > 0.0:  # alpha(hi) still above the target: cannot happen for alpha > 0
        hi = eta_max - 0.5 * (eta_max - hi)  # pragma: no cover - defensive
        if eta_max - hi < 1e-15 * eta_max:
            raise ValueError(f"alpha = {alpha} is below what can be resolved at eta_max")
    lo = eta_max * 1e-6
    return float(optimize.brentq(g, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))


@dataclasses.dataclass(frozen=True, eq=False)
class ValidationTable:
    """Estimates against exact tail indices, one entry per target ``alpha`` (arrays of that length).

    Attributes
    ----------
    alpha_exact, etas, rho : ndarray
        Target (exact) tail index, the step size that gives it, and the top Lyapunov exponent.
    alpha_hat, alpha_hat_ci_low, alpha_hat_ci_high : ndarray
        The authors' block estimator (median over ``m``) on the averaged iterates minus the
        centre, with its bootstrap interval.
    hill, hill_ci_low, hill_ci_high : ndarray
        Hill's estimator (``hts_lib.tails.estimators.hill``, data-driven ``k``) on ``||x_K - c||`` of
        the last iterates, with its interval.
    share_diverged : ndarray
    config : dict
    """

    alpha_exact: np.ndarray
    etas: np.ndarray
    rho: np.ndarray
    alpha_hat: np.ndarray
    alpha_hat_ci_low: np.ndarray
    alpha_hat_ci_high: np.ndarray
    hill: np.ndarray
    hill_ci_low: np.ndarray
    hill_ci_high: np.ndarray
    share_diverged: np.ndarray
    config: dict


def validation_experiment(
    alphas: Sequence[float],
    batch_size: int = 1,
    dim: int = 5,
    model: str = "online",
    n: int = 10_000,
    n_runs: int = 1600,
    n_steps: int = 1000,
    burn_in: int = 500,
    sigma: float = 1.0,
    seed: int = 0,
    *,
    ms: Sequence[int] = PAPER_M,
    n_boot: int = 50,
    init_scale: float = 5.0,
) -> ValidationTable:
    r"""Run the authors' protocol where a heavy tail really exists.

    Small ``d``, and ``eta`` inside the heavy-tailed window, chosen so that the exact tail index takes the
    given values.

    Parameters
    ----------
    alphas : sequence of float
        Exact tail indices to aim at (each in ``(0, 50]``).
    batch_size, dim : int
    model : {"online", "offline"}
        ``"online"``: fresh Gaussian data each step (the model whose ``alpha`` is exact);
        ``"offline"``: the authors' finite data set of ``n`` rows
        (:func:`make_regression_data`), batches without replacement.
    n : int
        Rows of the data set (offline only).
    n_runs, n_steps, burn_in : int
        As in :func:`authors_protocol` (the authors' ``K = 1000``, ``K0 = 500``: ``K - 1``
        updates, the average over the iterates after updates ``K0, ..., K - 1``).
    sigma : float
    seed : int
    ms : sequence of int
    n_boot : int
        Bootstrap resamples of the block estimator's interval (>= 20).
    init_scale : float
        Start at ``init_scale * N(0, I)`` (authors: 5); online, the true regressor is
        ``3 N(0, I)`` and the label noise 3, as in the authors' data.

    Returns
    -------
    ValidationTable

    Raises
    ------
    ValueError
        Bad sizes, an unknown ``model``, ``alpha`` outside ``(0, 50]``.

    Used in: chapters/ch07_synthetic_experiment.ipynb.

    Examples
    --------
    >>> t = validation_experiment([1.0], dim=2, n_runs=400, n_steps=400, burn_in=200, ms=(2, 5, 10, 20))
    >>> round(float(t.alpha_exact[0]), 6), bool(t.rho[0] < 0), int(t.share_diverged[0])
    (1.0, True, 0)
    """
    from hts_lib.recursion import lyapunov_exponent
    from hts_lib.simulate.sgd import simulate_online
    from hts_lib.tails import alpha_stable, hill
    from hts_lib.validation import check_rng

    targets = check_array("alphas", alphas, ndim=1)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    model = check_choice("model", model, ("online", "offline"))
    n = check_int("n", n, low=max(d, b))
    proto = _check_protocol(ms, n_runs, n_steps, burn_in, sigma, seed)
    sigma, seed = proto.sigma, proto.seed
    n_boot = check_int("n_boot", n_boot, low=20)
    init_scale = check_real("init_scale", init_scale, low=0.0)

    etas = np.array([step_size_for_tail_index(a, b, d, sigma) for a in targets])
    rho = np.array([lyapunov_exponent(e, b, d, sigma) for e in etas])
    data_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    if model == "offline":
        X, y, _ = make_regression_data(n, d, sigma=sigma, seed=data_rng)
    else:
        x_star = 3.0 * check_rng(data_rng).standard_normal(d)
    out = {
        k: np.empty(targets.size)
        for k in (
            "alpha_hat",
            "alpha_hat_ci_low",
            "alpha_hat_ci_high",
            "hill",
            "hill_ci_low",
            "hill_ci_high",
            "share_diverged",
        )
    }
    for i, eta in enumerate(etas):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2, i)))
        common = proto.chain_options(rng, d, init_scale)
        if model == "offline":
            res = simulate_offline(X, y, float(eta), b, **common)
        else:
            res = simulate_online(float(eta), b, d, sigma=sigma, noise=3.0, x_star=x_star, **common)
        est = alpha_stable(res.stable_average, m=proto.ms, n_boot=n_boot, seed=rng)
        h = hill(np.linalg.norm(res.stable_last, axis=1))
        for key, val in (
            ("alpha_hat", est.alpha),
            ("alpha_hat_ci_low", est.ci_low),
            ("alpha_hat_ci_high", est.ci_high),
            ("hill", h.alpha),
            ("hill_ci_low", h.ci_low),
            ("hill_ci_high", h.ci_high),
            ("share_diverged", res.share_diverged),
        ):
            out[key][i] = val
    config = dict(
        model=model,
        batch_size=b,
        dim=d,
        n=n if model == "offline" else None,
        **proto.config(),
        n_boot=n_boot,
        init_scale=init_scale,
    )
    return ValidationTable(alpha_exact=targets.copy(), etas=etas, rho=rho, config=config, **out)


__getattr__ = forward(__name__)
