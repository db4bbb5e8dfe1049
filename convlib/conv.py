"""Convolution and transposed convolution in 1, 2 and 3 spatial dimensions.

Like ``torch.nn.functional``, "convolution" here is cross-correlation:

    Y[n, o, y] = bias[o] + sum_{c in group(o), t} X[n, c, y*stride + t*dilation - pad] * K[o, c, t]

for every output position ``y`` and kernel tap ``t`` (one index per spatial dim).

Each op comes twice, with the same signature:

- ``conv2d`` etc., the fast default: a zero-copy ``as_strided`` view of every window, then one
  ``einsum`` (a batched matrix product, per group). Differentiable, any device and float dtype.
- ``conv2d_reference`` etc.: plain Python loops over output positions and kernel taps, to read.

Layout of the code: the public functions check and normalise their arguments with ``_conv_args`` /
``_conv_transpose_args`` (every error is raised there, before any computation), then call one
N-d kernel, ``_conv_nd_windows`` or ``_conv_transpose_nd_cols``, on a batched input.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._args import (
    IntOrTuple,
    check_floating,
    check_int,
    check_ndim,
    check_nonnegative,
    check_optional_tensor,
    check_positive,
    check_same_device_dtype,
    check_tensor,
    ntuple,
)
from .padding import pad
from .shapes import conv_output_size, conv_transpose_output_size, same_padding
from .unfold import _fold_nd, _windows

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv1d_reference",
    "conv2d_reference",
    "conv3d_reference",
    "conv_transpose1d_reference",
    "conv_transpose2d_reference",
    "conv_transpose3d_reference",
]

Padding = IntOrTuple | str
PaddingPairs = tuple[tuple[int, int], ...]
Index = tuple[int | slice, ...]

_LAYOUTS = {1: "L", 2: "H, W", 3: "D, H, W"}
_KERNEL = {1: "kl", 2: "kh, kw", 3: "kd, kh, kw"}


@dataclass(frozen=True)
class ConvArgs:
    """Checked, normalised arguments of a (transposed) convolution, one entry per spatial dim."""

    stride: tuple[int, ...]
    padding: PaddingPairs  # (left, right) per spatial dim; left != right only for 'same'
    dilation: tuple[int, ...]
    groups: int
    output_size: tuple[int, ...]
    unbatched: bool
    output_padding: tuple[int, ...] = ()  # transposed convolution only


def _flat_pad(padding: PaddingPairs) -> tuple[int, ...]:
    """(left, right) per dim, first dim first -> ``pad``'s flat tuple, last dim first."""
    return tuple(v for pair in reversed(padding) for v in pair)


