r"""Computable lower bounds on the tail index from norms of products of SGD multipliers.

For any data law the moment function :math:`h(s) = \lim_k k^{-1}\log E\|M_k\cdots M_1\|^s` is the
infimum of the sequence :math:`k^{-1}\log E\|\Pi_k\|^s` (the sequence :math:`\log E\|\Pi_k\|^s` is
subadditive in ``k`` because the operator norm is submultiplicative and the factors are i.i.d.).
So every ``k`` gives an upper bound :math:`h(s) \le k^{-1}\log E\|\Pi_k\|^s`, and hence a *lower*
bound on the tail index: :math:`\alpha \ge \hat\alpha_k`, the positive root of
:math:`E\|\Pi_k\|^s = 1`. The bounds tighten as ``k`` grows and converge to ``alpha``.

Monte Carlo makes the bound computable for any input sampler (:mod:`hts_lib.recursion.samplers`, e.g.
:func:`hts_lib.recursion.dataset_sampler` for a finite data set). The root is found by
:func:`hts_lib.recursion.empirical_tail_index`.
"""

from __future__ import annotations

import math

import numpy as np

from hts_lib.recursion.montecarlo import MCEstimate
from hts_lib.recursion.roots import empirical_tail_index
from hts_lib.recursion.samplers import check_input_sampler, draw_inputs
from hts_lib.validation import check_array, check_int, check_positive, check_rng

__all__ = ["product_norms", "norm_moment_root", "product_norm_bound"]


def _check_products(eta, batch_size, dim, sample_a, n_factors, n_samples):
    """Check and return ``(eta, b, d, sample_a, k, n)`` of products of ``n_factors`` SGD multipliers."""
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sample_a = check_input_sampler(sample_a, d)
    k, n = check_int("n_factors", n_factors, low=1), check_int("n_samples", n_samples, low=1)
    return eta, b, d, sample_a, k, n


