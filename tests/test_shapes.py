"""convlib.shapes formulas, checked against the shapes PyTorch actually produces."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convlib import shapes
from convlib.shapes import (
    conv_macs,
    conv_output_size,
    conv_params,
    conv_transpose_output_size,
    pool_output_size,
    receptive_field,
    receptive_field_jumps,
    receptive_fields,
    same_padding,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")

GRID = list(
    itertools.product(range(1, 8), range(1, 5), range(1, 4), range(0, 3), range(1, 4))
)  # size, kernel_size, stride, padding, dilation


def torch_size(fn: Callable[..., torch.Tensor], *args: object, **kwargs: object) -> int | None:
    """Output length torch produces, or None where torch rejects the call."""
    try:
        return int(fn(*args, **kwargs).shape[-1])
    except RuntimeError:
        return None


def test_conv_output_size_matches_torch_grid() -> None:
    checked = 0
    for i, k, s, p, d in GRID:
        expected = torch_size(F.conv1d, torch.zeros(1, 1, i), torch.zeros(1, 1, k), None, s, p, d)
        if expected is None:
            with pytest.raises(ValueError, match="kernel_size"):
                conv_output_size(i, k, s, p, d)
        else:
            assert conv_output_size(i, k, s, p, d) == expected, (i, k, s, p, d)
            checked += 1
    assert checked > 500  # the grid really exercised the formula


def test_conv_transpose_output_size_matches_torch_grid() -> None:
    checked = 0
    for i, k, s, p, d in GRID:
        for op in range(max(s, d)):
            expected = torch_size(
                F.conv_transpose1d, torch.zeros(1, 1, i), torch.zeros(1, 1, k), None, s, p, op, 1, d
            )
            if expected is None:
                with pytest.raises(ValueError, match="padding"):
                    conv_transpose_output_size(i, k, s, p, op, d)
            else:
                assert conv_transpose_output_size(i, k, s, p, op, d) == expected, (
                    i,
                    k,
                    s,
                    p,
                    op,
                    d,
                )
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_output_size_matches_torch_grid(ceil_mode: bool) -> None:
    checked = 0
    for i, k, s, p, d in GRID:
        expected = torch_size(F.max_pool1d, torch.zeros(1, 1, i), k, s, p, d, ceil_mode)
        if expected is None:
            with pytest.raises(ValueError, match="padding|kernel_size"):
                pool_output_size(i, k, s, p, d, ceil_mode)
        else:
            assert pool_output_size(i, k, s, p, d, ceil_mode) == expected, (i, k, s, p, d)
            checked += 1
    assert checked > 200


def test_pool_stride_defaults_to_kernel() -> None:
    assert pool_output_size(7, 2) == int(F.max_pool1d(torch.zeros(1, 1, 7), 2).shape[-1]) == 3
    assert pool_output_size(7, 2, ceil_mode=True) == 4


def test_tuple_in_tuple_out() -> None:
    assert conv_output_size((80, 80), 3, 2, 1) == (40, 40)  # source: 80x80, k3 s2 p1 -> 40x40
    assert conv_output_size((7, 7), (5, 5), 2, 2) == (4, 4)  # source: 7x7, k5 s2 p2 -> 4x4
    # an int size against a tuple kernel: convlib's overloads don't cover this mix, hence Any
    assert cast(Any, conv_output_size)(7, (5, 3), 2, (2, 0)) == (4, 3)
    assert conv_output_size(7, 5, 2, 2) == 4
    assert conv_transpose_output_size((2, 2), 3, 2) == (5, 5)  # source: 2x2 back to 5x5
    assert conv_transpose_output_size(2, 3) == 4  # source: o' = i' + (k - 1)
    assert pool_output_size((5, 6), 2) == (2, 3)


def test_conv2d_shape_grid_2d() -> None:
    X = torch.zeros(1, 1, 9, 8)
    for kh, kw, s, p, d in itertools.product((1, 2, 3), (1, 3), (1, 2), (0, 1), (1, 2)):
        Y = F.conv2d(X, torch.zeros(1, 1, kh, kw), stride=s, padding=p, dilation=d)
        assert conv_output_size((9, 8), (kh, kw), s, p, d) == tuple(Y.shape[-2:])


@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_same_padding_matches_torch(kernel_size: int, dilation: int) -> None:
    X = torch.randn(1, 1, 9, dtype=torch.float64)
    K = torch.randn(1, 1, kernel_size, dtype=torch.float64)
    left, right = same_padding(kernel_size, dilation)
    assert left + right == dilation * (kernel_size - 1)
    assert right - left in (0, 1)
    padded = F.pad(X, (left, right))
    expected = F.conv1d(X, K, padding="same", dilation=dilation)
    torch.testing.assert_close(F.conv1d(padded, K, dilation=dilation), expected, atol=0, rtol=0)


def test_same_padding_tuple() -> None:
    assert same_padding((3, 4), (1, 2)) == ((1, 1), (3, 3))
    assert same_padding((2, 3)) == ((0, 1), (1, 1))


def measured_receptive_field(layers: list[tuple[int, int, int]]) -> int:
    """Width of the input region that one output unit depends on, found with autograd."""
    size = 64
    X = torch.zeros(1, 1, size, dtype=torch.float64, requires_grad=True)
    Y = X
    for k, s, d in layers:
        Y = F.conv1d(Y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    Y[0, 0, 0].backward()
    assert X.grad is not None
    touched = X.grad[0, 0].nonzero().flatten()
    return int(touched.max() - touched.min() + 1)


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1, 1)],
        [(3, 1, 1), (3, 1, 1)],
        [(3, 1, 1)] * 3,
        [(3, 2, 1), (3, 2, 1)],
        [(3, 1, 2)],  # 3x3 with dilation 2 sees 5x5
        [(3, 1, 1), (3, 1, 2), (3, 1, 4)],  # dilations doubling: 3, 7, 15
        [(7, 2, 1), (3, 2, 1), (3, 1, 1), (2, 2, 1)],
        [(1, 1, 1)],
    ],
)
def test_receptive_field_matches_autograd(layers: list[tuple[int, int, int]]) -> None:
    assert receptive_field(layers) == measured_receptive_field(layers)
    fields = receptive_fields(layers)
    assert fields == [measured_receptive_field(layers[: n + 1]) for n in range(len(layers))]


def test_receptive_field_hand_checked() -> None:
    assert receptive_field([(3, 1, 2)]) == 5
    assert receptive_fields([(3, 1, 1), (3, 1, 2), (3, 1, 4)]) == [3, 7, 15]
    assert receptive_field([(3, 2), (3, 2)]) == 7  # dilation may be omitted
    assert receptive_field([]) == 1
    assert receptive_field_jumps([(3, 2, 1), (3, 1, 1), (2, 2, 1)]) == [2, 2, 4]


def test_conv_params_int_kernel_is_square() -> None:
    assert conv_params(2, 3, 3) == conv_params(2, 3, (3, 3)) == 3 * 2 * 9 + 3
    assert conv_params(2, 3, (3,)) == 3 * 2 * 3 + 3


def test_conv_params_source_numbers() -> None:
    # 16 -> 32 channels, 3x3: standard 4608 weights; depthwise (16*9) + pointwise (16*32) = 656
    assert conv_params(16, 32, 3, bias=False) == 4608
    assert conv_params(16, 16, 3, groups=16, bias=False) + conv_params(16, 32, 1, bias=False) == 656
    # ResNet: two 3x3 256-channel convs vs the 1x1 / 3x3 / 1x1 bottleneck (no biases)
    assert 2 * conv_params(256, 256, 3, bias=False) == 1179648
    bottleneck = conv_params(256, 64, 1, bias=False) + conv_params(64, 64, 3, bias=False)
    assert bottleneck + conv_params(64, 256, 1, bias=False) == 69632


@pytest.mark.parametrize(
    ("in_channels", "out_channels", "kernel_size", "groups", "bias"),
    [
        (3, 8, 3, 1, True),
        (4, 6, (2, 3), 2, False),
        (6, 6, (1, 5), 6, True),
        (2, 4, (3, 1, 2), 1, True),
    ],
)
def test_conv_params_matches_nn(
    in_channels: int, out_channels: int, kernel_size: int | tuple[int, ...], groups: int, bias: bool
) -> None:
    dims = 2 if isinstance(kernel_size, int) else len(kernel_size)
    conv_classes: dict[int, Callable[..., nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
    layer_cls = conv_classes[dims]
    layer = layer_cls(in_channels, out_channels, kernel_size, groups=groups, bias=bias)
    expected = sum(p.numel() for p in layer.parameters())
    assert conv_params(in_channels, out_channels, kernel_size, groups, bias) == expected


def test_conv_macs() -> None:
    # each of the 40*40*8 outputs does 3*3*3 multiply-adds
    assert conv_macs(3, 8, 3, (40, 40)) == 40 * 40 * 8 * 27
    # grouped: each output only sees in_channels/groups channels
    assert conv_macs(64, 64, 5, 4, groups=64) == 4 * 4 * 64 * 25  # ints: square 2-d
    assert conv_macs(2, 3, (5,), 10) == 10 * 3 * 2 * 5
    assert conv_macs(4, 6, (2, 3), (5, 7), groups=2) == 5 * 7 * 6 * 2 * 6


def test_shapes_module_exports() -> None:
    for name in shapes.__all__:
        assert callable(getattr(shapes, name))
