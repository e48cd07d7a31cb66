"""Argument checks shared by every module.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong type) whose message names the
argument and the accepted range, so that bad input never surfaces as a NaN or as a traceback
from deep inside numpy.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "check_real",
    "check_positive",
    "check_int",
    "check_probability",
    "check_array",
    "check_rng",
]


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float, checking ``low <= value <= high`` (or open bounds).

    >>> check_real("eta", 0.5, low=0, low_open=True)
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (x < low or (low_open and x == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (x > high or (high_open and x == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return x


def check_positive(name: str, value) -> float:
    """Return ``value`` as a finite float that is strictly positive.

    >>> check_positive("sigma", 2)
    2.0
    """
    return check_real(name, value, low=0.0, low_open=True)


def check_int(name: str, value, *, low: int | None = 1, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``; floats that are whole numbers are accepted.

    >>> check_int("batch_size", 5.0)
    5
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool")
    if isinstance(value, (numbers.Integral, np.integer)):
        k = int(value)
    elif isinstance(value, (numbers.Real, np.floating)):
        if not math.isfinite(float(value)) or float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        k = int(value)
    else:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if low is not None and k < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if high is not None and k > high:
        raise ValueError(f"{name} must be an integer <= {high}, got {value!r}")
    return k


def check_probability(name: str, value, *, open_interval: bool = True) -> float:
    """Return ``value`` as a float in (0, 1) (or [0, 1] when ``open_interval`` is False).

    >>> check_probability("level", 0.9)
    0.9
    """
    return check_real(name, value, low=0.0, high=1.0, low_open=open_interval, high_open=open_interval)


def check_array(
    name: str, x, *, ndim: int | tuple[int, ...] | None = None, min_size: int = 1, finite: bool = True
) -> np.ndarray:
    """Return ``x`` as a float64 array, checking its dimension, size and finiteness.

    >>> check_array("x", [1, 2, 3], ndim=1).dtype
    dtype('float64')
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have ndim in {allowed}, got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} values, got {arr.size}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def check_rng(seed) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from a seed, a Generator, or None (fresh entropy).

    >>> isinstance(check_rng(0), np.random.Generator)
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (numbers.Integral, np.integer, np.random.SeedSequence)):
        if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")
