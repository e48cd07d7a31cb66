"""Tests for hts_lib.book.checks: every registered check accepts its reference answer and rejects wrong ones."""

import numpy as np
import pytest

from hts_lib.book import checks


def _all_ids():
    return sorted(checks.exercises())


def test_there_are_checks():
    assert len(_all_ids()) >= 2


@pytest.mark.parametrize("exercise", _all_ids())
def test_reference_answer_passes(exercise):
    report = checks.check(exercise, checks.reference_answer(exercise), verbose=False)
    assert report.passed, str(report)


@pytest.mark.parametrize("exercise", _all_ids())
def test_off_answer_fails(exercise):
    ref = checks.reference_answer(exercise)

    def off(*args, **kwargs):  # a wrong answer: 20% too large (or shifted when it is an array of zeros)
        out = ref(*args, **kwargs)
        return np.asarray(out, dtype=float) * 1.2 + 0.1

    report = checks.check(exercise, off, verbose=False)
    assert not report.passed


@pytest.mark.parametrize("exercise", _all_ids())
def test_stub_is_reported_not_implemented(exercise):
    def stub(*args, **kwargs):
        raise NotImplementedError

    report = checks.check(exercise, stub, verbose=False)
    assert not report.passed
    assert all("not implemented" in r.message for r in report.results)


def test_errors_in_answers_are_reported_not_raised():
    report = checks.check("ch01-tail-index", lambda eta: 1 / 0, verbose=False)
    assert not report.passed and "ZeroDivisionError" in report.results[0].message


def test_report_text_names_expected_and_tolerance(capsys):
    checks.check("ch01-tail-index", checks.reference_answer("ch01-tail-index"))
    out = capsys.readouterr().out
    assert "PASS" in out and "tolerance" in out and "well done" in out


def test_bad_input():
    with pytest.raises(ValueError, match="unknown exercise"):
        checks.check("no-such-exercise", lambda: 0)
    with pytest.raises(TypeError, match="answer must be a function"):
        checks.check("ch01-tail-index", 3.0)
