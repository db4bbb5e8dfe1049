"""Teaching layer, chapters 15-16: FFT convolution, the windows view, Winograd F(2x2, 3x3).

Each function against a hand-checked case, against torch (values and float64 gradients), over
hypothesis-drawn shapes and arguments, and against the general convlib path it teaches
(``convlib.conv2d(..., algorithm="fft" / "windows" / "winograd")``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from teaching_helpers import F64, TOL

import convlib
from convlib.algorithms import AT, BT, G, derive_winograd
from convlib.teaching.ch01_cross_correlation import corr2d
from convlib.teaching.ch15_large_kernels import conv2d_fft, corr2d_fft
from convlib.teaching.ch16_loops_to_gemm import (
    conv2d_depthwise_shift_add,
    conv2d_windows,
    conv_transpose2d_subpixel,
    corr2d_winograd,
    winograd_matrices,
    winograd_tile,
)

TIGHT = TOL
HAND_X = torch.arange(9.0, dtype=F64).reshape(3, 3)
HAND_K = torch.arange(4.0, dtype=F64).reshape(2, 2)
HAND_Y = [[19.0, 25.0], [37.0, 43.0]]


def _grads(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Gradients of sum(fn(*tensors) * weights) for fixed random weights (float64)."""
    inputs = [t.detach().clone().requires_grad_() for t in tensors]
    Y = fn(*inputs)
    weights = torch.randn(Y.shape, dtype=Y.dtype, generator=torch.Generator().manual_seed(7))
    return torch.autograd.grad((Y * weights.to(Y.device)).sum(), inputs)


def _randn(*shape: int, device: str = "cpu", seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=F64, generator=g).to(device)


# ---------------------------------------------------------------------------------------------
# Chapter 15: FFT
# ---------------------------------------------------------------------------------------------


def test_fft_hand_case() -> None:
    torch.testing.assert_close(corr2d_fft(HAND_X, HAND_K), torch.tensor(HAND_Y, dtype=F64))
    Y = conv2d_fft(HAND_X[None, None], HAND_K[None, None])
    torch.testing.assert_close(Y[0, 0], torch.tensor(HAND_Y, dtype=F64))
    # padding 1: the corner sees only K[1, 1] * X[0, 0] = 3 * 0 and the next one 3 * 1 + 2 * 0.
    Yp = corr2d_fft(HAND_X, HAND_K, padding=(1, 1))
    assert Yp.shape == (4, 4)
    torch.testing.assert_close(Yp[0, :2], torch.tensor([0.0, 3.0], dtype=F64), **TIGHT)


@pytest.mark.parametrize(
    "shape_x, shape_k, padding, groups",
    [
        ((2, 4, 9, 8), (6, 2, 3, 5), (1, 2), 2),
        ((1, 3, 12, 12), (3, 1, 9, 9), (4, 4), 3),
        ((2, 2, 5, 7), (4, 2, 5, 7), (0, 0), 1),
        ((1, 1, 6, 6), (1, 1, 1, 1), (2, 0), 1),
    ],
)
def test_conv2d_fft_matches_torch(
    shape_x: tuple[int, ...],
    shape_k: tuple[int, ...],
    padding: tuple[int, int],
    groups: int,
    device: str,
) -> None:
    X, K = _randn(*shape_x, device=device), _randn(*shape_k, device=device, seed=1)
    want = F.conv2d(X, K, padding=padding, groups=groups)
    got = conv2d_fft(X, K, padding, groups)
    torch.testing.assert_close(got, want, **TIGHT)
    general = convlib.conv2d(X, K, padding=padding, groups=groups, algorithm="fft")
    torch.testing.assert_close(got, general, **TIGHT)
    ours = _grads(lambda x, k: conv2d_fft(x, k, padding, groups), X, K)
    theirs = _grads(lambda x, k: F.conv2d(x, k, padding=padding, groups=groups), X, K)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


