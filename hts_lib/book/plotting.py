"""One figure style for the whole book, and the plots that chapters share.

White backgrounds (readable in the theme's dark mode), the Okabe-Ito colour-blind-safe palette,
readable fonts, and log-log survival plots for tails. Chapters call :func:`use_book_style` once
in their imports cell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from hts_lib.validation import (
    check_array,
    check_bool,
    check_choice,
    check_mapping,
    check_positive,
    check_real,
    check_str,
)

__all__ = [
    "PALETTE",
    "use_book_style",
    "survival_function",
    "plot_survival",
    "reference_slope",
    "hill_plot",
    "survival_fit_plot",
    "plot_protocol_table",
    "plot_tail_index_sweep",
    "animation_html",
    "plot_seed_spread",
    "pareto_qq_plot",
    "plot_phase_diagram",
    "plot_tail_index_curves",
    "plot_moment_function",
    "plot_moment_paths",
]

#: Okabe & Ito (2008) colour-blind-safe palette, in the order the book uses it.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def use_book_style() -> None:
    """Set matplotlib defaults used by every figure in the book (white background, palette, fonts)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(
        {
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "figure.dpi": 110,
            "figure.figsize": (6.4, 4.0),
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.fontsize": 9.5,
            "legend.frameon": False,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.25,
            "lines.linewidth": 1.8,
            "axes.prop_cycle": cycler(color=list(PALETTE)),
        }
    )


def survival_function(x) -> tuple[np.ndarray, np.ndarray]:
    """Empirical survival function of ``|x|``: sorted values and P(|X| > value).

    Uses the plotting position ``(n - i) / n`` for the ``i``-th smallest value (0-based), so the
    largest sample gets ``1/n`` and the curve never reaches zero on a log axis.

    >>> v, p = survival_function([3.0, -1.0, 2.0])
    >>> v.tolist(), p.round(3).tolist()
    ([1.0, 2.0, 3.0], [1.0, 0.667, 0.333])
    """
    arr = np.abs(check_array("x", x, ndim=None, min_size=1).ravel())
    v = np.sort(arr)
    n = v.size
    p = (n - np.arange(n)) / n
    return v, p


def _check_ax(ax, method: str = "plot"):
    """Raise TypeError (naming ``ax``) unless ``ax`` looks like matplotlib Axes (has ``method``)."""
    if not callable(getattr(ax, method, None)):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def plot_survival(ax, x, *, label: str | None = None, color=None, max_points: int = 4000, **kwargs):
    """Draw the empirical survival function of ``|x|`` on log-log axes and return the line.

    Thins the curve to at most ``max_points`` points (geometrically spaced in rank, so the tail
    keeps every point) to keep figures light.
    """
    _check_ax(ax, "loglog")
    v, p = survival_function(x)
    keep = v > 0
    v, p = v[keep], p[keep]
    if v.size > max_points:
        ranks = np.unique(np.geomspace(1, v.size, max_points).astype(int)) - 1
        idx = v.size - 1 - ranks[::-1]
        v, p = v[idx], p[idx]
    (line,) = ax.loglog(v, p, label=label, color=color, **kwargs)
    ax.set_ylabel(r"$P(|X| > x)$")
    ax.set_xlabel(r"$x$")
    return line


def reference_slope(
    ax,
    x,
    alpha: float,
    *,
    tail_fraction: float = 0.01,
    color="black",
    label: str | bool | None = True,
    n_points: int = 20,
    **kwargs,
):
    r"""Draw a reference power law of slope ``-alpha`` over the top of the empirical survival of ``|x|``.

    The line starts at the ``1 - tail_fraction`` quantile :math:`t_0` of ``|x|``, at height
    ``tail_fraction`` (the empirical survival there), and runs to the largest value, so it sits on
    the tail of the curve drawn by :func:`plot_survival` for the same ``x``.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like, shape (N,)
        Samples (their absolute values are used).
    alpha : float
        Tail index: the line has slope ``-alpha`` on log-log axes.
    tail_fraction : float in (0, 1)
        Share of the samples above the anchor (default: the top 1 %).
    color : optional
        Line colour (default black).
    label : str, bool or None
        Legend label: ``True`` for ``"slope -alpha = ..."``, a string for that string, ``None`` or
        ``False`` for none.
    n_points : int
        Points on the (geometrically spaced) line.
    **kwargs
        Passed to ``ax.loglog`` (default style: dashed, width 1.2).

    Returns
    -------
    matplotlib.lines.Line2D

    Raises
    ------
    TypeError, ValueError
        Bad ``x`` (not a non-empty finite 1-d array), ``alpha`` not positive, ``tail_fraction``
        outside (0, 1) or ``n_points < 2``.

    Notes
    -----
    The line is :math:`t \mapsto p_0\,(t/t_0)^{-\alpha}` for :math:`t_0 \le t \le \max|x_i|`, with
    :math:`p_0` the tail fraction: a power law :math:`P(|X| > t) \sim c\,t^{-\alpha}` is a straight
    line of slope :math:`-\alpha` on log-log axes, and the reference shows what that slope looks like.

    Used in: chapters/ch01_sgd_in_one_dimension.ipynb, chapters/ch04_random_linear_recursions.ipynb,
    chapters/ch05_sgd_as_random_recursion.ipynb, chapters/ch08_beyond_isotropic_data.ipynb,
    chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> line = reference_slope(ax, np.arange(1.0, 101.0), 2.0)
    >>> float(line.get_ydata()[0]), line.get_label()
    (0.01, 'slope $-\\alpha = -2.00$')
    >>> plt.close(fig)
    """
    from hts_lib.validation import check_int, check_positive, check_probability

    _check_ax(ax, "loglog")
    if not (label is None or isinstance(label, (str, bool))):
        raise TypeError(f"label must be a string, True, False or None, got {type(label).__name__}")
    mags = np.abs(check_array("x", x, ndim=1, min_size=1))
    alpha = check_positive("alpha", alpha)
    p0 = check_probability("tail_fraction", tail_fraction)
    n_points = check_int("n_points", n_points, low=2)
    t0 = float(np.quantile(mags, 1.0 - p0))
    if not t0 > 0:
        raise ValueError("x must have a positive 1 - tail_fraction quantile of |x| to anchor the line")
    t = np.geomspace(t0, max(float(mags.max()), t0), n_points)
    if label is True:
        label = rf"slope $-\alpha = {-alpha:.2f}$"
    style = {"ls": "--", "lw": 1.2, **kwargs}
    (line,) = ax.loglog(
        t, p0 * (t / t0) ** (-alpha), color=color, label=label if label else "_nolegend_", **style
    )
    return line


