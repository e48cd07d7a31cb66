"""Tests for hts_lib.book.checks: right answers pass, wrong ones fail, and strict mode fails the book build.

The right answers are never the library call that computes a check's expected value: they are the book's own
solutions (extracted from the chapters and run here, one per exercise) and, for the checks whose registered
reference is that very call, implementations written in this file (another quadrature, closed forms).
"""

from __future__ import annotations

import ast
import math
import re
from functools import lru_cache
from math import comb
from pathlib import Path

import mpmath
import nbformat
import numpy as np
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from scipy import integrate, optimize, special

from hts_lib.book import checks

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _all_ids():
    return sorted(checks.exercises())


# ---------------------------------------------------------------- independent right answers


def tail_index_1d(eta):
    """Positive root of h(s) = log E|1 - eta Z^2|^s: mpmath quadrature (20 digits), Anderson-Bjorck root."""
    with mpmath.workdps(20):
        eta = mpmath.mpf(eta)
        z0 = 1 / mpmath.sqrt(eta)

        def h(s):
            f = lambda z: abs(1 - eta * z * z) ** s * mpmath.npdf(z)  # noqa: E731
            return mpmath.log(2 * (mpmath.quad(f, [0, z0]) + mpmath.quad(f, [z0, mpmath.inf])))

        hi = mpmath.mpf(1)
        while h(hi) < 0:
            hi *= 2
        return float(mpmath.findroot(h, (hi / 2 if hi > 1 else mpmath.mpf("1e-3"), hi), solver="anderson"))


def _radial(r, dof):
    """Density of sqrt(chi2(dof)) at r > 0 (the substitution S = s^2 removes chi2's singularity at 0)."""
    return np.exp((dof - 1) * np.log(r) - r * r / 2 - (dof / 2 - 1) * math.log(2) - special.gammaln(dof / 2))


def window_width(batch_size, dim):
    """eta_max / eta_crit - 1: eta_crit in closed form, eta_max the zero of rho by a two-scalar integral."""
    b, k = batch_size, dim - 1
    eta_crit = 2 * b / (dim + b + 1)  # E||M e_1||^2 = 1 - 2 eta + eta^2 (d + b + 1) / b = 1
    opts = dict(epsabs=1e-13, epsrel=1e-12, limit=200)

    # rho = E log||M e_1|| = E log((1 - c S)^2 + c^2 S Q) / 2 with S = s^2 ~ chi2(b), Q = t^2 ~ chi2(d - 1)
    def rho(eta):
        c = eta / b
        if k == 0:
            f = lambda s: math.log(abs(1 - c * s * s)) * _radial(s, b)  # noqa: E731
        else:

            def f(s):
                def g(t):
                    return math.log((1 - c * s * s) ** 2 + c * c * s * s * t * t) * _radial(t, k)

                return integrate.quad(g, 0, np.inf, **opts)[0] * _radial(s, b) / 2

        s0 = 1 / math.sqrt(c)  # the kink of |1 - c s^2|
        return integrate.quad(f, 0, s0, **opts)[0] + integrate.quad(f, s0, np.inf, **opts)[0]

    hi = 2 * eta_crit
    while rho(hi) < 0:
        hi *= 2
    return optimize.brentq(rho, eta_crit, hi, xtol=1e-15, rtol=1e-13) / eta_crit - 1


def second_moment_radius(eta, batch_size, lam):
    """Spectral radius of the full d^2 x d^2 matrix E[M (x) M], built from Isserlis' theorem."""
    lam = np.asarray(lam, dtype=float)
    d, b = lam.size, batch_size
    cov = np.diag(lam)
    eye = np.eye(d)
    # E[a_i a_k a_j a_l] for one sample, as the (ij, kl) entry of E[(a a^T) (x) (a a^T)]
    four = (
        np.einsum("ik,jl->ijkl", cov, cov)
        + np.einsum("ij,kl->ijkl", cov, cov)
        + np.einsum("il,jk->ijkl", cov, cov)
    ).reshape(d * d, d * d)
    # E[(sum a a^T) (x) (sum a a^T)] over b independent samples: b fourth moments and b(b-1) products
    pair = b * four + b * (b - 1) * np.kron(cov, cov)
    emm = np.kron(eye, eye) - eta * (np.kron(cov, eye) + np.kron(eye, cov)) + (eta / b) ** 2 * pair
    return float(np.abs(np.linalg.eigvals(emm)).max())


def offline_tail_index(x, eta):
    """Root of mean |1 - eta x_i^2|^s = 1 by plain bisection on the mean itself (no logarithms)."""
    a = np.abs(1 - eta * np.asarray(x, dtype=float) ** 2)
    if np.mean(np.log(a)) >= 0:
        return math.nan
    if np.all(a <= 1):
        return math.inf
    g = lambda s: np.mean(a**s) - 1  # noqa: E731 - negative on (0, alpha), positive beyond
    hi = 1.0
    while g(hi) < 0:
        hi *= 2
    return optimize.bisect(g, hi / 2 if hi > 1 else 1e-9, hi, xtol=1e-13, rtol=1e-14)


