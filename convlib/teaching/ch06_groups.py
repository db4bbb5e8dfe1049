"""Chapter 6: grouped and depthwise convolution, depthwise separable, channel shuffle."""

from __future__ import annotations

import torch

from convlib.teaching.ch04_channels import conv2d
from convlib.teaching.ch05_one_by_one import conv1x1


def conv2d_grouped(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    groups: int = 1,
) -> torch.Tensor:
    """groups independent convolutions on slices of the channels, concatenated.
    X: (N, C_in, H, W), K: (C_out, C_in/groups, kh, kw), bias: (C_out,) -> (N, C_out, H', W')."""
    C_in, C_out = X.shape[1], K.shape[0]
    ins, outs = C_in // groups, C_out // groups  # channels per group, in and out
    Y = []
    for g in range(groups):
        # output group g sees input group g only
        b = None if bias is None else bias[g * outs : (g + 1) * outs]
        x, k = X[:, g * ins : (g + 1) * ins], K[g * outs : (g + 1) * outs]
        Y.append(conv2d(x, k, b, stride, padding))
    return torch.cat(Y, dim=1)


def depthwise_conv2d(
    X: torch.Tensor,
    K: torch.Tensor,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """One group per input channel. X: (N, C_in, H, W), K: (m C_in, 1, kh, kw) with m the depth
    multiplier -> Y: (N, m C_in, H', W')."""
    return conv2d_grouped(X, K, None, stride, padding, groups=X.shape[1])


def depthwise_separable_conv2d(
    X: torch.Tensor,
    K_depthwise: torch.Tensor,
    K_pointwise: torch.Tensor,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Depthwise (space, per channel) then pointwise 1x1 (channels, per pixel).
    X: (N, C_in, H, W), K_depthwise: (C_in, 1, kh, kw), K_pointwise: (C_out, C_in, 1, 1)
    -> Y: (N, C_out, H', W')."""
    return conv1x1(depthwise_conv2d(X, K_depthwise, stride, padding), K_pointwise)


def channel_shuffle(X: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's shuffle. X: (N, C, H, W) -> same shape, channel order
    (groups, C/groups) -> transposed -> flattened."""
    N, C, H, W = X.shape
    return X.reshape(N, groups, C // groups, H, W).transpose(1, 2).reshape(N, C, H, W)