def animation_html(fig, update, frames: int, *, alt: str, interval: int = 600, default_mode: str = "once"):
    """Render a matplotlib animation as a self-contained HTML player with alt text, and close the figure.

    Parameters
    ----------
    fig : matplotlib Figure
        The figure the frames are drawn on (closed afterwards, so it is not shown twice).
    update : callable
        ``update(i)`` draws frame ``i`` (as for ``matplotlib.animation.FuncAnimation``).
    frames : int
        Number of frames (``update`` is called with ``0, ..., frames - 1``).
    alt : str
        Alternative text for readers who cannot see the frames; put on the player's image.
    interval : int
        Milliseconds between frames.
    default_mode : {"once", "loop", "reflect"}
        Play mode the player starts in.

    Returns
    -------
    IPython.display.HTML
        The player: every frame embedded as a PNG, with the JavaScript controls inline.

    Raises
    ------
    TypeError
        ``update`` is not callable, or ``alt`` is not a string.
    ValueError
        ``frames`` or ``interval`` below 1, an empty ``alt`` or an unknown ``default_mode``.

    Notes
    -----
    ``matplotlib.animation.Animation.to_jshtml`` embeds the frames but links the Font Awesome style
    sheet from a CDN; the book theme ships those icons already, so the link is dropped and the page
    reads offline. The alt text goes on the player's ``<img>`` element (double quotes in it are
    escaped).

    Used in: chapters/ch06_what_controls_the_tails.ipynb.
    """
    import html
    import re

    import matplotlib.pyplot as plt
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    from hts_lib.validation import check_int

    if not callable(update):
        raise TypeError(f"update must be callable, got {type(update).__name__}")
    if not isinstance(alt, str):
        raise TypeError(f"alt must be a string, got {type(alt).__name__}")
    if not alt.strip():
        raise ValueError("alt must be a non-empty description of the animation")
    frames = check_int("frames", frames, low=1)
    interval = check_int("interval", interval, low=1)
    if default_mode not in ("once", "loop", "reflect"):
        raise ValueError(f"default_mode must be 'once', 'loop' or 'reflect', got {default_mode!r}")
    anim = FuncAnimation(fig, update, frames=frames, interval=interval)
    try:
        player = anim.to_jshtml(default_mode=default_mode)
    finally:
        plt.close(fig)
    player = re.sub(r"<link[^>]*font-awesome[^>]*>", "", player)
    player = player.replace("<img ", f'<img alt="{html.escape(alt, quote=True)}" ', 1)
    return HTML(player)


# ----------------------------------------------------------------------------------------------
# Tail-index diagnostics (chapter "Estimating a tail index")
# ----------------------------------------------------------------------------------------------


def _check_estimate(estimate):
    from hts_lib.tails.estimators import TailEstimate

    if not isinstance(estimate, TailEstimate):
        raise TypeError(f"estimate must be a TailEstimate, got {type(estimate).__name__}")
    return estimate


def hill_plot(
    ax,
    x,
    *,
    estimate=None,
    k_values=None,
    level: float = 0.9,
    true_alpha: float | None = None,
    direction=None,
    color=None,
    label: str | None = None,
):
    r"""Hill plot: the Hill estimate against ``k`` with its pointwise interval band and the chosen ``k``.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like
        Samples ``(N,)`` or vectors ``(N, d)``, as for :func:`hts_lib.tails.estimators.hill`.
    estimate : TailEstimate, optional
        The estimate to mark (a dashed vertical line at its ``k`` and its interval as an error bar);
        default ``hill(x, level=level)``. Pass ``False`` to mark nothing.
    k_values : array_like of int, optional
        Values of ``k`` (default: about 200 geometrically spaced values).
    level : float
        Coverage of the band (pointwise exact-Pareto intervals).
    true_alpha : float, optional
        Draw the true tail index as a horizontal dotted line.
    direction : array_like, optional
        Projection direction for ``(N, d)`` input.
    color : optional
        Colour of the path and band (default: the first palette colour).
    label : str, optional
        Legend label of the path.

    Returns
    -------
    matplotlib.lines.Line2D
        The Hill path.

    Raises
    ------
    TypeError
        ``estimate`` is not a TailEstimate (nor None/False).
    ValueError
        Bad ``x`` or ``k_values`` (see :func:`hts_lib.tails.estimators.hill_path`), or an ``estimate``
        without ``k``.

    Notes
    -----
    The band is :math:`[\,G_{(1-\ell)/2}(k)/S_k,\ G_{(1+\ell)/2}(k)/S_k\,]` with ``S_k`` the sum of the
    ``k`` log-excesses and ``G_q(k)`` the Gamma(k) quantile: exact for a Pareto tail, blind to bias.
    Used in chapter: "Estimating a tail index".
    """
    from hts_lib.tails.estimators import hill, hill_path

    _check_ax(ax, "fill_between")
    path = hill_path(x, k_values, level=level, direction=direction)
    color = PALETTE[0] if color is None else color
    ax.fill_between(
        path.k,
        path.ci_low,
        path.ci_high,
        color=color,
        alpha=0.2,
        lw=0,
        label=f"{100 * level:.0f}% pointwise band",
    )
    (line,) = ax.plot(path.k, path.alpha, color=color, label=label or r"Hill $\hat\alpha(k)$")
    ax.set_xscale("log")
    ax.set_xlabel(r"$k$ (upper order statistics used)")
    ax.set_ylabel(r"$\hat\alpha$")
    if estimate is None:
        estimate = hill(x, level=level, direction=direction)
    if estimate is not False:
        est = _check_estimate(estimate)
        if est.k is None:
            raise ValueError(f"estimate has no k to mark (method {est.method!r})")
        ax.axvline(est.k, color=PALETTE[1], ls="--", lw=1.2, label=f"chosen $k$ = {est.k}")
        if np.isfinite(est.ci_low):
            hi = est.ci_high if np.isfinite(est.ci_high) else est.alpha
            ax.errorbar(
                [est.k],
                [est.alpha],
                yerr=[[est.alpha - est.ci_low], [hi - est.alpha]],
                fmt="o",
                color=PALETTE[1],
                capsize=4,
                label=rf"$\hat\alpha$ = {est.alpha:.2f} ({est.method})",
            )
    if true_alpha is not None:
        ax.axhline(true_alpha, color=PALETTE[7], ls=":", lw=1.2, label=rf"true $\alpha$ = {true_alpha:g}")
    finite = path.alpha[np.isfinite(path.alpha) & (path.k >= 10)]
    if finite.size:
        top = float(np.quantile(finite, 0.98))
        if true_alpha is not None:
            top = max(top, true_alpha)
        ax.set_ylim(0.0, 1.25 * top)
    return line