def fourth_moment_path(eta, n_steps):
    """E e_k^4 from e_0 = 0 by the binomial expansion, every E[A^j B^m] computed from Gaussian moments."""
    gauss = lambda m: 0.0 if m % 2 else float(np.prod(np.arange(m - 1, 0, -2)))  # noqa: E731 - E z^m

    def mixed(j, m):  # E[(1 - eta a^2)^j (eta a eps)^m]
        return eta**m * gauss(m) * sum(comb(j, i) * (-eta) ** i * gauss(2 * i + m) for i in range(j + 1))

    moments = {0: 1.0, 2: 0.0, 4: 0.0}
    path = [0.0]
    for _ in range(n_steps):
        moments = {
            p: sum(comb(p, j) * mixed(j, p - j) * moments[j] for j in range(0, p + 1, 2)) for p in (0, 2, 4)
        }
        path.append(moments[4])
    return np.array(path)


INDEPENDENT = {
    "ch01-tail-index": tail_index_1d,
    "ch06-window": window_width,
    "ch08-radius": second_moment_radius,
    "ch08-offline-alpha": offline_tail_index,
    "ch09-fourth-moment": fourth_moment_path,
}


@pytest.mark.parametrize("exercise", sorted(INDEPENDENT))
def test_independent_answer_passes(exercise):
    report = checks.check(exercise, INDEPENDENT[exercise], verbose=False, strict=False)
    assert report.passed, str(report)


def test_independent_answers_at_exact_values():
    # alpha = 2 exactly at eta = 2/3 (E A^2 = 1 - 2 eta + 3 eta^2 = 1) and alpha = 4 at the root of
    # 105 c^3 - 60 c^2 + 18 c - 4 (E A^4 = 1); 1e-9: the mpmath root is good to ~1e-15
    assert tail_index_1d(2 / 3) == pytest.approx(2.0, rel=1e-9)
    c4 = optimize.brentq(lambda c: 105 * c**3 - 60 * c**2 + 18 * c - 4, 0.01, 2 / 3, xtol=1e-15)
    assert tail_index_1d(c4) == pytest.approx(4.0, rel=1e-9)
    # isotropic data: E||M e_1||^2 = 1 - 2 eta + eta^2 (d + b + 1) / b is an eigenvalue (rounding only)
    eta, b, d = 0.1, 2, 4
    assert second_moment_radius(eta, b, np.ones(d)) == pytest.approx(
        1 - 2 * eta + eta**2 * (d + b + 1) / b, rel=1e-12
    )
    # one step from e_0 = 0: E e_1^4 = E B^4 = 9 eta^4 (E a^4 = E eps^4 = 3)
    assert fourth_moment_path(0.3, 1)[1] == pytest.approx(9 * 0.3**4, rel=1e-12)
    # two inputs with |1 - x^2| = 0.5 and 1.5: (0.5^s + 1.5^s) / 2 = 1 has its positive root at s = 1 exactly
    x = np.sqrt(np.array([0.5, 2.5]))
    assert offline_tail_index(x, 1.0) == pytest.approx(1.0, rel=1e-10)


# ---------------------------------------------------------------- the book's solutions, through strict checks

_TM = TransformerManager()


