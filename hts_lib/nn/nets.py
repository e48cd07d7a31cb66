"""Neural networks for Part III: the paper's fully connected net, a small CNN and a VGG-style CNN.

Every network is an ``nn.Sequential`` whose weight-carrying layers are named ``"layer1"``,
``"layer2"``, ... in the order the data meets them, so per-layer reports (tail indices,
norms) use the same names for every model. Activations, pooling and reshaping modules carry
other names (``"relu1"``, ``"pool1"``, ``"flatten"``), so ``layer_weights`` finds exactly the
layers.

This module imports torch; ``import hts_lib`` does not import it.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from hts_lib.validation import check_bool, check_int, check_model, check_positive, check_real, check_rng

__all__ = [
    "MODEL_NAMES",
    "VGG11_CONFIG",
    "build_model",
    "fully_connected",
    "small_cnn",
    "lenet5",
    "vgg",
    "layer_weights",
    "count_parameters",
]

#: Names accepted by :func:`build_model`.
MODEL_NAMES = ("fc", "cnn", "lenet", "vgg")

#: VGG11 ("configuration A" of Simonyan & Zisserman 2015): channel counts, ``"M"`` = 2x2 max-pool.
VGG11_CONFIG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def _check_input_shape(input_shape) -> tuple[int, ...]:
    if isinstance(input_shape, numbers.Integral):
        input_shape = (int(input_shape),)
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise TypeError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    shape = tuple(check_int("input_shape", s, low=1) for s in input_shape)
    if len(shape) == 0 or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
    return shape


def _check_sequence(name: str, value) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence, got {type(value).__name__}")
    return list(value)


def _image_shape(input_shape, model: str) -> tuple[int, int, int]:
    shape = _check_input_shape(input_shape)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3:
        raise ValueError(
            f"model {model!r} needs an image input_shape (C, H, W) or (H, W), got {input_shape!r}"
        )
    return shape


def _scaled_counts(name: str, values, width_scale: float) -> list[int]:
    """Check a sequence of positive counts and multiply each by ``width_scale`` (rounded, at least 1)."""
    return [
        max(1, int(round(check_int(name, c, low=1) * width_scale))) for c in _check_sequence(name, values)
    ]


class _ConvArgs(NamedTuple):
    """Checked arguments of the small CNNs, the channel counts already scaled by ``width_scale``."""

    c_in: int
    h: int
    w: int
    n_classes: int
    kernel_size: int
    width_scale: float
    channels: list[int]


def _check_conv_args(model: str, input_shape, n_classes, channels, kernel_size, width_scale) -> _ConvArgs:
    """Check the image shape, class count, channel counts, odd kernel size and width scale of a small CNN."""
    c_in, h, w = _image_shape(input_shape, model)
    n_classes = check_int("n_classes", n_classes, low=1)
    kernel_size = check_int("kernel_size", kernel_size, low=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    width_scale = check_positive("width_scale", width_scale)
    chans = _scaled_counts("channels", channels, width_scale)
    return _ConvArgs(c_in, h, w, n_classes, kernel_size, width_scale, chans)


def _conv_block(i: int, c_in: int, c_out: int, kernel_size: int, padding: int, bias: bool) -> list:
    """Return the modules ``layer{i}, relu{i}, pool{i}``: a convolution, a ReLU and a 2x2 max-pool."""
    return [
        (f"layer{i}", nn.Conv2d(c_in, c_out, kernel_size, padding=padding, bias=bias)),
        (f"relu{i}", nn.ReLU()),
        (f"pool{i}", nn.MaxPool2d(2)),
    ]


def _linear_stack(dims: Sequence[int], first: int, bias: bool) -> list:
    """Return the layers ``layer{first}, relu{first}, ...`` through the widths ``dims`` (no final ReLU)."""
    mods: list[tuple[str, nn.Module]] = []
    for i in range(len(dims) - 1):
        mods.append((f"layer{first + i}", nn.Linear(dims[i], dims[i + 1], bias=bias)))
        if i < len(dims) - 2:
            mods.append((f"relu{first + i}", nn.ReLU()))
    return mods


def _plain_mlp(model: nn.Module) -> bool:
    """Tell whether ``model`` is a bias-free ``[Flatten,] Linear, ReLU, ..., Linear`` stack (model "fc")."""
    mods = list(model.children())
    if mods and isinstance(mods[0], nn.Flatten):
        mods = mods[1:]
    if len(mods) % 2 == 0:
        return False
    return all(
        isinstance(m, nn.Linear) and m.bias is None if i % 2 == 0 else isinstance(m, nn.ReLU)
        for i, m in enumerate(mods)
    )


def fully_connected(
    input_shape, n_classes: int, *, depth: int = 3, width: int = 128, bias: bool = False
) -> nn.Sequential:
    r"""Build the paper's fully connected ReLU network (no biases by default).

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one input, e.g. ``(1, 28, 28)`` or ``(784,)``; inputs are flattened.
    n_classes : int
        Number of outputs (logits).
    depth : int
        Number of linear layers (>= 1). The paper uses 3: in -> width -> width -> n_classes.
    width : int
        Hidden width (>= 1). The paper uses 128.
    bias : bool
        Whether the linear layers have biases. The authors' ``FullyConnected`` has none.

    Returns
    -------
    torch.nn.Sequential
        Modules ``flatten, layer1, relu1, ..., layer{depth}``.

    Raises
    ------
    ValueError
        If ``depth``, ``width`` or ``n_classes`` is below 1, or ``input_shape`` is not a shape.

    Notes
    -----
    With input dimension :math:`p`, depth :math:`L` and width :math:`w` the network computes
    :math:`W_L\,\mathrm{relu}(W_{L-1} \cdots \mathrm{relu}(W_1 x))` and has
    :math:`pw + (L-2)w^2 + wc` weights (:math:`c` classes) when :math:`L \ge 2`.
    For MNIST (:math:`p = 784`, :math:`w = 128`, :math:`L = 3`) that is
    100,352 + 16,384 + 1,280 = 118,016 (the paper, section 3.2).

    Used by the runner and :func:`build_model` (no chapter calls it directly).

    Examples
    --------
    >>> net = fully_connected((1, 28, 28), 10)
    >>> [n for n, _ in net.named_parameters()]
    ['layer1.weight', 'layer2.weight', 'layer3.weight']
    >>> count_parameters(net)
    118016
    """
    shape = _check_input_shape(input_shape)
    n_classes = check_int("n_classes", n_classes, low=1)
    depth = check_int("depth", depth, low=1)
    width = check_int("width", width, low=1)
    dims = [int(np.prod(shape))] + [width] * (depth - 1) + [n_classes]
    mods = [("flatten", nn.Flatten()), *_linear_stack(dims, 1, check_bool("bias", bias))]
    return nn.Sequential(OrderedDict(mods))


def small_cnn(
    input_shape,
    n_classes: int,
    *,
    channels: Sequence[int] = (8, 16),
    kernel_size: int = 3,
    width_scale: float = 1.0,
    bias: bool = False,
) -> nn.Sequential:
    r"""Build a small CNN for 28x28 (or 8x8) images: [conv3x3 -> ReLU -> 2x2 max-pool] per block, then linear.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` or ``(H, W)``.
    n_classes : int
        Number of outputs.
    channels : sequence of int
        Output channels of each convolutional block (default ``(8, 16)``).
    kernel_size : int
        Odd kernel size; padding keeps the spatial size before each pool.
    width_scale : float
        Multiplies every channel count (rounded, at least 1).
    bias : bool
        Biases in every layer (default False, as in the paper's fully connected net, so that each
        layer's parameters are exactly its weights).

    Returns
    -------
    torch.nn.Sequential
        Modules ``layer1, relu1, pool1, ..., flatten, layer{n+1}``.

    Raises
    ------
    ValueError
        If the image is too small for the number of pooling stages or an argument is out of range.

    Notes
    -----
    Each block halves the spatial size (floor), so an :math:`H \times W` input gives
    :math:`c_n \lfloor H/2^n \rfloor \lfloor W/2^n \rfloor` features for the last, linear layer.
    The default on 28x28 MNIST has 72 + 1,152 + 7,840 = 9,064 weights; it is small on purpose,
    so that a grid of runs fits in the book's execution budget on a CPU.

    Used by the runner and :func:`build_model` (no chapter calls it directly).

    Examples
    --------
    >>> net = small_cnn((1, 28, 28), 10)
    >>> [n for n, _ in net.named_parameters()]
    ['layer1.weight', 'layer2.weight', 'layer3.weight']
    >>> count_parameters(net)
    9064
    """
    args = _check_conv_args("cnn", input_shape, n_classes, channels, kernel_size, width_scale)
    chans, h, w, kernel_size = args.channels, args.h, args.w, args.kernel_size
    if not chans:
        raise ValueError("channels must hold at least one channel count")
    if h >> len(chans) < 1 or w >> len(chans) < 1:
        raise ValueError(f"input_shape {input_shape!r} is too small for {len(chans)} pooling stages")
    bias = check_bool("bias", bias)
    mods: list[tuple[str, nn.Module]] = []
    c_prev = args.c_in
    for i, c in enumerate(chans):
        mods += _conv_block(i + 1, c_prev, c, kernel_size, kernel_size // 2, bias)
        c_prev = c
        h, w = h // 2, w // 2
    mods += [
        ("flatten", nn.Flatten()),
        *_linear_stack([c_prev * h * w, args.n_classes], len(chans) + 1, bias),
    ]
    return nn.Sequential(OrderedDict(mods))


def lenet5(
    input_shape,
    n_classes: int,
    *,
    channels: Sequence[int] = (6, 16),
    hidden: Sequence[int] = (120, 84),
    kernel_size: int = 5,
    width_scale: float = 1.0,
    bias: bool = False,
) -> nn.Sequential:
    r"""Build a LeNet-5-sized CNN: two [conv5x5 -> ReLU -> 2x2 max-pool] blocks, then hidden linear layers.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` or ``(H, W)``.
    n_classes : int
        Number of outputs.
    channels : sequence of int
        Output channels of the convolutions (LeNet-5: ``(6, 16)``).
    hidden : sequence of int
        Widths of the hidden linear layers (LeNet-5: ``(120, 84)``).
    kernel_size : int
        Odd kernel size. The first convolution pads to keep the size (as LeNet-5 on 32x32 images
        sees 28x28 MNIST padded by 2), the second does not.
    width_scale : float
        Multiplies every channel count and hidden width (rounded, at least 1).
    bias : bool
        Biases in every layer (default False, as the paper's fully connected net).

    Returns
    -------
    torch.nn.Sequential
        Modules ``layer1, relu1, pool1, layer2, relu2, pool2, flatten, layer3, relu3, ...``.

    Raises
    ------
    ValueError
        If the image is too small or an argument is out of range.

    Notes
    -----
    On 28x28 MNIST: :math:`28 \to 28 \to 14 \to 10 \to 5`, so the first linear layer sees
    :math:`16 \cdot 5 \cdot 5 = 400` features. Weights per layer: 150, 2,400, 48,000, 10,080, 840
    (61,470 in all). ReLU and max-pooling replace LeNet-5's scaled tanh and subsampling.

    Used by the grid ``lenet-seeds`` (``hts_lib.nn.experiments.GRIDS``).

    Examples
    --------
    >>> net = lenet5((1, 28, 28), 10)
    >>> [tuple(w.shape) for w in layer_weights(net).values()]
    [(6, 1, 5, 5), (16, 6, 5, 5), (120, 400), (84, 120), (10, 84)]
    >>> count_parameters(net)
    61470
    """
    args = _check_conv_args("lenet", input_shape, n_classes, channels, kernel_size, width_scale)
    chans, kernel_size = args.channels, args.kernel_size
    hid = _scaled_counts("hidden", hidden, args.width_scale)
    if len(chans) != 2:
        raise ValueError(f"channels must hold two channel counts, got {channels!r}")
    h2, w2 = (args.h // 2 - kernel_size + 1) // 2, (args.w // 2 - kernel_size + 1) // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(
            f"input_shape {input_shape!r} is too small for lenet5 with kernel_size {kernel_size}"
        )
    bias = check_bool("bias", bias)
    mods = [
        *_conv_block(1, args.c_in, chans[0], kernel_size, kernel_size // 2, bias),
        *_conv_block(2, chans[0], chans[1], kernel_size, 0, bias),
        ("flatten", nn.Flatten()),
        *_linear_stack([chans[1] * h2 * w2, *hid, args.n_classes], 3, bias),
    ]
    return nn.Sequential(OrderedDict(mods))


def vgg(
    input_shape,
    n_classes: int,
    *,
    config: Sequence = VGG11_CONFIG,
    width_scale: float = 1.0,
    hidden: int = 512,
    batch_norm: bool = False,
    bias: bool = True,
    dropout: float = 0.0,
) -> nn.Sequential:
    r"""Build a VGG-style CNN (VGG11 by default) for 32x32 CIFAR-10 images.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)``, e.g. ``(3, 32, 32)``.
    n_classes : int
        Number of outputs.
    config : sequence
        Channel counts and ``"M"`` (2x2 max-pool); default :data:`VGG11_CONFIG`.
    width_scale : float
        Multiplies every channel count and the classifier's hidden width (rounded, at least 1).
    hidden : int
        Hidden width of the two hidden classifier layers before scaling (512 as in the
        CIFAR-10 VGG code the authors cite).
    batch_norm : bool
        Insert ``BatchNorm2d`` after each convolution (off by default: plain SGD study).
    bias : bool
        Biases in convolutions and linear layers (on by default, as in standard VGG code).
    dropout : float
        Dropout probability in the classifier (0 by default: no regulariser besides SGD itself).

    Returns
    -------
    torch.nn.Sequential
        Convolutions ``layer1 ... layer8`` then linear ``layer9 ... layer11`` for VGG11.

    Raises
    ------
    ValueError
        If the input is too small for the pooling stages or an argument is out of range.

    Notes
    -----
    Which VGG the paper trained, and with which settings, is not recovered (the paper's section
    3.3 does not say); VGG11 without batch norm, dropout or weight decay is this library's choice, matching
    the plain-SGD protocol of the fully connected experiments. Convolutions are initialised with
    :math:`\mathcal N(0, 2/(k^2 c_{out}))` (He et al. 2015, "fan-out"), biases with zero, as in the
    CIFAR-10 VGG code the authors cite; linear layers keep PyTorch's default.

    Used in: chapters/ch11_convolutional_networks.ipynb

    Examples
    --------
    >>> net = vgg((3, 32, 32), 10, width_scale=0.125)
    >>> sorted(layer_weights(net))[:3], len(layer_weights(net))
    (['layer1', 'layer10', 'layer11'], 11)
    """
    c_in, h, w = _image_shape(input_shape, "vgg")
    n_classes = check_int("n_classes", n_classes, low=1)
    width_scale = check_positive("width_scale", width_scale)
    hidden = check_int("hidden", hidden, low=1)
    dropout = check_real("dropout", dropout, low=0.0, high=1.0, high_open=True)
    check_bool("batch_norm", batch_norm)
    config = _check_sequence("config", config)
    mods: list[tuple[str, nn.Module]] = []
    c_prev, k, n_pool = c_in, 0, 0
    for item in config:
        if item == "M":
            n_pool += 1
            mods.append((f"pool{n_pool}", nn.MaxPool2d(2)))
            h, w = h // 2, w // 2
            if h < 1 or w < 1:
                raise ValueError(f"input_shape {input_shape!r} is too small for the pooling stages of config")
            continue
        c = max(1, int(round(check_int("config channel", item, low=1) * width_scale)))
        k += 1
        conv = nn.Conv2d(c_prev, c, 3, padding=1, bias=check_bool("bias", bias))
        mods.append((f"layer{k}", conv))
        if check_bool("batch_norm", batch_norm):
            mods.append((f"bn{k}", nn.BatchNorm2d(c)))
        mods.append((f"relu{k}", nn.ReLU()))
        c_prev = c
    if k == 0:
        raise ValueError("config must contain at least one convolution")
    n_hidden = max(1, int(round(hidden * width_scale)))
    mods.append(("flatten", nn.Flatten()))
    dims = [c_prev * h * w, n_hidden, n_hidden, n_classes]
    for j in range(3):
        if dropout > 0 and j < 2:
            mods.append((f"dropout{j + 1}", nn.Dropout(float(dropout))))
        k += 1
        mods.append((f"layer{k}", nn.Linear(dims[j], dims[j + 1], bias=check_bool("bias", bias))))
        if j < 2:
            mods.append((f"relu{k}", nn.ReLU()))
    net = nn.Sequential(OrderedDict(mods))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


_BUILDERS = {"fc": fully_connected, "cnn": small_cnn, "lenet": lenet5, "vgg": vgg}


def build_model(
    name: str, input_shape, n_classes: int, *, seed=0, dtype: torch.dtype = torch.float32, **kw
) -> nn.Sequential:
    """Build a model by name with a seeded initialisation.

    Parameters
    ----------
    name : {"fc", "cnn", "lenet", "vgg"}
        Which network: :func:`fully_connected`, :func:`small_cnn`, :func:`lenet5` or :func:`vgg`.
    input_shape : tuple of int
        Shape of one input.
    n_classes : int
        Number of outputs.
    seed : int, numpy Generator or None
        Seed of the initialisation. The global torch generator is forked, seeded and restored, so
        building a model does not change the caller's random state.
    dtype : torch.dtype
        Parameter dtype (float32 by default; float64 for exact checks on tiny nets).
    **kw
        Passed to the builder (``depth``, ``width``, ``channels``, ``width_scale``, ``bias``...).

    Returns
    -------
    torch.nn.Sequential

    Raises
    ------
    ValueError
        For an unknown ``name`` (the message lists the valid ones) or bad builder arguments.

    Examples
    --------
    >>> a = build_model("fc", (784,), 10, seed=1, width=8)
    >>> b = build_model("fc", (784,), 10, seed=1, width=8)
    >>> bool(torch.equal(a.layer1.weight, b.layer1.weight))
    True
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype (e.g. torch.float32), got {dtype!r}")
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(f"unknown model name {name!r}; valid names are {', '.join(MODEL_NAMES)}")
    builder = _BUILDERS[name]
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool):
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        torch_seed = int(seed)
    else:  # a numpy Generator, or None for fresh entropy
        torch_seed = int(check_rng(seed).integers(0, 2**62))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        try:
            net = builder(input_shape, n_classes, **kw)
        except TypeError as exc:
            if "unexpected keyword" in str(exc):
                raise ValueError(f"model {name!r}: {exc}") from None
            raise
    return net.to(dtype=dtype)


