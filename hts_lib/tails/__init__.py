"""Tail-index estimators and laws with known tails.

Modules:

- ``estimators``: Hill, Pickands, moment (Dekkers-Einmahl-de Haan), block (alpha-stable) and power-law MLE
  estimators.
- ``distributions``: samplers and tail constants of Pareto, symmetric stable, elliptical stable and Student-t
  laws.
"""

from hts_lib.tails.distributions import (  # noqa: F401
    sample_elliptical_stable,
    sample_pareto,
    sample_symmetric_stable,
    student_t_tail_constant,
    symmetric_stable_tail_constant,
)
from hts_lib.tails.estimators import (  # noqa: F401
    DEFAULT_M,
    MIN_SAMPLES,
    MIN_TAIL,
    HillPath,
    TailEstimate,
    alpha_stable,
    hill,
    hill_path,
    magnitudes,
    moment_estimator,
    pickands,
    powerlaw_mle,
)

__all__ = [
    'TailEstimate',
    'HillPath',
    'MIN_SAMPLES',
    'MIN_TAIL',
    'DEFAULT_M',
    'hill',
    'hill_path',
    'pickands',
    'moment_estimator',
    'alpha_stable',
    'powerlaw_mle',
    'magnitudes',
    'sample_pareto',
    'sample_symmetric_stable',
    'sample_elliptical_stable',
    'symmetric_stable_tail_constant',
    'student_t_tail_constant',
]
