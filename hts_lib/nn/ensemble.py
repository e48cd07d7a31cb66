"""Many networks of one architecture trained as one batched computation (an ensemble).

Sweeps of the book's grids train many small networks that differ only in their seed and their step
size. Trained one by one, each step of a small network is a few tiny matrix products and most of
the time goes to Python and to launching kernels. :func:`train_ensemble` stacks the parameters of
``M`` models (``torch.func.stack_module_state``), computes the ``M`` minibatch gradients with one
``vmap`` of ``grad`` over ``functional_call``, and updates all models at once, each with its own
step size and its own minibatch. It keeps, per model, what :func:`hts_lib.nn.training.train_sgd`
keeps: a float64 streaming average of the last ``K`` iterates, the evaluation history, the
minibatch losses and a divergence flag with the first non-finite step.

Seeding follows the per-run trainer exactly: the models are built by
:func:`hts_lib.nn.nets.build_model` from their seeds and each model's data order comes from its
own generator, so model ``i`` of an ensemble and a :func:`train_sgd` run with the same
initialisation and seed see the same batches and agree to float rounding.

:func:`run_ensemble` is the runner's batched counterpart of
:func:`hts_lib.nn.training.run_from_config`: a list of configs that share everything but ``seed``
and ``eta`` in, one result record per config out (same schema). :func:`run_ensemble_sweep`
groups a sweep into such ensembles and writes one result file per run, with provenance.

This module imports torch; ``import hts_lib`` does not import it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from hts_lib.nn._json import to_jsonable
from hts_lib.nn.nets import _plain_mlp, build_model
from hts_lib.nn.training import (
    DEFAULT_CONFIG,
    TrainResult,
    normalise_config,
    resolve_device,
)
from hts_lib.validation import check_callable, check_choice, check_int, check_mapping, check_model, check_rng

__all__ = [
    "ENSEMBLE_AXES",
    "MAX_MODELS",
    "IterateSamples",
    "train_ensemble",
    "record_iterates",
    "run_ensemble",
    "ensemble_groups",
    "run_ensemble_sweep",
]

#: Config keys that may differ between the members of one ensemble; every other key is shared.
ENSEMBLE_AXES = ("seed", "eta")

_DATA_ORDERS = ("cycle", "shuffle", "permuted")
#: Default largest ensemble. On the paper's fully connected net (2 CPU threads) a step costs, per model,
#: 43 us at b = 5 and 55 us at b = 10 in ensembles of 32 against 71 us and 80 us in ensembles of 64, whose
#: first-layer weights (26 MB) no longer stay in the processor's cache; 8 or 16 models pay more overhead.
MAX_MODELS = 32
_DIVERGENCE_CHECK = 100  # steps between divergence checks (one device sync each), as train_sgd
_EVAL_CHUNK = 2048  # examples per batched forward pass in evaluations
# Iterates summed in the model's dtype before each addition to the float64 running sums: a float64 += float32
# addition costs ten float32 ones (measured), and a float32 sum of 10 iterates errs by at most 9 roundings
# (2**-24 relative each), which leaves the average of 1,000 iterates exact to its float32 resolution.
_AVG_BLOCK = 10


def _tensor(a, device, dtype=None) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(a))
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


class _Stack:
    """The stacked parameters of M models, the batched SGD step and the batched forward pass.

    Two engines compute the same step. ``"vmap"`` (any model without buffers): one
    ``torch.func.vmap`` of ``grad_and_value`` over ``functional_call``, then one fused update per
    parameter. ``"fused"`` (bias-free ReLU MLPs only): the same forward and backward pass written
    with batched matrix products, the weight update fused into the gradient product
    (``baddbmm_``), so that each weight matrix is read and written once per step; at b = 1 the step
    is bound by memory traffic and this halves it.
    """

    def __init__(self, models: Sequence[nn.Module], device: torch.device, engine: str):
        from torch.func import functional_call, grad_and_value, stack_module_state, vmap

        self.names = [n for n, p in models[0].named_parameters() if p.requires_grad]
        params, buffers = stack_module_state([m.to(device) for m in models])
        if buffers:
            raise ValueError("models with buffers (batch norm) are not supported by the ensemble trainer")
        self.params = {n: params[n].detach().clone() for n in self.names}
        if engine == "auto":
            engine = "fused" if _plain_mlp(models[0]) else "vmap"
        if engine == "fused" and not _plain_mlp(models[0]):
            raise ValueError("engine='fused' needs a bias-free ReLU MLP (model 'fc'); use engine='vmap'")
        self.engine = engine
        base = copy.deepcopy(models[0]).to("meta")

        def loss(p, x, y):
            return nn.functional.cross_entropy(functional_call(base, (p,), (x,)), y)

        def forward(p, x):
            return functional_call(base, (p,), (x,))

        self._grad = vmap(grad_and_value(loss), in_dims=(0, 0, 0))
        self._forward = vmap(forward, in_dims=(0, None))

    @torch.no_grad()
    def step(self, xb, yb, neg_eta) -> torch.Tensor:
        """One SGD step of every model on its own batch ``xb`` (M, b, ...); returns the M batch losses."""
        if self.engine == "vmap":
            with torch.enable_grad():
                grads, losses = self._grad(self.params, xb, yb)
            for n in self.names:
                p = self.params[n]
                p.addcmul_(grads[n], neg_eta.view((-1,) + (1,) * (p.dim() - 1)))
            return losses
        ws = [self.params[n] for n in self.names]  # (M, out, in) each
        h = [xb.reshape(xb.shape[0], xb.shape[1], -1)]
        for w in ws[:-1]:
            h.append(torch.bmm(h[-1], w.transpose(1, 2)).clamp_min_(0))
        out = torch.bmm(h[-1], ws[-1].transpose(1, 2))  # (M, b, C)
        logp = out.log_softmax(dim=2)
        losses = -logp.gather(2, yb.unsqueeze(2)).squeeze(2).mean(dim=1)
        delta = logp.exp_()
        delta.scatter_add_(2, yb.unsqueeze(2), torch.full_like(delta[..., :1], -1.0))
        delta.mul_(neg_eta.view(-1, 1, 1) / yb.shape[1])  # -eta * dloss/dlogits
        deltas = [delta]
        for k in range(len(ws) - 1, 0, -1):  # back through layers, old weights
            deltas.append(torch.bmm(deltas[-1], ws[k]).mul_(h[k] > 0))
        for k, d in zip(range(len(ws) - 1, -1, -1), deltas):
            ws[k].baddbmm_(d.transpose(1, 2), h[k])
        return losses

    @torch.no_grad()
    def forward(self, params, x) -> torch.Tensor:
        """Return the outputs (M, n, C) of every model on the same inputs ``x`` (n, ...)."""
        if self.engine == "vmap":
            return self._forward(params, x)
        ws = [params[n] for n in self.names]  # (M, out, in) each
        m, out, _ = ws[0].shape
        # the first layer of all models is one matrix product with the shared inputs
        h = (x.reshape(x.shape[0], -1) @ ws[0].reshape(m * out, -1).T).view(-1, m, out).transpose(0, 1)
        for w in ws[1:]:
            h = torch.bmm(h.clamp_min(0), w.transpose(1, 2))
        return h

    @torch.no_grad()
    def evaluate(self, params, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Per-model mean cross-entropy and accuracy on (x, y): arrays of length M."""
        m = next(iter(params.values())).shape[0]
        total = torch.zeros(m, dtype=torch.float64, device=x.device)
        correct = torch.zeros(m, dtype=torch.float64, device=x.device)
        for i in range(0, x.shape[0], _EVAL_CHUNK):
            out = self.forward(params, x[i : i + _EVAL_CHUNK])  # (M, n, C)
            yc = y[i : i + _EVAL_CHUNK]
            ce = nn.functional.cross_entropy(out.transpose(1, 2), yc.expand(m, -1), reduction="none")
            total += ce.double().sum(dim=1)
            correct += (out.argmax(dim=2) == yc).double().sum(dim=1)
        n = x.shape[0]
        return (total / n).cpu().numpy(), (correct / n).cpu().numpy()


