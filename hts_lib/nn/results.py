"""Shipped results: where they live, which runs count, seed-aware summaries, and their provenance.

Part III reads grids of training runs that the experiment runner wrote, one JSON file per run
(:mod:`hts_lib.nn.experiments`). This module holds what the chapters would otherwise repeat:

* :func:`results_dir` finds a shipped results folder (``results/<name>`` of the repository);
* :func:`run_status` is the one rule that sorts runs into ``"diverged"``, ``"collapsed"``,
  ``"under-trained"`` and ``"ok"`` (thresholds :data:`COLLAPSE_ACC`, :data:`TRAINED_ACC`);
* :func:`cell_summary` gives per-cell (``eta``, ``b``) medians and seed spreads;
* :func:`hierarchical_bootstrap` and :func:`spearman_interval` give intervals for correlations
  and trends that include seed noise: cells are resampled, then seeds within each cell;
* :func:`source_hash` is a hash of the sources of the functions that produce a result file
  (trainer, estimators, sharpness), recorded in each shipped file so a test can tell when the
  code changed after the results were made.

Importing this module does not import torch.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import math
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from hts_lib.validation import check_bool, check_int, check_probability, check_real, check_rng, check_str

__all__ = [
    "COLLAPSE_ACC",
    "TRAINED_ACC",
    "RUN_STATUSES",
    "SOURCE_FUNCTIONS",
    "results_dir",
    "run_status",
    "run_statuses",
    "cell_summary",
    "hierarchical_bootstrap",
    "spearman_interval",
    "interval_reading",
    "source_hash",
]

#: A run whose averaged weights classify the training set no better than this has collapsed
#: (chance on 10 classes is 0.1; a dead network predicts one class).
COLLAPSE_ACC = 0.2
#: A run that did not reach this training accuracy is under-trained: its weights are still near
#: their (light-tailed) initialisation, so its tail index says little about SGD's stationary law.
TRAINED_ACC = 0.9
#: The statuses :func:`run_status` returns, from worst to best.
RUN_STATUSES = ("diverged", "collapsed", "under-trained", "ok")

#: The functions whose sources make a shipped result (``module:qualified name``).
SOURCE_FUNCTIONS = (
    "hts_lib.nn.ensemble:train_ensemble",
    "hts_lib.nn.ensemble:_Stack",
    "hts_lib.nn.ensemble:run_ensemble",
    "hts_lib.nn.training:weight_tail_indices",
    "hts_lib.nn.training:normalise_config",
    "hts_lib.nn.training:_analyse_runs",
    "hts_lib.nn.training:_run_record",
    "hts_lib.nn.nets:fully_connected",
    "hts_lib.nn.nets:lenet5",
    "hts_lib.nn.nets:_plain_mlp",
    "hts_lib.tails.estimators:alpha_stable",
    "hts_lib.tails.estimators:hill",
    "hts_lib.nn.sharpness:ensemble_sharpness",
    "hts_lib.nn.sharpness:_top_eigenvalues",
    "hts_lib.nn.sharpness:_lanczos_top",
    "hts_lib.nn.sharpness:_MlpHessian",
    "hts_lib.nn.sharpness:hessian_vector_product",
)


def results_dir(name: str, *, must_exist: bool = True) -> Path:
    """Return the shipped results folder ``results/<name>`` of the book's repository.

    Parameters
    ----------
    name : str
        Folder name under ``results/`` (e.g. ``"fc_mnist_seeds"``).
    must_exist : bool
        Raise when the folder is not there.

    Returns
    -------
    pathlib.Path
        ``$HTS_RESULTS_DIR/<name>`` when that variable is set, else ``results/<name>`` in the first
        of the current folder and its parents that has it, else beside the installed library.

    Raises
    ------
    ValueError
        ``name`` empty or holding a path separator.
    FileNotFoundError
        With ``must_exist`` and no such folder (the message gives the command that makes it).

    Used in: chapters/ch10_fully_connected_networks.ipynb

    Examples
    --------
    >>> results_dir("fc_mnist_seeds", must_exist=False).name
    'fc_mnist_seeds'
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"name must be a folder name under results/, got {name!r}")
    check_bool("must_exist", must_exist)
    env = os.environ.get("HTS_RESULTS_DIR")
    candidates = [Path(env) / name] if env else []
    here = Path.cwd().resolve()
    candidates += [p / "results" / name for p in (here, *here.parents)]
    candidates.append(Path(__file__).resolve().parents[2] / "results" / name)
    for c in candidates:
        if c.is_dir():
            return c
    if must_exist:
        raise FileNotFoundError(
            f"no results folder {name!r} (looked in {candidates[0]} and parents); make it with `make results`"
        )
    return candidates[-1]


