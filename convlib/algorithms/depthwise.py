"""Depthwise convolution by per-channel vectorisation: one multiply-add of the whole tensor per tap.

With ``groups == C_in`` each output channel sees one input channel, so there is no channel sum to
hand to a GEMM. Instead we loop over the ``kh*kw`` kernel taps (not over pixels): tap (i, j)
multiplies a shifted view of X by the per-channel weight ``K[:, 0, i, j]`` and adds it to Y, in
place. That is ``kh*kw`` passes over the output, so it suits small kernels; large kernels go to
the FFT path.

The zero padding is never materialised: a tap that would read padding for some output positions
only updates the rectangle of outputs whose input lies inside X. That saves a padded copy of the
input, and the first tap that covers every output writes Y instead of zero-filling it.
"""

from __future__ import annotations

import itertools

import torch

from .._args import IntOrTuple
from ._common import ConvArgs, add_bias, spatial


def _tap_ranges(
    tap: tuple[int, ...], a: ConvArgs
) -> tuple[tuple[slice, ...], tuple[slice, ...]] | None:
    """Output slices and matching input slices that tap ``tap`` touches, or None if none.

    Output position o reads input ``o * stride + t * dilation - padding``; keep the o for which
    that lies in ``[0, size)``.
    """
    out_slices, in_slices = [], []
    for t, n, s, p, dl, o in zip(
        tap, a.spatial, a.stride, a.padding, a.dilation, a.out, strict=True
    ):
        shift = t * dl - p
        first = max(0, -(shift // s) if shift < 0 else 0)  # ceil(-shift / s) for shift < 0
        last = min(o - 1, (n - 1 - shift) // s)
        if first > last:
            return None
        out_slices.append(slice(first, last + 1))
        start = first * s + shift
        in_slices.append(slice(start, start + s * (last - first) + 1, s))
    return tuple(out_slices), tuple(in_slices)


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
    taps = []
    for tap in itertools.product(*(range(k) for k in a.kernel)):
        ranges = _tap_ranges(tap, a)
        if ranges is not None:
            taps.append((tap, *ranges))
    # Start from a tap that reaches every output (the centre tap for 'same' padding): its product
    # is Y, so Y needs no zero fill.
    first = next(
        (
            i
            for i, (_, out, _) in enumerate(taps)
            if all(sl.stop - sl.start == o for sl, o in zip(out, a.out, strict=True))
        ),
        None,
    )
    Y = X.new_zeros(a.N, a.C_out, *a.out) if first is None else None
    if first is not None:
        taps.insert(0, taps.pop(first))
    for tap, out, inp in taps:
        w = K[:, 0][spatial(tap)[1:]].view(1, -1, *([1] * a.d))
        if Y is None:
            Y = X[spatial(inp)] * w
        else:
            # In place: no temporary the size of the output per tap.
            Y[spatial(out)].addcmul_(X[spatial(inp)], w)
    assert Y is not None
    return add_bias(Y, bias)
