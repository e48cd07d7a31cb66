"""The experiment runner: sweeps of training runs, one small JSON result file per run.

Work larger than a chapter's minute of compute (the paper's full grids, CIFAR-10, GPU runs) goes
through this module. A sweep is a list of configs (usually :func:`sweep_grid` of a base config and
a few axes); :func:`run_sweep` trains each one with :func:`hts_lib.nn.training.run_from_config` and
writes ``<out_dir>/<run_id>.json`` holding the run's result plus provenance (versions, device,
git revision, start and end times). The runner

* **resumes**: a config whose valid result file is already there is skipped, so an interrupted
  sweep is finished by running the same command again;
* **writes atomically**: a file is written to a temporary name in the same folder and moved into
  place with ``os.replace`` only when complete, so there is never a half-written result, and a run
  that crashes leaves no result file (its traceback goes to ``<run_id>.error.txt``);
* **validates** every record against :data:`RESULT_SCHEMA` before writing it and when reading it;
* shows a **tqdm** progress bar, runs configs in **parallel** with joblib (``n_jobs``), or as
  tasks on a **Dask** cluster (``cluster="local:N"`` or ``"tcp://HOST:PORT"``, see
  :mod:`hts_lib.nn.cluster`).

Command line (also installed as ``hts-experiments``)::

    python -m hts_lib.nn.experiments run --grid paper-fc --out results/fc_mnist_subset --jobs 2
    python -m hts_lib.nn.experiments run --grid smoke --out results/smoke --set n_steps=100
    python -m hts_lib.nn.experiments run --grid paper-fc --out results/fc_mnist_subset --cluster local:2
    python -m hts_lib.nn.experiments run --grid paper-fc --out results/fc --cluster tcp://HOST:8786
    python -m hts_lib.nn.experiments status --out results/fc_mnist_subset --grid paper-fc
    python -m hts_lib.nn.experiments download mnist --dir data/
    python -m hts_lib.nn.experiments grids

Importing this module does not import torch; the default ``run_fn`` is imported when a sweep starts.

Used in chapter: Fully connected networks; Convolutional networks; Flatness, noise and tails.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import datetime
import functools
import hashlib
import importlib
import importlib.util
import itertools
import json
import math
import numbers
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from hts_lib.nn._json import to_jsonable
from hts_lib.validation import check_callable, check_choice, check_int, check_mapping, check_path

__all__ = [
    "RESULT_SCHEMA",
    "GRIDS",
    "VGG_CODE_DEFAULTS",
    "SweepReport",
    "validate_result",
    "sweep_grid",
    "grid_configs",
    "run_id",
    "run_sweep",
    "load_results",
    "results_table",
    "sweep_status",
    "main",
]

#: Environment variable naming a default ``module:function`` run function for the command line.
RUN_FN_ENV = "HTS_LIB_RUN_FN"
#: Version of the result-file layout (stored in each file's provenance).
SCHEMA_VERSION = 2  # 2: per-phase ``timings`` in a result

# ---------------------------------------------------------------------------------------------
# Result schema (the contract with hts_lib.nn.training.run_from_config, plus the runner's fields)
# ---------------------------------------------------------------------------------------------
_NUM = {"type": ["number", "null"]}
_METRIC_KEYS = ["train_loss", "train_acc", "test_loss", "test_acc", "gen_gap"]
_METRICS = {
    "type": "object",
    "required": _METRIC_KEYS,
    "properties": {k: _NUM for k in _METRIC_KEYS},
}
_TAIL_ESTIMATE = {
    # hts_lib.tails.estimators.TailEstimate as a dict (dataclasses.asdict); alpha may be null when the
    # estimator returned a non-finite value (light tails), the flags then say why
    "type": "object",
    "required": ["alpha", "ci_low", "ci_high"],
    "properties": {
        "alpha": _NUM,
        "ci_low": _NUM,
        "ci_high": _NUM,
        "method": {"type": "string"},
        "flags": {"type": "array", "items": {"type": "string"}},
    },
}

#: JSON Schema (draft 2020-12) of a result file. The training side fills everything but
#: ``run_id`` and ``provenance``, which the runner adds.
RESULT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "hts_lib experiment result",
    "type": "object",
    "required": [
        "run_id",
        "config",
        "diverged",
        "diverged_at",
        "metrics",
        "metrics_average",
        "alpha",
        "sharpness",
        "history",
        "device",
        "n_params",
        "wall_time_s",
        "provenance",
    ],
    "properties": {
        "run_id": {"type": "string", "pattern": r"^[A-Za-z0-9._-]+$"},
        "config": {
            "type": "object",
            "required": ["dataset", "model", "eta", "batch_size", "n_steps", "seed"],
            "properties": {
                "dataset": {"type": "string"},
                "model": {"type": "string"},
                "eta": {"type": "number", "exclusiveMinimum": 0},
                "batch_size": {"type": "integer", "minimum": 1},
                "n_steps": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer", "minimum": 0},
            },
        },
        "diverged": {"type": "boolean"},
        "diverged_at": {"type": ["integer", "null"], "minimum": 0},
        "metrics": {**_METRICS, "type": ["object", "null"]},  # "required" only binds objects
        "metrics_average": {**_METRICS, "type": ["object", "null"]},
        "alpha": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["alpha_stable", "hill"],
                "properties": {"alpha_stable": _TAIL_ESTIMATE, "hill": _TAIL_ESTIMATE},
            },
        },
        "sharpness": {
            "type": ["object", "null"],
            "required": ["top_eigenvalue", "converged", "n_iter"],
            "properties": {
                "top_eigenvalue": _NUM,
                "converged": {"type": "boolean"},
                "n_iter": {"type": "integer", "minimum": 0},
                "trace": {"type": ["object", "number", "null"]},
            },
        },
        "history": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["step", "train_loss", "test_acc"],
                "properties": {
                    "step": {"type": "integer", "minimum": 0},
                    "train_loss": _NUM,
                    "test_acc": _NUM,
                },
            },
        },
        "device": {"type": "string"},
        "n_params": {"type": "integer", "minimum": 0},
        "wall_time_s": {"type": "number", "minimum": 0},
        # seconds per phase (data_loading_s, training_s, evaluation_s, tail_estimates_s, sharpness_s,
        # other_s); optional, so that results written before it keep validating
        "timings": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
        "provenance": {
            "type": "object",
            "required": [
                "hts_lib_version",
                "git_revision",
                "python",
                "numpy",
                "torch",
                "platform",
                "started",
                "finished",
            ],
            "properties": {
                "hts_lib_version": {"type": "string"},
                "git_revision": {"type": ["string", "null"]},
                "python": {"type": "string"},
                "numpy": {"type": "string"},
                "torch": {"type": ["string", "null"]},
                "platform": {"type": "string"},
                "started": {"type": "string"},
                "finished": {"type": "string"},
                "runner_wall_time_s": {"type": "number", "minimum": 0},
                "schema_version": {"type": "integer"},
            },
        },
    },
    # a run that finished must report its metrics; a diverged one has no alpha estimates
    "allOf": [
        {
            "if": {"properties": {"diverged": {"const": False}}},
            "then": {
                "properties": {
                    "metrics": {**_METRICS, "description": "a run that did not diverge has metrics"},
                    "metrics_average": {**_METRICS, "description": "a run that did not diverge has metrics"},
                }
            },
        },
        {
            "if": {"properties": {"diverged": {"const": True}}},
            "then": {
                "properties": {
                    "alpha": {"maxProperties": 0, "description": "a diverged run has no alpha estimates"}
                }
            },
        },
    ],
}


def _non_finite_paths(obj, path="") -> list[str]:
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [path or "<root>"]
    if isinstance(obj, Mapping):
        return [p for k, v in obj.items() for p in _non_finite_paths(v, f"{path}.{k}" if path else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in _non_finite_paths(v, f"{path}[{i}]")]
    return []


@functools.lru_cache(maxsize=1)
def _validator():
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema comes with nbformat / jupyter-book
        raise ImportError("validating results needs jsonschema (pip install jsonschema)") from None
    cls = jsonschema.validators.validator_for(RESULT_SCHEMA)
    cls.check_schema(RESULT_SCHEMA)
    return cls(RESULT_SCHEMA)


def _short(message: str, limit: int = 200) -> str:
    """Jsonschema quotes the whole offending value; keep its start and end."""
    return message if len(message) <= limit else f"{message[: limit - 70]} ... {message[-60:]}"


def validate_result(d: Mapping, *, source: str | None = None) -> Mapping:
    """Check a result record against :data:`RESULT_SCHEMA`; return it unchanged.

    Parameters
    ----------
    d : mapping
        A result as written by :func:`run_sweep` (or read from its JSON file).
    source : str, optional
        Where it came from (a file name), quoted in the error message.

    Returns
    -------
    mapping
        ``d`` itself, so that ``validate_result(json.load(f))`` reads naturally.

    Raises
    ------
    ValueError
        Naming up to five problems with their location (``at metrics.test_acc: ...``). Non-finite
        floats (NaN, inf) are rejected too: result files store them as null.

    Examples
    --------
    >>> try:
    ...     validate_result({"run_id": "x"}, source="x.json")
    ... except ValueError as e:
    ...     print(str(e).splitlines()[0])
    invalid result x.json: 12 problems
    """
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"source must be a str naming where the record came from, got {type(source).__name__}"
        )
    where = f" {source}" if source else ""
    if not isinstance(d, Mapping):
        raise ValueError(f"invalid result{where}: expected a JSON object, got {type(d).__name__}")
    errors = sorted(_validator().iter_errors(d), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    problems = [
        f"at {'.'.join(map(str, e.absolute_path)) or '<root>'}: {_short(e.message)}"
        + (
            f" ({e.schema['description']})"
            if isinstance(e.schema, Mapping) and "description" in e.schema
            else ""
        )
        for e in errors
    ]
    problems += [f"at {p}: non-finite number (store as null)" for p in _non_finite_paths(d)]
    if problems:
        shown = "\n  ".join(problems[:5]) + (
            f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise ValueError(
            f"invalid result{where}: {len(problems)} problem{'s' * (len(problems) != 1)}\n  {shown}"
        )
    return d


# ---------------------------------------------------------------------------------------------
# Grids
# ---------------------------------------------------------------------------------------------
#: The paper's 16 step sizes (its section 3.2, from the authors' run.py).
PAPER_ETAS = (
    0.0001,
    0.001,
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.04,
    0.045,
    0.05,
    0.06,
    0.07,
    0.075,
    0.08,
    0.09,
    0.1,
)

#: The paper's fully connected protocol on the MNIST subset: network, steps, averaging (grids add the rest).
_PAPER_FC = {
    "dataset": "mnist_subset",
    "model": "fc",
    "depth": 3,
    "width": 128,
    "n_steps": 10_000,
    "n_average": 1000,
}

#: Named sweeps: a base config and axes (Cartesian product), used by ``run --grid NAME``.
#: The training settings of the public CIFAR-10 VGG code the paper's README names
#: (``chengyangfu/pytorch-vgg-cifar10``): its defaults, read from that code. Grid ``paper-vgg`` keeps its
#: step size and batch size among its cells but trains with plain SGD (no momentum, weight decay or
#: augmentation); chapter 11's exercise on the choice quotes these values.
VGG_CODE_DEFAULTS = {
    "eta": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "batch_size": 128,
    "augmentation": True,
}

GRIDS: dict[str, dict] = {
    "paper-fc": {
        "description": (
            "The paper's fully connected protocol on the 5,000-image MNIST subset: "
            "784-128-128-10 net without biases, plain SGD, 16 step sizes x b in {1, 5, 10}, "
            "10,000 steps in the fixed data order, average of the last 1,000 iterates, seed 0 "
            "(48 runs)."
        ),
        "base": {**_PAPER_FC, "data_order": "cycle", "seed": 0},
        "axes": {"eta": list(PAPER_ETAS), "batch_size": [1, 5, 10]},
    },
    "paper-vgg": {
        "description": (
            "CIFAR-10 with the VGG-style net (needs the CIFAR-10 download and, in practice, a GPU). "
            "The paper's VGG grid is not known (not given in the paper's text); "
            "this grid is our choice: "
            "plain SGD (no momentum, weight decay or augmentation, unlike the VGG code's "
            "defaults), eta in {0.005, 0.01, 0.02, 0.05, 0.1} x b in {32, 64, 128} (eta/b from "
            "4e-5 to 3e-3; b = 128 and eta = 0.05 are the VGG code's defaults), 10,000 steps "
            "(25 epochs at b = 128), last 1,000 iterates averaged (15 runs)."
        ),
        "base": {
            "dataset": "cifar10",
            "model": "vgg",
            "n_train": 50_000,
            "n_test": 10_000,
            "n_steps": 10_000,
            "n_average": 1000,
            "data_order": "cycle",
            "seed": 0,
            "device": "auto",
        },
        "axes": {"eta": [0.005, 0.01, 0.02, 0.05, 0.1], "batch_size": [32, 64, 128]},
    },
    "paper-fc-seeds": {
        "description": (
            "The paper's fully connected protocol (as paper-fc) with 5 seeds per cell: each seed "
            "sets the initialisation and one fixed permutation of the training set, cycled "
            "(240 runs; trained as ensembles, see hts_lib.nn.ensemble)."
        ),
        "base": {**_PAPER_FC, "data_order": "permuted"},
        "axes": {"eta": list(PAPER_ETAS), "batch_size": [1, 5, 10], "seed": [0, 1, 2, 3, 4]},
    },
    "paper-fc-gd": {
        "description": (
            "The control without gradient noise: full-batch gradient descent (b = 4,000, the whole "
            "training set of the MNIST subset) on the network of paper-fc-seeds, same step count, "
            "averaging and sharpness, at eta in {0.02, 0.1}, 3 seeds (initialisation only: every "
            "step uses every example; 6 runs, trained as one ensemble)."
        ),
        "base": {**_PAPER_FC, "data_order": "permuted", "batch_size": 4000},
        "axes": {"eta": [0.02, 0.1], "seed": [0, 1, 2]},
    },
    "lenet-seeds": {
        "description": (
            "A LeNet-5-sized CNN (convolutions with 6 and 16 channels, hidden linear layers of 120 "
            "and 84, no biases) on the MNIST subset: eta in {0.01, 0.03, 0.05, 0.1} x b in "
            "{1, 5, 10}, 5 seeds (initialisation and a fixed permutation of the data), 3,000 steps, "
            "last 500 iterates averaged, no sharpness (60 runs; trained as ensembles)."
        ),
        "base": {
            "dataset": "mnist_subset",
            "model": "lenet",
            "n_steps": 3000,
            "n_average": 500,
            "eval_every": 500,
            "data_order": "permuted",
            "sharpness": False,
        },
        "axes": {"eta": [0.01, 0.03, 0.05, 0.1], "batch_size": [1, 5, 10], "seed": [0, 1, 2, 3, 4]},
    },
    "smoke": {
        "description": (
            "A seconds-long check of the whole pipeline on scikit-learn's 8x8 digits "
            "(4 runs of 200 steps, no sharpness)."
        ),
        "base": {
            "dataset": "digits",
            "model": "fc",
            "n_steps": 200,
            "n_average": 50,
            "eval_every": 100,
            "sharpness": False,
            "seed": 0,
        },
        "axes": {"eta": [0.01, 0.1], "batch_size": [1, 10]},
    },
}


def sweep_grid(base_config: Mapping, **axes: Iterable) -> list[dict]:
    """Return the Cartesian product of ``axes`` over ``base_config`` as a list of configs.

    Parameters
    ----------
    base_config : mapping
        Keys shared by every run.
    **axes : iterable
        ``key=[v1, v2, ...]``; each axis value overrides ``base_config[key]``. The product runs
        over the axes in the order given (the last axis varies fastest).

    Returns
    -------
    list of dict
        Independent (deep-copied) configs.

    Raises
    ------
    ValueError
        An axis is empty, or is a string/mapping rather than a sequence of values.
    TypeError
        ``base_config`` is not a mapping.

    Examples
    --------
    >>> cfgs = sweep_grid({"model": "fc"}, eta=[0.01, 0.1], batch_size=[1, 5])
    >>> len(cfgs), cfgs[1]
    (4, {'model': 'fc', 'eta': 0.01, 'batch_size': 5})
    """
    if not isinstance(base_config, Mapping):
        raise TypeError(f"base_config must be a mapping, got {type(base_config).__name__}")
    values = []
    for key, axis in axes.items():
        if isinstance(axis, (str, bytes, Mapping)) or not isinstance(axis, Iterable):
            raise ValueError(f"axis {key!r} must be a list of values, got {axis!r}")
        axis = list(axis)
        if not axis:
            raise ValueError(f"axis {key!r} is empty; give at least one value")
        values.append(axis)
    out = []
    for combo in itertools.product(*values):
        cfg = copy.deepcopy(dict(base_config))
        cfg.update(zip(axes.keys(), copy.deepcopy(combo)))
        out.append(cfg)
    return out


def grid_configs(name: str, overrides: Mapping | None = None) -> list[dict]:
    """Configs of the named grid in :data:`GRIDS`, with ``overrides`` applied.

    Parameters
    ----------
    name : str
        A key of :data:`GRIDS` (``"paper-fc"``, ``"paper-vgg"``, ``"smoke"``).
    overrides : mapping, optional
        An override whose value is a list becomes (or replaces) an axis; a scalar override fixes
        the key in every config (removing the axis of that name if there is one).

    Returns
    -------
    list of dict
        The configs, as :func:`sweep_grid` builds them.

    Raises
    ------
    ValueError
        Unknown grid name (the message lists the named grids).

    Examples
    --------
    >>> len(grid_configs("paper-fc")), len(grid_configs("paper-fc", {"batch_size": 5}))
    (48, 16)
    """
    if not isinstance(name, str) or name not in GRIDS:
        raise (ValueError if isinstance(name, str) else TypeError)(
            f"name: unknown grid {name!r}; named grids: {', '.join(GRIDS)}"
        )
    check_mapping("overrides", overrides, optional=True)
    base = dict(GRIDS[name]["base"])
    axes = {k: list(v) for k, v in GRIDS[name]["axes"].items()}
    for key, value in (overrides or {}).items():
        if isinstance(value, list):
            axes[key] = value
            base.pop(key, None)
        else:
            axes.pop(key, None)
            base[key] = value
    return sweep_grid(base, **axes)


# ---------------------------------------------------------------------------------------------
# Run ids, JSON helpers, atomic writes
# ---------------------------------------------------------------------------------------------
# where the data files live does not change a run's result (they are checksummed), so the
# location is left out of the run id
_ID_EXCLUDED_KEYS = ("data_dir",)
# config keys added after results were shipped, and their defaults: left out of the run id while they
# hold the default, so the run ids of existing results stay valid
_ID_DEFAULTS = {"sharpness_examples": None}


_to_jsonable = to_jsonable  # the runner's name for it


def run_id(config: Mapping) -> str:
    """Return a short stable name for a (normalised) config: readable prefix plus a hash.

    The hash is the first 10 hex digits of the SHA-256 of the config as canonical JSON (sorted
    keys, ``data_dir`` left out, and keys added after results were shipped left out while they hold
    their default, so that existing run ids do not change), so two configs share a run id exactly when
    they describe the same run. The prefix shows model, data set, eta, batch size and seed when present.

    Examples
    --------
    >>> run_id({"model": "fc", "dataset": "digits", "eta": 0.01, "batch_size": 5, "seed": 0})
    'fc_digits_eta0.01_b5_s0_53518a75ea'
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    canon = {
        k: v
        for k, v in _to_jsonable(config).items()
        if k not in _ID_EXCLUDED_KEYS and not (k in _ID_DEFAULTS and v == _ID_DEFAULTS[k])
    }
    digest = hashlib.sha256(json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[
        :10
    ]
    parts = []
    for key, fmt in (
        ("model", "{}"),
        ("dataset", "{}"),
        ("eta", "eta{:g}"),
        ("batch_size", "b{}"),
        ("seed", "s{}"),
    ):
        if key in canon and canon[key] is not None:
            parts.append(fmt.format(canon[key]))
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts)) if parts else "run"
    return f"{prefix}_{digest}"