def _metrics(stack, params, xtr, ytr, xte, yte) -> list[dict]:
    trl, tra = stack.evaluate(params, xtr, ytr)
    tel, tea = stack.evaluate(params, xte, yte)
    return [
        {
            "train_loss": float(a),
            "train_acc": float(b),
            "test_loss": float(c),
            "test_acc": float(d),
            "gen_gap": float(b) - float(d),
        }
        for a, b, c, d in zip(trl, tra, tel, tea)
    ]


def train_ensemble(
    models: Sequence[nn.Module],
    dataset,
    etas,
    batch_size: int,
    n_steps: int,
    *,
    n_average: int = 1000,
    data_order: str = "cycle",
    eval_every: int = 1000,
    seeds=None,
    device: str = "cpu",
    n_threads: int | None = 1,
    record_every: int = 0,
    record_last: int = 0,
    record_fn=None,
    engine: str = "auto",
) -> list[TrainResult]:
    r"""Train ``M`` models of one architecture with plain constant-step SGD, as one batched computation.

    Parameters
    ----------
    models : sequence of torch.nn.Module
        ``M >= 1`` models with identical parameter names and shapes and no buffers (e.g. from
        :func:`hts_lib.nn.nets.build_model` with different seeds). They are not modified: the
        final iterates are written back into them at the end.
    dataset : hts_lib.nn.data.Dataset or similar
        ``x_train, y_train, x_test, y_test`` arrays.
    etas : float or sequence of float
        Step size of each model (one float for all), each > 0.
    batch_size, n_steps, n_average, data_order, eval_every, device, n_threads
        As in :func:`hts_lib.nn.training.train_sgd` (shared by all models).
    seeds : sequence of (int or numpy Generator), optional
        Per-model seeds of the ``"shuffle"``/``"permuted"`` data orders (ignored for ``"cycle"``),
        used exactly as :func:`train_sgd` uses its ``seed``. Default ``0`` for every model.
    record_every, record_last : int
        With both > 0 and ``record_fn`` given, ``record_fn(step, params)`` is called every
        ``record_every`` steps during the last ``record_last`` steps, with ``params`` the dict of
        stacked parameters ``{name: tensor (M, ...)}`` (do not modify it); e.g. to collect the
        iterates' own trajectories.
    record_fn : callable, optional
        See ``record_every``.
    engine : {"auto", "vmap", "fused"}
        How the batched step is computed: ``"vmap"`` (``torch.func``: any model without buffers),
        ``"fused"`` (bias-free ReLU MLPs: hand-written batched backward with the update fused into
        the gradient product) or ``"auto"`` (``"fused"`` where it applies). Both compute the same
        update; they differ in rounding only.

    Returns
    -------
    list of TrainResult
        One per model, in order, as :func:`train_sgd` would return it (``wall_time_s`` and each phase of
        ``timings`` are the ensemble's seconds divided by ``M``).

    Raises
    ------
    ValueError
        Empty ``models``, models whose parameters differ in names or shapes, ``etas`` of the wrong
        length or not > 0, or any argument :func:`train_sgd` rejects.

    Notes
    -----
    Model :math:`i` follows :math:`\theta^{(i)}_k = \theta^{(i)}_{k-1} - \eta_i\,\frac1b
    \sum_{j\in\Omega^{(i)}_k}\nabla\ell_j(\theta^{(i)}_{k-1})`, with the batch
    :math:`\Omega^{(i)}_k` drawn from model :math:`i`'s own data order. All models advance
    together; a model whose minibatch loss becomes non-finite is flagged at that step (checked
    every 100 steps, as in :func:`train_sgd`), its step size is set to 0 and its parameters to
    zero, so that it costs nothing further and cannot disturb the others. The averages are kept
    as float64 running sums of the last :math:`K` iterates, one per model, fed with float32 sums of
    10 iterates at a time.

    Used by :func:`run_ensemble` and :func:`record_iterates` (chapters 10 and 12 read their results).

    Examples
    --------
    >>> from hts_lib.nn.data import load_dataset
    >>> ds = load_dataset("digits", n_train=200, n_test=100, seed=0)
    >>> nets = [build_model("fc", ds.input_shape, 10, seed=s, width=32) for s in range(3)]
    >>> res = train_ensemble(nets, ds, [0.05, 0.05, 0.1], batch_size=10, n_steps=300, n_average=100,
    ...                      eval_every=100)
    >>> [r.diverged for r in res], res[0].n_average, [h["step"] for h in res[0].history]
    ([False, False, False], 100, [0, 100, 200, 300])
    """
    from hts_lib.nn.training import _check_schedule, _PhaseClock, _torch_settings

    if isinstance(models, (str, bytes, nn.Module)) or not hasattr(models, "__iter__"):
        raise TypeError(f"models must be a sequence of torch.nn.Module, got {type(models).__name__}")
    models = [check_model(f"models[{i}]", m) for i, m in enumerate(models)]
    if not models:
        raise ValueError("models must hold at least one model")
    shapes = [tuple((n, tuple(p.shape)) for n, p in m.named_parameters()) for m in models]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("models must all have the same parameter names and shapes")
    n_models = len(models)
    try:
        eta_arr = np.asarray(etas, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"etas must be one real number or one per model, got {etas!r}") from None
    eta_arr = np.broadcast_to(eta_arr, (n_models,)) if eta_arr.ndim == 0 else eta_arr
    if eta_arr.shape != (n_models,):
        raise ValueError(f"etas must be one float or one per model ({n_models}), got {len(eta_arr)} values")
    if not np.all(np.isfinite(eta_arr) & (eta_arr > 0)):
        raise ValueError(f"etas must be finite and > 0, got {eta_arr.tolist()}")
    batch_size, n_steps, n_average, eval_every = _check_schedule(
        dataset, batch_size, n_steps, n_average, eval_every
    )
    n_train = int(np.shape(dataset.x_train)[0])
    record_every = check_int("record_every", record_every, low=0)
    record_last = check_int("record_last", record_last, low=0, high=n_steps)
    check_choice("data_order", data_order, _DATA_ORDERS)
    check_choice("engine", engine, ("auto", "vmap", "fused"))
    check_callable("record_fn", record_fn, optional=True)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, low=1)
    if seeds is not None and (isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__")):
        raise TypeError(f"seeds must be a sequence with one seed per model, got {type(seeds).__name__}")
    seeds = [0] * n_models if seeds is None else list(seeds)
    if len(seeds) != n_models:
        raise ValueError(f"seeds must hold one seed per model ({n_models}), got {len(seeds)}")
    rngs = [check_rng(s) for s in seeds]
    dev = resolve_device(device)
    dtype = next(models[0].parameters()).dtype

    with _torch_settings(n_threads if dev.type == "cpu" else None):
        t0 = time.perf_counter()
        clock = _PhaseClock(dev, "data_loading_s")
        stack = _Stack(models, dev, engine)
        params = stack.params
        xtr, ytr = _tensor(dataset.x_train, dev, dtype), _tensor(dataset.y_train, dev).long()
        xte, yte = _tensor(dataset.x_test, dev, dtype), _tensor(dataset.y_test, dev).long()
        xflat = xtr.reshape(n_train, -1)  # batches gathered as rows (index_select: 3x faster than xtr[idx])
        neg_eta = torch.tensor(-eta_arr, dtype=dtype, device=dev)
        live = np.ones(n_models, dtype=bool)
        diverged_at: list[int | None] = [None] * n_models

        final = {}  # the metrics of the last evaluation, by step

        def eval_rows(step):
            final.clear()
            final[step] = _metrics(stack, params, xtr, ytr, xte, yte)
            return [{"step": step, **{k: v for k, v in m.items() if k != "gen_gap"}} for m in final[step]]

        clock.switch("evaluation_s")
        histories = [[row] for row in eval_rows(0)]
        clock.switch("training_s")
        avg_start = n_steps - n_average
        avg_sum = None
        losses: list[torch.Tensor] = []
        n_batches = math.ceil(n_train / batch_size)
        arange = torch.arange(n_train, device=dev)
        order = arange.expand(n_models, n_train)
        steps_taken = np.zeros(n_models, dtype=int)

        def kill(i, step):
            diverged_at[i] = step
            live[i] = False
            steps_taken[i] = step
            neg_eta[i] = 0.0
            with torch.no_grad():
                for p in params.values():
                    p[i].zero_()

        step = 0
        for step in range(1, n_steps + 1):
            j = (step - 1) % n_batches
            if j == 0 and (data_order == "shuffle" or (data_order == "permuted" and step == 1)):
                order = torch.stack([torch.from_numpy(r.permutation(n_train)) for r in rngs]).to(dev)
            idx = order[:, j * batch_size : (j + 1) * batch_size]  # (M, b_j)
            xb = xflat.index_select(0, idx.reshape(-1)).view(idx.shape + xtr.shape[1:])
            loss = stack.step(xb, ytr[idx], neg_eta)
            with torch.no_grad():
                if step > avg_start:
                    if avg_sum is None:
                        avg_sum = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
                        block = {n: torch.empty_like(p) for n, p in params.items()}
                    # float32 sums of _AVG_BLOCK iterates, added to the float64 sums block by block
                    k = step - avg_start  # this iterate's place among the averaged ones, from 1
                    for n in stack.names:
                        if (k - 1) % _AVG_BLOCK == 0:
                            block[n].copy_(params[n])
                        else:
                            block[n].add_(params[n])
                        if k % _AVG_BLOCK == 0 or step == n_steps:
                            avg_sum[n] += block[n]
            losses.append(loss.detach())
            if (
                record_fn is not None
                and record_every > 0
                and step > n_steps - record_last
                and (n_steps - step) % record_every == 0
            ):
                record_fn(step, params)
            if step % _DIVERGENCE_CHECK == 0 or step == n_steps:
                start = (step - 1) // _DIVERGENCE_CHECK * _DIVERGENCE_CHECK
                bad = ~torch.isfinite(torch.stack(losses[start:step]))  # (steps, M)
                if bool(bad.any()):
                    first = bad.float().argmax(dim=0).cpu().numpy()
                    any_bad = bad.any(dim=0).cpu().numpy()
                    for i in np.flatnonzero(any_bad & live):
                        kill(i, start + int(first[i]) + 1)
                if not live.any():
                    break
            if step % eval_every == 0 or step == n_steps:
                clock.switch("evaluation_s")
                rows = eval_rows(step)
                for i in np.flatnonzero(live):
                    histories[i].append(rows[i])
                    if not math.isfinite(rows[i]["train_loss"]):
                        kill(i, step)
                clock.switch("training_s")
        steps_taken[live] = step
        clock.switch("evaluation_s")
        with torch.no_grad():
            for i in np.flatnonzero(live):
                if not all(bool(torch.isfinite(p[i]).all()) for p in params.values()):
                    kill(i, step)
        all_losses = (
            torch.stack(losses).float().cpu().numpy() if losses else np.zeros((0, n_models), np.float32)
        )
        metrics = [None] * n_models
        if live.any():  # the evaluation at the last step, when there was one (always, unless all diverged)
            metrics = final[step] if step in final else _metrics(stack, params, xtr, ytr, xte, yte)
        metrics_avg = [None] * n_models
        average = [None] * n_models
        if n_average > 0 and live.any() and avg_sum is not None:
            mean = {n: s / n_average for n, s in avg_sum.items()}
            metrics_avg = _metrics(stack, {n: v.to(dtype) for n, v in mean.items()}, xtr, ytr, xte, yte)
            for i in np.flatnonzero(live):
                average[i] = {n: mean[n][i].cpu().numpy() for n in stack.names}
        with torch.no_grad():
            for i, m in enumerate(models):
                for n, p in m.named_parameters():
                    p.copy_(params[n][i])
        clock.switch(None)
        wall = (time.perf_counter() - t0) / n_models
        # each model's share of the ensemble's phases
        shares = {k: v / n_models for k, v in clock.seconds.items()}

    out = []
    for i in range(n_models):
        ok = bool(live[i])
        out.append(
            TrainResult(
                diverged=not ok,
                diverged_at=diverged_at[i],
                n_steps=int(steps_taken[i]),
                history=tuple(histories[i]),
                metrics=metrics[i] if ok else None,
                metrics_average=metrics_avg[i] if ok else None,
                average=average[i] if ok else None,
                n_average=n_average if ok and average[i] is not None else 0,
                batch_losses=all_losses[: int(steps_taken[i]), i].copy(),
                wall_time_s=wall,
                timings=dict(shares),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# The iterates' own tails
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class IterateSamples:
    r"""Coordinates and random projections of the iterates, recorded by :func:`record_iterates`.

    Attributes
    ----------
    steps : numpy.ndarray, shape (R,)
        The recorded steps.
    weights : numpy.ndarray, shape (R, M, n_weights)
        Single weights of ``layer`` (the same coordinates in every model), one row per recorded step.
    projections : numpy.ndarray, shape (R, M, n_projections)
        :math:`u_j^\top \operatorname{vec}(W_k)` for fixed random unit vectors :math:`u_j`.
    coordinates : numpy.ndarray
        Flat indices of the recorded weights in the layer.
    results : list of TrainResult
        One per model (diverged models have NaN rows after they diverged).
    """

    steps: np.ndarray
    weights: np.ndarray
    projections: np.ndarray
    coordinates: np.ndarray
    results: list = dataclasses.field(repr=False)

    def deviations(self, kind: str = "weights") -> np.ndarray:
        """Return samples pooled over time and models, each model's time mean removed: shape (R * M_ok, n)."""
        x = self.weights if kind == "weights" else self.projections
        ok = np.array([not r.diverged for r in self.results])
        d = x[:, ok, :] - x[:, ok, :].mean(axis=0, keepdims=True)
        return d.reshape(-1, d.shape[-1])


def record_iterates(
    models: Sequence[nn.Module],
    dataset,
    eta,
    batch_size: int,
    n_steps: int,
    *,
    last: int,
    every: int,
    layer: str = "layer1",
    n_weights: int = 4,
    n_projections: int = 4,
    seeds=None,
    data_order: str = "cycle",
    seed=0,
    device: str = "cpu",
) -> IterateSamples:
    r"""Train an ensemble and record single weights and random projections of its last iterates.

    Parameters
    ----------
    models, dataset, eta, batch_size, n_steps, seeds, data_order, device
        As in :func:`train_ensemble` (``seeds`` drive the data orders).
    last : int
        Record during the last ``last`` steps ...
    every : int
        ... every ``every`` steps (thinning, against the dependence between consecutive iterates).
    layer : str
        Which layer's weight (``"layer1"``, ...).
    n_weights, n_projections : int
        How many coordinates (drawn at random, the same in every model) and random unit directions.
    seed : int, numpy Generator or None
        Randomness of the coordinates and directions.

    Returns
    -------
    IterateSamples

    Raises
    ------
    ValueError
        Unknown ``layer``, or an argument :func:`train_ensemble` rejects.

    Notes
    -----
    This is what the theory describes: the law of the iterates :math:`\theta_k` over time and over
    runs, for a coordinate or a projection :math:`u^\top\theta_k`, rather than the spread of the
    coordinates of one averaged network (the paper's cross-sectional estimate).

    Used in: chapters/ch10_fully_connected_networks.ipynb
    """
    name = f"{layer}.weight"
    shapes = dict(models[0].named_parameters()) if models else {}
    if name not in shapes:
        raise ValueError(
            f"layer {layer!r} has no weight in these models; layers: "
            f"{sorted(n.rsplit('.', 1)[0] for n in shapes)}"
        )
    n_weights = check_int("n_weights", n_weights, low=1)
    n_projections = check_int("n_projections", n_projections, low=1)
    size = shapes[name].numel()
    rng = check_rng(seed)
    coords = np.sort(rng.choice(size, size=min(n_weights, size), replace=False))
    u = rng.standard_normal((n_projections, size))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    dev = resolve_device(device)
    u_t = torch.as_tensor(u, dtype=shapes[name].dtype, device=dev)
    idx = torch.as_tensor(coords, device=dev)
    steps, ws, ps = [], [], []

    def record(step, params):
        flat = params[name].reshape(params[name].shape[0], -1)
        steps.append(step)
        ws.append(flat[:, idx].cpu().numpy().copy())
        ps.append((flat @ u_t.T).cpu().numpy())

    res = train_ensemble(
        models,
        dataset,
        eta,
        batch_size,
        n_steps,
        n_average=1,
        eval_every=n_steps,
        seeds=seeds,
        data_order=data_order,
        device=device,
        record_every=every,
        record_last=last,
        record_fn=record,
    )
    weights, projections = np.array(ws), np.array(ps)
    for i, r in enumerate(res):  # a diverged model's rows after divergence are zeros: mark them
        if r.diverged:
            bad = np.array(steps) >= (r.diverged_at or 0)
            weights[bad, i, :] = np.nan
            projections[bad, i, :] = np.nan
    return IterateSamples(
        steps=np.array(steps), weights=weights, projections=projections, coordinates=coords, results=res
    )


# ---------------------------------------------------------------------------------------------
# Configs in, result records out (the runner's batched entry point)
# ---------------------------------------------------------------------------------------------
def _shared_key(cfg: Mapping) -> tuple:
    return tuple((k, cfg[k]) for k in DEFAULT_CONFIG if k not in ENSEMBLE_AXES)


def ensemble_groups(configs: Sequence[Mapping], max_models: int = MAX_MODELS) -> list[list[dict]]:
    """Split configs into ensembles: same everything but ``seed`` and ``eta``, at most ``max_models`` each.

    Parameters
    ----------
    configs : sequence of mapping
        Run configs (normalised here with :func:`hts_lib.nn.training.normalise_config`).
    max_models : int
        Largest ensemble (memory grows linearly with it). Configs that share everything else are split
        into the fewest ensembles of at most this size, as equal in size as possible.

    Returns
    -------
    list of list of dict
        Normalised configs, grouped; the order within a group follows the input.

    Raises
    ------
    ValueError
        An invalid config or ``max_models < 1``.

    Examples
    --------
    >>> cfgs = [{"eta": e, "batch_size": b, "seed": s} for b in (1, 5) for e in (0.01, 0.1) for s in (0, 1)]
    >>> [len(g) for g in ensemble_groups(cfgs)], [len(g) for g in ensemble_groups(cfgs, max_models=3)]
    ([4, 4], [2, 2, 2, 2])
    """
    max_models = check_int("max_models", max_models, low=1)
    if isinstance(configs, (str, bytes, Mapping)) or not hasattr(configs, "__iter__"):
        raise TypeError(f"configs must be a sequence of config mappings, got {type(configs).__name__}")
    configs = [check_mapping(f"configs[{i}]", c) for i, c in enumerate(configs)]
    groups: dict[tuple, list[dict]] = {}
    for cfg in configs:
        norm = normalise_config(cfg)
        groups.setdefault(_shared_key(norm), []).append(norm)
    out = []
    for members in groups.values():
        n_groups = math.ceil(len(members) / max_models)
        size, extra = divmod(len(members), n_groups)
        bounds = np.cumsum([0] + [size + (j < extra) for j in range(n_groups)])
        out += [members[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return out


def run_ensemble(configs: Sequence[Mapping], *, n_threads: int | None = 1) -> list[dict]:
    """Train the runs of ``configs`` as one ensemble; one result record per config.

    Parameters
    ----------
    configs : sequence of mapping
        Configs that differ only in ``seed`` and ``eta`` (:data:`ENSEMBLE_AXES`).
    n_threads : int or None
        Torch CPU threads during training.

    Returns
    -------
    list of dict
        For each config, the record :func:`hts_lib.nn.training.run_from_config` returns (same keys,
        same seeding: initialisation from ``seed``, then ``default_rng(seed).spawn(3)`` for the data
        order, the tail bootstrap and the Lanczos start), plus ``"trainer": "ensemble"``.

    Raises
    ------
    ValueError
        Configs that differ in another key, or an invalid config.

    Notes
    -----
    Training is batched (:func:`train_ensemble`); the per-layer tail indices are then computed model
    by model and the sharpness of all models together (:func:`hts_lib.nn.sharpness.ensemble_sharpness`),
    as in ``run_from_config``. ``wall_time_s`` is the ensemble's time divided by the number of models.

    Used in: chapters/ch10_fully_connected_networks.ipynb
    """
    from hts_lib.nn.data import load_dataset
    from hts_lib.nn.training import _analyse_runs, _run_record

    cfgs = [normalise_config(c) for c in configs]
    if not cfgs:
        raise ValueError("configs is empty: nothing to run")
    if any(_shared_key(c) != _shared_key(cfgs[0]) for c in cfgs):
        raise ValueError(f"configs of one ensemble may differ only in {ENSEMBLE_AXES}")
    c0 = cfgs[0]
    dev = resolve_device(c0["device"])
    ds = load_dataset(
        c0["dataset"], data_dir=c0["data_dir"], n_train=c0["n_train"], n_test=c0["n_test"], seed=0
    )
    if c0["model"] == "fc":
        kw = {"depth": c0["depth"], "width": c0["width"]}
    else:
        kw = {"width_scale": c0["width_scale"]}
    models = [build_model(c["model"], ds.input_shape, ds.n_classes, seed=c["seed"], **kw) for c in cfgs]
    streams = [np.random.default_rng(c["seed"]).spawn(3) for c in cfgs]
    results = train_ensemble(
        models,
        ds,
        [c["eta"] for c in cfgs],
        c0["batch_size"],
        c0["n_steps"],
        n_average=c0["n_average"],
        data_order=c0["data_order"],
        eval_every=c0["eval_every"],
        seeds=[s[0] for s in streams],
        device=c0["device"],
        n_threads=n_threads,
    )
    t0 = time.perf_counter()
    analyses = _analyse_runs(cfgs, models, results, ds, dev, streams, n_threads=n_threads)
    share = (time.perf_counter() - t0) / len(cfgs)
    records = []
    for cfg, model, res, (alpha, sharp, post) in zip(cfgs, models, results, analyses):
        record = _run_record(
            cfg, model, res, dev, alpha, sharp, res.wall_time_s + share, {**res.timings, **post}
        )
        records.append({**record, "trainer": "ensemble"})
    return records


def run_ensemble_sweep(
    configs: Sequence[Mapping],
    out_dir,
    *,
    max_models: int = MAX_MODELS,
    progress: bool = True,
    extra_provenance: Mapping | None = None,
    n_threads: int | None = 1,
):
    """Run a sweep through ensembles: one validated result file per run, with provenance; resumes.

    Parameters
    ----------
    configs : sequence of mapping
        The sweep (e.g. :func:`hts_lib.nn.experiments.grid_configs`).
    out_dir : str or os.PathLike
        Folder of result files ``<run_id>.json`` (created if needed), as for
        :func:`hts_lib.nn.experiments.run_sweep`.
    max_models : int
        Largest ensemble.
    progress : bool
        Print one line per ensemble.
    extra_provenance : mapping, optional
        Added to every file's ``provenance`` (e.g. the source hash of
        :func:`hts_lib.nn.results.source_hash`).
    n_threads : int or None
        Torch CPU threads (None: torch's default).

    Returns
    -------
    hts_lib.nn.experiments.SweepReport

    Notes
    -----
    Runs whose valid result file exists are skipped; an ensemble is formed from the remaining
    runs. Each result is written atomically as soon as its ensemble finishes.

    Used by ``make results`` (``python -m hts_lib.nn.ensemble``) for the shipped grids of chapters 10-12.
    """
    import sys
    from pathlib import Path

    from hts_lib.nn import experiments as ex

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    norm = [normalise_config(c) for c in configs]
    ids, todo, seen, n_skipped = [], [], set(), 0
    for c in norm:
        rid = ex.run_id(to_jsonable(c))
        if rid in seen:
            continue
        seen.add(rid)
        ids.append(rid)
        if ex._read_valid(out / f"{rid}.json", rid) is not None:
            n_skipped += 1
        else:
            todo.append(c)
    git_rev = ex._git_revision()
    n_done = 0
    for g, group in enumerate(ensemble_groups(todo, max_models=max_models)):
        started, t0 = ex._now(), time.perf_counter()
        records = run_ensemble(group, n_threads=n_threads)
        finished, wall = ex._now(), time.perf_counter() - t0
        for cfg, rec in zip(group, records):
            rid = ex.run_id(to_jsonable(cfg))
            record = {"run_id": rid, **rec}
            record["provenance"] = {
                **ex._versions(),
                "git_revision": git_rev,
                "started": started,
                "finished": finished,
                "runner_wall_time_s": round(wall / len(group), 3),
                "schema_version": ex.SCHEMA_VERSION,
                "ensemble_size": len(group),
                **dict(extra_provenance or {}),
            }
            ex.validate_result(record, source=rid)
            ex._write_result(out / f"{rid}.json", record)
            n_done += 1
        if progress:
            c = group[0]
            print(
                f"ensemble {g + 1}: {len(group)} runs of {c['model']} b={c['batch_size']} in {wall:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return ex.SweepReport(out_dir=out, run_ids=tuple(ids), n_skipped=n_skipped, n_done=n_done, failed=())


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m hts_lib.nn.ensemble --grid NAME --out DIR [--threads N] [--set KEY=VALUE]``.

    Runs a named grid of :data:`hts_lib.nn.experiments.GRIDS` through :func:`run_ensemble_sweep`,
    recording :func:`hts_lib.nn.results.source_hash` in every file's provenance.
    """
    import argparse
    import json

    from hts_lib.nn.experiments import GRIDS, grid_configs
    from hts_lib.nn.results import source_hash

    parser = argparse.ArgumentParser(prog="python -m hts_lib.nn.ensemble", description=main.__doc__)
    parser.add_argument("--grid", required=True, choices=sorted(GRIDS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-models", type=int, default=MAX_MODELS)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (JSON value; a list becomes an axis)",
    )
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    t0 = time.perf_counter()
    rep = run_ensemble_sweep(
        grid_configs(args.grid, overrides),
        args.out,
        max_models=args.max_models,
        extra_provenance={"source_hash": source_hash(), "grid": args.grid},
        n_threads=args.threads,
    )
    print(
        f"{rep.n_total} runs: {rep.n_skipped} already there, {rep.n_done} run now in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
