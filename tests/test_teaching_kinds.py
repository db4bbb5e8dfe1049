"""Teaching layer, chapters 5-8 (kinds of convolution): conv1x1_per_pixel, conv1x1,
conv2d_grouped, depthwise_conv2d, depthwise_separable_conv2d, channel_shuffle, corr2d_dilated,
dilate_kernel, conv2d_dilated, hdc_max_gap, conv_transpose2d_scatter, conv_matrix and
conv_transpose2d.

Each function is checked on a hand case, against torch.nn.functional in float64 (values and
gradients), over shapes drawn by hypothesis, and against the general library (``convlib.conv2d``
with groups and dilation, ``convlib.conv_transpose2d``, ``convlib.matrices.conv_matrix``).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from teaching_helpers import F64, TOL, _rand, _same_grads

import convlib
from convlib.matrices import conv_matrix as library_conv_matrix
from convlib.matrices import zero_insert as library_zero_insert
from convlib.teaching.ch03_padding_and_stride import corr2d_strided
from convlib.teaching.ch05_one_by_one import conv1x1, conv1x1_per_pixel
from convlib.teaching.ch06_groups import (
    channel_shuffle,
    conv2d_grouped,
    depthwise_conv2d,
    depthwise_separable_conv2d,
)
from convlib.teaching.ch07_dilation import (
    conv2d_dilated,
    corr2d_dilated,
    dilate_kernel,
    hdc_max_gap,
)
from convlib.teaching.ch08_transposed import (
    conv_matrix,
    conv_transpose2d,
    conv_transpose2d_scatter,
    zero_insert,
)

# Chapter 5 ---------------------------------------------------------------------------------------


def test_conv1x1_hand_case() -> None:
    # Two channels, one pixel each row: out 0 = in 0 + in 1, out 1 = 2 in 0 - in 1, plus bias.
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 1, 2)
    K = torch.tensor([[1.0, 1.0], [2.0, -1.0]]).reshape(2, 2, 1, 1)
    expected = torch.tensor([[4.0, 6.0], [-1.0, 0.0]]).reshape(1, 2, 1, 2)
    torch.testing.assert_close(conv1x1_per_pixel(X, K), expected, rtol=0, atol=0)
    bias = torch.tensor([10.0, 20.0])
    torch.testing.assert_close(conv1x1(X, K, bias), expected + bias[:, None, None], rtol=0, atol=0)


def test_conv1x1_matches_torch(device: str) -> None:
    X, K, b = _rand(2, 3, 4, 5, device=device), _rand(4, 3, 1, 1, device=device), _rand(4)
    b = b.detach().to(device).requires_grad_(True)
    _same_grads(conv1x1(X, K, b), F.conv2d(X, K, b), [X, K, b])
    _same_grads(conv1x1_per_pixel(X, K), F.conv2d(X, K), [X, K])


@settings(max_examples=15)
@given(
    st.integers(1, 2), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)
)
def test_conv1x1_equals_library(N: int, C_in: int, C_out: int, H: int, W: int) -> None:
    X, K = torch.randn(N, C_in, H, W, dtype=F64), torch.randn(C_out, C_in, 1, 1, dtype=F64)
    expected = convlib.conv2d(X, K)
    torch.testing.assert_close(conv1x1(X, K), expected, **TOL)
    torch.testing.assert_close(conv1x1_per_pixel(X, K), expected, **TOL)


# Chapter 6 ---------------------------------------------------------------------------------------


def test_grouped_hand_case() -> None:
    # Two groups of one channel with 1x1 kernels: each output channel scales its own input.
    X = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    K = torch.tensor([2.0, -1.0]).reshape(2, 1, 1, 1)
    expected = torch.tensor([[[[2.0, 4.0]], [[-3.0, -4.0]]]])
    torch.testing.assert_close(conv2d_grouped(X, K, groups=2), expected, rtol=0, atol=0)
    torch.testing.assert_close(depthwise_conv2d(X, K), expected, rtol=0, atol=0)


def test_grouped_and_depthwise_match_torch(device: str) -> None:
    X, K, b = _rand(2, 4, 5, 5, device=device), _rand(6, 2, 3, 2, device=device), _rand(6)
    b = b.detach().to(device).requires_grad_(True)
    ours = conv2d_grouped(X, K, b, stride=(2, 1), padding=(1, 0), groups=2)
    _same_grads(ours, F.conv2d(X, K, b, (2, 1), (1, 0), groups=2), [X, K, b])
    K_dw = _rand(8, 1, 3, 3, device=device)  # depth multiplier 2
    _same_grads(
        depthwise_conv2d(X, K_dw, padding=(1, 1)), F.conv2d(X, K_dw, None, 1, 1, 1, 4), [X, K_dw]
    )


def test_depthwise_separable_matches_torch(device: str) -> None:
    X, K_dw, K_pw = (
        _rand(1, 3, 5, 6, device=device),
        _rand(3, 1, 3, 3, device=device),
        _rand(5, 3, 1, 1, device=device),
    )
    expected = F.conv2d(F.conv2d(X, K_dw, stride=2, padding=1, groups=3), K_pw)
    ours = depthwise_separable_conv2d(X, K_dw, K_pw, stride=(2, 2), padding=(1, 1))
    _same_grads(ours, expected, [X, K_dw, K_pw])
    torch.testing.assert_close(
        ours, convlib.depthwise_separable_conv2d(X, K_dw, K_pw, stride=2, padding=1), **TOL
    )


@settings(max_examples=15)
@given(
    groups=st.integers(1, 3),
    per_in=st.integers(1, 2),
    per_out=st.integers(1, 2),
    size=st.integers(3, 5),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 1),
)
def test_grouped_equals_library(
    groups: int, per_in: int, per_out: int, size: int, k: int, stride: int, padding: int
) -> None:
    X = torch.randn(1, groups * per_in, size, size, dtype=F64)
    K = torch.randn(groups * per_out, per_in, k, k, dtype=F64)
    b = torch.randn(groups * per_out, dtype=F64)
    expected = convlib.conv2d(X, K, b, stride=stride, padding=padding, groups=groups)
    ours = conv2d_grouped(X, K, b, (stride, stride), (padding, padding), groups)
    torch.testing.assert_close(ours, expected, **TOL)


def test_channel_shuffle_order_and_torch() -> None:
    X = torch.arange(8.0).reshape(1, 8, 1, 1)
    order = channel_shuffle(X, 4).flatten().long().tolist()
    assert order == [0, 2, 4, 6, 1, 3, 5, 7]
    for C, g in [(8, 2), (8, 4), (12, 3), (6, 2)]:
        Z = torch.randn(2, C, 2, 3)
        torch.testing.assert_close(channel_shuffle(Z, g), F.channel_shuffle(Z, g), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("C", "g"), [(c, g) for c in range(2, 19) for g in range(2, c + 1) if c % g == 0]
)
def test_channel_shuffle_mixes_iff_enough_channels_per_group(C: int, g: int) -> None:
    # After a shuffle, shuffled position q holds a channel of group q mod g. The next layer's group
    # t takes C/g consecutive positions, so it sees every group iff C/g >= g, and the same number
    # of channels of each group iff g divides C/g.
    shuffled = channel_shuffle(torch.arange(float(C)).reshape(1, C, 1, 1), g).flatten().long()
    per = C // g
    counts = [
        torch.bincount(shuffled[t * per : (t + 1) * per] // per, minlength=g).tolist()
        for t in range(g)
    ]
    assert all(min(c) > 0 for c in counts) == (per >= g)
    assert all(len(set(c)) == 1 for c in counts) == (per % g == 0)


# Chapter 7 ---------------------------------------------------------------------------------------


def test_dilation_hand_cases() -> None:
    X = torch.arange(25.0).reshape(5, 5)
    K = torch.ones(2, 2)
    # taps at (0,0), (0,2), (2,0), (2,2): 0 + 2 + 10 + 12 = 24 at the first window
    Y = corr2d_dilated(X, K, dilation=(2, 2))
    expected_Y = torch.tensor([[24.0, 28.0, 32.0], [44.0, 48.0, 52.0], [64.0, 68.0, 72.0]])
    torch.testing.assert_close(Y, expected_Y, rtol=0, atol=0)
    K_holes = dilate_kernel(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), (2, 3))
    expected = torch.tensor([[1.0, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]])
    torch.testing.assert_close(K_holes, expected, rtol=0, atol=0)


def test_hdc_max_gap_paper_examples() -> None:
    # Wang et al. (2018): [1, 2, 5] works (M_2 = 2), [1, 2, 9] does not (M_2 = 5).
    assert hdc_max_gap([1, 2, 5]) == 2
    assert hdc_max_gap([1, 2, 9]) == 5
    assert hdc_max_gap([1, 2, 3]) == 2


def _holes_1d(rates: tuple[int, ...]) -> bool:
    offsets = {0}
    for r in rates:
        offsets = {o + r * t for o in offsets for t in range(3)}
    return len(offsets) != max(offsets) + 1


def test_hdc_condition_is_exact_for_ascending_rates() -> None:
    # 3x3 layers: no holes <=> (sorted) r_1 = 1 and M_2 <= 3, checked over every small stack.
    for n in (2, 3):
        for rates in itertools.combinations_with_replacement(range(1, 10), n):
            no_holes = rates[0] == 1 and hdc_max_gap(list(rates)) <= 3
            assert no_holes == (not _holes_1d(rates)), rates


def test_dilated_matches_torch(device: str) -> None:
    X, K = _rand(7, 8, device=device), _rand(3, 2, device=device)
    expected = F.conv2d(X[None, None], K[None, None], None, (2, 1), (1, 2), (2, 3))[0, 0]
    _same_grads(corr2d_dilated(X, K, (2, 3), (2, 1), (1, 2)), expected, [X, K])
    X4, K4, b = _rand(2, 4, 6, 6, device=device), _rand(6, 2, 3, 2, device=device), _rand(6)
    b = b.detach().to(device).requires_grad_(True)
    ours = conv2d_dilated(X4, K4, b, (1, 2), (2, 1), (2, 2), 2)
    _same_grads(ours, F.conv2d(X4, K4, b, (1, 2), (2, 1), (2, 2), 2), [X4, K4, b])


@settings(max_examples=15)
@given(
    size=st.integers(5, 8),
    k=st.integers(1, 3),
    d=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    groups=st.integers(1, 2),
)
def test_dilated_equals_library(
    size: int, k: int, d: tuple[int, int], stride: int, padding: int, groups: int
) -> None:
    if d[0] * (k - 1) + 1 > size + 2 * padding or d[1] * (k - 1) + 1 > size + 2 * padding:
        return
    X = torch.randn(1, 2 * groups, size, size, dtype=F64)
    K = torch.randn(2, 2, k, k, dtype=F64)
    args: dict[str, Any] = {"stride": stride, "padding": padding, "dilation": d}
    expected = convlib.conv2d(X, K, groups=groups, **args)
    ours = conv2d_dilated(X, K, None, (stride, stride), (padding, padding), d, groups)
    torch.testing.assert_close(ours, expected, **TOL)
    single = corr2d_dilated(X[0, 0], K[0, 0], d, (stride, stride), (padding, padding))
    torch.testing.assert_close(single, convlib.conv2d(X[:, :1], K[:1, :1], **args)[0, 0], **TOL)
    torch.testing.assert_close(
        convlib.conv2d(X, dilate_kernel(K, d), groups=groups, stride=stride, padding=padding),
        expected,
        **TOL,
    )


# Chapter 8 ---------------------------------------------------------------------------------------


def test_scatter_hand_case() -> None:
    # Each input value adds value * K at its stride-spaced position.
    X = torch.tensor([[1.0, 2.0]])
    K = torch.tensor([[1.0, 10.0]])
    Y = conv_transpose2d_scatter(X, K, stride=(1, 2))
    torch.testing.assert_close(Y, torch.tensor([[1.0, 10.0, 2.0, 20.0]]), rtol=0, atol=0)
    Y1 = conv_transpose2d_scatter(X, K)  # stride 1: the copies overlap and add
    torch.testing.assert_close(Y1, torch.tensor([[1.0, 12.0, 20.0]]), rtol=0, atol=0)


def test_zero_insert_hand_case_and_torch(device: str) -> None:
    Z = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    expected = [[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 4.0]]
    torch.testing.assert_close(zero_insert(Z, (2, 3)).cpu(), torch.tensor(expected), **TOL)
    # Independent: a stride-s transposed convolution with a 1x1 kernel of one puts each value at
    # (i sh, j sw) and nothing else; and the library's N-d version.
    Z = torch.randn(5, 4, dtype=F64, device=device)
    one = torch.ones(1, 1, 1, 1, dtype=F64, device=device)
    for stride in [(1, 1), (2, 2), (3, 1), (2, 4)]:
        expected_t = F.conv_transpose2d(Z[None, None], one, stride=stride)[0, 0]
        torch.testing.assert_close(zero_insert(Z, stride), expected_t, **TOL)
        torch.testing.assert_close(zero_insert(Z, stride), library_zero_insert(Z, stride), **TOL)


def test_conv_matrix_shape_and_transpose() -> None:
    # The 4x4 input / 3x3 kernel example: C is 4x16 with 9 non-zeros per row; C^T maps 2x2 to 4x4.
    K = torch.arange(1.0, 10.0).reshape(3, 3)
    C = conv_matrix(K, (4, 4))
    assert C.shape == (4, 16)
    assert [int((row != 0).sum()) for row in C] == [9, 9, 9, 9]
    torch.testing.assert_close(C, library_conv_matrix(K, 4), rtol=0, atol=0)
    Z = torch.randn(2, 2, dtype=F64)
    K64 = K.to(F64)
    torch.testing.assert_close(
        (conv_matrix(K64, (4, 4)).T @ Z.flatten()).reshape(4, 4),
        F.conv_transpose2d(Z[None, None], K64[None, None])[0, 0],
        **TOL,
    )


@settings(max_examples=15)
@given(
    H=st.integers(3, 6),
    W=st.integers(3, 6),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
)
def test_conv_matrix_equals_convolution_and_library(
    H: int, W: int, k: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> None:
    X, K = torch.randn(H, W, dtype=F64), torch.randn(*k, dtype=F64)
    C = conv_matrix(K, (H, W), stride, padding)
    torch.testing.assert_close(
        C @ X.flatten(), corr2d_strided(X, K, stride, padding).flatten(), **TOL
    )
    torch.testing.assert_close(C, library_conv_matrix(K, (H, W), stride, padding), rtol=0, atol=0)


def test_conv_matrix_is_differentiable_in_K() -> None:
    X, K = torch.randn(4, 5, dtype=F64), _rand(2, 3)
    ours = conv_matrix(K, (4, 5), (1, 2), (1, 0)) @ X.flatten()
    expected = F.conv2d(X[None, None], K[None, None], None, (1, 2), (1, 0)).flatten()
    _same_grads(ours, expected, [K])


def test_conv_transpose2d_matches_torch(device: str) -> None:
    X, K, b = _rand(2, 4, 3, 4, device=device), _rand(4, 3, 3, 2, device=device), _rand(6)
    b = b.detach().to(device).requires_grad_(True)
    args: dict[str, Any] = {
        "stride": (2, 3),
        "padding": (1, 0),
        "output_padding": (1, 2),
        "groups": 2,
    }
    expected = F.conv_transpose2d(X, K, b, dilation=(2, 1), **args)
    _same_grads(conv_transpose2d(X, K, b, dilation=(2, 1), **args), expected, [X, K, b])
    Z, K2 = _rand(3, 2, device=device), _rand(3, 3, device=device)
    expected2 = F.conv_transpose2d(Z[None, None], K2[None, None], stride=2, dilation=2)[0, 0]
    _same_grads(conv_transpose2d_scatter(Z, K2, (2, 2), (2, 2)), expected2, [Z, K2])


@settings(max_examples=20)
@given(
    N=st.integers(1, 2),
    groups=st.integers(1, 2),
    per_in=st.integers(1, 2),
    per_out=st.integers(1, 2),
    H=st.integers(1, 4),
    W=st.integers(1, 4),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    data=st.data(),
)
def test_conv_transpose2d_equals_library_and_torch(
    N: int,
    groups: int,
    per_in: int,
    per_out: int,
    H: int,
    W: int,
    k: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    data: st.DataObject,
) -> None:
    output_padding = tuple(
        data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    sizes = [
        (n - 1) * s - 2 * p + d * (kk - 1) + 1 + o
        for n, s, p, d, kk, o in zip(
            (H, W), stride, padding, dilation, k, output_padding, strict=True
        )
    ]
    if min(sizes) < 1:
        return  # the padding crops everything: torch rejects the layer
    X = torch.randn(N, groups * per_in, H, W, dtype=F64)
    K = torch.randn(groups * per_in, per_out, *k, dtype=F64)
    b = torch.randn(groups * per_out, dtype=F64)
    args: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "groups": groups,
        "dilation": dilation,
    }
    ours = conv_transpose2d(X, K, b, **args)
    torch.testing.assert_close(ours, convlib.conv_transpose2d(X, K, b, **args), **TOL)
    torch.testing.assert_close(ours, F.conv_transpose2d(X, K, b, **args), **TOL)