def run_status(
    record: Mapping, *, collapse_acc: float = COLLAPSE_ACC, trained_acc: float = TRAINED_ACC
) -> str:
    r"""Sort one run: ``"diverged"``, ``"collapsed"``, ``"under-trained"`` or ``"ok"``.

    Parameters
    ----------
    record : mapping
        A result record (:data:`hts_lib.nn.experiments.RESULT_SCHEMA`).
    collapse_acc, trained_acc : float
        Thresholds on the training accuracy of the averaged weights.

    Returns
    -------
    str
        ``"diverged"``: the loss became non-finite; ``"collapsed"``: finite, but training accuracy
        of the averaged weights :math:`\le` ``collapse_acc`` (dead ReLUs, constant logits);
        ``"under-trained"``: below ``trained_acc``; ``"ok"`` otherwise.

    Raises
    ------
    ValueError
        Thresholds outside [0, 1] or ``collapse_acc > trained_acc``; a record without metrics that
        did not diverge.

    Notes
    -----
    One rule for the whole book, so that every chapter sets aside the same runs and says so.

    Used through :func:`run_statuses` in chapters 10 and 12.

    Examples
    --------
    >>> ok = {"diverged": False, "metrics_average": {"train_acc": 0.97}}
    >>> bad = {**ok, "metrics_average": {"train_acc": 0.1}}
    >>> run_status(ok), run_status(bad), run_status({"diverged": True})
    ('ok', 'collapsed', 'diverged')
    """
    collapse_acc = check_probability("collapse_acc", collapse_acc, open_interval=False)
    trained_acc = check_probability("trained_acc", trained_acc, open_interval=False)
    if collapse_acc > trained_acc:
        raise ValueError(f"collapse_acc ({collapse_acc}) must not exceed trained_acc ({trained_acc})")
    if not isinstance(record, Mapping):
        raise TypeError(f"record must be a mapping, got {type(record).__name__}")
    if record.get("diverged"):
        return "diverged"
    m = record.get("metrics_average") or record.get("metrics")
    if not m or m.get("train_acc") is None:
        raise ValueError("record did not diverge but has no training accuracy (metrics_average.train_acc)")
    acc = float(m["train_acc"])
    if acc <= collapse_acc:
        return "collapsed"
    return "under-trained" if acc < trained_acc else "ok"


def run_statuses(records: Sequence[Mapping], **thresholds) -> np.ndarray:
    """:func:`run_status` of every record, as a numpy array of strings.

    Used in: chapters/ch10_fully_connected_networks.ipynb
    """
    return np.array([run_status(r, **thresholds) for r in records], dtype=object)


def _as_cells(cells) -> np.ndarray:
    arr = np.asarray(cells)
    if arr.dtype.kind == "c":
        raise TypeError("cells must hold cell labels (numbers or strings), got complex numbers")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError("cells must not hold NaN: every run needs a cell label")
    if arr.ndim == 2:
        arr = np.array([tuple(r) for r in arr.tolist()], dtype=object)
        _, inv = np.unique(np.array([repr(r) for r in arr]), return_inverse=True)
        return inv
    if arr.ndim != 1:
        raise ValueError(
            f"cells must be one label per run (1-D) or one row of labels per run (2-D), got shape {arr.shape}"
        )
    _, inv = np.unique(arr, return_inverse=True)
    return inv


