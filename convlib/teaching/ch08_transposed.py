"""Chapter 8: transposed convolution, as a scatter, as the matrix C^T, and with channels.

Its input is Z (what a convolution with the same kernel would output), its output Y."""

from __future__ import annotations

import torch


def conv_transpose2d_scatter(
    Z: torch.Tensor,
    K: torch.Tensor,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """Every input value adds a scaled copy of the kernel onto the output. Z: (H, W),
    K: (kh, kw) -> Y: ((H - 1) sh + dh (kh - 1) + 1, (W - 1) sw + dw (kw - 1) + 1)."""
    (H, W), (kh, kw), (sh, sw), (dh, dw) = Z.shape, K.shape, stride, dilation
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # cells a (dilated) kernel covers
    Y = Z.new_zeros(((H - 1) * sh + span_h, (W - 1) * sw + span_w))
    for i in range(H):
        for j in range(W):
            # input (i, j) was the window at (i sh, j sw) of a convolution: add K back there
            Y[i * sh : i * sh + span_h : dh, j * sw : j * sw + span_w : dw] += Z[i, j] * K
    return Y


def conv_matrix(
    K: torch.Tensor,
    input_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """The matrix C of a convolution: corr2d_strided(X, K, stride, padding).flatten() equals
    C @ X.flatten(). K: (kh, kw), input_size (H, W) -> C: (H' W', H W)."""
    (H, W), (kh, kw), (sh, sw), (ph, pw) = input_size, K.shape, stride, padding
    H_out, W_out = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    C = K.new_zeros((H_out, W_out, H + 2 * ph, W + 2 * pw))
    for i in range(H_out):
        for j in range(W_out):
            C[i, j, i * sh : i * sh + kh, j * sw : j * sw + kw] = K  # row (i, j): K at its window
    # taps on the zero padding multiply nothing: keep only the columns of real pixels
    return C[:, :, ph : ph + H, pw : pw + W].reshape(H_out * W_out, H * W)


def conv_transpose2d(
    Z: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    output_padding: tuple[int, int] = (0, 0),
    groups: int = 1,
    dilation: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """What F.conv_transpose2d computes, from scatters. Z: (N, C_in, H, W),
    K: (C_in, C_out/groups, kh, kw), bias: (C_out,) -> Y: (N, C_out, H', W'),
    H' = (H - 1) sh - 2 ph + dh (kh - 1) + 1 + oh, likewise W'."""
    N, C_in, H, W = Z.shape
    _, C_out_per_group, kh, kw = K.shape
    (ph, pw), (oh, ow) = padding, output_padding
    H_full = (H - 1) * stride[0] + dilation[0] * (kh - 1) + 1  # before cropping the padding
    W_full = (W - 1) * stride[1] + dilation[1] * (kw - 1) + 1
    Y = Z.new_zeros((N, groups * C_out_per_group, H_full + oh, W_full + ow))
    for c in range(C_in):
        g = c // (C_in // groups)  # input channel c feeds only the output channels of its group
        for o in range(C_out_per_group):
            for n in range(N):
                y = conv_transpose2d_scatter(Z[n, c], K[c, o], stride, dilation)
                Y[n, g * C_out_per_group + o, :H_full, :W_full] += y
    if bias is not None:
        Y = Y + bias[:, None, None]
    # padding p crops p rows from each side; output_padding adds oh rows at the bottom
    return Y[:, :, ph : H_full + oh - ph, pw : W_full + ow - pw]


def zero_insert(Z: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """Put s - 1 zeros between neighbouring values: the holes of the direct-convolution view.
    Z: (H, W) -> ((H - 1) sh + 1, (W - 1) sw + 1), with Z[i, j] at (i sh, j sw)."""
    (H, W), (sh, sw) = Z.shape, stride
    holes = Z.new_zeros(((H - 1) * sh + 1, (W - 1) * sw + 1))
    holes[::sh, ::sw] = Z  # every s-th row and column holds a value, the rest stay zero
    return holes
