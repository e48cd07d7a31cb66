"""Plain SGD on real networks, with the authors' protocol and honest per-run reports.

Two levels:

* :func:`train_sgd` trains a given model with constant step size ``eta`` and batch size ``b``
  (no momentum, no weight decay, no schedule), keeps a streaming average of the last ``K``
  iterates, evaluates train/test loss and accuracy, and flags divergence.
* :func:`run_from_config` is the pure function the experiment runner calls: it normalises a config
  dict (:func:`normalise_config`), loads the data, builds the model, trains it, estimates the tail
  index of every layer's averaged weights (:func:`weight_tail_indices`) and the sharpness at the
  final iterate, and returns a JSON-ready dict.

The tail index here is the authors' *cross-sectional* estimate: the coordinates of one averaged
weight matrix are treated as a sample. It describes the spread of the weights of one trained
network, not the law of one weight across independent runs (which is what the theorem is about).

This module imports torch; ``import hts_lib`` does not import it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hts_lib.nn._json import to_jsonable
from hts_lib.nn.nets import MODEL_NAMES, build_model, count_parameters
from hts_lib.validation import (
    check_array,
    check_callable,
    check_choice,
    check_inputs,
    check_int,
    check_mapping,
    check_model,
    check_positive,
    check_rng,
)

__all__ = [
    "AUTHORS_M",
    "DEFAULT_CONFIG",
    "DATASET_SIZES",
    "TrainResult",
    "normalise_config",
    "train_sgd",
    "evaluate",
    "weight_tail_indices",
    "run_from_config",
    "resolve_device",
]

#: Block sizes of the authors' network post-processing (``postprocess_networks.ipynb``).
AUTHORS_M = (2, 5, 10, 20, 50, 100, 500, 1000)

#: Default (n_train, n_test) per data set, filled in by :func:`normalise_config`.
DATASET_SIZES = {
    "mnist_subset": (4000, 1000),
    "digits": (1437, 360),
    "mnist": (60000, 10000),
    "cifar10": (50000, 10000),
}

#: Every config key and its default (``eta`` and ``batch_size`` have none and must be given).
DEFAULT_CONFIG = {
    "dataset": "mnist_subset",
    "data_dir": None,
    "n_train": None,  # None -> DATASET_SIZES[dataset][0]
    "n_test": None,  # None -> DATASET_SIZES[dataset][1]
    "model": "fc",
    "depth": 3,  # fc only
    "width": 128,  # fc only
    "width_scale": 1.0,  # cnn and vgg: channel multiplier
    "eta": None,
    "batch_size": None,
    "n_steps": 10_000,
    "n_average": 1000,
    "data_order": "cycle",
    "eval_every": 1000,
    "sharpness": True,
    "trace_probes": 0,  # Hutchinson probes for the Hessian trace; 0 -> trace null
    "sharpness_examples": None,  # training examples in the sharpness; None -> the model's default
    "seed": 0,
    "device": "cpu",
}

_DATA_ORDERS = ("cycle", "shuffle", "permuted")
_DEVICES = ("cpu", "cuda", "auto")
_SHARPNESS_TOL = 1e-4  # relative tolerance of Lanczos (see hts_lib.nn.sharpness)
_DIVERGENCE_CHECK = 100  # steps between divergence checks (one device sync each)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
def normalise_config(config: Mapping) -> dict:
    """Fill defaults into a run config and validate every key.

    Parameters
    ----------
    config : mapping
        Keys of :data:`DEFAULT_CONFIG`; ``eta`` and ``batch_size`` are required.

    Returns
    -------
    dict
        A new dict with every key of :data:`DEFAULT_CONFIG`, in that order, with Python types
        (float ``eta``, int sizes), so that equal runs give equal dicts (and equal hashes).

    Raises
    ------
    ValueError
        Unknown keys, unknown data set/model/order/device, ``eta <= 0``, ``batch_size < 1`` or
        larger than ``n_train``, ``n_average > n_steps``, and other out-of-range values.

    Notes
    -----
    ``n_train``/``n_test`` default per data set (:data:`DATASET_SIZES`). ``depth``/``width`` only
    affect ``model="fc"`` and ``width_scale`` only ``"cnn"``/``"vgg"``; they are kept in every
    config so its keys never depend on the model. ``device="auto"`` stays ``"auto"`` here (the
    config describes the run, not the machine); the result's ``device`` says what was used.

    Examples
    --------
    >>> c = normalise_config({"eta": 0.01, "batch_size": 5})
    >>> c["dataset"], c["n_train"], c["n_steps"], c["n_average"], c["data_order"]
    ('mnist_subset', 4000, 10000, 1000, 'cycle')
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; valid keys are {sorted(DEFAULT_CONFIG)}")
    c = dict(DEFAULT_CONFIG)
    c.update(config)
    if c["dataset"] not in DATASET_SIZES:
        raise ValueError(f"unknown dataset {c['dataset']!r}; valid names are {', '.join(DATASET_SIZES)}")
    if c["model"] not in MODEL_NAMES:
        raise ValueError(f"unknown model {c['model']!r}; valid names are {', '.join(MODEL_NAMES)}")
    if c["data_dir"] is not None and not isinstance(c["data_dir"], str):
        raise ValueError(f"data_dir must be a string or None, got {c['data_dir']!r}")
    default_train, default_test = DATASET_SIZES[c["dataset"]]
    c["n_train"] = default_train if c["n_train"] is None else check_int("n_train", c["n_train"], low=1)
    c["n_test"] = default_test if c["n_test"] is None else check_int("n_test", c["n_test"], low=1)
    c["depth"] = check_int("depth", c["depth"], low=1)
    c["width"] = check_int("width", c["width"], low=1)
    c["width_scale"] = check_positive("width_scale", c["width_scale"])
    if c["eta"] is None:
        raise ValueError("config needs eta (the step size, a float > 0)")
    c["eta"] = check_positive("eta", c["eta"])
    if c["batch_size"] is None:
        raise ValueError("config needs batch_size (an integer >= 1)")
    c["batch_size"] = check_int("batch_size", c["batch_size"], low=1, high=c["n_train"])
    c["n_steps"] = check_int("n_steps", c["n_steps"], low=1)
    c["n_average"] = check_int("n_average", c["n_average"], low=1, high=c["n_steps"])
    if c["data_order"] not in _DATA_ORDERS:
        raise ValueError(f"data_order must be one of {_DATA_ORDERS}, got {c['data_order']!r}")
    c["eval_every"] = check_int("eval_every", c["eval_every"], low=1)
    if not isinstance(c["sharpness"], (bool, np.bool_)):
        raise ValueError(f"sharpness must be True or False, got {c['sharpness']!r}")
    c["sharpness"] = bool(c["sharpness"])
    c["trace_probes"] = check_int("trace_probes", c["trace_probes"], low=0)
    if c["sharpness_examples"] is not None:
        c["sharpness_examples"] = check_int(
            "sharpness_examples", c["sharpness_examples"], low=1, high=c["n_train"]
        )
    if c["trace_probes"] == 1:
        raise ValueError("trace_probes must be 0 (no trace) or >= 2, got 1")
    c["seed"] = check_int("seed", c["seed"], low=0)
    if c["device"] not in _DEVICES:
        raise ValueError(f"device must be one of {_DEVICES}, got {c['device']!r}")
    return {k: c[k] for k in DEFAULT_CONFIG}


