"""im2col + one GEMM: copy every receptive field into a column, then one matrix product.

For a 2D convolution with ``X: (N, C_in, H, W)`` and ``K: (C_out, C_in, kh, kw)`` the column matrix
has shape ``(N, C_in*kh*kw, H_out*W_out)``: each input value is copied about ``kh*kw / stride^2``
times. That copy is the price paid for turning the convolution into the one operation every
library makes fast, a matrix multiplication: ``Y[n] = K.view(C_out, -1) @ cols[n]``.
"""

from __future__ import annotations

import math

import torch

from .._args import IntOrTuple, ntuple
from ..shapes import conv_output_size
from ._common import ConvArgs, add_bias, may_reuse, workspace, zero_pad


def im2col(
    X: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    dilation: IntOrTuple = 1,
    reuse: bool = False,
) -> torch.Tensor:
    """Column matrix of an already padded input.

    X: (N, C, *spatial) with d spatial dims; returns (N, C * prod(kernel_size), prod(out)), the
    rows ordered (channel, kernel position), the columns ordered like the output positions.
    ``reuse=True`` writes it into the thread's scratch buffer (see ``_common.workspace``).
    """
    d = X.ndim - 2
    k = ntuple(kernel_size, d, "kernel_size")
    s = ntuple(stride, d, "stride")
    dl = ntuple(dilation, d, "dilation")
    out = conv_output_size(tuple(X.shape[2:]), k, s, 0, dl)  # raises if the kernel does not fit
    X = X.contiguous()
    st = X.stride()
    # A view (N, C, *kernel, *out): moving one kernel step jumps `dilation` elements, one output
    # step jumps `stride` elements. No data is copied until the reshape below.
    windows = X.as_strided(
        (X.shape[0], X.shape[1], *k, *out),
        (
            st[0],
            st[1],
            *(st[2 + i] * dl[i] for i in range(d)),
            *(st[2 + i] * s[i] for i in range(d)),
        ),
    )
    cols = workspace("cols", windows.shape, X, reuse)
    cols.copy_(windows)
    return cols.view(X.shape[0], X.shape[1] * math.prod(k), math.prod(out))


def im2col_bytes(
    input_shape: tuple[int, ...],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    element_size: int = 4,
) -> int:
    """Bytes of the column matrix for an input of shape (N, C_in, *spatial) (float32 by default).

    Equals N * C_in * prod(kernel_size) * prod(output size) * element_size.
    """
    d = len(input_shape) - 2
    k = ntuple(kernel_size, d, "kernel_size")
    out = conv_output_size(tuple(input_shape[2:]), k, stride, padding, dilation)
    return input_shape[0] * input_shape[1] * math.prod(k) * math.prod(out) * element_size


def transposed_gemm_is_faster(out_channels: int, positions: int) -> bool:
    """Whether ``(cols^T @ K^T)^T`` beats ``K @ cols`` for a GEMM producing ``out_channels``
    rows by ``positions`` columns: on the measured CPU (MKL) when the positions are the much
    longer side (1.25x on ResNet's 64-channel 3x3 layer, 1.1x on the 256-row phase GEMM of the
    transposed decoder layer)."""
    return positions >= 4 * out_channels


