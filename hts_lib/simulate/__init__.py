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
from hts_lib.simulate.engine import (
    DEFAULT_MAX_NORM,
    ChainBlock,
    ChainSettings,
    SimulationResult,
    block_rng,
    chain_settings,
    check_n_jobs,
    check_start,
    default_block_size,
    run_chains,
    simulate_recursion,
)
from hts_lib.simulate.sgd import DATA_MODELS, sample_batch_indices, simulate_offline, simulate_online
from hts_lib.simulate.studies import (
    BoundPath,
    MCSweep,
    NormTail,
    OfflineCase,
    OfflineSpread,
    kurtosis_threshold,
    mc_sweep,
    offline_spread_1d,
    offline_study,
    online_norm_tail,
    product_bound_path,
    rademacher_plane_tail_index,
)
from hts_lib.simulate.synthetic import (
    PAPER_BATCH_SIZES,
    PAPER_ETAS,
    PAPER_M,
    ProtocolTable,
    ValidationTable,
    authors_protocol,
    make_regression_data,
    step_size_for_tail_index,
    validation_experiment,
)

__all__ = [
    # the chain engine
    "DEFAULT_MAX_NORM",
    "SimulationResult",
    "simulate_recursion",
    "default_block_size",
    "ChainSettings",
    "chain_settings",
    "check_start",
    "check_n_jobs",
    "ChainBlock",
    "run_chains",
    "block_rng",
    # SGD on linear regression
    "simulate_online",
    "simulate_offline",
    "sample_batch_indices",
    "DATA_MODELS",
    # the authors' synthetic protocol
    "PAPER_M",
    "PAPER_ETAS",
    "PAPER_BATCH_SIZES",
    "make_regression_data",
    "ProtocolTable",
    "authors_protocol",
    "step_size_for_tail_index",
    "ValidationTable",
    "validation_experiment",
    # studies beyond isotropic Gaussian data
    "MCSweep",
    "mc_sweep",
    "kurtosis_threshold",
    "rademacher_plane_tail_index",
    "BoundPath",
    "product_bound_path",
    "NormTail",
    "online_norm_tail",
    "OfflineCase",
    "offline_study",
    "OfflineSpread",
    "offline_spread_1d",
]

__getattr__ = forward(__name__)
