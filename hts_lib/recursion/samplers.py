r"""Samplers: how the random parts of a recursion are given to the library, in one place.

A random linear recursion :math:`x_k = M_kx_{k-1} + q_k` is given to the functions of :mod:`hts_lib.recursion`
and :mod:`hts_lib.simulate` through callables that draw from a ``numpy.random.Generator``. There are three
protocols, each for one kind of model; every sampler draws only from the generator it is given, so one seed
fixes a run.

**Input sampler** ``sample_a(rng, n, dim) -> ndarray (n, dim)``: ``n`` i.i.d. data vectors :math:`a`. Online
SGD on linear regression with batches of ``b`` inputs has the multiplier
:math:`M = I - (\eta/b)\sum_{i\le b} a_ia_i^\top`, so an input sampler is the whole law of ``M``. Taken by the
Monte Carlo :math:`\rho`, :math:`h(s)`, :math:`\alpha` of :mod:`hts_lib.recursion.montecarlo`, the bounds of
:mod:`hts_lib.recursion.bounds` and the studies of :mod:`hts_lib.simulate.studies`. Built by
:func:`gaussian_sampler`, :func:`rademacher_sampler`, :func:`uniform_sampler`, :func:`student_t_sampler`
(all but the anisotropic Gaussian with covariance :math:`\sigma^2 I`) and :func:`dataset_sampler` (rows of a
fixed data set: offline SGD). Samplers may carry the attributes ``kurtosis``, ``sigma``, ``spectrum`` or
``n``.

**Pair sampler** ``sample_ab(rng, n) -> (A, B)``: two arrays of shape ``(n,)``, ``n`` i.i.d. draws of the pair
:math:`(A_k, B_k)` of a scalar recursion :math:`X_k = A_kX_{k-1} + B_k` (``A`` and ``B`` may be dependent, as
in SGD). Taken by :func:`hts_lib.recursion.simulate_kesten`, :func:`hts_lib.recursion.kesten_moment_paths` and
:func:`hts_lib.recursion.kesten_snapshots`, called once per step. Built by :func:`sgd1d_sampler`.

**Matrix action** ``apply_m(rng, u) -> v``: ``u`` has shape ``(n, d)`` or ``(k, n, d)``; the action draws
``n`` independent copies :math:`M_1, \dots, M_n` of the random matrix (from ``rng`` only) and returns ``v``
of the shape of ``u`` with ``v[..., i, :] = M_i u[..., i, :]``: with a leading axis, the same ``n`` matrices
act on ``k`` vectors each (the population Monte Carlo runs several orders ``s`` on common random numbers this
way).
It is the general way to give ``M``, for any model where :math:`Mu` is cheaper than ``M`` itself (for a
network, ``M = I - \eta H_B`` through minibatch Hessian-vector products). Taken by
:func:`hts_lib.recursion.matrix_lyapunov_exponent_mc`, :func:`hts_lib.recursion.matrix_log_moment_mc` and
:func:`hts_lib.recursion.matrix_tail_index_mc`. Built for SGD on linear regression by :func:`sgd_multiplier`.

The simulators of :mod:`hts_lib.simulate` take the matrix itself, ``sample_m(rng, n) -> (n, d, d)`` with
``sample_q(rng, n) -> (n, d)`` (:func:`hts_lib.simulate.simulate_recursion`), or a standardised coordinate law
``data(rng, size) -> ndarray of shape size`` (:func:`hts_lib.simulate.simulate_online`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hts_lib.validation import check_array, check_int, check_positive, check_real

#: The sampler factories: the part of this module that :mod:`hts_lib.recursion` exports.
_FACTORIES = (
    "gaussian_sampler",
    "rademacher_sampler",
    "uniform_sampler",
    "student_t_sampler",
    "dataset_sampler",
    "sgd1d_sampler",
    "sgd_multiplier",
)

__all__ = [
    "InputSampler",
    "PairSampler",
    "MatrixAction",
    *_FACTORIES,
    "check_covariance",
    "check_input_sampler",
    "draw_inputs",
    "check_pair_sampler",
    "draw_pairs",
]

#: ``sample_a(rng, n, dim) -> (n, dim)``: i.i.d. data vectors.
InputSampler = Callable[[np.random.Generator, int, int], np.ndarray]
#: ``sample_ab(rng, n) -> (A, B)``: i.i.d. pairs of a scalar recursion.
PairSampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]
#: ``apply_m(rng, u) -> v``: fresh random matrices applied to the rows of ``u``.
MatrixAction = Callable[[np.random.Generator, np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------------------------
# Checks shared by the functions that take samplers
# ----------------------------------------------------------------------------------------------


def check_covariance(cov, dim: int | None = None, *, spectrum: bool = True) -> np.ndarray:
    """Return a covariance as a float array, checked: a positive spectrum (1-D) or a positive definite matrix.

    Parameters
    ----------
    cov : array_like
        Positive variances (shape ``(d,)``, a diagonal covariance) or a ``d x d`` matrix.
    dim : int, optional
        The dimension ``d`` it must have.
    spectrum : bool
        Whether a 1-D spectrum is accepted.

    Returns
    -------
    ndarray
        ``cov`` as float64 (unchanged values).

    Raises
    ------
    ValueError
        Wrong shape, a non-positive variance, a matrix that is not symmetric (to 1e-10 relative) or not
        positive definite.

    Examples
    --------
    >>> check_covariance([[2.0, 0.5], [0.5, 1.0]], dim=2).shape
    (2, 2)
    """
    arr = check_array("cov", cov, ndim=(1, 2) if spectrum else 2)
    d = arr.shape[0]
    if dim is not None and arr.shape[0] != check_int("dim", dim, low=1):
        raise ValueError(f"cov must have {dim} rows to match dim, got shape {arr.shape}")
    if arr.ndim == 1:
        if np.any(arr <= 0):
            raise ValueError("cov (a spectrum) must hold positive variances")
        return arr
    if arr.shape != (d, d):
        raise ValueError(f"cov must be a symmetric square matrix, got shape {arr.shape}")
    if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12 * float(np.abs(arr).max() or 1.0)):
        raise ValueError("cov must be symmetric")
    lam_min = float(np.linalg.eigvalsh(arr).min())
    if lam_min <= 0.0:
        raise ValueError(f"cov must be positive definite (smallest eigenvalue {lam_min:.3g})")
    return arr


def check_input_sampler(sample_a, dim: int) -> InputSampler:
    """Return ``sample_a`` if it is callable, or the standard Gaussian sampler of dimension ``dim`` if None.

    Examples
    --------
    >>> check_input_sampler(None, 3)(np.random.default_rng(0), 2, 3).shape
    (2, 3)
    """
    if sample_a is None:
        return gaussian_sampler(np.ones(check_int("dim", dim, low=1)))
    if not callable(sample_a):
        raise TypeError("sample_a must be a callable sample_a(rng, n, dim) -> (n, dim) array")
    return sample_a


def draw_inputs(sample_a: InputSampler, rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Return ``sample_a(rng, n, dim)`` as a float array, checking its shape.

    Examples
    --------
    >>> draw_inputs(rademacher_sampler(), np.random.default_rng(0), 4, 2).shape
    (4, 2)
    """
    a = np.asarray(sample_a(rng, n, dim), dtype=float)
    if a.shape != (n, dim):
        raise ValueError(f"sample_a(rng, {n}, {dim}) must return shape {(n, dim)}, got {a.shape}")
    return a


