"""Exact and Monte Carlo theory of random linear recursions x_k = M_k x_{k-1} + q_k.

Names follow one scheme: ``[model_]quantity[_mc]``. The quantities are ``log_moment`` (the moment function
``h(s)``), ``lyapunov_exponent`` (``rho = h'(0)``) and ``tail_index`` (``alpha``, the positive root of ``h``;
``nan`` when ``rho >= 0``, ``inf`` when there is no power-law tail). The model prefix is none for online SGD
on linear regression in ``d`` dimensions, ``sgd1d_`` for one-dimensional SGD, ``kesten_`` for a scalar
recursion with a given law of ``A``, ``offline1d_`` for one-dimensional offline SGD on a data set, ``matrix_``
for any random matrix given as a matrix action. The suffix ``_mc`` marks Monte Carlo estimates (an
:class:`MCEstimate` with a standard error); without it the value is exact (closed form or quadrature).

Modules:

- ``exact``: the exact engine for SGD on isotropic Gaussian data: h(s), rho, alpha, critical step sizes,
  moments.
- ``second_moments``: closed forms for any covariance and kurtosis: the spectral radius of E[M (x) M] and
  the stationary second moment.
- ``kesten``: the scalar Kesten recursion X = A X + B: theory, simulation, moment paths and snapshots.
- ``sgd1d``: one-dimensional SGD: theory, exact moments along the way, simulation.
- ``montecarlo``: Monte Carlo rho, h(s) and alpha for any random matrix (matrix actions) and for SGD with any
  input law.
- ``bounds``: product-norm lower bounds on alpha.
- ``finite_data``: offline SGD on a finite data set in one dimension.
- ``roots``: the root finder for convex log-moment functions and its nan/inf convention.
- ``samplers``: the sampler protocols (input samplers, pair samplers, matrix actions) and their factories.

``moments`` is a deprecated module path; the 0.1 names (``moment_function``, ``kesten_lyapunov``, ...) still
resolve here with a ``DeprecationWarning`` naming their replacement (see :mod:`hts_lib._deprecated`).
"""

from hts_lib._deprecated import forward
from hts_lib.recursion.bounds import norm_moment_root, product_norm_bound, product_norms
from hts_lib.recursion.exact import (
    ALPHA_MAX,
    CriticalStepSizes,
    critical_step_sizes,
    even_moment,
    even_moment_step_size,
    log_moment,
    lyapunov_exponent,
    lyapunov_exponent_grid,
    tail_index,
    tail_index_grid,
)
from hts_lib.recursion.finite_data import (
    offline1d_log_moment,
    offline1d_lyapunov_exponent,
    offline1d_tail_index,
)
from hts_lib.recursion.kesten import (
    KestenSnapshots,
    MomentPaths,
    kesten_log_moment,
    kesten_lyapunov_exponent,
    kesten_moment_paths,
    kesten_snapshots,
    kesten_tail_index,
    simulate_kesten,
)
from hts_lib.recursion.montecarlo import (
    MCEstimate,
    log_moment_mc,
    lyapunov_exponent_mc,
    matrix_log_moment_mc,
    matrix_lyapunov_exponent_mc,
    matrix_tail_index_mc,
    population_log_moments,
    second_moment_spectral_radius_mc,
    tail_index_mc,
)
from hts_lib.recursion.roots import empirical_log_moment, empirical_tail_index, log_moment_root
from hts_lib.recursion.samplers import (
    dataset_sampler,
    gaussian_sampler,
    rademacher_sampler,
    sgd1d_sampler,
    sgd_multiplier,
    student_t_sampler,
    uniform_sampler,
)
from hts_lib.recursion.second_moments import second_moment_spectral_radius, stationary_second_moment
from hts_lib.recursion.sgd1d import (
    StepSizes1D,
    sgd1d_log_moment,
    sgd1d_lyapunov_exponent,
    sgd1d_mixed_moment,
    sgd1d_moment_path,
    sgd1d_step_sizes,
    sgd1d_tail_index,
    simulate_sgd1d,
)

__all__ = [
    # online SGD, isotropic Gaussian data: exact
    "ALPHA_MAX",
    "log_moment",
    "lyapunov_exponent",
    "tail_index",
    "CriticalStepSizes",
    "critical_step_sizes",
    "tail_index_grid",
    "lyapunov_exponent_grid",
    "even_moment",
    "even_moment_step_size",
    # online SGD, any covariance and kurtosis: closed forms of second moments
    "second_moment_spectral_radius",
    "stationary_second_moment",
    # the scalar Kesten recursion
    "kesten_log_moment",
    "kesten_lyapunov_exponent",
    "kesten_tail_index",
    "simulate_kesten",
    "MomentPaths",
    "kesten_moment_paths",
    "KestenSnapshots",
    "kesten_snapshots",
    # one-dimensional SGD
    "sgd1d_log_moment",
    "sgd1d_lyapunov_exponent",
    "sgd1d_tail_index",
    "StepSizes1D",
    "sgd1d_step_sizes",
    "sgd1d_mixed_moment",
    "sgd1d_moment_path",
    "simulate_sgd1d",
    # Monte Carlo: any matrix action, and SGD with any input law
    "MCEstimate",
    "matrix_lyapunov_exponent_mc",
    "population_log_moments",
    "matrix_log_moment_mc",
    "matrix_tail_index_mc",
    "lyapunov_exponent_mc",
    "log_moment_mc",
    "tail_index_mc",
    "second_moment_spectral_radius_mc",
    # bounds and finite data
    "product_norms",
    "norm_moment_root",
    "product_norm_bound",
    "offline1d_log_moment",
    "offline1d_lyapunov_exponent",
    "offline1d_tail_index",
    # the root finder
    "log_moment_root",
    "empirical_log_moment",
    "empirical_tail_index",
    # samplers
    "gaussian_sampler",
    "rademacher_sampler",
    "uniform_sampler",
    "student_t_sampler",
    "dataset_sampler",
    "sgd1d_sampler",
    "sgd_multiplier",
]

__getattr__ = forward(__name__)
