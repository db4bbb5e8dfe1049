"""Max and average pooling, 1D/2D/3D, with ``torch.nn.functional``'s signatures and rules.

A pooling layer slides a window over each channel and reduces it to one number: its maximum or
its mean. There are no weights. The fast path builds every window at once as a strided view of the
padded input (``as_strided``: no copy, each window is a different offset into the same memory) and
reduces it in one call. The loop ``*_reference`` beside each op visits the windows one by one.

PyTorch's rules, kept exactly:

* ``stride`` defaults to ``kernel_size``, also when given as an empty tuple or list (``stride=()``,
  the default of ``nn.MaxPool2d``); ``padding`` is at most ``kernel_size // 2``.
* Max pooling pads with ``-inf`` (padding never wins); average pooling pads with zeros.
* ``ceil_mode=True`` rounds the output size up, so a last window may hang past the right padding,
  but a window that would start inside the right padding is dropped
  (:func:`convlib.shapes.pool_output_size`).
* Average pooling divides by the window's size clipped to input + padding
  (``count_include_pad=True``), by the number of input elements in it (``False``), or by
  ``divisor_override``. So a window hanging off the end counts only its in-bounds + padding part.
* ``return_indices=True`` also returns, for each output, the flat index of the maximum within its
  channel (``h * W + w`` in 2D). Ties go to the first maximum in row-major window order, a NaN wins
  (the last NaN met), and a window whose maximum is ``-inf`` points at its first position that is
  not in the left padding, as PyTorch does.

Adaptive pooling (``adaptive_avg_pool1d/2d/3d``, ``adaptive_max_pool1d/2d/3d``) takes an output
size instead of a window: output cell ``i`` of a dim of size ``L`` pools the bin
``[floor(i L / out), ceil((i + 1) L / out))``, PyTorch's rule, so neighbouring bins may overlap.
An output size ``None`` (2d/3d) keeps that dim's input size.

Inputs must be floating point (PyTorch's max_pool2d/3d also take integer tensors; convlib does not).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from ._args import IntOrTuple, check_ndim, check_nonnegative, check_positive, check_tensor, ntuple
from .padding import pad
from .shapes import pool_output_size

__all__ = [
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "max_pool1d_reference",
    "max_pool2d_reference",
    "max_pool3d_reference",
    "avg_pool1d_reference",
    "avg_pool2d_reference",
    "avg_pool3d_reference",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
]

PoolResult = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
_LAYOUTS = {1: "(N, C, L) or unbatched (C, L)", 2: "(N, C, H, W) or unbatched (C, H, W)"}
_LAYOUTS[3] = "(N, C, D, H, W) or unbatched (C, D, H, W)"


class _Pool:
    """The checked arguments of one pooling call, with the input made batched."""

    def __init__(
        self,
        op: str,
        n: int,
        input: object,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None,
        padding: IntOrTuple,
        dilation: IntOrTuple,
        ceil_mode: object,
    ) -> None:
        X = check_tensor(input, "input")
        check_ndim(X, "input", (n + 1, n + 2), _LAYOUTS[n])
        if not X.is_floating_point():
            raise TypeError(
                f"{op}: input must have a real floating-point dtype, got {X.dtype}; "
                f"convert with input.float()"
            )
        self.unbatched = X.ndim == n + 1
        self.X = X.unsqueeze(0) if self.unbatched else X
        channels_and_size = tuple(self.X.shape[1:])
        if min(channels_and_size) == 0:
            raise ValueError(
                f"{op}: input must have non-empty channel and spatial dims (only the batch dim "
                f"may be 0), got shape {tuple(X.shape)}"
            )
        self.kernel = ntuple(kernel_size, n, "kernel_size")
        check_positive(self.kernel, "kernel_size")
        # PyTorch: an omitted stride (None, or an empty tuple/list such as nn.MaxPool2d's
        # default ``stride=()``) means stride = kernel_size.
        omitted = stride is None or (
            isinstance(stride, Sequence) and not isinstance(stride, str) and len(stride) == 0
        )
        self.stride = self.kernel if omitted or stride is None else ntuple(stride, n, "stride")
        check_positive(self.stride, "stride")
        self.padding = ntuple(padding, n, "padding")
        check_nonnegative(self.padding, "padding")
        self.dilation = ntuple(dilation, n, "dilation")
        check_positive(self.dilation, "dilation")
        _check_bool(ceil_mode, "ceil_mode")
        for dim, (k, p) in enumerate(zip(self.kernel, self.padding, strict=True)):
            if p > k // 2:
                raise ValueError(
                    f"{op}: padding must be at most half of kernel_size, got padding="
                    f"{self.padding} and kernel_size={self.kernel} (spatial dim {dim} allows at "
                    f"most {k // 2}); use padding <= kernel_size // 2"
                )
        self.size = tuple(self.X.shape[2:])
        self.out = pool_output_size(
            self.size, self.kernel, self.stride, self.padding, self.dilation, bool(ceil_mode)
        )
        self.n = n

    def right_padding(self) -> tuple[int, ...]:
        """Padding after each dim's end: ``padding``, or more if a ceil_mode window overhangs."""
        return tuple(
            max(p, (o - 1) * s + d * (k - 1) + 1 - p - i)
            for i, o, k, s, p, d in zip(
                self.size,
                self.out,
                self.kernel,
                self.stride,
                self.padding,
                self.dilation,
                strict=True,
            )
        )

    def windows(self, value: float) -> torch.Tensor:
        """Every window as a view: (N, C, *out, *kernel), padding filled with ``value``."""
        pads: list[int] = []
        for left, right in zip(self.padding, self.right_padding(), strict=True):
            pads = [left, right, *pads]  # torch's pad order: last dim first
        Xp = pad(self.X, pads, value=value)
        N, C = Xp.shape[:2]
        sN, sC, *s_dims = Xp.stride()
        return Xp.as_strided(
            size=(N, C, *self.out, *self.kernel),
            stride=(
                sN,
                sC,
                *(st * s for st, s in zip(s_dims, self.stride, strict=True)),
                *(st * d for st, d in zip(s_dims, self.dilation, strict=True)),
            ),
            storage_offset=Xp.storage_offset(),
        )

    def coordinates(self, dim: int, device: torch.device) -> torch.Tensor:
        """Input coordinate of window element j of output o along ``dim``: (out, kernel)."""
        s, p, d = self.stride[dim], self.padding[dim], self.dilation[dim]
        o = torch.arange(self.out[dim], device=device)
        j = torch.arange(self.kernel[dim], device=device)
        return o[:, None] * s - p + j[None, :] * d

    def finish(self, Y: torch.Tensor) -> torch.Tensor:
        return Y.squeeze(0) if self.unbatched else Y


