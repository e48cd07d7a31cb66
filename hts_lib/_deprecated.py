"""Deprecated module paths of hts_lib 0.1, kept working for one release (removed in 0.3).

hts_lib 0.2 grouped its flat modules into subpackages (``recursion``, ``simulate``, ``tails``, ``nn``,
``book``). Each old module (``hts_lib.theory``, ``hts_lib.kesten``, ...) is a three-line file that calls
:func:`alias`: it forwards attribute access to the new module and warns once per name, so notebooks
written for 0.1 keep running.
"""

from __future__ import annotations

import importlib
import warnings

__all__ = ["MOVED", "alias"]

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


def alias(old: str):
    """Module-level ``__getattr__`` and ``__dir__`` forwarding the old module ``old`` to its new one."""
    new, public = MOVED[old]

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        module = importlib.import_module(new)
        try:
            value = getattr(module, name)
        except AttributeError:
            raise AttributeError(f"module {old!r} has no attribute {name!r}") from None
        warnings.warn(
            f"{old} is deprecated (removed in hts_lib 0.3): use 'from {public} import {name}'",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    def __dir__():
        return sorted(getattr(importlib.import_module(new), "__all__", ()))

    return __getattr__, __dir__
