"""Chapter 10: im2col copies every window into a column, so a convolution is one matrix product."""

from __future__ import annotations

import torch
import torch.nn.functional as F

Pair = tuple[int, int]


def im2col(
    X: torch.Tensor,
    kh: int,
    kw: int,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
) -> torch.Tensor:
    """Every window as one column. X: (N, C_in, H, W) -> cols: (N, C_in kh kw, H' W'), rows in
    the order (channel, kernel row, kernel column), columns in row-major output order."""
    (sh, sw), (dh, dw) = stride, dilation
    Xp = F.pad(X, (padding[1], padding[1], padding[0], padding[0]))  # pad2d on every channel
    N, C_in, Hp, Wp = Xp.shape
    H_out, W_out = (Hp - dh * (kh - 1) - 1) // sh + 1, (Wp - dw * (kw - 1) - 1) // sw + 1
    cols = X.new_zeros((N, C_in * kh * kw, H_out * W_out))
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)  # the taps of window (i, j)
            columns = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
            cols[:, :, i * W_out + j] = Xp[:, :, rows, columns].reshape(N, C_in * kh * kw)
    return cols


def conv2d_im2col(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
) -> torch.Tensor:
    """conv2d as one matrix product. X: (N, C_in, H, W), K: (C_out, C_in, kh, kw),
    bias: (C_out,) -> Y: (N, C_out, H', W')."""
    C_out, C_in, kh, kw = K.shape
    cols = im2col(X, kh, kw, stride, padding, dilation)  # (N, C_in kh kw, H' W')
    Y = K.reshape(C_out, C_in * kh * kw) @ cols  # (C_out, C_in kh kw) @ (N, ...) -> (N, C_out, L)
    if bias is not None:
        Y = Y + bias[:, None]
    H_out = (X.shape[2] + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    return Y.reshape(X.shape[0], C_out, H_out, -1)


def col2im(
    cols: torch.Tensor,
    input_size: Pair,
    kh: int,
    kw: int,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
) -> torch.Tensor:
    """The adjoint of im2col: add every column back onto its window, summing where windows
    overlap. cols: (N, C kh kw, H' W'), input_size (H, W) -> (N, C, H, W)."""
    (H, W), (sh, sw), (ph, pw), (dh, dw) = input_size, stride, padding, dilation
    N, _, L = cols.shape
    Xp = cols.new_zeros((N, cols.shape[1] // (kh * kw), H + 2 * ph, W + 2 * pw))
    H_out = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    W_out = L // H_out
    for i in range(H_out):
        for j in range(W_out):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            columns = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
            Xp[:, :, rows, columns] += cols[:, :, i * W_out + j].reshape(N, -1, kh, kw)
    return Xp[:, :, ph : ph + H, pw : pw + W]  # the padding was not part of the input
