"""Deformable convolution v1/v2 (``torchvision.ops.deform_conv2d``), written from scratch.

An ordinary convolution reads its kh x kw taps on a fixed grid. A deformable one moves each tap,
for each output position, by a learned offset (dy, dx) and reads the input there by bilinear
interpolation; DCNv2 also scales each sample by a learned ``mask`` value. Everything else (weights,
groups, bias, stride, padding, dilation) is an ordinary convolution.

Sample point of tap (i, j) for output (y, x), with per-tap offsets (dy, dx)::

    p_y = y * stride_h - padding_h + i * dilation_h + dy
    p_x = x * stride_w - padding_w + j * dilation_w + dx

Layouts (torchvision's): ``offset`` is (N, 2 * offset_groups * kh * kw, H_out, W_out) with the
channels ordered (group, tap i * kw + j, [dy, dx]); ``mask`` is (N, offset_groups * kh * kw, H_out,
W_out). Input channels are split into ``offset_groups`` consecutive blocks that share offsets.

Bilinear sampling follows torchvision: a point with p_y <= -1, p_y >= H, p_x <= -1 or p_x >= W
reads 0; otherwise each of its four neighbouring pixels contributes its bilinear weight if it lies
inside the input and nothing if it does not (zero padding, corner by corner).
"""

from __future__ import annotations

import math

import torch

from ._args import (
    IntOrTuple,
    check_ndim,
    check_nonnegative,
    check_positive,
    check_same_device_dtype,
    check_tensor,
    ntuple,
)
from .shapes import conv_output_size

__all__ = ["deform_conv2d", "deform_conv2d_reference", "bilinear_sample"]


