"""Helpers for the chapters: computed numbers in prose (``glue``) and the chapter setup.

Every number a chapter quotes in its prose is glued from the computation; outside the book build
(Colab, Binder, plain Jupyter without myst-nb) the wrapper is a no-op that returns the value.
"""

from __future__ import annotations

import math

import numpy as np

from hts_lib.validation import check_bool

__all__ = ["glue"]


def glue(name: str, value, display: bool = False):
    """Register ``value`` under ``name`` for ``{glue:text}`name:.3g``` roles in the chapter's prose.

    Parameters
    ----------
    name : str
        Key used in the Markdown cells, unique within the chapter.
    value : object
        Usually a float or int; formatting is chosen in the prose (``{glue:text}`name:.2f```).
    display : bool
        Whether to also show the value in the cell output.

    Returns
    -------
    object
        ``value`` unchanged, so that ``x = glue("x", compute())`` reads naturally.

    Examples
    --------
    >>> glue("answer", np.float64(0.5))
    0.5
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier-like string, got {name!r}")
    display = check_bool("display", display)
    if isinstance(value, np.generic):  # numpy scalars would be glued as their repr (e.g. 'np.float64(0.5)')
        value = value.item()
    # A number in the prose that is NaN, infinite or complex is a bug of the computation, not a reading.
    if isinstance(value, complex):
        raise TypeError(f"value must be a real number, a string or a displayable object, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"value for {name!r} is {value!r}: a non-finite number cannot be quoted")
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value, dtype=object).ravel()
        if arr.size == 0 or any(isinstance(v, (float, np.floating)) and not math.isfinite(v) for v in arr):
            raise ValueError(f"value for {name!r} must be a non-empty sequence of finite numbers: {value!r}")
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:  # Colab or a bare kernel: prose roles are only rendered by the book build
        return value
    _myst_glue(name, value, display=display)
    return value
