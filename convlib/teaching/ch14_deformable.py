"""Chapter 14: every tap of the kernel reads the input at its own learned, fractional position."""

from __future__ import annotations

import torch


def bilinear_sample(X: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """Read X between pixels: each point mixes its four neighbours, pixels outside count as 0.
    X: (C, H, W); py, px: rows and columns of the points, any shape P -> (C, *P)."""
    C, H, W = X.shape
    y0, x0 = py.floor(), px.floor()
    fy, fx = py - y0, px - x0  # how far past the top-left neighbour, in [0, 1)
    Y = X.new_zeros((C, *py.shape))
    for dy, dx, weight in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        r, c = (y0 + dy).long(), (x0 + dx).long()
        inside = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        # read a safe pixel everywhere, then let only the neighbours inside X count
        value = X[:, r.clamp(0, H - 1), c.clamp(0, W - 1)]
        Y = Y + torch.where(inside, weight, 0.0) * value
    return Y


def deform_conv2d(
    X: torch.Tensor,
    offset: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deformable convolution (torchvision's layout, one group). X: (N, C_in, H, W),
    offset: (N, 2 kh kw, H_out, W_out) holding (dy, dx) per tap, taps row-major,
    K: (C_out, C_in, kh, kw), bias: (C_out,), mask: (N, kh kw, H_out, W_out) or None
    -> Y: (N, C_out, H_out, W_out), H_out = (H + 2 ph - dh (kh - 1) - 1) // sh + 1."""
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    H_out = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    W_out = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    assert offset.shape == (N, 2 * kh * kw, H_out, W_out), "one (dy, dx) per tap and output"
    # where tap (0, 0) sits on the regular grid, for every output row and column
    rows = torch.arange(H_out, dtype=X.dtype, device=X.device)[:, None] * sh - ph
    cols = torch.arange(W_out, dtype=X.dtype, device=X.device)[None, :] * sw - pw
    Y = X.new_zeros((N, C_out, H_out, W_out))
    for n in range(N):
        for t in range(kh * kw):
            i, j = divmod(t, kw)
            py = rows + i * dh + offset[n, 2 * t]  # (H_out, W_out): moved tap
            px = cols + j * dw + offset[n, 2 * t + 1]
            samples = bilinear_sample(X[n], py, px)  # (C_in, H_out, W_out)
            if mask is not None:  # DCNv2: a learned weight per tap and position
                samples = samples * mask[n, t]
            Y[n] = Y[n] + torch.einsum("oc,chw->ohw", K[:, :, i, j], samples)
    return Y if bias is None else Y + bias[:, None, None]
