"""Chapter 7: dilated convolution, by strided slices and by a kernel with holes."""

from __future__ import annotations

import torch

from convlib.teaching.ch03_padding_and_stride import pad2d
from convlib.teaching.ch06_groups import conv2d_grouped


def corr2d_dilated(
    X: torch.Tensor,
    K: torch.Tensor,
    dilation: tuple[int, int] = (1, 1),
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Cross-correlation whose taps are dilation apart. X: (H, W), K: (kh, kw) -> (H', W'),
    H' = (H + 2 ph - dh (kh - 1) - 1) // sh + 1 and likewise for W'."""
    X = pad2d(X, padding)
    (kh, kw), (dh, dw), (sh, sw) = K.shape, dilation, stride
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the area a window covers
    Y = X.new_zeros(((X.shape[0] - span_h) // sh + 1, (X.shape[1] - span_w) // sw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            # a strided slice picks every d-th pixel of the window: the taps
            window = X[i * sh : i * sh + span_h : dh, j * sw : j * sw + span_w : dw]
            Y[i, j] = (window * K).sum()
    return Y


def dilate_kernel(K: torch.Tensor, dilation: tuple[int, int]) -> torch.Tensor:
    """Insert d - 1 zeros between neighbouring taps. K: (..., kh, kw)
    -> (..., dh (kh - 1) + 1, dw (kw - 1) + 1)."""
    (kh, kw), (dh, dw) = K.shape[-2:], dilation
    K_holes = K.new_zeros((*K.shape[:-2], dh * (kh - 1) + 1, dw * (kw - 1) + 1))
    K_holes[..., ::dh, ::dw] = K
    return K_holes


def conv2d_dilated(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> torch.Tensor:
    """F.conv2d with every argument: a grouped convolution with the dilated kernel.
    X: (N, C_in, H, W), K: (C_out, C_in/groups, kh, kw), bias: (C_out,) -> (N, C_out, H', W')."""
    # the zeros cost multiplications that corr2d_dilated's slices skip; the result is the same
    return conv2d_grouped(X, dilate_kernel(K, dilation), bias, stride, padding, groups)


def hdc_max_gap(rates: list[int]) -> int:
    """Wang et al.'s M_2 for a stack of 3x3 layers with these dilation rates, first layer first:
    the largest gap between inputs that layers 2..n reach, which layer 1 must fill."""
    M = rates[-1]  # M_n = r_n
    for r in reversed(rates[1:-1]):  # M_i from M_{i+1}, down to i = 2
        M = max(M - 2 * r, M - 2 * (M - r), r)
    return M
