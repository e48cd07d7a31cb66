"""Neural networks: data, models, training, sharpness and the experiment runner.

This is the only part of the package that imports torch.

Modules (imported lazily; torch only where needed):

- ``data``: data sets (MNIST subset shipped offline, MNIST, CIFAR-10) and verified downloads.
- ``nets``: the fully connected, small CNN, LeNet-5-sized and VGG models.
- ``training``: SGD training with averaged weights, and per-layer tail indices.
- ``sharpness``: Hessian-vector products, top eigenvalue and trace.
- ``ensemble``: many models of one architecture trained as one batched computation.
- ``results``: shipped result folders, the run-status rule, seed-aware intervals, source hashes.
- ``experiments``: the sweep runner: grids, result files with provenance, resume, command line.
- ``cluster``: sweeps on a Dask cluster (``local:N`` or ``tcp://HOST:PORT``), used by ``experiments``.
- ``linearised``: a trained network's tail index predicted from its minibatch Hessians, and SGD chains
  started at a minimum.
"""

# Lazy: ``from hts_lib.nn import grid_configs`` must not import torch (the runner's command line reads
# and validates result files without it); each name is imported from its module on first use.
import importlib

_MODULE_OF = {
    'Dataset': 'data',
    'DATASETS': 'data',
    'DOWNLOADS': 'data',
    'default_data_dir': 'data',
    'load_dataset': 'data',
    'download': 'data',
    'download_file': 'data',
    'sha256_file': 'data',
    'read_idx': 'data',
    'read_cifar10': 'data',
    'MODEL_NAMES': 'nets',
    'VGG11_CONFIG': 'nets',
    'build_model': 'nets',
    'fully_connected': 'nets',
    'small_cnn': 'nets',
    'lenet5': 'nets',
    'vgg': 'nets',
    'layer_weights': 'nets',
    'count_parameters': 'nets',
    'AUTHORS_M': 'training',
    'DEFAULT_CONFIG': 'training',
    'DATASET_SIZES': 'training',
    'TrainResult': 'training',
    'normalise_config': 'training',
    'train_sgd': 'training',
    'evaluate': 'training',
    'weight_tail_indices': 'training',
    'run_from_config': 'training',
    'resolve_device': 'training',
    'SharpnessEstimate': 'sharpness',
    'TraceEstimate': 'sharpness',
    'hessian_vector_product': 'sharpness',
    'top_hessian_eigenvalue': 'sharpness',
    'hessian_trace': 'sharpness',
    'sharpness': 'sharpness',
    'ENSEMBLE_AXES': 'ensemble',
    'MAX_MODELS': 'ensemble',
    'train_ensemble': 'ensemble',
    'IterateSamples': 'ensemble',
    'record_iterates': 'ensemble',
    'run_ensemble': 'ensemble',
    'ensemble_groups': 'ensemble',
    'run_ensemble_sweep': 'ensemble',
    'COLLAPSE_ACC': 'results',
    'TRAINED_ACC': 'results',
    'RUN_STATUSES': 'results',
    'SOURCE_FUNCTIONS': 'results',
    'results_dir': 'results',
    'run_status': 'results',
    'run_statuses': 'results',
    'cell_summary': 'results',
    'hierarchical_bootstrap': 'results',
    'spearman_interval': 'results',
    'interval_reading': 'results',
    'source_hash': 'results',
    'RESULT_SCHEMA': 'experiments',
    'GRIDS': 'experiments',
    'VGG_CODE_DEFAULTS': 'experiments',
    'SweepReport': 'experiments',
    'validate_result': 'experiments',
    'sweep_grid': 'experiments',
    'grid_configs': 'experiments',
    'run_id': 'experiments',
    'run_sweep': 'experiments',
    'load_results': 'experiments',
    'results_table': 'experiments',
    'sweep_status': 'experiments',
    'ClusterSpec': 'cluster',
    'parse_cluster': 'cluster',
    'cluster_client': 'cluster',
    'run_on_cluster': 'cluster',
    'RunFailed': 'cluster',
    'LinearisedTailIndex': 'linearised',
    'linearised_tail_index': 'linearised',
    'minibatch_hvp': 'linearised',
    'mlp_minibatch_hvp': 'linearised',
    'MinimumCheck': 'linearised',
    'find_minimum': 'linearised',
    'check_minimum': 'linearised',
    'ChainProjections': 'linearised',
    'sgd_chains_from_minimum': 'linearised',
    'teacher_student': 'linearised',
    'mnist_fc': 'linearised',
}

__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'hts_lib.nn' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hts_lib.nn.{_MODULE_OF[name]}"), name)


def __dir__():
    return sorted(__all__)
