"""Answer checks for the coding exercises: run a student's function on fixed, seeded cases.

Each coding exercise in the book has an identifier such as ``"ch01-mc-moment"``. A student calls

>>> from hts_lib.book.checks import check
>>> report = check("ch01-mc-moment", my_function)   # doctest: +SKIP

and gets, for every case, what was expected, what came back, the error and the tolerance with its
reason. The expected values come from the library (``hts_lib``), never from stored numbers, and the
tolerances are derived from standard errors for stochastic answers. Works anywhere the library is
installed (Colab, Binder, plain Jupyter): no test files are needed.

The checks for each chapter live in ``hts_lib/book/checks/<chapter>.py`` and register themselves with
:func:`register`.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Case", "CaseResult", "CheckReport", "register", "check", "exercises", "reference_answer"]


@dataclass(frozen=True)
class Case:
    """One input to an exercise and what a right answer returns for it.

    ``expected`` is compared with the answer's output by ``compare`` (default: ``numpy.isclose``
    with ``rtol``/``atol``); ``reason`` says why the tolerance is what it is.
    """

    description: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    rtol: float = 1e-6
    atol: float = 0.0
    reason: str = "deterministic: only floating-point rounding"
    compare: Callable[[Any, Any], tuple[bool, str]] | None = None


@dataclass(frozen=True)
class CaseResult:
    """Outcome of one case: passed or not, and a human message."""

    description: str
    passed: bool
    message: str


@dataclass(frozen=True)
class CheckReport:
    """All case outcomes for one exercise; ``passed`` is True when every case passed."""

    exercise: str
    title: str
    results: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def __str__(self) -> str:
        head = f"{self.exercise}: {self.title}"
        lines = [head, "-" * len(head)]
        for r in self.results:
            lines.append(f"[{'PASS' if r.passed else 'FAIL'}] {r.description}: {r.message}")
        n_ok = sum(r.passed for r in self.results)
        lines.append(f"{n_ok} of {len(self.results)} cases right"
                     + (" - well done." if self.passed else " - see the failing cases above."))
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):  # IPython display
        p.text(str(self))


@dataclass(frozen=True)
class _Exercise:
    exercise: str
    title: str
    make_cases: Callable[[], list[Case]]
    reference: Callable


_REGISTRY: dict[str, _Exercise] = {}


def register(exercise: str, title: str, reference: Callable):
    """Decorator registering ``make_cases() -> list[Case]`` for ``exercise``.

    ``reference`` is a right answer (usually built from the library); the test-suite checks that it
    passes every case and that perturbed answers fail.
    """
    def deco(make_cases):
        if exercise in _REGISTRY:
            raise ValueError(f"exercise {exercise!r} is registered twice")
        _REGISTRY[exercise] = _Exercise(exercise, title, make_cases, reference)
        return make_cases
    return deco


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def exercises() -> dict[str, str]:
    """Identifiers and titles of every exercise that has a check."""
    _load_all()
    return {k: v.title for k, v in sorted(_REGISTRY.items())}


def reference_answer(exercise: str) -> Callable:
    """The library's right answer for ``exercise`` (for instructors and tests)."""
    _load_all()
    if exercise not in _REGISTRY:
        raise ValueError(f"unknown exercise {exercise!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[exercise].reference


def _default_compare(case: Case, got) -> tuple[bool, str]:
    try:
        g = np.asarray(got, dtype=float)
        e = np.asarray(case.expected, dtype=float)
    except (TypeError, ValueError):
        return False, f"expected a number or array, got {type(got).__name__}"
    if g.shape != e.shape:
        return False, f"expected shape {e.shape}, got shape {g.shape}"
    if not np.all(np.isfinite(g) == np.isfinite(e)):
        return False, f"expected {np.round(e, 6).tolist()}, got {np.round(g, 6).tolist()} (non-finite mismatch)"
    ok = bool(np.all(np.isclose(g, e, rtol=case.rtol, atol=case.atol, equal_nan=True)))
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.nanmax(np.abs(g - e)) if g.size else 0.0
        rel = np.nanmax(np.abs(g - e) / np.abs(e)) if g.size and np.all(e != 0) else math.nan
    msg = (f"expected {np.round(e, 6).tolist()}, got {np.round(g, 6).tolist()}; "
           f"error {err:.3g}" + ("" if math.isnan(rel) else f" ({rel:.2%} relative)")
           + f"; tolerance rtol={case.rtol:g}, atol={case.atol:g} ({case.reason})")
    return ok, msg


def check(exercise: str, answer: Callable, *, verbose: bool = True) -> CheckReport:
    """Run ``answer`` on the fixed cases of ``exercise`` and report what is right and what is off.

    Parameters
    ----------
    exercise : str
        Identifier shown next to the exercise in the book (``exercises()`` lists them).
    answer : callable
        The student's function, with the signature given in the exercise's stub.
    verbose : bool
        Print the report (default). The report is also returned.

    Returns
    -------
    CheckReport
        ``report.passed`` is True when every case is right.
    """
    _load_all()
    if not isinstance(exercise, str) or exercise not in _REGISTRY:
        raise ValueError(f"unknown exercise {exercise!r}; known: {', '.join(sorted(_REGISTRY))}")
    if not callable(answer):
        raise TypeError(f"answer must be a function, got {type(answer).__name__}")
    ex = _REGISTRY[exercise]
    results = []
    for case in ex.make_cases():
        try:
            got = answer(*case.args, **case.kwargs)
        except NotImplementedError:
            results.append(CaseResult(case.description, False, "not implemented yet (the stub still raises)"))
            continue
        except Exception as exc:  # report the student's error instead of crashing the check
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            results.append(CaseResult(case.description, False, f"raised {last}"))
            continue
        if case.compare is None:
            ok, msg = _default_compare(case, got)
        else:
            ok, msg = case.compare(case.expected, got)
        results.append(CaseResult(case.description, ok, msg))
    report = CheckReport(exercise, ex.title, tuple(results))
    if verbose:
        print(report)
    return report
