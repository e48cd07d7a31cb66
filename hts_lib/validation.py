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
    "check_seed",
    "check_bool",
    "check_choice",
    "check_str",
    "check_callable",
    "check_mapping",
    "check_path",
    "check_axes",
    "check_model",
    "check_inputs",
]


def _check_name(name, label: str = "name") -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{label} must be a non-empty string naming the argument, got {name!r}")


def _check_options(**options) -> None:
    """Check the checks' own options: flags are bools, bounds are real numbers or None, sizes are ints."""
    for key, value in options.items():
        if key in ("low", "high"):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (numbers.Real, np.number))
                or math.isnan(float(value))
            ):
                raise TypeError(f"{key} must be a real number or None, got {value!r}")
        elif key in ("min_size", "n_classes"):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 0
            ):
                raise TypeError(f"{key} must be a non-negative int, got {value!r}")
        elif not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{key} must be True or False, got {type(value).__name__} {value!r}")


def _check_type(name, value, ok, what: str, *, optional: bool = False, **options):
    """Return ``value`` if ``ok(value)`` (None for a None that is ``optional``); raise TypeError otherwise."""
    _check_name(name)
    _check_options(**options, optional=optional)
    if value is None and optional:
        return None
    if not ok(value):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


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
    _check_name(name)
    _check_options(low=low, high=high, low_open=low_open, high_open=high_open)
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
    _check_name(name)
    return check_real(name, value, low=0.0, low_open=True)


