"""Transposed convolution two ways: GEMM + col2im, and sub-pixel phases (one GEMM, no scatter).

The transposed convolution is the adjoint of the convolution: every input value spreads a copy of
the kernel, scaled by itself, into the output.

- ``conv_transpose_gemm``: one GEMM computes all those scaled kernels at once,
  ``cols = K^T @ X`` with shape ``(N, C_out * prod(k), prod(in))``, then each of the ``prod(k)``
  taps is added into a strided slice of the output (col2im, the inverse of im2col).
- ``conv_transpose_phase``: with stride s, output position ``o`` only receives kernel taps
  ``t = (o + padding) mod s, + s, + 2s, ...``. So the outputs split into ``s^d`` phases (sub-pixel
  grids), and each phase is an ordinary stride-1 convolution of the input with a small sub-kernel
  (every s-th tap, flipped). All phases share one column matrix, so they are ONE GEMM with the
  sub-kernels stacked; the phases are then interleaved by a reshape. No zeros are multiplied (the
  zero-insertion view of chapter 8 multiplies s^d times more) and nothing is scattered.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from .._args import IntOrTuple, check_nonnegative, check_positive, ntuple
from ._common import add_bias, may_reuse, spatial, workspace, zero_pad
from .im2col import transposed_gemm_is_faster


@dataclass(frozen=True)
class TransposeArgs:
    """Validated arguments of a transposed convolution; ``full`` is the output before cropping."""

    d: int
    N: int
    C_in: int
    C_out: int
    groups: int
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    output_padding: tuple[int, ...]
    dilation: tuple[int, ...]
    full: tuple[int, ...]
    out: tuple[int, ...]


def transpose_args(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
    name: str,
) -> TransposeArgs:
    """Check a transposed-convolution call (torch's argument order); raise ValueError if invalid.

    X: (N, C_in, *in); K: (C_in, C_out/groups, *kernel); bias: (C_out,) or None.
    """
    d = K.ndim - 2
    if d < 1 or X.ndim != d + 2:
        raise ValueError(
            f"{name}: input must be batched (N, C_in, *spatial), {d} spatial dims, "
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
            f"{name}: groups={groups!r} must be a positive int dividing C_in={C_in}, "
            f"and weight.shape[0]={K.shape[0]} must equal C_in"
        )
    k = tuple(K.shape[2:])
    s, p, op, dl = (
        ntuple(v, d, arg)
        for v, arg in (
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
        raise ValueError(f"{name}: output_padding {op} must be < stride {s} or dilation {dl}")
    C_out = K.shape[1] * groups
    full = [
        (n - 1) * si + di * (ki - 1) + 1 + oi
        for n, si, di, ki, oi in zip(size, s, dl, k, op, strict=True)
    ]
    out = [f - 2 * pi for f, pi in zip(full, p, strict=True)]
    if any(o < 1 for o in out):
        raise ValueError(f"{name}: padding {p} leaves no output (full size {full})")
    if bias is not None and tuple(bias.shape) != (C_out,):
        raise ValueError(f"{name}: bias must have shape ({C_out},), got {tuple(bias.shape)}")
    return TransposeArgs(
        d, N, C_in, C_out, groups, tuple(size), k, s, p, op, dl, tuple(full), tuple(out)
    )


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
    a = transpose_args(
        X, K, bias, stride, padding, output_padding, groups, dilation, "conv_transpose_gemm"
    )
    N, C_in, C_out, size, k, s, dl = a.N, a.C_in, a.C_out, a.size, a.kernel, a.stride, a.dilation
    p, out, full = a.padding, a.out, a.full
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


def conv_transpose_phase(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Transposed convolution by sub-pixel phases: one GEMM for all s^d phases; dilation 1.

    X: (N, C_in, *in); K: (C_in, C_out/groups, *kernel). Returns (N, C_out, *out).
    Along one axis, full-output position ``s*q + r`` (phase r) receives ``K[r + s*j] * X[q - j]``
    for j = 0 .. J-1 with J = ceil(k / s): a stride-1 convolution of X with the sub-kernel
    ``K[r::s]`` flipped, over X padded by J - 1 on the left.
    """
    a = transpose_args(
        X, K, bias, stride, padding, output_padding, groups, dilation, "conv_transpose_phase"
    )
    if any(dl != 1 for dl in a.dilation):
        raise ValueError(
            f"conv_transpose_phase: dilation must be 1, got dilation={a.dilation}; "
            f"use conv_transpose_gemm"
        )
    d, N, G, s = a.d, a.N, a.groups, a.stride
    C_in_g, C_out_g = a.C_in // G, a.C_out // G
    J = tuple(-(-k // si) for k, si in zip(a.kernel, s, strict=True))
    # Phase positions q per axis: enough to cover every input's contribution (n + J - 1) and
    # every output position kept after cropping (padding + out).
    Q = tuple(
        max(n + j - 1, -(-(p + o) // si))
        for n, j, p, o, si in zip(a.size, J, a.padding, a.out, s, strict=True)
    )
    # Sub-kernels: zero-pad the kernel to J*s taps per axis (when s does not divide k), split
    # each axis into (J, s) = (tap group j, phase r), flip j (a convolution, not a correlation).
    Kpad = K
    if any(j * si != k for j, si, k in zip(J, s, a.kernel, strict=True)):
        Kpad = K.new_zeros(a.C_in, C_out_g, *(j * si for j, si in zip(J, s, strict=True)))
        Kpad[spatial(slice(0, k) for k in a.kernel)] = K
    Kv = Kpad.reshape(G, C_in_g, C_out_g, *itertools.chain.from_iterable(zip(J, s, strict=True)))
    Kv = Kv.flip([3 + 2 * i for i in range(d)])
    # (G, C_in/G, C_out/G, J0, s0, J1, s1, ...) -> (G, s0, s1, ..., C_out/G, C_in/G, J0, J1, ...):
    # rows (phase, output channel), columns (input channel, tap) like im2col's rows.
    phases = [4 + 2 * i for i in range(d)]
    taps = [3 + 2 * i for i in range(d)]
    Kp = Kv.permute(0, *phases, 2, 1, *taps).reshape(
        G, math.prod(s) * C_out_g, C_in_g * math.prod(J)
    )
    # Input padded by J - 1 before and up to Q after: one column matrix serves every phase.
    # Its columns are ordered (n, q) so that the whole batch is one GEMM per group.
    # (Q >= n + J - 1, so the extra zeros after the input are never negative.)
    before = tuple(j - 1 for j in J)
    extra = tuple(q - n - b for q, n, b in zip(Q, a.size, before, strict=True))
    reuse = may_reuse(X, K)
    Xp = zero_pad(X, before, extra, reuse=reuse)
    st = Xp.stride()
    windows = Xp.as_strided((a.C_in, *J, N, *Q), (st[1], *st[2:], st[0], *st[2:]))
    cols = workspace("cols", windows.shape, X, reuse)
    cols.copy_(windows)
    cols = cols.view(G, C_in_g * math.prod(J), N * math.prod(Q))
    if transposed_gemm_is_faster(Kp.shape[1], cols.shape[2]):
        # (cols^T @ Kp^T): positions as the GEMM's long side, as in conv_im2col; the
        # interleaving copy below reads either layout.
        Yp = torch.matmul(cols.transpose(1, 2), Kp.transpose(1, 2)).transpose(1, 2)
    elif reuse:
        Yp = torch.matmul(Kp, cols, out=workspace("gemm", (G, Kp.shape[1], cols.shape[2]), X, True))
    else:
        Yp = torch.matmul(Kp, cols)
    Yp = Yp.unflatten(1, (*s, C_out_g)).unflatten(-1, (N, *Q))
    # Interleave: full-output position s*q + r  <-  phase r, position q (a reshape of the
    # (q, r) pairs), then crop the padding.
    interleave = itertools.chain.from_iterable((3 + d + i, 1 + i) for i in range(d))
    Y = Yp.permute(2 + d, 0, 1 + d, *interleave).reshape(
        N, a.C_out, *(q * si for q, si in zip(Q, s, strict=True))
    )
    Y = Y[spatial(slice(p, p + o) for p, o in zip(a.padding, a.out, strict=True))]
    return add_bias(Y, bias)
