"""Exact and Monte Carlo theory of random linear recursions x_k = M_k x_{k-1} + q_k.

Modules:

- ``exact``: the exact engine for SGD on isotropic Gaussian data: h(s), rho, alpha, critical step sizes, moments.
- ``kesten``: the scalar Kesten recursion X = A X + B and one-dimensional SGD.
- ``moments``: moment recursions and snapshots of one-dimensional SGD and Kesten chains.
- ``montecarlo``: Monte Carlo rho, h(s) and alpha for any data law; samplers; the alpha < 2 test.
- ``bounds``: product-norm moment bounds on alpha.
- ``finite_data``: SGD on a fixed, finite data set (offline SGD) in one dimension.
"""

from hts_lib.recursion.exact import (  # noqa: F401
    ALPHA_MAX, moment_function, lyapunov_exponent, tail_index, CriticalStepSizes,
    critical_step_sizes, tail_index_grid, lyapunov_exponent_grid, even_moment,
    even_moment_step_size,
)
from hts_lib.recursion.kesten import (  # noqa: F401
    kesten_log_moment, kesten_lyapunov, kesten_tail_index, sgd1d_log_moment, sgd1d_lyapunov,
    sgd1d_tail_index, sgd1d_step_sizes, StepSizes1D, simulate_kesten, simulate_sgd1d,
)
from hts_lib.recursion.moments import (  # noqa: F401
    sgd1d_sampler, sgd1d_mixed_moment, sgd1d_moment_path, MomentPaths, kesten_moment_paths,
    KestenSnapshots, kesten_snapshots,
)
from hts_lib.recursion.montecarlo import (  # noqa: F401
    MCEstimate, gaussian_sampler, rademacher_sampler, uniform_sampler, student_t_sampler,
    lyapunov_exponent_mc, moment_function_mc, tail_index_mc, second_moment_spectral_radius,
    second_moment_spectral_radius_mc,
)
from hts_lib.recursion.bounds import (  # noqa: F401
    product_norms, norm_moment_root, product_norm_bound,
)
from hts_lib.recursion.finite_data import (  # noqa: F401
    dataset_sampler, offline_lyapunov_1d, offline_tail_index_1d,
)

__all__ = [
    'ALPHA_MAX', 'moment_function', 'lyapunov_exponent', 'tail_index', 'CriticalStepSizes',
    'critical_step_sizes', 'tail_index_grid', 'lyapunov_exponent_grid', 'even_moment',
    'even_moment_step_size', 'kesten_log_moment', 'kesten_lyapunov', 'kesten_tail_index',
    'sgd1d_log_moment', 'sgd1d_lyapunov', 'sgd1d_tail_index', 'sgd1d_step_sizes', 'StepSizes1D',
    'simulate_kesten', 'simulate_sgd1d', 'sgd1d_sampler', 'sgd1d_mixed_moment', 'sgd1d_moment_path',
    'MomentPaths', 'kesten_moment_paths', 'KestenSnapshots', 'kesten_snapshots', 'MCEstimate',
    'gaussian_sampler', 'rademacher_sampler', 'uniform_sampler', 'student_t_sampler',
    'lyapunov_exponent_mc', 'moment_function_mc', 'tail_index_mc', 'second_moment_spectral_radius',
    'second_moment_spectral_radius_mc', 'product_norms', 'norm_moment_root', 'product_norm_bound',
    'dataset_sampler', 'offline_lyapunov_1d', 'offline_tail_index_1d',
]
