"""Feed every public function of hts_lib bad values, one argument at a time.

The valid call each bad call starts from is the first call of the function in its own docstring example
(the example's earlier lines are run first, so its names exist). Each parameter of the signature, whether the
example passes it or not, is then replaced by each bad value in turn. An outcome is one of:

- ``named``: a ValueError or TypeError whose message names the argument (what the house style asks for);
- ``unnamed``: a ValueError or TypeError that does not name it;
- ``other``: any other exception (the traceback from deep inside numpy or torch the house style forbids);
- ``accepted``: the call returned (the value was valid for it, or silently accepted);
- ``hang``: the call ran past the time limit.

Used by ``tests/test_bad_input.py`` and ``benchmarks/bad_input_audit.py``.
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import importlib
import inspect
import io
import math
import signal
import warnings
from dataclasses import dataclass

import numpy as np

SUBPACKAGES = [
    "hts_lib.recursion",
    "hts_lib.simulate",
    "hts_lib.tails",
    "hts_lib.nn",
    "hts_lib.book",
    "hts_lib.validation",
]

BAD_VALUES = {
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "-1": -1,
    "0": 0,
    "2.5": 2.5,
    "str": "abc",
    "empty list": [],
    "empty array": np.array([]),
    "array with nan": np.array([1.0, math.nan]),
    "complex": 1j,
}

# Parameters that are not data: callbacks and options whose every value is legitimately "anything".
SKIP_PARAMS = {"self", "kwargs", "args", "options", "run_fn", "progress"}

# Documented special returns: NaN alpha when rho >= 0 is the answer, not an error (listed for the reader).
DOCUMENTED_SPECIAL = {
    "tail_index": "NaN when rho >= 0 (no stationary law with a power tail)",
    "kesten_tail_index": "NaN when rho >= 0",
    "sgd1d_tail_index": "NaN when rho >= 0",
}


@dataclass
class Outcome:
    function: str
    parameter: str
    value: str
    kind: str
    message: str


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def public_callables(subpackages=SUBPACKAGES):
    """Yield ``(qualified name, object)`` for every function and class in the subpackages' ``__all__``."""
    seen = set()
    for pkg_name in subpackages:
        pkg = importlib.import_module(pkg_name)
        for name in getattr(pkg, "__all__", ()):
            obj = getattr(pkg, name)
            if not callable(obj) or id(obj) in seen or name == "main":
                continue
            seen.add(id(obj))
            yield f"{pkg_name}.{name}", obj


def example_call(obj):
    """Return ``(namespace, args, kwargs)`` of the first call of ``obj`` in its docstring example, or None."""
    doc = inspect.getdoc(obj) or ""
    examples = doctest.DocTestParser().get_examples(doc)
    module = importlib.import_module(obj.__module__)
    ns = dict(vars(module))
    name = obj.__name__
    for ex in examples:
        src = ex.source
        try:
            tree = ast.parse(src)
        except SyntaxError:
            return None
        call = next(
            (
                n
                for n in ast.walk(tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
            ),
            None,
        )
        if call is not None:
            try:
                args = [eval(compile(ast.Expression(a), "<ex>", "eval"), ns) for a in call.args]
                kwargs = {
                    k.arg: eval(compile(ast.Expression(k.value), "<ex>", "eval"), ns)
                    for k in call.keywords
                    if k.arg is not None
                }
            except Exception:
                return None
            return ns, args, kwargs
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(src, "<ex>", "exec"), ns)
        except Exception:
            return None
    return None


def _bind(obj, args, kwargs):
    target = obj.__init__ if inspect.isclass(obj) else obj
    sig = inspect.signature(target)
    params = [
        p
        for p in sig.parameters.values()
        if p.name not in SKIP_PARAMS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    bound = sig.bind_partial(*(([None] if inspect.isclass(obj) else []) + list(args)), **kwargs)
    values = dict(bound.arguments)
    values.pop("self", None)
    for p in sig.parameters.values():  # **kwargs of the example are passed as keywords, not as one dict
        if p.kind == p.VAR_KEYWORD:
            values.update(values.pop(p.name, {}))
    return params, values


def run_bad_calls(obj, qualname, *, time_limit=10.0, parameters=None, values=None):
    """Call ``obj`` with each bad value in each parameter; return a list of :class:`Outcome`."""
    found = example_call(obj)
    if found is None:
        return []
    _, args, kwargs = found
    params, base = _bind(obj, args, kwargs)
    outcomes = []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for p in params:
            if parameters is not None and p.name not in parameters:
                continue
            for label, bad in BAD_VALUES.items():
                if values is not None and label not in values:
                    continue
                call = dict(base)
                call[p.name] = bad
                pos = [call.pop(q.name) for q in params if q.kind == q.POSITIONAL_ONLY and q.name in call]
                # The argument checks of hts_lib.validation name the argument they are told (their ``name``).
                is_check = (
                    qualname.startswith("hts_lib.validation") and "name" in base and p.name in ("value", "x")
                )
                named = base["name"] if is_check else p.name
                kind, message = _classify(obj, pos, call, named, time_limit)
                outcomes.append(Outcome(qualname, p.name, label, kind, message))
    finally:
        signal.signal(signal.SIGALRM, old)
    return outcomes


def _classify(obj, pos, kwargs, pname, time_limit):
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            obj(*pos, **kwargs)
        return "accepted", ""
    except _Timeout:
        return "hang", f"ran past {time_limit} s"
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        return ("named" if pname in msg else "unnamed"), msg.splitlines()[0][:200] if msg else ""
    except Exception as exc:  # noqa: BLE001 - the audit classifies every exception type
        return "other", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        import matplotlib.pyplot as plt

        plt.close("all")


def group_of(qualname: str) -> str:
    """Module group of a qualified name, as the audit reports them."""
    return qualname.split(".")[1]