def conv_im2col(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Convolution (cross-correlation, as in torch) by im2col and one batched GEMM; any d, groups.

    X: (N, C_in, *spatial); K: (C_out, C_in/groups, *kernel); bias: (C_out,) or None.
    Returns Y: (N, C_out, *out). Extra memory: ``im2col_bytes(X.shape, ...)``.
    """
    a = ConvArgs(X, K, bias, stride, padding, dilation, groups, "conv_im2col")
    reuse = may_reuse(X, K)
    cols = im2col(zero_pad(X, a.padding, reuse=reuse), a.kernel, a.stride, a.dilation, reuse)
    G = a.groups
    # (N, G, C_in/G * prod(k), L) against (G, C_out/G, C_in/G * prod(k)): one GEMM per group.
    cols = cols.view(a.N, G, cols.shape[1] // G, cols.shape[2])
    Kg = K.reshape(G, a.C_out // G, -1)
    if transposed_gemm_is_faster(a.C_out // G, cols.shape[3]):
        # Same product computed as (cols^T @ K^T)^T: positions as the GEMM's long M side and
        # channels as its short N side suit MKL better; the result is channels-last, so one
        # transposing copy brings it back.
        Y = torch.matmul(cols.transpose(2, 3), Kg.transpose(1, 2)).transpose(2, 3).contiguous()
    else:
        Y = torch.matmul(Kg, cols)
    return add_bias(Y.reshape(a.N, a.C_out, *a.out), bias)


def conv_im2col_partial(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """im2col over every kernel dim but the first, whose taps become shifted views: k0 GEMMs.

    X: (N, C_in, *spatial); K: (C_out, C_in/groups, k0, *rest); needs stride 1 along the first
    spatial dim. The column matrix keeps the whole (padded) first dim, (N, C_in*prod(rest),
    S0 * prod(out[1:])), so it is about k0 times smaller than im2col's; tap t of the first dim
    reads the rows ``t*dilation ... t*dilation + out[0]`` of it, a strided view that a GEMM
    accepts without a copy. Returns (N, C_out, *out).
    """
    a = ConvArgs(X, K, bias, stride, padding, dilation, groups, "conv_im2col_partial")
    if a.stride[0] != 1:
        raise ValueError(
            f"conv_im2col_partial: stride along the first spatial dim must be 1, got stride="
            f"{a.stride}; use conv_im2col"
        )
    reuse = may_reuse(X, K)
    Xp = zero_pad(X, a.padding, reuse=reuse).contiguous()
    st = Xp.stride()
    d, k0, out0 = a.d, a.kernel[0], a.out[0]
    rest_k, rest_out = a.kernel[1:], a.out[1:]
    S0 = Xp.shape[2]
    # View (N, C, *rest_k, S0, *rest_out): windows over the trailing dims, all of dim 0 kept.
    windows = Xp.as_strided(
        (a.N, a.C_in, *rest_k, S0, *rest_out),
        (
            st[0],
            st[1],
            *(st[3 + i] * a.dilation[1 + i] for i in range(d - 1)),
            st[2],
            *(st[3 + i] * a.stride[1 + i] for i in range(d - 1)),
        ),
    )
    L = math.prod(rest_out)
    rows = a.C_in * math.prod(rest_k)
    cols = workspace("cols", windows.shape, X, reuse)
    cols.copy_(windows)
    cols = cols.view(a.N, rows, S0, L)
    G = a.groups
    Kg = K.reshape(G, a.C_out // G, a.C_in // G, k0, math.prod(rest_k))
    # As in conv_im2col, few output channels: accumulate Y^T = sum_t view_t^T @ K_t^T instead.
    flip = transposed_gemm_is_faster(a.C_out // G, out0 * L)
    Y: torch.Tensor | None = None
    for t in range(k0):
        start = t * a.dilation[0]
        # rows of the first dim start..start+out0, merged with the trailing positions: a view.
        view = cols[:, :, start : start + out0].reshape(a.N, G, rows // G, out0 * L)
        Kt = Kg[:, :, :, t].reshape(G, a.C_out // G, rows // G)
        A, B = (view.transpose(2, 3), Kt.transpose(1, 2)) if flip else (Kt, view)
        if Y is None:
            Y = torch.matmul(A, B)
        elif reuse:
            Y.add_(torch.matmul(A, B, out=workspace("term", Y.shape, X, True)))
        else:
            Y.add_(torch.matmul(A, B))
    assert Y is not None
    if flip:
        Y = Y.transpose(2, 3).contiguous()
    assert Y is not None
    return add_bias(Y.reshape(a.N, a.C_out, *a.out), bias)