def layer_weights(model: nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """Return the weight tensor of every ``layerN`` module, in order (biases are not included).

    Parameters
    ----------
    model : torch.nn.Module
        A model from this module (or any module with children named ``layer1``, ``layer2``, ...).

    Returns
    -------
    OrderedDict[str, torch.Tensor]
        ``{"layer1": weight, "layer2": weight, ...}`` (the live parameters, not copies).

    Raises
    ------
    ValueError
        If the model has no ``layerN`` module with a weight.

    Examples
    --------
    >>> {k: tuple(v.shape) for k, v in layer_weights(fully_connected((4,), 2, width=3)).items()}
    {'layer1': (3, 4), 'layer2': (3, 3), 'layer3': (2, 3)}
    """
    check_model("model", model)
    out = []
    for name, mod in model.named_modules():
        if name.startswith("layer") and name[5:].isdigit() and getattr(mod, "weight", None) is not None:
            out.append((int(name[5:]), name, mod.weight))
    if not out:
        raise ValueError("model has no modules named layer1, layer2, ... with a weight")
    return OrderedDict((name, w) for _, name, w in sorted(out))


def count_parameters(model: nn.Module) -> int:
    """Count the trainable scalar parameters.

    >>> count_parameters(fully_connected((784,), 10, bias=True))
    118282
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a network), got {type(model).__name__}")
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