@functools.lru_cache(maxsize=1)
def _file_mode() -> int:
    """Mode of a normally created file (0o666 less the umask); mkstemp alone would give 0o600."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_result(path: Path, record: Mapping) -> None:
    _atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False, allow_nan=False) + "\n")


def _read_valid(path: Path, expected_id: str | None = None) -> dict | None:
    """Return the record in ``path`` if it exists, parses and validates (and has ``expected_id``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
        validate_result(d, source=path.name)
    except (OSError, ValueError):
        return None
    if expected_id is not None and d.get("run_id") != expected_id:
        return None
    return d


# ---------------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=1)
def _git_revision() -> str | None:
    """Git revision of the code running now (see :func:`_git_revision_of`)."""
    return _git_revision_of(Path(__file__).resolve().parent)


def _git_revision_of(here: Path) -> str | None:
    """HEAD of the repository holding the folder ``here``; None outside git.

    "+dirty" is appended when the library folder itself differs from that commit (modified,
    added or untracked files under hts_lib/), since that code produced the results; changes
    elsewhere in the repository (chapters, tests) do not mark results dirty.
    """
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "") if rev else None


def _versions() -> dict:
    from hts_lib import __version__

    torch_version = None
    if "torch" in sys.modules:
        torch_version = str(sys.modules["torch"].__version__)
    else:
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            torch_version = version("torch")
    return {
        "hts_lib_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch_version,
        "platform": platform.platform(),
    }


