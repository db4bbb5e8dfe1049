"""Depthwise convolution by per-channel vectorisation: one multiply-add of the whole tensor per tap.

With ``groups == C_in`` each output channel sees one input channel, so there is no channel sum to
hand to a GEMM. Instead we loop over the ``kh*kw`` kernel taps (not over pixels): tap (i, j)
multiplies a shifted view of X by the per-channel weight ``K[:, 0, i, j]`` and adds it to Y, in
place. That is ``kh*kw`` passes over the output, so it suits small kernels; large kernels go to
the FFT path.

Without autograd the work goes block by block (a few images at a time), so the kh*kw passes
over a block read the cache, not main memory. The zero padding is never materialised: a tap
that would read padding for some output positions only updates the rectangle of outputs whose
input lies inside X. That saves a padded copy of the input, and the first tap that covers every
output writes Y instead of zero-filling it.
"""

from __future__ import annotations

import itertools
import math

import torch

from .._args import IntOrTuple
from ._common import ConvArgs, add_bias, may_reuse, spatial, zero_pad


def _tap_ranges(
    tap: tuple[int, ...], a: ConvArgs, size: tuple[int, ...], padding: tuple[int, ...]
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Output slices and matching input slices that tap ``tap`` touches, or None if none.

    Output position o reads input ``o * stride + t * dilation - padding``; keep the o for which
    that lies in ``[0, size)``.
    """
    out_slices, in_slices = [], []
    for t, n, s, p, dl, o in zip(tap, size, a.stride, padding, a.dilation, a.out, strict=True):
        shift = t * dl - p
        first = max(0, -(shift // s) if shift < 0 else 0)  # ceil(-shift / s) for shift < 0
        last = min(o - 1, (n - 1 - shift) // s)
        if first > last:
            return None
        out_slices.append(slice(first, last + 1))
        start = first * s + shift
        in_slices.append(slice(start, start + s * (last - first) + 1, s))
    return tuple(out_slices), tuple(in_slices)


Tap = tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]]


def _covers_all(out: tuple[slice, ...], size: tuple[int, ...]) -> bool:
    """Whether the output slices ``out`` span the whole output of shape ``size``."""
    return all(sl.stop - sl.start == o for sl, o in zip(out, size, strict=True))


def _taps_in_range(a: ConvArgs, size: tuple[int, ...], padding: tuple[int, ...]) -> list[Tap]:
    """(tap, output slices, input slices) of every tap that reads the input at all, a tap that
    reaches every output first (the centre tap for 'same' padding) when there is one."""
    taps = []
    for tap in itertools.product(*(range(k) for k in a.kernel)):
        ranges = _tap_ranges(tap, a, size, padding)
        if ranges is not None:
            taps.append((tap, *ranges))
    taps.sort(key=lambda t: not _covers_all(t[1], a.out))  # stable: full taps first
    return taps


CACHE_BLOCK_BYTES = 4 * 2**20  # input + output of one block: fits the measured CPU's caches


def _shift_and_add(
    X: torch.Tensor, K: torch.Tensor, taps: list[Tap], Y: torch.Tensor | None
) -> torch.Tensor:
    """Sum over ``taps`` of shifted X times the tap's per-channel weight, into Y (or a new Y).

    X: (N, C, *spatial) (C already repeated for a channel multiplier); K: (C, 1, *kernel).
    The first tap reaches every output, so it writes Y whole and Y needs no zero fill.
    """
    d = X.ndim - 2
    for i, (tap, out, inp) in enumerate(taps):
        w = K[:, 0][spatial(tap)[1:]].view(1, -1, *([1] * d))
        if i == 0:
            Y = X[spatial(inp)] * w if Y is None else torch.mul(X[spatial(inp)], w, out=Y)
        else:
            assert Y is not None
            # In place: no temporary the size of the output per tap.
            Y[spatial(out)].addcmul_(X[spatial(inp)], w)
    assert Y is not None
    return Y


def conv_depthwise(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Depthwise convolution (groups == C_in, C_out = multiplier * C_in) by shift-and-add; any d.

    X: (N, C_in, *spatial); K: (C_out, 1, *kernel). Returns (N, C_out, *out).
    """
    a = ConvArgs(X, K, bias, stride, padding, dilation, groups, "conv_depthwise")
    if a.groups != a.C_in:
        raise ValueError(
            f"conv_depthwise: groups must equal C_in={a.C_in} (one filter group per channel), got "
            f"groups={a.groups}; use conv_im2col for other groupings"
        )
    m = a.C_out // a.C_in
    if m > 1:
        # Channel multiplier: output channel c*m + j reads input channel c.
        X = X.repeat_interleave(m, dim=1)
    taps = _taps_in_range(a, tuple(X.shape[2:]), a.padding)
    if not taps or not _covers_all(taps[0][1], a.out):
        # No tap reaches every output (padding wider than the kernel's reach): pad for real,
        # then the first tap covers everything.
        X = zero_pad(X, a.padding)
        taps = _taps_in_range(a, tuple(X.shape[2:]), (0,) * a.d)
    if not may_reuse(X, K):
        # Autograd records every tap: one block, the first product allocates Y.
        return add_bias(_shift_and_add(X, K, taps, None), bias)
    # Without autograd, work block by block (a few images, or a few channels of one image)
    # small enough that the kh*kw passes over a block hit the cache instead of main memory.
    Y = X.new_empty(a.N, a.C_out, *a.out)
    plane = (math.prod(X.shape[2:]) + math.prod(a.out)) * X.element_size()
    channels = max(1, min(a.C_out, CACHE_BLOCK_BYTES // plane))
    images = max(1, CACHE_BLOCK_BYTES // (plane * a.C_out)) if channels == a.C_out else 1
    for n in range(0, a.N, images):
        for c in range(0, a.C_out, channels):
            block = (slice(n, n + images), slice(c, c + channels))
            _shift_and_add(X[block], K[block[1]], taps, Y[block])
    return add_bias(Y, bias)
