"""Tail-index estimators and laws with known tails.

Modules:

- ``estimators``: Hill, Pickands, moment (Dekkers-Einmahl-de Haan), block (alpha-stable) and power-law MLE
  estimators.
- ``distributions``: samplers and tail constants of Pareto, symmetric stable, elliptical stable and Student-t
  laws.
"""

from hts_lib.tails import distributions, estimators
from hts_lib.tails.distributions import *  # noqa: F403
from hts_lib.tails.estimators import *  # noqa: F403

__all__ = [
    *estimators.__all__,  # the estimators and their result types
    *distributions.__all__,  # laws with known tails
]