def product_norms(
    eta: float, batch_size: int, dim: int, sample_a, *, n_factors: int = 1, n_samples: int = 10_000, seed=None
) -> np.ndarray:
    r"""Return the operator norms :math:`\|M_k\cdots M_1\|` of ``n_samples`` independent SGD products.

    Parameters
    ----------
    eta : float
        Step size, ``eta > 0``.
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sample_a : callable
        Input sampler ``sample_a(rng, n, dim) -> (n, dim)`` of i.i.d. inputs (for example
        :func:`hts_lib.recursion.gaussian_sampler`; None: ``N(0, I_d)``).
    n_factors : int
        Number ``k >= 1`` of factors in each product.
    n_samples : int
        Number of independent products.
    seed : int, numpy Generator or None
        Randomness.

    Returns
    -------
    ndarray, shape (n_samples,)
        The spectral norms (largest singular values) of the products.

    Raises
    ------
    ValueError
        If an argument is outside its range or the sampler returns the wrong shape.
    TypeError
        If ``sample_a`` is not callable.

    Notes
    -----
    Each factor is :math:`M = I - (\eta/b)\sum_{i\le b} a_ia_i^\top` with fresh inputs. Cost
    ``O(n_samples * k * (b d^2 + d^3))``; memory ``O(n_samples d^2)``.

    Examples
    --------
    >>> from hts_lib.recursion import rademacher_sampler
    >>> nrm = product_norms(0.25, 1, 2, rademacher_sampler(), n_samples=5, seed=0)
    >>> np.round(nrm, 12).tolist()       # M = I - 0.25 a a^T with ||a||^2 = 2: norm max(1, |1 - 0.5|) = 1
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    eta, b, d, sample_a, k, n = _check_products(eta, batch_size, dim, sample_a, n_factors, n_samples)
    rng = check_rng(seed)
    prod = np.broadcast_to(np.eye(d), (n, d, d)).copy()
    for _ in range(k):
        a = draw_inputs(sample_a, rng, n * b, d).reshape(n, b, d)
        h = np.einsum("nbi,nbj->nij", a, a)  # sum_i a_i a_i^T, per sample
        prod = prod - (eta / b) * np.matmul(h, prod)  # M P = P - (eta/b) H P
    if d == 1:
        return np.abs(prod[:, 0, 0])
    return np.linalg.norm(prod, ord=2, axis=(1, 2))


def norm_moment_root(norms) -> float:
    r"""Return the positive root of ``s -> log mean(norms**s)``, the empirical :math:`E\|\Pi\|^s = 1`.

    Parameters
    ----------
    norms : array_like
        Non-negative sample of norms (at least one value).

    Returns
    -------
    float
        The root :math:`\hat\alpha > 0`; ``inf`` if no norm exceeds 1 (the mean of ``norms**s``
        never returns to 1); ``0.0`` if ``mean(log norms) >= 0`` (then ``mean(norms**s) > 1`` for every
        ``s > 0``, so the bound it gives, ``alpha >= 0``, is vacuous).

    Raises
    ------
    ValueError
        If ``norms`` is empty, negative or not finite.

    Notes
    -----
    :math:`f(s) = \log n^{-1}\sum_i \|\Pi^{(i)}\|^s` is convex with :math:`f(0) = 0` and
    :math:`f'(0) = n^{-1}\sum_i\log\|\Pi^{(i)}\|`, so when that slope is negative and some norm
    exceeds 1 there is exactly one positive root: :func:`hts_lib.recursion.empirical_tail_index` of the
    log-norms (a log-sum-exp, so huge norms do not overflow). A zero norm counts as ``log 0 = -inf`` (it
    lowers every moment). Where that root is ``nan`` (``f'(0) >= 0``) this returns ``0.0``: the answer is
    a lower bound on ``alpha``, and ``alpha >= 0`` is the vacuous one.

    Examples
    --------
    >>> round(norm_moment_root([0.5, 0.5, 2.0]), 12)     # (2 * 0.5^s + 2^s) / 3 = 1 at s = 1
    1.0
    >>> norm_moment_root([0.5, 0.9]), norm_moment_root([1.0, 1.5])
    (inf, 0.0)
    """
    arr = check_array("norms", norms, ndim=1)
    if np.any(arr < 0):
        raise ValueError("norms must be finite and non-negative")
    with np.errstate(divide="ignore"):
        logs = np.log(arr)
    if np.all(logs <= 0.0):
        return math.inf
    alpha = empirical_tail_index(logs)
    return 0.0 if math.isnan(alpha) else alpha


def product_norm_bound(
    eta: float,
    batch_size: int,
    dim: int,
    sample_a,
    *,
    n_factors: int = 1,
    n_samples: int = 100_000,
    n_replicas: int = 10,
    seed=None,
) -> MCEstimate:
    r"""Return the Monte Carlo lower bound :math:`\hat\alpha_k \le \alpha`, root of :math:`E\|\Pi_k\|^s = 1`.

    Here :math:`\Pi_k = M_k\cdots M_1` is a product of ``k`` SGD multipliers.

    Parameters
    ----------
    eta, batch_size, dim, sample_a
        As in :func:`product_norms`.
    n_factors : int
        ``k``: the number of SGD steps in the product (``k = 1``: one step).
    n_samples : int
        Products drawn per replica.
    n_replicas : int
        Blocks for the delete-one-block jackknife standard error (at least 2).
    seed : int, numpy Generator or None
        Randomness.

    Returns
    -------
    MCEstimate
        ``value`` is the root for all ``n_samples * n_replicas`` products pooled, ``stderr`` its
        jackknife standard error (``nan`` when the root is ``0`` or ``inf`` in some block).
        ``value == 0.0`` means the bound is vacuous (:math:`E\log\|\Pi_k\| \ge 0`), which always
        happens when ``k * batch_size < dim``: the product then fixes every vector orthogonal to
        the ``k b`` inputs, so :math:`\|\Pi_k\| \ge 1` surely. ``value == inf`` means no sampled
        product expanded.

    Raises
    ------
    ValueError
        If an argument is outside its range.
    TypeError
        If ``sample_a`` is not callable.

    Notes
    -----
    Submultiplicativity makes :math:`a_k = \log E\|\Pi_k\|^s` subadditive, so by Fekete's lemma
    :math:`h(s) = \inf_k a_k/k \le a_k/k` and the root of :math:`a_k` lies below :math:`\alpha`.
    The Monte Carlo mean of :math:`\|\Pi_k\|^s` is dominated by rare large products when ``k`` or
    ``s`` is large; it is then biased low and the estimated root biased *up*, so use moderate ``k``
    (the population Monte Carlo of :func:`hts_lib.recursion.tail_index_mc` is the tool for ``h``
    itself).

    Examples
    --------
    >>> from hts_lib.recursion import gaussian_sampler, tail_index
    >>> g = gaussian_sampler([1.0, 1.0])
    >>> [round(product_norm_bound(1.0, 2, 2, g, n_factors=k, n_samples=5000, seed=0).value, 2)
    ...  for k in (1, 4, 16)]                      # increasing towards alpha
    [0.0, 0.45, 0.91]
    >>> round(tail_index(1.0, 2, 2), 2)
    1.07
    """
    eta, b, d, sample_a, k, n = _check_products(eta, batch_size, dim, sample_a, n_factors, n_samples)
    r = check_int("n_replicas", n_replicas, low=2)
    rng = check_rng(seed)
    blocks = [product_norms(eta, b, d, sample_a, n_factors=k, n_samples=n, seed=rng) for _ in range(r)]
    pooled = np.concatenate(blocks)
    value = norm_moment_root(pooled)
    method = f"root of mean ||M_k...M_1||^s, k={k}, {n * r} products, jackknife over {r} blocks"
    if not 0.0 < value < math.inf:
        return MCEstimate(value, math.nan, n * r, method)
    loo = np.array([norm_moment_root(np.concatenate(blocks[:j] + blocks[j + 1 :])) for j in range(r)])
    if not np.all(np.isfinite(loo)) or np.any(loo == 0.0):
        return MCEstimate(value, math.nan, n * r, method)
    se = math.sqrt((r - 1) / r * float(((loo - loo.mean()) ** 2).sum()))
    return MCEstimate(value, se, n * r, method)