def resolve_device(device: str) -> torch.device:
    """Map ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available) to a torch device.

    Raises
    ------
    ValueError
        For another name, or ``"cuda"`` on a machine without CUDA.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    check_choice("device", device, _DEVICES)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but CUDA is not available; use 'cpu' or 'auto'")
    return torch.device(device)


#: Blocks of at least this many bytes are served by ``mmap`` (see :func:`_limit_heap_growth`).
_MMAP_THRESHOLD = 1 << 20
_heap_limited = False


def _limit_heap_growth() -> None:
    """Have glibc serve large blocks by ``mmap``, once per process (no-op elsewhere).

    With its default, adaptive threshold glibc keeps freed blocks of a few MiB in the heap, and
    a long CPU run whose steps allocate and free such temporaries can grow without bound: the
    full-batch ensemble of the gradient-descent control (6 models, b = 4,000: 12-75 MB of
    temporaries per step) grew by about 3 MB per step and held 23.6 GB after 8,121 steps. With
    blocks of 1 MiB and more mapped and unmapped directly, its resident memory stays flat
    (340 MB over 200 steps); b <= 10 ensembles ran at the same speed in the same process. The
    numbers computed are unchanged.
    """
    global _heap_limited
    if _heap_limited:
        return
    _heap_limited = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, _MMAP_THRESHOLD)  # -3 is M_MMAP_THRESHOLD in glibc's malloc.h
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): leave the allocator alone
        pass


@contextlib.contextmanager
def _torch_settings(n_threads: int | None):
    """Deterministic algorithms and a thread count for the duration of a run, then restore.

    Also limits heap growth on CPU runs (:func:`_limit_heap_growth`).
    """
    _limit_heap_growth()
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if n_threads is not None:
            torch.set_num_threads(n_threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_sgd` measured (the model itself is left at the final iterate).

    Attributes
    ----------
    diverged : bool
        True when a minibatch loss or an evaluated loss became NaN or infinite.
    diverged_at : int or None
        The first step (1-based) whose minibatch loss was not finite (or the evaluation step at
        which the full training loss was not finite); training stopped there.
    n_steps : int
        Steps actually taken.
    history : tuple of dict
        ``{"step", "train_loss", "train_acc", "test_loss", "test_acc"}`` at step 0, every
        ``eval_every`` steps and at the end (final iterate).
    metrics, metrics_average : dict or None
        ``{"train_loss", "train_acc", "test_loss", "test_acc", "gen_gap"}`` of the final iterate
        and of the averaged weights; None when diverged (``metrics_average`` also when
        ``n_average == 0``). ``gen_gap = train_acc - test_acc``.
    average : dict or None
        Averaged parameters ``{parameter name: float64 array}`` over the last ``n_average``
        iterates; None when diverged or ``n_average == 0``.
    n_average : int
        Number of iterates in the average.
    batch_losses : numpy.ndarray
        The minibatch loss of every step taken (float32), the curve SGD actually sees.
    wall_time_s : float
        Seconds spent in training and evaluation.
    timings : dict
        Seconds per phase: ``data_loading_s`` (copying the data to the device), ``training_s`` (the SGD
        steps) and ``evaluation_s`` (the evaluations of ``history``, the final metrics and the averaged
        weights). On CUDA the device is synchronised at each change of phase, so that queued kernels count
        in the phase that launched them.
    """

    diverged: bool
    diverged_at: int | None
    n_steps: int
    history: tuple
    metrics: dict | None
    metrics_average: dict | None
    average: dict | None = field(repr=False)
    n_average: int
    batch_losses: np.ndarray = field(repr=False)
    wall_time_s: float
    timings: dict = field(default_factory=dict)

    def averaged_layer_weights(self) -> dict:
        """``{"layer1": array, ...}``: the averaged weight of each ``layerN`` (biases excluded)."""
        if self.average is None:
            return {}
        out = {}
        for name, arr in self.average.items():
            layer, _, kind = name.rpartition(".")
            if kind == "weight" and layer.startswith("layer") and layer[5:].isdigit():
                out[layer] = arr
        return dict(sorted(out.items(), key=lambda kv: int(kv[0][5:])))