def test_corr2d_fft_gradients_match_torch() -> None:
    X, K = _randn(7, 6), _randn(3, 4, seed=1)
    ours = _grads(lambda x, k: corr2d_fft(x, k, (1, 2)), X, K)
    theirs = _grads(lambda x, k: F.conv2d(x[None, None], k[None, None], padding=(1, 2)), X, K)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


@settings(max_examples=15, deadline=None)
@given(
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
)
def test_corr2d_fft_any_shape(H: int, W: int, kh: int, kw: int, ph: int, pw: int) -> None:
    if kh > H + 2 * ph or kw > W + 2 * pw:
        return
    X, K = _randn(H, W), _randn(kh, kw, seed=1)
    want = F.conv2d(X[None, None], K[None, None], padding=(ph, pw))[0, 0]
    torch.testing.assert_close(corr2d_fft(X, K, (ph, pw)), want, **TIGHT)


@settings(max_examples=15, deadline=None)
@given(
    groups=st.integers(1, 3),
    c_per_group=st.integers(1, 2),
    o_per_group=st.integers(1, 2),
    k=st.integers(1, 6),
    size=st.integers(6, 10),
    p=st.integers(0, 3),
)
def test_conv2d_fft_any_shape(
    groups: int, c_per_group: int, o_per_group: int, k: int, size: int, p: int
) -> None:
    X = _randn(2, groups * c_per_group, size, size + 1)
    K = _randn(groups * o_per_group, c_per_group, k, k, seed=1)
    want = F.conv2d(X, K, padding=p, groups=groups)
    torch.testing.assert_close(conv2d_fft(X, K, (p, p), groups), want, **TIGHT)


# ---------------------------------------------------------------------------------------------
# Chapter 16: windows
# ---------------------------------------------------------------------------------------------


def test_windows_hand_case() -> None:
    Y = conv2d_windows(HAND_X[None, None], HAND_K[None, None])
    assert Y[0, 0].tolist() == HAND_Y
    assert conv2d_windows(HAND_X[None, None], HAND_K[None, None], (2, 2), (1, 1))[
        0, 0
    ].tolist() == [[0.0, 8.0], [21.0, 43.0]]


@pytest.mark.parametrize(
    "shape_x, shape_k, stride, padding",
    [
        ((2, 3, 7, 8), (4, 3, 3, 3), (1, 1), (1, 1)),
        ((1, 2, 9, 6), (3, 2, 2, 3), (2, 3), (0, 2)),
        ((2, 1, 5, 5), (2, 1, 5, 5), (1, 1), (0, 0)),
    ],
)
def test_conv2d_windows_matches_torch(
    shape_x: tuple[int, ...],
    shape_k: tuple[int, ...],
    stride: tuple[int, int],
    padding: tuple[int, int],
    device: str,
) -> None:
    X, K = _randn(*shape_x, device=device), _randn(*shape_k, device=device, seed=1)
    want = F.conv2d(X, K, stride=stride, padding=padding)
    got = conv2d_windows(X, K, stride, padding)
    torch.testing.assert_close(got, want, **TIGHT)
    general = convlib.conv2d(X, K, stride=stride, padding=padding, algorithm="windows")
    torch.testing.assert_close(got, general, **TIGHT)
    ours = _grads(lambda x, k: conv2d_windows(x, k, stride, padding), X, K)
    theirs = _grads(lambda x, k: F.conv2d(x, k, stride=stride, padding=padding), X, K)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


@settings(max_examples=15, deadline=None)
@given(
    C_in=st.integers(1, 3),
    C_out=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
)
def test_conv2d_windows_any_shape(
    C_in: int, C_out: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int
) -> None:
    X, K = _randn(2, C_in, 6, 7), _randn(C_out, C_in, kh, kw, seed=1)
    want = F.conv2d(X, K, stride=(sh, sw), padding=(ph, pw))
    torch.testing.assert_close(conv2d_windows(X, K, (sh, sw), (ph, pw)), want, **TIGHT)


