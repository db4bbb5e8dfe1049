"""Chapter 13: a rank-1 kernel is a column times a row, so one 2D pass becomes two 1D passes."""

from __future__ import annotations

import torch


def kernel_rank(K: torch.Tensor, tol: float | None = None) -> int:
    """Rank of a kernel K: (kh, kw) as a matrix: its number of singular values above tol.

    tol defaults to sigma_max * max(kh, kw) * eps, the rounding allowance of floating point, so a
    kernel built as an outer product still counts as rank 1."""
    sigma = torch.linalg.svdvals(K)
    if tol is None:
        tol = float(sigma.max()) * max(K.shape) * torch.finfo(K.dtype).eps
    return int((sigma > tol).sum())


def separate_kernel(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The column and row factors of a rank-1 kernel: K = column[:, None] * row[None, :].

    K: (kh, kw) -> column: (kh,), row: (kw,). The SVD writes K = sigma_1 u_1 v_1^T when the rank
    is 1; each factor takes half of sigma_1: column = sqrt(sigma_1) u_1, row = sqrt(sigma_1) v_1."""
    rank = kernel_rank(K)
    if rank > 1:
        raise ValueError(f"K has rank {rank}, so it is not a column times a row")
    U, S, Vh = torch.linalg.svd(K)
    column, row = S[0].sqrt() * U[:, 0], S[0].sqrt() * Vh[0]
    # The SVD fixes u_1 and v_1 only up to a common sign: make column's largest entry positive.
    sign = torch.sign(column[column.abs().argmax()])
    return sign * column, sign * row


def separable_corr2d(X: torch.Tensor, column: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
    """corr2d(X, column row^T) as two 1D passes, kh + kw multiplies per output instead of kh kw.
    X: (H, W), column: (kh,), row: (kw,) -> Y: (H - kh + 1, W - kw + 1)."""
    kh, kw = column.shape[0], row.shape[0]
    H_out, W_out = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Z = X.new_zeros((H_out, X.shape[1]))
    for a in range(kh):  # vertical pass: each row of Z mixes kh rows of X
        Z = Z + column[a] * X[a : a + H_out, :]
    Y = X.new_zeros((H_out, W_out))
    for b in range(kw):  # horizontal pass: each column of Y mixes kw columns of Z
        Y = Y + row[b] * Z[:, b : b + W_out]
    return Y


def low_rank_corr2d(X: torch.Tensor, K: torch.Tensor, r: int) -> torch.Tensor:
    """corr2d with the best rank-r approximation of K: r pairs of 1D passes, added up.
    X: (H, W), K: (kh, kw) -> Y: (H - kh + 1, W - kw + 1); equal to corr2d(X, K) when
    r >= rank(K)."""
    U, S, Vh = torch.linalg.svd(K)  # K = sum_i S[i] U[:, i] Vh[i]^T, largest terms first
    Y = X.new_zeros((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1))
    for i in range(r):
        Y = Y + separable_corr2d(X, S[i].sqrt() * U[:, i], S[i].sqrt() * Vh[i])
    return Y