def _check_common(
    dims: int,
    op: str,
    input: object,
    weight: object,
    bias: object,
    groups: object,
    weight_layout: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
    """Checks shared by conv and conv_transpose: types, dtype, device, dimensions, groups."""
    X = check_tensor(input, "input")
    K = check_tensor(weight, "weight")
    b = check_optional_tensor(bias, "bias")
    layout = _LAYOUTS[dims]
    check_ndim(
        X, "input", (dims + 1, dims + 2), f"(N, C_in, {layout}) or unbatched (C_in, {layout})"
    )
    check_ndim(K, "weight", (dims + 2,), weight_layout)
    check_floating(X, "input")
    check_same_device_dtype(X, "input", K, "weight")
    if b is not None:
        check_same_device_dtype(X, "input", b, "bias")
    g = check_int(groups, "groups")
    check_positive((g,), "groups")
    check_positive(tuple(K.shape[2:]), f"weight's kernel size ({_KERNEL[dims]}) in {op}")
    return X, K, b, g


def _check_bias(b: torch.Tensor | None, out_channels: int) -> None:
    if b is not None and tuple(b.shape) != (out_channels,):
        raise ValueError(
            f"bias must have shape (out_channels,) = ({out_channels},), got {tuple(b.shape)}"
        )


def _conv_args(
    dims: int,
    input: object,
    weight: object,
    bias: object,
    stride: IntOrTuple,
    padding: Padding,
    dilation: IntOrTuple,
    groups: object,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, ConvArgs]:
    """Validate a conv call; return batched X, K, bias and the normalised arguments."""
    op = f"conv{dims}d"
    X, K, b, g = _check_common(
        dims,
        op,
        input,
        weight,
        bias,
        groups,
        f"(out_channels, in_channels/groups, {_KERNEL[dims]})",
    )
    strides = ntuple(stride, dims, "stride")
    dil = ntuple(dilation, dims, "dilation")
    check_positive(strides, "stride")
    check_positive(dil, "dilation")
    kernel = tuple(K.shape[2:])
    pairs: PaddingPairs
    if isinstance(padding, str):
        if padding == "valid":
            pairs = ((0, 0),) * dims
        elif padding == "same":
            if any(s != 1 for s in strides):
                raise ValueError(
                    f"padding='same' is not supported with stride={strides} > 1: an output of the "
                    f"input's size needs stride 1; pass explicit padding instead"
                )
            pairs = same_padding(kernel, dil)
        else:
            raise ValueError(
                f"padding must be an int, a tuple of {dims} ints, 'same' or 'valid', "
                f"got {padding!r}"
            )
    else:
        pads = ntuple(padding, dims, "padding")
        check_nonnegative(pads, "padding")
        pairs = tuple((p, p) for p in pads)

    in_channels = X.shape[-dims - 1]
    out_channels = K.shape[0]
    if out_channels % g:
        raise ValueError(
            f"out_channels (weight.shape[0] = {out_channels}) must be divisible by groups={g}"
        )
    if in_channels % g:
        raise ValueError(
            f"in_channels (input channels = {in_channels}) must be divisible by groups={g}"
        )
    if in_channels != K.shape[1] * g:
        raise ValueError(
            f"in_channels mismatch: input has {in_channels} channels but weight expects "
            f"weight.shape[1] * groups = {K.shape[1]} * {g} = {K.shape[1] * g}; weight must be "
            f"(out_channels, in_channels/groups, {_KERNEL[dims]})"
        )
    _check_bias(b, out_channels)

    size = tuple(X.shape[-dims:])
    if all(left == right for left, right in pairs):
        out = conv_output_size(size, kernel, strides, tuple(p for p, _ in pairs), dil)
    else:  # asymmetric 'same' padding: apply the formula to the padded size
        padded = tuple(i + left + right for i, (left, right) in zip(size, pairs, strict=True))
        out = conv_output_size(padded, kernel, strides, 0, dil)
    unbatched = X.ndim == dims + 1
    if unbatched:
        X = X.unsqueeze(0)
    return X, K, b, ConvArgs(strides, pairs, dil, g, out, unbatched)


def _conv_transpose_args(
    dims: int,
    input: object,
    weight: object,
    bias: object,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: object,
    dilation: IntOrTuple,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, ConvArgs]:
    """Validate a conv_transpose call; return batched X, K, bias and the normalised arguments."""
    op = f"conv_transpose{dims}d"
    X, K, b, g = _check_common(
        dims,
        op,
        input,
        weight,
        bias,
        groups,
        f"(in_channels, out_channels/groups, {_KERNEL[dims]})",
    )
    if isinstance(padding, str):
        raise TypeError(
            f"{op} takes int or tuple padding, got padding={padding!r}; 'same'/'valid' exist only "
            f"for the forward convolution"
        )
    strides = ntuple(stride, dims, "stride")
    pads = ntuple(padding, dims, "padding")
    out_pads = ntuple(output_padding, dims, "output_padding")
    dil = ntuple(dilation, dims, "dilation")
    check_positive(strides, "stride")
    check_nonnegative(pads, "padding")
    check_nonnegative(out_pads, "output_padding")
    check_positive(dil, "dilation")

    in_channels = X.shape[-dims - 1]
    if in_channels % g:
        raise ValueError(
            f"in_channels (input channels = {in_channels}) must be divisible by groups={g}"
        )
    if in_channels != K.shape[0]:
        raise ValueError(
            f"in_channels mismatch: input has {in_channels} channels but weight.shape[0] = "
            f"{K.shape[0]}; a transposed-conv weight is (in_channels, out_channels/groups, "
            f"{_KERNEL[dims]})"
        )
    out_channels = K.shape[1] * g
    _check_bias(b, out_channels)
    kernel = tuple(K.shape[2:])
    out = conv_transpose_output_size(tuple(X.shape[-dims:]), kernel, strides, pads, out_pads, dil)
    unbatched = X.ndim == dims + 1
    if unbatched:
        X = X.unsqueeze(0)
    return X, K, b, ConvArgs(strides, tuple((p, p) for p in pads), dil, g, out, unbatched, out_pads)


def _add_bias(Y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Y: (N, C_out, *spatial); bias: (C_out,) broadcast over batch and positions."""
    if bias is None:
        return Y
    return Y + bias.view(1, -1, *([1] * (Y.ndim - 2)))


def _einsum_letters(dims: int) -> tuple[str, str]:
    """Index letters for output positions and kernel taps: ('xyz'[:dims], 'ijk'[:dims])."""
    return "xyz"[:dims], "ijk"[:dims]


# ---------------------------------------------------------------------------------------------
# fast path


def _conv_nd_windows(
    X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None, args: ConvArgs
) -> torch.Tensor:
    """N-d convolution of already validated arguments: windows view + one einsum.

    X: (N, C_in, *spatial) batched; K: (C_out, C_in/groups, *k); returns (N, C_out, *out).
    """
    dims = X.ndim - 2
    N, in_channels = X.shape[:2]
    out_channels, kernel = K.shape[0], tuple(K.shape[2:])
    g = args.groups
    if any(left or right for left, right in args.padding):
        X = pad(X, _flat_pad(args.padding))
    # (N, C_in, *out, *k), split into groups
    W = _windows(X, kernel, args.stride, args.dilation)
    W = W.view(N, g, in_channels // g, *args.output_size, *kernel)
    Kg = K.view(g, out_channels // g, in_channels // g, *kernel)
    pos, taps = _einsum_letters(dims)
    # sum over the input channels of the group (c) and every kernel tap
    # (kernel first: einsum then picks a faster matmul layout)
    Y = torch.einsum(f"goc{taps},ngc{pos}{taps}->ngo{pos}", Kg, W)
    return _add_bias(Y.reshape(N, out_channels, *args.output_size), bias)


def _conv_transpose_nd_cols(
    X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None, args: ConvArgs
) -> torch.Tensor:
    """N-d transposed convolution of already validated arguments: one einsum + col2im.

    Each input value X[n, c, y] scatters ``X[n, c, y] * K[c, o, t]`` to output position
    ``y*stride + t*dilation - padding``: compute all those products as columns with one einsum,
    then add them into place with ``_fold_nd`` (the adjoint of the windows view) and crop padding.
    X: (N, C_in, *in); K: (C_in, C_out/groups, *k); returns (N, C_out, *out).
    """
    dims = X.ndim - 2
    N, in_channels = X.shape[:2]
    size = tuple(X.shape[2:])
    kernel = tuple(K.shape[2:])
    g = args.groups
    out_per_group = K.shape[1]
    pos, taps = _einsum_letters(dims)
    cols = torch.einsum(
        f"ngc{pos},goc{taps}->ngo{taps}{pos}",
        X.view(N, g, in_channels // g, *size),
        K.view(g, in_channels // g, out_per_group, *kernel).transpose(1, 2),
    ).reshape(N, g * out_per_group, *kernel, *size)
    full = tuple(
        (i - 1) * s + d * (k - 1) + 1 + op
        for i, s, d, k, op in zip(
            size, args.stride, args.dilation, kernel, args.output_padding, strict=True
        )
    )
    Y = _fold_nd(cols, full, args.stride, args.dilation)
    crop = tuple(slice(p, p + o) for (p, _), o in zip(args.padding, args.output_size, strict=True))
    return _add_bias(Y[(slice(None), slice(None), *crop)], bias)


# ---------------------------------------------------------------------------------------------
# loop references


def _conv_nd_loops(
    X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None, args: ConvArgs
) -> torch.Tensor:
    """Loop convolution: for each output position, sum over kernel taps of channel dot products.

    X: (N, C_in, *spatial); K: (C_out, C_in/groups, *k); returns (N, C_out, *out).
    """
    X = pad(X, _flat_pad(args.padding))
    N, in_channels = X.shape[:2]
    out_channels, kernel = K.shape[0], tuple(K.shape[2:])
    in_per_group = in_channels // args.groups
    out_per_group = out_channels // args.groups
    Y = X.new_zeros(N, out_channels, *args.output_size)
    for n in range(N):
        for o in range(out_channels):
            g = o // out_per_group  # output channel o only sees the input channels of its group
            group_channels = slice(g * in_per_group, (g + 1) * in_per_group)
            for y in itertools.product(*(range(size) for size in args.output_size)):
                total = X.new_zeros(()) if bias is None else bias[o]
                for t in itertools.product(*(range(k) for k in kernel)):
                    x = tuple(
                        yi * s + ti * d
                        for yi, ti, s, d in zip(y, t, args.stride, args.dilation, strict=True)
                    )
                    pixel: Index = (n, group_channels, *x)  # the group's channels at x
                    tap: Index = (o, slice(None), *t)  # kernel o's weights for them at tap t
                    total = total + torch.dot(X[pixel], K[tap])
                Y[(n, o, *y)] = total
    return Y


def _conv_transpose_nd_loops(
    X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None, args: ConvArgs
) -> torch.Tensor:
    """Loop transposed convolution: every input value spreads a kernel-sized patch onto the output.

    X: (N, C_in, *in); K: (C_in, C_out/groups, *k); returns (N, C_out, *out).
    """
    N, in_channels = X.shape[:2]
    size, kernel = tuple(X.shape[2:]), tuple(K.shape[2:])
    in_per_group, out_per_group = in_channels // args.groups, K.shape[1]
    # Accumulate into the output before its padding is cropped: every y below lands inside it.
    full = [o + 2 * p for o, (p, _) in zip(args.output_size, args.padding, strict=True)]
    Y = X.new_zeros(N, args.groups * out_per_group, *full)
    for n in range(N):
        for g in range(args.groups):
            in_channels_g = slice(g * in_per_group, (g + 1) * in_per_group)
            out_channels_g = slice(g * out_per_group, (g + 1) * out_per_group)
            for x in itertools.product(*(range(i) for i in size)):
                for t in itertools.product(*(range(k) for k in kernel)):
                    y = tuple(
                        xi * s + ti * d
                        for xi, ti, s, d in zip(x, t, args.stride, args.dilation, strict=True)
                    )
                    pixel: Index = (n, in_channels_g, *x)
                    tap: Index = (in_channels_g, slice(None), *t)
                    target: Index = (n, out_channels_g, *y)
                    # (C_in/g,) @ (C_in/g, C_out/g): this input pixel's contribution at tap t
                    Y[target] += X[pixel] @ K[tap]
    crop = tuple(slice(p, p + o) for (p, _), o in zip(args.padding, args.output_size, strict=True))
    return _add_bias(Y[(slice(None), slice(None), *crop)], bias)


# ---------------------------------------------------------------------------------------------
# public API

Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, ConvArgs], torch.Tensor]


def _algorithm_kernel(algorithm: str) -> Kernel:
    """N-d kernel for ``conv*d(..., algorithm=...)``: ``"windows"`` (this module's einsum path),
    or one of ``convlib.algorithms`` (``"auto"``, ``"im2col"``, ``"pointwise"``, ``"depthwise"``,
    ``"winograd"``, ``"fft"``), which take symmetric zero padding as ints."""
    from .algorithms import ALGORITHMS
    from .algorithms import conv as algorithms_conv

    if algorithm == "windows":
        return _conv_nd_windows
    if not isinstance(algorithm, str) or (algorithm != "auto" and algorithm not in ALGORITHMS):
        names = ["auto", "windows", *sorted(ALGORITHMS)]
        raise ValueError(f"algorithm must be one of {names}, got {algorithm!r}")

    def kernel(
        X: torch.Tensor, K: torch.Tensor, b: torch.Tensor | None, args: ConvArgs
    ) -> torch.Tensor:
        padding = tuple(left for left, _ in args.padding)
        if any(left != right for left, right in args.padding):
            # asymmetric 'same' padding (even kernels): pad here, the algorithms pad symmetrically
            X, padding = pad(X, _flat_pad(args.padding)), (0,) * len(args.padding)
        return algorithms_conv(
            X, K, b, args.stride, padding, args.dilation, args.groups, algorithm=algorithm
        )

    return kernel


def _transpose_algorithm_kernel(algorithm: str) -> Kernel:
    """N-d kernel for ``conv_transpose*d(..., algorithm=...)``: ``"windows"`` (einsum + fold,
    this module) or ``"auto"`` / a ``convlib.algorithms.TRANSPOSE_ALGORITHMS`` name."""
    from .algorithms import TRANSPOSE_ALGORITHMS
    from .algorithms import conv_transpose as algorithms_conv_transpose

    if algorithm == "windows":
        return _conv_transpose_nd_cols
    if not isinstance(algorithm, str) or (
        algorithm != "auto" and algorithm not in TRANSPOSE_ALGORITHMS
    ):
        names = ["auto", "windows", *sorted(TRANSPOSE_ALGORITHMS)]
        raise ValueError(f"algorithm must be one of {names}, got {algorithm!r}")

    def kernel(
        X: torch.Tensor, K: torch.Tensor, b: torch.Tensor | None, args: ConvArgs
    ) -> torch.Tensor:
        padding = tuple(left for left, _ in args.padding)  # always symmetric for transposed
        return algorithms_conv_transpose(
            X,
            K,
            b,
            args.stride,
            padding,
            args.output_padding,
            args.groups,
            args.dilation,
            algorithm=algorithm,
        )

    return kernel


def _conv(
    dims: int,
    kernel_fn: Kernel,
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrTuple,
    padding: Padding,
    dilation: IntOrTuple,
    groups: int,
) -> torch.Tensor:
    X, K, b, args = _conv_args(dims, input, weight, bias, stride, padding, dilation, groups)
    Y = kernel_fn(X, K, b, args)
    return Y.squeeze(0) if args.unbatched else Y


def _conv_transpose(
    dims: int,
    kernel_fn: Kernel,
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
) -> torch.Tensor:
    X, K, b, args = _conv_transpose_args(
        dims, input, weight, bias, stride, padding, output_padding, groups, dilation
    )
    Y = kernel_fn(X, K, b, args)
    return Y.squeeze(0) if args.unbatched else Y


def conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """1-d convolution (cross-correlation), like ``torch.nn.functional.conv1d``.

    input: (N, C_in, L) or unbatched (C_in, L); weight: (C_out, C_in/groups, kl); bias: (C_out,).
    padding: int, (p,), 'same' or 'valid'. Returns (N, C_out, L_out).

    algorithm: "auto" (default, picked from the shape), "windows" or a convlib.algorithms name.
    """
    kernel = _algorithm_kernel(algorithm)
    return _conv(1, kernel, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """2-d convolution (cross-correlation), like ``torch.nn.functional.conv2d``.

    input: (N, C_in, H, W) or unbatched (C_in, H, W); weight: (C_out, C_in/groups, kh, kw);
    bias: (C_out,). padding: int, (ph, pw), 'same' or 'valid'. Returns (N, C_out, H_out, W_out).

    algorithm: "auto" (default, picked from the shape), "windows" or a convlib.algorithms name.
    """
    kernel = _algorithm_kernel(algorithm)
    return _conv(2, kernel, input, weight, bias, stride, padding, dilation, groups)


def conv3d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """3-d convolution (cross-correlation), like ``torch.nn.functional.conv3d``.

    input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W);
    weight: (C_out, C_in/groups, kd, kh, kw);
    bias: (C_out,). padding: int, (pd, ph, pw), 'same' or 'valid'. Returns (N, C_out, D', H', W').

    algorithm: "auto" (default, picked from the shape), "windows" or a convlib.algorithms name.
    """
    kernel = _algorithm_kernel(algorithm)
    return _conv(3, kernel, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """1-d transposed convolution, like ``torch.nn.functional.conv_transpose1d``.

    input: (N, C_in, L) or unbatched (C_in, L); weight: (C_in, C_out/groups, kl); bias: (C_out,).
    Returns (N, C_out, L_out) with
    L_out = (L-1)*stride - 2*padding + dilation*(kl-1) + output_padding + 1.

    algorithm: "auto" (default, picked from the shape), "windows" (this module's einsum + fold)
    or a ``convlib.algorithms.TRANSPOSE_ALGORITHMS`` name ("phase", "gemm").
    """
    return _conv_transpose(
        1,
        _transpose_algorithm_kernel(algorithm),
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """2-d transposed convolution, like ``torch.nn.functional.conv_transpose2d``.

    input: (N, C_in, H, W) or unbatched (C_in, H, W); weight: (C_in, C_out/groups, kh, kw);
    bias: (C_out,). Returns (N, C_out, H_out, W_out), sizes from ``conv_transpose_output_size``.

    algorithm: "auto" (default, picked from the shape), "windows" (this module's einsum + fold)
    or a ``convlib.algorithms.TRANSPOSE_ALGORITHMS`` name ("phase", "gemm").
    """
    return _conv_transpose(
        2,
        _transpose_algorithm_kernel(algorithm),
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose3d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    *,
    algorithm: str = "auto",
) -> torch.Tensor:
    """3-d transposed convolution, like ``torch.nn.functional.conv_transpose3d``.

    input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W);
    weight: (C_in, C_out/groups, kd, kh, kw);
    bias: (C_out,). Returns (N, C_out, D', H', W'), sizes from ``conv_transpose_output_size``.

    algorithm: "auto" (default, picked from the shape), "windows" (this module's einsum + fold)
    or a ``convlib.algorithms.TRANSPOSE_ALGORITHMS`` name ("phase", "gemm").
    """
    return _conv_transpose(
        3,
        _transpose_algorithm_kernel(algorithm),
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv1d_reference(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Loop version of :func:`conv1d` (same arguments and checks)."""
    return _conv(1, _conv_nd_loops, input, weight, bias, stride, padding, dilation, groups)


def conv2d_reference(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Loop version of :func:`conv2d` (same arguments and checks)."""
    return _conv(2, _conv_nd_loops, input, weight, bias, stride, padding, dilation, groups)


def conv3d_reference(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Loop version of :func:`conv3d` (same arguments and checks)."""
    return _conv(3, _conv_nd_loops, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d_reference(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Loop version of :func:`conv_transpose1d` (same arguments and checks)."""
    return _conv_transpose(
        1,
        _conv_transpose_nd_loops,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose2d_reference(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Loop version of :func:`conv_transpose2d` (same arguments and checks)."""
    return _conv_transpose(
        2,
        _conv_transpose_nd_loops,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )


def conv_transpose3d_reference(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> torch.Tensor:
    """Loop version of :func:`conv_transpose3d` (same arguments and checks)."""
    return _conv_transpose(
        3,
        _conv_transpose_nd_loops,
        input,
        weight,
        bias,
        stride,
        padding,
        output_padding,
        groups,
        dilation,
    )