@lru_cache(maxsize=None)
def _book_solutions() -> dict[str, tuple[str, str]]:
    """exercise -> (chapter, code): the chapter's imports cell, then its solution cells up to this exercise's
    check call (earlier solutions without their check calls, later statements of the cell dropped)."""
    out = {}
    for path in CHAPTERS:
        nb = nbformat.read(path, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        imports = next((s for s in code if re.search(r"^SEED\s*=", s, flags=re.M)), "")
        before = [_TM.transform_cell(imports)]
        for src in code:
            if not re.search(r"check\(\s*[\"'][\w-]+[\"']", src):
                continue
            body = ast.parse(_TM.transform_cell(src)).body
            calls = [
                i
                for i, st in enumerate(body)
                if isinstance(st, ast.Expr)
                and isinstance(st.value, ast.Call)
                and getattr(st.value.func, "id", "") == "check"
            ]
            for i in calls:
                ex = ast.literal_eval(body[i].value.args[0])
                out[ex] = (path.stem, "\n".join(before + [ast.unparse(ast.Module(body[: i + 1], []))]))
            before.append(
                ast.unparse(
                    ast.Module(
                        [st for j, st in enumerate(body) if j not in calls and (not calls or j < calls[-1])],
                        [],
                    )
                )
            )
    return out


def test_every_check_has_a_book_solution():
    missing = set(_all_ids()) - set(_book_solutions())
    assert not missing, f"exercises with a check but no solution calling it in a chapter: {sorted(missing)}"


@pytest.mark.parametrize("exercise", sorted(_book_solutions()))
def test_book_solution_passes_in_strict_mode(exercise, monkeypatch):
    # Every solution in the book is an independent implementation: run through its check in strict mode, as
    # the book build does, it must not raise. All 25 take under 2 s each (numbers on an idle core), so none
    # is skipped.
    monkeypatch.setenv(checks.STRICT_ENV, "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    chapter, code = _book_solutions()[exercise]
    exec(compile(code, f"{chapter} solution of {exercise}", "exec"), {"__name__": "__solution__"})


# ---------------------------------------------------------------- wrong answers fail


@pytest.mark.parametrize("exercise", _all_ids())
def test_off_answer_fails(exercise):
    ref = checks.reference_answer(exercise)

    def off(*args, **kwargs):  # a wrong answer: 20% too large (or shifted when it is an array of zeros)
        out = ref(*args, **kwargs)
        return np.asarray(out, dtype=float) * 1.2 + 0.1

    report = checks.check(exercise, off, verbose=False, strict=False)
    assert not report.passed


@pytest.mark.parametrize("exercise", _all_ids())
def test_stub_is_reported_not_implemented(exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError

    report = checks.check(exercise, stub, verbose=False, strict=False)
    assert not report.passed
    assert all("not implemented" in r.message for r in report.results)


def test_errors_in_answers_are_reported_not_raised():
    report = checks.check("ch01-tail-index", lambda eta: 1 / 0, verbose=False, strict=False)
    assert not report.passed and "ZeroDivisionError" in report.results[0].message


def test_report_text_names_expected_and_tolerance(capsys):
    checks.check("ch01-tail-index", tail_index_1d, strict=False)
    out = capsys.readouterr().out
    assert "PASS" in out and "tolerance" in out and "well done" in out


def test_report_round_trips_through_plain_data():
    report = checks.check("ch01-tail-index", lambda eta: 2.0, verbose=False, strict=False)
    assert checks.CheckReport.from_dict(report.to_dict()) == report


def test_exercises_by_chapter_partitions_the_exercises():
    groups = checks.exercises_by_chapter()
    assert sorted(ex for ids in groups.values() for ex in ids) == _all_ids()
    assert set(groups) <= {p.stem for p in CHAPTERS}


# ---------------------------------------------------------------- strict mode


def test_strict_mode_raises_with_the_report(monkeypatch):
    monkeypatch.setenv(checks.STRICT_ENV, "1")
    assert checks.strict_mode()
    with pytest.raises(checks.CheckFailedError, match=r"(?s)ch01-tail-index.*\[FAIL\] eta=0.3") as info:
        checks.check("ch01-tail-index", lambda eta: 2.0, verbose=False)
    assert not info.value.report.passed
    assert checks.check("ch01-tail-index", tail_index_1d, verbose=False).passed  # right answers pass quietly
    report = checks.check("ch01-tail-index", lambda eta: 2.0, verbose=False, strict=False)  # explicit wins
    assert not report.passed
    monkeypatch.setenv(checks.STRICT_ENV, "0")
    assert not checks.strict_mode()


def _wrong_solution_notebook():
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("from hts_lib.book import check"),
            nbformat.v4.new_code_cell("def my_tail_index(eta):\n    return 2.0  # wrong except at eta = 2/3"),
            nbformat.v4.new_code_cell('check("ch01-tail-index", my_tail_index);'),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def test_wrong_solution_fails_a_strict_book_build(monkeypatch, tmp_path):
    # The book build executes chapters with nbclient (through jupyter-book) and stops on a cell error; the
    # Makefile turns strict mode on. 120 s per cell: the check takes a second, a loaded machine more.
    monkeypatch.setenv(checks.STRICT_ENV, "1")
    client = NotebookClient(
        _wrong_solution_notebook(),
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    text = str(info.value)
    assert "CheckFailedError" in text and "[FAIL] eta=0.3" in text and "1 of 4 cases right" in text


def test_wrong_solution_only_prints_its_report_when_not_strict(monkeypatch, tmp_path):
    monkeypatch.delenv(checks.STRICT_ENV, raising=False)
    nb = _wrong_solution_notebook()
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",  # 120 s: as above
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    out = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "[FAIL] eta=0.3" in out and "1 of 4 cases right" in out


def test_bad_input():
    with pytest.raises(ValueError, match="unknown exercise"):
        checks.check("no-such-exercise", lambda: 0)
    with pytest.raises(TypeError, match="answer must be a function"):
        checks.check("ch01-tail-index", 3.0)
    with pytest.raises(TypeError, match="strict must be True, False or None"):
        checks.check("ch01-tail-index", tail_index_1d, strict="yes")
