"""Sharpness of a trained network: top Hessian eigenvalue (Lanczos) and trace (Hutchinson).

Both use only Hessian-vector products of the training loss, so the Hessian (118,016 x 118,016 for the
paper's fully connected net) is never formed: computed with ``torch.func`` (reverse-over-reverse: the
``vjp`` of ``grad``) for any model, and in closed form (Pearlmutter's R-operator) for the bias-free ReLU
MLPs of the fully connected chapters. The top eigenvalue comes from the Lanczos method with full
reorthogonalisation, ARPACK's stopping rule (a relative tolerance) and a convergence flag; the models of
an ensemble run their recursions together (:func:`ensemble_sharpness`). The trace comes from
Hutchinson's estimator with Rademacher probes and its standard error.

This module imports torch; ``import hts_lib`` does not import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hts_lib.nn.nets import _plain_mlp
from hts_lib.validation import check_callable, check_inputs, check_int, check_model, check_real, check_rng

__all__ = [
    "SharpnessEstimate",
    "TraceEstimate",
    "hessian_vector_product",
    "top_hessian_eigenvalue",
    "hessian_trace",
    "sharpness",
    "ensemble_sharpness",
    "stratified_subset",
    "SHARPNESS_EXAMPLES",
]

#: Default number of training examples in the sharpness of a run, per model (``run_from_config`` with
#: ``sharpness_examples=None``): a fixed stratified subset (:func:`stratified_subset`, seed 0) of that size
#: for the convolutional nets, all of the training set for the others. Measured on the small CNN on the
#: MNIST subset (``benchmarks/bench_sharpness.py``, two trained networks, three subset seeds): the top
#: eigenvalue on 2,048 of the 4,000 training images was within -4.5 % to +10.6 % of the full-set value
#: (the seed-0 subset used by runs: +3.7 % and -0.1 %) for half the Hessian-vector work; 1,000 images gave
#: -11 % to +27 %, 500 images +5 % to +84 %. On CIFAR-10 each product then costs 2,048 images, not 50,000.
SHARPNESS_EXAMPLES = {"cnn": 2048, "vgg": 2048}

#: Below this many parameters the Hessian is formed column by column and diagonalised exactly.
DENSE_LIMIT = 64

#: Lanczos vectors kept (float64) before the recursion restarts from its best Ritz vector.
LANCZOS_VECTORS = 20

_BATCH_BYTES = 2**30  # memory of the models whose Lanczos recursions run together (basis and forward pass)


@dataclass(frozen=True)
class TraceEstimate:
    r"""Hutchinson estimate of the Hessian trace.

    Attributes
    ----------
    trace : float
        Mean of :math:`v^\top H v` over the probes.
    se : float
        Standard error of that mean (sample standard deviation / sqrt(n_probes)).
    n_probes : int
        Number of Rademacher probes.
    """

    trace: float
    se: float
    n_probes: int


@dataclass(frozen=True)
class SharpnessEstimate:
    r"""Top Hessian eigenvalue of the training loss, optionally with the trace.

    Attributes
    ----------
    top_eigenvalue : float
        Largest (algebraic) eigenvalue :math:`\lambda_{\max}` of the Hessian of the loss.
    converged : bool
        Whether Lanczos met its tolerance (always True for the exact dense path).
    n_iter : int
        Hessian-vector products used by the eigenvalue computation.
    tol : float
        Relative tolerance asked of Lanczos: on convergence
        :math:`|\hat\lambda - \lambda| \le \mathrm{tol}\,|\hat\lambda|` up to the rounding of
        the Hessian-vector products.
    n_samples : int
        Number of training examples in the loss.
    method : str
        ``"lanczos"`` or ``"dense"`` (exact, for fewer than ``DENSE_LIMIT`` parameters).
    trace, trace_se : float or None
        Hutchinson trace and its standard error (None when not requested).
    n_probes : int
        Hutchinson probes (0 when the trace was not requested).
    """

    top_eigenvalue: float
    converged: bool
    n_iter: int
    tol: float
    n_samples: int
    method: str
    trace: float | None = None
    trace_se: float | None = None
    n_probes: int = 0


def _as_tensors(model: nn.Module, x, y, loss_fn=None) -> tuple[torch.Tensor, torch.Tensor]:
    check_model("model", model)
    check_callable("loss_fn", loss_fn, optional=True)
    # Cross-entropy (the default) takes class labels; a caller's loss may take real targets.
    return check_inputs(x, y, model=model, labels=loss_fn is None)


def hessian_vector_product(
    model: nn.Module, x, y, *, loss_fn: Callable | None = None, chunk_size: int = 4096
) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    r"""Return a function ``v -> H v`` for the Hessian :math:`H` of the mean loss over ``(x, y)``.

    Parameters
    ----------
    model : torch.nn.Module
        The network; its current parameters are the point where the Hessian is taken.
    x, y : array-like or torch.Tensor
        Inputs and integer labels (all of them enter the loss).
    loss_fn : callable, optional
        ``loss_fn(logits, y)`` returning the mean loss; default cross-entropy.
    chunk_size : int
        Examples per chunk; the product is the size-weighted sum of per-chunk products, so memory
        stays bounded on large data sets and the result is the full-data product.

    Returns
    -------
    (callable, int)
        The product on flat vectors (length = number of trainable parameters, model dtype and
        device) and that length.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` disagree in length or ``chunk_size < 1``.

    Notes
    -----
    :math:`Hv = \nabla_\theta \langle \nabla L(\theta), v\rangle` (the Hessian is
    symmetric), computed as the ``torch.func.vjp`` of ``torch.func.grad(L)`` applied to
    :math:`v`: a second backward pass through the gradient computation, a few times the cost of
    one gradient. On the book's fully connected net it measured about 20 % faster than the
    forward-over-reverse ``jvp(grad(L))``, with the same result to float32 rounding.

    Examples
    --------
    >>> from hts_lib.nn.nets import fully_connected
    >>> net = fully_connected((3,), 2, width=2).double()
    >>> hvp, n = hessian_vector_product(
    ...     net, torch.ones(4, 3, dtype=torch.float64), torch.tensor([0, 1, 0, 1])
    ... )
    >>> n, tuple(hvp(torch.zeros(n, dtype=torch.float64)).shape)
    (14, (14,))
    """
    from torch.func import functional_call, grad, vjp

    chunk_size = check_int("chunk_size", chunk_size, low=1)
    xt, yt = _as_tensors(model, x, y, loss_fn)
    loss_fn = loss_fn or nn.functional.cross_entropy
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    n_total = int(sum(sizes))
    n = xt.shape[0]
    chunks = [(xt[i : i + chunk_size], yt[i : i + chunk_size]) for i in range(0, n, chunk_size)]

    def hvp(v: torch.Tensor) -> torch.Tensor:
        v = v.to(device=xt.device, dtype=params[names[0]].dtype)
        tangents, offset = {}, 0
        for name, shape, size in zip(names, shapes, sizes):
            tangents[name] = v[offset : offset + size].view(shape)
            offset += size
        out = torch.zeros(n_total, dtype=v.dtype, device=v.device)
        was_training = model.training
        model.eval()
        try:
            for xc, yc in chunks:

                def loss_of(p, xc=xc, yc=yc):
                    return loss_fn(functional_call(model, p, (xc,)), yc)

                hv = vjp(grad(loss_of), params)[1](tangents)[0]
                out += (xc.shape[0] / n) * torch.cat([hv[name].reshape(-1) for name in names])
        finally:
            model.train(was_training)
        return out

    return hvp, n_total


class _MlpHessian:
    r"""Closed-form Hessian-vector products of M bias-free ReLU MLPs, mean cross-entropy on shared data.

    Pearlmutter's R-operator written out with matrix products (the formulas of
    :func:`hts_lib.nn.linearised.mlp_minibatch_hvp`, here with every model on the same examples): the
    forward and backward passes at the models' weights are computed once, so a product costs only the
    R-passes, and the first layer's products for all the models are two large matrix products with the
    shared inputs. ``keep(rows)`` drops the models not in ``rows``.
    """

    def __init__(self, models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor):
        layers = [[m.weight.detach() for m in net.children() if isinstance(m, nn.Linear)] for net in models]
        self.ws = [torch.stack(ws) for ws in zip(*layers)]  # (M, out, in) per layer
        self.dtype = self.ws[0].dtype
        self.x = x.reshape(x.shape[0], -1).to(self.ws[0])
        n = self.x.shape[0]
        hs, ds = [self.x], []
        for k, w in enumerate(self.ws):
            z = self._first(w) if k == 0 else torch.bmm(hs[-1], w.transpose(1, 2))
            if k < len(self.ws) - 1:
                ds.append((z > 0).to(z.dtype))  # relu'(z); relu'' = 0, as autograd takes them
                hs.append(z.clamp_min(0))
        self.p = z.softmax(dim=-1)
        g = self.p.clone()
        g[:, torch.arange(n, device=g.device), y] -= 1.0
        gs = [g / n]  # d(mean loss)/dz_l, from the last layer back
        for k in range(len(self.ws) - 1, 0, -1):
            gs.insert(0, torch.bmm(gs[0], self.ws[k]) * ds[k - 1])
        self.hs, self.ds, self.gs = hs, ds, gs

    def _first(self, v: torch.Tensor) -> torch.Tensor:  # x @ v_i^T for every model i: (m, n, out)
        m, out, _ = v.shape
        return (self.x @ v.reshape(m * out, -1).T).view(-1, m, out).transpose(0, 1)

    def keep(self, rows: torch.Tensor) -> None:
        self.ws = [w[rows] for w in self.ws]
        self.hs = self.hs[:1] + [h[rows] for h in self.hs[1:]]
        self.ds, self.gs, self.p = [d[rows] for d in self.ds], [g[rows] for g in self.gs], self.p[rows]

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """Products ``H_i u_i`` for the rows ``u_i`` of ``u`` (m, n_params), in the models' dtype."""
        m, n = u.shape[0], self.x.shape[0]
        vs = [
            v.reshape(w.shape)
            for v, w in zip(torch.split(u, [w[0].numel() for w in self.ws], dim=1), self.ws)
        ]
        rhs = [None]  # R h_0 = 0: the inputs do not depend on the weights
        for k, (w, v) in enumerate(zip(self.ws, vs)):
            if k == 0:
                rz = self._first(v)
            else:
                rz = torch.bmm(rhs[-1], w.transpose(1, 2)).baddbmm_(self.hs[k], v.transpose(1, 2))
            if k < len(self.ws) - 1:
                rhs.append(self.ds[k] * rz)
        rg = self.p * (rz - (self.p * rz).sum(dim=-1, keepdim=True)) / n
        out = [None] * len(self.ws)
        for k in range(len(self.ws) - 1, -1, -1):
            if k == 0:
                out[k] = (rg.transpose(0, 1).reshape(n, -1).T @ self.x).reshape(m, -1)
            else:
                hv = torch.bmm(rg.transpose(1, 2), self.hs[k]).baddbmm_(self.gs[k].transpose(1, 2), rhs[k])
                out[k] = hv.reshape(m, -1)
                rg = torch.bmm(rg, self.ws[k]).baddbmm_(self.gs[k], vs[k]).mul_(self.ds[k - 1])
        return torch.cat(out, dim=1)


class _AutogradHessians:
    """Hessian-vector products of M models, one :func:`hessian_vector_product` each (any model and loss)."""

    def __init__(self, models, x, y, loss_fn, chunk_size):
        self.hvps = [
            hessian_vector_product(m, x, y, loss_fn=loss_fn, chunk_size=chunk_size)[0] for m in models
        ]
        self.dtype = next(models[0].parameters()).dtype

    def keep(self, rows: torch.Tensor) -> None:
        self.hvps = [self.hvps[int(i)] for i in rows]

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        return torch.stack([hvp(row) for hvp, row in zip(self.hvps, u)])


def _lanczos_top(products, v0: torch.Tensor, tol: float, max_hvp: int, n_vectors: int = LANCZOS_VECTORS):
    r"""Largest eigenvalue of M symmetric operators at once, by Lanczos; ``(values, converged, n_products)``.

    ``products(U)`` returns the rows :math:`H_i u_i` (``products.keep(rows)`` drops operators). Each
    operator runs its own Lanczos recursion
    :math:`\beta_k q_{k+1} = H q_k - \alpha_k q_k - \beta_{k-1} q_{k-1}` from the unit vector of
    ``v0``'s row, with full reorthogonalisation (one classical Gram-Schmidt pass, in float64). After
    each product the top eigenpair :math:`(\theta, s)` of the tridiagonal :math:`T_k` gives the residual
    :math:`\|H y - \theta y\| = \beta_k |s_k|` of the Ritz vector :math:`y`, and the operator stops
    when it is at most ``tol`` :math:`\max(|\theta|, \epsilon^{2/3})` (ARPACK's rule). After
    ``n_vectors`` products the recursion restarts from :math:`y`. An operator that has not converged
    after ``max_hvp`` products gets NaN.
    """
    from scipy.linalg import eigh_tridiagonal

    n_ops, dim = v0.shape
    values, converged = np.full(n_ops, np.nan), np.zeros(n_ops, dtype=bool)
    used = np.zeros(n_ops, dtype=int)
    ids = np.arange(n_ops)  # the operators still running
    q = v0 / v0.norm(dim=1, keepdim=True)
    basis = torch.empty((n_ops, n_vectors, dim), dtype=torch.float64, device=v0.device)
    count, floor = 0, np.finfo(float).eps ** (2 / 3)
    while ids.size:
        alpha, beta = np.zeros((ids.size, n_vectors)), np.zeros((ids.size, n_vectors))
        basis[:, 0] = q
        for k in range(n_vectors):
            qk = basis[:, k]
            w = products(qk.to(products.dtype)).to(torch.float64)
            count += 1
            a = (qk * w).sum(dim=1)
            w -= a[:, None] * qk
            if k > 0:
                w -= torch.from_numpy(beta[:, k - 1]).to(w)[:, None] * basis[:, k - 1]
            # full reorthogonalisation: w loses the components along the basis that rounding put back
            prev = basis[:, : k + 1]
            w -= torch.bmm(torch.bmm(prev, w[:, :, None]).transpose(1, 2), prev)[:, 0]
            b = w.norm(dim=1)
            alpha[:, k], beta[:, k] = a.cpu().numpy(), b.cpu().numpy()
            tops = [
                eigh_tridiagonal(alpha[j, : k + 1], beta[j, :k], select="i", select_range=(k, k))
                for j in range(ids.size)
            ]
            theta = np.array([t[0][0] for t in tops])
            done = beta[:, k] * np.array([abs(t[1][-1, 0]) for t in tops]) <= tol * np.maximum(
                np.abs(theta), floor
            )
            values[ids[done]], converged[ids[done]], used[ids[done]] = theta[done], True, count
            if count >= max_hvp:
                used[ids[~done]] = count
                return values, converged, used
            if done.any():
                rows = np.flatnonzero(~done)
                ids, alpha, beta, tops = ids[rows], alpha[rows], beta[rows], [tops[j] for j in rows]
                rows_t = torch.from_numpy(rows).to(v0.device)
                basis, w, b = basis[rows_t], w[rows_t], b[rows_t]
                products.keep(rows_t)
                if not ids.size:
                    break
            if k + 1 < n_vectors:
                basis[:, k + 1] = w / b[:, None]
        else:  # restart from each operator's Ritz vector
            s = torch.from_numpy(np.stack([t[1][:, 0] for t in tops])).to(basis)
            q = torch.bmm(s[:, None, :], basis)[:, 0]
            q /= q.norm(dim=1, keepdim=True)
    return values, converged, used


def _top_eigenvalues(models, x, y, *, tol, max_hvp, seeds, loss_fn, chunk_size) -> list[SharpnessEstimate]:
    """Run the engine of :func:`top_hessian_eigenvalue` and :func:`ensemble_sharpness` (checked input)."""
    dims = {sum(p.numel() for p in m.parameters() if p.requires_grad) for m in models}
    if len(dims) > 1:
        raise ValueError(f"models must have the same number of trainable parameters, got {sorted(dims)}")
    n = dims.pop()
    xt, yt = _as_tensors(models[0], x, y, loss_fn)
    starts = [check_rng(s).standard_normal(n) for s in seeds]
    if n <= DENSE_LIMIT:
        return [_dense_top(m, xt, yt, tol, loss_fn, chunk_size) for m in models]
    closed = loss_fn is None and len(xt) <= chunk_size and all(_plain_mlp(m) for m in models)
    # float64 Lanczos basis, and for the closed form the forward pass kept per model (4 bytes a number)
    units = sum(m.out_features for m in models[0].modules() if isinstance(m, nn.Linear))
    per_model = LANCZOS_VECTORS * n * 8 + (len(xt) * units * 4 * 4 if closed else 0)
    batch = max(1, _BATCH_BYTES // per_model)
    out = []
    for i in range(0, len(models), batch):
        group = models[i : i + batch]
        if closed:
            ops = _MlpHessian(group, xt, yt)
        else:
            ops = _AutogradHessians(group, xt, yt, loss_fn, chunk_size)
        v0 = torch.from_numpy(np.stack(starts[i : i + batch])).to(xt.device)
        vals, conv, used = _lanczos_top(ops, v0, tol, max_hvp)
        out += [
            SharpnessEstimate(float(v), bool(c), int(u), tol, len(xt), "lanczos")
            for v, c, u in zip(vals, conv, used)
        ]
    return out


def _dense_top(model, x, y, tol, loss_fn, chunk_size) -> SharpnessEstimate:
    hvp, n = hessian_vector_product(model, x, y, loss_fn=loss_fn, chunk_size=chunk_size)
    eye = torch.eye(n, dtype=torch.float64)
    h = torch.stack([hvp(eye[i]) for i in range(n)]).double().cpu().numpy()
    lam = float(np.linalg.eigvalsh(0.5 * (h + h.T))[-1])
    return SharpnessEstimate(lam, True, n, tol, len(x), "dense")


def top_hessian_eigenvalue(
    model: nn.Module,
    x,
    y,
    *,
    tol: float = 1e-4,
    max_hvp: int = 400,
    seed=0,
    loss_fn: Callable | None = None,
    chunk_size: int = 4096,
) -> SharpnessEstimate:
    r"""Largest eigenvalue of the Hessian of the mean training loss, by Lanczos.

    Parameters
    ----------
    model : torch.nn.Module
        The network at the point of interest.
    x, y : array-like or torch.Tensor
        The examples whose mean loss is differentiated (the book passes the full training set).
    tol : float
        Relative tolerance of the Lanczos residual (in (0, 0.1]); see Notes.
    max_hvp : int
        Budget of Hessian-vector products. If it is exhausted before convergence, the result has
        ``converged=False`` and ``top_eigenvalue`` is NaN.
    seed : int, numpy Generator or None
        Seed of the Lanczos starting vector (the result is deterministic for a given seed).
    loss_fn : callable, optional
        ``loss_fn(logits, y)``; default cross-entropy.
    chunk_size : int
        See :func:`hessian_vector_product`.

    Returns
    -------
    SharpnessEstimate
        With ``trace=None``.

    Raises
    ------
    ValueError
        For a tolerance outside (0, 0.1], ``max_hvp < 1`` or mismatched ``x``, ``y``.

    Notes
    -----
    The Lanczos recursion on :math:`H` from a random unit vector, with full reorthogonalisation,
    restarted from the best Ritz vector every ``LANCZOS_VECTORS`` products. It stops when the
    residual of the top Ritz pair satisfies :math:`\|H u - \theta u\| \le \mathrm{tol}\,|\theta|`
    (ARPACK's rule, :cite:`lehoucq1998arpack`); for a symmetric matrix some eigenvalue then lies
    within that distance of :math:`\theta`, and with a random start that eigenvalue is the largest
    one (Lanczos finds extreme eigenvalues first). The recursion is written out here, rather than
    taken from ARPACK (``scipy.sparse.linalg.eigsh``), so that the models of an ensemble run it
    together (:func:`ensemble_sharpness`); the tests check it against exact diagonalisation and
    against ``eigsh``. For bias-free ReLU MLPs with the default loss (model ``"fc"``) the products
    are the closed-form R-operator (forward pass computed once), otherwise
    :func:`hessian_vector_product`. The products are computed in the model's dtype (float32 in
    training), which adds a relative error of order :math:`10^{-6}`. Models with fewer than
    ``DENSE_LIMIT`` parameters are diagonalised exactly.

    Used in: chapters/ch12_flatness_noise_tails.ipynb

    Examples
    --------
    >>> from hts_lib.nn.nets import fully_connected
    >>> net = fully_connected((3,), 2, width=4).double()
    >>> xs = torch.linspace(-1, 1, 30, dtype=torch.float64).reshape(10, 3)
    >>> est = top_hessian_eigenvalue(net, xs, torch.arange(10) % 2)
    >>> est.converged, est.method
    (True, 'dense')
    """
    tol, max_hvp, chunk_size = _check_lanczos(tol, max_hvp, chunk_size)
    check_model("model", model)
    return _top_eigenvalues(
        [model],
        x,
        y,
        tol=tol,
        max_hvp=max_hvp,
        seeds=[check_rng(seed)],
        loss_fn=loss_fn,
        chunk_size=chunk_size,
    )[0]


def _check_lanczos(tol, max_hvp, chunk_size) -> tuple[float, int, int]:
    return (
        check_real("tol", tol, low=0.0, high=0.1, low_open=True),
        check_int("max_hvp", max_hvp, low=1),
        check_int("chunk_size", chunk_size, low=1),
    )


def hessian_trace(
    model: nn.Module,
    x,
    y,
    *,
    n_probes: int = 100,
    seed=0,
    loss_fn: Callable | None = None,
    chunk_size: int = 4096,
) -> TraceEstimate:
    r"""Hutchinson estimate of the trace of the Hessian of the mean training loss.

    Parameters
    ----------
    model : torch.nn.Module
        The network at the point of interest.
    x, y : array-like or torch.Tensor
        The examples whose mean loss is differentiated.
    n_probes : int
        Number of Rademacher probe vectors (>= 2, for a standard error).
    seed : int, numpy Generator or None
        Seed of the probes.
    loss_fn : callable, optional
        ``loss_fn(logits, y)``; default cross-entropy.
    chunk_size : int
        See :func:`hessian_vector_product`.

    Returns
    -------
    TraceEstimate

    Raises
    ------
    ValueError
        If ``n_probes < 2`` or ``x``, ``y`` are mismatched.

    Notes
    -----
    For :math:`v` with i.i.d. :math:`\pm 1` entries, :math:`E[v^\top H v] = \mathrm{tr}\,H` and
    :math:`\mathrm{Var}[v^\top H v] = 2\sum_{i \ne j} H_{ij}^2` (Hutchinson 1990). The estimate
    is the mean over probes and its standard error the sample standard deviation over
    :math:`\sqrt{n}`.

    Used in: chapters/ch12_flatness_noise_tails.ipynb

    Examples
    --------
    >>> from hts_lib.nn.nets import fully_connected
    >>> net = fully_connected((3,), 2, width=4).double()
    >>> xs = torch.linspace(-1, 1, 30, dtype=torch.float64).reshape(10, 3)
    >>> est = hessian_trace(net, xs, torch.arange(10) % 2, n_probes=10)
    >>> est.n_probes, est.se >= 0
    (10, True)
    """
    n_probes = check_int("n_probes", n_probes, low=2)
    rng = check_rng(seed)
    hvp, n = hessian_vector_product(model, x, y, loss_fn=loss_fn, chunk_size=chunk_size)
    vals = np.empty(n_probes)
    for i in range(n_probes):
        v = torch.from_numpy(rng.choice(np.array([-1.0, 1.0]), size=n))
        hv = hvp(v)
        vals[i] = float(torch.dot(v.to(hv), hv))
    return TraceEstimate(float(vals.mean()), float(vals.std(ddof=1) / math.sqrt(n_probes)), n_probes)


def sharpness(
    model: nn.Module,
    x,
    y,
    *,
    tol: float = 1e-4,
    max_hvp: int = 400,
    n_probes: int = 0,
    seed=0,
    loss_fn: Callable | None = None,
    chunk_size: int = 4096,
) -> SharpnessEstimate:
    """Top Hessian eigenvalue, and the Hutchinson trace when ``n_probes >= 2``.

    Parameters
    ----------
    model, x, y, tol, max_hvp, loss_fn, chunk_size
        As in :func:`top_hessian_eigenvalue`.
    n_probes : int
        0 (no trace) or the number of Hutchinson probes (>= 2).
    seed : int, numpy Generator or None
        Seeds the Lanczos start and the probes (independent streams).

    Returns
    -------
    SharpnessEstimate

    Raises
    ------
    ValueError
        As the two functions it calls, or for ``n_probes`` equal to 1 or negative.

    Used by the runner for every shipped FC run (chapters 10 and 12 read its results).

    Examples
    --------
    >>> from hts_lib.nn.nets import fully_connected
    >>> net = fully_connected((3,), 2, width=4).double()
    >>> xs = torch.linspace(-1, 1, 30, dtype=torch.float64).reshape(10, 3)
    >>> est = sharpness(net, xs, torch.arange(10) % 2, n_probes=4)
    >>> est.n_probes, est.trace is not None
    (4, True)
    """
    check_model("model", model)
    est = ensemble_sharpness(
        [model],
        x,
        y,
        tol=tol,
        max_hvp=max_hvp,
        n_probes=n_probes,
        seeds=[check_rng(seed)],
        loss_fn=loss_fn,
        chunk_size=chunk_size,
    )
    return est[0]


def ensemble_sharpness(
    models: Sequence[nn.Module],
    x,
    y,
    *,
    tol: float = 1e-4,
    max_hvp: int = 400,
    n_probes: int = 0,
    seeds=None,
    loss_fn: Callable | None = None,
    chunk_size: int = 4096,
) -> list[SharpnessEstimate]:
    """:func:`sharpness` of several models of one architecture on the same examples, computed together.

    Parameters
    ----------
    models : sequence of torch.nn.Module
        Networks with the same number of trainable parameters (e.g. an ensemble's members).
    x, y, tol, max_hvp, n_probes, loss_fn, chunk_size
        As in :func:`sharpness`.
    seeds : sequence of (int, numpy Generator or None), optional
        One seed per model, used as :func:`sharpness` uses its ``seed`` (default 0 for every model).

    Returns
    -------
    list of SharpnessEstimate
        One per model, in order: the same values as :func:`sharpness` model by model, to the rounding
        of the Hessian-vector products.

    Raises
    ------
    TypeError, ValueError
        As :func:`sharpness`, for ``models`` that is not a sequence of modules, models that differ in
        their number of parameters, or ``seeds`` of the wrong length.

    Notes
    -----
    The models' Lanczos recursions advance together: each step asks one Hessian-vector product of
    every model still running, and for bias-free ReLU MLPs (model ``"fc"``) those products share two
    large matrix products with the inputs. A model leaves the batch as soon as it converges.

    Used by :func:`hts_lib.nn.ensemble.run_ensemble` (the shipped grids of chapters 10-12).

    Examples
    --------
    >>> from hts_lib.nn.nets import build_model
    >>> nets = [build_model("fc", (3,), 2, seed=s, width=16, dtype=torch.float64) for s in (0, 1)]
    >>> xs = torch.linspace(-1, 1, 60, dtype=torch.float64).reshape(20, 3)
    >>> ests = ensemble_sharpness(nets, xs, torch.arange(20) % 2, seeds=[0, 1])
    >>> [e.converged for e in ests], [e.method for e in ests]
    ([True, True], ['lanczos', 'lanczos'])
    """
    if isinstance(models, (str, bytes, nn.Module)) or not hasattr(models, "__iter__"):
        raise TypeError(f"models must be a sequence of torch.nn.Module, got {type(models).__name__}")
    models = [check_model(f"models[{i}]", m) for i, m in enumerate(models)]
    if not models:
        raise ValueError("models must hold at least one model")
    tol, max_hvp, chunk_size = _check_lanczos(tol, max_hvp, chunk_size)
    n_probes = check_int("n_probes", n_probes, low=0)
    if n_probes == 1:
        raise ValueError("n_probes must be 0 (no trace) or >= 2 (a standard error needs two probes), got 1")
    seeds = [0] * len(models) if seeds is None else seeds
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a sequence with one seed per model, got {type(seeds).__name__}")
    streams = [check_rng(s).spawn(2) for s in seeds]
    if len(streams) != len(models):
        raise ValueError(f"seeds must hold one seed per model ({len(models)}), got {len(streams)}")
    tops = _top_eigenvalues(
        models,
        x,
        y,
        tol=tol,
        max_hvp=max_hvp,
        seeds=[s[0] for s in streams],
        loss_fn=loss_fn,
        chunk_size=chunk_size,
    )
    if n_probes == 0:
        return tops
    out = []
    for model, top, st in zip(models, tops, streams):
        tr = hessian_trace(model, x, y, n_probes=n_probes, seed=st[1], loss_fn=loss_fn, chunk_size=chunk_size)
        out.append(dataclasses.replace(top, trace=tr.trace, trace_se=tr.se, n_probes=tr.n_probes))
    return out


def stratified_subset(y, n: int, *, seed=0) -> np.ndarray:
    r"""Return the indices of a fixed, class-stratified subset of ``n`` examples, in increasing order.

    Parameters
    ----------
    y : array_like of int
        Class labels, shape ``(N,)``.
    n : int
        Subset size, ``1 <= n <= N``; ``n = N`` returns every index.
    seed : int, numpy Generator or None
        Which examples of each class are taken (seed 0 by default, so every run of a sweep sees the same
        subset and their sharpness values are comparable).

    Returns
    -------
    numpy.ndarray
        ``n`` distinct indices into ``y``, sorted (the data keep their order).

    Raises
    ------
    ValueError
        ``y`` not one-dimensional or ``n`` outside ``[1, N]``.

    Notes
    -----
    Class :math:`c` with :math:`N_c` examples gets :math:`\lfloor n N_c / N \rfloor` of them, and the
    :math:`n - \sum_c \lfloor n N_c / N \rfloor` left over go to the classes with the largest fractional
    parts (the largest-remainder rule), so the class proportions of the subset match those of the set to
    within one example per class.

    Examples
    --------
    >>> idx = stratified_subset(np.repeat([0, 1, 2], [50, 30, 20]), 10)
    >>> np.bincount(np.repeat([0, 1, 2], [50, 30, 20])[idx]).tolist()
    [5, 3, 2]
    """
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {labels.shape}")
    n = check_int("n", n, low=1, high=labels.size)
    rng = check_rng(seed)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = n * counts / labels.size
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    take[order[: n - int(take.sum())]] += 1
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[:k] for c, k in enumerate(take)]
    return np.sort(np.concatenate(chosen))