def survival_fit_plot(
    ax, x, estimate, *, direction=None, color=None, label: str | None = "data", max_points: int = 4000
):
    r"""Log-log empirical survival function of ``|x|`` with the fitted tail ``C x^(-alpha)``.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like
        Samples ``(N,)`` or vectors ``(N, d)`` (norms, or projections on ``direction``).
    estimate : TailEstimate
        The fit to draw. With a threshold ``x_min`` (Hill, moment, Pickands, power-law MLE) the line
        runs from ``x_min`` to the largest value, through the empirical survival at ``x_min``; without
        one (``alpha_stable``) it is anchored at the top 1 % of the data.
    direction : array_like, optional
    color : optional
        Colour of the data (the fit uses the second palette colour).
    label : str, optional
        Legend label of the data.
    max_points : int
        Thinning of the empirical curve (see :func:`plot_survival`).

    Returns
    -------
    matplotlib.lines.Line2D or None
        The fitted line (``None`` when ``alpha`` is infinite: a light tail has no power law to draw).

    Raises
    ------
    TypeError
        ``estimate`` is not a TailEstimate.
    ValueError
        Bad ``x``.

    Notes
    -----
    The line is :math:`\hat P(|X| > x) = p_0 (x / x_0)^{-\hat\alpha}` for :math:`x \ge x_0`, with
    :math:`p_0` the fraction of samples at or above :math:`x_0`: on log-log axes a straight line of
    slope :math:`-\hat\alpha`. Used in chapter: "Estimating a tail index".
    """
    from hts_lib.tails import magnitudes

    _check_ax(ax, "loglog")
    est = _check_estimate(estimate)
    mags = magnitudes(x, direction)
    plot_survival(ax, mags, label=label, color=PALETTE[0] if color is None else color, max_points=max_points)
    if not np.isfinite(est.alpha):
        return None
    if est.x_min is not None:
        x0 = est.x_min
        where = f"above $x_{{\\min}}$ = {x0:.3g}"
    else:
        x0 = float(np.quantile(mags, 0.99))
        where = "anchored at the top 1%"
    p0 = float(np.mean(mags >= x0))
    grid = np.geomspace(x0, float(mags.max()), 50)
    (line,) = ax.loglog(
        grid,
        p0 * (grid / x0) ** (-est.alpha),
        color=PALETTE[1],
        lw=2.2,
        ls="--",
        label=rf"fit: slope $-\hat\alpha$ = $-${est.alpha:.2f} ({est.method}, {where})",
    )
    return line


