"""Separable convolutions: depthwise separable (MobileNet, Xception) and spatially separable.

*Depthwise separable*: a depthwise convolution (each input channel filtered by its own
``depth_multiplier`` kh x kw kernels, ``groups=C_in``) followed by a pointwise 1x1 convolution that
mixes channels. 16 -> 32 channels with 3x3 kernels: 16*3*3 + 16*32 = 656 weights instead of
16*32*3*3 = 4608.

*Spatially separable*: a rank-1 kernel is an outer product, K = column x row, so one kh x kw pass
equals a kh x 1 pass then a 1 x kw pass (kh + kw weights instead of kh * kw). The Sobel kernel is
the classic case: [[1, 0, -1], [2, 0, -2], [1, 0, -1]] = [1, 2, 1]^T x [1, 0, -1] (6 vs 9).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ._args import (
    IntOrTuple,
    check_ndim,
    check_same_device_dtype,
    check_tensor,
    ntuple,
)
from .conv import Padding, conv2d, conv2d_reference

__all__ = [
    "depthwise_separable_conv2d",
    "depthwise_separable_conv2d_reference",
    "DepthwiseSeparableConv2d",
    "kernel_rank",
    "separate_kernel",
    "spatially_separable_conv2d",
    "SOBEL_X",
    "SOBEL_Y",
]

# Horizontal gradient (responds to vertical edges) and its transpose, written as outer products:
# SOBEL_X = [1, 2, 1]^T x [1, 0, -1] and SOBEL_Y = [1, 0, -1]^T x [1, 2, 1].
SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], dtype=torch.float64)
SOBEL_Y = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]], dtype=torch.float64)


def _check_bias(bias: object, name: str, size: int, X: torch.Tensor) -> torch.Tensor | None:
    if bias is None:
        return None
    B = check_tensor(bias, name)
    check_same_device_dtype(X, "input", B, name)
    if tuple(B.shape) != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {tuple(B.shape)}")
    return B


def _depthwise_separable(
    conv: Callable[..., torch.Tensor],
    input: torch.Tensor,
    depthwise_weight: torch.Tensor,
    pointwise_weight: torch.Tensor,
    depthwise_bias: torch.Tensor | None = None,
    pointwise_bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Check the shapes, then run the two steps with ``conv`` (fast or loop conv2d)."""
    X = check_tensor(input, "input")
    check_ndim(X, "input", (3, 4), "(N, C_in, H, W) or unbatched (C_in, H, W)")
    D = check_tensor(depthwise_weight, "depthwise_weight")
    P = check_tensor(pointwise_weight, "pointwise_weight")
    check_ndim(D, "depthwise_weight", (4,), "(C_in * multiplier, 1, kh, kw)")
    check_ndim(P, "pointwise_weight", (4,), "(C_out, C_in * multiplier, 1, 1)")
    check_same_device_dtype(X, "input", D, "depthwise_weight")
    check_same_device_dtype(X, "input", P, "pointwise_weight")
    in_channels = X.shape[-3]
    mid_channels = D.shape[0]
    if in_channels == 0 or D.shape[1] != 1 or mid_channels == 0 or mid_channels % in_channels:
        raise ValueError(
            f"depthwise_weight must be (C_in * multiplier, 1, kh, kw) with C_in={in_channels} "
            f"(one kernel set per input channel), got shape {tuple(D.shape)}"
        )
    if P.shape[1:] != (mid_channels, 1, 1):
        raise ValueError(
            f"pointwise_weight must be (C_out, C_in * multiplier, 1, 1) = (C_out, {mid_channels}, "
            f"1, 1) to follow depthwise_weight of shape {tuple(D.shape)}, got {tuple(P.shape)}"
        )
    depthwise_bias = _check_bias(depthwise_bias, "depthwise_bias", mid_channels, X)
    pointwise_bias = _check_bias(pointwise_bias, "pointwise_bias", P.shape[0], X)
    # groups=C_in: each input channel sees only its own `multiplier` kernels.
    Y = conv(X, D, depthwise_bias, stride, padding, dilation, groups=in_channels)
    return conv(Y, P, pointwise_bias)


