"""Simulation of SGD chains: the batched chain engine, online/offline SGD, the authors' synthetic protocol.

Modules:

- ``engine``: the batched, memory-bounded chain engine (and its public API for writing simulators).
- ``sgd``: online and offline SGD on linear regression.
- ``synthetic``: the paper's synthetic experiment and its validation against the exact engine.
- ``studies``: the parameter studies of the chapter "Beyond isotropic Gaussian data", one call each.

The closed forms the simulations are tested against live in :mod:`hts_lib.recursion`
(``stationary_second_moment``, formerly exported here, still resolves with a ``DeprecationWarning``, and so
does ``AUTHORS_M``, now ``PAPER_M``: ``hts_lib.nn.AUTHORS_M`` is the networks' list).
"""

from hts_lib._deprecated import forward
from hts_lib.simulate import engine, sgd, studies, synthetic
from hts_lib.simulate.engine import *  # noqa: F403
from hts_lib.simulate.sgd import *  # noqa: F403
from hts_lib.simulate.studies import *  # noqa: F403
from hts_lib.simulate.synthetic import *  # noqa: F403

__all__ = [
    *engine.__all__,  # the chain engine
    *sgd.__all__,  # SGD on linear regression
    *synthetic.__all__,  # the authors' synthetic protocol
    *studies.__all__,  # studies beyond isotropic Gaussian data
]

__getattr__ = forward(__name__)