def plot_protocol_table(ax, table, *, vmin: float = 0.0, vmax: float = 2.1, cmap: str = "cividis"):
    r"""Annotated heat map of a :class:`hts_lib.simulate.synthetic.ProtocolTable`, with what it hides.

    ``alpha_hat`` per cell, with what the estimate alone hides written under it.

    Each cell shows ``alpha_hat`` (colour and first line) and, on the second line, the exact tail
    index of the online model (``">50"`` when above 50) or ``"rho>0"`` when there is no stationary
    law; cells with ``rho >= 0`` are hatched, and a third line gives the share of diverged runs when
    it is not zero. Returns the image (for a colour bar).

    Used in chapter: The paper's synthetic experiment, reproduced and examined.
    """
    import matplotlib.patches as mpatches

    _check_ax(ax, "imshow")
    vals = np.asarray(table.alpha_hat, dtype=float)
    nb, ne = vals.shape
    im = ax.imshow(np.ma.masked_invalid(vals), origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
    for i in range(nb):
        for j in range(ne):
            a_hat, a_ex, rho = vals[i, j], table.alpha_exact[i, j], table.rho[i, j]
            line2 = (
                r"$\rho>0$" if rho >= 0 else (r"$\alpha$>50" if np.isinf(a_ex) else rf"$\alpha$={a_ex:.2g}")
            )
            text = ("n/a" if np.isnan(a_hat) else f"{a_hat:.2f}") + "\n" + line2
            if table.share_diverged[i, j] > 0:
                text += f"\n{100 * table.share_diverged[i, j]:.0f}% div."
            dark = (not np.isnan(a_hat)) and a_hat < 0.5 * (vmin + vmax)  # NaN cells are white
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black")
            if rho >= 0:
                ax.add_patch(
                    mpatches.Rectangle(
                        (j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6", lw=0
                    )
                )
    ax.set_xticks(range(ne), [f"{e:.2f}" for e in table.etas])
    ax.set_yticks(range(nb), [str(int(b)) for b in table.batch_sizes])
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel("batch size $b$")
    ax.grid(False)
    return im


def _sweep_columns(results, layer: str, estimator: str):
    """eta/b, batch size, diverged flag, (alpha, ci_low, ci_high), at-ceiling flag, train accuracy."""
    n = len(results)
    ratio, batch = np.empty(n), np.empty(n, dtype=int)
    diverged, ceiling = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    vals, train_acc = np.full((n, 3), np.nan), np.full(n, np.nan)
    for i, r in enumerate(results):
        cfg = r["config"]
        ratio[i], batch[i] = cfg["eta"] / cfg["batch_size"], cfg["batch_size"]
        diverged[i] = bool(r["diverged"])
        metrics = r.get("metrics_average") or r.get("metrics") or {}
        if metrics.get("train_acc") is not None:
            train_acc[i] = metrics["train_acc"]
        est = (r.get("alpha") or {}).get(layer, {}).get(estimator)
        if est is not None:
            vals[i] = [np.nan if v is None else v for v in (est["alpha"], est["ci_low"], est["ci_high"])]
            ceiling[i] = "at_ceiling" in (est.get("flags") or ())
    return ratio, batch, diverged, vals, ceiling, train_acc


def plot_tail_index_sweep(
    ax,
    results,
    layer: str,
    estimator: str = "alpha_stable",
    *,
    legend: bool = True,
    min_train_acc: float | None = None,
):
    """Tail index of one layer against eta/b for a sweep of training runs, one colour per batch size.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    results : sequence of dict
        Result records of :func:`hts_lib.nn.training.run_from_config` (e.g. from
        :func:`hts_lib.nn.experiments.load_results`).
    layer : str
        Layer name, e.g. ``"layer1"``.
    estimator : {"alpha_stable", "hill"}
        Which estimate to plot; Hill's goes on a logarithmic axis.
    legend : bool
        Draw a legend.
    min_train_acc : float, optional
        Runs whose training accuracy (of the averaged weights) is at most this value are drawn as
        grey plus signs labelled "collapsed" instead of with their batch size (e.g. 0.2 for ten
        classes: a network that fits nothing).

    Returns
    -------
    dict
        ``{"n_plotted", "n_diverged", "n_at_ceiling", "n_collapsed"}`` for captions and prose
        (``n_plotted`` and ``n_at_ceiling`` count the runs drawn with their batch size).

    Raises
    ------
    ValueError
        For an unknown ``estimator`` or an empty ``results``.

    Notes
    -----
    Points carry their interval as an error bar. Hollow markers are estimates flagged
    ``at_ceiling`` (within sampling error of 2, where the block estimator lands on data whose block
    sums are nearly Gaussian; finite-variance data can also give values somewhat below 2). Runs that
    diverged have no estimate: they are drawn as crosses on the lower
    edge of the axes, at their eta/b. Collapsed runs (see ``min_train_acc``) keep their estimate
    but are set apart, since it describes a network that failed to train. For the block estimator
    the vertical axis is limited to [0, 4] (its values live in (0, 2] for stable data), so that
    the huge intervals of a tiny layer do not flatten the plot.

    Used in chapter: Fully connected networks; Convolutional networks.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> est = {"alpha": 1.5, "ci_low": 1.4, "ci_high": 1.6, "flags": []}
    >>> runs = [{"config": {"eta": 0.1, "batch_size": 5}, "diverged": False,
    ...          "alpha": {"layer1": {"alpha_stable": est, "hill": est}}},
    ...         {"config": {"eta": 0.5, "batch_size": 1}, "diverged": True, "alpha": {}}]
    >>> fig, ax = plt.subplots()
    >>> plot_tail_index_sweep(ax, runs, "layer1")
    {'n_plotted': 1, 'n_diverged': 1, 'n_at_ceiling': 0, 'n_collapsed': 0}
    >>> plt.close(fig)
    """
    _check_ax(ax, "errorbar")
    check_choice("estimator", estimator, ("alpha_stable", "hill"))
    check_str("layer", layer)
    check_bool("legend", legend)
    if min_train_acc is not None:
        check_real("min_train_acc", min_train_acc, low=0.0, high=1.0)
    if isinstance(results, (str, bytes, Mapping)) or not hasattr(results, "__iter__"):
        raise TypeError(f"results must be a sequence of result records, got {type(results).__name__}")
    results = list(results)
    if not results:
        raise ValueError("results is empty: nothing to plot")
    for i, r in enumerate(results):
        check_mapping(f"results[{i}]", r)
    ratio, batch, diverged, vals, ceiling, train_acc = _sweep_columns(results, layer, estimator)
    ax.set_xscale("log")
    if estimator == "hill":
        ax.set_yscale("log")
    collapsed = ~np.isnan(vals[:, 0]) & (train_acc <= min_train_acc if min_train_acc is not None else False)
    has = ~np.isnan(vals[:, 0]) & ~collapsed
    markers = "osD^v<>p"
    for j, bb in enumerate(sorted(set(batch.tolist()))):
        color, marker = PALETTE[j % len(PALETTE)], markers[j % len(markers)]
        sel = has & (batch == bb)
        if sel.any():
            lo = np.clip(vals[sel, 0] - vals[sel, 1], 0, None)
            hi = np.clip(vals[sel, 2] - vals[sel, 0], 0, None)
            ax.errorbar(
                ratio[sel],
                vals[sel, 0],
                yerr=[np.nan_to_num(lo), np.nan_to_num(hi)],
                fmt="none",
                ecolor=color,
                alpha=0.5,
                lw=1,
            )
        labelled = False
        for hollow in (False, True):
            s = sel & (ceiling == hollow)
            if s.any():
                ax.plot(
                    ratio[s],
                    vals[s, 0],
                    marker,
                    color=color,
                    mfc="white" if hollow else color,
                    ms=5,
                    ls="none",
                    label=None if labelled else f"$b = {bb}$",
                )
                labelled = True
    if collapsed.any():
        ax.plot(ratio[collapsed], vals[collapsed, 0], "P", color="0.5", ms=6, ls="none", label="collapsed")
    if estimator == "alpha_stable":
        # the estimator lives in (0, 2] for stable data; tiny layers can give huge intervals
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, 0.0), min(hi, 4.0))
    if diverged.any():
        ax.plot(
            ratio[diverged],
            np.full(int(diverged.sum()), ax.get_ylim()[0]),
            "x",
            color="black",
            ms=6,
            clip_on=False,
            label="diverged",
        )
    ax.set_xlabel(r"$\eta / b$")
    ax.set_ylabel(r"$\hat\alpha$ (" + ("block estimator" if estimator == "alpha_stable" else "Hill") + ")")
    if legend:
        ax.legend(fontsize=8)
    return {
        "n_plotted": int(has.sum()),
        "n_diverged": int(diverged.sum()),
        "n_at_ceiling": int(ceiling[has].sum()),
        "n_collapsed": int(collapsed.sum()),
    }


