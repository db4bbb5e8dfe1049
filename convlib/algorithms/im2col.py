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
from ._common import ConvArgs, add_bias, zero_pad


def im2col(
    X: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Column matrix of an already padded input.

    X: (N, C, *spatial) with d spatial dims; returns (N, C * prod(kernel_size), prod(out)), the
    rows ordered (channel, kernel position), the columns ordered like the output positions.
    """
    d = X.ndim - 2
    k = ntuple(kernel_size, d, "kernel_size")
    s = ntuple(stride, d, "stride")
    dl = ntuple(dilation, d, "dilation")
    out = tuple(
        (n - dl_i * (k_i - 1) - 1) // s_i + 1
        for n, k_i, s_i, dl_i in zip(X.shape[2:], k, s, dl, strict=True)
    )
    if any(o < 1 for o in out):
        raise ValueError(
            f"im2col: kernel_size {k} with dilation {dl} does not fit input {tuple(X.shape[2:])}"
        )
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
    return windows.reshape(X.shape[0], X.shape[1] * math.prod(k), math.prod(out))


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
    s = ntuple(stride, d, "stride")
    p = ntuple(padding, d, "padding")
    dl = ntuple(dilation, d, "dilation")
    out = [
        (n + 2 * pi - dli * (ki - 1) - 1) // si + 1
        for n, ki, si, pi, dli in zip(input_shape[2:], k, s, p, dl, strict=True)
    ]
    return input_shape[0] * input_shape[1] * math.prod(k) * math.prod(out) * element_size


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
    cols = im2col(zero_pad(X, a.padding), a.kernel, a.stride, a.dilation)
    G = a.groups
    # (N, G, C_in/G * prod(k), L) against (G, C_out/G, C_in/G * prod(k)): one GEMM per group.
    cols = cols.view(a.N, G, cols.shape[1] // G, cols.shape[2])
    Y = torch.matmul(K.reshape(G, a.C_out // G, -1), cols)
    return add_bias(Y.reshape(a.N, a.C_out, *a.out), bias)
