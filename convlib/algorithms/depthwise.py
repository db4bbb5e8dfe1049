"""Depthwise convolution by per-channel vectorisation: one multiply-add of the whole tensor per tap.

With ``groups == C_in`` each output channel sees one input channel, so there is no channel sum to
hand to a GEMM. Instead we loop over the ``kh*kw`` kernel taps (not over pixels): for tap (i, j)
the shifted view ``X[:, :, i*dh : ..., j*dw : ...]`` times the per-channel weight ``K[:, 0, i, j]``
is added to Y. That is ``kh*kw`` passes over the output, so it suits small kernels; large kernels
go to the FFT path.
"""

from __future__ import annotations

import itertools

import torch

from .._args import IntOrTuple
from ._common import ConvArgs, add_bias, spatial, zero_pad


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
    Xp = zero_pad(X, a.padding)
    m = a.C_out // a.C_in
    if m > 1:
        # Channel multiplier: output channel c*m + j reads input channel c.
        Xp = Xp.repeat_interleave(m, dim=1)
    Y: torch.Tensor | None = None
    for taps in itertools.product(*(range(k) for k in a.kernel)):
        window = Xp[
            spatial(
                slice(t * dl, t * dl + s * (o - 1) + 1, s)
                for t, dl, s, o in zip(taps, a.dilation, a.stride, a.out, strict=True)
            )
        ]
        w = K[:, 0][spatial(taps)[1:]].view(1, -1, *([1] * a.d))
        # The first tap allocates Y; later taps accumulate into it (in place, no temporary).
        Y = window * w if Y is None else Y.addcmul_(window, w)
    assert Y is not None
    return add_bias(Y, bias)