def plot_seed_spread(
    ax,
    x,
    y,
    group,
    *,
    labels=None,
    markers: str = "osD^v",
    xlog: bool = True,
    offset: float = 0.04,
    min_seeds: int = 1,
) -> dict:
    r"""Per-cell median over seeds with a bar from the smallest to the largest seed, one series per group.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    x, y : array-like, shape (n,)
        One point per run (e.g. :math:`\eta/b` and a tail index); runs with a non-finite ``y`` are
        left out.
    group : array-like, shape (n,)
        The series of each run (e.g. the batch size); a cell is a (group, x) pair.
    labels : callable, optional
        ``labels(group value) -> str`` for the legend (default ``f"b = {g}"``).
    markers : str
        Marker of each series, in sorted group order.
    xlog : bool
        Log x axis; series are then shifted by ``offset`` decades so that their bars do not overlap.
    offset : float
        Horizontal shift between series (in decades with ``xlog``, else in x units).
    min_seeds : int
        Cells with fewer finite values are not drawn.

    Returns
    -------
    dict
        ``{"n_cells": cells drawn, "n_runs": runs drawn}``.

    Raises
    ------
    ValueError
        If ``x``, ``y`` and ``group`` differ in length.

    Used in: chapters/ch10_fully_connected_networks.ipynb
    """
    x, y, group = np.asarray(x, dtype=float), np.asarray(y, dtype=float), np.asarray(group)
    if not x.shape == y.shape == group.shape or x.ndim != 1:
        raise ValueError(f"x {x.shape}, y {y.shape} and group {group.shape} must be 1-D of one length")
    labels = labels or (lambda g: f"$b = {g:g}$" if isinstance(g, (int, float, np.number)) else str(g))
    n_cells = n_runs = 0
    for k, g in enumerate(sorted(set(group.tolist()))):
        xs, med, lo, hi = [], [], [], []
        for xv in sorted(set(x[group == g].tolist())):
            v = y[(group == g) & (x == xv) & np.isfinite(y)]
            if v.size < max(1, min_seeds):
                continue
            xs.append(xv * 10 ** (offset * (k - 1)) if xlog else xv + offset * (k - 1))
            med.append(np.median(v))
            lo.append(v.min())
            hi.append(v.max())
            n_cells += 1
            n_runs += v.size
        if not xs:
            continue
        med_a = np.array(med)
        ax.errorbar(
            xs,
            med_a,
            yerr=[med_a - np.array(lo), np.array(hi) - med_a],
            fmt=markers[k % len(markers)],
            color=PALETTE[k % len(PALETTE)],
            ms=4.5,
            lw=1,
            capsize=2,
            label=labels(g),
        )
    if xlog:
        ax.set_xscale("log")
    return {"n_cells": n_cells, "n_runs": n_runs}


# ----------------------------------------------------------------------------------------------
# Tail diagnostics and the exact engine's pictures (chapters "Heavy tails", "What controls the tails")
# ----------------------------------------------------------------------------------------------


