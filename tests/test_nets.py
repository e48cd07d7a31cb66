"""Tests for hts_lib.nn.nets: architectures, parameter counts, naming, seeded initialisation."""

import math

import numpy as np
import pytest
import torch

from hts_lib.nn.nets import (
    MODEL_NAMES,
    build_model,
    count_parameters,
    fully_connected,
    layer_weights,
    small_cnn,
    vgg,
)


# ---------------------------------------------------------------- the paper's fully connected net
def test_fc_paper_net_has_no_biases_and_118016_weights():
    net = fully_connected((1, 28, 28), 10)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["layer1.weight", "layer2.weight", "layer3.weight"]  # no bias parameters at all
    assert all(m.bias is None for m in layer_weights_modules(net))
    # 784*128 + 128*128 + 128*10 (paper.md section 3.2: 100,352 + 16,384 + 1,280)
    assert count_parameters(net) == 784 * 128 + 128 * 128 + 128 * 10 == 118_016
    shapes = {k: tuple(v.shape) for k, v in layer_weights(net).items()}
    assert shapes == {"layer1": (128, 784), "layer2": (128, 128), "layer3": (10, 128)}


def layer_weights_modules(net):
    return [m for n, m in net.named_modules() if n.startswith("layer")]


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("width", [1, 7, 64])
def test_fc_parameter_count_formula(depth, width):
    p, c = 12, 4
    net = fully_connected((p,), c, depth=depth, width=width)
    expected = p * c if depth == 1 else p * width + (depth - 2) * width**2 + width * c
    assert count_parameters(net) == expected
    assert list(layer_weights(net)) == [f"layer{i + 1}" for i in range(depth)]
    assert net(torch.zeros(3, p)).shape == (3, c)


def test_fc_bias_option_adds_one_bias_per_unit():
    with_b = count_parameters(fully_connected((784,), 10, bias=True))
    assert with_b - 118_016 == 128 + 128 + 10


def test_fc_is_relu_network_without_biases_positively_homogeneous():
    # No biases + ReLU => f(c x) = c f(x) for c > 0: a property that fails if a bias sneaks in.
    net = build_model("fc", (6,), 3, seed=0, width=9, dtype=torch.float64)
    x = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(net(2.5 * x), 2.5 * net(x), rtol=1e-12, atol=1e-12)  # float64 rounding only


# ---------------------------------------------------------------- the CNNs
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (28, 28), (3, 32, 32)])
def test_small_cnn_shapes_and_names(shape):
    net = small_cnn(shape, 10)
    c_in = 1 if len(shape) == 2 else shape[0]
    out = net(torch.zeros((2, c_in) + tuple(shape[-2:])))
    assert out.shape == (2, 10)
    assert list(layer_weights(net)) == ["layer1", "layer2", "layer3"]
    h, w = shape[-2] // 4, shape[-1] // 4
    assert count_parameters(net) == c_in * 8 * 9 + 8 * 16 * 9 + 16 * h * w * 10