def check_int(name: str, value, *, low: int | None = 1, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]``; floats that are whole numbers are accepted.

    >>> check_int("batch_size", 5.0)
    5
    """
    _check_name(name)
    _check_options(low=low, high=high)
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
    _check_name(name)
    _check_options(open_interval=open_interval)
    return check_real(name, value, low=0.0, high=1.0, low_open=open_interval, high_open=open_interval)


def check_array(
    name: str, x, *, ndim: int | tuple[int, ...] | None = None, min_size: int = 1, finite: bool = True
) -> np.ndarray:
    """Return ``x`` as a float64 array, checking its dimension, size and finiteness.

    >>> check_array("x", [1, 2, 3], ndim=1).dtype
    dtype('float64')
    """
    _check_name(name)
    _check_options(min_size=min_size, finite=finite)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers ({exc})") from None
    if ndim is not None:
        if not isinstance(ndim, (int, tuple)) or isinstance(ndim, bool):
            raise TypeError(f"ndim must be an int, a tuple of ints or None, got {ndim!r}")
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have ndim in {allowed}, got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} values, got {arr.size}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def check_seed(name: str, value):
    """Check a seed argument: a non-negative int, a numpy Generator or SeedSequence, or None.

    Checked whether or not the current mode uses it, so that a NaN seed is always an error.

    >>> check_seed("seed", 3)
    3
    """
    _check_name(name)
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)):
        return value
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int, a numpy Generator or None, got {type(value).__name__}")
    if int(value) < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Return a flag that must be a ``bool`` (or numpy bool), never a truthy number or string.

    >>> check_bool("bias", np.True_)
    True
    """
    _check_name(name)
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_str(name: str, value, *, allow_empty: bool = False, optional: bool = False) -> str | None:
    """Return ``value`` if it is a string (non-empty unless ``allow_empty``).

    >>> check_str("layer", "layer1")
    'layer1'
    """
    value = _check_type(
        name, value, lambda v: isinstance(v, str), "a string", optional=optional, allow_empty=allow_empty
    )
    if value is not None and not allow_empty and not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices`` (strings), naming the valid ones otherwise.

    >>> check_choice("ci", "bootstrap", ("bootstrap", "asymptotic"))
    'bootstrap'
    """
    _check_name(name)
    if isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
        raise TypeError(f"choices must be a sequence of strings, got {type(choices).__name__}")
    choices = tuple(choices)
    if not choices or not all(isinstance(c, str) for c in choices):
        raise TypeError(f"choices must be a non-empty sequence of strings, got {choices!r}")
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, choices))}; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_callable(name: str, value, *, optional: bool = False):
    """Return ``value`` if it is callable (or None when ``optional``).

    >>> check_callable("loss_fn", len) is len
    True
    """
    return _check_type(name, value, callable, "callable", optional=optional)


def check_mapping(name: str, value, *, optional: bool = False):
    """Return ``value`` if it is a mapping (dict-like; or None when ``optional``).

    >>> check_mapping("overrides", {"eta": 0.1})
    {'eta': 0.1}
    """
    from collections.abc import Mapping

    return _check_type(
        name, value, lambda v: isinstance(v, Mapping), "a mapping (e.g. a dict)", optional=optional
    )


def check_path(name: str, value, *, optional: bool = False):
    """Return ``value`` as a ``pathlib.Path`` if it is a string or path-like (or None when ``optional``).

    >>> check_path("out_dir", "results").name
    'results'
    """
    import os
    from pathlib import Path

    value = _check_type(
        name,
        value,
        lambda v: isinstance(v, (str, os.PathLike)),
        "a path (str or os.PathLike)",
        optional=optional,
    )
    if value is None:
        return None
    if isinstance(value, str) and not value:
        raise ValueError(f"{name} must be a non-empty path")
    return Path(value)


def check_axes(name: str, value):
    """Return ``value`` if it is a matplotlib Axes.

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(); check_axes("ax", ax) is ax
    True
    >>> plt.close(fig)
    """
    from matplotlib.axes import Axes

    return _check_type(
        name, value, lambda v: isinstance(v, Axes), "a matplotlib Axes (e.g. from plt.subplots())"
    )


def check_model(name: str, value):
    """Return ``value`` if it is a ``torch.nn.Module`` with at least one trainable parameter.

    >>> import torch
    >>> check_model("model", torch.nn.Linear(2, 1))
    Linear(in_features=2, out_features=1, bias=True)
    """
    import torch

    _check_type(name, value, lambda v: isinstance(v, torch.nn.Module), "a torch.nn.Module (a network)")
    if not any(p.requires_grad for p in value.parameters()):
        raise ValueError(f"{name} has no trainable parameters")
    return value


def check_inputs(
    x,
    y,
    *,
    model=None,
    x_name: str = "x",
    y_name: str = "y",
    labels: bool = True,
):
    """Check a batch of inputs and targets for a network; return them as torch tensors.

    ``x``: a finite real array or tensor with at least one row; when ``model`` is given, of a shape the model
    accepts (tried on one row) and moved to the model's device and dtype. ``y``: as many rows; with
    ``labels``, integer class labels in ``[0, n_outputs)`` (``n_outputs`` read from the model's output),
    otherwise finite real targets.

    >>> import torch
    >>> xt, yt = check_inputs(np.zeros((3, 2)), [0, 1, 1], model=torch.nn.Linear(2, 2))
    >>> tuple(xt.shape), xt.dtype, yt.dtype
    ((3, 2), torch.float32, torch.int64)
    """
    import torch

    _check_options(labels=labels)
    _check_name(x_name, "x_name")
    _check_name(y_name, "y_name")

    def as_tensor(name, v):
        if isinstance(v, torch.Tensor):
            t = v
        else:
            try:
                arr = np.asarray(v)
            except Exception:  # noqa: BLE001 - any conversion failure is a type error of the argument
                raise TypeError(f"{name} must be an array or tensor, got {type(v).__name__}") from None
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"{name} must hold real numbers, got {type(v).__name__} of dtype {arr.dtype}")
            t = torch.as_tensor(arr)
        if t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold real numbers, got {t.dtype}")
        if t.ndim == 0 or t.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one row, got shape {tuple(t.shape)}")
        return t

    xt, yt = as_tensor(x_name, x), as_tensor(y_name, y)
    if xt.shape[0] != yt.shape[0]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of rows, got {xt.shape[0]} and {yt.shape[0]}"
        )
    if not bool(torch.isfinite(xt.double()).all()):
        raise ValueError(f"{x_name} must contain only finite values (found NaN or inf)")
    n_outputs = None
    if model is not None:
        check_model("model", model)
        p0 = next(model.parameters())
        xt = xt.to(device=p0.device, dtype=p0.dtype)
        yt = yt.to(device=p0.device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(xt[:1])
        except (RuntimeError, ValueError, IndexError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{x_name} of shape {tuple(xt.shape)} does not fit the model: {msg}") from None
        finally:
            model.train(was_training)
        n_outputs = out.shape[-1] if out.ndim >= 2 else None
    elif not xt.is_floating_point():
        xt = xt.to(torch.float32)
    if labels:
        if yt.is_floating_point() and not bool((yt == yt.round()).all()):
            raise TypeError(f"{y_name} must be integer class labels, got non-integer values")
        if yt.ndim != 1:
            raise ValueError(f"{y_name} must be a 1-d array of class labels, got shape {tuple(yt.shape)}")
        yt = yt.to(torch.int64)
        if int(yt.min()) < 0 or (n_outputs is not None and int(yt.max()) >= n_outputs):
            upper = "..." if n_outputs is None else str(n_outputs)
            got = f"[{int(yt.min())}, {int(yt.max())}]"
            raise ValueError(f"{y_name} must hold class labels in [0, {upper}), got range {got}")
    elif not bool(torch.isfinite(yt.double()).all()):
        raise ValueError(f"{y_name} must contain only finite values (found NaN or inf)")
    return xt, yt


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
