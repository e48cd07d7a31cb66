"""Bad input gets a clear error across the whole public API.

The audit in ``tests/_bad_input.py`` finds every public function and class of the subpackages (their
``__all__``), starts from the call in its docstring example and replaces one argument at a time with a bad
value. A function added later with an example is covered without editing this file. ``hypothesis`` draws
further bad calls with values the fixed list does not hold.
"""

from __future__ import annotations

import collections
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
import _bad_input as audit  # noqa: E402

# Values that no parameter of the library accepts: NaN and complex numbers (the documented exceptions of
# audit.DOCUMENTED_SPECIAL are return values, not arguments). A call with one of them must raise an error that
# names the argument.
NEVER_VALID = ("nan", "complex", "array with nan")

# Arguments where NaN is documented as a value, not an error (the reason is in each function's docstring).
DOCUMENTED_NAN_ARGUMENTS = {
    ("plot_moment_function", "alpha"): "alpha is NaN when rho >= 0 (no power-law tail) and is shown as such",
    ("plot_phase_diagram", "eta_crit"): "a critical step-size curve may have gaps (NaN), drawn as gaps",
    ("plot_phase_diagram", "eta_max"): "a critical step-size curve may have gaps (NaN), drawn as gaps",
}


def _documented_nan(qualname: str, parameter: str) -> bool:
    return (qualname.rsplit(".", 1)[-1], parameter) in DOCUMENTED_NAN_ARGUMENTS


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    # Bad values such as "abc" are valid paths for some functions: let them land in a temporary folder.
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("bad_input"))
    found = []
    for qualname, obj in audit.public_callables():
        found += audit.run_bad_calls(obj, qualname, time_limit=20.0)  # 20 s: far above any example's run time
    os.chdir(cwd)
    return found


def test_enough_of_the_api_is_exercised(outcomes):
    assert len({o.function for o in outcomes}) >= 90


def test_named_errors_overall(outcomes):
    kinds = collections.Counter(o.kind for o in outcomes)
    n = sum(kinds.values())
    report = {k: f"{v / n:.1%}" for k, v in kinds.items()}
    assert kinds["named"] / n >= 0.90, report
    assert kinds["other"] / n <= 0.005, report
    assert kinds["hang"] == 0, report


def test_no_exception_from_deep_inside(outcomes):
    bad = [
        f"{o.function}({o.parameter}={o.value}): {o.message}" for o in outcomes if o.kind in ("other", "hang")
    ]
    assert not bad, "\n".join(bad)


def test_never_valid_values_are_named(outcomes):
    bad = [
        f"{o.function}({o.parameter}={o.value}): {o.kind} {o.message}"
        for o in outcomes
        if o.value in NEVER_VALID and o.kind != "named" and not _documented_nan(o.function, o.parameter)
    ]
    assert not bad, "\n".join(bad)


def test_documented_special_returns_are_kept():
    from hts_lib.recursion import sgd1d_tail_index, tail_index

    # eta = 5 with sigma = 1 is far above the critical step size: rho > 0 and alpha is NaN by definition.
    assert math.isnan(tail_index(5.0, 1, 1, 1.0))
    assert math.isnan(sgd1d_tail_index(5.0))


_FUNCS = [(q, f) for q, f in audit.public_callables() if audit.example_call(f) is not None]
_CHEAP = [(q, f) for q, f in _FUNCS if q.split(".")[1] in ("recursion", "tails", "book", "validation")]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_drawn_bad_values_never_escape_as_other_exceptions(data):
    qualname, obj = data.draw(st.sampled_from(_CHEAP), label="function")
    params, _ = audit._bind(obj, *audit.example_call(obj)[1:])
    if not params:
        return
    name = data.draw(st.sampled_from([p.name for p in params]), label="parameter")
    if _documented_nan(qualname, name):
        return
    bad = data.draw(
        st.one_of(
            st.just(math.nan),
            st.complex_numbers(allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
            st.lists(st.floats(allow_nan=True), max_size=3).map(lambda v: np.array(v + [math.nan])),
        ),
        label="value",
    )
    audit.BAD_VALUES["drawn"] = bad
    try:
        (out,) = audit.run_bad_calls(obj, qualname, time_limit=20.0, parameters={name}, values={"drawn"})
    finally:
        del audit.BAD_VALUES["drawn"]
    assert out.kind == "named", f"{qualname}({name}={bad!r}): {out.kind} {out.message}"