# ---------------------------------------------------------------------------------------------
# Chapter 16: Winograd F(2x2, 3x3)
# ---------------------------------------------------------------------------------------------


def test_winograd_matrices_are_lavin_and_grays() -> None:
    BT_, G_, AT_ = winograd_matrices()
    assert (BT_.shape, G_.shape, AT_.shape) == ((4, 4), (4, 3), (2, 4))
    for ours, library in ((BT_, BT), (G_, G), (AT_, AT)):
        assert ours.tolist() == library
    # 1D F(2, 3): two outputs of a 3-tap correlation from 4 multiplications.
    d = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64)
    g = torch.tensor([1.0, 0.0, -1.0], dtype=F64)
    assert (AT_ @ ((G_ @ g) * (BT_ @ d))).tolist() == [-2.0, -2.0]
    # The derived (unscaled) matrices compute the same thing.
    BT_d, G_d, AT_d = (torch.tensor(M, dtype=F64) for M in derive_winograd(2, 3, (0, 1, -1)))
    torch.testing.assert_close(AT_d @ ((G_d @ g) * (BT_d @ d)), AT_ @ ((G_ @ g) * (BT_ @ d)))
    assert winograd_matrices(torch.float32)[0].dtype == torch.float32


def test_winograd_tile_hand_case_and_torch() -> None:
    d = torch.arange(16.0, dtype=F64).reshape(4, 4)
    g = torch.tensor([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64)
    # Each output is d[i, j] - d[i, j + 2] = -2.
    torch.testing.assert_close(winograd_tile(d, g), torch.full((2, 2), -2.0, dtype=F64), **TIGHT)
    d, g = _randn(4, 4), _randn(3, 3, seed=1)
    torch.testing.assert_close(winograd_tile(d, g), corr2d(d, g), **TIGHT)
    ours = _grads(winograd_tile, d, g)
    theirs = _grads(lambda x, k: F.conv2d(x[None, None], k[None, None])[0, 0], d, g)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


@pytest.mark.parametrize("H, W", [(4, 4), (7, 8), (5, 9), (3, 3)])
def test_corr2d_winograd_matches_torch(H: int, W: int, device: str) -> None:
    X, K = _randn(H, W, device=device), _randn(3, 3, device=device, seed=1)
    want = F.conv2d(X[None, None], K[None, None])[0, 0]
    got = corr2d_winograd(X, K)
    torch.testing.assert_close(got, want, **TIGHT)
    general = convlib.conv2d(X[None, None], K[None, None], algorithm="winograd")[0, 0]
    torch.testing.assert_close(got, general, **TIGHT)
    ours = _grads(corr2d_winograd, X, K)
    theirs = _grads(lambda x, k: F.conv2d(x[None, None], k[None, None])[0, 0], X, K)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


def test_corr2d_winograd_hand_case() -> None:
    X = torch.arange(16.0, dtype=F64).reshape(4, 4)
    K = torch.zeros(3, 3, dtype=F64)
    K[1, 1] = 1.0  # the identity kernel: the centre 2x2 of X
    assert corr2d_winograd(X, K).tolist() == [[5.0, 6.0], [9.0, 10.0]]


@settings(max_examples=15, deadline=None)
@given(H=st.integers(3, 9), W=st.integers(3, 9))
def test_corr2d_winograd_any_shape(H: int, W: int) -> None:
    X, K = _randn(H, W), _randn(3, 3, seed=1)
    torch.testing.assert_close(corr2d_winograd(X, K), corr2d(X, K), **TIGHT)


# ---------------------------------------------------------------------------------------------
# Chapter 16: the depthwise shift-add and the sub-pixel transposed convolution
# ---------------------------------------------------------------------------------------------


def test_depthwise_shift_add_hand_case() -> None:
    # One channel: the plain correlation of chapter 1; two channels: each its own kernel.
    X = torch.stack([HAND_X, -HAND_X])[None]  # (1, 2, 3, 3)
    K = torch.stack([HAND_K, 2 * HAND_K])[:, None]  # (2, 1, 2, 2)
    Y = conv2d_depthwise_shift_add(X, K)
    assert Y[0, 0].tolist() == HAND_Y
    assert Y[0, 1].tolist() == [[-2 * v for v in row] for row in HAND_Y]


@pytest.mark.parametrize(
    "shape_x, kernel, padding",
    [
        ((2, 3, 7, 8), (3, 3), (1, 1)),
        ((1, 4, 6, 9), (2, 5), (0, 2)),
        ((2, 2, 5, 5), (5, 5), (2, 2)),
    ],
)
def test_depthwise_shift_add_matches_torch(
    shape_x: tuple[int, ...], kernel: tuple[int, int], padding: tuple[int, int], device: str
) -> None:
    C = shape_x[1]
    X, K = _randn(*shape_x, device=device), _randn(C, 1, *kernel, device=device, seed=1)
    want = F.conv2d(X, K, padding=padding, groups=C)
    torch.testing.assert_close(conv2d_depthwise_shift_add(X, K, padding), want, **TIGHT)
    ours = _grads(lambda x, k: conv2d_depthwise_shift_add(x, k, padding), X, K)
    theirs = _grads(lambda x, k: F.conv2d(x, k, padding=padding, groups=C), X, K)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


def test_subpixel_hand_case() -> None:
    # Stride 2, a 2x2 kernel: the phases do not overlap, so each input value stamps a
    # scaled copy of K into its own 2x2 block of the output.
    Z = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)[None, None]
    K = HAND_K[None, None]  # [[0, 1], [2, 3]]
    Y = conv_transpose2d_subpixel(Z, K, (2, 2))
    want = [[0.0, 1.0, 0.0, 2.0], [2.0, 3.0, 4.0, 6.0], [0.0, 3.0, 0.0, 4.0], [6.0, 9.0, 8.0, 12.0]]
    assert Y[0, 0].tolist() == want


