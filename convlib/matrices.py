"""Convolution as a matrix ``C``: ``C @ X.flatten() == conv2d(X, K).flatten()``.

Writing a convolution as a matrix product explains the transposed convolution: it is the product
with ``C.T``, which maps the output grid back onto the input grid (chapter 8). The matrix is built
with plain indexing, so it is differentiable in ``K`` and lives on ``K``'s device.
"""

from __future__ import annotations

import torch

from ._args import IntOrTuple, check_ndim, check_nonnegative, check_positive, check_tensor, ntuple
from .shapes import conv_output_size

__all__ = ["conv_matrix", "zero_insert"]


def conv_matrix(
    K: torch.Tensor,
    input_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Dense matrix of the 2D cross-correlation of an ``input_size`` image with the kernel ``K``.

    K: (kh, kw), one input and one output channel.
    input_size: H or (H, W) of the unpadded input X.
    Returns C: (H_out * W_out, H * W) such that ``C @ X.flatten()`` is
    ``conv2d(X, K, stride=stride, padding=padding, dilation=dilation).flatten()`` (row-major order)
    and ``C.T @ Y.flatten()`` is the transposed convolution of Y (H_out, W_out) back to (H, W).
    Zero padding adds no columns: a padded pixel is zero, so its column would multiply nothing.
    """
    K = check_tensor(K, "K")
    check_ndim(K, "K", (2,), "(kh, kw): one kernel for one input and one output channel")
    H, W = ntuple(input_size, 2, "input_size")
    stride_hw = ntuple(stride, 2, "stride")
    padding_hw = ntuple(padding, 2, "padding")
    dilation_hw = ntuple(dilation, 2, "dilation")
    check_positive((H, W), "input_size")
    check_positive(stride_hw, "stride")
    check_nonnegative(padding_hw, "padding")
    check_positive(dilation_hw, "dilation")
    kh, kw = K.shape
    sh, sw = stride_hw
    ph, pw = padding_hw
    dh, dw = dilation_hw
    if dh * (kh - 1) + 1 > H + 2 * ph or dw * (kw - 1) + 1 > W + 2 * pw:
        raise ValueError(
            f"kernel of size {(kh, kw)} with dilation {dilation_hw} does not fit in the padded "
            f"input of size {(H + 2 * ph, W + 2 * pw)}; use a larger input_size or more padding"
        )
    H_out, W_out = conv_output_size((H, W), (kh, kw), stride_hw, padding_hw, dilation_hw)

    dev = K.device
    # Input row hit by kernel row i at output row oy: oy * stride - padding + i * dilation.
    rows = (
        torch.arange(H_out, device=dev)[:, None] * sh
        - ph
        + torch.arange(kh, device=dev)[None, :] * dh
    )
    cols = (
        torch.arange(W_out, device=dev)[:, None] * sw
        - pw
        + torch.arange(kw, device=dev)[None, :] * dw
    )
    # Broadcast to (H_out, W_out, kh, kw): one entry per (output pixel, kernel tap).
    iy = rows[:, None, :, None].expand(H_out, W_out, kh, kw)
    ix = cols[None, :, None, :].expand(H_out, W_out, kh, kw)
    out_index = torch.arange(H_out * W_out, device=dev).reshape(H_out, W_out, 1, 1).expand_as(iy)
    values = K[None, None].expand(H_out, W_out, kh, kw)
    inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)  # taps on padding contribute nothing
    C = torch.zeros(H_out * W_out, H * W, dtype=K.dtype, device=dev)
    # Each (output pixel, tap) pair names a distinct input pixel, so plain indexing suffices;
    # index_put (not in place) keeps the result differentiable in K.
    return C.index_put((out_index[inside], (iy * W + ix)[inside]), values[inside])


def zero_insert(X: torch.Tensor, stride: IntOrTuple) -> torch.Tensor:
    """Put ``stride - 1`` zeros between neighbouring pixels of X (the "holes" of a transposed conv).

    X: (..., H, W). Returns (..., (H - 1) * sh + 1, (W - 1) * sw + 1) with X[..., i, j] moved to
    position (i * sh, j * sw) and zeros everywhere else.
    """
    X = check_tensor(X, "X")
    if X.ndim < 2:
        raise ValueError(
            f"X must have at least 2 dimensions (..., H, W), got shape {tuple(X.shape)}"
        )
    sh, sw = ntuple(stride, 2, "stride")
    check_positive((sh, sw), "stride")
    H, W = X.shape[-2:]
    out = X.new_zeros((*X.shape[:-2], (H - 1) * sh + 1, (W - 1) * sw + 1))
    out[..., ::sh, ::sw] = X
    return out
