"""Sharpness of a trained network: top Hessian eigenvalue (Lanczos) and trace (Hutchinson).

Both use only Hessian-vector products of the training loss, computed with ``torch.func``
(reverse-over-reverse: the ``vjp`` of ``grad``), so the Hessian (118,016 x 118,016 for the
paper's fully connected net) is never formed. The top eigenvalue comes from ARPACK's Lanczos
method (``scipy.sparse.linalg.eigsh`` on a ``LinearOperator``) with a relative tolerance and a
convergence flag; the trace from Hutchinson's estimator with Rademacher probes and its standard
error.

This module imports torch; ``import hts_lib`` does not import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hts_lib.validation import check_callable, check_inputs, check_int, check_model, check_real, check_rng

__all__ = [
    "SharpnessEstimate",
    "TraceEstimate",
    "hessian_vector_product",
    "top_hessian_eigenvalue",
    "hessian_trace",
    "sharpness",
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
        ``"lanczos"`` (ARPACK) or ``"dense"`` (exact, for fewer than ``DENSE_LIMIT`` parameters).
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
    r"""Largest eigenvalue of the Hessian of the mean training loss, by Lanczos (ARPACK).

    Parameters
    ----------
    model : torch.nn.Module
        The network at the point of interest.
    x, y : array-like or torch.Tensor
        The examples whose mean loss is differentiated (the book passes the full training set).
    tol : float
        Relative tolerance of ARPACK (in (0, 0.1]); see Notes.
    max_hvp : int
        Budget of Hessian-vector products, rounded up to whole ARPACK restarts of about 20
        products each (so ``n_iter`` can exceed it by up to a restart). If it is exhausted
        before convergence, the result has ``converged=False`` and ``top_eigenvalue`` is NaN
        (ARPACK returns no value it has not converged).
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
    ARPACK stops when the Ritz estimate of the residual satisfies
    :math:`\|H u - \theta u\| \le \mathrm{tol}\,|\theta|`; for a symmetric matrix some
    eigenvalue then lies within that distance of :math:`\theta`, and with a random start that
    eigenvalue is the largest one (Lanczos finds extreme eigenvalues first). The products are
    computed in the model's dtype (float32 in training), which adds a relative error of order
    :math:`10^{-6}`. Models with fewer than ``DENSE_LIMIT`` parameters are diagonalised exactly.

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
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigsh

    tol = check_real("tol", tol, low=0.0, high=0.1, low_open=True)
    max_hvp = check_int("max_hvp", max_hvp, low=1)
    rng = check_rng(seed)
    hvp, n = hessian_vector_product(model, x, y, loss_fn=loss_fn, chunk_size=chunk_size)
    n_samples = len(x)
    if n <= DENSE_LIMIT:
        eye = torch.eye(n, dtype=torch.float64)
        h = torch.stack([hvp(eye[i]) for i in range(n)]).double().cpu().numpy()
        lam = float(np.linalg.eigvalsh(0.5 * (h + h.T))[-1])
        return SharpnessEstimate(lam, True, n, tol, n_samples, "dense")
    count = [0]

    def matvec(v):
        count[0] += 1
        out = hvp(torch.from_numpy(np.ascontiguousarray(np.ravel(v))))
        return out.detach().to("cpu", torch.float64).numpy()

    v0 = rng.standard_normal(n)
    if not np.any(matvec(v0)):
        # H v0 = 0 for a random v0 means v0' H^2 v0 = 0, which for a symmetric H happens with
        # probability one only when H = 0 (e.g. a collapsed ReLU net whose units are all dead).
        # ARPACK would stop with "starting vector is zero"; the answer is exactly 0.
        return SharpnessEstimate(0.0, True, count[0], tol, n_samples, "lanczos")
    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    ncv = min(n - 1, 20)
    maxiter = max(1, math.ceil(max_hvp / max(1, ncv - 1)))
    try:
        lam = eigsh(op, k=1, which="LA", tol=tol, ncv=ncv, maxiter=maxiter, v0=v0, return_eigenvectors=False)
        return SharpnessEstimate(float(lam[0]), True, count[0], tol, n_samples, "lanczos")
    except ArpackNoConvergence as exc:
        vals = np.asarray(exc.eigenvalues, dtype=float)
        lam = float(vals.max()) if vals.size else float("nan")
        return SharpnessEstimate(lam, False, count[0], tol, n_samples, "lanczos")
    except ArpackError:  # any other ARPACK failure: report it as not converged rather than crash a sweep
        return SharpnessEstimate(float("nan"), False, count[0], tol, n_samples, "lanczos")


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
    n_probes = check_int("n_probes", n_probes, low=0)
    if n_probes == 1:
        raise ValueError("n_probes must be 0 (no trace) or >= 2 (a standard error needs two probes), got 1")
    rng = check_rng(seed)
    seeds = rng.spawn(2)
    top = top_hessian_eigenvalue(
        model, x, y, tol=tol, max_hvp=max_hvp, seed=seeds[0], loss_fn=loss_fn, chunk_size=chunk_size
    )
    if n_probes == 0:
        return top
    tr = hessian_trace(model, x, y, n_probes=n_probes, seed=seeds[1], loss_fn=loss_fn, chunk_size=chunk_size)
    return SharpnessEstimate(
        top.top_eigenvalue,
        top.converged,
        top.n_iter,
        top.tol,
        top.n_samples,
        top.method,
        tr.trace,
        tr.se,
        tr.n_probes,
    )


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