def _to_tensor(a, device, dtype=None) -> torch.Tensor:
    arr = np.asarray(a)
    if not arr.flags.writeable or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr).copy()
    t = torch.from_numpy(arr)
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


def _check_schedule(dataset, batch_size, n_steps, n_average, eval_every) -> tuple[int, int, int, int]:
    """Check a data set and a training schedule (shared by the per-run and the ensemble trainers)."""
    _check_dataset(dataset)
    n_train = int(np.shape(dataset.x_train)[0])
    batch_size = check_int("batch_size", batch_size, low=1, high=n_train)
    n_steps = check_int("n_steps", n_steps, low=1)
    n_average = check_int("n_average", n_average, low=0, high=n_steps)
    eval_every = check_int("eval_every", eval_every, low=1)
    return batch_size, n_steps, n_average, eval_every


def _check_dataset(dataset):
    for attr in ("x_train", "y_train", "x_test", "y_test"):
        if not hasattr(dataset, attr):
            raise ValueError(f"dataset must have x_train, y_train, x_test, y_test; missing {attr}")
    xs, ys = np.shape(dataset.x_train), np.shape(dataset.y_train)
    xt, yt = np.shape(dataset.x_test), np.shape(dataset.y_test)
    if len(xs) < 2 or len(ys) != 1 or xs[0] != ys[0]:
        raise ValueError(
            f"x_train (shape {xs}) and y_train (shape {ys}) must hold the same number of examples"
        )
    if len(xt) < 2 or len(yt) != 1 or xt[0] != yt[0]:
        raise ValueError(f"x_test (shape {xt}) and y_test (shape {yt}) must hold the same number of examples")
    if xs[1:] != xt[1:]:
        raise ValueError(f"x_train and x_test must have the same example shape, got {xs[1:]} and {xt[1:]}")
    if xs[0] < 1 or xt[0] < 1:
        raise ValueError("x_train and x_test must each hold at least one example")


