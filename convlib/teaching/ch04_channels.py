"""Chapter 4: input channels are summed over, output channels are stacked, a batch is a loop."""

from __future__ import annotations

import torch

from convlib.teaching.ch01_cross_correlation import corr2d
from convlib.teaching.ch03_padding_and_stride import corr2d_strided


def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Sum over input channels. X: (C_in, H, W), K: (C_in, kh, kw) -> Y: (H', W')."""
    return torch.stack([corr2d(x, k) for x, k in zip(X, K, strict=True)]).sum(dim=0)


def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """One output channel per kernel.
    X: (C_in, H, W), K: (C_out, C_in, kh, kw) -> Y: (C_out, H', W')."""
    return torch.stack([corr2d_multi_in(X, k) for k in K])


def conv2d(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """What F.conv2d computes, from loops. X: (N, C_in, H, W), K: (C_out, C_in, kh, kw),
    bias: (C_out,) -> Y: (N, C_out, H', W')."""
    images = []
    for x in X:
        channels = []
        for o in range(K.shape[0]):
            per_input = [corr2d_strided(x[c], K[o, c], stride, padding) for c in range(X.shape[1])]
            y = torch.stack(per_input).sum(dim=0)
            channels.append(y if bias is None else y + bias[o])
        images.append(torch.stack(channels))
    return torch.stack(images)
