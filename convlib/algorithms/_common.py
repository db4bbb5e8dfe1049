"""Shared helpers for the fast algorithms: argument expansion, zero padding, output sizes.

Every algorithm takes ``(X, K, bias, stride, padding, dilation, groups)`` with a batched input
``X: (N, C_in, *spatial)`` and a kernel ``K: (C_out, C_in / groups, *kernel)``; the number of
spatial dimensions is read from ``K``. Padding is zeros, symmetric, one int per dimension.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

import torch

from .._args import IntOrTuple, check_nonnegative, check_positive, ntuple
from ..shapes import conv_output_size


class ConvArgs:
    """Validated, expanded arguments of one convolution call (the first lines of every algorithm).

    Attributes: ``d`` spatial dims, ``N, C_in, C_out, groups``, tuples ``spatial`` (input size
    before padding), ``kernel``, ``stride``, ``padding``, ``dilation``, ``out`` (output size).
    """

    def __init__(
        self,
        X: torch.Tensor,
        K: torch.Tensor,
        bias: torch.Tensor | None,
        stride: IntOrTuple,
        padding: IntOrTuple,
        dilation: IntOrTuple,
        groups: int,
        algorithm: str,
    ) -> None:
        if not isinstance(X, torch.Tensor) or not isinstance(K, torch.Tensor):
            raise TypeError(f"{algorithm}: input and weight must be torch.Tensors")
        d = K.ndim - 2
        if d < 1 or X.ndim != d + 2:
            raise ValueError(
                f"{algorithm}: input must be batched (N, C_in, *spatial) with {d} spatial dims to "
                f"match weight of shape {tuple(K.shape)}; got input of shape {tuple(X.shape)}"
            )
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"{algorithm}: groups must be a positive int, got {groups!r}")
        self.d = d
        self.N, self.C_in = X.shape[0], X.shape[1]
        self.C_out = K.shape[0]
        self.groups = groups
        if self.C_in % groups or self.C_out % groups or K.shape[1] * groups != self.C_in:
            raise ValueError(
                f"{algorithm}: groups={groups} needs C_in={self.C_in} and C_out={self.C_out} "
                f"divisible by groups and weight.shape[1]={K.shape[1]} == C_in / groups"
            )
        self.spatial = tuple(X.shape[2:])
        self.kernel = tuple(K.shape[2:])
        self.stride = ntuple(stride, d, "stride")
        self.padding = ntuple(padding, d, "padding")
        self.dilation = ntuple(dilation, d, "dilation")
        check_positive(self.stride, "stride")
        check_nonnegative(self.padding, "padding")
        check_positive(self.dilation, "dilation")
        if bias is not None and tuple(bias.shape) != (self.C_out,):
            raise ValueError(
                f"{algorithm}: bias must have shape ({self.C_out},), got {tuple(bias.shape)}"
            )
        # raises, naming kernel_size, if the dilated kernel does not fit the padded input
        self.out = conv_output_size(
            self.spatial, self.kernel, self.stride, self.padding, self.dilation
        )

    @property
    def depthwise(self) -> bool:
        """One filter per input channel (C_out a multiple of C_in = groups)."""
        return self.groups == self.C_in and self.groups > 1


# ---------------------------------------------------------------------------------------------
# Workspaces: scratch buffers (padded inputs, column matrices) kept between calls on the CPU.
#
# A fresh tensor of tens of MB costs more than filling it: the operating system hands out its
# pages one page fault at a time (measured: 20 ms to build a 58 MB column matrix in fresh memory,
# 6 ms to copy the same values into memory used before). GPU libraries keep a workspace for the
# same reason (and torch's CUDA caching allocator already reuses memory), so on the CPU we keep
# one buffer per purpose and thread. It is only reused when autograd will not save it for the
# backward pass.

_workspaces = threading.local()


def may_reuse(*tensors: torch.Tensor) -> bool:
    """Whether scratch memory may be reused: a CPU call that autograd does not record."""
    if any(t.device.type != "cpu" for t in tensors):
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def workspace(name: str, shape: Iterable[int], like: torch.Tensor, reuse: bool) -> torch.Tensor:
    """An uninitialised tensor of ``shape`` (dtype and device of ``like``): the thread's buffer
    ``name``, grown when too small, if ``reuse``; otherwise a new tensor."""
    shape = tuple(shape)
    if not reuse:
        return like.new_empty(shape)
    buffers: dict[tuple[str, torch.dtype], torch.Tensor] = _workspaces.__dict__.setdefault(
        "buffers", {}
    )
    numel = math.prod(shape)
    buffer = buffers.get((name, like.dtype))
    if buffer is None or buffer.numel() < numel:
        buffer = like.new_empty(numel)
        buffers[(name, like.dtype)] = buffer
    return buffer[:numel].view(shape)


def clear_workspaces() -> None:
    """Free this thread's scratch buffers."""
    _workspaces.__dict__.pop("buffers", None)


def zero_pad(
    X: torch.Tensor,
    padding: tuple[int, ...],
    extra: tuple[int, ...] | None = None,
    reuse: bool = False,
) -> torch.Tensor:
    """Pad the trailing ``len(padding)`` dims of ``X`` with ``padding[i]`` zeros before and
    ``padding[i] + extra[i]`` zeros after (``extra`` defaults to none)."""
    d = len(padding)
    after = padding if extra is None else tuple(p + e for p, e in zip(padding, extra, strict=True))
    if not any(padding) and not any(after):
        return X
    lead = tuple(X.shape[: X.ndim - d])
    inner_size = X.shape[X.ndim - d :]
    size = tuple(s + p + q for s, p, q in zip(inner_size, padding, after, strict=True))
    out = workspace("pad", (*lead, *size), X, reuse)
    keep = (slice(None),) * (X.ndim - d)
    # Zero only the border slabs (before and after the input along each dim), then copy X into
    # the middle: every value is written once.
    for i, (p, s) in enumerate(zip(padding, inner_size, strict=True)):
        out[keep + (slice(None),) * i + (slice(0, p),)] = 0
        out[keep + (slice(None),) * i + (slice(p + s, None),)] = 0
    out[keep + tuple(slice(p, p + s) for p, s in zip(padding, inner_size, strict=True))] = X
    return out


def add_bias(Y: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``Y: (N, C_out, *spatial)`` plus ``bias: (C_out,)`` broadcast over the spatial dims."""
    if bias is None:
        return Y
    return Y + bias.view(1, -1, *([1] * (Y.ndim - 2)))


def conv_macs(args: ConvArgs) -> int:
    """Multiply-adds of direct convolution: N * C_out * prod(out) * C_in/groups * prod(k)."""
    return (
        args.N
        * args.C_out
        * math.prod(args.out)
        * (args.C_in // args.groups)
        * math.prod(args.kernel)
    )


def spatial(index: Iterable[slice | int]) -> tuple[slice | int, ...]:
    """Index ``(:, :, *index)``: every batch entry and channel, ``index`` on the spatial dims."""
    return (slice(None), slice(None), *index)
