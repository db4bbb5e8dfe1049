"""Chapter 16: the speed ladder's own rungs: all windows as one view, Winograd F(2x2, 3x3),
the depthwise shift-add and the sub-pixel (phase) transposed convolution.

(im2col + GEMM is chapter 10's; the FFT is chapter 15's.)
"""

from __future__ import annotations

import torch


def conv2d_windows(
    X: torch.Tensor,
    K: torch.Tensor,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """conv2d as one strided view of every window and one contraction.
    X: (N, C_in, H, W), K: (C_out, C_in, kh, kw) -> Y: (N, C_out, H', W')."""
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    (sh, sw), (ph, pw) = stride, padding
    Xp = X.new_zeros(N, C_in, H + 2 * ph, W + 2 * pw)
    Xp[:, :, ph : ph + H, pw : pw + W] = X
    Ho, Wo = (Xp.shape[2] - kh) // sh + 1, (Xp.shape[3] - kw) // sw + 1
    n, c, h, w = Xp.stride()
    # windows[n, c, i, j, u, v] = Xp[n, c, i*sh + u, j*sw + v]: new strides, no copy.
    windows = Xp.as_strided((N, C_in, Ho, Wo, kh, kw), (n, c, h * sh, w * sw, h, w))
    # One contraction over (c, u, v): the loops of chapter 4, run by compiled code.
    return torch.einsum("ncijuv,ocuv->noij", windows, K)


def winograd_matrices(dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    """Lavin and Gray's F(2, 3) transforms: B^T (4, 4), G (4, 3), A^T (2, 4)."""
    BT = torch.tensor([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=dtype)
    G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=dtype)
    AT = torch.tensor([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=dtype)
    return BT, G, AT


def winograd_tile(d: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """One F(2x2, 3x3) tile: d (4, 4) input tile, g (3, 3) kernel -> Y (2, 2) = corr2d(d, g)."""
    BT, G, AT = (M.to(d) for M in winograd_matrices())
    U = G @ g @ G.T  # (4, 4); depends on the kernel only, so a library computes it once
    V = BT @ d @ BT.T  # (4, 4); additions and subtractions only
    return AT @ (U * V) @ AT.T  # 16 multiplications in U * V, instead of 2 * 2 * 9 = 36


def corr2d_winograd(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """corr2d for a 3x3 K by F(2x2, 3x3) tiles. X: (H, W), K: (3, 3) -> Y: (H - 2, W - 2)."""
    H, W = X.shape
    Ho, Wo = H - 2, W - 2
    # Zeros below and to the right round the output up to whole 2x2 tiles; cropped at the end.
    Xp = X.new_zeros(Ho + Ho % 2 + 2, Wo + Wo % 2 + 2)
    Xp[:H, :W] = X
    Y = X.new_zeros(Xp.shape[0] - 2, Xp.shape[1] - 2)
    for i in range(0, Y.shape[0], 2):
        for j in range(0, Y.shape[1], 2):
            # Neighbouring 4x4 input tiles overlap by 2: each 2x2 output needs a 4x4 window.
            Y[i : i + 2, j : j + 2] = winograd_tile(Xp[i : i + 4, j : j + 4], K)
    return Y[:Ho, :Wo]


def conv2d_depthwise_shift_add(
    X: torch.Tensor, K: torch.Tensor, padding: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Depthwise conv2d (groups = C, stride 1) as kh * kw shifted multiply-adds, no GEMM.
    X: (N, C, H, W), K: (C, 1, kh, kw) -> Y: (N, C, H + 2 ph - kh + 1, W + 2 pw - kw + 1)."""
    N, C, H, W = X.shape
    _, _, kh, kw = K.shape
    ph, pw = padding
    Xp = X.new_zeros(N, C, H + 2 * ph, W + 2 * pw)
    Xp[:, :, ph : ph + H, pw : pw + W] = X
    Ho, Wo = Xp.shape[2] - kh + 1, Xp.shape[3] - kw + 1
    Y = X.new_zeros(N, C, Ho, Wo)
    for a in range(kh):
        for b in range(kw):
            # Tap (a, b): every output reads the input shifted by (a, b), times one weight per
            # channel. No channel sum, so one whole-tensor multiply-add per tap.
            Y += K[:, 0, a, b].view(1, C, 1, 1) * Xp[:, :, a : a + Ho, b : b + Wo]
    return Y


def conv_transpose2d_subpixel(
    Z: torch.Tensor,
    K: torch.Tensor,
    stride: tuple[int, int],
    padding: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """Transposed conv2d as sh * sw stride-1 convolutions (phases), interleaved; no zeros.
    Z: (N, C_in, H, W), K: (C_in, C_out, kh, kw) with kh >= sh, kw >= sw
    -> Y: (N, C_out, (H - 1) sh - 2 ph + kh, (W - 1) sw - 2 pw + kw)."""
    N, C_in, H, W = Z.shape
    _, C_out, kh, kw = K.shape
    (sh, sw), (ph, pw) = stride, padding
    assert kh >= sh and kw >= sw, "every phase needs at least one tap"
    Y = Z.new_zeros(N, C_out, (H - 1) * sh + kh, (W - 1) * sw + kw)  # before the crop
    for r in range(sh):
        for c in range(sw):
            # Output rows r, r + sh, ... only meet taps r, r + sh, ... of K: a stride-1
            # convolution with that sub-kernel, flipped (a gather instead of a scatter), with
            # the channel axes swapped to (C_out, C_in).
            sub = K[:, :, r::sh, c::sw].flip(2, 3).transpose(0, 1)
            mh, mw = sub.shape[2:]
            Y[:, :, r::sh, c::sw] = conv2d_windows(Z, sub, padding=(mh - 1, mw - 1))
    return Y[:, :, ph : Y.shape[2] - ph, pw : Y.shape[3] - pw]
