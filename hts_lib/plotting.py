"""One figure style for the whole book, and the plots that chapters share.

White backgrounds (readable in the theme's dark mode), the Okabe-Ito colour-blind-safe palette,
readable fonts, and log-log survival plots for tails. Chapters call :func:`use_book_style` once
in their imports cell.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_array

__all__ = ["PALETTE", "use_book_style", "survival_function", "plot_survival"]

#: Okabe & Ito (2008) colour-blind-safe palette, in the order the book uses it.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def use_book_style() -> None:
    """Set matplotlib defaults used by every figure in the book (white background, palette, fonts)."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update({
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
    })


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


def plot_survival(ax, x, *, label: str | None = None, color=None, max_points: int = 4000, **kwargs):
    """Draw the empirical survival function of ``|x|`` on log-log axes and return the line.

    Thins the curve to at most ``max_points`` points (geometrically spaced in rank, so the tail
    keeps every point) to keep figures light.
    """
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
