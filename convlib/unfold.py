"""Sliding windows: ``unfold`` (im2col) and its adjoint ``fold`` (col2im).

``unfold`` copies every kernel-sized window of a (padded) image into one column, so a convolution
becomes one matrix product. ``fold`` goes back: it adds every column into the image at its window,
summing where windows overlap, which makes it the transpose (adjoint) of ``unfold``, the same way
a transposed convolution is the transpose of a convolution.

The two private helpers here hold the window geometry for every N-d op in convlib:
``_sliding_windows`` (a zero-copy ``as_strided`` view of all windows) and ``_fold_nd`` (scatter-add
columns back with one ``index_add``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._args import (
    IntOrTuple,
    check_ndim,
    check_nonnegative,
    check_positive,
    check_tensor,
    ntuple,
)
from .padding import pad
from .shapes import conv_output_size

__all__ = ["unfold", "fold", "unfold_reference", "fold_reference"]


def _sliding_windows(
    X: torch.Tensor,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> torch.Tensor:
    """All windows of X as a view, no copy.

    X: (N, C, *spatial), already padded. Returns (N, C, *out, *kernel_size) where
    ``[n, c, *o, *t]`` is ``X[n, c, o*stride + t*dilation]`` per spatial dim.
    Moving one output step jumps ``stride`` elements; moving one kernel tap jumps ``dilation``.
    """
    X = X.contiguous()
    out = conv_output_size(tuple(X.shape[2:]), kernel_size, stride, 0, dilation)
    steps = X.stride()[2:]
    size = (*X.shape[:2], *out, *kernel_size)
    strides = (
        *X.stride()[:2],
        *(step * s for step, s in zip(steps, stride, strict=True)),
        *(step * d for step, d in zip(steps, dilation, strict=True)),
    )
    return X.as_strided(size, strides)


def _fold_nd(
    cols: torch.Tensor,
    full_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> torch.Tensor:
    """Scatter-add windows back into an image: the adjoint of ``_sliding_windows``.

    cols: (N, C, *kernel_size, *blocks) where ``blocks`` is the number of windows per dim.
    Returns (N, C, *full_size) with ``Y[n, c, b*stride + t*dilation] += cols[n, c, *t, *b]``.
    """
    dims = len(full_size)
    N, C = cols.shape[:2]
    kernel_size = cols.shape[2 : 2 + dims]
    blocks = cols.shape[2 + dims :]
    # Flat (row-major) index into the image of every (tap, block) pair, built by broadcasting.
    index = torch.zeros((), dtype=torch.long, device=cols.device)
    for dim in range(dims):
        shape_tap = [1] * (2 * dims)
        shape_tap[dim] = kernel_size[dim]
        shape_block = [1] * (2 * dims)
        shape_block[dims + dim] = blocks[dim]
        taps = torch.arange(kernel_size[dim], device=cols.device) * dilation[dim]
        starts = torch.arange(blocks[dim], device=cols.device) * stride[dim]
        coord = taps.view(shape_tap) + starts.view(shape_block)
        index = index * full_size[dim] + coord
    Y = cols.new_zeros(N, C, math.prod(full_size))
    index = index.reshape(-1)
    Y = Y.index_add(2, index, cols.reshape(N, C, index.numel()))  # explicit size: N may be 0
    return Y.view(N, C, *full_size)


class _Windows(torch.autograd.Function):
    """``_sliding_windows`` with a backward that scatter-adds with ``_fold_nd``.

    Autograd could differentiate ``as_strided`` itself, but its generic rule for overlapping
    windows is several times slower than adding each window's gradient back into place.
    """

    @staticmethod
    def forward(
        ctx: Any,
        X: torch.Tensor,
        kernel_size: tuple[int, ...],
        stride: tuple[int, ...],
        dilation: tuple[int, ...],
    ) -> torch.Tensor:
        ctx.geometry = (tuple(X.shape[2:]), stride, dilation)
        return _sliding_windows(X, kernel_size, stride, dilation)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        size, stride, dilation = ctx.geometry
        dims = len(size)
        # (N, C, *out, *k) -> (N, C, *k, *out), the layout _fold_nd takes
        order = (0, 1, *range(2 + dims, 2 + 2 * dims), *range(2, 2 + dims))
        return _fold_nd(grad.permute(order), size, stride, dilation), None, None, None


def _windows(
    X: torch.Tensor,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> torch.Tensor:
    """Differentiable view of all windows of X: (N, C, *spatial) -> (N, C, *out, *kernel_size)."""
    out: torch.Tensor = _Windows.apply(X, kernel_size, stride, dilation)
    return out


def _unfold_args(
    kernel_size: IntOrTuple, dilation: IntOrTuple, padding: IntOrTuple, stride: IntOrTuple
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    kernel = ntuple(kernel_size, 2, "kernel_size")
    dil = ntuple(dilation, 2, "dilation")
    pads = ntuple(padding, 2, "padding")
    strides = ntuple(stride, 2, "stride")
    check_positive(kernel, "kernel_size")
    check_positive(dil, "dilation")
    check_nonnegative(pads, "padding")
    check_positive(strides, "stride")
    return kernel, dil, pads, strides


def _check_unfold_input(input: object) -> torch.Tensor:
    X = check_tensor(input, "input")
    check_ndim(X, "input", (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    return X


def unfold(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    dilation: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    stride: IntOrTuple = 1,
) -> torch.Tensor:
    """im2col: every (kh, kw) window of the zero-padded input, flattened into a column.

    input: (N, C, H, W) or unbatched (C, H, W).
    Returns (N, C*kh*kw, L) (or (C*kh*kw, L)) with L = out_h*out_w windows in row-major order;
    rows are ordered (c, i, j) like a weight ``K.reshape(out_channels, -1)``.
    """
    X = _check_unfold_input(input)
    kernel, dil, pads, strides = _unfold_args(kernel_size, dilation, padding, stride)
    out_h, out_w = conv_output_size(tuple(X.shape[-2:]), kernel, strides, pads, dil)
    unbatched = X.ndim == 3
    if unbatched:
        X = X.unsqueeze(0)
    N, C = X.shape[:2]
    X = pad(X, (pads[1], pads[1], pads[0], pads[0]))
    view = _windows(X, kernel, strides, dil)  # (N, C, out_h, out_w, kh, kw)
    cols = view.permute(0, 1, 4, 5, 2, 3).reshape(N, C * kernel[0] * kernel[1], out_h * out_w)
    return cols.squeeze(0) if unbatched else cols


def _fold_checks(
    input: object,
    output_size: IntOrTuple,
    kernel_size: IntOrTuple,
    dilation: IntOrTuple,
    padding: IntOrTuple,
    stride: IntOrTuple,
) -> tuple[
    torch.Tensor,
    tuple[int, ...],
    tuple[int, ...],
    tuple[int, ...],
    tuple[int, ...],
    tuple[int, ...],
]:
    cols = check_tensor(input, "input")
    check_ndim(cols, "input", (2, 3), "(N, C*kh*kw, L) or unbatched (C*kh*kw, L)")
    size = ntuple(output_size, 2, "output_size")
    check_positive(size, "output_size")
    kernel, dil, pads, strides = _unfold_args(kernel_size, dilation, padding, stride)
    rows, L = cols.shape[-2:]
    taps = kernel[0] * kernel[1]
    if rows % taps:
        raise ValueError(
            f"input.shape[-2] = {rows} must be divisible by kernel_size[0]*kernel_size[1] = "
            f"{kernel[0]}*{kernel[1]} = {taps} (it is C*kh*kw)"
        )
    blocks = conv_output_size(size, kernel, strides, pads, dil)
    if blocks[0] * blocks[1] != L:
        raise ValueError(
            f"input.shape[-1] = {L} must equal the number of sliding windows for "
            f"output_size={size}, "
            f"kernel_size={kernel}, dilation={dil}, padding={pads}, stride={strides}: "
            f"{blocks[0]}*{blocks[1]} = {blocks[0] * blocks[1]}"
        )
    return cols, size, kernel, dil, pads, strides


def fold(
    input: torch.Tensor,
    output_size: IntOrTuple,
    kernel_size: IntOrTuple,
    dilation: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    stride: IntOrTuple = 1,
) -> torch.Tensor:
    """col2im: add every column back into its window of an (H, W) image; overlaps sum.

    input: (N, C*kh*kw, L) or unbatched (C*kh*kw, L). Returns (N, C, H, W) or (C, H, W) with
    (H, W) = output_size. ``fold`` is the adjoint of ``unfold`` with the same arguments.
    """
    cols, size, kernel, dil, pads, strides = _fold_checks(
        input, output_size, kernel_size, dilation, padding, stride
    )
    unbatched = cols.ndim == 2
    if unbatched:
        cols = cols.unsqueeze(0)
    N, rows, _ = cols.shape
    C = rows // (kernel[0] * kernel[1])
    blocks = conv_output_size(size, kernel, strides, pads, dil)
    padded = (size[0] + 2 * pads[0], size[1] + 2 * pads[1])
    Y = _fold_nd(cols.reshape(N, C, *kernel, *blocks), padded, strides, dil)
    Y = Y[:, :, pads[0] : pads[0] + size[0], pads[1] : pads[1] + size[1]]
    return Y.squeeze(0) if unbatched else Y


def unfold_reference(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    dilation: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    stride: IntOrTuple = 1,
) -> torch.Tensor:
    """Loop version of :func:`unfold`: visit each window, flatten it into a column."""
    X = _check_unfold_input(input)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = _unfold_args(kernel_size, dilation, padding, stride)
    out_h, out_w = conv_output_size(tuple(X.shape[-2:]), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    unbatched = X.ndim == 3
    if unbatched:
        X = X.unsqueeze(0)
    X = pad(X, (pw, pw, ph, ph))
    N, C = X.shape[:2]
    cols = X.new_zeros(N, C * kh * kw, out_h * out_w)
    for n in range(N):
        for i in range(out_h):
            for j in range(out_w):
                top, left = i * sh, j * sw
                # every dilation-th pixel of the window: kh rows, kw columns
                window = X[
                    n, :, top : top + dh * (kh - 1) + 1 : dh, left : left + dw * (kw - 1) + 1 : dw
                ]
                cols[n, :, i * out_w + j] = window.reshape(-1)
    return cols.squeeze(0) if unbatched else cols


def fold_reference(
    input: torch.Tensor,
    output_size: IntOrTuple,
    kernel_size: IntOrTuple,
    dilation: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    stride: IntOrTuple = 1,
) -> torch.Tensor:
    """Loop version of :func:`fold`: add each column back into its window."""
    cols, (H, W), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = _fold_checks(
        input, output_size, kernel_size, dilation, padding, stride
    )
    out_h, out_w = conv_output_size((H, W), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    unbatched = cols.ndim == 2
    if unbatched:
        cols = cols.unsqueeze(0)
    N = cols.shape[0]
    C = cols.shape[1] // (kh * kw)
    Y = cols.new_zeros(N, C, H + 2 * ph, W + 2 * pw)
    for n in range(N):
        for i in range(out_h):
            for j in range(out_w):
                top, left = i * sh, j * sw
                window = cols[n, :, i * out_w + j].reshape(C, kh, kw)
                Y[
                    n, :, top : top + dh * (kh - 1) + 1 : dh, left : left + dw * (kw - 1) + 1 : dw
                ] += window
    Y = Y[:, :, ph : ph + H, pw : pw + W]
    return Y.squeeze(0) if unbatched else Y
