"""Deprecated module path (removed in hts_lib 0.3).

Its names moved: the exact moments of one-dimensional SGD to :mod:`hts_lib.recursion.sgd1d`, the Monte Carlo
moment paths and snapshots of the scalar recursion to :mod:`hts_lib.recursion.kesten`, ``sgd1d_sampler`` to
:mod:`hts_lib.recursion.samplers`. Import them from :mod:`hts_lib.recursion`.
"""

from hts_lib._deprecated import forward

__getattr__ = forward(__name__)
