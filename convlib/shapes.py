"""Shape arithmetic for convolution, transposed convolution and pooling, written once.

Every op in convlib computes its output size with these functions, so the formula a chapter shows
is the formula the code runs. Sizes are per spatial dimension: pass ints and get an int back, pass
tuples (one entry per dimension) and get a tuple back.

    conv:            o = floor((i + 2p - d(k-1) - 1) / s) + 1
    conv_transpose:  o = (i - 1)s - 2p + d(k-1) + output_padding + 1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import overload

from ._args import IntOrTuple, check_nonnegative, check_positive, ntuple

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "pool_output_size",
    "same_padding",
    "receptive_field",
    "receptive_fields",
    "receptive_field_jumps",
    "conv_params",
    "conv_macs",
]


def _num_dims(*values: object, default: int = 1) -> int:
    """How many spatial dims the call is about: the length of the first tuple argument."""
    for value in values:
        if isinstance(value, Sequence) and not isinstance(value, str):
            return len(value)
    return default


def _returns_tuple(*values: object) -> bool:
    """Tuple in, tuple out: any per-dimension argument makes the result per-dimension."""
    return any(isinstance(v, Sequence) and not isinstance(v, str) for v in values)


@overload
def conv_output_size(
    size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int: ...
@overload
def conv_output_size(
    size: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> tuple[int, ...]: ...
def conv_output_size(
    size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> int | tuple[int, ...]:
    """Output length of a convolution along each spatial dim: floor((i + 2p - d(k-1) - 1)/s) + 1.

    size: input length i (int) or one length per spatial dim (tuple).
    Raises ``ValueError`` if the (dilated) kernel does not fit in the padded input.
    """
    n = _num_dims(size, kernel_size, stride, padding, dilation)
    sizes = ntuple(size, n, "size")
    kernel = ntuple(kernel_size, n, "kernel_size")
    strides = ntuple(stride, n, "stride")
    pads = ntuple(padding, n, "padding")
    dils = ntuple(dilation, n, "dilation")
    check_nonnegative(sizes, "size")
    check_positive(kernel, "kernel_size")
    check_positive(strides, "stride")
    check_nonnegative(pads, "padding")
    check_positive(dils, "dilation")
    out = []
    for dim, (i, k, s, p, d) in enumerate(zip(sizes, kernel, strides, pads, dils, strict=True)):
        padded = i + 2 * p
        effective_kernel = d * (k - 1) + 1
        if effective_kernel > padded:
            raise ValueError(
                f"kernel_size too large for the input in spatial dim {dim}: the effective kernel "
                f"dilation*(kernel_size-1)+1 = {d}*({k}-1)+1 = {effective_kernel} is larger than "
                f"the padded input size+2*padding = {i}+2*{p} = {padded}, so the output would be "
                f"empty; "
                f"use a larger input, more padding, or a smaller kernel_size/dilation"
            )
        out.append((padded - effective_kernel) // s + 1)
    return tuple(out) if _returns_tuple(size, kernel_size, stride, padding, dilation) else out[0]


@overload
def conv_transpose_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int: ...
@overload
def conv_transpose_output_size(
    size: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> tuple[int, ...]: ...
def conv_transpose_output_size(
    size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> int | tuple[int, ...]:
    """Output length of a transposed convolution: (i-1)s - 2p + d(k-1) + output_padding + 1.

    A stride-s convolution maps several input lengths to the same output length;
    ``output_padding`` (smaller than stride or dilation) picks which one the transpose returns.
    """
    n = _num_dims(size, kernel_size, stride, padding, output_padding, dilation)
    sizes = ntuple(size, n, "size")
    kernel = ntuple(kernel_size, n, "kernel_size")
    strides = ntuple(stride, n, "stride")
    pads = ntuple(padding, n, "padding")
    out_pads = ntuple(output_padding, n, "output_padding")
    dils = ntuple(dilation, n, "dilation")
    check_positive(sizes, "size")
    check_positive(kernel, "kernel_size")
    check_positive(strides, "stride")
    check_nonnegative(pads, "padding")
    check_nonnegative(out_pads, "output_padding")
    check_positive(dils, "dilation")
    out = []
    for dim, (i, k, s, p, op, d) in enumerate(
        zip(sizes, kernel, strides, pads, out_pads, dils, strict=True)
    ):
        if op >= s and op >= d:
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation, got "
                f"output_padding={out_pads}, stride={strides}, dilation={dils} (spatial dim {dim})"
            )
        o = (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        if o < 1:
            raise ValueError(
                f"padding too large for conv_transpose in spatial dim {dim}: "
                f"(size-1)*stride - 2*padding + dilation*(kernel_size-1) + output_padding + 1 = "
                f"({i}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1 = {o} < 1; use less padding"
            )
        out.append(o)
    return (
        tuple(out)
        if _returns_tuple(size, kernel_size, stride, padding, output_padding, dilation)
        else out[0]
    )


@overload
def pool_output_size(
    size: int,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int: ...
@overload
def pool_output_size(
    size: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> tuple[int, ...]: ...
def pool_output_size(
    size: IntOrTuple,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> int | tuple[int, ...]:
    """Output length of a pooling window, with PyTorch's rules.

    stride defaults to kernel_size. With ``ceil_mode=True`` the division rounds up, but a last
    window that would start in the right padding (past ``i + p``) is dropped. ``padding`` may be at
    most half the kernel size, as in PyTorch.
    """
    n = _num_dims(size, kernel_size, stride, padding, dilation)
    sizes = ntuple(size, n, "size")
    kernel = ntuple(kernel_size, n, "kernel_size")
    strides = kernel if stride is None else ntuple(stride, n, "stride")
    pads = ntuple(padding, n, "padding")
    dils = ntuple(dilation, n, "dilation")
    if not isinstance(ceil_mode, bool):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    check_nonnegative(sizes, "size")
    check_positive(kernel, "kernel_size")
    check_positive(strides, "stride")
    check_nonnegative(pads, "padding")
    check_positive(dils, "dilation")
    out = []
    for dim, (i, k, s, p, d) in enumerate(zip(sizes, kernel, strides, pads, dils, strict=True)):
        if p > k // 2:
            raise ValueError(
                f"padding should be at most half of kernel_size, got padding={pads} and "
                f"kernel_size={kernel} (spatial dim {dim})"
            )
        span = i + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        # ceil_mode may add a window that starts past the input and left padding: drop it.
        if ceil_mode and (o - 1) * s >= i + p:
            o -= 1
        if o < 1:
            raise ValueError(
                f"kernel_size too large for the input in spatial dim {dim}: the effective kernel "
                f"{d}*({k}-1)+1 = {d * (k - 1) + 1} is larger than the padded input "
                f"{i}+2*{p} = {i + 2 * p}, so the output would be empty"
            )
        out.append(o)
    return tuple(out) if _returns_tuple(size, kernel_size, stride, padding, dilation) else out[0]


@overload
def same_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]: ...
@overload
def same_padding(
    kernel_size: Sequence[int], dilation: IntOrTuple = 1
) -> tuple[tuple[int, int], ...]: ...
def same_padding(
    kernel_size: IntOrTuple, dilation: IntOrTuple = 1
) -> tuple[int, int] | tuple[tuple[int, int], ...]:
    """(left, right) padding that keeps a stride-1 convolution's output the input's size.

    The total is d(k-1); when it is odd, the extra zero goes on the right, as in PyTorch.
    """
    n = _num_dims(kernel_size, dilation)
    kernel = ntuple(kernel_size, n, "kernel_size")
    dils = ntuple(dilation, n, "dilation")
    check_positive(kernel, "kernel_size")
    check_positive(dils, "dilation")
    pairs = []
    for k, d in zip(kernel, dils, strict=True):
        total = d * (k - 1)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs) if _returns_tuple(kernel_size, dilation) else pairs[0]


Layer = Sequence[int]


def _layer_params(layers: Sequence[Layer]) -> list[tuple[int, int, int]]:
    if isinstance(layers, str) or not isinstance(layers, Sequence):
        raise TypeError(
            f"layers must be a sequence of (kernel_size, stride, dilation) tuples, got {layers!r}"
        )
    params = []
    for index, layer in enumerate(layers):
        if isinstance(layer, str) or not isinstance(layer, Sequence) or len(layer) not in (2, 3):
            raise ValueError(
                f"layers[{index}] must be (kernel_size, stride) or "
                f"(kernel_size, stride, dilation), "
                f"got {layer!r}"
            )
        k, s, d = (*layer, 1) if len(layer) == 2 else tuple(layer)
        values = ntuple((k, s, d), 3, f"layers[{index}]")
        check_positive(values, f"layers[{index}] (kernel_size, stride, dilation)")
        params.append((values[0], values[1], values[2]))
    return params


def receptive_fields(layers: Sequence[Layer]) -> list[int]:
    """Receptive field on the input of one output unit after each layer.

    layers: a sequence of ``(kernel_size, stride, dilation)`` (dilation may be left out).
    Layer l widens the field by d_l(k_l - 1) steps of the input distance between its neighbouring
    inputs, the product of the earlier strides (the "jump").
    """
    fields = []
    field, jump = 1, 1
    for k, s, d in _layer_params(layers):
        field += d * (k - 1) * jump
        jump *= s
        fields.append(field)
    return fields


def receptive_field_jumps(layers: Sequence[Layer]) -> list[int]:
    """Input distance between neighbouring output units after each layer (product of strides)."""
    jumps = []
    jump = 1
    for _, s, _ in _layer_params(layers):
        jump *= s
        jumps.append(jump)
    return jumps


def receptive_field(layers: Sequence[Layer]) -> int:
    """Receptive field on the input of one output unit of the last layer (1 for no layers)."""
    fields = receptive_fields(layers)
    return fields[-1] if fields else 1


def _check_channels(in_channels: int, out_channels: int, groups: int) -> None:
    for name, value in (
        ("in_channels", in_channels),
        ("out_channels", out_channels),
        ("groups", groups),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        check_positive((value,), name)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"in_channels={in_channels} and out_channels={out_channels} must both be divisible by "
            f"groups={groups}"
        )


def conv_params(
    in_channels: int,
    out_channels: int,
    kernel_size: IntOrTuple,
    groups: int = 1,
    bias: bool = True,
) -> int:
    """Learnable parameters: out_channels * (in_channels/groups) * prod(k), + out_channels bias.

    An int kernel_size means a square k x k kernel, as in ``nn.Conv2d``; pass ``(k,)`` for 1-d
    and ``(kd, kh, kw)`` for 3-d.
    """
    _check_channels(in_channels, out_channels, groups)
    kernel = ntuple(kernel_size, _num_dims(kernel_size, default=2), "kernel_size")
    check_positive(kernel, "kernel_size")
    weights = out_channels * (in_channels // groups) * math.prod(kernel)
    return weights + (out_channels if bias else 0)


def conv_macs(
    in_channels: int,
    out_channels: int,
    kernel_size: IntOrTuple,
    output_size: IntOrTuple,
    groups: int = 1,
) -> int:
    """Multiply-accumulates for one sample: prod(output_size) * out_channels * (in/groups) * prod(k)
    (a bias adds no multiplies). With only ints, kernel and output are square (2-d), as in
    ``conv_params``.
    """
    _check_channels(in_channels, out_channels, groups)
    n = _num_dims(kernel_size, output_size, default=2)
    kernel = ntuple(kernel_size, n, "kernel_size")
    out = ntuple(output_size, n, "output_size")
    check_positive(kernel, "kernel_size")
    check_nonnegative(out, "output_size")
    return math.prod(out) * out_channels * (in_channels // groups) * math.prod(kernel)
