r"""The tail index a trained network's SGD should have, predicted from its own minibatch Hessians.

Near a minimum :math:`\theta^*`, SGD with step size :math:`\eta` and batches :math:`B_k` of ``b`` distinct
rows is, to first order, the random linear recursion

.. math:: \theta_k - \theta^* \approx (I - \eta H_{B_k})(\theta_{k-1} - \theta^*)
   - \eta\nabla L_{B_k}(\theta^*),

with :math:`H_B` the Hessian of the minibatch loss at :math:`\theta^*`. Its stationary law has tail index
:math:`\alpha`, the positive root of
:math:`h(s) = \lim_k k^{-1}\log E\|(I-\eta H_{B_k})\cdots(I-\eta H_{B_1})u\|^s` (Kesten; Goldie; the paper's
Theorem 2 for linear regression). This module estimates :math:`h`, :math:`\rho = h'(0)` and :math:`\alpha` for
any differentiable ``loss_fn`` by the population (cloning) Monte Carlo engine of the linear-regression
chapters (:func:`hts_lib.recursion.population_trace`), with the matrix :math:`M_B = I - \eta H_B` applied
through minibatch Hessian-vector products (``torch.func``: reverse-over-reverse, vmapped over walkers; no
``p x p`` matrix is ever formed), and runs the network's own SGD chains from :math:`\theta^*` to measure the
tail it predicts:

* :func:`linearised_tail_index`: the prediction, with standard errors and diagnostics
  (:class:`LinearisedTailIndex`);
* :func:`minibatch_hvp`: the batched product ``(u_i, B_i) -> u_i - eta H_{B_i} u_i`` it is built on;
* :func:`find_minimum` and :func:`check_minimum`: a verified minimum (full-batch L-BFGS; gradient norm and the
  Hessian's lowest eigenvalue by Lanczos), :class:`MinimumCheck`;
* :func:`sgd_chains_from_minimum`: many SGD chains from :math:`\theta^*` as one vmapped computation, recording
  projections of :math:`\theta_k - \theta^*` after a burn-in (:class:`ChainProjections`);
* :func:`teacher_student`, :func:`digits_mlp` and :func:`mnist_fc`: the chapter's networks (loss, initial
  parameters, data).

This module imports torch; ``import hts_lib`` does not import it.

Used in: chapters/ch13_predicting_tail_index.ipynb
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import interpolate, optimize

from hts_lib.simulate.sgd import sample_batch_indices
from hts_lib.validation import (
    check_array,
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_positive,
    check_real,
    check_rng,
)

__all__ = [
    "LinearisedTailIndex",
    "linearised_tail_index",
    "minibatch_hvp",
    "mlp_minibatch_hvp",
    "MinimumCheck",
    "find_minimum",
    "check_minimum",
    "ChainProjections",
    "sgd_chains_from_minimum",
    "teacher_student",
    "digits_mlp",
    "mnist_fc",
]

#: Search range of the orders s (as :data:`hts_lib.recursion.exact.ALPHA_MAX` caps the exact engine).
S_MIN, S_MAX = 2.0**-4, 64.0


# ----------------------------------------------------------------------------------------------
# Argument checks and flat parameter vectors
# ----------------------------------------------------------------------------------------------


def _check_problem(loss_fn, params, data):
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be a callable loss_fn(params, x, y) -> scalar tensor, got {type(loss_fn).__name__}"
        )
    if not isinstance(params, Mapping) or not params:
        raise TypeError("params must be a non-empty dict of tensors, e.g. dict(model.named_parameters())")
    for k, v in params.items():
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            raise TypeError(f"params[{k!r}] must be a floating-point torch.Tensor, got {type(v).__name__}")
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError("data must be a pair (X, y) of tensors with one row per example")
    x, y = data
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("data must hold torch tensors (X, y)")
    if x.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"data: X and y must have the same number of rows, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.shape[0] < 2:
        raise ValueError("data must hold at least two rows")
    ref = next(iter(params.values()))
    x = x.to(device=ref.device, dtype=ref.dtype if x.is_floating_point() else x.dtype)
    y = y.to(device=ref.device, dtype=ref.dtype if y.is_floating_point() else y.dtype)
    return x, y


class _Flat:
    """Flat views of a parameter dict: ``unflatten(v)`` gives a dict of views of a (..., p) tensor."""

    def __init__(self, params: Mapping[str, torch.Tensor]):
        self.names = list(params)
        self.shapes = [tuple(params[n].shape) for n in self.names]
        self.sizes = [int(params[n].numel()) for n in self.names]
        self.p = int(sum(self.sizes))
        self.point = {n: params[n].detach() for n in self.names}
        ref = self.point[self.names[0]]
        self.dtype, self.device = ref.dtype, ref.device

    def flatten(self, d: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat(
            [d[n].reshape(d[n].shape[: d[n].ndim - len(s)] + (-1,)) for n, s in zip(self.names, self.shapes)],
            dim=-1,
        )

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        lead = tuple(v.shape[:-1])
        return {
            n: t.reshape(lead + s)
            for n, t, s in zip(self.names, torch.split(v, self.sizes, dim=-1), self.shapes)
        }


def minibatch_hvp(
    loss_fn: Callable, params: Mapping[str, torch.Tensor], data, *, chunk_size: int | None = None
) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], int]:
    r"""Batched minibatch Hessian-vector products at ``params``: ``(U, idx) -> (H_{B_i} u_i)_i``.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params, x, y)``: the mean loss over the rows of a batch, a scalar tensor, written with torch
        operations (``torch.func.functional_call`` for a module).
    params : dict of str to torch.Tensor
        The point :math:`\theta^*` (not modified).
    data : (X, y)
        Training tensors; batch ``i`` is the rows ``idx[i]``.
    chunk_size : int, optional
        Walkers per vmapped call (memory: a few times ``chunk_size * p`` numbers); default
        ``min(4096, max(8, 4_000_000 // p))``.

    Returns
    -------
    (callable, int)
        ``hvp(U, idx, out=None)`` for ``U`` of shape ``(n, p)`` and integer ``idx`` of shape ``(n, b)``
        returns the ``(n, p)`` tensor of :math:`H_{B_i}u_i` (written into ``out`` when given), and ``p``.

    Raises
    ------
    TypeError, ValueError
        For a loss that is not callable, parameters that are not a dict of float tensors, or bad data.

    Notes
    -----
    :math:`H_B u = \nabla_\theta\,(u^\top\nabla L_B(\theta))|_{\theta^*}`: ``torch.func.vjp`` of
    ``torch.func.grad`` (reverse over reverse), vmapped over walkers, each with its own batch. Cost per
    walker: a few gradients of a batch of ``b`` rows. On the 118,016-parameter MNIST net at b = 16 this ran
    about 1.6 times as many products per second as forward over reverse (``torch.func.jvp`` of the gradient),
    with the same results to rounding (``benchmarks/bench_linearised.py``).

    Used in: chapters/ch13_predicting_tail_index.ipynb

    Examples
    --------
    >>> w = {"w": torch.zeros(3, dtype=torch.float64)}
    >>> X, y = torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    >>> loss = lambda p, x, t: 0.5 * ((x @ p["w"] - t) ** 2).mean()
    >>> hvp, p = minibatch_hvp(loss, w, (X, y))
    >>> hvp(torch.ones(2, 3, dtype=torch.float64), torch.tensor([[0], [2]])).tolist()   # H_B = e_i e_i^T
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    from torch.func import grad, vjp, vmap

    x_all, y_all = _check_problem(loss_fn, params, data)
    flat = _Flat(params)
    chunk_size = _chunk(chunk_size, flat.p)

    def one(v, xb, yb):
        _, pullback = vjp(grad(lambda q: loss_fn(q, xb, yb)), flat.point)
        return flat.flatten(pullback(flat.unflatten(v))[0])

    batched = vmap(one)

    def into(u, xb, yb, dest):
        dest.copy_(batched(u, xb, yb))

    return _chunked_hvp(into, x_all, y_all, chunk_size), flat.p


def _chunked_hvp(into, x_all, y_all, chunk_size: int):
    """Build ``hvp(U, idx, out=None)`` from ``into(U_part, X_part, y_part, dest_part)``, chunk by chunk."""

    def hvp(u: torch.Tensor, idx: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        out = torch.empty_like(u) if out is None else out
        for i in range(0, u.shape[0], chunk_size):
            j = idx[i : i + chunk_size]
            into(u[i : i + chunk_size], x_all[j], y_all[j], out[i : i + chunk_size])
        return out

    return hvp


_MLP_CHUNK = 16  # walkers per batched call of mlp_minibatch_hvp: the fastest of 16, 64, 256 on 2 cores


def mlp_minibatch_hvp(
    params: Mapping[str, torch.Tensor],
    data,
    *,
    activation: str,
    weight_decay: float = 0.0,
    chunk_size: int | None = None,
) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], int]:
    r"""Closed-form minibatch Hessian-vector products of a bias-free MLP with cross-entropy and weight decay.

    The same products as :func:`minibatch_hvp` for the loss of :func:`mnist_fc` (any depth), written out as
    Pearlmutter's R-operator with batched matrix products: the forward pass through the shared weights is one
    matrix product for all walkers, and only the products with each walker's direction are batched.

    Parameters
    ----------
    params : dict of str to torch.Tensor
        The weight matrices :math:`W_1, \dots, W_L` in order (all 2-D, ``W_l`` of shape
        ``(n_l, n_{l-1})``); the flat vector order is the dict's, as in :func:`minibatch_hvp`.
    data : (X, y)
        Inputs (rows flattened to ``n_0`` features) and integer class labels.
    activation : {"relu", "softplus"}
        :math:`\sigma` between layers (ReLU's second derivative is taken as 0, as autograd does).
    weight_decay : float
        :math:`\lambda \ge 0` in :math:`L = \mathrm{CE} + \frac{\lambda}{2}\|\theta\|^2`.
    chunk_size : int, optional
        Walkers per batched call (default 16, the fastest of 16, 64 and 256 measured on 2 cores).

    Returns
    -------
    (callable, int)
        ``hvp(U, idx)`` as :func:`minibatch_hvp` returns it, and ``p``.

    Raises
    ------
    TypeError, ValueError
        Parameters that are not 2-D float tensors chaining from ``n_0`` inputs, labels that are not integers,
        or ``activation`` / ``weight_decay`` out of range.

    Notes
    -----
    With :math:`z_l = h_{l-1}W_l^\top`, :math:`h_l = \sigma(z_l)`, :math:`p = \mathrm{softmax}(z_L)` and a
    direction :math:`V = (V_1, \dots, V_L)`, the R-forward pass is
    :math:`Rz_l = Rh_{l-1}W_l^\top + h_{l-1}V_l^\top`, :math:`Rh_l = \sigma'(z_l)\,Rz_l`; the backward pass
    starts from :math:`g_L = (p - e_y)/b`, :math:`Rg_L = p\odot(Rz_L - \langle p, Rz_L\rangle)/b` and gives
    :math:`(H_BV)_l = Rg_l^\top h_{l-1} + g_l^\top Rh_{l-1} + \lambda V_l`, with
    :math:`g_{l-1} = g_lW_l\odot\sigma'(z_{l-1})` and
    :math:`Rg_{l-1} = (Rg_lW_l + g_lV_l)\odot\sigma'(z_{l-1}) + g_lW_l\odot\sigma''(z_{l-1})\,Rz_{l-1}`.
    On the 118,016-parameter MNIST net at b = 16 it computes twice as many products per second as
    :func:`minibatch_hvp` (``benchmarks/bench_linearised.py``); ``tests/test_linearised.py`` checks it
    against :func:`minibatch_hvp` to rounding.

    Used in: chapters/ch13_predicting_tail_index.ipynb (through ``benchmarks/bench_linearised.py``)

    Examples
    --------
    >>> loss, p0, (x, y) = mnist_fc(n_train=50, activation="softplus", dtype=torch.float64)
    >>> fast, _ = mlp_minibatch_hvp(p0, (x, y), activation="softplus", weight_decay=0.05)
    >>> ref, _ = minibatch_hvp(loss, p0, (x, y))
    >>> u, idx = torch.randn(3, 118_016, dtype=torch.float64), torch.tensor([[0, 1], [2, 3], [4, 5]])
    >>> bool(torch.allclose(fast(u, idx), ref(u, idx)))
    True
    """
    import torch.nn.functional as F

    check_choice("activation", activation, ("relu", "softplus"))
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    chunk_size = _MLP_CHUNK if chunk_size is None else check_int("chunk_size", chunk_size, low=1)
    if not isinstance(params, Mapping) or not params:
        raise TypeError("params must be a non-empty dict of weight matrices")
    ws = []
    for k, w in params.items():
        if not isinstance(w, torch.Tensor) or not w.is_floating_point() or w.ndim != 2:
            raise TypeError(f"params[{k!r}] must be a 2-D floating-point weight matrix (bias-free MLP)")
        if ws and w.shape[1] != ws[-1].shape[0]:
            raise ValueError(
                f"params[{k!r}] has {w.shape[1]} inputs, the layer before has {ws[-1].shape[0]} outputs"
            )
        ws.append(w.detach())
    x_all, y_all = data if isinstance(data, (tuple, list)) and len(data) == 2 else (None, None)
    if not isinstance(x_all, torch.Tensor) or not isinstance(y_all, torch.Tensor):
        raise TypeError("data must be a pair (X, y) of torch tensors")
    if y_all.is_floating_point():
        raise TypeError("data: y must hold integer class labels (cross-entropy)")
    x_all = x_all.reshape(x_all.shape[0], -1).to(device=ws[0].device, dtype=ws[0].dtype)
    if x_all.shape[1] != ws[0].shape[1]:
        raise ValueError(f"data: X has {x_all.shape[1]} features per row, params expect {ws[0].shape[1]}")
    y_all = y_all.to(device=ws[0].device).long()
    sizes, shapes = [w.numel() for w in ws], [tuple(w.shape) for w in ws]

    def derivatives(z):  # sigma(z), sigma'(z), sigma''(z)
        if activation == "relu":
            return z.clamp_min(0), (z > 0).to(z.dtype), None
        sig = torch.sigmoid(z)
        return F.softplus(z), sig, sig * (1 - sig)

    def chunk(u, xb, yb, dest):  # writes H_B u of each walker into the rows of dest
        n, b = xb.shape[:2]
        vs = [v.reshape((n,) + s) for v, s in zip(torch.split(u, sizes, dim=1), shapes)]
        hs, ds, dds, zs = [xb], [], [], []  # h_l, sigma'(z_l), sigma''(z_l), R z_l
        rhs = [None]  # R h_0 = 0
        for k, (w, v) in enumerate(zip(ws, vs)):
            z = hs[-1] @ w.T
            rz = torch.bmm(hs[-1], v.transpose(1, 2))
            if rhs[-1] is not None:
                rz += rhs[-1] @ w.T
            zs.append(rz)
            if k < len(ws) - 1:
                h, d1, d2 = derivatives(z)
                hs.append(h)
                ds.append(d1)
                dds.append(d2)
                rhs.append(d1 * rz)
        p = z.softmax(dim=-1)
        g = p.scatter_add(2, yb.unsqueeze(2), torch.full_like(p[..., :1], -1.0)) / b
        rg = p * (rz - (p * rz).sum(dim=-1, keepdim=True)) / b
        blocks = torch.split(dest, sizes, dim=1)
        for k in range(len(ws) - 1, -1, -1):
            hv = torch.bmm(rg.transpose(1, 2), hs[k])
            if rhs[k] is not None:
                hv.baddbmm_(g.transpose(1, 2), rhs[k])
            blocks[k].copy_(hv.reshape(n, -1))
            if k > 0:
                gh = g @ ws[k]
                rgh = rg @ ws[k] + torch.bmm(g, vs[k])
                rg = rgh * ds[k - 1]
                if dds[k - 1] is not None:
                    rg += gh * dds[k - 1] * zs[k - 1]
                g = gh * ds[k - 1]
        if weight_decay:
            dest.add_(u, alpha=weight_decay)

    return _chunked_hvp(chunk, x_all, y_all, chunk_size), int(sum(sizes))


def _chunk(chunk_size, p: int) -> int:
    if chunk_size is None:
        return min(4096, max(8, 4_000_000 // p))
    return check_int("chunk_size", chunk_size, low=1)


def _minibatch_grads(loss_fn, flat: _Flat, x_all, y_all, idx: torch.Tensor, chunk_size: int) -> torch.Tensor:
    from torch.func import grad, vmap

    g = vmap(lambda xb, yb: flat.flatten(grad(lambda q: loss_fn(q, xb, yb))(flat.point)))
    return torch.cat(
        [
            g(x_all[idx[i : i + chunk_size]], y_all[idx[i : i + chunk_size]])
            for i in range(0, idx.shape[0], chunk_size)
        ]
    )


# ----------------------------------------------------------------------------------------------
# Population Monte Carlo with a matrix-free M
# ----------------------------------------------------------------------------------------------


@dataclass
class _Pass:
    """One population run at one order s: per-step log mean weights (T, R) and resampling statistics."""

    s: float
    log_means: np.ndarray
    ess_fraction: float
    unique_fraction: float
    log_norm_mean: np.ndarray  # (R,) mean log ||M u|| (the Lyapunov exponent when s = 0)
    n_resampled: int = 0  # resampling events (steps x replicas, burn-in included)


def _replica_means(log_means: np.ndarray) -> tuple[np.ndarray, float]:
    """Per replica, the time average of the mean weights, on a common log scale.

    Returns (m_r, ref) with ``log(m_r) + ref`` the log of replica r's time-averaged mean weight.
    """
    ref = float(log_means.max())
    return np.exp(log_means - ref).mean(axis=0), ref


def _h_pooled(log_means: np.ndarray) -> tuple[float, np.ndarray]:
    """Compute h from all replicas pooled, and the delete-one-replica (jackknife) values.

    h is the log of the mean weight over steps and replicas; returns (h, h_minus (R,)).
    """
    m, ref = _replica_means(log_means)
    r = m.size
    return float(np.log(m.mean()) + ref), np.log((m.sum() - m) / (r - 1)) + ref


def _jackknife_value(full, minus: np.ndarray):
    """Return the bias-corrected jackknife value ``R full - (R - 1) mean(minus)``.

    It removes the O(1/R) bias of a smooth function of the pooled mean (the log's Jensen bias and the root's
    curvature).
    """
    r = minus.shape[0]
    return r * np.asarray(full) - (r - 1) * np.mean(minus, axis=0)


def _jackknife_se(minus: np.ndarray) -> float:
    r = minus.size
    return float(math.sqrt((r - 1) / r * np.sum((minus - minus.mean()) ** 2)))


def _population_passes(step, start, orders, n_walkers, n_replicas, n_steps, burn_in, n_rows, b, seed) -> dict:
    """Run the population MC at ``orders`` jointly; returns ``{s: _Pass}``.

    ``step(U, idx)`` applies ``M_{B_i}`` to the rows of ``U``; ``start(idx)`` gives the unit start directions.
    The engine is :func:`hts_lib.recursion.population_trace`: every order moves walker ``j`` by the same
    batch, and the same ``seed`` gives the same batches and resampling uniforms in every call (common random
    numbers), so h is smooth in s.
    """
    from hts_lib.recursion import population_trace

    rng = np.random.default_rng(seed)
    n_tot = n_walkers * n_replicas
    u0 = start(torch.from_numpy(sample_batch_indices(n_rows, b, n_tot, seed=rng)))

    def apply_m(rng, u):  # u: (n_orders, n_tot, p); walker j of every order gets batch j
        idx = torch.from_numpy(sample_batch_indices(n_rows, b, n_tot, seed=rng))
        return step(u.reshape(-1, u.shape[2]), idx.repeat(u.shape[0], 1)).reshape(u.shape)

    tr = population_trace(
        [float(s) for s in orders],
        apply_m,
        u0,
        n_walkers=n_walkers,
        n_steps=n_steps,
        burn_in=burn_in,
        n_replicas=n_replicas,
        seed=rng,
        diagnostics=True,
    )
    return {
        float(s): _Pass(
            float(s),
            tr.log_means[:, i, :],
            float(tr.ess_fraction[i]),
            float(tr.unique_fraction[i]),
            tr.mean_log_norm[i],
            0 if s == 0 else (n_steps + burn_in) * n_replicas,
        )
        for i, s in enumerate(tr.orders)
    }


def _root(s_grid: np.ndarray, h: np.ndarray) -> tuple[float, bool]:
    """Find the root of h sampled on an increasing grid.

    A cubic spline (a parabola for three points, linear for two) through the samples and ``(0, 0)`` (h(0) = 0
    exactly), Brent's method on the sign change; linear extrapolation from the two nearest points when the
    samples do not change sign (flagged).
    """
    s_all, h_all = np.concatenate([[0.0], s_grid]), np.concatenate([[0.0], h])
    pos = np.nonzero(h > 0)[0]
    neg = np.nonzero(h < 0)[0]
    if pos.size and neg.size and neg[0] < pos[0]:
        j = int(pos[0])
        if j > 0:
            f = (
                interpolate.CubicSpline(s_all, h_all)
                if s_all.size >= 3  # three points (two orders and the origin): the parabola through them
                else (lambda z: np.interp(z, s_all, h_all))
            )
            lo, hi = float(s_grid[j - 1]), float(s_grid[j])
            if f(lo) < 0 < f(hi):
                return float(optimize.brentq(f, lo, hi, xtol=1e-10 * hi)), False
            return lo + (hi - lo) * float(-h[j - 1] / (h[j] - h[j - 1])), False
    i0, i1 = (0, 1) if (h[0] > 0) else (-2, -1)
    if s_grid.size < 2 or h[i1] == h[i0]:
        return math.nan, True
    slope = (h[i1] - h[i0]) / (s_grid[i1] - s_grid[i0])
    root = float(s_grid[i1] - h[i1] / slope)
    return (root if root > 0 else math.nan), True


# ----------------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearisedTailIndex:
    r"""The linearised prediction of the tail index at one ``(eta, batch_size)``.

    Attributes
    ----------
    alpha, alpha_se : float
        Root of the Monte Carlo :math:`h` (all replicas pooled) and its delete-one-replica jackknife standard
        error. ``nan`` when no root was found (``rho >= 0``: predicted
        divergence, or ``alpha < S_MIN``); ``inf`` when ``h(S_MAX) < 0``.
    rho, rho_se : float
        Top Lyapunov exponent :math:`\rho = h'(0)` of the products (renormalised products, unweighted
        walkers), with its replica standard error. ``rho >= 0`` predicts that SGD leaves the basin.
    h2, h2_se : float
        :math:`h(2)`: the linear-stability (second-moment) test, ``h2 < 0`` iff ``alpha > 2``.
    s_grid, h, h_se : ndarray
        The orders of the final pass, :math:`h(s)` there (replicas pooled) and its jackknife standard errors.
    alpha_jackknife : ndarray
        The roots with one replica left out (their spread gives ``alpha_se``).
    alpha_halves : tuple of float
        Alpha from the first and from the second half of the recorded steps (convergence in k).
    alpha_half_population, population_bias, population_bias_se : float
        With ``population_check=True``: alpha from populations half as large, and the estimated finite-
        population bias of ``alpha`` (``alpha_half_population - alpha``, since the bias is proportional
        to 1 / n_walkers) with its standard error; ``nan`` otherwise.
    eta, batch_size, n_params, n_rows : float, int, int, int
        The problem.
    n_walkers, n_replicas, n_steps, burn_in : int
        Population size per replica, replicas, recorded steps and burn-in steps of each pass.
    resampling_steps : int
        Resampling events in all passes (one per step and replica of every weighted pass).
    ess_fraction, unique_fraction : float
        At the order closest to alpha: mean effective sample size of the weights, and mean fraction of
        distinct walkers kept by each resampling, both relative to ``n_walkers``.
    hvp_count : int
        Minibatch Hessian-vector products used.
    searched : tuple of (float, float)
        ``(s, h(s))`` of the search passes that bracketed the root.
    flags : tuple of str
        Warnings (``"divergent"``, ``"extrapolated"``, ``"alpha < S_MIN"``, ``"alpha > S_MAX"``) and notes
        (``"grid moved to [lo, hi]"``: the final grid did not change sign and was moved one bracket along).
    wall_s : float
        Wall time.
    """

    alpha: float
    alpha_se: float
    rho: float
    rho_se: float
    h2: float
    h2_se: float
    s_grid: np.ndarray
    h: np.ndarray
    h_se: np.ndarray
    alpha_jackknife: np.ndarray
    alpha_halves: tuple[float, float]
    eta: float
    batch_size: int
    n_params: int
    n_rows: int
    n_walkers: int
    n_replicas: int
    n_steps: int
    burn_in: int
    resampling_steps: int
    ess_fraction: float
    unique_fraction: float
    hvp_count: int
    searched: tuple = ()
    alpha_half_population: float = math.nan
    population_bias: float = math.nan
    population_bias_se: float = math.nan
    flags: tuple[str, ...] = ()
    wall_s: float = 0.0
    method: str = field(default="population Monte Carlo on minibatch Hessian-vector products")

    def interval(self, z: float = 3.0) -> tuple[float, float]:
        """``(alpha - z * alpha_se, alpha + z * alpha_se)``."""
        return self.alpha - z * self.alpha_se, self.alpha + z * self.alpha_se


def _alpha_from_passes(passes: list[_Pass], which: slice | None = None):
    """Root of the pooled h over the orders of ``passes`` and its delete-one-replica roots."""
    s = np.array([p.s for p in passes])
    order = np.argsort(s)
    s = s[order]
    pooled = [_h_pooled(passes[i].log_means[which] if which else passes[i].log_means) for i in order]
    h = np.array([p[0] for p in pooled])
    h_minus = np.stack([p[1] for p in pooled])  # (n_s, R)
    alpha, extrap = _root(s, h)
    flags = {"extrapolated"} if extrap else set()
    minus = np.array([_root(s, h_minus[:, r])[0] for r in range(h_minus.shape[1])])
    alpha_j = float(_jackknife_value(alpha, minus)) if np.all(np.isfinite(minus)) else alpha
    return s, _jackknife_value(h, h_minus.T), h_minus, alpha_j, minus, flags


def linearised_tail_index(
    loss_fn: Callable,
    params: Mapping[str, torch.Tensor],
    data,
    eta: float,
    batch_size: int,
    *,
    seed=0,
    n_walkers: int = 64,
    n_replicas: int = 8,
    n_steps: int = 100,
    burn_in: int = 50,
    n_grid: int = 3,
    s_grid=None,
    search_fraction: float = 0.25,
    population_check: bool = False,
    start: str = "gradient",
    chunk_size: int | None = None,
    hvp: Callable | None = None,
) -> LinearisedTailIndex:
    r"""Predict the tail index of SGD near ``params`` from minibatch Hessian-vector products.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params, x, y)``: mean loss over the rows of a batch, a scalar tensor built from torch
        operations (e.g. with ``torch.func.functional_call(model, params, (x,))``).
    params : dict of str to torch.Tensor
        The minimum :math:`\theta^*` (``dict(model.named_parameters())``); not modified.
    data : (X, y)
        Training tensors; SGD draws batches of ``batch_size`` distinct rows uniformly.
    eta : float
        Step size, ``eta > 0``.
    batch_size : int
        Batch size ``1 <= b <= n_rows``.
    seed : int, numpy Generator or None
        Randomness (batches, start directions, resampling); a fixed seed gives a fixed result.
    n_walkers : int
        Walkers per replica (>= 2); the finite-population bias is :math:`O(1/n_{walkers})`.
    n_replicas : int
        Independent populations (>= 2); the standard errors are their spread.
    n_steps, burn_in : int
        Recorded steps and burn-in steps of each population pass.
    n_grid : int
        Orders of the final pass (>= 2), spread over the bracket found by the search.
    s_grid : array_like, optional
        Orders of the final pass given directly (positive, increasing); skips the search.
    search_fraction : float
        Fraction of walkers and steps used by the search passes, in (0, 1].
    population_check : bool
        Also run the final pass with ``n_walkers // 2`` walkers per replica to estimate the finite-population
        bias (costs half a final pass more).
    start : {"gradient", "random"}
        Start directions: normalised minibatch gradients at ``params`` (the directions SGD's noise excites;
        default) or isotropic random directions.
    chunk_size : int, optional
        Walkers per vmapped Hessian-vector call (see :func:`minibatch_hvp`).
    hvp : callable, optional
        ``hvp(U, idx)`` (optionally ``hvp(U, idx, out=...)``, writing into ``out``): the batched minibatch
        Hessian-vector products to use instead of :func:`minibatch_hvp`'s, e.g. the closed form
        :func:`mlp_minibatch_hvp` of the same loss (faster). It must compute the same products as ``loss_fn``
        would; ``loss_fn`` still gives the start directions.

    Returns
    -------
    LinearisedTailIndex

    Raises
    ------
    TypeError
        ``loss_fn`` not callable, ``params`` not a dict of float tensors, ``data`` not a pair of tensors.
    ValueError
        An argument outside its range (the message names it).

    Notes
    -----
    *Population Monte Carlo.* :math:`e^{h(s)}` is the top eigenvalue of
    :math:`P_s f(u) = E[\|M_B u\|^s f(M_B u / \|M_B u\|)]`, :math:`M_B = I - \eta H_B`. Each replica moves
    ``n_walkers`` unit vectors by independent :math:`M_{B_i}` (one batch per walker), weights them by
    :math:`\|M_{B_i}u_i\|^s`, records the mean weight and resamples (systematic resampling);
    :math:`\hat h(s) = \log` of the time average of the mean weights, as in
    :func:`hts_lib.recursion.moment_function_mc`. The orders are searched by doubling from ``s = 2``
    (``search_fraction`` of the population), and the final pass evaluates ``n_grid`` orders spanning the
    bracket with common random numbers; each replica's root comes from a spline through ``(0, 0)`` and its
    samples. :math:`\rho` is the unweighted mean of :math:`\log\|M u\|` (``s = 0``), :math:`h(2)` a pass at
    ``s = 2`` (the linear-stability test: :math:`h(2) < 0` iff the stationary variance is finite).

    *Start directions.* A network's Hessians share a large (near-)null space in which :math:`M_B \approx I`;
    isotropic start directions would spend most walkers there. The iterates started at the minimum live in
    the smallest subspace that holds the noise :math:`\nabla L_B(\theta^*)` and is invariant under the
    :math:`M_B`; starting the walkers at normalised minibatch gradients keeps the population in it.

    *Finite-population bias.* At stationarity the mean weight estimates :math:`e^{h(s)}` with a bias of order
    ``1 / n_walkers`` from the finite population's law of directions. It vanishes for isotropic data (the
    weight's law does not depend on the direction: the least-squares validation) and is estimated by
    ``population_check`` (two population sizes; the bias is proportional to ``1 / n_walkers``, so
    ``alpha_half_population - alpha`` estimates the bias of ``alpha``). Averaging the mean weights before the
    logarithm avoids a Jensen bias of order ``Var / n_walkers`` per step. Well above the root the weights
    :math:`\|M_Bu\|^s` become so skewed that the mean weight of a few hundred walkers is biased low and the
    replicas' spread understates its error (least squares, :math:`\alpha = 7.75`: :math:`h(9)` off by up to 5
    standard errors); the orders of the final pass bracket the root, where this does not arise. Convergence
    in k: ``alpha_halves`` compares the first and second halves of the recorded steps.

    Used in: chapters/ch13_predicting_tail_index.ipynb

    Examples
    --------
    >>> X = torch.randn(20_000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> y = X @ torch.ones(3, dtype=torch.float64)
    >>> loss = lambda p, x, t: 0.5 * ((x @ p["w"] - t) ** 2).mean()
    >>> est = linearised_tail_index(loss, {"w": torch.ones(3, dtype=torch.float64)}, (X, y), 0.5, 1,
    ...                             start="random", n_walkers=32, n_steps=60, burn_in=20)
    >>> from hts_lib.recursion import tail_index
    >>> abs(est.alpha - tail_index(0.5, 1, 3)) < 4 * est.alpha_se + 0.05 * est.alpha
    True
    """
    t_start = time.perf_counter()
    x_all, y_all = _check_problem(loss_fn, params, data)
    eta = check_positive("eta", eta)
    n_rows = int(x_all.shape[0])
    b = check_int("batch_size", batch_size, low=1, high=n_rows)
    n_walkers = check_int("n_walkers", n_walkers, low=2)
    n_replicas = check_int("n_replicas", n_replicas, low=2)
    n_steps = check_int("n_steps", n_steps, low=2)
    burn_in = check_int("burn_in", burn_in, low=0)
    n_grid = check_int("n_grid", n_grid, low=2)
    search_fraction = check_real("search_fraction", search_fraction, low=0.0, high=1.0, low_open=True)
    check_choice("start", start, ("gradient", "random"))
    check_bool("population_check", population_check)
    if s_grid is not None:
        s_grid = check_array("s_grid", s_grid, ndim=1, min_size=2)
        if (
            s_grid.size < 2
            or not np.all(np.isfinite(s_grid))
            or np.any(s_grid <= 0)
            or np.any(np.diff(s_grid) <= 0)
        ):
            raise ValueError("s_grid must hold at least two positive, increasing orders")
    if population_check and n_walkers < 4:
        raise ValueError("n_walkers must be >= 4 with population_check=True")
    rng = check_rng(seed)
    seeds = rng.integers(2**63, size=5)

    flat = _Flat(params)
    chunk_size = _chunk(chunk_size, flat.p)
    if hvp is None:
        hvp, p = minibatch_hvp(loss_fn, params, (x_all, y_all), chunk_size=chunk_size)
    else:
        check_callable("hvp", hvp)
        p = flat.p
    count = [0]

    takes_out = "out" in inspect.signature(hvp).parameters
    buffer: list[torch.Tensor] = []

    def step(u, idx):  # u - eta H_B u, in a buffer reused from step to step
        count[0] += u.shape[0]
        if takes_out:
            if not buffer or buffer[0].shape != u.shape:
                buffer[:] = [torch.empty_like(u)]
            v = hvp(u, idx.to(x_all.device), out=buffer[0])
        else:
            v = hvp(u, idx.to(x_all.device))
        return v.mul_(-eta).add_(u)

    start_rng = torch.Generator(device="cpu").manual_seed(int(seeds[4]) % (2**63))

    def start_dirs(idx):
        if start == "gradient":
            g = _minibatch_grads(loss_fn, flat, x_all, y_all, idx.to(x_all.device), chunk_size)
            nrm = torch.linalg.vector_norm(g, dim=1, keepdim=True)
            if bool(torch.all(nrm > 0)):
                return g / nrm
        z = torch.randn(idx.shape[0], p, generator=start_rng, dtype=flat.dtype).to(flat.device)
        return z / torch.linalg.vector_norm(z, dim=1, keepdim=True)

    def run(orders, walkers, steps, burn, sd):
        return _population_passes(step, start_dirs, orders, walkers, n_replicas, steps, burn, n_rows, b, sd)

    # rho: unweighted walkers (no resampling); the search population suffices (no population bias at s = 0)
    w_search = max(2, int(round(search_fraction * n_walkers)))
    st_search = max(2, int(round(search_fraction * n_steps)))
    rho_pass = run([0.0], w_search, n_steps, burn_in, seeds[0])[0.0]
    rho_r = rho_pass.log_norm_mean
    rho, rho_se = float(rho_r.mean()), float(rho_r.std(ddof=1) / math.sqrt(n_replicas))

    final = run([2.0], n_walkers, n_steps, burn_in, seeds[1])
    h2, h2_minus = _h_pooled(final[2.0].log_means)
    h2, h2_se = float(_jackknife_value(h2, h2_minus)), _jackknife_se(h2_minus)
    flags: list[str] = []
    searched = [(2.0, h2)]
    if s_grid is None:
        lo, hi = (2.0, None) if h2 < 0 else (None, 2.0)
        s_cur = 2.0
        while (hi is None and s_cur < S_MAX) or (lo is None and s_cur > S_MIN):
            s_cur = s_cur * 2.0 if hi is None else s_cur / 2.0
            hv = _h_pooled(run([s_cur], w_search, st_search, burn_in, seeds[2])[s_cur].log_means)[0]
            searched.append((s_cur, hv))
            if hi is None:
                lo, hi = (s_cur, None) if hv < 0 else (lo, s_cur)
            else:
                lo, hi = (s_cur, hi) if hv < 0 else (None, s_cur)
        if hi is None:
            flags.append("alpha > S_MAX")
        if lo is None:
            flags.append("alpha < S_MIN")
        grid = np.linspace(lo, hi, n_grid) if (lo is not None and hi is not None) else None
    else:
        grid = s_grid
    if rho >= 0 or ("alpha < S_MIN" in flags and rho + 2 * rho_se >= 0):
        flags.append("divergent")
    common = dict(
        rho=rho,
        rho_se=rho_se,
        h2=h2,
        h2_se=h2_se,
        eta=eta,
        batch_size=b,
        n_params=p,
        n_rows=n_rows,
        n_walkers=n_walkers,
        n_replicas=n_replicas,
        n_steps=n_steps,
        burn_in=burn_in,
        searched=tuple(searched),
    )
    if grid is None:
        return LinearisedTailIndex(
            alpha=math.inf if "alpha > S_MAX" in flags else math.nan,
            alpha_se=math.nan,
            s_grid=np.array([2.0]),
            h=np.array([h2]),
            h_se=np.array([h2_se]),
            alpha_jackknife=np.array([]),
            alpha_halves=(math.nan, math.nan),
            resampling_steps=_n_resampled([rho_pass, *final.values()]),
            ess_fraction=final[2.0].ess_fraction,
            unique_fraction=final[2.0].unique_fraction,
            hvp_count=count[0],
            flags=tuple(flags),
            wall_s=time.perf_counter() - t_start,
            **common,
        )
    for attempt in range(3):
        missing = [float(s) for s in grid if float(s) not in final]
        if missing:  # one joint pass over the new orders, with the batches of the s = 2 pass
            final.update(run(missing, n_walkers, n_steps, burn_in, seeds[1]))
        passes = [final[float(s)] for s in grid]
        s_arr, h, h_minus, alpha, minus, rflags = _alpha_from_passes(passes)
        # the search's small population can misplace the bracket when h is near 0 at a search point: if the
        # final grid does not change sign, move it one bracket along (at most twice)
        if s_grid is not None or attempt == 2 or not (np.all(h < 0) or np.all(h > 0)):
            break
        lo, hi = (grid[-1], 2.0 * grid[-1]) if np.all(h < 0) else (grid[0] / 2.0, grid[0])
        if hi > S_MAX or lo < S_MIN:
            break
        flags.append(f"grid moved to [{lo:g}, {hi:g}]")
        grid = np.linspace(lo, hi, n_grid)
    flags += sorted(rflags)
    alpha_se = _jackknife_se(minus)
    if "divergent" in flags or not alpha > 0:
        alpha, alpha_se = math.nan, math.nan
    half = n_steps // 2
    halves = tuple(_alpha_from_passes(passes, sl)[3] for sl in (slice(0, half), slice(half, None)))
    extra, small = {}, []
    if population_check:
        small = list(run(s_arr, n_walkers // 2, n_steps, burn_in, seeds[3]).values())
        _, _, _, a_half, minus_half, _ = _alpha_from_passes(small)
        extra = dict(
            alpha_half_population=a_half,
            population_bias=a_half - alpha,
            population_bias_se=math.hypot(_jackknife_se(minus_half), alpha_se),
        )
    near = passes[int(np.argmin(np.abs(s_arr - alpha)))] if math.isfinite(alpha) else passes[-1]
    return LinearisedTailIndex(
        alpha=alpha,
        alpha_se=alpha_se,
        s_grid=s_arr,
        h=h,
        h_se=np.array([_jackknife_se(h_minus[i]) for i in range(s_arr.size)]),
        alpha_jackknife=minus,
        alpha_halves=halves,
        resampling_steps=_n_resampled([rho_pass, *final.values(), *small]),
        ess_fraction=near.ess_fraction,
        unique_fraction=near.unique_fraction,
        hvp_count=count[0],
        flags=tuple(flags),
        wall_s=time.perf_counter() - t_start,
        **common,
        **extra,
    )


def _n_resampled(passes: list[_Pass]) -> int:
    return int(sum(p.n_resampled for p in passes))


# ----------------------------------------------------------------------------------------------
# A verified minimum
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinimumCheck:
    r"""Evidence that a point is a minimum of the full-batch loss.

    Attributes
    ----------
    loss : float
        Full-batch loss :math:`L(\theta^*)`.
    grad_norm : float
        :math:`\|\nabla L(\theta^*)\|`.
    lowest_eigenvalue, top_eigenvalue : float
        Extreme eigenvalues of the full-batch Hessian (Lanczos, ARPACK; exact below ``dense_limit``).
    converged : bool
        Whether both Lanczos runs met their tolerance.
    n_params : int
        Number of parameters.
    method : str
        ``"lanczos"`` or ``"dense"``.
    top_eigenvector : ndarray
        Unit eigenvector of ``top_eigenvalue`` (float64, flat in the order of ``params``).
    """

    loss: float
    grad_norm: float
    lowest_eigenvalue: float
    top_eigenvalue: float
    converged: bool
    n_params: int
    method: str
    top_eigenvector: np.ndarray = field(default=None, repr=False)

    def is_minimum(self, grad_tol: float, eig_tol: float) -> bool:
        """``grad_norm <= grad_tol`` and ``lowest_eigenvalue >= -eig_tol`` (and Lanczos converged)."""
        return bool(self.converged and self.grad_norm <= grad_tol and self.lowest_eigenvalue >= -eig_tol)


def _full_loss_and_grad(loss_fn, flat: _Flat, x_all, y_all, theta: torch.Tensor, chunk: int = 8192):
    """Full-batch mean loss and gradient at the flat point ``theta`` (row-weighted over chunks)."""
    from torch.func import grad_and_value

    n = x_all.shape[0]
    g_tot, l_tot = torch.zeros_like(theta), 0.0
    for i in range(0, n, chunk):
        xb, yb = x_all[i : i + chunk], y_all[i : i + chunk]
        g, val = grad_and_value(lambda t: loss_fn(flat.unflatten(t), xb, yb))(theta)
        g_tot += (xb.shape[0] / n) * g
        l_tot += (xb.shape[0] / n) * float(val)
    return l_tot, g_tot


def check_minimum(
    loss_fn: Callable,
    params: Mapping[str, torch.Tensor],
    data,
    *,
    tol: float = 1e-6,
    max_hvp: int = 2000,
    seed=0,
    dense_limit: int = 0,
    ncv: int = 40,
) -> MinimumCheck:
    r"""Gradient norm and extreme Hessian eigenvalues of the full-batch loss at ``params``.

    Parameters
    ----------
    loss_fn, params, data
        As in :func:`linearised_tail_index` (``params`` is not modified).
    tol : float
        Relative tolerance of ARPACK, in (0, 0.1].
    max_hvp : int
        Budget of Hessian-vector products per eigenvalue.
    seed : int, numpy Generator or None
        Lanczos start vectors.
    dense_limit : int
        Form the Hessian and diagonalise it exactly when the number of parameters is at most this.
    ncv : int
        Lanczos vectors kept between ARPACK's restarts (>= 3; at most ``p - 1`` are used). More help when the
        lowest eigenvalues are clustered, as a weight decay's :math:`\lambda` makes them.

    Returns
    -------
    MinimumCheck

    Raises
    ------
    TypeError, ValueError
        As :func:`linearised_tail_index` for the problem; ``tol`` or ``max_hvp`` out of range.

    Notes
    -----
    A point is a (local) minimum when :math:`\nabla L = 0` and :math:`\nabla^2 L \succeq 0` (and strictly when
    the Hessian is positive definite). The lowest eigenvalue is ARPACK's ``which="SA"`` on the operator
    :math:`v \mapsto H v` (full-batch products), the top one ``which="LA"``.

    Used in: chapters/ch13_predicting_tail_index.ipynb
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    x_all, y_all = _check_problem(loss_fn, params, data)
    tol = check_real("tol", tol, low=0.0, high=0.1, low_open=True)
    max_hvp = check_int("max_hvp", max_hvp, low=1)
    dense_limit = check_int("dense_limit", dense_limit, low=0)
    ncv = check_int("ncv", ncv, low=3)
    rng = check_rng(seed)
    flat = _Flat(params)
    theta = flat.flatten(flat.point)
    loss, g = _full_loss_and_grad(loss_fn, flat, x_all, y_all, theta)
    hvp, p = minibatch_hvp(loss_fn, params, (x_all, y_all), chunk_size=1)
    all_rows = torch.arange(x_all.shape[0], device=x_all.device)[None, :]

    def full_hvp(v: np.ndarray) -> np.ndarray:
        u = torch.as_tensor(np.ascontiguousarray(v).reshape(1, -1), dtype=flat.dtype, device=flat.device)
        return hvp(u, all_rows)[0].detach().to("cpu", torch.float64).numpy()

    if p <= dense_limit:
        h = np.stack([full_hvp(e) for e in np.eye(p)])
        lam, vec = np.linalg.eigh(0.5 * (h + h.T))
        return MinimumCheck(
            loss,
            float(torch.linalg.vector_norm(g)),
            float(lam[0]),
            float(lam[-1]),
            True,
            p,
            "dense",
            vec[:, -1],
        )
    op = LinearOperator((p, p), matvec=full_hvp, dtype=np.float64)
    ncv = min(p - 1, ncv)
    out, vecs, ok = [], [], True
    for which in ("SA", "LA"):
        try:
            lam, vec = eigsh(
                op,
                k=1,
                which=which,
                tol=tol,
                ncv=ncv,
                maxiter=max(1, max_hvp // ncv),
                v0=rng.standard_normal(p),
            )
            out.append(float(lam[0]))
            vecs.append(vec[:, 0])
        except ArpackNoConvergence as exc:
            ok = False
            out.append(float(exc.eigenvalues[0]) if len(exc.eigenvalues) else math.nan)
            vecs.append(exc.eigenvectors[:, 0] if len(exc.eigenvalues) else None)
    return MinimumCheck(loss, float(torch.linalg.vector_norm(g)), out[0], out[1], ok, p, "lanczos", vecs[1])


def find_minimum(
    loss_fn: Callable,
    params: Mapping[str, torch.Tensor],
    data,
    *,
    max_iter: int = 2000,
    grad_tol: float = 1e-7,
) -> dict[str, torch.Tensor]:
    r"""Minimise the full-batch loss from ``params`` by L-BFGS (strong Wolfe line search).

    Parameters
    ----------
    loss_fn, params, data
        As in :func:`linearised_tail_index`; ``params`` is the start and is not modified.
    max_iter : int
        L-BFGS iterations.
    grad_tol : float
        Stop when the full-batch gradient's largest entry falls below this.

    Returns
    -------
    dict of str to torch.Tensor
        The minimiser (new tensors; check it with :func:`check_minimum`).

    Raises
    ------
    TypeError, ValueError
        As :func:`linearised_tail_index` for the problem; ``max_iter`` or ``grad_tol`` out of range.

    Used in: chapters/ch13_predicting_tail_index.ipynb
    """
    x_all, y_all = _check_problem(loss_fn, params, data)
    max_iter = check_int("max_iter", max_iter, low=1)
    grad_tol = check_positive("grad_tol", grad_tol)
    flat = _Flat(params)
    theta = flat.flatten(flat.point).clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [theta],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=grad_tol,
        tolerance_change=0.0,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss, g = _full_loss_and_grad(loss_fn, flat, x_all, y_all, theta.detach())
        theta.grad = g
        return torch.tensor(loss, dtype=flat.dtype)

    opt.step(closure)
    return {k: v.detach().clone() for k, v in flat.unflatten(theta.detach()).items()}


# ----------------------------------------------------------------------------------------------
# SGD chains started at the minimum
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainProjections:
    r"""Projections of :math:`\theta_k - \theta^*` recorded along many SGD chains.

    Attributes
    ----------
    projections : dict of str to ndarray
        For each named direction, an array ``(n_records, n_chains)`` of :math:`\langle v, \theta_k -
        \theta^*\rangle` at the recorded steps (``nan`` after a chain diverged).
    norms : ndarray
        :math:`\|\theta_k - \theta^*\|` at the recorded steps, ``(n_records, n_chains)``.
    steps : ndarray
        The recorded steps.
    diverged : ndarray of bool
        Per chain: whether :math:`\|\theta_k - \theta^*\|` exceeded ``max_norm`` or became non-finite.
    eta, batch_size, n_chains, n_steps, burn_in, thin : float and ints
        The run.
    wall_s : float
        Wall time.
    """

    projections: dict
    norms: np.ndarray
    steps: np.ndarray
    diverged: np.ndarray
    eta: float
    batch_size: int
    n_chains: int
    n_steps: int
    burn_in: int
    thin: int
    wall_s: float

    def samples(self, name: str) -> np.ndarray:
        """All finite recorded values of one projection (chains and times pooled)."""
        x = self.projections[name].ravel()
        return x[np.isfinite(x)]


def sgd_chains_from_minimum(
    loss_fn: Callable,
    params: Mapping[str, torch.Tensor],
    data,
    eta: float,
    batch_size: int,
    directions: Mapping[str, object],
    *,
    n_chains: int = 256,
    n_steps: int = 2000,
    burn_in: int = 500,
    thin: int = 10,
    seed=0,
    max_norm: float = 1e3,
    linearised: bool = False,
) -> ChainProjections:
    r"""Run ``n_chains`` SGD chains from ``params`` as one vmapped computation and record projections.

    Parameters
    ----------
    loss_fn, params, data, eta, batch_size
        As in :func:`linearised_tail_index`; ``params`` (the minimum) is not modified.
    directions : dict of str to (int or tensor)
        What to record: an int ``i`` records the single parameter ``i`` of the flat vector; a length-``p``
        tensor ``v`` records :math:`\langle v, \theta_k - \theta^*\rangle`.
    n_chains : int
        Independent chains (each draws its own batches).
    n_steps, burn_in, thin : int
        Steps in all, steps before the first record, steps between records.
    seed : int, numpy Generator or None
        Batches.
    max_norm : float
        A chain with :math:`\|\theta_k - \theta^*\| >` ``max_norm`` (or a non-finite value) is marked diverged
        and frozen.
    linearised : bool
        Run the linearised recursion instead of the network: the gradient is replaced by
        :math:`\nabla L_B(\theta^*) + H_B(\theta - \theta^*)` (same batches), which separates what the
        linearisation predicts from what the network's nonlinearity does.

    Returns
    -------
    ChainProjections

    Raises
    ------
    TypeError, ValueError
        Bad problem or ranges (the message names the argument).

    Notes
    -----
    Each chain runs :math:`\theta_k = \theta_{k-1} - \eta\nabla L_{B_k}(\theta_{k-1})` on the network itself
    (not its linearisation), with batches of ``batch_size`` distinct rows drawn uniformly and independently at
    every step, the law assumed by :func:`linearised_tail_index`. The gradients of all chains are one
    ``torch.func.vmap`` of ``grad`` over the stacked parameters.

    Used in: chapters/ch13_predicting_tail_index.ipynb
    """
    from torch.func import grad, vmap

    x_all, y_all = _check_problem(loss_fn, params, data)
    eta = check_positive("eta", eta)
    n_rows = int(x_all.shape[0])
    b = check_int("batch_size", batch_size, low=1, high=n_rows)
    n_chains = check_int("n_chains", n_chains, low=1)
    n_steps = check_int("n_steps", n_steps, low=1)
    burn_in = check_int("burn_in", burn_in, low=0, high=n_steps - 1)
    thin = check_int("thin", thin, low=1)
    max_norm = check_positive("max_norm", max_norm)
    rng = check_rng(seed)
    flat = _Flat(params)
    if not isinstance(directions, Mapping) or not directions:
        raise TypeError("directions must be a non-empty dict of name -> int index or length-p tensor")
    names, idx_dirs, vecs = [], [], []
    for k, v in directions.items():
        names.append(k)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            idx_dirs.append((k, check_int(f"directions[{k!r}]", int(v), low=0, high=flat.p - 1)))
        elif isinstance(v, torch.Tensor) and v.shape == (flat.p,):
            vecs.append((k, v.to(device=flat.device, dtype=flat.dtype)))
        else:
            raise ValueError(f"directions[{k!r}] must be an int index or a tensor of shape ({flat.p},)")
    vmat = torch.stack([v for _, v in vecs], dim=1) if vecs else None
    theta0 = flat.flatten(flat.point)
    theta = theta0.expand(n_chains, -1).clone()
    if not isinstance(linearised, bool):
        raise TypeError("linearised must be True or False")
    if linearised:
        from torch.func import jvp

        def lin_grad(t, xb, yb):
            g0, hd = jvp(grad(lambda q: loss_fn(flat.unflatten(q), xb, yb)), (theta0,), (t - theta0,))
            return g0 + hd

        gfun = vmap(lin_grad)
    else:
        gfun = vmap(lambda t, xb, yb: grad(lambda q: loss_fn(flat.unflatten(q), xb, yb))(t))
    rec_steps = np.arange(burn_in + thin, n_steps + 1, thin)
    out = {k: np.empty((rec_steps.size, n_chains)) for k in names}
    norms = np.empty((rec_steps.size, n_chains))
    dead = torch.zeros(n_chains, dtype=torch.bool, device=flat.device)
    t0 = time.perf_counter()
    r = 0
    for k in range(1, n_steps + 1):
        idx = torch.from_numpy(sample_batch_indices(n_rows, b, n_chains, seed=rng)).to(x_all.device)
        theta = theta - eta * gfun(theta, x_all[idx], y_all[idx])
        if k % thin == 0 or k == n_steps:
            diff = theta - theta0
            nrm = torch.linalg.vector_norm(diff, dim=1)
            bad = ~torch.isfinite(nrm) | (nrm > max_norm)
            if bool(bad.any()):
                dead |= bad
                theta = torch.where(dead[:, None], theta0, theta)
                diff = torch.where(dead[:, None], torch.full_like(diff, math.nan), diff)
                nrm = torch.where(dead, torch.full_like(nrm, math.nan), nrm)
            if r < rec_steps.size and k == rec_steps[r]:
                norms[r] = nrm.double().cpu().numpy()
                for name, i in idx_dirs:
                    out[name][r] = diff[:, i].double().cpu().numpy()
                if vmat is not None:
                    pr = (diff @ vmat).double().cpu().numpy()
                    for j, (name, _) in enumerate(vecs):
                        out[name][r] = pr[:, j]
                r += 1
    return ChainProjections(
        out,
        norms,
        rec_steps,
        dead.cpu().numpy(),
        eta,
        b,
        n_chains,
        n_steps,
        burn_in,
        thin,
        time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------------------------
# The chapter's two networks
# ----------------------------------------------------------------------------------------------


def _tanh_mlp(p: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(x @ p["w1"].T + p["b1"]) @ p["w2"].T + p["b2"])[..., 0]


def teacher_student(
    n_rows: int = 1000,
    dim: int = 4,
    width: int = 2,
    teacher_width: int | None = None,
    noise: float = 0.3,
    seed=0,
    dtype=torch.float64,
):
    r"""Build a tanh MLP student, squared loss, targets from a smaller tanh teacher plus label noise.

    Parameters
    ----------
    n_rows, dim : int
        Training rows and input dimension (inputs i.i.d. :math:`N(0, I)`).
    width, teacher_width : int
        Hidden units of the student and of the teacher (both with biases); the teacher's default is ``width``,
        and the student then starts at the teacher plus a small perturbation (its minimum is the teacher's
        neighbour, not a far, possibly degenerate one). noise : float Standard deviation of the Gaussian label
        noise (> 0: the minimum does not interpolate, so the minibatch gradients at it are not zero and SGD
        keeps moving). seed : int Data, teacher and the student's initialisation. dtype : torch.dtype Floating
        type of everything.

    Returns
    -------
    (loss_fn, params, data)
        ``loss_fn(params, x, y) = mean((f(x) - y)^2) / 2``, the student's initial parameters (a dict), and
        ``(X, y)``.

    Notes
    -----
    The student has ``(dim + 2) * width + 1`` parameters, fewer than ``n_rows``, tanh has no continuous
    symmetry (only sign flips and permutations of hidden units), and the label noise keeps the residuals away
    from zero, so a minimum found by :func:`find_minimum` is isolated and its Hessian positive definite;
    checked by :func:`check_minimum`.

    Used in: chapters/ch13_predicting_tail_index.ipynb
    """
    n_rows = check_int("n_rows", n_rows, low=2)
    dim = check_int("dim", dim, low=1)
    width = check_int("width", width, low=1)
    teacher_width = width if teacher_width is None else check_int("teacher_width", teacher_width, low=1)
    noise = check_positive("noise", noise)
    g = torch.Generator().manual_seed(int(check_rng(seed).integers(2**62)))

    def init(w):
        return {
            "w1": torch.randn(w, dim, generator=g, dtype=dtype) / math.sqrt(dim),
            "b1": 0.1 * torch.randn(w, generator=g, dtype=dtype),
            "w2": torch.randn(1, w, generator=g, dtype=dtype) / math.sqrt(w),
            "b2": torch.zeros(1, dtype=dtype),
        }

    x = torch.randn(n_rows, dim, generator=g, dtype=dtype)
    teacher = init(teacher_width)
    teacher["w2"] = teacher["w2"] * 2.0
    y = _tanh_mlp(teacher, x) + noise * torch.randn(n_rows, generator=g, dtype=dtype)

    def loss_fn(p, xb, yb):
        return 0.5 * ((_tanh_mlp(p, xb) - yb) ** 2).mean()

    start = init(width)
    if teacher_width == width:
        start = {k: teacher[k] + 0.1 * v for k, v in start.items()}
    return loss_fn, start, (x, y)


def digits_mlp(
    n_train: int = 1000,
    width: int = 8,
    weight_decay: float = 5e-2,
    seed=0,
    dtype=torch.float64,
):
    r"""Build a one-hidden-layer tanh MLP on scikit-learn's 8x8 digits, cross-entropy plus weight decay.

    The network and the loss are

    .. math:: f_\theta(x) = W_2\tanh(W_1 x + b_1) + b_2, \qquad
       L(\theta) = \frac1n\sum_{i=1}^n \mathrm{CE}(f_\theta(x_i), y_i) + \frac{\lambda}{2}\|\theta\|^2,

    with :math:`x \in \mathbb{R}^{64}` the normalised pixels, 10 classes, and :math:`\lambda` =
    ``weight_decay`` applied to all parameters (biases included).

    Parameters
    ----------
    n_train : int
        Training rows taken from :func:`hts_lib.nn.data.load_dataset` ``("digits")``, 2 to 1,437.
    width : int
        Hidden units, >= 1; the net has ``65 * width + 10 * (width + 1)`` parameters (610 for 8).
    weight_decay : float
        :math:`\lambda > 0`.
    seed : int or numpy Generator
        The data split and the initialisation (:math:`N(0, 1/\text{fan-in})` weights, zero biases).
    dtype : torch.dtype
        Floating type of parameters and inputs (float64 for a minimum checked to a small gradient).

    Returns
    -------
    (loss_fn, params, data)
        As :func:`teacher_student`: ``loss_fn(params, x, y)`` (the mean cross-entropy of the batch plus
        the penalty, so that every minibatch loss carries it and its Hessian is
        :math:`H_{CE,B} + \lambda I`), the initial parameters (a dict ``w1, b1, w2, b2``) and ``(X, y)``
        with ``X`` of shape ``(n_train, 64)`` and int64 labels.

    Raises
    ------
    ValueError
        ``n_train``, ``width`` or ``weight_decay`` out of range (the message names it).
    TypeError
        ``dtype`` not a floating torch dtype.

    Notes
    -----
    Cross-entropy is bounded below by 0, so :math:`L(\theta) \ge \frac{\lambda}{2}\|\theta\|^2 \to \infty` as
    :math:`\|\theta\| \to \infty`: :math:`L` is coercive and continuous and attains its minimum. Without the
    penalty it need not: on separable data scaling :math:`W_2, b_2` by :math:`c > 1` lowers every example's
    loss (see :func:`mnist_fc`). tanh is smooth, so the Hessian exists everywhere, and the penalty lifts the
    flat directions of the sign and permutation symmetries' neighbourhoods; a minimum found by
    :func:`find_minimum` is checked by :func:`check_minimum` (exactly, since the net is small).

    Used in: chapters/ch13_predicting_tail_index.ipynb

    Examples
    --------
    >>> loss, params, (x, y) = digits_mlp(n_train=100)
    >>> sum(v.numel() for v in params.values()), tuple(x.shape)
    (610, (100, 64))
    """
    from hts_lib.nn.data import load_dataset

    n_train = check_int("n_train", n_train, low=2, high=1437)
    width = check_int("width", width, low=1)
    weight_decay = check_positive("weight_decay", weight_decay)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch dtype, got {dtype!r}")
    rng = check_rng(seed)
    ds = load_dataset("digits", n_train=n_train, seed=int(rng.integers(2**31)))
    x = torch.as_tensor(ds.x_train, dtype=dtype).reshape(n_train, -1)
    y = torch.as_tensor(ds.y_train, dtype=torch.long)
    d = x.shape[1]
    g = torch.Generator().manual_seed(int(rng.integers(2**62)))
    params = {
        "w1": torch.randn(width, d, generator=g, dtype=dtype) / math.sqrt(d),
        "b1": torch.zeros(width, dtype=dtype),
        "w2": torch.randn(10, width, generator=g, dtype=dtype) / math.sqrt(width),
        "b2": torch.zeros(10, dtype=dtype),
    }

    def loss_fn(p, xb, yb):
        logits = torch.tanh(xb @ p["w1"].T + p["b1"]) @ p["w2"].T + p["b2"]
        ce = torch.nn.functional.cross_entropy(logits, yb)
        return ce + 0.5 * weight_decay * sum((v**2).sum() for v in p.values())

    return loss_fn, params, (x, y)


def mnist_fc(
    n_train: int = 1000,
    weight_decay: float = 5e-2,
    seed=0,
    dtype=torch.float32,
    activation: str = "relu",
):
    r"""Build the book's fully connected net (784-128-128-10, no biases) on the MNIST subset.

    The network is :math:`f_\theta(x) = W_3\,\sigma(W_2\,\sigma(W_1 x))` with :math:`\sigma` ReLU (the
    book's net) or softplus :math:`\sigma(z) = \log(1 + e^z)` (its smooth variant), and the loss is
    cross-entropy plus weight decay,
    :math:`L(\theta) = \frac1n\sum_i \mathrm{CE}(f_\theta(x_i), y_i) + \frac{\lambda}{2}\|\theta\|^2`.

    Parameters
    ----------
    n_train : int
        Training rows taken from :func:`hts_lib.nn.data.load_dataset` ``("mnist_subset")`` (at most 4,000).
    weight_decay : float
        :math:`\lambda` in :math:`L(\theta) = \mathrm{CE} + \frac{\lambda}{2}\|\theta\|^2`, > 0.
    seed : int
        The data split and the initialisation.
    dtype : torch.dtype
        Floating type.
    activation : {"relu", "softplus"}
        :math:`\sigma`. ReLU's loss is only piecewise smooth (its Hessian jumps across the kinks, where a
        minimiser may sit); softplus makes the loss smooth, so "gradient 0 and Hessian positive semi-definite"
        is a well-posed test.

    Returns
    -------
    (loss_fn, params, data)
        As :func:`teacher_student`; ``params`` is the initialisation (118,016 parameters, the same for both
        activations at the same seed).

    Raises
    ------
    ValueError
        ``n_train``, ``weight_decay`` or ``activation`` out of range (the message names it).

    Notes
    -----
    Without weight decay, cross-entropy on data a network can separate has no finite minimum: scaling the last
    layer of a separating network by ``c > 1`` lowers every example's loss, so :math:`L \to 0` only as
    :math:`\|\theta\| \to \infty` and gradient methods drift outwards for ever. With :math:`\lambda > 0` the
    loss is coercive, a minimum exists, and the penalty also breaks the ReLU rescaling symmetry between
    layers.

    Used in: chapters/ch13_predicting_tail_index.ipynb
    """
    from torch.func import functional_call

    from hts_lib.nn.data import load_dataset
    from hts_lib.nn.nets import fully_connected

    n_train = check_int("n_train", n_train, low=2, high=4000)
    weight_decay = check_positive("weight_decay", weight_decay)
    check_choice("activation", activation, ("relu", "softplus"))
    ds = load_dataset("mnist_subset", n_train=n_train, seed=seed)
    torch.manual_seed(int(check_rng(seed).integers(2**62)))
    net = fully_connected(ds.input_shape, 10).to(dtype)
    if activation == "softplus":
        for i, module in enumerate(net):
            if isinstance(module, torch.nn.ReLU):
                net[i] = torch.nn.Softplus()
    x = torch.as_tensor(ds.x_train, dtype=dtype).reshape(n_train, -1)
    y = torch.as_tensor(ds.y_train, dtype=torch.long)
    names = dict(net.named_parameters())

    def loss_fn(p, xb, yb):
        ce = torch.nn.functional.cross_entropy(functional_call(net, p, (xb,)), yb)
        return ce + 0.5 * weight_decay * sum((v**2).sum() for v in p.values())

    return loss_fn, {k: v.detach().clone() for k, v in names.items()}, (x, y)
