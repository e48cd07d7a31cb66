"""Simulation of SGD chains: the batched chain engine, online/offline SGD, the authors' synthetic protocol.

Modules:

- ``engine``: the batched, memory-bounded chain engine.
- ``sgd``: online and offline SGD on linear regression.
- ``synthetic``: the paper's synthetic experiment and its validation against the exact engine.
"""

from hts_lib.simulate.engine import (  # noqa: F401
    DEFAULT_MAX_NORM,
    SimulationResult,
    default_block_size,
    simulate_recursion,
)
from hts_lib.simulate.sgd import (  # noqa: F401
    DATA_MODELS,
    sample_batch_indices,
    simulate_offline,
    simulate_online,
    stationary_second_moment,
)
from hts_lib.simulate.synthetic import (  # noqa: F401
    AUTHORS_M,
    PAPER_BATCH_SIZES,
    PAPER_ETAS,
    ProtocolTable,
    ValidationTable,
    authors_protocol,
    make_regression_data,
    step_size_for_tail_index,
    validation_experiment,
)

__all__ = [
    'DEFAULT_MAX_NORM',
    'SimulationResult',
    'simulate_recursion',
    'default_block_size',
    'simulate_online',
    'simulate_offline',
    'stationary_second_moment',
    'sample_batch_indices',
    'DATA_MODELS',
    'AUTHORS_M',
    'PAPER_ETAS',
    'PAPER_BATCH_SIZES',
    'make_regression_data',
    'ProtocolTable',
    'authors_protocol',
    'step_size_for_tail_index',
    'ValidationTable',
    'validation_experiment',
]