class _DeformArgs:
    """The checked arguments of one deform_conv2d call."""

    def __init__(
        self,
        input: object,
        offset: object,
        weight: object,
        bias: object,
        stride: IntOrTuple,
        padding: IntOrTuple,
        dilation: IntOrTuple,
        mask: object,
    ) -> None:
        X = check_tensor(input, "input")
        check_ndim(X, "input", (4,), "(N, C_in, H, W)")
        if not X.is_floating_point():
            raise TypeError(
                f"input must have a real floating-point dtype, got {X.dtype}; use input.float()"
            )
        off = check_tensor(offset, "offset")
        check_ndim(off, "offset", (4,), "(N, 2 * offset_groups * kh * kw, H_out, W_out)")
        K = check_tensor(weight, "weight")
        check_ndim(K, "weight", (4,), "(C_out, C_in / groups, kh, kw)")
        check_same_device_dtype(X, "input", off, "offset")
        check_same_device_dtype(X, "input", K, "weight")
        self.stride = ntuple(stride, 2, "stride")
        check_positive(self.stride, "stride")
        self.padding = ntuple(padding, 2, "padding")
        check_nonnegative(self.padding, "padding")
        self.dilation = ntuple(dilation, 2, "dilation")
        check_positive(self.dilation, "dilation")

        N, C_in, H, W = X.shape
        C_out, C_per_group, kh, kw = K.shape
        if min(C_in, H, W, C_out, C_per_group, kh, kw) == 0:
            raise ValueError(
                f"input {tuple(X.shape)} and weight {tuple(K.shape)} must have no empty dims "
                f"(except the batch dim N)"
            )
        # Groups are inferred, as in torchvision: weight's second dim is C_in / groups.
        if C_in % C_per_group:
            raise ValueError(
                f"input has C_in={C_in} channels, which is not a multiple of weight.shape[1]="
                f"{C_per_group} (C_in / groups); weight must be (C_out, C_in / groups, kh, kw)"
            )
        groups = C_in // C_per_group
        if C_out % groups:
            raise ValueError(
                f"weight has C_out={C_out} output channels, not divisible by groups={groups} "
                f"(C_in={C_in} / weight.shape[1]={C_per_group})"
            )
        taps = kh * kw
        if off.shape[1] == 0 or off.shape[1] % (2 * taps):
            raise ValueError(
                f"offset.shape[1]={off.shape[1]} must be a positive multiple of 2 * kh * kw = "
                f"{2 * taps} (a (dy, dx) pair per tap per offset group) for a {kh}x{kw} kernel"
            )
        offset_groups = off.shape[1] // (2 * taps)
        if C_in % offset_groups:
            raise ValueError(
                f"input channels C_in={C_in} are not divisible by offset_groups={offset_groups} "
                f"(offset.shape[1]={off.shape[1]} / (2 * {kh} * {kw}))"
            )
        H_out, W_out = conv_output_size((H, W), (kh, kw), self.stride, self.padding, self.dilation)
        expected = (N, 2 * offset_groups * taps, H_out, W_out)
        if tuple(off.shape) != expected:
            raise ValueError(
                f"offset must have shape (N, 2 * offset_groups * kh * kw, H_out, W_out) = "
                f"{expected} for this input, kernel, stride, padding and dilation, got "
                f"{tuple(off.shape)}"
            )
        M = None
        if mask is not None:
            M = check_tensor(mask, "mask")
            check_same_device_dtype(X, "input", M, "mask")
            expected = (N, offset_groups * taps, H_out, W_out)
            if tuple(M.shape) != expected:
                raise ValueError(
                    f"mask must have shape (N, offset_groups * kh * kw, H_out, W_out) = "
                    f"{expected} (offset_groups={offset_groups} from offset), got {tuple(M.shape)}"
                )
        B = None
        if bias is not None:
            B = check_tensor(bias, "bias")
            check_same_device_dtype(X, "input", B, "bias")
            if tuple(B.shape) != (C_out,):
                raise ValueError(
                    f"bias must have shape (C_out,) = ({C_out},), got {tuple(B.shape)}"
                )

        self.X, self.offset, self.K, self.mask, self.bias = X, off, K, M, B
        self.groups, self.offset_groups = groups, offset_groups
        self.out = (H_out, W_out)

    def base_positions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Undeformed sample rows and columns: (kh * kw, H_out, 1) and (kh * kw, 1, W_out)."""
        (H_out, W_out), (kh, kw) = self.out, self.K.shape[2:]
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        device, dtype = self.X.device, self.X.dtype
        i = torch.arange(kh, device=device, dtype=dtype).repeat_interleave(kw)  # tap i * kw + j
        j = torch.arange(kw, device=device, dtype=dtype).repeat(kh)
        rows = torch.arange(H_out, device=device, dtype=dtype) * sh - ph
        cols = torch.arange(W_out, device=device, dtype=dtype) * sw - pw
        return (
            (rows[None, :] + i[:, None] * dh)[:, :, None],
            (cols[None, :] + j[:, None] * dw)[:, None, :],
        )


def bilinear_sample(image: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """Read ``image`` at real-valued points by bilinear interpolation, zero outside.

    image: (B, C, H, W); py, px: (B, P) row and column of each point -> (B, C, P).
    Differentiable w.r.t. ``image``, ``py`` and ``px``.
    """
    B, C, H, W = image.shape
    flat = image.reshape(B, C, H * W)
    y0, x0 = py.floor(), px.floor()
    ly, lx = py - y0, px - x0  # distance past the top-left neighbour, in [0, 1)
    # torchvision reads nothing for points on or beyond one pixel outside the input.
    near = (py > -1) & (py < H) & (px > -1) & (px < W)
    out = image.new_zeros(B, C, py.shape[1])
    for dy, dx, weight in (
        (0, 0, (1 - ly) * (1 - lx)),
        (0, 1, (1 - ly) * lx),
        (1, 0, ly * (1 - lx)),
        (1, 1, ly * lx),
    ):
        y, x = y0 + dy, x0 + dx
        inside = near & (y >= 0) & (y <= H - 1) & (x >= 0) & (x <= W - 1)
        # Clamp (and map NaN to 0) before converting to integers, so that points outside the
        # input give a safe index; their weight is then set to 0 (where, not *, so inf stays out).
        index = (y.clamp(0, H - 1) * W + x.clamp(0, W - 1)).nan_to_num(0.0).long()
        values = flat.gather(2, index[:, None, :].expand(B, C, -1))
        out = out + values * torch.where(inside, weight, 0.0)[:, None, :]
    return out


def deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deformable 2D convolution, as ``torchvision.ops.deform_conv2d``.

    input: (N, C_in, H, W); offset: (N, 2 * offset_groups * kh * kw, H_out, W_out);
    weight: (C_out, C_in / groups, kh, kw); bias: (C_out,); mask: (N, offset_groups * kh * kw,
    H_out, W_out) or None (all ones) -> (N, C_out, H_out, W_out).
    """
    A = _DeformArgs(input, offset, weight, bias, stride, padding, dilation, mask)
    X, K = A.X, A.K
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    G, taps, (H_out, W_out) = A.offset_groups, kh * kw, A.out

    # Sample points: (N, G, taps, H_out, W_out) each.
    offsets = A.offset.reshape(N, G, taps, 2, H_out, W_out)
    base_y, base_x = A.base_positions()
    py = base_y + offsets[:, :, :, 0]
    px = base_x + offsets[:, :, :, 1]
    # Each offset group samples its own block of C_in / G channels at its own points.
    samples = bilinear_sample(
        X.reshape(N * G, C_in // G, H, W), py.reshape(N * G, -1), px.reshape(N * G, -1)
    )  # (N * G, C_in / G, taps * H_out * W_out)
    samples = samples.reshape(N, G, C_in // G, taps, H_out * W_out)
    if A.mask is not None:
        samples = samples * A.mask.reshape(N, G, 1, taps, H_out * W_out)

    # What is left is an ordinary grouped convolution of the sampled columns (im2col + matmul).
    groups = A.groups
    columns = samples.reshape(N, groups, (C_in // groups) * taps, H_out * W_out)
    kernels = K.reshape(groups, C_out // groups, (C_in // groups) * taps)
    Y = torch.einsum("gok,ngkp->ngop", kernels, columns).reshape(N, C_out, H_out, W_out)
    if A.bias is not None:
        Y = Y + A.bias[None, :, None, None]
    return Y


def _bilinear_at(image: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """One point of one channel, torchvision's way. image: (H, W); py, px: 0-dim tensors."""
    H, W = image.shape
    y, x = float(py.detach()), float(px.detach())
    if y <= -1 or y >= H or x <= -1 or x >= W:
        return image.new_zeros(())
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = py - y0, px - x0
    value = image.new_zeros(())
    for yy, xx, weight in (
        (y0, x0, (1 - ly) * (1 - lx)),
        (y0, x0 + 1, (1 - ly) * lx),
        (y0 + 1, x0, ly * (1 - lx)),
        (y0 + 1, x0 + 1, ly * lx),
    ):
        if 0 <= yy < H and 0 <= xx < W:
            value = value + weight * image[yy, xx]
    return value


def deform_conv2d_reference(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Loop version of :func:`deform_conv2d` (same shapes): one output, tap, channel at a time."""
    A = _DeformArgs(input, offset, weight, bias, stride, padding, dilation, mask)
    X, K = A.X, A.K
    N, C_in, H, W = X.shape
    C_out, C_per_group, kh, kw = K.shape
    H_out, W_out = A.out
    (sh, sw), (ph, pw), (dh, dw) = A.stride, A.padding, A.dilation
    out_per_group = C_out // A.groups
    channels_per_offset_group = C_in // A.offset_groups
    outputs = []
    for n in range(N):
        for o in range(C_out):
            g = o // out_per_group  # weight group of this output channel
            for y in range(H_out):
                for x in range(W_out):
                    total = X.new_zeros(()) if A.bias is None else A.bias[o]
                    for c_local in range(C_per_group):
                        c = g * C_per_group + c_local
                        og = c // channels_per_offset_group  # its offset group
                        for i in range(kh):
                            for j in range(kw):
                                tap = og * kh * kw + i * kw + j
                                dy = A.offset[n, 2 * tap, y, x]
                                dx = A.offset[n, 2 * tap + 1, y, x]
                                py = y * sh - ph + i * dh + dy
                                px = x * sw - pw + j * dw + dx
                                value = _bilinear_at(X[n, c], py, px)
                                if A.mask is not None:
                                    value = value * A.mask[n, tap, y, x]
                                total = total + K[o, c_local, i, j] * value
                    outputs.append(total)
    if not outputs:
        return X.new_zeros(N, C_out, H_out, W_out)
    return torch.stack(outputs).reshape(N, C_out, H_out, W_out)
