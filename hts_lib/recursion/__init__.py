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
from hts_lib.recursion import (
    bounds,
    exact,
    finite_data,
    kesten,
    montecarlo,
    roots,
    samplers,
    second_moments,
    sgd1d,
)
from hts_lib.recursion.bounds import *  # noqa: F403
from hts_lib.recursion.exact import *  # noqa: F403
from hts_lib.recursion.finite_data import *  # noqa: F403
from hts_lib.recursion.kesten import *  # noqa: F403
from hts_lib.recursion.montecarlo import *  # noqa: F403
from hts_lib.recursion.roots import *  # noqa: F403
from hts_lib.recursion.samplers import (  # noqa: F401 (the factories; the protocols stay in the module)
    dataset_sampler,
    gaussian_sampler,
    rademacher_sampler,
    sgd1d_sampler,
    sgd_multiplier,
    student_t_sampler,
    uniform_sampler,
)
from hts_lib.recursion.second_moments import *  # noqa: F403
from hts_lib.recursion.sgd1d import *  # noqa: F403

__all__ = [
    *exact.__all__,  # online SGD, isotropic Gaussian data: exact
    *second_moments.__all__,  # online SGD, any covariance and kurtosis: closed forms of second moments
    *kesten.__all__,  # the scalar Kesten recursion
    *sgd1d.__all__,  # one-dimensional SGD
    *montecarlo.__all__,  # Monte Carlo: any matrix action, and SGD with any input law
    *bounds.__all__,  # bounds and finite data
    *finite_data.__all__,
    *roots.__all__,  # the root finder
    *samplers._FACTORIES,  # samplers: the factories (the protocols and their checks stay in the module)
]

__getattr__ = forward(__name__)
