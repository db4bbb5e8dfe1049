"""Chapter 3: padding keeps the border, stride skips positions."""

from __future__ import annotations

import torch


def pad2d(X: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """Zero padding. X: (H, W), padding (ph, pw) -> (H + 2 ph, W + 2 pw)."""
    ph, pw = padding
    H, W = X.shape
    Y = X.new_zeros((H + 2 * ph, W + 2 * pw))
    Y[ph : ph + H, pw : pw + W] = X
    return Y


def corr2d_strided(
    X: torch.Tensor,
    K: torch.Tensor,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Cross-correlation with stride and zero padding. X: (H, W), K: (kh, kw) -> (H', W'),
    H' = (H + 2 ph - kh) // sh + 1 and likewise for W'."""
    X = pad2d(X, padding)
    (kh, kw), (sh, sw) = K.shape, stride
    Y = X.new_zeros(((X.shape[0] - kh) // sh + 1, (X.shape[1] - kw) // sw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            window = X[i * sh : i * sh + kh, j * sw : j * sw + kw]
            Y[i, j] = (window * K).sum()
    return Y