@pytest.mark.parametrize(
    "shape_z, shape_k, stride, padding",
    [
        ((2, 3, 5, 7), (3, 4, 4, 4), (2, 2), (1, 1)),
        ((1, 2, 4, 3), (2, 3, 5, 3), (3, 2), (0, 1)),
        ((2, 2, 3, 4), (2, 1, 3, 3), (1, 1), (1, 0)),
        ((1, 3, 4, 4), (3, 2, 7, 3), (2, 3), (2, 1)),
    ],
)
def test_subpixel_matches_torch(
    shape_z: tuple[int, ...],
    shape_k: tuple[int, ...],
    stride: tuple[int, int],
    padding: tuple[int, int],
    device: str,
) -> None:
    Z, K = _randn(*shape_z, device=device), _randn(*shape_k, device=device, seed=1)
    want = F.conv_transpose2d(Z, K, stride=stride, padding=padding)
    torch.testing.assert_close(conv_transpose2d_subpixel(Z, K, stride, padding), want, **TIGHT)
    ours = _grads(lambda z, k: conv_transpose2d_subpixel(z, k, stride, padding), Z, K)
    theirs = _grads(lambda z, k: F.conv_transpose2d(z, k, stride=stride, padding=padding), Z, K)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, **TIGHT)


@settings(max_examples=15, deadline=None)
@given(
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
)
def test_subpixel_any_shape(kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> None:
    Z, K = _randn(2, 2, 4, 5), _randn(2, 3, max(kh, sh), max(kw, sw), seed=1)
    want = F.conv_transpose2d(Z, K, stride=(sh, sw), padding=(ph, pw))
    torch.testing.assert_close(conv_transpose2d_subpixel(Z, K, (sh, sw), (ph, pw)), want, **TIGHT)