@torch.no_grad()
def evaluate(model: nn.Module, x, y, *, chunk_size: int = 2048) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``(x, y)``, in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier returning logits.
    x, y : array-like or torch.Tensor
        Inputs and integer labels.
    chunk_size : int
        Examples per forward pass.

    Returns
    -------
    (float, float)
        ``(loss, accuracy)``; the loss is NaN or inf when the network has blown up.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` disagree in length.

    Examples
    --------
    >>> from hts_lib.nn.nets import fully_connected
    >>> net = build_model("fc", (2,), 2, seed=0, width=4)
    >>> loss, acc = evaluate(net, np.zeros((3, 2), np.float32), np.array([0, 1, 1]))
    >>> round(loss, 4), round(acc, 4)  # zero input, no biases: logits 0, loss log 2
    (0.6931, 0.3333)
    """
    check_model("model", model)
    chunk_size = check_int("chunk_size", chunk_size, low=1)
    xt, yt = check_inputs(x, y, model=model)
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    try:
        for i in range(0, xt.shape[0], chunk_size):
            out = model(xt[i : i + chunk_size])
            total += float(nn.functional.cross_entropy(out, yt[i : i + chunk_size], reduction="sum"))
            correct += int((out.argmax(dim=1) == yt[i : i + chunk_size]).sum())
    finally:
        model.train(was_training)
    n = xt.shape[0]
    return total / n, correct / n


def _metrics(model, xtr, ytr, xte, yte) -> dict:
    train_loss, train_acc = evaluate(model, xtr, ytr)
    test_loss, test_acc = evaluate(model, xte, yte)
    return {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "gen_gap": train_acc - test_acc,
    }


def train_sgd(
    model: nn.Module,
    dataset,
    eta: float,
    batch_size: int,
    n_steps: int,
    *,
    n_average: int = 1000,
    data_order: str = "cycle",
    eval_every: int = 1000,
    seed=0,
    device: str = "cpu",
    n_threads: int | None = 1,
    callback: Callable[[int, nn.Module], None] | None = None,
) -> TrainResult:
    r"""Train ``model`` with plain constant-step SGD on the cross-entropy loss.

    Parameters
    ----------
    model : torch.nn.Module
        The network (moved to ``device`` and trained in place; left at the final iterate).
    dataset : hts_lib.nn.data.Dataset or similar
        Anything with ``x_train, y_train, x_test, y_test`` arrays (labels are integers).
    eta : float
        Step size, > 0, constant.
    batch_size : int
        Minibatch size :math:`b`, between 1 and the number of training examples.
    n_steps : int
        Number of SGD steps (iterations), >= 1.
    n_average : int
        Number :math:`K` of final iterates averaged (0 for none, at most ``n_steps``).
    data_order : {"cycle", "shuffle", "permuted"}
        ``"cycle"``: the training set in its fixed order, cut into consecutive batches and cycled,
        as the authors' ``DataLoader(shuffle=False)`` did (the last batch of an epoch is smaller
        when ``b`` does not divide ``n``). ``"shuffle"``: a fresh seeded permutation every epoch,
        ``"permuted"``: one seeded permutation drawn before the first step, then cycled like
        ``"cycle"`` (a fixed order, as the authors', that differs between seeds).
    eval_every : int
        Steps between full evaluations of train/test loss and accuracy (recorded in ``history``).
    seed : int, numpy Generator or None
        Seeds the ``"shuffle"`` and ``"permuted"`` orders (the model's initialisation is the caller's, see
        :func:`hts_lib.nn.nets.build_model`).
    device : {"cpu", "cuda", "auto"}
        Where to train; ``"auto"`` picks CUDA when available.
    n_threads : int or None
        Torch CPU threads during the run (restored afterwards); 1 by default because small models
        are fastest, and reproducible, on one thread. None leaves the setting alone.
    callback : callable, optional
        ``callback(step, model)`` after every update (``step`` 1-based), e.g. to record iterates.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        ``eta <= 0``, ``batch_size`` out of range, ``n_average > n_steps``, an unknown
        ``data_order`` or ``device``, or a dataset whose shapes do not match each other or the model.

    Notes
    -----
    The update is :math:`\theta_{k} = \theta_{k-1} - \eta\,\frac1b\sum_{i\in\Omega_k}
    \nabla\ell_i(\theta_{k-1})` (no momentum, no weight decay). The average is
    :math:`\bar\theta = \frac1K\sum_{k=n-K+1}^{n}\theta_k`, kept as a float64 running sum:
    memory is one extra float64 copy of the parameters (two float32 copies), whatever :math:`K`,
    where the authors stored all :math:`K` iterates. Divergence is checked every 100 steps from
    the stored minibatch losses (one device synchronisation each), so ``diverged_at`` is exact.
    Deterministic on CPU for a given model initialisation and seed.

    A ReLU network can also *collapse* at a large step size without any non-finite value: one
    huge step kills every unit, the logits become constant and the loss sits at
    :math:`\log C`. Such a run is not flagged as diverged; its metrics show chance accuracy.

    Used in: chapters/ch10_fully_connected_networks.ipynb, chapters/ch12_flatness_noise_tails.ipynb

    Examples
    --------
    >>> from hts_lib.nn.data import load_dataset
    >>> ds = load_dataset("digits", n_train=200, n_test=100, seed=0)
    >>> net = build_model("fc", ds.input_shape, 10, seed=0, width=32)
    >>> res = train_sgd(net, ds, eta=0.05, batch_size=10, n_steps=300, n_average=100, eval_every=100)
    >>> res.diverged, res.n_average, [h["step"] for h in res.history]
    (False, 100, [0, 100, 200, 300])
    >>> res.metrics["train_acc"] > 0.8
    True
    """
    check_model("model", model)
    eta = check_positive("eta", eta)
    batch_size, n_steps, n_average, eval_every = _check_schedule(
        dataset, batch_size, n_steps, n_average, eval_every
    )
    n_train = int(np.shape(dataset.x_train)[0])
    check_choice("data_order", data_order, _DATA_ORDERS)
    check_callable("callback", callback, optional=True)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, low=1)
    rng = check_rng(seed)
    dev = resolve_device(device)
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    dtype = params[0].dtype

    with _torch_settings(n_threads if dev.type == "cpu" else None):
        t0 = time.perf_counter()
        clock = _PhaseClock(dev, "data_loading_s")
        xtr = _to_tensor(dataset.x_train, dev, dtype)
        ytr = _to_tensor(dataset.y_train, dev).long()
        xte = _to_tensor(dataset.x_test, dev, dtype)
        yte = _to_tensor(dataset.y_test, dev).long()
        model.eval()
        try:
            with torch.no_grad():
                out = model(xtr[:1])
        except RuntimeError as exc:
            raise ValueError(f"model does not accept inputs of shape {tuple(xtr.shape[1:])}: {exc}") from None
        n_out = out.shape[-1]
        y_max = int(max(ytr.max(), yte.max()))
        if int(min(ytr.min(), yte.min())) < 0 or y_max >= n_out:
            raise ValueError(
                f"labels must lie in [0, {n_out - 1}] for a model with {n_out} outputs, "
                f"got labels up to {y_max}"
            )

        names = [n for n, p in model.named_parameters() if p.requires_grad]
        avg_start = n_steps - n_average  # iterates theta_k with k > avg_start are averaged
        avg_sum = None
        losses: list[torch.Tensor] = []
        clock.switch("evaluation_s")
        history = [{"step": 0, **_eval_row(model, xtr, ytr, xte, yte)}]
        clock.switch("training_s")
        diverged_at = None
        n_batches = math.ceil(n_train / batch_size)
        xs, ys = xtr, ytr
        model.train()
        step = 0
        for step in range(1, n_steps + 1):
            j = (step - 1) % n_batches
            if j == 0 and (data_order == "shuffle" or (data_order == "permuted" and step == 1)):
                perm = torch.from_numpy(rng.permutation(n_train)).to(dev)
                xs, ys = xtr[perm], ytr[perm]
            xb, yb = xs[j * batch_size : (j + 1) * batch_size], ys[j * batch_size : (j + 1) * batch_size]
            loss = nn.functional.cross_entropy(model(xb), yb)
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                torch._foreach_add_(params, grads, alpha=-eta)
                if step > avg_start:
                    if avg_sum is None:
                        avg_sum = [torch.zeros_like(p, dtype=torch.float64) for p in params]
                    torch._foreach_add_(avg_sum, params)
            losses.append(loss.detach())
            if callback is not None:
                callback(step, model)
            if step % _DIVERGENCE_CHECK == 0 or step == n_steps:
                diverged_at = _first_nonfinite(losses, step)
                if diverged_at is not None:
                    break
            if step % eval_every == 0 or step == n_steps:
                clock.switch("evaluation_s")
                row = _eval_row(model, xtr, ytr, xte, yte)
                history.append({"step": step, **row})
                clock.switch("training_s")
                if not math.isfinite(row["train_loss"]):
                    diverged_at = _first_nonfinite(losses, step) or step
                    break
        batch_losses = torch.stack(losses).float().cpu().numpy() if losses else np.zeros(0, np.float32)
        if diverged_at is None and not all(bool(torch.isfinite(p).all()) for p in params):
            diverged_at = step
        diverged = diverged_at is not None
        clock.switch("evaluation_s")
        if diverged:
            metrics = metrics_average = average = None
        else:
            metrics = _metrics(model, xtr, ytr, xte, yte)
            average = metrics_average = None
            if n_average > 0:
                average = {n: (s / n_average).cpu().numpy() for n, s in zip(names, avg_sum)}
                avg_model = copy.deepcopy(model)
                with torch.no_grad():
                    for p, s in zip([p for p in avg_model.parameters() if p.requires_grad], avg_sum):
                        p.copy_(s / n_average)
                metrics_average = _metrics(avg_model, xtr, ytr, xte, yte)
                del avg_model
        clock.switch(None)
        wall = time.perf_counter() - t0
    return TrainResult(
        diverged=diverged,
        diverged_at=diverged_at,
        n_steps=step,
        history=tuple(history),
        metrics=metrics,
        metrics_average=metrics_average,
        average=average,
        n_average=n_average if average is not None else 0,
        batch_losses=batch_losses,
        wall_time_s=wall,
        timings=clock.seconds,
    )


class _PhaseClock:
    """Wall-clock seconds per phase of a run; ``switch(phase)`` ends the current phase and starts ``phase``.

    On CUDA the device is synchronised at each switch (kernels run asynchronously: without it, the
    training steps still queued would be counted in the evaluation that waits for them).
    """

    def __init__(self, dev: torch.device, phase: str | None = None):
        self._cuda = dev.type == "cuda"
        self.seconds: dict[str, float] = {}
        self._phase, self._start = phase, time.perf_counter()

    def switch(self, phase: str | None) -> None:
        if self._cuda:
            torch.cuda.synchronize()
        now = time.perf_counter()
        if self._phase is not None:
            self.seconds[self._phase] = self.seconds.get(self._phase, 0.0) + (now - self._start)
        self._phase, self._start = phase, now


def _eval_row(model, xtr, ytr, xte, yte) -> dict:
    train_loss, train_acc = evaluate(model, xtr, ytr)
    test_loss, test_acc = evaluate(model, xte, yte)
    return {"train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc}


def _first_nonfinite(losses: list, step: int) -> int | None:
    """1-based step of the first non-finite loss among the last unchecked block, else None."""
    start = max(0, (step - 1) // _DIVERGENCE_CHECK * _DIVERGENCE_CHECK)
    block = torch.stack(losses[start:step])
    bad = ~torch.isfinite(block)
    if bool(bad.any()):
        return start + int(bad.nonzero()[0, 0]) + 1
    return None


# ---------------------------------------------------------------------------------------------
# Tail indices of the weights
# ---------------------------------------------------------------------------------------------
def weight_tail_indices(weights: Mapping, *, m: Sequence[int] = AUTHORS_M, seed=0) -> dict:
    r"""Per-layer tail index of (averaged) weights: the authors' block estimator and Hill.

    Parameters
    ----------
    weights : mapping
        ``{layer name: array}`` (any shape; e.g. :meth:`TrainResult.averaged_layer_weights`).
    m : sequence of int
        Block sizes for :func:`hts_lib.tails.estimators.alpha_stable`; the authors' list by default.
        Sizes that leave fewer than two blocks for a layer are dropped for that layer.
    seed : int, numpy Generator or None
        Seeds the bootstrap of the block estimator's interval (one independent stream per layer),
        so the result is reproducible. Hill's interval needs no randomness.

    Returns
    -------
    dict
        ``{layer name: {"alpha_stable": TailEstimate, "hill": TailEstimate}}``.

    Raises
    ------
    ValueError
        If a layer has fewer weights than the estimators need
        (``hts_lib.tails.estimators.MIN_SAMPLES``), non-finite values, or no usable block size.

    Notes
    -----
    For each layer, as in the authors' ``postprocess_networks.ipynb``: flatten the weights to
    :math:`w_1, \dots, w_N`, subtract the scalar mean :math:`\bar w`, and apply the 1-D block
    estimator (Mohammadi, Mohammadpour & Ogata 2015, Corollary 2.4) for each block size
    :math:`m`, then take the median over :math:`m`. That estimator assumes a stable law and
    saturates at 2 (flag ``at_ceiling``). Hill's estimator on :math:`|w_i - \bar w|`, which has
    no ceiling, is reported beside it.

    This is a **cross-sectional** estimate: the :math:`N` coordinates of one network's layer are
    treated as a sample, although they are neither independent nor identically distributed. The block
    estimator's interval comes from a bootstrap over blocks of consecutive weights in storage order, and
    its flag ``serial_dependence`` says when the weights in a random order give a different estimate
    (see :func:`hts_lib.tails.estimators.alpha_stable`). It
    is not the tail index of one weight's law across runs, which is what the theory describes.

    Used in: chapters/ch10_fully_connected_networks.ipynb

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> out = weight_tail_indices({"layer1": rng.standard_cauchy(20000)})
    >>> round(out["layer1"]["alpha_stable"].alpha, 1), out["layer1"]["alpha_stable"].m
    (1.0, (2, 5, 10, 20, 50, 100, 500, 1000))
    >>> 0.8 < out["layer1"]["hill"].alpha < 1.2  # Cauchy: alpha = 1
    True
    """
    from hts_lib.tails.estimators import MIN_SAMPLES, alpha_stable, hill

    check_mapping("weights", weights)
    if isinstance(m, (str, bytes)) or not hasattr(m, "__iter__"):
        raise TypeError(f"m must be a sequence of block sizes, got {type(m).__name__}")
    ms = [check_int("m", k, low=2) for k in m]
    if not ms:
        raise ValueError("m must hold at least one block size >= 2")
    streams = check_rng(seed).spawn(len(weights))
    out = {}
    for (name, w), stream in zip(weights.items(), streams):
        if isinstance(w, torch.Tensor):
            w = w.detach().cpu().double().numpy()
        x = check_array(f"weights[{name!r}]", w, ndim=None, min_size=MIN_SAMPLES).ravel()
        x = x - x.mean()
        usable = [k for k in ms if x.size // k >= 2]
        if not usable:
            raise ValueError(f"layer {name!r} has {x.size} weights: no block size in {ms} leaves two blocks")
        out[name] = {"alpha_stable": alpha_stable(x, m=usable, seed=stream), "hill": hill(x)}
    return out


# ---------------------------------------------------------------------------------------------
# One run from a config (the runner's entry point)
# ---------------------------------------------------------------------------------------------
_jsonable = to_jsonable


def run_from_config(config: Mapping) -> dict:
    """Train one network as described by ``config`` and return a JSON-ready report.

    Parameters
    ----------
    config : mapping
        See :func:`normalise_config` and :data:`DEFAULT_CONFIG`.

    Returns
    -------
    dict
        Keys ``config`` (normalised), ``diverged``, ``diverged_at``, ``metrics``,
        ``metrics_average``, ``alpha`` (``{layer: {"alpha_stable": {...}, "hill": {...}}}`` of the
        averaged weights; empty when diverged; layers with fewer weights than the estimators need
        are left out), ``sharpness`` (``{top_eigenvalue, converged, n_iter, n_samples, n_train, subset,
        trace, ...}`` at the final iterate; None when diverged or disabled), ``history``
        (``[{step, train_loss, test_acc}]``), ``device``, ``n_params``, ``wall_time_s`` and ``timings``
        (seconds per phase: ``data_loading_s``, ``training_s``, ``evaluation_s``, ``tail_estimates_s``,
        ``sharpness_s`` and ``other_s``, which sum to ``wall_time_s``). Non-finite floats are written as
        None.

    Raises
    ------
    ValueError
        For an invalid config (see :func:`normalise_config`).
    FileNotFoundError
        When a downloaded data set (``mnist``, ``cifar10``) is not on disk.

    Notes
    -----
    A pure function of ``config``: the data split is the data set's fixed seed-0 split (so runs
    with different seeds see the same data), ``seed`` drives the initialisation, the
    ``"shuffle"`` order, the bootstrap of the block estimator's interval and the Lanczos start. On CPU
    two calls give identical results (apart from ``timings`` and ``wall_time_s``).

    *Sharpness on large networks.* The top Hessian eigenvalue is that of the mean loss over
    ``sharpness_examples`` training examples: by default all of them for the fully connected net, and for
    ``cnn`` and ``vgg`` a fixed, class-stratified subset of
    ``hts_lib.nn.sharpness.SHARPNESS_EXAMPLES[model]`` = 2,048 examples (the same subset in every run, seed
    0), since every Hessian-vector product costs a few passes over those examples and Lanczos needs tens to
    hundreds of them (on CIFAR-10's 50,000 images that was many times a VGG run's training time). On the
    small CNN on the MNIST subset, 2,048 of the 4,000 images gave the full-set value to within -4.5 % to
    +10.6 % (two networks, three subsets; ``benchmarks/bench_sharpness.py``), 1,000 images to within
    -11 % to +27 %. The result records ``n_samples``, ``n_train`` and ``subset``.

    Used by the runner (no chapter calls it directly).

    Examples
    --------
    >>> r = run_from_config({"dataset": "digits", "n_train": 300, "n_test": 100, "width": 16, "eta": 0.05,
    ...                      "batch_size": 10, "n_steps": 200, "n_average": 50, "eval_every": 100})
    >>> sorted(r)[:6]
    ['alpha', 'config', 'device', 'diverged', 'diverged_at', 'history']
    >>> sorted(r["alpha"]), r["sharpness"]["converged"]
    (['layer1', 'layer2', 'layer3'], True)
    """
    from hts_lib.nn.data import load_dataset

    t0 = time.perf_counter()
    cfg = normalise_config(config)
    dev = resolve_device(cfg["device"])
    t_load = time.perf_counter()
    ds = load_dataset(
        cfg["dataset"], data_dir=cfg["data_dir"], n_train=cfg["n_train"], n_test=cfg["n_test"], seed=0
    )
    t_load = time.perf_counter() - t_load
    if cfg["model"] == "fc":
        kw = {"depth": cfg["depth"], "width": cfg["width"]}
    else:
        kw = {"width_scale": cfg["width_scale"]}
    model = build_model(cfg["model"], ds.input_shape, ds.n_classes, seed=cfg["seed"], **kw)
    seeds = np.random.default_rng(cfg["seed"]).spawn(3)  # data order, tail bootstrap, Lanczos start
    res = train_sgd(
        model,
        ds,
        cfg["eta"],
        cfg["batch_size"],
        cfg["n_steps"],
        n_average=cfg["n_average"],
        data_order=cfg["data_order"],
        eval_every=cfg["eval_every"],
        seed=seeds[0],
        device=cfg["device"],
    )
    ((alpha, sharp, post),) = _analyse_runs([cfg], [model], [res], ds, dev, [seeds])
    timings = {
        "data_loading_s": t_load + res.timings.get("data_loading_s", 0.0),
        "training_s": res.timings.get("training_s", 0.0),
        "evaluation_s": res.timings.get("evaluation_s", 0.0),
        **post,
    }
    return _run_record(cfg, model, res, dev, alpha, sharp, time.perf_counter() - t0, timings)


def _analyse_runs(cfgs, models, results, ds, dev, seeds, n_threads: int | None = 1) -> list[tuple]:
    """Compute trained runs' tail indices and sharpness: one ``(alpha, sharpness, seconds)`` per run.

    The runs share everything but ``seed`` and ``eta`` (one run, or an ensemble's); the sharpness of
    those that did not diverge is computed together (:func:`hts_lib.nn.sharpness.ensemble_sharpness`),
    each run's seconds being an equal share.
    """
    from hts_lib.tails.estimators import MIN_SAMPLES

    alphas, sharps = [{} for _ in cfgs], [None for _ in cfgs]
    seconds = [{"tail_estimates_s": 0.0, "sharpness_s": 0.0} for _ in cfgs]
    live = [i for i, res in enumerate(results) if not res.diverged]
    for i in live:
        t_phase = time.perf_counter()
        # layers too small for the estimators (e.g. a narrow first convolution) are left out
        weights = {k: w for k, w in results[i].averaged_layer_weights().items() if w.size >= MIN_SAMPLES}
        alphas[i] = weight_tail_indices(weights, seed=seeds[i][1])
        seconds[i]["tail_estimates_s"] = time.perf_counter() - t_phase
    cfg = cfgs[0]
    if cfg["sharpness"] and live:
        from hts_lib.nn.sharpness import SHARPNESS_EXAMPLES, ensemble_sharpness, stratified_subset

        t_phase = time.perf_counter()
        n_train = len(ds.y_train)
        n_sharp = cfg["sharpness_examples"] or min(SHARPNESS_EXAMPLES.get(cfg["model"], n_train), n_train)
        rows = stratified_subset(ds.y_train, n_sharp) if n_sharp < n_train else slice(None)
        with _torch_settings(n_threads if dev.type == "cpu" else None):
            ests = ensemble_sharpness(
                [models[i] for i in live],
                _to_tensor(ds.x_train[rows], dev, torch.float32),
                _to_tensor(ds.y_train[rows], dev),
                tol=_SHARPNESS_TOL,
                n_probes=cfg["trace_probes"],
                seeds=[seeds[i][2] for i in live],
                chunk_size=4096 if cfg["model"] == "fc" else 512,
            )
        share = (time.perf_counter() - t_phase) / len(live)
        for i, est in zip(live, ests):
            sharps[i] = {
                **dataclasses.asdict(est),
                "n_train": n_train,
                "subset": "all" if n_sharp == n_train else "stratified, seed 0",
            }
            seconds[i]["sharpness_s"] = share
    return list(zip(alphas, sharps, seconds))


def _run_record(cfg, model, res, dev, alpha, sharp, wall_time_s: float, timings: dict) -> dict:
    """Build one run's result record (the keys of ``experiments.RESULT_SCHEMA`` but ``provenance``)."""
    history = [
        {"step": h["step"], "train_loss": h["train_loss"], "test_acc": h["test_acc"]} for h in res.history
    ]
    # what the phases leave out: config, model construction, first use of the device, copies of weights
    timings = {**timings, "other_s": max(0.0, wall_time_s - sum(timings.values()))}
    out = {
        "config": cfg,
        "diverged": res.diverged,
        "diverged_at": res.diverged_at,
        "metrics": res.metrics,
        "metrics_average": res.metrics_average,
        "alpha": alpha,
        "sharpness": sharp,
        "history": history,
        "device": str(dev),
        "n_params": count_parameters(model),
        "wall_time_s": wall_time_s,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    return _jsonable(out)