def pareto_qq_plot(
    ax,
    x,
    *,
    alpha: float | None = None,
    n_top: int | None = None,
    color=None,
    label: str | None = None,
    ms: float = 3.0,
):
    r"""Pareto QQ plot of ``|x|``: :math:`\log X_{(i)}` against :math:`\log(n/i)` for the largest values.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like, shape (n,)
        Samples (their absolute values are used).
    alpha : float, optional
        Draw a dashed reference line of slope :math:`1/\alpha` through the ``n_top // 10``-th largest
        value (in the colour of the points).
    n_top : int, optional
        Number of upper order statistics drawn (default: all ``n``).
    color : optional
        Colour of the points and the line.
    label : str, optional
        Legend label of the points.
    ms : float
        Marker size.

    Returns
    -------
    matplotlib.lines.Line2D
        The points.

    Raises
    ------
    TypeError
        ``ax`` is not a matplotlib Axes.
    ValueError
        Bad ``x`` (not a non-empty finite 1-d array, or a zero among the ``n_top`` largest ``|x|``),
        ``alpha`` not positive, or ``n_top`` outside ``1..n``.

    Notes
    -----
    With :math:`X_{(1)} \ge X_{(2)} \ge \dots` the ordered values of ``|x|``: if
    :math:`P(|X| > t) \approx C t^{-\alpha}`, then :math:`\log X_{(i)} \approx \tfrac1\alpha \log(n/i) +
    \tfrac1\alpha \log C`, so the top points lie on a line of slope :math:`\gamma = 1/\alpha`. The Hill
    estimator is, in effect, the slope of that line.

    Used in: chapters/ch02_heavy_tails.ipynb.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> pts = pareto_qq_plot(ax, [1.0, -8.0, 2.0, 4.0], alpha=1.0)
    >>> np.exp(pts.get_ydata()).round(3).tolist(), np.exp(pts.get_xdata()).round(3).tolist()
    ([8.0, 4.0, 2.0, 1.0], [4.0, 2.0, 1.333, 1.0])
    >>> plt.close(fig)
    """
    from hts_lib.validation import check_axes, check_int, check_positive

    check_axes("ax", ax)
    alpha = None if alpha is None else check_positive("alpha", alpha)
    check_str("label", label, optional=True)
    ms = check_positive("ms", ms)
    mags = np.abs(check_array("x", x, ndim=1, min_size=1))
    n_top = mags.size if n_top is None else check_int("n_top", n_top, low=1, high=mags.size)
    top = np.sort(mags)[::-1][:n_top]
    if not top[-1] > 0:
        raise ValueError("x must have no zero among its n_top largest |x| (log X_(i) is drawn)")
    q = np.log(mags.size / np.arange(1, n_top + 1))
    (points,) = ax.plot(q, np.log(top), ".", ms=ms, color=color, label=label)
    if alpha is not None:
        alpha = check_positive("alpha", alpha)
        mid = n_top // 10
        ax.plot(q, np.log(top[mid]) + (q - q[mid]) / alpha, "--", color=points.get_color(), lw=1.2)
    ax.set_xlabel(r"$\log(n/i)$")
    ax.set_ylabel(r"$\log X_{(i)}$")
    return points


