"""Teaching layer, chapters 1-4: corr2d, convolve2d, shift2d, Conv2D, learn_kernel, pad2d,
corr2d_strided, corr2d_multi_in, corr2d_multi_in_out and conv2d.

Each function is checked on a hand case, against torch.nn.functional in float64 (values and
gradients), over shapes drawn by hypothesis, and against the general library (``convlib.conv2d``,
``convlib.pad``), so the teaching layer and the fast N-d layer are proved equal.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from teaching_helpers import F64, TOL, _rand, _same_grads

import convlib
from convlib.teaching.ch01_cross_correlation import convolve2d, corr2d, shift2d
from convlib.teaching.ch02_learning_a_kernel import Conv2D, learn_kernel, receptive_fields
from convlib.teaching.ch03_padding_and_stride import corr2d_strided, pad2d
from convlib.teaching.ch04_channels import conv2d, corr2d_multi_in, corr2d_multi_in_out

EXAMPLE_X = torch.arange(9.0).reshape(3, 3)
EXAMPLE_K = torch.tensor([[0.0, 1.0], [2.0, 3.0]])


# Chapter 1 ---------------------------------------------------------------------------------------


def test_corr2d_hand_case() -> None:
    Y = corr2d(EXAMPLE_X, EXAMPLE_K)
    torch.testing.assert_close(Y, torch.tensor([[19.0, 25.0], [37.0, 43.0]]), rtol=0, atol=0)


def test_convolve2d_hand_case() -> None:
    # The kernel flipped: [[3, 2], [1, 0]]; top-left 0*3 + 1*2 + 3*1 + 4*0 = 5.
    Y = convolve2d(EXAMPLE_X, EXAMPLE_K)
    torch.testing.assert_close(Y, torch.tensor([[5.0, 11.0], [23.0, 29.0]]), rtol=0, atol=0)


def test_shift2d_hand_case() -> None:
    expected = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 0.0], [4.0, 5.0, 0.0]])
    torch.testing.assert_close(shift2d(EXAMPLE_X, (1, -1)), expected, rtol=0, atol=0)
    torch.testing.assert_close(shift2d(EXAMPLE_X, (0, 0)), EXAMPLE_X, rtol=0, atol=0)


def test_corr2d_and_convolve2d_match_torch(device: str) -> None:
    X, K = _rand(5, 6, device=device), _rand(3, 2, device=device)
    expected = F.conv2d(X[None, None], K[None, None])[0, 0]
    _same_grads(corr2d(X, K), expected, [X, K])
    flipped = F.conv2d(X[None, None], K.flip(0, 1)[None, None])[0, 0]
    _same_grads(convolve2d(X, K), flipped, [X, K])


def test_shift2d_matches_a_one_hot_kernel(device: str) -> None:
    # Shifting by (dy, dx) is cross-correlation with a one-hot kernel, padded to keep the size.
    X = _rand(5, 6, device=device)
    for dy, dx in [(1, 2), (-2, 1), (0, -3), (2, 0)]:
        one_hot = torch.zeros(5, 7, dtype=F64, device=device)
        one_hot[2 - dy, 3 - dx] = 1
        expected = F.conv2d(X[None, None], one_hot[None, None], padding=(2, 3))[0, 0]
        _same_grads(shift2d(X, (dy, dx)), expected, [X])


@settings(max_examples=15)
@given(h=st.integers(1, 6), w=st.integers(1, 6), kh=st.integers(1, 3), kw=st.integers(1, 3))
def test_corr2d_convolve2d_shapes(h: int, w: int, kh: int, kw: int) -> None:
    X, K = torch.randn(h + kh - 1, w + kw - 1, dtype=F64), torch.randn(kh, kw, dtype=F64)
    Y = corr2d(X, K)
    assert Y.shape == (h, w)
    torch.testing.assert_close(Y, convlib.conv2d(X[None, None], K[None, None])[0, 0], **TOL)
    torch.testing.assert_close(
        convolve2d(X, K), convlib.conv2d(X[None, None], K.flip(0, 1)[None, None])[0, 0], **TOL
    )


@settings(max_examples=20)
@given(
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    dy=st.integers(0, 2),
    dx=st.integers(0, 2),
    k=st.integers(1, 3),
)
def test_translation_equivariance(h: int, w: int, dy: int, dx: int, k: int) -> None:
    """Shift then correlate = correlate then shift, except in the first dy rows and dx columns."""
    X, K = torch.randn(h, w, dtype=F64), torch.randn(k, k, dtype=F64)
    Y_of_shifted = corr2d(shift2d(X, (dy, dx)), K)
    shifted_Y = shift2d(corr2d(X, K), (dy, dx))
    torch.testing.assert_close(Y_of_shifted[dy:, dx:], shifted_Y[dy:, dx:], **TOL)
    # shift2d round trip: what stays inside the frame comes back.
    back = shift2d(shift2d(X, (dy, dx)), (-dy, -dx))
    torch.testing.assert_close(back[: h - dy, : w - dx], X[: h - dy, : w - dx], rtol=0, atol=0)


# Chapter 2 ---------------------------------------------------------------------------------------


def test_conv2d_layer_matches_torch(device: str) -> None:
    torch.manual_seed(0)
    layer = Conv2D((2, 3)).to(device=device, dtype=F64)
    with torch.no_grad():
        layer.bias.fill_(0.5)
    X = _rand(4, 5, device=device)
    expected = F.conv2d(X[None, None], layer.weight[None, None], layer.bias)[0, 0]
    _same_grads(layer(X), expected, [X, layer.weight, layer.bias])
    assert [p.shape for p in layer.parameters()] == [(2, 3), (1,)]
    reference = convlib.conv2d(X[None, None], layer.weight[None, None], layer.bias)[0, 0]
    torch.testing.assert_close(layer(X), reference, **TOL)


def test_conv2d_layer_hand_case() -> None:
    layer = Conv2D((2, 2))
    with torch.no_grad():
        layer.weight.copy_(EXAMPLE_K)
        layer.bias.fill_(1.0)
    expected = torch.tensor([[20.0, 26.0], [38.0, 44.0]])
    torch.testing.assert_close(layer(EXAMPLE_X), expected, rtol=0, atol=0)


def test_learn_kernel_finds_the_edge_detector(device: str) -> None:
    X = torch.ones(6, 8, device=device)
    X[:, 2:6] = 0
    Y = corr2d(X, torch.tensor([[1.0, -1.0]], device=device))
    torch.manual_seed(0)
    layer, losses = learn_kernel(X, Y, (1, 2), lr=0.01, steps=30)
    assert len(losses) == 30 and losses[-1] < 1e-3 * losses[0]
    torch.testing.assert_close(
        layer.weight.detach().cpu(), torch.tensor([[1.0, -1.0]]), rtol=0, atol=0.01
    )


def test_learn_kernel_is_gradient_descent_as_torch_computes_it() -> None:
    """Same start, same steps with F.conv2d and torch's SGD: the same losses and kernel."""
    X, Y = torch.randn(5, 6, dtype=F64), torch.randn(4, 4, dtype=F64)
    torch.manual_seed(3)
    layer, losses = learn_kernel(X, Y, (2, 3), lr=0.005, steps=8)
    torch.manual_seed(3)
    K = torch.randn(2, 3).to(F64).requires_grad_()
    b = torch.zeros(1, dtype=F64, requires_grad=True)
    optimiser = torch.optim.SGD([K, b], lr=0.005)
    expected = []
    for _ in range(8):
        loss = ((F.conv2d(X[None, None], K[None, None], b)[0, 0] - Y) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        expected.append(loss.item())
    assert losses == pytest.approx(expected, rel=1e-10)
    torch.testing.assert_close(layer.weight.detach(), K.detach(), **TOL)
    torch.testing.assert_close(layer.bias.detach(), b.detach(), **TOL)


@settings(max_examples=10)
@given(h=st.integers(2, 5), w=st.integers(2, 5), kh=st.integers(1, 2), kw=st.integers(1, 2))
def test_conv2d_layer_shapes(h: int, w: int, kh: int, kw: int) -> None:
    layer = Conv2D((kh, kw)).double()
    X = torch.randn(h, w, dtype=F64)
    with torch.no_grad():
        Y = layer(X)
        expected = convlib.conv2d(X[None, None], layer.weight[None, None], layer.bias)[0, 0]
    assert Y.shape == (h - kh + 1, w - kw + 1)
    torch.testing.assert_close(Y, expected, **TOL)


# Chapter 3 ---------------------------------------------------------------------------------------


def _field_by_autograd(layers: list[tuple[int, int, int]], height: int) -> int:
    """Rows of the input that one corner unit depends on, read off the gradient through all-ones
    kernels (positive weights: nothing cancels), independently of the recurrence."""
    X = torch.zeros(1, 1, height, 3, dtype=F64, requires_grad=True)
    out = X
    for k, s, d in layers:
        out = F.conv2d(out, torch.ones(1, 1, k, 1, dtype=F64), stride=(s, 1), dilation=(d, 1))
    out[0, 0, 0, 0].backward()
    assert X.grad is not None
    rows = torch.nonzero(X.grad[0, 0, :, 0])[:, 0]
    return int(rows.max()) + 1  # the first row is 0: the field spans rows 0..r-1


def test_receptive_fields_hand_cases() -> None:
    assert receptive_fields([(2, 1, 1), (2, 1, 1)]) == [2, 3]  # chapter 2's two 2x2 layers
    assert receptive_fields([(3, 1, 1)] * 4) == [3, 5, 7, 9]
    assert receptive_fields([(3, 1, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1)]) == [3, 5, 9, 13]
    assert receptive_fields([(3, 1, 2**n) for n in range(4)]) == [3, 7, 15, 31]
    assert receptive_fields([]) == []


@settings(max_examples=25)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)), min_size=1, max_size=4
    )
)
def test_receptive_fields_match_autograd(layers: list[tuple[int, int, int]]) -> None:
    fields = receptive_fields(layers)
    assert fields == convlib.shapes.receptive_fields(layers)
    for depth in range(1, len(layers) + 1):
        # any input at least as tall as the field has a corner unit that sees all of it
        assert fields[depth - 1] == _field_by_autograd(layers[:depth], height=fields[-1] + 2)


