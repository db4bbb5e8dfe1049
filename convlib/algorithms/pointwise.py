"""1x1 convolution as a plain matrix product: no windows, no copies.

A 1x1 kernel mixes channels at each position independently, so with ``X: (N, C_in, H, W)`` viewed
as ``(N, C_in, H*W)``, ``Y[n] = K.view(C_out, C_in) @ X[n]``. A stride just subsamples X first.
"""

from __future__ import annotations

import math

import torch

from .._args import IntOrTuple
from ._common import ConvArgs, add_bias, spatial, zero_pad


def conv_pointwise(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Convolution with a kernel of size 1 in every spatial dim, by matmul; any d, groups.

    X: (N, C_in, *spatial); K: (C_out, C_in/groups, 1, ..., 1). Returns (N, C_out, *out).
    """
    a = ConvArgs(X, K, bias, stride, padding, dilation, groups, "conv_pointwise")
    if any(k != 1 for k in a.kernel):
        raise ValueError(
            f"conv_pointwise: weight must have kernel size 1, got {a.kernel}; use conv_im2col"
        )
    Xp = zero_pad(X, a.padding)
    # Dilation does not matter for a single tap; the stride keeps every stride-th position.
    Xs = Xp[spatial(slice(None, None, s) for s in a.stride)] if any(s > 1 for s in a.stride) else Xp
    G = a.groups
    L = math.prod(a.out)
    Xg = Xs.reshape(a.N, G, a.C_in // G, L)
    Y = torch.matmul(K.reshape(G, a.C_out // G, a.C_in // G), Xg)
    return add_bias(Y.reshape(a.N, a.C_out, *a.out), bias)
