"""Deprecated module paths and names, kept working for one release (removed in hts_lib 0.3).

hts_lib 0.2 grouped its flat modules into subpackages (``recursion``, ``simulate``, ``tails``, ``nn``,
``book``) and gave each concept one public name. Two kinds of forwarding keep older code running:

* :data:`MOVED`: each old module (``hts_lib.theory``, ``hts_lib.kesten``, ...) is a three-line file that calls
  :func:`alias`; it forwards attribute access to the new module and warns;
* :data:`FORWARDS`: names that left a module or were renamed (``moment_function`` is now ``log_moment``,
  ``kesten_lyapunov`` is ``kesten_lyapunov_exponent``, ...). The module they left calls :func:`forward`, whose
  ``__getattr__`` returns the new object and warns with the import to use instead.

Every warning is a ``DeprecationWarning`` naming the replacement import.
"""

from __future__ import annotations

import importlib
import warnings

__all__ = ["MOVED", "FORWARDS", "alias", "forward", "replacement"]

# old module -> (its new module, the import path the warning recommends)
MOVED = {
    "hts_lib.theory": ("hts_lib.recursion.exact", "hts_lib.recursion"),
    "hts_lib.kesten": ("hts_lib.recursion.kesten", "hts_lib.recursion"),
    "hts_lib.moments": ("hts_lib.recursion.moments", "hts_lib.recursion"),
    "hts_lib.lyapunov": ("hts_lib.recursion.montecarlo", "hts_lib.recursion"),
    "hts_lib.bounds": ("hts_lib.recursion.bounds", "hts_lib.recursion"),
    "hts_lib.offline": ("hts_lib.recursion.finite_data", "hts_lib.recursion"),
    "hts_lib.recursions": ("hts_lib.simulate.engine", "hts_lib.simulate"),
    "hts_lib.sgd": ("hts_lib.simulate.sgd", "hts_lib.simulate"),
    "hts_lib.synthetic": ("hts_lib.simulate.synthetic", "hts_lib.simulate"),
    "hts_lib.estimators": ("hts_lib.tails.estimators", "hts_lib.tails"),
    "hts_lib.distributions": ("hts_lib.tails.distributions", "hts_lib.tails"),
    "hts_lib.data": ("hts_lib.nn.data", "hts_lib.nn"),
    "hts_lib.nets": ("hts_lib.nn.nets", "hts_lib.nn"),
    "hts_lib.training": ("hts_lib.nn.training", "hts_lib.nn"),
    "hts_lib.sharpness": ("hts_lib.nn.sharpness", "hts_lib.nn"),
    "hts_lib.experiments": ("hts_lib.nn.experiments", "hts_lib.nn.experiments"),
    "hts_lib.plotting": ("hts_lib.book.plotting", "hts_lib.book"),
    "hts_lib.student": ("hts_lib.book.student", "hts_lib.book.student"),
    "hts_lib.checks": ("hts_lib.book.checks", "hts_lib.book.checks"),
}

_R = "hts_lib.recursion"
_S = "hts_lib.simulate"

# Renamed names, wherever they were exported: old name -> new name (in hts_lib.recursion).
_RENAMED = {
    "moment_function": "log_moment",
    "moment_function_mc": "log_moment_mc",
    "kesten_lyapunov": "kesten_lyapunov_exponent",
    "sgd1d_lyapunov": "sgd1d_lyapunov_exponent",
    "offline_lyapunov_1d": "offline1d_lyapunov_exponent",
    "offline_tail_index_1d": "offline1d_tail_index",
    "AUTHORS_M": "PAPER_M",  # in hts_lib.simulate only: hts_lib.nn.AUTHORS_M is the networks' list
}


def _table(names, path: str = _R) -> dict:
    return {old: (path, _RENAMED.get(old, old)) for old in names}


# module -> {old name: (import path, new name)}: names that left the module or were renamed in it.
FORWARDS = {
    _R: _table(
        [
            "moment_function",
            "moment_function_mc",
            "kesten_lyapunov",
            "sgd1d_lyapunov",
            "offline_lyapunov_1d",
            "offline_tail_index_1d",
        ]
    ),
    f"{_R}.exact": _table(["moment_function"]),
    f"{_R}.kesten": _table(
        [
            "kesten_lyapunov",
            "sgd1d_log_moment",
            "sgd1d_lyapunov",
            "sgd1d_tail_index",
            "sgd1d_step_sizes",
            "StepSizes1D",
            "simulate_sgd1d",
        ]
    ),
    f"{_R}.moments": _table(
        [
            "sgd1d_sampler",
            "sgd1d_mixed_moment",
            "sgd1d_moment_path",
            "MomentPaths",
            "kesten_moment_paths",
            "KestenSnapshots",
            "kesten_snapshots",
        ]
    ),
    f"{_R}.montecarlo": _table(
        [
            "gaussian_sampler",
            "rademacher_sampler",
            "uniform_sampler",
            "student_t_sampler",
            "moment_function_mc",
            "second_moment_spectral_radius",
        ]
    ),
    f"{_R}.finite_data": _table(["dataset_sampler", "offline_lyapunov_1d", "offline_tail_index_1d"]),
    _S: _table(["stationary_second_moment"]) | _table(["AUTHORS_M"], _S),
    f"{_S}.sgd": _table(["stationary_second_moment"]),
    f"{_S}.synthetic": _table(["AUTHORS_M"], _S),
}


def replacement(module: str, name: str) -> tuple[str, str] | None:
    """Return ``(import path, new name)`` for a name that left ``module`` or was renamed, else None.

    Examples
    --------
    >>> replacement("hts_lib.recursion", "moment_function")
    ('hts_lib.recursion', 'log_moment')
    >>> replacement("hts_lib.recursion", "tail_index") is None
    True
    """
    return FORWARDS.get(module, {}).get(name)


def _resolve(old_module: str, name: str, path: str, new_name: str, stacklevel: int):
    value = getattr(importlib.import_module(path), new_name)
    warnings.warn(
        f"{old_module}.{name} is deprecated (removed in hts_lib 0.3): use 'from {path} import {new_name}'",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return value


def forward(module: str):
    """Return a module-level ``__getattr__`` resolving the names :data:`FORWARDS` lists for ``module``.

    A module whose names moved or were renamed ends with ``__getattr__ = forward(__name__)``; a forwarded name
    then still works, with a ``DeprecationWarning`` naming the import to use.
    """
    table = FORWARDS[module]

    def __getattr__(name: str):
        if name not in table:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return _resolve(module, name, *table[name], stacklevel=2)

    return __getattr__


def alias(old: str):
    """Return the module-level ``__getattr__`` and ``__dir__`` forwarding the old module ``old``."""
    new, public = MOVED[old]

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        moved = replacement(new, name)
        if moved is not None:  # left the new module too, or renamed: one warning
            return _resolve(old, name, *moved, stacklevel=2)
        try:
            value = getattr(importlib.import_module(new), name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        path = public if name in getattr(importlib.import_module(public), "__all__", ()) else new
        warnings.warn(
            f"{old} is deprecated (removed in hts_lib 0.3): use 'from {path} import {name}'",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    def __dir__():
        return sorted(set(getattr(importlib.import_module(new), "__all__", ())) | set(FORWARDS.get(new, ())))

    return __getattr__, __dir__
