"""Chapter 11: pooling slides a window like a convolution but takes its maximum or its mean."""

from __future__ import annotations

import torch
import torch.nn.functional as F

Pair = tuple[int, int]


def max_pool2d(
    X: torch.Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = (0, 0)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum of each window, per channel. X: (N, C, H, W) -> Y, indices: (N, C, H', W').
    indices[n, c, i, j] = h W + w: where the maximum sits in channel c of X (unpadded)."""
    (kh, kw), (ph, pw) = kernel_size, padding
    sh, sw = stride or kernel_size  # by default the windows tile the input
    N, C, H, W = X.shape
    Xp = F.pad(X, (pw, pw, ph, ph), value=float("-inf"))  # padding never wins a maximum
    H_out, W_out = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    Y = X.new_zeros((N, C, H_out, W_out))
    indices = torch.zeros((N, C, H_out, W_out), dtype=torch.long, device=X.device)
    for i in range(H_out):
        for j in range(W_out):
            window = Xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(N, C, kh * kw)
            Y[:, :, i, j], k = window.max(dim=-1)  # k: position in the window, row-major
            h, w = i * sh - ph + k // kw, j * sw - pw + k % kw  # back to X's coordinates
            indices[:, :, i, j] = h * W + w
    return Y, indices


def avg_pool2d(
    X: torch.Tensor, kernel_size: Pair, stride: Pair | None = None, padding: Pair = (0, 0)
) -> torch.Tensor:
    """Mean of each window, per channel; padded zeros count (count_include_pad=True).
    X: (N, C, H, W) -> Y: (N, C, H', W')."""
    (kh, kw), (ph, pw) = kernel_size, padding
    sh, sw = stride or kernel_size
    N, C, H, W = X.shape
    Xp = F.pad(X, (pw, pw, ph, ph))
    H_out, W_out = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    Y = X.new_zeros((N, C, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            Y[:, :, i, j] = Xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].mean(dim=(2, 3))
    return Y


def global_avg_pool2d(X: torch.Tensor) -> torch.Tensor:
    """One number per channel: the mean over all positions. X: (N, C, H, W) -> (N, C, 1, 1)."""
    return X.mean(dim=(2, 3), keepdim=True)


def adaptive_bins(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's bins for adaptive pooling: out ranges [start, end) that cover 0..size - 1,
    start = floor(i size / out), end = ceil((i + 1) size / out); neighbours may overlap."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_avg_pool2d(X: torch.Tensor, output_size: Pair) -> torch.Tensor:
    """Mean over each bin: any H, W in, output_size out. X: (N, C, H, W) -> (N, C, *output_size)."""
    N, C, H, W = X.shape
    Y = X.new_zeros((N, C, *output_size))
    for i, (r0, r1) in enumerate(adaptive_bins(H, output_size[0])):
        for j, (c0, c1) in enumerate(adaptive_bins(W, output_size[1])):
            Y[:, :, i, j] = X[:, :, r0:r1, c0:c1].mean(dim=(2, 3))
    return Y


def adaptive_max_pool2d(X: torch.Tensor, output_size: Pair) -> torch.Tensor:
    """Maximum over each bin. X: (N, C, H, W) -> (N, C, *output_size)."""
    N, C, H, W = X.shape
    Y = X.new_zeros((N, C, *output_size))
    for i, (r0, r1) in enumerate(adaptive_bins(H, output_size[0])):
        for j, (c0, c1) in enumerate(adaptive_bins(W, output_size[1])):
            Y[:, :, i, j] = X[:, :, r0:r1, c0:c1].amax(dim=(2, 3))
    return Y