def test_pad2d_and_corr2d_strided_hand_case() -> None:
    padded = pad2d(torch.tensor([[1.0, 2.0]]), (1, 1))
    expected = torch.tensor([[0.0, 0, 0, 0], [0, 1, 2, 0], [0, 0, 0, 0]])
    torch.testing.assert_close(padded, expected, rtol=0, atol=0)
    # 3x3 example, padding 1, stride 2: windows at rows/cols 0 and 2 of the 5x5 padded input.
    Y = corr2d_strided(EXAMPLE_X, EXAMPLE_K, stride=(2, 2), padding=(1, 1))
    torch.testing.assert_close(Y, torch.tensor([[0.0, 8.0], [21.0, 43.0]]), rtol=0, atol=0)


def test_pad2d_and_corr2d_strided_match_torch(device: str) -> None:
    X, K = _rand(5, 7, device=device), _rand(3, 2, device=device)
    _same_grads(pad2d(X, (2, 1)), F.pad(X, (1, 1, 2, 2)), [X])
    for stride, padding in [((1, 1), (0, 0)), ((2, 3), (1, 0)), ((3, 1), (2, 2))]:
        expected = F.conv2d(X[None, None], K[None, None], stride=stride, padding=padding)[0, 0]
        _same_grads(corr2d_strided(X, K, stride, padding), expected, [X, K])