def _execute(run_fn: Callable, config: dict, rid: str, git_revision: str | None):
    """Run one config (in a worker); return ("ok", record) or ("error", message)."""
    started, t0 = _now(), time.perf_counter()
    try:
        result = run_fn(copy.deepcopy(config))
        if not isinstance(result, Mapping):
            raise TypeError(f"run_fn must return a dict, got {type(result).__name__}")
        record = {"run_id": rid}
        record.update((k, v) for k, v in _to_jsonable(result).items() if k not in ("run_id", "provenance"))
        record["provenance"] = {
            **_versions(),
            "git_revision": git_revision,
            "started": started,
            "finished": _now(),
            "runner_wall_time_s": round(time.perf_counter() - t0, 3),
            "schema_version": SCHEMA_VERSION,
        }
        validate_result(record, source=f"{rid} (returned by run_fn)")
        return "ok", record
    except Exception:  # reported to the parent, which writes <run_id>.error.txt and goes on
        return "error", traceback.format_exc()


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SweepReport:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out_dir : pathlib.Path
    run_ids : tuple of str
        One per distinct config, in the order given.
    n_skipped : int
        Configs whose valid result file was already there.
    n_done : int
        Configs run and written now.
    failed : tuple of (run_id, message)
        Runs that raised (or returned an invalid record); no result file was written for them.
    """

    out_dir: Path
    run_ids: tuple[str, ...]
    n_skipped: int
    n_done: int
    failed: tuple[tuple[str, str], ...]

    @property
    def n_total(self) -> int:
        """Number of distinct configs (``len(run_ids)``)."""
        return len(self.run_ids)

    @property
    def complete(self) -> bool:
        """True when every config now has a result file."""
        return self.n_skipped + self.n_done == self.n_total

    def paths(self) -> list[Path]:
        """Return the result file paths of all configs (some may be missing if runs failed)."""
        return [self.out_dir / f"{r}.json" for r in self.run_ids]


def _default_run_fn():
    try:
        from hts_lib.nn.training import normalise_config, run_from_config
    except ImportError as exc:
        raise ImportError(f"the default run_fn needs hts_lib.nn.training and torch ({exc})") from None
    return run_from_config, normalise_config


@contextlib.contextmanager
def _backend_context(backend: str | None, n_jobs: int):
    import joblib

    if backend is None:
        yield
        return
    if backend == "dask":
        raise ValueError(
            "backend='dask' was replaced by cluster= (Python) / --cluster (command line): "
            "'local:N' or 'tcp://HOST:PORT', see hts_lib.nn.cluster"
        )
    with joblib.parallel_config(backend=backend, n_jobs=n_jobs):
        yield


#: Models the ensemble trainer takes by default in :func:`run_sweep` (no buffers, no dropout).
_ENSEMBLE_MODELS = {"fc", "cnn", "lenet"}


def _ensemble_sweep(configs, out_dir, n_jobs, backend, progress, run_fn, cluster) -> SweepReport:
    """``run_sweep(..., trainer="ensemble")``: check what the ensemble cannot take, then run it."""
    from hts_lib.nn.ensemble import run_ensemble_sweep

    if run_fn is not None or cluster is not None or backend is not None:
        raise ValueError(
            "trainer='ensemble' trains the library's models in this process: it takes no run_fn, "
            "cluster or backend (use trainer='per-run')"
        )
    from hts_lib.nn.results import source_hash

    n_threads = None if n_jobs == -1 else abs(int(n_jobs))
    prov = {"source_hash": source_hash()}
    return run_ensemble_sweep(configs, out_dir, progress=progress, n_threads=n_threads, extra_provenance=prov)


def run_sweep(
    configs: Sequence[Mapping],
    out_dir: str | os.PathLike,
    n_jobs: int = 1,
    backend: str | None = None,
    progress: bool = True,
    run_fn: Callable[[dict], Mapping] | None = None,
    *,
    normalise_fn: Callable[[dict], dict] | None = None,
    cluster=None,
    retries: int = 0,
    trainer: str = "auto",
) -> SweepReport:
    """Run every config not yet done, writing one validated JSON result file per run.

    Parameters
    ----------
    configs : sequence of mapping
        Run configs (see :func:`hts_lib.nn.training.normalise_config` for the keys). Duplicates
        (same run id after normalisation) are run once.
    out_dir : str or os.PathLike
        Folder of result files ``<run_id>.json`` (created if needed).
    n_jobs : int
        Parallel workers (joblib semantics: 1 runs in this process, -1 uses all cores).
    backend : str, optional
        A joblib backend name for ``n_jobs``: ``"loky"`` (joblib's default for ``n_jobs != 1``:
        processes), ``"threading"`` or ``"multiprocessing"``. (``"dask"``, a joblib hook of
        version 0.1, was replaced by ``cluster``.)
    progress : bool
        Show a tqdm progress bar (on stderr).
    run_fn : callable, optional
        ``run_fn(config) -> dict`` returning a record of the :data:`RESULT_SCHEMA` form (without
        ``run_id``/``provenance``). Default :func:`hts_lib.nn.training.run_from_config` (imported
        only now, so importing this module needs no torch). Must be picklable for process backends.
    normalise_fn : callable, optional
        Maps a config to its canonical form before the run id is computed. Default:
        :func:`hts_lib.nn.training.normalise_config` with the default ``run_fn``, else the identity.
    cluster : str, dask.distributed.Client or cluster object, optional
        Run each config as a task on a Dask cluster instead of joblib (``n_jobs`` and ``backend``
        must then keep their defaults): ``"local:N"`` starts N worker processes on this machine
        for the sweep, ``"tcp://HOST:PORT"`` connects to a running scheduler; see
        :mod:`hts_lib.nn.cluster`. Results come back to this process, which writes the files, so
        workers need no shared disk; a worker that dies has its runs redone elsewhere.
    retries : int
        How often a run that raises is tried again before it is recorded as failed (default 0:
        training is deterministic, so a failure usually repeats; raise it for transient faults such
        as a GPU shared with other jobs running out of memory).
    trainer : {"auto", "ensemble", "per-run"}
        ``"ensemble"``: runs that differ only in ``seed`` and ``eta`` are trained together as one batched
        computation (:func:`hts_lib.nn.ensemble.run_ensemble_sweep`, in this process, ``n_jobs`` torch
        threads); ``"per-run"``: each run by itself through ``run_fn`` (joblib or ``cluster``).
        ``"auto"`` (default) takes the ensemble for the library's own trainer (no ``run_fn``, no
        ``cluster``) on the models it supports (``fc``, ``cnn``, ``lenet``), else per run. Both write
        the same record for a config, up to rounding in the last digits.

    Returns
    -------
    SweepReport
        Run ids, how many were skipped, done and failed.

    Raises
    ------
    ValueError
        ``configs`` empty or not mappings, ``n_jobs`` 0 or not an int, ``retries`` negative, a
        ``cluster`` of another form, ``cluster`` with ``n_jobs``/``backend``, or an invalid
        config (from ``normalise_fn``).
    ImportError
        The default ``run_fn`` without torch, or ``cluster`` without dask.distributed.
    OSError
        The scheduler of ``cluster`` cannot be reached.

    Notes
    -----
    Resuming: a config is skipped when ``<run_id>.json`` exists, parses, validates and carries the
    same run id; an invalid file is redone and replaced. Writing: the parent process writes each
    result as it arrives, through a temporary file in ``out_dir`` and ``os.replace``, so a killed
    sweep leaves only complete files (plus, at worst, a hidden ``.<run_id>.json.*.tmp`` that is
    never read). A run that raises leaves ``<run_id>.error.txt`` with the traceback and no result
    file; the sweep goes on with the others and the report lists the failures.

    Examples
    --------
    >>> import tempfile
    >>> def fake(config):  # a stand-in run_fn; real sweeps use hts_lib.nn.training
    ...     m = {"train_loss": 0.1, "train_acc": 1.0, "test_loss": 0.2, "test_acc": 0.9, "gen_gap": 0.1}
    ...     return {"config": config, "diverged": False, "diverged_at": None, "metrics": m,
    ...             "metrics_average": m, "alpha": {}, "sharpness": None, "history": [], "device": "cpu",
    ...             "n_params": 0, "wall_time_s": 0.0}
    >>> cfgs = sweep_grid({"dataset": "digits", "model": "fc", "n_steps": 10, "seed": 0},
    ...                   eta=[0.1, 0.2], batch_size=[1])
    >>> out = tempfile.mkdtemp()
    >>> rep = run_sweep(cfgs, out, progress=False, run_fn=fake)
    >>> rep.n_done, rep.n_skipped, run_sweep(cfgs, out, progress=False, run_fn=fake).n_skipped
    (2, 0, 2)
    """
    from tqdm.auto import tqdm

    if isinstance(configs, Mapping) or not isinstance(configs, Iterable):
        raise ValueError("configs must be a list of config dicts (use sweep_grid to build one)")
    configs = list(configs)
    if not configs:
        raise ValueError("configs is empty: nothing to run")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer (1 = serial, -1 = all cores), got {n_jobs!r}")
    if backend is not None and not isinstance(backend, str):
        raise ValueError(f"backend must be a joblib backend name or None, got {backend!r}")
    retries = check_int("retries", retries, low=0)
    trainer = check_choice("trainer", trainer, ("auto", "ensemble", "per-run"))
    if trainer == "auto":
        models = {dict(c).get("model", "fc") if isinstance(c, Mapping) else None for c in configs}
        plain = run_fn is None and cluster is None and models <= _ENSEMBLE_MODELS
        trainer = "ensemble" if plain else "per-run"
    if trainer == "ensemble":
        return _ensemble_sweep(configs, out_dir, n_jobs, backend, progress, run_fn, cluster)
    if cluster is not None:
        if n_jobs != 1 or backend is not None:
            raise ValueError("give either cluster or n_jobs/backend (joblib), not both")
        if isinstance(cluster, str):
            from hts_lib.nn.cluster import parse_cluster

            parse_cluster(cluster)  # bad input fails before any work
        elif not (hasattr(cluster, "submit") or hasattr(cluster, "scheduler_address")):
            raise TypeError(
                "cluster must be 'local:N' or 'tcp://HOST:PORT', a dask.distributed Client "
                "or a cluster object, "
                f"got {type(cluster).__name__}"
            )
    if run_fn is None:
        run_fn, default_norm = _default_run_fn()
        normalise_fn = normalise_fn or default_norm
    if not callable(run_fn):
        raise TypeError(f"run_fn must be callable, got {type(run_fn).__name__}")
    check_callable("normalise_fn", normalise_fn, optional=True)
    out = check_path("out_dir", out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    todo: dict[str, dict] = {}
    ids: list[str] = []
    seen: set[str] = set()
    n_skipped = 0
    for i, cfg in enumerate(configs):
        if not isinstance(cfg, Mapping):
            raise ValueError(f"configs[{i}] must be a mapping, got {type(cfg).__name__}")
        norm = _to_jsonable(normalise_fn(dict(cfg)) if normalise_fn is not None else dict(cfg))
        rid = run_id(norm)
        if rid in seen:
            continue
        seen.add(rid)
        ids.append(rid)
        if _read_valid(out / f"{rid}.json", rid) is not None:
            n_skipped += 1
        else:
            todo[rid] = norm

    git_rev = _git_revision()
    failed: list[tuple[str, str]] = []
    n_done = 0
    bar = tqdm(
        total=len(ids),
        initial=n_skipped,
        desc=f"sweep -> {out.name}",
        unit="run",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    runs = _completed_runs(
        todo, run_fn, git_rev, n_jobs=int(n_jobs), backend=backend, cluster=cluster, retries=retries
    )
    try:
        for rid, status, payload in runs:
            err_path = out / f"{rid}.error.txt"
            if status == "ok":
                _write_result(out / f"{rid}.json", payload)
                with contextlib.suppress(FileNotFoundError):
                    err_path.unlink()
                n_done += 1
            else:
                _atomic_write_text(err_path, payload)
                last = payload.strip().splitlines()[-1] if payload.strip() else "unknown error"
                failed.append((rid, last))
                bar.write(f"run {rid} failed: {last} (traceback in {err_path.name})", file=sys.stderr)
            bar.update(1)
    finally:
        runs.close()  # now, not when garbage collected: cancels pending tasks, stops a local cluster
        bar.close()
    return SweepReport(
        out_dir=out, run_ids=tuple(ids), n_skipped=n_skipped, n_done=n_done, failed=tuple(failed)
    )


def _execute_tagged(run_fn, config, rid, git_revision, retries=0):
    for _ in range(retries + 1):
        status, payload = _execute(run_fn, config, rid, git_revision)
        if status == "ok":
            break
    if status != "ok" and retries:
        payload = f"{payload.rstrip()} (tried {retries + 1} times)\n"
    return rid, (status, payload)


def _completed_runs(
    todo: Mapping[str, dict], run_fn, git_rev, *, n_jobs: int, backend, cluster, retries: int
):
    """Yield ``(run_id, status, payload)`` as the runs of ``todo`` complete, wherever they run."""
    if not todo:
        return
    if cluster is not None:
        from hts_lib.nn.cluster import cluster_client, run_on_cluster

        with cluster_client(cluster) as client:
            yield from run_on_cluster(client, run_fn, todo, git_rev, retries=retries)
        return
    import joblib

    with _backend_context(backend, n_jobs):
        parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        tasks = (
            joblib.delayed(_execute_tagged)(run_fn, cfg, rid, git_rev, retries) for rid, cfg in todo.items()
        )
        for rid, (status, payload) in parallel(tasks):
            yield rid, status, payload


# ---------------------------------------------------------------------------------------------
# Reading results
# ---------------------------------------------------------------------------------------------
def _result_files(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.json") if not p.name.startswith((".", "_")))


def load_results(out_dir: str | os.PathLike, *, on_invalid: str = "raise") -> list[dict]:
    """Read every result file of a sweep folder, validated, sorted by run id.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The folder given to :func:`run_sweep`.
    on_invalid : {"raise", "skip"}
        What to do with a file that does not parse or validate.

    Returns
    -------
    list of dict
        The records (see :data:`RESULT_SCHEMA`); :func:`results_table` turns them into columns.

    Raises
    ------
    FileNotFoundError
        ``out_dir`` does not exist.
    ValueError
        A file is invalid (with ``on_invalid="raise"``), naming the file and the problem.
    """
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(
            f"no results folder {out}; make one with run_sweep or "
            f"`python -m hts_lib.nn.experiments run --out {out} ...`"
        )
    records = []
    for p in _result_files(out):
        try:
            with open(p, encoding="utf-8") as fh:
                d = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            problem: str | None = f"invalid result {p}: not valid JSON ({exc})"
        else:
            try:
                validate_result(d, source=str(p))
                problem = None
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            if on_invalid == "raise":
                raise ValueError(problem)
            continue
        records.append(d)
    return records


def _flatten(d, prefix="", out=None) -> dict:
    out = {} if out is None else out
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            _flatten(v, key + ".", out)
        elif not isinstance(v, list):
            out[key] = v
    return out


def results_table(results: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """Turn result records into columns: one numpy array per scalar field.

    Nested keys are joined with dots (``config.eta``, ``metrics.test_acc``,
    ``alpha.layer1.hill.alpha``, ``sharpness.top_eigenvalue``, ``provenance.git_revision``);
    lists (``history``, flags) are left out. A column ``eta_over_b`` = eta / batch_size is added.
    Numeric columns are float64 with NaN for missing or null values; boolean columns stay boolean
    when never missing; anything else is an object array.

    Examples
    --------
    >>> t = results_table([{"run_id": "a", "config": {"eta": 0.1, "batch_size": 5}, "diverged": False},
    ...                    {"run_id": "b", "config": {"eta": 0.2, "batch_size": 1}, "diverged": True}])
    >>> t["eta_over_b"], t["diverged"]
    (array([0.02, 0.2 ]), array([False,  True]))
    """
    if isinstance(results, (str, bytes, Mapping)) or not hasattr(results, "__iter__"):
        raise TypeError(f"results must be a sequence of result records, got {type(results).__name__}")
    results = list(results)
    for i, r in enumerate(results):
        check_mapping(f"results[{i}]", r)
    rows = [_flatten(r) for r in results]
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    table: dict[str, np.ndarray] = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if all(isinstance(v, bool) for v in vals):
            table[k] = np.array(vals, dtype=bool)
        elif all(v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool)) for v in vals):
            table[k] = np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)
        else:
            table[k] = np.array(vals, dtype=object)
    if "config.eta" in table and "config.batch_size" in table:
        table["eta_over_b"] = table["config.eta"] / table["config.batch_size"]
    return table


def sweep_status(
    out_dir: str | os.PathLike,
    configs: Sequence[Mapping] | None = None,
    normalise_fn: Callable[[dict], dict] | None = None,
) -> dict:
    """Count what a results folder holds (and, given the sweep's configs, what is left).

    Parameters
    ----------
    out_dir : str or os.PathLike
        The folder given to :func:`run_sweep`.
    configs : sequence of mapping, optional
        The sweep's configs, to count how many are done.
    normalise_fn : callable, optional
        The normalisation the sweep used before computing run ids (the identity when None; pass
        :func:`hts_lib.nn.training.normalise_config` for sweeps run with the default ``run_fn``).

    Returns
    -------
    dict
        ``valid``, ``diverged`` (among valid), ``invalid``, ``failed`` (error files), ``temp``
        (leftover temporary files of killed writes) and, with ``configs``: ``total``, ``done``,
        ``missing`` (run ids without a valid result). ``timings``: seconds per phase summed over the
        valid results that carry ``timings`` (``{"data_loading_s": ..., "training_s": ..., ...}``),
        and ``n_timed``, how many did.

    Raises
    ------
    FileNotFoundError
        ``out_dir`` does not exist.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"no results folder {out}")
    valid, diverged, invalid = set(), 0, 0
    timings: dict[str, float] = {}
    n_timed = 0
    for p in _result_files(out):
        d = _read_valid(p)
        if d is None:
            invalid += 1
        else:
            valid.add(d["run_id"])
            diverged += bool(d["diverged"])
            if d.get("timings"):
                n_timed += 1
                for phase, sec in d["timings"].items():
                    timings[phase] = timings.get(phase, 0.0) + float(sec)
    status = {
        "valid": len(valid),
        "diverged": diverged,
        "invalid": invalid,
        "failed": len(list(out.glob("*.error.txt"))),
        "temp": len(list(out.glob(".*.tmp"))),
        "timings": timings,
        "n_timed": n_timed,
    }
    if configs is not None:
        ids = list(
            dict.fromkeys(
                run_id(_to_jsonable(normalise_fn(dict(c)) if normalise_fn else dict(c))) for c in configs
            )
        )
        done = [r for r in ids if r in valid and (out / f"{r}.json").is_file()]
        status.update(total=len(ids), done=len(done), missing=[r for r in ids if r not in set(done)])
    return status


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def _parse_set(items: Sequence[str]) -> dict:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key.isidentifier():
            raise ValueError(f"--set key must be a config name, got {key!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare string such as dataset=digits
        out[key] = value
    return out


def _cloudpickle():
    """Return the cloudpickle joblib's process backend uses.

    (A dependency since joblib 1.5, vendored before.)
    """
    try:
        import cloudpickle
    except ImportError:
        try:
            from joblib.externals import cloudpickle
        except ImportError:
            return None
    return cloudpickle


def _load_run_fn(spec: str) -> Callable:
    """``package.module:function`` or ``path/to/file.py:function``."""
    if ":" not in spec:
        raise ValueError(f"--run-fn must look like module:function or file.py:function, got {spec!r}")
    mod_name, func_name = spec.rsplit(":", 1)
    if mod_name.endswith(".py"):
        path = Path(mod_name).resolve()
        if not path.is_file():
            raise ValueError(f"--run-fn file not found: {path}")
        name = "_hts_run_fn_" + re.sub(r"\W", "_", path.stem)
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        # worker processes cannot import a module loaded from a path: ship it by value
        cp = _cloudpickle()
        if cp is not None:
            cp.register_pickle_by_value(module)
    else:
        module = importlib.import_module(mod_name)
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ValueError(f"--run-fn: {mod_name} has no function {func_name!r}")
    return fn


def _configs_from_args(args) -> tuple[list[dict], str]:
    overrides = _parse_set(args.set)
    if args.grid and args.config:
        raise ValueError("give either --grid or --config, not both")
    if args.grid:
        return grid_configs(args.grid, overrides), args.grid
    if args.config:
        try:
            spec = json.loads(Path(args.config).read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config {args.config}: not a JSON file ({exc})") from None
        if isinstance(spec, list):
            return [{**c, **overrides} for c in spec], Path(args.config).name
        if isinstance(spec, dict) and "base" in spec:
            base, axes = dict(spec["base"]), {k: list(v) for k, v in spec.get("axes", {}).items()}
            for k, v in overrides.items():
                if isinstance(v, list):
                    axes[k] = v
                    base.pop(k, None)
                else:
                    axes.pop(k, None)
                    base[k] = v
            return sweep_grid(base, **axes), Path(args.config).name
        raise ValueError("--config must hold a list of configs or {\"base\": {...}, \"axes\": {...}}")
    raise ValueError("give --grid NAME (see `grids`) or --config FILE.json")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hts-experiments",
        description="Run and inspect sweeps of training runs (hts_lib.nn.experiments).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a sweep (resumes: finished runs are skipped)")
    r.add_argument("--grid", help=f"named grid: {', '.join(GRIDS)}")
    r.add_argument("--config", help="JSON file: a list of configs or {\"base\": ..., \"axes\": ...}")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (JSON value; a JSON list makes it an axis); repeatable",
    )
    r.add_argument("--out", required=True, help="results folder")
    r.add_argument("--jobs", type=int, default=1, help="parallel workers (-1: all cores)")
    r.add_argument(
        "--backend", default=None, help="joblib backend for --jobs: loky, threading, multiprocessing"
    )
    r.add_argument(
        "--cluster",
        default=None,
        metavar="local:N|tcp://HOST:PORT",
        help="run on a Dask cluster: N worker processes here, or a running scheduler (instead of --jobs)",
    )
    r.add_argument(
        "--retries",
        type=int,
        default=0,
        help="try a run that raises this many more times before recording it as failed (default 0)",
    )
    r.add_argument(
        "--run-fn",
        default=os.environ.get(RUN_FN_ENV),
        help=f"module:function or file.py:function to run instead of training (default ${RUN_FN_ENV})",
    )
    r.add_argument(
        "--trainer",
        choices=("auto", "ensemble", "per-run"),
        default="auto",
        help="auto (default): batched ensembles for the library's fc/cnn/lenet runs, else one run at a time",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--dry-run", action="store_true", help="list the run ids and whether they are done")

    s = sub.add_parser("status", help="count the results in a folder")
    s.add_argument("--out", required=True)
    s.add_argument("--grid", help="compare with this named grid")
    s.add_argument("--config", help="compare with this config file")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument(
        "--run-fn",
        default=os.environ.get(RUN_FN_ENV),
        help="the sweep used this run function (run ids then use the configs as given)",
    )

    d = sub.add_parser("download", help="download mnist or cifar10 (SHA-256 checked)")
    d.add_argument("name", help="mnist or cifar10")
    d.add_argument(
        "--dir", default=None, help="data folder (default: $HTS_LIB_DATA or ~/.cache/hts_lib/data)"
    )
    d.add_argument("--base-url", default=None, help="mirror to use instead of the built-in ones")
    d.add_argument("--no-progress", action="store_true")

    sub.add_parser("grids", help="list the named grids")
    return p


def _normaliser_for(run_fn_spec: str | None):
    if run_fn_spec:
        return None
    try:
        return _default_run_fn()[1]
    except ImportError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hts_lib.nn.experiments`` and ``hts-experiments``; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "grids":
            for name, g in GRIDS.items():
                n = len(sweep_grid(g["base"], **g["axes"]))
                print(
                    f"{name} ({n} runs): {g['description']}\n  base: {json.dumps(g['base'])}\n"
                    f"  axes: {json.dumps(g['axes'])}"
                )
            return 0
        if args.command == "download":
            from hts_lib.nn.data import download

            paths = download(args.name, args.dir, base_url=args.base_url, progress=not args.no_progress)
            for p in paths:
                print(f"ok  {p}")
            return 0
        if args.command == "status":
            configs, label = (None, None)
            if args.grid or args.config:
                configs, label = _configs_from_args(args)
            st = sweep_status(
                args.out, configs, _normaliser_for(args.run_fn) if configs is not None else None
            )
            line = (
                f"{args.out}: {st['valid']} valid results ({st['diverged']} diverged), "
                f"{st['invalid']} invalid, "
                f"{st['failed']} failed runs, {st['temp']} leftover temporary files"
            )
            print(line)
            if st["n_timed"]:
                total = sum(st["timings"].values())
                parts = (
                    ", ".join(
                        f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s ({100 * v / total:.0f} %)"
                        for k, v in st["timings"].items()
                    )
                    if total > 0
                    else "no time recorded"
                )
                print(f"time by phase over {st['n_timed']} results ({total:.1f} s): {parts}")
            if configs is not None:
                print(f"{label}: {st['done']} of {st['total']} done")
            return 0
        # run
        configs, label = _configs_from_args(args)
        run_fn = _load_run_fn(args.run_fn) if args.run_fn else None
        if args.dry_run:
            norm = _normaliser_for(args.run_fn)
            st = sweep_status(args.out, configs, norm) if Path(args.out).is_dir() else None
            missing = set(st["missing"]) if st else None
            for c in configs:
                rid = run_id(_to_jsonable(norm(dict(c)) if norm else dict(c)))
                print(f"{'todo' if missing is None or rid in missing else 'done'}  {rid}")
            return 0
        if args.backend == "dask":
            raise ValueError("--backend dask was replaced by --cluster local:N or --cluster tcp://HOST:PORT")
        try:
            rep = run_sweep(
                configs,
                args.out,
                n_jobs=args.jobs,
                backend=args.backend,
                progress=not args.no_progress,
                run_fn=run_fn,
                cluster=args.cluster,
                retries=args.retries,
                trainer=args.trainer,
            )
        except KeyboardInterrupt:
            try:
                st = sweep_status(args.out, configs, _normaliser_for(args.run_fn))
                done = f"{st['done']} of {st['total']} runs done in {args.out}"
            except (OSError, ValueError):
                done = "nothing written"
            print(f"interrupted: {done}; run the same command again to resume", file=sys.stderr)
            return 130
        print(
            f"{label}: {rep.n_done} run, {rep.n_skipped} already done, {len(rep.failed)} failed "
            f"of {rep.n_total} -> {args.out}"
        )
        for rid, msg in rep.failed:
            print(f"FAILED {rid}: {msg}", file=sys.stderr)
        return 0 if not rep.failed else 1
    except (ValueError, TypeError, FileNotFoundError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    # Run the importable copy of this module, not __main__: joblib's worker processes must find the
    # task functions by reference (hts_lib.nn.experiments._execute_tagged), which __main__ cannot give.
    from hts_lib.nn.experiments import main as _main

    sys.exit(_main())