def test_small_cnn_width_scale_and_channels():
    net = small_cnn((1, 28, 28), 10, channels=(4, 6, 8), width_scale=2.0)
    convs = [m for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [8, 12, 16]
    assert list(layer_weights(net)) == ["layer1", "layer2", "layer3", "layer4"]


def test_vgg11_structure():
    net = vgg((3, 32, 32), 10)
    lw = layer_weights(net)
    assert list(lw) == [f"layer{i}" for i in range(1, 12)]  # 8 convolutions + 3 linear layers
    convs = [v for v in lw.values() if v.dim() == 4]
    assert [v.shape[0] for v in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert tuple(lw["layer9"].shape) == (512, 512) and tuple(lw["layer11"].shape) == (10, 512)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_vgg_width_scale_and_init_std():
    net = build_model("vgg", (3, 32, 32), 10, seed=0, width_scale=0.25)
    w = layer_weights(net)["layer2"].detach()  # 32 x 16 x 3 x 3 = 4,608 weights
    assert w.shape == (32, 16, 3, 3)
    sd = float(w.std())
    target = math.sqrt(2.0 / (9 * 32))
    # The sample sd of n normal draws has relative SE 1/sqrt(2n) ~ 1.0 %; allow 4 SE.
    assert abs(sd / target - 1) < 4 / math.sqrt(2 * w.numel())
    assert all(
        float(m.bias.detach().abs().max()) == 0.0 for m in net.modules() if isinstance(m, torch.nn.Conv2d)
    )


def test_vgg_batch_norm_and_dropout_options():
    net = vgg((3, 32, 32), 10, width_scale=0.125, batch_norm=True, dropout=0.5)
    kinds = {type(m).__name__ for m in net.modules()}
    assert {"BatchNorm2d", "Dropout"} <= kinds
    assert len(layer_weights(net)) == 11  # batch-norm weights are not "layers"


# ---------------------------------------------------------------- build_model and seeding
@pytest.mark.parametrize("name,shape", [("fc", (1, 28, 28)), ("cnn", (1, 28, 28)), ("vgg", (3, 32, 32))])
def test_build_model_seeded_and_leaves_global_rng_alone(name, shape):
    kw = {"width_scale": 0.125} if name == "vgg" else {}
    state = torch.get_rng_state()
    a = build_model(name, shape, 10, seed=3, **kw)
    b = build_model(name, shape, 10, seed=3, **kw)
    c = build_model(name, shape, 10, seed=4, **kw)
    assert torch.equal(state, torch.get_rng_state())  # the caller's generator is untouched
    for (ka, va), (kb, vb), (_, vc) in zip(
        a.state_dict().items(), b.state_dict().items(), c.state_dict().items()
    ):
        assert ka == kb and torch.equal(va, vb)
    assert not torch.equal(layer_weights(a)["layer1"], layer_weights(c)["layer1"])


def test_build_model_numpy_generator_and_dtype():
    a = build_model("fc", (5,), 2, seed=np.random.default_rng(7), width=3, dtype=torch.float64)
    b = build_model("fc", (5,), 2, seed=np.random.default_rng(7), width=3, dtype=torch.float64)
    assert a.layer1.weight.dtype == torch.float64
    assert torch.equal(a.layer1.weight, b.layer1.weight)


def test_model_names_constant():
    assert MODEL_NAMES == ("fc", "cnn", "lenet", "vgg")


# ---------------------------------------------------------------- bad input
def test_bad_input():
    with pytest.raises(ValueError, match="unknown model name 'resnet'.*fc, cnn, lenet, vgg"):
        build_model("resnet", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        fully_connected((784,), 10, depth=0)
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        build_model("fc", (784,), 10, width=0)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 1"):
        fully_connected((784,), 0)
    with pytest.raises(ValueError, match="input_shape must be an integer >= 1, got 0"):
        fully_connected((0, 3), 10)
    with pytest.raises(ValueError, match="input_shape must be a non-empty tuple"):
        fully_connected((), 10)
    with pytest.raises(TypeError, match="bias must be True or False"):
        fully_connected((3,), 2, bias=float("nan"))
    with pytest.raises(ValueError, match="needs an image input_shape"):
        small_cnn((784,), 10)
    with pytest.raises(ValueError, match="too small for 3 pooling stages"):
        small_cnn((1, 4, 4), 10, channels=(2, 2, 2))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        small_cnn((1, 28, 28), 10, kernel_size=4)
    with pytest.raises(ValueError, match="too small for the pooling stages"):
        vgg((3, 16, 16), 10)
    with pytest.raises(ValueError, match="dropout must be < 1.0"):
        vgg((3, 32, 32), 10, dropout=1.0)
    with pytest.raises(ValueError, match="width_scale must be > 0"):
        build_model("cnn", (1, 28, 28), 10, width_scale=0)
    with pytest.raises(ValueError, match="unexpected keyword"):
        build_model("fc", (784,), 10, channels=(3,))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        build_model("fc", (784,), 10, seed=-1)
    with pytest.raises(ValueError, match="no modules named layer1"):
        layer_weights(torch.nn.Sequential(torch.nn.Linear(2, 2)))
