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

**Strict mode.** When the environment variable ``HTS_STRICT_CHECKS`` is ``1`` (the book build sets it in the
``Makefile``), a check that does not pass raises :class:`CheckFailedError` carrying the report, so a wrong
solution in a chapter fails the build instead of printing a report nobody reads. Students never set it.
"""

from __future__ import annotations

import importlib
import math
import os
import pkgutil
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "Case",
    "CaseResult",
    "CheckReport",
    "CheckFailedError",
    "STRICT_ENV",
    "strict_mode",
    "register",
    "check",
    "exercises",
    "exercises_by_chapter",
    "reference_answer",
]

STRICT_ENV = "HTS_STRICT_CHECKS"
"""Name of the environment variable that turns strict mode on (value ``1``, ``true`` or ``yes``)."""


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


def _reference_cases(expected: Callable, settings, **options) -> list[Case]:
    """Return ``Case(description, args, expected=expected(*args), **options)`` per ``(description, args)``."""
    return [
        Case(description, args=tuple(args), expected=expected(*args), **options)
        for description, args in settings
    ]


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
        """Whether every case passed."""
        return all(r.passed for r in self.results)

    def __str__(self) -> str:
        head = f"{self.exercise}: {self.title}"
        lines = [head, "-" * len(head)]
        for r in self.results:
            lines.append(f"[{'PASS' if r.passed else 'FAIL'}] {r.description}: {r.message}")
        n_ok = sum(r.passed for r in self.results)
        lines.append(
            f"{n_ok} of {len(self.results)} cases right"
            + (" - well done." if self.passed else " - see the failing cases above.")
        )
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):  # IPython display
        p.text(str(self))

    def to_dict(self) -> dict:
        """Return the report as plain JSON-ready data (the grader sends it out of a student's kernel so).

        >>> r = CheckReport("ex", "An exercise", (CaseResult("x=1", True, "ok"),))
        >>> CheckReport.from_dict(r.to_dict()) == r
        True
        """
        return {
            "exercise": self.exercise,
            "title": self.title,
            "results": [
                {"description": r.description, "passed": bool(r.passed), "message": r.message}
                for r in self.results
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CheckReport":
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["exercise"]),
            str(data["title"]),
            tuple(
                CaseResult(str(r["description"]), bool(r["passed"]), str(r["message"]))
                for r in data["results"]
            ),
        )


class CheckFailedError(AssertionError):
    """Raised by :func:`check` in strict mode when an answer fails; ``report`` holds the check's report."""

    def __init__(self, report: CheckReport):
        super().__init__(
            f"the answer check {report.exercise!r} failed (strict mode, {STRICT_ENV}=1):\n{report}"
        )
        self.report = report


def strict_mode() -> bool:
    """Return whether strict mode is on: ``HTS_STRICT_CHECKS`` is ``1``, ``true`` or ``yes``.

    >>> isinstance(strict_mode(), bool)
    True
    """
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class _Exercise:
    exercise: str
    title: str
    make_cases: Callable[[], list[Case]]
    reference: Callable
    chapter: str  # the check module's name, which is the chapter's file name without .ipynb


_REGISTRY: dict[str, _Exercise] = {}


def register(exercise: str, title: str, reference: Callable):
    """Register ``make_cases() -> list[Case]`` for ``exercise`` (a decorator).

    ``reference`` is a right answer (usually built from the library); the test-suite checks that it
    passes every case and that perturbed answers fail.
    """

    def deco(make_cases):
        if exercise in _REGISTRY:
            raise ValueError(f"exercise {exercise!r} is registered twice")
        chapter = make_cases.__module__.rpartition(".")[2]
        _REGISTRY[exercise] = _Exercise(exercise, title, make_cases, reference, chapter)
        return make_cases

    return deco


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def exercises() -> dict[str, str]:
    """Return the identifiers and titles of every exercise that has a check."""
    _load_all()
    return {k: v.title for k, v in sorted(_REGISTRY.items())}


def exercises_by_chapter() -> dict[str, list[str]]:
    """Exercise identifiers grouped by chapter (the chapter's file name without ``.ipynb``).

    >>> exercises_by_chapter()["ch01_sgd_in_one_dimension"]
    ['ch01-mc-moment', 'ch01-tail-index']
    """
    _load_all()
    out: dict[str, list[str]] = {}
    for k in sorted(_REGISTRY):
        out.setdefault(_REGISTRY[k].chapter, []).append(k)
    return dict(sorted(out.items()))


def reference_answer(exercise: str) -> Callable:
    """Return the library's right answer for ``exercise`` (for instructors and tests)."""
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
        return False, (
            f"expected {np.round(e, 6).tolist()}, got {np.round(g, 6).tolist()} (non-finite mismatch)"
        )
    ok = bool(np.all(np.isclose(g, e, rtol=case.rtol, atol=case.atol, equal_nan=True)))
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.nanmax(np.abs(g - e)) if g.size else 0.0
        # a relative error only where it means something: expected values well away from zero
        meaningful = g.size and np.all(np.abs(e) > max(case.atol, 1e-12))
        rel = np.nanmax(np.abs(g - e) / np.abs(e)) if meaningful else math.nan
    msg = (
        f"expected {np.round(e, 6).tolist()}, got {np.round(g, 6).tolist()}; "
        f"error {err:.3g}"
        + ("" if math.isnan(rel) else f" ({rel:.2%} relative)")
        + f"; tolerance rtol={case.rtol:g}, atol={case.atol:g} ({case.reason})"
    )
    return ok, msg


def check(
    exercise: str, answer: Callable, *, verbose: bool = True, strict: bool | None = None
) -> CheckReport:
    """Run ``answer`` on the fixed cases of ``exercise`` and report what is right and what is off.

    Parameters
    ----------
    exercise : str
        Identifier shown next to the exercise in the book (``exercises()`` lists them).
    answer : callable
        The student's function, with the signature given in the exercise's stub.
    verbose : bool
        Print the report (default). The report is also returned.
    strict : bool, optional
        Raise :class:`CheckFailedError` when a case fails. Default: strict when the environment variable
        ``HTS_STRICT_CHECKS`` is ``1`` (the book build), lenient otherwise (students, the grader).

    Returns
    -------
    CheckReport
        ``report.passed`` is True when every case is right.

    Raises
    ------
    CheckFailedError
        In strict mode, when a case fails; its message and its ``report`` attribute hold the report.
    """
    _load_all()
    if not isinstance(exercise, str) or exercise not in _REGISTRY:
        raise ValueError(f"unknown exercise {exercise!r}; known: {', '.join(sorted(_REGISTRY))}")
    if not callable(answer):
        raise TypeError(f"answer must be a function, got {type(answer).__name__}")
    if strict is None:
        strict = strict_mode()
    elif not isinstance(strict, bool):
        raise TypeError(f"strict must be True, False or None, got {type(strict).__name__}")
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
    if strict and not report.passed:
        raise CheckFailedError(report)
    if verbose:
        print(report)
    return report
