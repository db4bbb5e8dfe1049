"""Chapter 12: the same sliding window along one axis (sequences) or three (video, volumes)."""

from __future__ import annotations

import torch

from convlib.teaching.ch04_channels import conv2d


def conv1d(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """What F.conv1d computes. X: (N, C_in, L), K: (C_out, C_in, k), bias: (C_out,)
    -> Y: (N, C_out, L_out) with L_out = (L + 2 p - d (k - 1) - 1) // s + 1."""
    N, C_in, L = X.shape
    C_out, _, k = K.shape
    padded = X.new_zeros((N, C_in, L + 2 * padding))
    padded[:, :, padding : padding + L] = X
    span = dilation * (k - 1) + 1  # how many samples one window reaches across
    Y = X.new_zeros((N, C_out, (L + 2 * padding - span) // stride + 1))
    for t in range(Y.shape[2]):
        window = padded[:, :, t * stride : t * stride + span : dilation]  # (N, C_in, k)
        # every output channel's kernel against the same window: sum over C_in and the k taps
        Y[:, :, t] = (window[:, None] * K[None]).sum(dim=(2, 3))
    return Y if bias is None else Y + bias[:, None]


def conv3d(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: tuple[int, int, int] = (1, 1, 1),
    padding: tuple[int, int, int] = (0, 0, 0),
) -> torch.Tensor:
    """What F.conv3d computes. X: (N, C_in, D, H, W), K: (C_out, C_in, kd, kh, kw),
    bias: (C_out,) -> Y: (N, C_out, D', H', W') with D' = (D + 2 pd - kd) // sd + 1, etc."""
    N, C_in, D, H, W = X.shape
    C_out, _, kd, kh, kw = K.shape
    (pd, ph, pw), (sd, sh, sw) = padding, stride
    padded = X.new_zeros((N, C_in, D + 2 * pd, H + 2 * ph, W + 2 * pw))
    padded[:, :, pd : pd + D, ph : ph + H, pw : pw + W] = X
    sizes = [
        (n - k) // s + 1 for n, k, s in zip(padded.shape[2:], (kd, kh, kw), stride, strict=True)
    ]
    Y = X.new_zeros((N, C_out, *sizes))
    for z in range(sizes[0]):  # depth: frames of a video, slices of a scan
        for i in range(sizes[1]):
            for j in range(sizes[2]):
                box = padded[:, :, z * sd : z * sd + kd, i * sh : i * sh + kh, j * sw : j * sw + kw]
                Y[:, :, z, i, j] = (box[:, None] * K[None]).sum(dim=(2, 3, 4, 5))
    return Y if bias is None else Y + bias[:, None, None, None]


def conv3d_from_frames(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """A 3D convolution (stride 1, no padding) as a sum of 2D ones: output frame z adds the
    conv2d of input frame z + a with kernel slice a, for a = 0 .. kd - 1.
    X: (N, C_in, D, H, W), K: (C_out, C_in, kd, kh, kw) -> Y: (N, C_out, D - kd + 1, H', W')."""
    kd = K.shape[2]
    frames = []
    for z in range(X.shape[2] - kd + 1):
        frame = conv2d(X[:, :, z], K[:, :, 0])
        for a in range(1, kd):
            frame = frame + conv2d(X[:, :, z + a], K[:, :, a])
        frames.append(frame)
    return torch.stack(frames, dim=2)