def _check_bool(value: object, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(
            f"{name} must be a bool (True or False), got {type(value).__name__} {value!r}"
        )


def _outer(per_dim: list[torch.Tensor], combine: str) -> torch.Tensor:
    """Combine one (out_i, k_i) table per dim into (*out, *kernel): sum or product over dims."""
    n = len(per_dim)
    parts = []
    for dim, table in enumerate(per_dim):
        shape = [1] * (2 * n)
        shape[dim], shape[n + dim] = table.shape
        parts.append(table.reshape(shape))
    result = parts[0]
    for part in parts[1:]:
        result = result + part if combine == "sum" else result * part
    return result


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------


def _max_pool(P: _Pool, return_indices: object) -> PoolResult:
    _check_bool(return_indices, "return_indices")
    n, out = P.n, P.out
    N, C = P.X.shape[:2]
    K = math.prod(P.kernel)
    windows = P.windows(float("-inf")).reshape(N, C, *out, K)  # one row per window

    position = windows.argmax(dim=-1)  # first maximum in row-major window order
    # PyTorch keeps the last NaN it meets: find it by searching the reversed window.
    is_nan = windows.isnan()
    last_nan = K - 1 - is_nan.flip(-1).to(torch.uint8).argmax(dim=-1)
    position = torch.where(is_nan.any(dim=-1), last_nan, position)

    coords = [P.coordinates(dim, P.X.device) for dim in range(n)]
    in_bounds = _outer(
        [(c >= 0) & (c < size) for c, size in zip(coords, P.size, strict=True)], "product"
    ).reshape(*out, K)
    # A padding element only wins when the whole window is -inf; PyTorch then reports the window's
    # first element not in the left padding, which may lie past the input (an all-padding window).
    first = [(c < 0).sum(dim=1) for c in coords]  # first element >= 0, per dim: (out_i,)
    first_position = _outer(
        [f[:, None] * math.prod(P.kernel[dim + 1 :]) for dim, f in enumerate(first)], "sum"
    ).reshape(out)
    picked_padding = ~in_bounds.expand(N, C, *out, K).gather(-1, position[..., None])[..., 0]
    position = torch.where(picked_padding, first_position.expand_as(position), position)

    # Gather (rather than take the max) so the gradient goes to the element the index names.
    Y = P.finish(windows.gather(-1, position[..., None])[..., 0])
    if not return_indices:
        return Y
    strides = [math.prod(P.size[dim + 1 :]) for dim in range(n)]
    flat_index = _outer([c * st for c, st in zip(coords, strides, strict=True)], "sum")
    flat_index = flat_index.reshape(*out, K).expand(N, C, *out, K)
    indices = flat_index.gather(-1, position[..., None])[..., 0]
    return Y, P.finish(indices)


def max_pool1d(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> PoolResult:
    """Max over each window. input: (N, C, L) or (C, L) -> (N, C, L_out) [, indices]."""
    P = _Pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool(P, return_indices)


def max_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> PoolResult:
    """Max over each window. input: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) [, indices]"""
    P = _Pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool(P, return_indices)


def max_pool3d(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> PoolResult:
    """Max over each window. input: (N, C, D, H, W) or (C, D, H, W) -> (N, C, D_o, H_o, W_o)"""
    P = _Pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool(P, return_indices)


# ---------------------------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------------------------


def _check_divisor(divisor_override: object) -> int | None:
    if divisor_override is None:
        return None
    if isinstance(divisor_override, bool) or not isinstance(divisor_override, int):
        raise TypeError(
            f"divisor_override must be None or an int, got {type(divisor_override).__name__} "
            f"{divisor_override!r}"
        )
    if divisor_override == 0:
        raise ValueError("divisor_override must not be 0; pass None to divide by the window size")
    return divisor_override


def _check_kernel_fits_unpadded(P: _Pool) -> None:
    """PyTorch's avg_pool3d (only) also wants the kernel to fit in the input without padding."""
    if any(k > i for k, i in zip(P.kernel, P.size, strict=True)):
        raise ValueError(
            f"avg_pool3d: input of spatial size {P.size} is smaller than kernel_size={P.kernel}; "
            f"PyTorch's avg_pool3d requires the kernel to fit without padding, so use a smaller "
            f"kernel_size or a larger input"
        )


def _window_counts(P: _Pool, count_include_pad: bool) -> list[torch.Tensor]:
    """Per dim, how many positions each output's window counts: (out_i,) each (PyTorch's rule)."""
    counts = []
    for dim, (i, k, p) in enumerate(zip(P.size, P.kernel, P.padding, strict=True)):
        start = torch.arange(P.out[dim], device=P.X.device) * P.stride[dim] - p
        end = torch.clamp(start + k, max=i + p)  # a ceil_mode window stops at the padding's end
        if not count_include_pad:
            start, end = start.clamp(min=0), end.clamp(max=i)
        counts.append(end - start)
    return counts


def _avg_pool(P: _Pool, count_include_pad: object, divisor_override: object) -> torch.Tensor:
    _check_bool(count_include_pad, "count_include_pad")
    divisor = _check_divisor(divisor_override)
    n = P.n
    total = P.windows(0.0).sum(dim=tuple(range(-n, 0)))  # (N, C, *out)
    if divisor is not None:
        return P.finish(total / divisor)
    counts = _window_counts(P, bool(count_include_pad))
    size = counts[0]
    for dim in range(1, n):
        size = size[..., None] * counts[dim]  # outer product: (*out)
    return P.finish(total / size.to(total.dtype))


def avg_pool1d(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """Mean over each window. input: (N, C, L) or (C, L) -> (N, C, L_out)."""
    P = _Pool("avg_pool1d", 1, input, kernel_size, stride, padding, 1, ceil_mode)
    return _avg_pool(P, count_include_pad, None)


def avg_pool2d(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> torch.Tensor:
    """Mean over each window. input: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out)."""
    P = _Pool("avg_pool2d", 2, input, kernel_size, stride, padding, 1, ceil_mode)
    return _avg_pool(P, count_include_pad, divisor_override)


def avg_pool3d(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> torch.Tensor:
    """Mean over each window. input: (N, C, D, H, W) or (C, D, H, W) -> (N, C, D_o, H_o, W_o)"""
    P = _Pool("avg_pool3d", 3, input, kernel_size, stride, padding, 1, ceil_mode)
    _check_kernel_fits_unpadded(P)
    return _avg_pool(P, count_include_pad, divisor_override)


# ---------------------------------------------------------------------------------------------
# Loop references: one window at a time, no padding tensor (out-of-range positions are skipped)
# ---------------------------------------------------------------------------------------------


def _window_positions(P: _Pool, o: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Input coordinates of every element of the window of output ``o``, row-major."""
    starts = [oi * s - p for oi, s, p in zip(o, P.stride, P.padding, strict=True)]
    offsets = itertools.product(*(range(k) for k in P.kernel))
    return [
        tuple(st + j * d for st, j, d in zip(starts, js, P.dilation, strict=True)) for js in offsets
    ]


def _max_pool_loop(P: _Pool, return_indices: object) -> PoolResult:
    _check_bool(return_indices, "return_indices")
    X = P.X
    N, C = X.shape[:2]
    values = torch.empty(N, C, *P.out, dtype=X.dtype, device=X.device)
    indices = torch.empty(N, C, *P.out, dtype=torch.long, device=X.device)
    outputs = []
    for n, c in itertools.product(range(N), range(C)):
        for o in itertools.product(*(range(s) for s in P.out)):
            window = _window_positions(P, o)
            # Start like PyTorch: value -inf at the first position not in the left padding.
            first = window[0]
            for pos in window:
                if all(x >= 0 for x in pos):
                    first = pos
                    break
            best_value, best_pos = float("-inf"), first
            for pos in window:
                if not all(0 <= x < size for x, size in zip(pos, P.size, strict=True)):
                    continue
                value = X[(n, c, *pos)].item()
                if value > best_value or math.isnan(value):
                    best_value, best_pos = value, pos
            flat = 0
            for x, size in zip(best_pos, P.size, strict=True):
                flat = flat * size + x
            indices[(n, c, *o)] = flat
            inside = all(0 <= x < size for x, size in zip(best_pos, P.size, strict=True))
            # Index the input (not the float) so that autograd can follow the maximum.
            outputs.append(X[(n, c, *best_pos)] if inside else X.new_tensor(float("-inf")))
    if outputs:
        values = torch.stack(outputs).reshape(N, C, *P.out)
    Y = P.finish(values)
    return (Y, P.finish(indices)) if return_indices else Y


def _avg_pool_loop(P: _Pool, count_include_pad: object, divisor_override: object) -> torch.Tensor:
    _check_bool(count_include_pad, "count_include_pad")
    divisor = _check_divisor(divisor_override)
    X = P.X
    N, C = X.shape[:2]
    outputs = []
    for n, c in itertools.product(range(N), range(C)):
        for o in itertools.product(*(range(s) for s in P.out)):
            window = _window_positions(P, o)
            total = X.new_zeros(())
            inside_count = 0
            for pos in window:
                if all(0 <= x < size for x, size in zip(pos, P.size, strict=True)):
                    total = total + X[(n, c, *pos)]
                    inside_count += 1
            # Count input + padding, but not what hangs past the padding (ceil_mode).
            padded_count = 1
            for x0, k, p, size in zip(window[0], P.kernel, P.padding, P.size, strict=True):
                padded_count *= min(x0 + k, size + p) - x0
            if divisor is not None:
                outputs.append(total / divisor)
            elif count_include_pad:
                outputs.append(total / padded_count)
            else:
                outputs.append(total / inside_count)
    if not outputs:
        return P.finish(X.new_zeros(N, C, *P.out))
    return P.finish(torch.stack(outputs).reshape(N, C, *P.out))


def max_pool1d_reference(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> PoolResult:
    """Loop version of :func:`max_pool1d`. input: (N, C, L) or (C, L)."""
    P = _Pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool_loop(P, return_indices)


def max_pool2d_reference(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> PoolResult:
    """Loop version of :func:`max_pool2d`. input: (N, C, H, W) or (C, H, W)."""
    P = _Pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool_loop(P, return_indices)


def max_pool3d_reference(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> PoolResult:
    """Loop version of :func:`max_pool3d`. input: (N, C, D, H, W) or (C, D, H, W)."""
    P = _Pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode)
    return _max_pool_loop(P, return_indices)


def avg_pool1d_reference(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """Loop version of :func:`avg_pool1d`. input: (N, C, L) or (C, L)."""
    P = _Pool("avg_pool1d", 1, input, kernel_size, stride, padding, 1, ceil_mode)
    return _avg_pool_loop(P, count_include_pad, None)


def avg_pool2d_reference(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> torch.Tensor:
    """Loop version of :func:`avg_pool2d`. input: (N, C, H, W) or (C, H, W)."""
    P = _Pool("avg_pool2d", 2, input, kernel_size, stride, padding, 1, ceil_mode)
    return _avg_pool_loop(P, count_include_pad, divisor_override)


def avg_pool3d_reference(
    input: torch.Tensor,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> torch.Tensor:
    """Loop version of :func:`avg_pool3d`. input: (N, C, D, H, W) or (C, D, H, W)."""
    P = _Pool("avg_pool3d", 3, input, kernel_size, stride, padding, 1, ceil_mode)
    _check_kernel_fits_unpadded(P)
    return _avg_pool_loop(P, count_include_pad, divisor_override)


# ---------------------------------------------------------------------------------------------
# Adaptive pooling: the output size is given, the bins follow from it
# ---------------------------------------------------------------------------------------------

OutputSize = int | None | Sequence[int | None]


def _adaptive_output_size(
    op: str, output_size: object, n: int, size: tuple[int, ...]
) -> tuple[int, ...]:
    """PyTorch's output_size forms: an int, or n entries that are ints or (2d/3d) None = keep."""
    if isinstance(output_size, int) and not isinstance(output_size, bool):
        entries: tuple[object, ...] = (output_size,) * n
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str):
        entries = tuple(output_size)
    else:
        raise TypeError(
            f"{op}: output_size must be an int or a tuple of {n} ints"
            f"{' (or None to keep a dim)' if n > 1 else ''}, got "
            f"{type(output_size).__name__} {output_size!r}"
        )
    if len(entries) != n:
        raise ValueError(f"{op}: output_size must have {n} entries, got {output_size!r}")
    out = []
    for entry, keep in zip(entries, size, strict=True):
        if entry is None and n > 1:
            out.append(keep)
        elif isinstance(entry, int) and not isinstance(entry, bool):
            out.append(entry)
        else:
            raise TypeError(f"{op}: output_size must contain ints, got {output_size!r}")
    if min(out) < 0:
        raise ValueError(f"{op}: output_size must be non-negative, got {output_size!r}")
    return tuple(out)


def _adaptive_pool(
    op: str, n: int, input: object, output_size: object, reduce: str, return_indices: object
) -> PoolResult:
    X = check_tensor(input, "input")
    check_ndim(X, "input", (n + 1, n + 2), _LAYOUTS[n])
    if not X.is_floating_point():
        raise TypeError(f"{op}: input must have a real floating-point dtype, got {X.dtype}")
    _check_bool(return_indices, "return_indices")
    if min(X.shape[-n:]) == 0:
        raise ValueError(f"{op}: input must have non-empty spatial dims, got {tuple(X.shape)}")
    unbatched = X.ndim == n + 1
    Xb = X.unsqueeze(0) if unbatched else X
    N, C, *size = Xb.shape
    out = _adaptive_output_size(op, output_size, n, tuple(size))
    bins = [
        [(i * s // o, -(-(i + 1) * s // o)) for i in range(o)]
        for s, o in zip(size, out, strict=True)
    ]
    strides = [math.prod(size[d + 1 :]) for d in range(n)]  # flat index within a channel
    values, indices = [], []
    for cell in itertools.product(*bins):
        region = Xb[(slice(None), slice(None), *(slice(a, b) for a, b in cell))]
        flat = region.reshape(N, C, -1)
        if reduce == "avg":
            values.append(flat.mean(dim=-1))
            continue
        # First maximum in row-major order, or the last NaN (PyTorch's CPU and CUDA kernels).
        position = flat.argmax(dim=-1)
        is_nan = flat.isnan()
        last_nan = flat.shape[-1] - 1 - is_nan.flip(-1).to(torch.uint8).argmax(dim=-1)
        position = torch.where(is_nan.any(dim=-1), last_nan, position)
        values.append(flat.gather(-1, position[..., None])[..., 0])
        index = torch.zeros_like(position)
        for d, (start, stop) in enumerate(cell):
            inner = math.prod(b - a for a, b in cell[d + 1 :])  # region elements per step in d
            index += (start + position // inner % (stop - start)) * strides[d]
        indices.append(index)
    if values:
        Y = torch.stack(values, dim=-1).reshape(N, C, *out)
        idx = torch.stack(indices, dim=-1).reshape(N, C, *out) if indices else None
    else:  # an output size of 0
        Y = Xb.new_zeros((N, C, *out))
        idx = torch.zeros((N, C, *out), dtype=torch.long, device=X.device)
    if unbatched:
        Y = Y.squeeze(0)
        idx = None if idx is None else idx.squeeze(0)
    if reduce == "max" and return_indices:
        assert idx is not None
        return Y, idx
    return Y


def adaptive_avg_pool1d(input: torch.Tensor, output_size: int | Sequence[int]) -> torch.Tensor:
    """Mean over each adaptive bin. input: (N, C, L) or (C, L) -> (N, C, output_size)."""
    Y = _adaptive_pool("adaptive_avg_pool1d", 1, input, output_size, "avg", False)
    assert isinstance(Y, torch.Tensor)
    return Y


def adaptive_avg_pool2d(input: torch.Tensor, output_size: OutputSize) -> torch.Tensor:
    """Mean over each adaptive bin. input: (N, C, H, W) or (C, H, W) -> (N, C, *output_size)."""
    Y = _adaptive_pool("adaptive_avg_pool2d", 2, input, output_size, "avg", False)
    assert isinstance(Y, torch.Tensor)
    return Y


def adaptive_avg_pool3d(input: torch.Tensor, output_size: OutputSize) -> torch.Tensor:
    """Mean over each adaptive bin. input: (N, C, D, H, W) or (C, D, H, W) -> (N, C, *out)."""
    Y = _adaptive_pool("adaptive_avg_pool3d", 3, input, output_size, "avg", False)
    assert isinstance(Y, torch.Tensor)
    return Y


def adaptive_max_pool1d(
    input: torch.Tensor, output_size: int | Sequence[int], return_indices: bool = False
) -> PoolResult:
    """Max over each adaptive bin. input: (N, C, L) or (C, L) -> (N, C, out) [, indices]."""
    return _adaptive_pool("adaptive_max_pool1d", 1, input, output_size, "max", return_indices)


def adaptive_max_pool2d(
    input: torch.Tensor, output_size: OutputSize, return_indices: bool = False
) -> PoolResult:
    """Max over each adaptive bin. input: (N, C, H, W) or (C, H, W) -> (N, C, *out) [, indices]."""
    return _adaptive_pool("adaptive_max_pool2d", 2, input, output_size, "max", return_indices)


def adaptive_max_pool3d(
    input: torch.Tensor, output_size: OutputSize, return_indices: bool = False
) -> PoolResult:
    """Max over each adaptive bin. input: (N, C, D, H, W) or (C, D, H, W) -> (N, C, *out)."""
    return _adaptive_pool("adaptive_max_pool3d", 3, input, output_size, "max", return_indices)
