"""Chapter 5: a 1x1 convolution is a fully connected layer applied at every pixel."""

from __future__ import annotations

import torch


def conv1x1_per_pixel(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """1x1 convolution, one pixel at a time. X: (N, C_in, H, W), K: (C_out, C_in, 1, 1)
    -> Y: (N, C_out, H, W)."""
    N, C_in, H, W = X.shape
    weight = K.reshape(K.shape[0], C_in)  # (C_out, C_in): a fully connected layer's matrix
    Y = X.new_zeros((N, K.shape[0], H, W))
    for i in range(H):
        for j in range(W):
            # the same matrix at every pixel; neighbouring pixels never meet
            Y[:, :, i, j] = X[:, :, i, j] @ weight.T
    return Y


def conv1x1(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """1x1 convolution as one matrix product. X: (N, C_in, H, W), K: (C_out, C_in, 1, 1),
    bias: (C_out,) -> Y: (N, C_out, H, W)."""
    N, C_in, H, W = X.shape
    C_out = K.shape[0]
    pixels = X.reshape(N, C_in, H * W)  # one column per pixel, one row per channel
    Y = K.reshape(C_out, C_in) @ pixels  # (C_out, C_in) @ (N, C_in, H W) -> (N, C_out, H W)
    if bias is not None:
        Y = Y + bias[:, None]
    return Y.reshape(N, C_out, H, W)
