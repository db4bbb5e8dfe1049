"""FFT convolution: pointwise products in the frequency domain, for large kernels.

Direct convolution costs ``prod(kernel)`` multiply-adds per output value; the FFT route costs
about ``log(prod(L))`` per value for the transforms plus ``C_in`` per frequency for the channel
sum, whatever the kernel size. So the FFT wins once the kernel is large (the crossover is measured
in the chapter). Cross-correlation is ``irfft(rfft(X) * conj(rfft(K)))`` with both padded to a
common length L so the circular wrap-around only ever reads zeros.
"""

from __future__ import annotations

import math

import torch

from .._args import IntOrTuple
from ._common import ConvArgs, add_bias, spatial


def fft_size(n: int) -> int:
    """Smallest length >= n whose only prime factors are 2, 3 and 5 (fast for every FFT library)."""
    m = max(n, 1)
    while True:
        r = m
        for f in (2, 3, 5):
            while r % f == 0:
                r //= f
        if r == 1:
            return m
        m += 1


def exact_fft_length(size: int, extent: int, padding: int = 0, stride: int = 1) -> int:
    """The smallest length L at which one circular correlation gives every output exactly.

    The input is placed after ``padding`` zeros (the wrap-around supplies the right-hand ones),
    the kernel's taps span ``extent = dilation * (k - 1) + 1`` samples, outputs are read at
    0, stride, 2 stride, ...: L >= size + padding so that the wrap-around reads only zeros,
    L >= extent so that the taps stay distinct, L >= stride * (out - 1) + 1 so that the last
    output read exists. Chapter 15 and ex15's check both use this rule.
    """
    out = (size + 2 * padding - extent) // stride + 1
    return max(size + padding, extent, stride * (out - 1) + 1)


def conv_fft(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Convolution (cross-correlation) by FFT; any d, stride, padding, dilation and groups.

    X: (N, C_in, *spatial); K: (C_out, C_in/groups, *kernel). Returns (N, C_out, *out).
    Zero padding costs nothing: it is folded into the FFT length and a shift of the kernel.
    A stride > 1 computes every output position and keeps every stride-th one (wasteful).
    """
    a = ConvArgs(X, K, bias, stride, padding, dilation, groups, "conv_fft")
    if not (X.is_floating_point() and X.dtype in (torch.float32, torch.float64)):
        raise ValueError(f"conv_fft: input dtype must be float32 or float64, got {X.dtype}")
    if X.numel() == 0:  # FFT libraries reject empty transforms
        return add_bias(X.new_zeros(a.N, a.C_out, *a.out), bias)
    d = a.d
    dims = tuple(range(-d, 0))
    extent = [dl * (k - 1) + 1 for k, dl in zip(a.kernel, a.dilation, strict=True)]
    # the exact length per axis, rounded up to a fast one
    L = [
        fft_size(exact_fft_length(n, e, p, s))
        for n, p, e, s in zip(a.spatial, a.padding, extent, a.stride, strict=True)
    ]
    # Kernel buffer: tap u sits at (u * dilation - padding) mod L, so the output needs no shift.
    Kbuf = K.new_zeros(*K.shape[:2], *L)
    Kbuf[spatial(slice(0, e, dl) for e, dl in zip(extent, a.dilation, strict=True))] = K
    if any(a.padding):
        Kbuf = torch.roll(Kbuf, shifts=tuple(-p for p in a.padding), dims=dims)
    Xf = torch.fft.rfftn(X, s=L, dim=dims)
    Kf = torch.fft.rfftn(Kbuf, dim=dims).conj()
    Gs = a.groups
    Cg, Og = a.C_in // Gs, a.C_out // Gs
    F = Xf.shape[2:]
    Xf = Xf.reshape(a.N, Gs, Cg, math.prod(F))
    Kf = Kf.reshape(Gs, Og, Cg, math.prod(F))
    # Depthwise: an elementwise product per frequency; otherwise a channel sum per frequency,
    # i.e. a batched complex GEMM over (group, frequency).
    if Cg == 1:
        Yf = Xf * Kf.squeeze(2)
    else:
        # (G, F, N, Cg) @ (G, F, Cg, Og) -> (G, F, N, Og): one small GEMM per (group, frequency).
        Yf = torch.matmul(Xf.permute(1, 3, 0, 2), Kf.permute(0, 3, 2, 1)).permute(2, 0, 3, 1)
    Y = torch.fft.irfftn(Yf.reshape(a.N, a.C_out, *F), s=L, dim=dims)
    Y = Y[spatial(slice(0, s * (o - 1) + 1, s) for s, o in zip(a.stride, a.out, strict=True))]
    return add_bias(Y.contiguous(), bias)
