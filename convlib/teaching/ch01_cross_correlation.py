"""Chapter 1: cross-correlation, the sliding dot product that deep learning calls convolution."""

from __future__ import annotations

import torch


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """2D cross-correlation. X: (H, W), K: (kh, kw) -> Y: (H - kh + 1, W - kw + 1)."""
    kh, kw = K.shape
    Y = X.new_zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y


def convolve2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """True (flipped-kernel) 2D convolution. X: (H, W), K: (kh, kw) -> (H - kh + 1, W - kw + 1)."""
    return corr2d(X, K.flip(0, 1))


def shift2d(X: torch.Tensor, shift: tuple[int, int]) -> torch.Tensor:
    """Translate X by (dy, dx) cells, down and right when positive, filling with zeros.
    X: (H, W), |dy| < H, |dx| < W -> Y: (H, W)."""
    dy, dx = shift
    H, W = X.shape
    Y = X.new_zeros((H, W))
    # What moves past the edge is lost; the cells it leaves behind become zeros.
    Y[max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = X[
        max(-dy, 0) : H - max(dy, 0), max(-dx, 0) : W - max(dx, 0)
    ]
    return Y