def depthwise_separable_conv2d(
    input: torch.Tensor,
    depthwise_weight: torch.Tensor,
    pointwise_weight: torch.Tensor,
    depthwise_bias: torch.Tensor | None = None,
    pointwise_bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Depthwise kh x kw convolution per channel, then a pointwise 1x1 convolution.

    input: (N, C_in, H, W) or (C_in, H, W); depthwise_weight: (C_in * multiplier, 1, kh, kw);
    pointwise_weight: (C_out, C_in * multiplier, 1, 1); depthwise_bias: (C_in * multiplier,);
    pointwise_bias: (C_out,). stride, padding and dilation apply to the depthwise step.
    Returns (N, C_out, H_out, W_out) (or (C_out, H_out, W_out) for an unbatched input).
    """
    return _depthwise_separable(
        conv2d,
        input,
        depthwise_weight,
        pointwise_weight,
        depthwise_bias,
        pointwise_bias,
        stride,
        padding,
        dilation,
    )


def depthwise_separable_conv2d_reference(
    input: torch.Tensor,
    depthwise_weight: torch.Tensor,
    pointwise_weight: torch.Tensor,
    depthwise_bias: torch.Tensor | None = None,
    pointwise_bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Loop version of :func:`depthwise_separable_conv2d`: both steps use conv2d_reference."""
    return _depthwise_separable(
        conv2d_reference,
        input,
        depthwise_weight,
        pointwise_weight,
        depthwise_bias,
        pointwise_bias,
        stride,
        padding,
        dilation,
    )


class DepthwiseSeparableConv2d(nn.Module):
    """A depthwise separable layer, the drop-in for ``nn.Conv2d(in_channels, out_channels, k)``.

    Parameters: depthwise_weight (in_channels * depth_multiplier, 1, kh, kw), pointwise_weight
    (out_channels, in_channels * depth_multiplier, 1, 1), and their biases if ``bias``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: Padding = 0,
        dilation: IntOrTuple = 1,
        depth_multiplier: int = 1,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("depth_multiplier", depth_multiplier),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, got {type(bias).__name__} {bias!r}")
        kh, kw = ntuple(kernel_size, 2, "kernel_size")
        if kh < 1 or kw < 1:
            raise ValueError(f"kernel_size must be positive, got {(kh, kw)}")
        mid = in_channels * depth_multiplier
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.depthwise_weight = nn.Parameter(
            torch.empty(mid, 1, kh, kw, device=device, dtype=dtype)
        )
        self.pointwise_weight = nn.Parameter(
            torch.empty(out_channels, mid, 1, 1, device=device, dtype=dtype)
        )
        self.depthwise_bias = (
            nn.Parameter(torch.empty(mid, device=device, dtype=dtype)) if bias else None
        )
        self.pointwise_bias = (
            nn.Parameter(torch.empty(out_channels, device=device, dtype=dtype)) if bias else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Conv2d's initialisation for each of the two convolutions."""
        for weight, bias in (
            (self.depthwise_weight, self.depthwise_bias),
            (self.pointwise_weight, self.pointwise_bias),
        ):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            if bias is not None:
                fan_in = weight[0].numel()
                nn.init.uniform_(bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """input: (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out)."""
        return depthwise_separable_conv2d(
            input,
            self.depthwise_weight,
            self.pointwise_weight,
            self.depthwise_bias,
            self.pointwise_bias,
            self.stride,
            self.padding,
            self.dilation,
        )


def _check_kernel_2d(K: object) -> torch.Tensor:
    K = check_tensor(K, "K")
    check_ndim(K, "K", (2,), "(kh, kw)")
    if K.numel() == 0:
        raise ValueError(f"K must not be empty, got shape {tuple(K.shape)}")
    if K.is_complex():
        raise TypeError(f"K must be real, got {K.dtype}")
    return K if K.is_floating_point() else K.to(torch.float64)


def kernel_rank(K: torch.Tensor, tol: float | None = None) -> int:
    """Rank of a 2D kernel: the number of singular values above ``tol``.

    K: (kh, kw). ``tol`` defaults to sigma_max * max(kh, kw) * eps(K.dtype), the usual
    floating-point rounding allowance (NumPy's and torch.linalg.matrix_rank's default), so an
    outer product computed in floating point still counts as rank 1.
    """
    K = _check_kernel_2d(K)
    if tol is not None:
        if isinstance(tol, bool) or not isinstance(tol, (int, float)):
            raise TypeError(f"tol must be a number or None, got {type(tol).__name__} {tol!r}")
        if not tol >= 0:
            raise ValueError(f"tol must be non-negative, got {tol}")
    sigma = torch.linalg.svdvals(K)
    if tol is None:
        tol = float(sigma.max()) * max(K.shape) * torch.finfo(K.dtype).eps
    return int((sigma > tol).sum())


def separate_kernel(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a rank-1 kernel into ``(column, row)`` with ``column[:, None] * row[None, :] == K``.

    K: (kh, kw) -> column (kh,), row (kw,). The row is the kernel's largest row divided by its
    first large entry (at least half the row's largest magnitude, to avoid dividing by a tiny
    number), so integer kernels give integer factors: SOBEL_X -> ([1, 2, 1], [1, 0, -1]).
    Raises ``ValueError`` naming the rank if K is not separable (rank > 1).
    """
    K = _check_kernel_2d(K)
    rank = kernel_rank(K)
    if rank > 1:
        sigma = torch.linalg.svdvals(K)
        raise ValueError(
            f"K of shape {tuple(K.shape)} has rank {rank} (singular values "
            f"{[round(float(s), 6) for s in sigma]}), so it is not separable: only a rank-1 "
            f"kernel is an outer product column x row; use a full 2D convolution instead"
        )
    kh, kw = K.shape
    if rank == 0:
        return K.new_zeros(kh), K.new_zeros(kw)
    i = int(K.abs().argmax()) // kw  # the row holding the largest entry
    row = K[i]
    j = int((row.abs() >= row.abs().max() / 2).int().argmax())  # its first large entry
    return K[:, j].clone(), row / row[j]


def spatially_separable_conv2d(
    input: torch.Tensor,
    column: torch.Tensor,
    row: torch.Tensor,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
) -> torch.Tensor:
    """Filter every channel with the kernel column x row, as two 1D passes (kh x 1, then 1 x kw).

    input: (N, C, H, W) or (C, H, W); column: (kh,); row: (kw,). Equals ``conv2d`` with the
    outer-product kernel applied to each channel separately (groups=C); costs kh + kw multiplies
    per output instead of kh * kw. Returns (N, C, H_out, W_out).
    """
    X = check_tensor(input, "input")
    check_ndim(X, "input", (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    column = check_tensor(column, "column")
    row = check_tensor(row, "row")
    check_ndim(column, "column", (1,), "(kh,)")
    check_ndim(row, "row", (1,), "(kw,)")
    check_same_device_dtype(X, "input", column, "column")
    check_same_device_dtype(X, "input", row, "row")
    if column.numel() == 0 or row.numel() == 0:
        raise ValueError(
            f"column and row must not be empty, got {column.numel()} and {row.numel()}"
        )
    if isinstance(padding, str):
        pad_first: Padding = padding
        pad_second: Padding = padding
    else:
        ph, pw = ntuple(padding, 2, "padding")
        pad_first, pad_second = (ph, 0), (0, pw)
    sh, sw = ntuple(stride, 2, "stride")
    C = X.shape[-3]
    kh, kw = column.numel(), row.numel()
    # Pass 1 slides the column down (stride and padding along H only), pass 2 the row across.
    Y = conv2d(X, column.reshape(1, 1, kh, 1).repeat(C, 1, 1, 1), None, (sh, 1), pad_first, 1, C)
    return conv2d(Y, row.reshape(1, 1, 1, kw).repeat(C, 1, 1, 1), None, (1, sw), pad_second, 1, C)
