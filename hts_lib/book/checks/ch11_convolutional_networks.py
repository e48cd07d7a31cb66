"""Checks for the coding exercises of the chapter "Convolutional networks"."""

from __future__ import annotations

import numpy as np

from hts_lib.tails import alpha_stable

from . import _reference_cases, register


# ---------------------------------------------------------------------------------------------
# ch11-vgg-params: parameter count of a VGG-style network
# ---------------------------------------------------------------------------------------------
def _vgg_count_from_library(config, in_channels: int, n_classes: int, hidden: int, image_size: int) -> int:
    from hts_lib.nn.nets import count_parameters, vgg

    return count_parameters(
        vgg((in_channels, image_size, image_size), n_classes, config=tuple(config), hidden=hidden, bias=True)
    )


def _vgg_params_reference(config, in_channels, n_classes, hidden, image_size) -> int:
    return _vgg_count_from_library(config, in_channels, n_classes, hidden, image_size)


@register("ch11-vgg-params", "Number of parameters of a VGG-style network", reference=_vgg_params_reference)
def _cases_vgg_params():
    vgg11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    settings = [
        ("VGG11 on CIFAR-10", (vgg11, 3, 10, 512, 32)),
        ("two blocks on MNIST", ([8, "M", 16, "M"], 1, 10, 32, 28)),
        ("odd image size 15 (pools round down)", ([4, 4, "M", 6, "M"], 2, 5, 7, 15)),
    ]
    return _reference_cases(
        _vgg_count_from_library,
        settings,
        rtol=0.0,
        atol=0.5,
        reason="an integer count: exact (counted from the library's model)",
    )


# ---------------------------------------------------------------------------------------------
# ch11-shuffled-alpha: block estimator after a random permutation of the coordinates
# ---------------------------------------------------------------------------------------------
def _shuffled_reference(w, m_values, seed) -> float:
    x = np.asarray(w, dtype=float).ravel()
    x = np.random.default_rng(seed).permutation(x - x.mean())
    return alpha_stable(x, m=list(m_values), ci="none").alpha


@register(
    "ch11-shuffled-alpha", "Block estimator of randomly permuted weights", reference=_shuffled_reference
)
def _cases_shuffled():
    rng = np.random.default_rng(11)
    smooth = np.cumsum(rng.standard_normal((16, 8, 3, 3)), axis=-1)  # correlated neighbouring taps
    settings = [
        ("correlated 16 x 8 x 3 x 3 filters", (smooth, (2, 5, 10, 20, 50, 100, 500), 0)),
        ("Student-t(2) weights 64 x 64", (rng.standard_t(2, size=(64, 64)), (2, 5, 10, 100), 1)),
        ("shifted Gaussian weights 500", (2.0 + rng.standard_normal(500), (2, 5, 10), 2)),
    ]
    return _reference_cases(
        _shuffled_reference,
        settings,
        rtol=1e-9,
        reason="deterministic for a given seed; only rounding may differ",
    )
