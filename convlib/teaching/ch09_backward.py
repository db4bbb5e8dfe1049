"""Chapter 9: the gradients of a convolution are convolutions too.

For Y = conv2d(X, K, b) and a loss L, given dY = dL/dY:
dX is a transposed convolution of dY with the same K, dK is a cross-correlation of X with dY
(dY's taps spread out by the stride), and db is a sum of dY.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convlib.teaching.ch08_transposed import conv_transpose2d

Pair = tuple[int, int]


def conv2d_backward_loops(
    X: torch.Tensor,
    K: torch.Tensor,
    dY: torch.Tensor,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    groups: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dL/dX, dL/dK, dL/db of Y = conv2d(X, K, b), one output pixel at a time.
    X: (N, C_in, H, W), K: (C_out, C_in/groups, kh, kw), dY: (N, C_out, H', W')
    -> dX: (N, C_in, H, W), dK: (C_out, C_in/groups, kh, kw), db: (C_out,)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    C_out, C_in_g, kh, kw = K.shape
    Xp = F.pad(X, (pw, pw, ph, ph))  # zero padding, as pad2d of chapter 3 on every channel
    dXp, dK = torch.zeros_like(Xp), torch.zeros_like(K)
    for n in range(dY.shape[0]):
        for o in range(C_out):
            c = o // (C_out // groups) * C_in_g  # first input channel of o's group
            for i in range(dY.shape[2]):
                for j in range(dY.shape[3]):
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                    # Y[n, o, i, j] = sum(window * K[o]) + b[o]: each factor's gradient is the
                    # other factor times dY[n, o, i, j], added up over every window it is in.
                    dK[o] += dY[n, o, i, j] * Xp[n, c : c + C_in_g, rows, cols]
                    dXp[n, c : c + C_in_g, rows, cols] += dY[n, o, i, j] * K[o]
    H, W = X.shape[2:]
    return dXp[:, :, ph : ph + H, pw : pw + W], dK, dY.sum(dim=(0, 2, 3))


def conv2d_weight_grad(
    X: torch.Tensor,
    dY: torch.Tensor,
    kernel_size: Pair,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    groups: int = 1,
) -> torch.Tensor:
    """dL/dK as a cross-correlation of X with dY, one kernel tap at a time.
    X: (N, C_in, H, W), dY: (N, C_out, H', W') -> dK: (C_out, C_in/groups, kh, kw)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    N, C_out, H_out, W_out = dY.shape
    Xp = F.pad(X, (padding[1], padding[1], padding[0], padding[0]))
    Xg = Xp.reshape(N, groups, -1, *Xp.shape[2:])  # (N, groups, C_in/groups, H + 2ph, W + 2pw)
    dYg = dY.reshape(N, groups, -1, H_out, W_out)  # (N, groups, C_out/groups, H', W')
    dK = X.new_zeros(groups, C_out // groups, Xg.shape[2], kh, kw)
    for a in range(kh):
        for b in range(kw):
            # Tap (a, b) met the pixels a*dh, a*dh + sh, a*dh + 2 sh, ...: the "kernel" dY is
            # spread out by the stride, and it moves by the dilation from one tap to the next.
            rows = slice(a * dh, a * dh + sh * (H_out - 1) + 1, sh)
            cols = slice(b * dw, b * dw + sw * (W_out - 1) + 1, sw)
            taps = Xg[..., rows, cols]  # (N, groups, C_in/groups, H', W')
            # One dot product per (output, input channel) pair, summed over batch and positions.
            dK[..., a, b] = torch.einsum("ngchw,ngohw->goc", taps, dYg)
    return dK.reshape(C_out, -1, kh, kw)


def conv2d_backward(
    X: torch.Tensor,
    K: torch.Tensor,
    dY: torch.Tensor,
    stride: Pair = (1, 1),
    padding: Pair = (0, 0),
    dilation: Pair = (1, 1),
    groups: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """conv2d_backward_loops from three whole-tensor operations, same shapes in and out.
    X: (N, C_in, H, W), K: (C_out, C_in/groups, kh, kw), dY: (N, C_out, H', W')."""
    H, W = X.shape[2:]
    kh, kw = K.shape[2:]
    # With a stride, the last (H + 2p - d (kh - 1) - 1) % s rows of the *padded* input are in no
    # window, so the transposed convolution comes out that much short; output_padding appends the
    # missing rows of dX, computed like the others (zero only where no window reads X itself).
    lost_h = (H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) % stride[0]
    lost_w = (W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) % stride[1]
    # The same K: a conv weight (C_out, C_in/groups, ...) read as a transposed-conv weight
    # (C_in', C_out'/groups, ...) with C_in' = C_out maps C_out channels back to C_in.
    dX = conv_transpose2d(dY, K, None, stride, padding, (lost_h, lost_w), groups, dilation)
    dK = conv2d_weight_grad(X, dY, (kh, kw), stride, padding, dilation, groups)
    return dX, dK, dY.sum(dim=(0, 2, 3))  # b[o] is added to every pixel of every image
