"""Transposed convolution by one GEMM and a col2im scatter-add.

The transposed convolution is the adjoint of the convolution: every input value spreads a copy of
the kernel, scaled by itself, into the output. So first one GEMM computes all those scaled
kernels at once, ``cols = K^T @ X`` with shape ``(N, C_out * prod(k), prod(in))``, then each of the
``prod(k)`` taps is added into a strided slice of the output (col2im, the inverse of im2col).
"""

from __future__ import annotations

import itertools
import math

import torch

from .._args import IntOrTuple, check_nonnegative, check_positive, ntuple
from ._common import add_bias, spatial


def conv_transpose_gemm(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Transposed convolution (torch's argument order); any d, stride, dilation, groups.

    X: (N, C_in, *in); K: (C_in, C_out/groups, *kernel); bias: (C_out,) or None.
    Returns (N, C_out, *out) with out = (in - 1) * stride - 2 * padding + dilation * (k - 1)
    + output_padding + 1.
    """
    d = K.ndim - 2
    if d < 1 or X.ndim != d + 2:
        raise ValueError(
            f"conv_transpose_gemm: input must be batched (N, C_in, *spatial), {d} spatial dims, "
            f"got input of shape {tuple(X.shape)} and weight of shape {tuple(K.shape)}"
        )
    N, C_in, *size = X.shape
    if (
        isinstance(groups, bool)
        or not isinstance(groups, int)
        or groups < 1
        or C_in % groups
        or K.shape[0] != C_in
    ):
        raise ValueError(
            f"conv_transpose_gemm: groups={groups!r} must be a positive int dividing C_in={C_in}, "
            f"and weight.shape[0]={K.shape[0]} must equal C_in"
        )
    k = tuple(K.shape[2:])
    s, p, op, dl = (
        ntuple(v, d, name)
        for v, name in (
            (stride, "stride"),
            (padding, "padding"),
            (output_padding, "output_padding"),
            (dilation, "dilation"),
        )
    )
    check_positive(s, "stride")
    check_positive(dl, "dilation")
    check_nonnegative(p, "padding")
    check_nonnegative(op, "output_padding")
    if any(o >= max(si, di) for o, si, di in zip(op, s, dl, strict=True)):
        raise ValueError(
            f"conv_transpose_gemm: output_padding {op} must be < stride {s} or dilation {dl}"
        )
    C_out = K.shape[1] * groups
    full = [
        (n - 1) * si + di * (ki - 1) + 1 + oi
        for n, si, di, ki, oi in zip(size, s, dl, k, op, strict=True)
    ]
    out = [f - 2 * pi for f, pi in zip(full, p, strict=True)]
    if any(o < 1 for o in out):
        raise ValueError(f"conv_transpose_gemm: padding {p} leaves no output (full size {full})")
    if bias is not None and tuple(bias.shape) != (C_out,):
        raise ValueError(
            f"conv_transpose_gemm: bias must have shape ({C_out},), got {tuple(bias.shape)}"
        )
    G = groups
    # One GEMM per group: (C_out/G * prod(k), C_in/G) @ (C_in/G, prod(in)).
    Kt = K.reshape(G, C_in // G, -1).transpose(1, 2)
    cols = torch.matmul(Kt, X.reshape(N, G, C_in // G, math.prod(size)))
    cols = cols.reshape(N, C_out, *k, *size)
    # col2im: tap t of every input position lands at output t * dilation + stride * position.
    Y = X.new_zeros(N, C_out, *full)
    for taps in itertools.product(*(range(ki) for ki in k)):
        target = spatial(
            slice(t * di, t * di + si * (n - 1) + 1, si)
            for t, di, si, n in zip(taps, dl, s, size, strict=True)
        )
        Y[target] += cols[spatial(taps)]
    Y = Y[spatial(slice(pi, pi + o) for pi, o in zip(p, out, strict=True))]
    return add_bias(Y, bias)