def _as_reals(name: str, values) -> np.ndarray:
    """``values`` as a float array (NaN allowed: a missing value), or a TypeError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers, got {type(values).__name__}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array with one entry per run, got shape {arr.shape}")
    return arr


def cell_summary(values, cells) -> dict:
    """Per-cell median, spread (min, max) and count of ``values`` (NaN ignored).

    Parameters
    ----------
    values : array-like, shape (n,)
        One number per run.
    cells : array-like, shape (n,) or (n, k)
        The cell of each run (e.g. ``np.c_[eta, b]``).

    Returns
    -------
    dict
        ``{"cell": first row of each cell, "median", "lo", "hi", "n"}`` as arrays (one entry per
        cell, in sorted cell order).

    Used for per-cell tables of shipped grids (chapters 10-12 plot the same summary).

    Examples
    --------
    >>> s = cell_summary([1.0, 3.0, 2.0, np.nan], [0, 0, 1, 1])
    >>> s["median"].tolist(), s["lo"].tolist(), s["n"].tolist()
    ([2.0, 2.0], [1.0, 2.0], [2, 1])
    """
    v = _as_reals("values", values)
    inv = _as_cells(cells)
    if v.shape != inv.shape:
        raise ValueError(f"values ({v.shape}) and cells ({inv.shape}) must have one entry per run")
    raw = np.asarray(cells)
    out = {"cell": [], "median": [], "lo": [], "hi": [], "n": []}
    for c in range(inv.max() + 1 if inv.size else 0):
        sel = v[inv == c]
        sel = sel[np.isfinite(sel)]
        out["cell"].append(raw[np.flatnonzero(inv == c)[0]])
        out["n"].append(sel.size)
        out["median"].append(np.median(sel) if sel.size else np.nan)
        out["lo"].append(sel.min() if sel.size else np.nan)
        out["hi"].append(sel.max() if sel.size else np.nan)
    return {k: np.array(v_) for k, v_ in out.items()}


def hierarchical_bootstrap(
    statistic: Callable[[np.ndarray], float],
    cells,
    *,
    n_boot: int = 1000,
    level: float = 0.9,
    seed=0,
    resample_cells: bool = True,
) -> tuple[float, float, float]:
    """Statistic over runs with a two-level bootstrap interval: cells, then seeds within cells.

    Parameters
    ----------
    statistic : callable
        ``statistic(idx) -> float`` computed on the runs ``idx`` (an integer index array, possibly
        with repeats).
    cells : array-like, shape (n,) or (n, k)
        The cell of each run; runs of one cell differ only in their seed.
    n_boot : int
        Resamples (>= 100).
    level : float
        Two-sided level of the percentile interval.
    seed : int, numpy Generator or None
        Randomness of the resampling.
    resample_cells : bool
        True: draw cells with replacement, then seeds within each drawn cell (the design's cells
        are treated as a sample of cells; for correlations across the grid). False: keep every
        cell and resample seeds only (for comparisons at fixed cells, e.g. b = 1 vs 5 at one eta).

    Returns
    -------
    (float, float, float)
        The statistic on all runs, and the interval's lower and upper ends. Resamples whose
        statistic is not finite are dropped.

    Raises
    ------
    ValueError
        Bad ``n_boot``, ``level`` or ``cells``; fewer than half the resamples finite.

    Notes
    -----
    The seeds of a cell share everything but initialisation and data order, so runs are not
    independent across a grid; resampling whole cells and then seeds inside them keeps that
    structure, and the interval includes seed noise. It is a percentile interval, not a p-value.

    Used in: chapters/ch10_fully_connected_networks.ipynb

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> cells = np.repeat(np.arange(10), 5)
    >>> y = cells + rng.normal(size=50)
    >>> est, lo, hi = hierarchical_bootstrap(lambda i: float(np.mean(y[i])), cells, seed=0)
    >>> bool(lo < 4.5 < hi), round(est, 2)  # the cell means average 4.5
    (True, 4.46)
    """
    n_boot = check_int("n_boot", n_boot, low=100)
    level = check_probability("level", level)
    check_bool("resample_cells", resample_cells)
    if not callable(statistic):
        raise TypeError("statistic must be callable: statistic(idx) -> float")
    inv = _as_cells(cells)
    members = [np.flatnonzero(inv == c) for c in range(inv.max() + 1)]
    rng = check_rng(seed)
    est = float(statistic(np.arange(inv.size)))
    vals = np.empty(n_boot)
    for r in range(n_boot):
        chosen = rng.integers(0, len(members), len(members)) if resample_cells else range(len(members))
        idx = np.concatenate([members[c][rng.integers(0, members[c].size, members[c].size)] for c in chosen])
        vals[r] = statistic(idx)
    vals = vals[np.isfinite(vals)]
    if vals.size < n_boot / 2:
        raise ValueError(f"only {vals.size} of {n_boot} resamples gave a finite statistic")
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return est, float(lo), float(hi)


def _spearman(x, y) -> float:
    from scipy.stats import rankdata

    if x.size < 3:
        return np.nan
    rx, ry = rankdata(x), rankdata(y)
    sx, sy = rx.std(), ry.std()
    return float(np.mean((rx - rx.mean()) * (ry - ry.mean())) / (sx * sy)) if sx > 0 and sy > 0 else np.nan


def _partial_spearman(x, y, z) -> float:
    """Spearman correlation of x and y given z: the partial correlation of their ranks."""
    rxy, rxz, ryz = _spearman(x, y), _spearman(x, z), _spearman(y, z)
    den = math.sqrt(max(0.0, (1 - rxz**2) * (1 - ryz**2)))
    return float((rxy - rxz * ryz) / den) if den > 0 else np.nan


def spearman_interval(
    x, y, cells, *, given=None, n_boot: int = 1000, level: float = 0.9, seed=0
) -> tuple[float, float, float]:
    r"""Spearman correlation of ``x`` and ``y`` over runs, with a hierarchical bootstrap interval.

    With ``given = z`` it is the partial Spearman correlation of ``x`` and ``y`` at fixed ``z``: the
    correlation of the ranks after the linear effect of the ranks of ``z`` is removed from both,

    .. math:: \rho_{xy\cdot z} = \frac{\rho_{xy} - \rho_{xz}\rho_{yz}}{\sqrt{(1-\rho_{xz}^2)(1-\rho_{yz}^2)}},

    e.g. sharpness against :math:`\eta/b` at matched training loss. Runs with a non-finite ``x``, ``y``
    (or ``z``) are left out first. See :func:`hierarchical_bootstrap`.

    Returns
    -------
    (float, float, float)
        Correlation, interval low, interval high.

    Raises
    ------
    TypeError, ValueError
        Arrays that are not real or not one entry per run.

    Used in: chapters/ch10_fully_connected_networks.ipynb, chapters/ch12_flatness_noise_tails.ipynb

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> cells = np.repeat(np.arange(12), 5)
    >>> x = cells.astype(float); y = -x + 3 * rng.normal(size=60)
    >>> r, lo, hi = spearman_interval(x, y, cells)
    >>> bool(hi < 0)
    True
    >>> z = rng.normal(size=60); u, v = z + 0.3 * rng.normal(size=60), z + 0.3 * rng.normal(size=60)
    >>> r_uv = spearman_interval(u, v, cells)[0]; r_uv_z = spearman_interval(u, v, cells, given=z)[0]
    >>> bool(r_uv > 0.8 and abs(r_uv_z) < 0.3)   # u and v are related only through z
    True
    """
    x, y = _as_reals("x", x), _as_reals("y", y)
    z = None if given is None else _as_reals("given", given)
    inv = _as_cells(cells)
    if not x.shape == y.shape == inv.shape or (z is not None and z.shape != x.shape):
        raise ValueError(
            f"x {x.shape}, y {y.shape}{'' if z is None else f', given {z.shape}'} and cells {inv.shape} "
            "must have one entry per run"
        )
    keep = np.isfinite(x) & np.isfinite(y) & (True if z is None else np.isfinite(z))
    x, y, inv = x[keep], y[keep], inv[keep]
    if z is None:
        stat = lambda i: _spearman(x[i], y[i])  # noqa: E731
    else:
        z = z[keep]
        stat = lambda i: _partial_spearman(x[i], y[i], z[i])  # noqa: E731
    return hierarchical_bootstrap(stat, inv, n_boot=n_boot, level=level, seed=seed)


def interval_reading(lo: float, hi: float, *, positive: str = "positive", negative: str = "negative") -> str:
    """Apply the book's one reading rule to an interval of a correlation or a difference.

    An interval that contains 0 is read as "no resolved sign" (not as evidence of no effect);
    otherwise the sign is read. Applied to every interval in Part III.

    Examples
    --------
    >>> interval_reading(-0.1, 0.4), interval_reading(0.2, 0.5)
    ('no resolved sign', 'positive')
    >>> interval_reading(-0.6, -0.1, negative="falls")
    'falls'
    """
    lo, hi = check_real("lo", lo), check_real("hi", hi)
    check_str("positive", positive)
    check_str("negative", negative)
    if lo > hi:
        raise ValueError(f"lo and hi must be finite with lo <= hi, got {lo}, {hi}")
    if lo <= 0 <= hi:
        return "no resolved sign"
    return positive if lo > 0 else negative


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_hash(functions: Sequence[str] = SOURCE_FUNCTIONS) -> str:
    """Return a short hash of the code (docstrings and comments aside) of the functions that make a result.

    Parameters
    ----------
    functions : sequence of str
        ``"module:qualified.name"`` entries (default :data:`SOURCE_FUNCTIONS`).

    Returns
    -------
    str
        First 16 hex digits of the SHA-256 of the functions' abstract syntax trees, in order.

    Raises
    ------
    ValueError
        An entry not of the form ``module:name`` or naming nothing.

    Notes
    -----
    Each shipped result file records this hash (``provenance.source_hash``); a test recomputes it,
    so a change to the trainer, the estimators or the sharpness code that is not followed by a
    re-run (``make results``) fails the tests. Editing a docstring or a comment does not; a change in
    a private helper that these functions call is not seen.

    Examples
    --------
    >>> len(source_hash(["hts_lib.validation:check_int"]))
    16
    """
    if isinstance(functions, (str, bytes)) or not hasattr(functions, "__iter__"):
        raise TypeError(
            f"functions must be a sequence of 'module:name' strings, got {type(functions).__name__}"
        )
    h = hashlib.sha256()
    for entry in functions:
        if not isinstance(entry, str) or ":" not in entry:
            raise ValueError(f"functions must hold 'module:name' strings, got {entry!r}")
        mod_name, qual = entry.split(":", 1)
        obj = importlib.import_module(mod_name)
        try:
            for part in qual.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"{entry!r} names nothing") from None
        tree = _strip_docstrings(ast.parse(textwrap.dedent(inspect.getsource(obj))))
        h.update(entry.encode() + b"\0" + ast.dump(tree).encode() + b"\0")
    return h.hexdigest()[:16]