def plot_phase_diagram(
    ax, x, y, alpha, *, eta_crit=None, eta_max=None, label: str = r"tail index $\alpha$", vmax: float = 50.0
):
    r"""Phase diagram of the tail index over a grid, with the two critical step sizes as curves.

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like, shape (nx,)
        Step sizes :math:`\eta` (the horizontal axis).
    y : array_like, shape (ny,)
        The second parameter (batch size or dimension, the vertical axis).
    alpha : array_like, shape (ny, nx)
        Tail indices (e.g. from :func:`hts_lib.recursion.tail_index_grid`): ``nan`` where
        :math:`\rho \ge 0` (drawn grey), ``inf`` where there is no power law (left blank).
    eta_crit, eta_max : array_like, shape (ny,), optional
        :math:`\eta_{\mathrm{crit}}` (:math:`\alpha = 2`, solid white) and :math:`\eta_{\max}`
        (:math:`\rho = 0`, dashed black) for each ``y``; a NaN entry (no such step size) is a gap.
    label : str
        Label of the colour bar.
    vmax : float
        Top of the logarithmic colour scale, which starts at 0.1 (default 50, the largest tail index
        the exact engine reports).

    Returns
    -------
    matplotlib.collections.QuadMesh
        The coloured mesh.

    Raises
    ------
    TypeError
        ``ax`` is not a matplotlib Axes.
    ValueError
        ``x``, ``y`` not 1-d, ``alpha`` not of shape ``(len(y), len(x))``, the curves not of length
        ``len(y)``, or ``vmax`` not above 0.1.

    Notes
    -----
    Between :math:`\eta_{\mathrm{crit}}` and :math:`\eta_{\max}` the stationary law has
    :math:`\alpha < 2` (infinite variance); beyond :math:`\eta_{\max}` the top Lyapunov exponent
    :math:`\rho = h'(0)` is non-negative and there is no stationary law.

    Used in: chapters/ch06_what_controls_the_tails.ipynb.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> a = np.array([[8.0, 1.5, np.nan], [np.inf, 3.0, 1.0]])
    >>> mesh = plot_phase_diagram(ax, [0.1, 0.5, 1.0], [1, 2], a, eta_crit=[0.4, 0.8], eta_max=[0.9, 1.2])
    >>> mesh.get_array().mask.tolist()
    [[False, False, True], [True, False, False]]
    >>> [ln.get_label() for ln in ax.get_lines()]
    ['$\\eta_{\\mathrm{crit}}$: $\\alpha = 2$', '$\\eta_{\\max}$: $\\rho = 0$']
    >>> plt.close(fig)
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    from hts_lib.validation import check_axes, check_real

    check_axes("ax", ax)
    check_str("label", label)
    x = check_array("x", x, ndim=1)
    y = check_array("y", y, ndim=1)
    alpha = check_array("alpha", alpha, ndim=2, finite=False)
    if alpha.shape != (y.size, x.size):
        raise ValueError(f"alpha must have shape (len(y), len(x)) = {(y.size, x.size)}, got {alpha.shape}")
    vmax = check_real("vmax", vmax, low=0.1, low_open=True)
    curves = {}
    for name, values in (("eta_crit", eta_crit), ("eta_max", eta_max)):
        if values is not None:
            curves[name] = check_array(name, values, ndim=1, finite=False)
            if curves[name].size != y.size:
                raise ValueError(f"{name} must have one value per y ({y.size}), got {curves[name].size}")
    shown = np.where(np.isinf(alpha), np.nan, alpha)
    mesh = ax.pcolormesh(
        x, y, np.ma.masked_invalid(shown), norm=LogNorm(0.1, vmax), cmap="viridis", shading="nearest"
    )
    grey = np.where(np.isnan(alpha), 1.0, np.nan)
    ax.pcolormesh(x, y, grey, cmap="Greys", vmin=0, vmax=4, shading="nearest")
    plt.colorbar(mesh, ax=ax, label=label)
    if "eta_crit" in curves:
        ax.plot(curves["eta_crit"], y, color="white", lw=1.8, label=r"$\eta_{\mathrm{crit}}$: $\alpha = 2$")
    if "eta_max" in curves:
        ax.plot(curves["eta_max"], y, color="black", ls="--", lw=1.5, label=r"$\eta_{\max}$: $\rho = 0$")
    ax.set_xlabel(r"step size $\eta$")
    return mesh


def plot_tail_index_curves(
    ax,
    curves,
    *,
    reference: float | None = None,
    reference_style=None,
    ylabel: str | None = r"$\alpha$",
    legend: bool = True,
    **kwargs,
) -> list:
    r"""Tail index against a parameter on a logarithmic axis, one curve per entry, in the palette's order.

    Parameters
    ----------
    ax : matplotlib Axes
    curves : mapping
        ``{label: (x, alpha)}``, each ``x`` and ``alpha`` 1-d of one length (non-finite ``alpha``, where
        there is no stationary law or no power law, leaves gaps).
    reference : float, optional
        Draw a horizontal reference line at this tail index (e.g. 2: finite variance above it).
    reference_style : dict, optional
        Style of the reference line (default grey, dashed, width 0.8).
    ylabel : str or None
        Label of the vertical axis (``None``: leave it, e.g. for a panel sharing its axis).
    legend : bool
        Draw a legend.
    **kwargs
        Passed to ``ax.semilogy`` for every curve (e.g. ``marker="o", ms=2.5``).

    Returns
    -------
    list of matplotlib.lines.Line2D
        The curves, in the order of ``curves``.

    Raises
    ------
    TypeError
        ``ax`` is not a matplotlib Axes or ``curves`` not a mapping.
    ValueError
        An empty ``curves``, or an entry whose ``x`` and ``alpha`` differ in shape.

    Notes
    -----
    A logarithmic axis shows the whole range of :math:`\alpha`, from the edge of stability
    (:math:`\alpha \to 0`) to the light tails of small step sizes (:math:`\alpha` in the tens), with
    :math:`\alpha = 1` and :math:`\alpha = 2` (mean, variance) equally visible.

    Used in: chapters/ch06_what_controls_the_tails.ipynb.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> lines = plot_tail_index_curves(ax, {"$b = 1$": ([0.1, 0.2], [8.0, 3.0])}, reference=2)
    >>> lines[0].get_ydata().tolist(), lines[0].get_label(), ax.get_yscale()
    ([8.0, 3.0], '$b = 1$', 'log')
    >>> plt.close(fig)
    """
    from hts_lib.validation import check_axes, check_mapping

    check_axes("ax", ax)
    reference = None if reference is None else check_positive("reference", reference)
    check_mapping("reference_style", reference_style, optional=True)
    check_str("ylabel", ylabel, optional=True)
    check_bool("legend", legend)
    curves = check_mapping("curves", curves)
    if not curves:
        raise ValueError("curves is empty: nothing to plot")
    lines = []
    for k, (name, (x, a)) in enumerate(curves.items()):
        x = check_array(f"curves[{name!r}] x", x, ndim=1)
        a = check_array(f"curves[{name!r}] alpha", a, ndim=1, finite=False)
        if x.shape != a.shape:
            raise ValueError(f"curves[{name!r}]: x {x.shape} and alpha {a.shape} must have one shape")
        lines.append(ax.semilogy(x, a, color=PALETTE[k % len(PALETTE)], label=name, **kwargs)[0])
    if reference is not None:
        ax.axhline(reference, **{"color": "gray", "ls": "--", "lw": 0.8, **(reference_style or {})})
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if legend:
        ax.legend()
    return lines


def plot_moment_function(
    ax, s, h, *, alpha: float | None = None, rho: float | None = None, steps=None, color=None
):
    r"""Draw the moment function :math:`h(s) = \log E\|M e_1\|^s` on a grid of orders, with its key numbers.

    Parameters
    ----------
    ax : matplotlib Axes
    s : array_like, shape (n,)
        Orders :math:`s \ge 0`.
    h : array_like, shape (n,)
        :math:`h(s)` at those orders (e.g. from :func:`hts_lib.recursion.log_moment`).
    alpha, rho : float, optional
        Tail index (the positive root of ``h``) and top Lyapunov exponent (:math:`h'(0)`), for the title.
        ``alpha`` may be NaN (no power-law tail when :math:`\rho \ge 0`, as ``tail_index`` returns it);
        it is then shown as such.
    steps : CriticalStepSizes, optional
        The model's :math:`\eta_{\mathrm{crit}}` and :math:`\eta_{\max}`
        (:func:`hts_lib.recursion.critical_step_sizes`), for the title.
    color : optional
        Colour of the curve (default: the first palette colour).

    Returns
    -------
    matplotlib.lines.Line2D
        The curve.

    Raises
    ------
    TypeError
        ``ax`` is not a matplotlib Axes, or ``steps`` has no ``eta_crit`` and ``eta_max``.
    ValueError
        ``s`` and ``h`` not 1-d of one length, or ``s`` with a negative or non-finite value.

    Notes
    -----
    :math:`h` is convex with :math:`h(0) = 0` and :math:`h'(0) = \rho`; when :math:`\rho < 0` its positive
    root is the tail index :math:`\alpha` of the stationary law, where the curve crosses the black zero line.

    Used in: chapters/ch06_what_controls_the_tails.ipynb.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> line = plot_moment_function(ax, [0.0, 1.0, 2.0], [0.0, -0.5, 0.0], alpha=2.0, rho=-0.9)
    >>> line.get_ydata().tolist(), ax.get_title()
    ([0.0, -0.5, 0.0], '$\\alpha$ = 2, $\\rho$ = -0.9')
    >>> plt.close(fig)
    """
    from hts_lib.validation import check_axes

    check_axes("ax", ax)
    # alpha is NaN when rho >= 0 (no power-law tail): documented, and shown as such
    if alpha is not None and not (isinstance(alpha, float) and math.isnan(alpha)):
        alpha = check_positive("alpha", alpha)
    rho = None if rho is None else check_real("rho", rho)
    s = check_array("s", s, ndim=1)
    h = check_array("h", h, ndim=1, finite=False)
    if s.shape != h.shape:
        raise ValueError(f"s {s.shape} and h {h.shape} must have one shape")
    if np.any(s < 0):
        raise ValueError("s must be non-negative (orders of moments)")
    parts = [] if alpha is None else [rf"$\alpha$ = {alpha:.3g}"]
    parts += [] if rho is None else [rf"$\rho$ = {rho:.3g}"]
    title = ", ".join(parts)
    if steps is not None:
        if not (hasattr(steps, "eta_crit") and hasattr(steps, "eta_max")):
            raise TypeError(f"steps must be a CriticalStepSizes, got {type(steps).__name__}")
        title += ("; " if title else "") + (
            rf"$\eta_{{crit}}$ = {steps.eta_crit:.4g}, "
            rf"$\eta_{{max}}$ = {steps.eta_max:.4g}"
        )
    (line,) = ax.plot(s, h, color=PALETTE[0] if color is None else color)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(xlabel="$s$", ylabel="$h(s)$", title=title)
    return line


def plot_moment_paths(
    ax, steps, powers, mean, se, *, alpha: float | None = None, exact=None, floor: float = 1e-3
) -> list:
    r"""Monte Carlo moments :math:`E|e_k|^p` along the run, one curve per order, with a band of two errors.

    Parameters
    ----------
    ax : matplotlib Axes
    steps : array_like, shape (n,)
        Steps :math:`k`.
    powers : array_like, shape (m,)
        Orders :math:`p`.
    mean, se : array_like, shape (m, n)
        Monte Carlo means of :math:`|e_k|^p` and their standard errors (e.g. the fields of
        :class:`hts_lib.recursion.MomentPaths`).
    alpha : float, optional
        Tail index; each label then says whether :math:`p` is below, at or above it.
    exact : mapping, optional
        ``{p: values}``: exact moments along the same steps, drawn dashed in the colour of order ``p``.
    floor : float
        Lower edge of the band where ``mean - 2 se`` is not positive (a logarithmic axis).

    Returns
    -------
    list of matplotlib.lines.Line2D
        The Monte Carlo curves, one per order.

    Raises
    ------
    TypeError
        ``ax`` is not a matplotlib Axes or ``exact`` not a mapping.
    ValueError
        Shapes that do not match, an ``exact`` key that is not in ``powers``, or ``floor`` not positive.

    Notes
    -----
    The band is :math:`\bar m_k \pm 2\,\widehat{\mathrm{se}}_k`. For :math:`p \ge \alpha` the sample mean is
    dominated by rare chains and its standard error is unreliable: the band then understates the spread.

    Used in: chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> lines = plot_moment_paths(ax, [1, 2], [2.0], [[1.0, 2.0]], [[0.1, 0.2]], alpha=2.0,
    ...                           exact={2.0: [1.0, 2.0]})
    >>> lines[0].get_label(), [ln.get_label() for ln in ax.get_lines()][-1]
    ('$p = 2$ (at $\\alpha$)', 'exact (moment recursion)')
    >>> plt.close(fig)
    """
    from hts_lib.validation import check_axes, check_mapping, check_positive

    check_axes("ax", ax)
    alpha = None if alpha is None else check_positive("alpha", alpha)
    steps = check_array("steps", steps, ndim=1)
    powers = check_array("powers", powers, ndim=1)
    mean = check_array("mean", mean, ndim=2, finite=False)
    se = check_array("se", se, ndim=2, finite=False)
    if mean.shape != (powers.size, steps.size) or se.shape != mean.shape:
        raise ValueError(
            f"mean {mean.shape} and se {se.shape} must have shape (len(powers), len(steps)) = "
            f"{(powers.size, steps.size)}"
        )
    exact = check_mapping("exact", {} if exact is None else exact)
    if not set(exact) <= set(powers.tolist()):
        extra = sorted(set(exact) - set(powers.tolist()))
        raise ValueError(f"exact has orders {extra} that are not in powers")
    floor = check_positive("floor", floor)
    lines = []
    for i, p in enumerate(powers):
        color = PALETTE[i % len(PALETTE)]
        where = (
            ""
            if alpha is None
            else (
                " (at $\\alpha$)"
                if abs(p - alpha) < 1e-9
                else (" (below $\\alpha$)" if p < alpha else " (above $\\alpha$)")
            )
        )
        lines.append(ax.plot(steps, mean[i], color=color, label=f"$p = {p:.3g}$" + where)[0])
        ax.fill_between(
            steps, np.maximum(mean[i] - 2 * se[i], floor), mean[i] + 2 * se[i], color=color, alpha=0.25, lw=0
        )
        if float(p) in exact:
            ax.plot(steps, check_array("exact values", exact[float(p)], ndim=1), "--", color=color, lw=1.4)
    if exact:
        ax.plot([], [], "--", color="gray", label="exact (moment recursion)")
    ax.set(yscale="log", xlabel="step $k$")
    return lines
