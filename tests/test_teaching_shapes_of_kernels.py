"""Teaching layer, chapters 12-14: conv1d, conv3d, conv3d_from_frames (ch12); kernel_rank,
separate_kernel, separable_corr2d, low_rank_corr2d (ch13); bilinear_sample, deform_conv2d (ch14).

Each function is checked on a hand case, against torch.nn.functional in float64 (values and
gradients: F.conv1d, F.conv3d, F.conv2d, F.grid_sample), over shapes drawn by hypothesis, and
against the general library (``convlib.conv1d``, ``convlib.conv3d``, ``convlib.kernel_rank``,
``convlib.separate_kernel``, ``convlib.spatially_separable_conv2d``, ``convlib.bilinear_sample``,
``convlib.deform_conv2d``), so the teaching layer and the general layer are proved equal.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from teaching_helpers import F64, TOL, _rand, _same_grads

import convlib
from convlib.teaching.ch01_cross_correlation import corr2d
from convlib.teaching.ch04_channels import conv2d as conv2d_ch04
from convlib.teaching.ch12_conv1d_3d import conv1d, conv3d, conv3d_from_frames
from convlib.teaching.ch13_spatially_separable import (
    kernel_rank,
    low_rank_corr2d,
    separable_corr2d,
    separate_kernel,
)
from convlib.teaching.ch14_deformable import bilinear_sample, deform_conv2d

EXACT: dict[str, Any] = {"rtol": 0.0, "atol": 0.0}
LAPLACIAN = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=F64)


# Chapter 12: conv1d, conv3d, conv3d_from_frames --------------------------------------------------


def test_conv1d_hand_case() -> None:
    # [1, 0, -1] as a cross-correlation: y[t] = x[t] - x[t + 2], minus the rise over two steps.
    x = torch.tensor([[[0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 2.0, 1.0]]])
    K = torch.tensor([[[1.0, 0.0, -1.0]]])
    y = conv1d(x, K)
    torch.testing.assert_close(y[0, 0], torch.tensor([-2.0, -2.0, -1.0, 0.0, 1.0, 2.0]), **EXACT)
    # stride 2, padding 1, dilation 2 on 0..5: windows (pad, 1, 3) and (1, 3, 5); (3, 5, pad)
    # would need a window starting at padded index 4, and 4 + 5 > 8 samples: the floor drops it
    x = torch.arange(6.0)[None, None]
    y = conv1d(x, torch.ones(1, 1, 3), stride=2, padding=1, dilation=2)
    torch.testing.assert_close(y[0, 0], torch.tensor([4.0, 9.0]), **EXACT)


def test_conv1d_matches_torch(device: str) -> None:
    X, K, b = _rand(2, 3, 11, device=device), _rand(4, 3, 3, device=device), _rand(4, device=device)
    for s, p, d in [(1, 0, 1), (2, 2, 1), (3, 1, 2), (1, 4, 3)]:
        expected = F.conv1d(X, K, b, stride=s, padding=p, dilation=d)
        _same_grads(conv1d(X, K, b, s, p, d), expected, [X, K, b])


@settings(max_examples=15)
@given(
    n=st.integers(1, 2),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    length=st.integers(1, 12),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    d=st.integers(1, 3),
)
def test_conv1d_property(
    n: int, c_in: int, c_out: int, length: int, k: int, s: int, p: int, d: int
) -> None:
    if length + 2 * p < d * (k - 1) + 1:
        return  # the window does not fit
    X, K = torch.randn(n, c_in, length, dtype=F64), torch.randn(c_out, c_in, k, dtype=F64)
    b = torch.randn(c_out, dtype=F64)
    ours = conv1d(X, K, b, s, p, d)
    torch.testing.assert_close(ours, F.conv1d(X, K, b, s, p, d), **TOL)
    torch.testing.assert_close(ours, convlib.conv1d(X, K, b, s, p, d), **TOL)


def test_conv3d_hand_case() -> None:
    # A 2x2x2 box of ones over 0..7 sums everything: 28; with padding 1 the corner sees only 0.
    X = torch.arange(8.0).reshape(1, 1, 2, 2, 2)
    K = torch.ones(1, 1, 2, 2, 2)
    torch.testing.assert_close(conv3d(X, K), torch.tensor(28.0).reshape(1, 1, 1, 1, 1), **EXACT)
    torch.testing.assert_close(conv3d_from_frames(X, K), conv3d(X, K), **EXACT)
    padded = conv3d(X, K, padding=(1, 1, 1))
    assert padded.shape == (1, 1, 3, 3, 3)
    assert padded[0, 0, 0, 0, 0] == 0.0 and padded[0, 0, 1, 1, 1] == 28.0


def test_conv3d_matches_torch(device: str) -> None:
    X, K = _rand(2, 2, 4, 5, 4, device=device), _rand(3, 2, 2, 3, 2, device=device)
    b = _rand(3, device=device)
    for stride, padding in [((1, 1, 1), (0, 0, 0)), ((2, 1, 2), (1, 0, 2))]:
        expected = F.conv3d(X, K, b, stride=stride, padding=padding)
        _same_grads(conv3d(X, K, b, stride, padding), expected, [X, K, b])
    _same_grads(conv3d_from_frames(X, K), F.conv3d(X, K), [X, K])


@settings(max_examples=10)
@given(
    c_in=st.integers(1, 2),
    size=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1)),
)
def test_conv3d_property(
    c_in: int,
    size: tuple[int, int, int],
    kernel: tuple[int, int, int],
    stride: tuple[int, int, int],
    padding: tuple[int, int, int],
) -> None:
    if any(n + 2 * p < k for n, p, k in zip(size, padding, kernel, strict=True)):
        return  # the box does not fit
    X = torch.randn(1, c_in, *size, dtype=F64)
    K = torch.randn(2, c_in, *kernel, dtype=F64)
    ours = conv3d(X, K, None, stride, padding)
    torch.testing.assert_close(ours, F.conv3d(X, K, None, stride, padding), **TOL)
    torch.testing.assert_close(ours, convlib.conv3d(X, K, None, stride, padding), **TOL)
    if all(n >= k for n, k in zip(size, kernel, strict=True)):
        torch.testing.assert_close(conv3d_from_frames(X, K), convlib.conv3d(X, K), **TOL)


# Chapter 13: kernel_rank, separate_kernel, separable_corr2d, low_rank_corr2d ----------------------


def test_kernel_rank_hand_cases() -> None:
    assert kernel_rank(convlib.SOBEL_X) == 1
    assert kernel_rank(convlib.SOBEL_Y) == 1
    assert kernel_rank(LAPLACIAN) == 2
    assert kernel_rank(torch.eye(3, dtype=F64)) == 3
    assert kernel_rank(torch.zeros(2, 3, dtype=F64)) == 0
    # A column times a row, rounded in floating point, is still rank 1 ...
    u, v = torch.randn(5, dtype=F64), torch.randn(4, dtype=F64)
    assert kernel_rank(torch.outer(u, v)) == 1
    # ... and a tolerance above the second singular value treats a nearly rank-1 kernel as rank 1.
    nearly = torch.outer(u, v) + 1e-6 * torch.randn(5, 4, dtype=F64)
    assert kernel_rank(nearly) == 4 and kernel_rank(nearly, tol=1e-3) == 1


@settings(max_examples=20)
@given(kh=st.integers(1, 5), kw=st.integers(1, 5), r=st.integers(0, 5), seed=st.integers(0, 99))
def test_kernel_rank_matches_convlib_and_torch(kh: int, kw: int, r: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    r = min(r, kh, kw)
    K = torch.randn(kh, r, dtype=F64, generator=g) @ torch.randn(r, kw, dtype=F64, generator=g)
    assert kernel_rank(K) == convlib.kernel_rank(K) == int(torch.linalg.matrix_rank(K)) == r


def test_separate_kernel_hand_case() -> None:
    column, row = separate_kernel(convlib.SOBEL_X)
    torch.testing.assert_close(torch.outer(column, row), convlib.SOBEL_X, **TOL)
    # Up to a scale the factors are the smoothing [1, 2, 1] and the difference [1, 0, -1].
    torch.testing.assert_close(column / column[0], torch.tensor([1.0, 2, 1], dtype=F64), **TOL)
    torch.testing.assert_close(row / row[0], torch.tensor([1.0, 0, -1], dtype=F64), **TOL)
    # Each takes half of the singular value: |column| = |row| = sqrt(sigma_1).
    sigma = torch.linalg.svdvals(convlib.SOBEL_X)[0]
    torch.testing.assert_close(column.norm() ** 2, sigma, **TOL)
    torch.testing.assert_close(row.norm() ** 2, sigma, **TOL)
    assert column[column.abs().argmax()] > 0
    with pytest.raises(ValueError, match="rank 2"):
        separate_kernel(LAPLACIAN)


@settings(max_examples=20)
@given(kh=st.integers(1, 6), kw=st.integers(1, 6), seed=st.integers(0, 99))
def test_separate_kernel_matches_convlib(kh: int, kw: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    K = torch.outer(
        torch.randn(kh, dtype=F64, generator=g), torch.randn(kw, dtype=F64, generator=g)
    )
    column, row = separate_kernel(K)
    lib_column, lib_row = convlib.separate_kernel(K)
    torch.testing.assert_close(torch.outer(column, row), K, **TOL)
    torch.testing.assert_close(torch.outer(lib_column, lib_row), K, **TOL)
    # The factors are the same up to one scale c: column = c * lib_column, row = lib_row / c.
    c = column.norm() / lib_column.norm() * torch.sign(column @ lib_column)
    torch.testing.assert_close(column, c * lib_column, **TOL)
    torch.testing.assert_close(row, lib_row / c, **TOL)


def test_separable_corr2d_hand_case() -> None:
    # column [1, 1] and row [1, 1] make a 2x2 box: sums of 2x2 windows of 0..8.
    X = torch.arange(9.0).reshape(3, 3)
    ones = torch.ones(2)
    expected = torch.tensor([[8.0, 12.0], [20.0, 24.0]])
    torch.testing.assert_close(separable_corr2d(X, ones, ones), expected, **EXACT)


def test_separable_corr2d_matches_torch(device: str) -> None:
    X, column, row = _rand(7, 9, device=device), _rand(3, device=device), _rand(4, device=device)
    K = torch.outer(column, row)
    expected = F.conv2d(X[None, None], K[None, None])[0, 0]
    _same_grads(separable_corr2d(X, column, row), expected, [X, column, row])


@settings(max_examples=15)
@given(
    H=st.integers(1, 8),
    W=st.integers(1, 8),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    seed=st.integers(0, 99),
)
def test_separable_corr2d_matches_convlib(H: int, W: int, kh: int, kw: int, seed: int) -> None:
    if kh > H or kw > W:
        return
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(H, W, dtype=F64, generator=g)
    column, row = torch.randn(kh, dtype=F64, generator=g), torch.randn(kw, dtype=F64, generator=g)
    ours = separable_corr2d(X, column, row)
    lib = convlib.spatially_separable_conv2d(X[None, None], column, row)[0, 0]
    torch.testing.assert_close(ours, lib, **TOL)
    torch.testing.assert_close(ours, corr2d(X, torch.outer(column, row)), **TOL)


def test_low_rank_corr2d_hand_case() -> None:
    # The Laplacian has rank 2: two separable terms give it exactly, one does not.
    r = torch.arange(5.0, dtype=F64)
    X = r[:, None] ** 2 + r[None, :] ** 2  # the Laplacian of y^2 + x^2 is 2 + 2 everywhere
    exact = corr2d(X, LAPLACIAN)
    torch.testing.assert_close(exact, torch.full((3, 3), 4.0, dtype=F64), **TOL)
    torch.testing.assert_close(low_rank_corr2d(X, LAPLACIAN, 2), exact, **TOL)
    assert (low_rank_corr2d(X, LAPLACIAN, 1) - exact).abs().max() > 1
    assert low_rank_corr2d(X, LAPLACIAN, 0).abs().max() == 0


def test_low_rank_corr2d_matches_torch(device: str) -> None:
    X, K = _rand(6, 7, device=device), _rand(3, 4, device=device)
    expected = F.conv2d(X[None, None], K[None, None])[0, 0]
    _same_grads(low_rank_corr2d(X, K, 3), expected, [X, K])  # full rank: K itself
    # Fewer terms: the best rank-r approximation of K (Eckart-Young), truncated SVD.
    U, S, Vh = torch.linalg.svd(K.detach())
    for r in (1, 2):
        K_r = U[:, :r] @ torch.diag(S[:r]) @ Vh[:r]
        expected = F.conv2d(X[None, None], K_r[None, None])[0, 0]
        torch.testing.assert_close(low_rank_corr2d(X, K.detach(), r), expected, **TOL)


@settings(max_examples=15)
@given(kh=st.integers(1, 4), kw=st.integers(1, 4), seed=st.integers(0, 99))
def test_low_rank_corr2d_property(kh: int, kw: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    X, K = torch.randn(6, 6, dtype=F64, generator=g), torch.randn(kh, kw, dtype=F64, generator=g)
    r = kernel_rank(K)
    lib = convlib.conv2d(X[None, None], K[None, None])[0, 0]
    torch.testing.assert_close(low_rank_corr2d(X, K, r), lib, **TOL)


# Chapter 14: bilinear_sample, deform_conv2d ------------------------------------------------------


def _grid_sample(X: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """torch's bilinear sampler on pixel coordinates: align_corners=True maps -1 and 1 to the
    centres of the first and last pixels, padding_mode='zeros' reads 0 outside."""
    H, W = X.shape[-2:]
    grid = torch.stack([2 * px / (W - 1) - 1, 2 * py / (H - 1) - 1], dim=-1)  # (x, y) order
    Y = F.grid_sample(X[None], grid.reshape(1, 1, -1, 2), mode="bilinear", align_corners=True)
    return Y[0, :, 0].reshape(X.shape[0], *py.shape)


def test_bilinear_sample_hand_case() -> None:
    X = torch.arange(20.0, dtype=F64).reshape(1, 4, 5)  # X[r, c] = 5 r + c
    py, px = torch.tensor([1.3], dtype=F64), torch.tensor([2.6], dtype=F64)
    by_hand = 0.7 * 0.4 * X[0, 1, 2] + 0.7 * 0.6 * X[0, 1, 3] + 0.3 * 0.4 * X[0, 2, 2]
    by_hand = by_hand + 0.3 * 0.6 * X[0, 2, 3]
    torch.testing.assert_close(bilinear_sample(X, py, px)[0], by_hand[None], **TOL)
    # on a linear image, bilinear interpolation is exact: 5 * 1.3 + 2.6
    torch.testing.assert_close(bilinear_sample(X, py, px)[0, 0], torch.tensor(9.1, dtype=F64))
    # integer points read pixels; points a whole pixel or more outside read 0
    rows, cols = torch.tensor([0.0, 3.0, -1.0, 2.0]), torch.tensor([4.0, 0.0, 2.0, 5.0])
    values = bilinear_sample(X.float(), rows, cols)[0]
    torch.testing.assert_close(values, torch.tensor([4.0, 15.0, 0.0, 0.0]), **EXACT)
    # half a pixel outside: half of the border pixel
    edge = bilinear_sample(X, torch.tensor([-0.5], dtype=F64), torch.tensor([4.0], dtype=F64))
    torch.testing.assert_close(edge[0], torch.tensor([2.0], dtype=F64), **TOL)


def test_bilinear_sample_matches_grid_sample(device: str) -> None:
    X = _rand(2, 4, 5, device=device)
    # points all over the image and up to 1.5 pixels outside it, none on a pixel line
    py = (torch.rand(3, 4, dtype=F64, device=device) * 6 - 1.5).requires_grad_()
    px = (torch.rand(3, 4, dtype=F64, device=device) * 7 - 1.5).requires_grad_()
    _same_grads(bilinear_sample(X, py, px), _grid_sample(X, py, px), [X, py, px])


@settings(max_examples=15)
@given(H=st.integers(2, 6), W=st.integers(2, 6), seed=st.integers(0, 99))
def test_bilinear_sample_matches_convlib(H: int, W: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(2, H, W, dtype=F64, generator=g)
    py = torch.rand(7, dtype=F64, generator=g) * (H + 3) - 2
    px = torch.rand(7, dtype=F64, generator=g) * (W + 3) - 2
    ours = bilinear_sample(X, py, px)
    torch.testing.assert_close(ours, convlib.bilinear_sample(X[None], py[None], px[None])[0], **TOL)
    torch.testing.assert_close(ours, _grid_sample(X, py, px), **TOL)


def test_deform_conv2d_hand_case() -> None:
    # zero offsets: an ordinary convolution (chapter 4's conv2d)
    X = torch.arange(16.0, dtype=F64).reshape(1, 1, 4, 4)
    K = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]], dtype=F64)
    zero = torch.zeros(1, 8, 3, 3, dtype=F64)
    torch.testing.assert_close(deform_conv2d(X, zero, K), conv2d_ch04(X, K), **EXACT)
    # every tap moved one column right: the convolution of X shifted one column left
    right = zero.clone()
    right[:, 1::2] = 1.0
    shifted = torch.cat([X[..., 1:], torch.zeros(1, 1, 4, 1, dtype=F64)], dim=-1)
    torch.testing.assert_close(deform_conv2d(X, right, K), conv2d_ch04(shifted, K), **TOL)
    # a mask of one half halves the output
    half = torch.full((1, 4, 3, 3), 0.5, dtype=F64)
    torch.testing.assert_close(deform_conv2d(X, right, K, mask=half), 0.5 * conv2d_ch04(shifted, K))


@pytest.mark.parametrize(
    "stride, padding, dilation", [((1, 1), (0, 0), (1, 1)), ((2, 1), (1, 2), (1, 2))]
)
def test_deform_conv2d_zero_offsets_is_conv2d(
    device: str, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int]
) -> None:
    X, K, b = _rand(2, 3, 6, 7, device=device), _rand(4, 3, 3, 2, device=device), _rand(4)
    b = b.detach().to(device).requires_grad_()
    expected = F.conv2d(X, K, b, stride, padding, dilation)
    zero = torch.zeros(2, 12, *expected.shape[2:], dtype=F64, device=device)
    _same_grads(deform_conv2d(X, zero, K, b, stride, padding, dilation), expected, [X, K, b])


def test_deform_conv2d_matches_convlib(device: str) -> None:
    X, K, b = _rand(2, 3, 5, 6, device=device), _rand(2, 3, 3, 3, device=device), _rand(2)
    b = b.detach().to(device).requires_grad_()
    # stride (1, 2), padding 1 on 5 x 6 with a 3 x 3 kernel: 5 x 3 outputs
    offset = (1.5 * torch.randn(2, 18, 5, 3, dtype=F64, device=device)).requires_grad_()
    mask = torch.rand(2, 9, 5, 3, dtype=F64, device=device, requires_grad=True)
    args = ((1, 2), (1, 1), (1, 1))
    ours = deform_conv2d(X, offset, K, b, *args, mask=mask)
    lib = convlib.deform_conv2d(X, offset, K, b, *args, mask=mask)
    _same_grads(ours, lib, [X, offset, K, b, mask])


@settings(max_examples=10)
@given(
    H=st.integers(2, 5),
    W=st.integers(2, 5),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    use_mask=st.booleans(),
    seed=st.integers(0, 99),
)
def test_deform_conv2d_property(
    H: int,
    W: int,
    k: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    use_mask: bool,
    seed: int,
) -> None:
    sizes = [
        (n + 2 * p - d * (kk - 1) - 1) // s + 1
        for n, p, d, kk, s in zip((H, W), padding, dilation, k, stride, strict=True)
    ]
    if min(sizes) < 1:
        return
    g = torch.Generator().manual_seed(seed)
    X, K = (
        torch.randn(1, 2, H, W, dtype=F64, generator=g),
        torch.randn(2, 2, *k, dtype=F64, generator=g),
    )
    offset = torch.randn(1, 2 * k[0] * k[1], *sizes, dtype=F64, generator=g)
    mask = torch.rand(1, k[0] * k[1], *sizes, dtype=F64, generator=g) if use_mask else None
    ours = deform_conv2d(X, offset, K, None, stride, padding, dilation, mask)
    lib = convlib.deform_conv2d(X, offset, K, None, stride, padding, dilation, mask)
    torch.testing.assert_close(ours, lib, **TOL)
    zero = deform_conv2d(X, torch.zeros_like(offset), K, None, stride, padding, dilation)
    torch.testing.assert_close(zero, F.conv2d(X, K, None, stride, padding, dilation), **TOL)