def check_pair_sampler(sample_ab) -> PairSampler:
    """Return ``sample_ab`` if it is callable.

    Examples
    --------
    >>> check_pair_sampler(sgd1d_sampler(0.5)) is not None
    True
    """
    if not callable(sample_ab):
        raise TypeError("sample_ab must be callable: sample_ab(rng, n) -> (A, B), two arrays of shape (n,)")
    return sample_ab


def draw_pairs(sample_ab: PairSampler, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``sample_ab(rng, n)``, checking that it is two arrays of shape ``(n,)``.

    Examples
    --------
    >>> [v.shape for v in draw_pairs(sgd1d_sampler(0.5), np.random.default_rng(0), 3)]
    [(3,), (3,)]
    """
    a, b = sample_ab(rng, n)
    if np.shape(a) != (n,) or np.shape(b) != (n,):
        raise ValueError(
            f"sample_ab must return two arrays of shape ({n},), got {np.shape(a)} and {np.shape(b)}"
        )
    return a, b


# ----------------------------------------------------------------------------------------------
# Input samplers
# ----------------------------------------------------------------------------------------------


def gaussian_sampler(cov) -> InputSampler:
    """Return the input sampler of ``a ~ N(0, cov)``, ``cov`` a spectrum (diagonal covariance) or a matrix.

    Parameters
    ----------
    cov : array_like
        Positive variances (length ``d``) or a symmetric positive definite ``d x d`` matrix.

    Returns
    -------
    callable
        ``sample_a(rng, n, dim) -> (n, dim)`` (``dim`` must equal ``d``), with attributes ``spectrum`` (the
        eigenvalues of ``cov``) and ``kurtosis`` (3).

    Raises
    ------
    ValueError
        If ``cov`` is not a positive spectrum or a symmetric positive definite matrix.

    Notes
    -----
    The law of the SGD products depends on ``cov`` only through its eigenvalues (rotational
    invariance of the Gaussian), so a diagonal covariance loses no generality.

    Used in: chapters/ch04_random_linear_recursions.ipynb, chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> a = gaussian_sampler([1.0, 4.0])(np.random.default_rng(0), 100_000, 2)
    >>> np.round(a.var(axis=0), 1)
    array([1., 4.])
    """
    arr = check_covariance(cov)
    if arr.ndim == 1:
        lam, factor = arr, None
    else:
        lam, vec = np.linalg.eigh(0.5 * (arr + arr.T))
        factor = vec * np.sqrt(lam)[None, :]
    d = lam.size
    sd = np.sqrt(lam)

    def sample_a(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        if dim != d:
            raise ValueError(f"dim must equal the size of cov ({d}), got {dim}")
        z = rng.standard_normal((n, d))
        return z * sd if factor is None else z @ factor.T

    sample_a.spectrum = lam
    sample_a.kurtosis = 3.0
    return sample_a


def _iid_sampler(draw, kurt: float, sigma: float) -> InputSampler:
    def sample_a(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
        return sigma * draw(rng, (n, dim))

    sample_a.sigma = sigma
    sample_a.kurtosis = kurt
    return sample_a


def rademacher_sampler(sigma: float = 1.0) -> InputSampler:
    """Return the input sampler with i.i.d. coordinates ``+-sigma`` (kurtosis 1).

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> np.unique(rademacher_sampler(2.0)(np.random.default_rng(0), 100, 3)).tolist()
    [-2.0, 2.0]
    """
    sigma = check_positive("sigma", sigma)
    return _iid_sampler(lambda rng, shape: 2.0 * rng.integers(0, 2, size=shape) - 1.0, 1.0, sigma)


def uniform_sampler(sigma: float = 1.0) -> InputSampler:
    """Return the input sampler with i.i.d. coordinates uniform on ``[-sqrt(3) sigma, sqrt(3) sigma]``.

    The coordinates have variance ``sigma^2`` and kurtosis 9/5.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> x = uniform_sampler()(np.random.default_rng(0), 200_000, 1)
    >>> round(float(x.var()), 2)
    1.0
    """
    sigma = check_positive("sigma", sigma)
    r3 = math.sqrt(3.0)
    return _iid_sampler(lambda rng, shape: rng.uniform(-r3, r3, size=shape), 1.8, sigma)


def student_t_sampler(nu: float, sigma: float = 1.0) -> InputSampler:
    """Return the input sampler with i.i.d. Student-t coordinates scaled to variance ``sigma^2``.

    Parameters
    ----------
    nu : float
        Degrees of freedom, ``nu > 4`` so that the fourth moment (needed for ``E[M (x) M]``) is
        finite; the kurtosis is ``3 + 6 / (nu - 4)``.
    sigma : float
        Standard deviation of each coordinate.

    Returns
    -------
    callable
        ``sample_a(rng, n, dim) -> (n, dim)``.

    Notes
    -----
    Student-t data have only moments of order ``< nu``: ``E||M||^s`` is finite only for
    ``s < nu / 2``, so ``h(s)`` and ``alpha`` are meaningful only below that order, and the
    stationary tail index is at most ``nu / 2`` whatever the root of ``h`` says. The paper's
    theorem assumes all moments finite; this sampler is for exploring what heavy-tailed data do.

    Used in: chapters/ch08_beyond_isotropic_data.ipynb.

    Examples
    --------
    >>> x = student_t_sampler(10.0)(np.random.default_rng(0), 400_000, 1)
    >>> round(float(x.var()), 1)
    1.0
    """
    nu = check_real("nu", nu, low=4.0, low_open=True)
    sigma = check_positive("sigma", sigma)
    scale = math.sqrt((nu - 2.0) / nu)
    return _iid_sampler(
        lambda rng, shape: scale * rng.standard_t(nu, size=shape), 3.0 + 6.0 / (nu - 4.0), sigma
    )


def dataset_sampler(X) -> InputSampler:
    r"""Return the input sampler of rows of a fixed data set ``X`` (uniformly, with replacement).

    Parameters
    ----------
    X : array_like, shape (n, d)
        The data set (inputs only: the multiplier of SGD does not depend on the responses).

    Returns
    -------
    callable
        ``sample_a(rng, m, dim) -> (m, dim)`` array of rows of ``X`` (``dim`` must equal ``d``), with the
        attribute ``n``.

    Raises
    ------
    ValueError
        If ``X`` is not a finite 2-D array with at least one row, or ``dim`` disagrees with it.

    Notes
    -----
    With batch size 1 this is exactly the law of the multiplier of offline SGD
    :math:`M = I - \eta x_ix_i^\top`, ``i`` uniform; for ``b > 1`` it is offline SGD with batches drawn
    with replacement (without replacement differs by ``O(b/n)``).

    Examples
    --------
    >>> sample = dataset_sampler([[1.0, 0.0], [0.0, 2.0]])
    >>> sample(np.random.default_rng(0), 4, 2).tolist()
    [[0.0, 2.0], [0.0, 2.0], [0.0, 2.0], [1.0, 0.0]]
    """
    data = check_array("X", X, ndim=2)
    n, d = data.shape
    data = np.ascontiguousarray(data)

    def sample_a(rng: np.random.Generator, m: int, dim: int) -> np.ndarray:
        if dim != d:
            raise ValueError(f"dim must equal the number of columns of X ({d}), got {dim}")
        return data[rng.integers(0, n, size=m)]

    sample_a.n = n
    return sample_a


# ----------------------------------------------------------------------------------------------
# Pair sampler and matrix action of SGD
# ----------------------------------------------------------------------------------------------


def sgd1d_sampler(eta: float, sigma: float = 1.0, noise: float = 1.0) -> PairSampler:
    """Return the pair ``(A, B)`` of one-dimensional SGD as a pair sampler ``sample_ab(rng, n) -> (A, B)``.

    ``A = 1 - eta a^2`` and ``B = eta * noise * a * eps`` with ``a ~ N(0, sigma^2)`` and ``eps ~ N(0, 1)``,
    drawn in this order (``a`` then ``eps``); :func:`hts_lib.recursion.simulate_sgd1d` runs this sampler, so
    the simulators of the scalar recursion follow the same chains for the same seed.

    Parameters
    ----------
    eta : float
        Step size, ``eta > 0``.
    sigma : float
        Standard deviation of the input, ``> 0``.
    noise : float
        Standard deviation of the label noise, ``>= 0``.

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        An argument outside its range.

    Used in: chapters/ch09_moments_and_averages.ipynb.

    Examples
    --------
    >>> a, b = sgd1d_sampler(0.5)(np.random.default_rng(0), 3)
    >>> a.shape, b.shape
    ((3,), (3,))
    """
    eta = check_positive("eta", eta)
    sigma = check_positive("sigma", sigma)
    noise = check_real("noise", noise, low=0.0)

    def sample_ab(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        a = rng.normal(0.0, sigma, n)
        return 1.0 - eta * a * a, eta * noise * a * rng.standard_normal(n)

    return sample_ab


def sgd_multiplier(
    eta: float, batch_size: int, dim: int, sample_a: InputSampler | None = None
) -> MatrixAction:
    r"""Return the SGD multiplier :math:`M = I - (\eta/b)\sum_{i\le b} a_ia_i^\top` as a matrix action.

    Parameters
    ----------
    eta : float
        Step size, ``eta > 0``.
    batch_size : int
        Batch size ``b >= 1``.
    dim : int
        Dimension ``d >= 1``.
    sample_a : callable, optional
        Input sampler ``sample_a(rng, n, dim) -> (n, dim)``; default ``N(0, I_d)``.

    Returns
    -------
    callable
        ``apply_m(rng, u) -> v`` for ``u`` of shape ``(n, d)`` or ``(k, n, d)``: each call draws ``n * b``
        inputs (one ``sample_a`` call) and applies the ``n`` resulting multipliers. Its attributes ``eta``,
        ``batch_size``, ``dim`` and ``sample_a`` record the model.

    Raises
    ------
    ValueError, TypeError
        A bad ``eta``, ``batch_size`` or ``dim``, or a ``sample_a`` that is not callable.

    Notes
    -----
    :math:`Mu = u - (\eta/b)\sum_i a_i(a_i^\top u)`: ``O(b d)`` per vector, ``M`` is never formed.

    Examples
    --------
    >>> apply_m = sgd_multiplier(0.25, 1, 2, rademacher_sampler())
    >>> v = apply_m(np.random.default_rng(0), np.ones((4, 2)))     # four walkers at u = (1, 1)
    >>> np.round(np.linalg.norm(v, axis=1), 6).tolist()    # ||a||^2 = 2: M halves u if a = +-u, else keeps it
    [0.707107, 1.414214, 0.707107, 0.707107]
    """
    eta = check_positive("eta", eta)
    b = check_int("batch_size", batch_size, low=1)
    d = check_int("dim", dim, low=1)
    sample_a = check_input_sampler(sample_a, d)
    eob = eta / b

    def apply_m(rng: np.random.Generator, u: np.ndarray) -> np.ndarray:
        n = u.shape[-2]
        if u.shape[-1] != d:
            raise ValueError(f"u must have {d} columns (dim), got shape {u.shape}")
        a = draw_inputs(sample_a, rng, n * b, d).reshape(n, b, d)
        proj = np.einsum("nbd,...nd->...nb", a, u)
        return u - eob * np.einsum("nbd,...nb->...nd", a, proj)

    apply_m.eta, apply_m.batch_size, apply_m.dim, apply_m.sample_a = eta, b, d, sample_a
    return apply_m