@settings(max_examples=20)
@given(
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
)
def test_corr2d_strided_against_convlib(
    h: int, w: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int
) -> None:
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return  # the kernel does not fit: no output
    X, K = torch.randn(h, w, dtype=F64), torch.randn(kh, kw, dtype=F64)
    Y = corr2d_strided(X, K, (sh, sw), (ph, pw))
    expected = convlib.conv2d(X[None, None], K[None, None], stride=(sh, sw), padding=(ph, pw))
    torch.testing.assert_close(Y, expected[0, 0], **TOL)
    assert Y.shape == convlib.shapes.conv_output_size((h, w), (kh, kw), (sh, sw), (ph, pw))
    torch.testing.assert_close(pad2d(X, (ph, pw)), convlib.pad(X, (pw, pw, ph, ph)), rtol=0, atol=0)


# Chapter 4 ---------------------------------------------------------------------------------------

TWO_CHANNEL_X = torch.stack([torch.arange(9.0), torch.arange(1.0, 10.0)]).reshape(2, 3, 3)
TWO_CHANNEL_K = torch.stack([torch.arange(4.0), torch.arange(1.0, 5.0)]).reshape(2, 2, 2)


def test_multi_channel_hand_cases() -> None:
    Y = corr2d_multi_in(TWO_CHANNEL_X, TWO_CHANNEL_K)
    torch.testing.assert_close(Y, torch.tensor([[56.0, 72.0], [104.0, 120.0]]), rtol=0, atol=0)
    K3 = torch.stack([TWO_CHANNEL_K, TWO_CHANNEL_K + 1, TWO_CHANNEL_K + 2])
    Y3 = corr2d_multi_in_out(TWO_CHANNEL_X, K3)
    assert Y3.shape == (3, 2, 2)
    torch.testing.assert_close(Y3[0], Y, rtol=0, atol=0)
    # Each +1 on the kernel adds the sums of the two 2x2 windows: 8 + 12 = 20 at the top left.
    torch.testing.assert_close(Y3[1, 0, 0], Y[0, 0] + 20, rtol=0, atol=0)
    Y4 = conv2d(TWO_CHANNEL_X[None], K3, bias=torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(Y4[0, 2], Y3[2] + 3, rtol=0, atol=0)


def test_multi_channel_match_torch(device: str) -> None:
    X, K = _rand(3, 5, 4, device=device), _rand(2, 3, 2, 3, device=device)
    _same_grads(corr2d_multi_in(X, K[0]), F.conv2d(X[None], K[:1])[0, 0], [X, K])
    _same_grads(corr2d_multi_in_out(X, K), F.conv2d(X[None], K)[0], [X, K])


def test_conv2d_matches_torch(device: str) -> None:
    X, K, b = (
        _rand(2, 3, 6, 5, device=device),
        _rand(4, 3, 3, 2, device=device),
        _rand(4, device=device),
    )
    for stride, padding in [((1, 1), (0, 0)), ((2, 1), (1, 2))]:
        expected = F.conv2d(X, K, b, stride=stride, padding=padding)
        _same_grads(conv2d(X, K, b, stride, padding), expected, [X, K, b])
    _same_grads(conv2d(X, K), F.conv2d(X, K), [X, K])


@settings(max_examples=12)
@given(
    n=st.integers(1, 2),
    in_channels=st.integers(1, 3),
    out_channels=st.integers(1, 3),
    size=st.integers(2, 5),
    k=st.integers(1, 3),
    s=st.integers(1, 2),
    p=st.integers(0, 1),
    with_bias=st.booleans(),
)
def test_conv2d_against_convlib(
    n: int, in_channels: int, out_channels: int, size: int, k: int, s: int, p: int, with_bias: bool
) -> None:
    if size + 2 * p < k:
        return
    X = torch.randn(n, in_channels, size, size, dtype=F64)
    K = torch.randn(out_channels, in_channels, k, k, dtype=F64)
    b = torch.randn(out_channels, dtype=F64) if with_bias else None
    Y = conv2d(X, K, b, (s, s), (p, p))
    torch.testing.assert_close(Y, convlib.conv2d(X, K, b, stride=s, padding=p), **TOL)
    if p == 0 and s == 1:
        bias = 0 if b is None else b[:, None, None]
        torch.testing.assert_close(Y[0], corr2d_multi_in_out(X[0], K) + bias, **TOL)
