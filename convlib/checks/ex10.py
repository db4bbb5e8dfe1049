"""Checks of ex10_im2col: im2col for 1D, 2D and 3D inputs without a loop over windows, a
grouped convolution as one batched matrix product, and every window as a zero-copy view.

Cases and usual mistakes are data: ``VIEW_MISTAKES`` (wrong strides a window view can be built
with), next to the layouts ``check_im2col_nd`` names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import convlib.check as check
from convlib.checks.core import Fn, adapt, check_no_output_loop, larger, parameters

__all__ = [
    "unfold_nd_reference",
    "check_im2col_nd",
    "GEMM_PARAMETERS",
    "check_conv2d_gemm_groups",
    "window_reference",
    "VIEW_MISTAKES",
    "WINDOW_SETTINGS",
    "check_window_view",
]


# --------------------------------------------------------------------------------------------
# tasks 1 and 2: im2col in any dimension, grouped GEMM


def unfold_nd_reference(
    X: torch.Tensor, kernel_size: Sequence[int], stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """im2col for X: (N, C, *spatial) with a d-dimensional kernel: (N, C*prod(k), L), rows in
    (c, kernel offsets row-major) order, columns the output positions row-major."""
    N, C = X.shape[:2]
    d = X.ndim - 2
    taps = 1
    for k in kernel_size:
        taps *= k
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    eye = torch.eye(taps, dtype=X.dtype, device=X.device).reshape(taps, 1, *kernel_size)
    out = conv(X.reshape(N * C, 1, *X.shape[2:]), eye, stride=stride, padding=padding)
    return out.reshape(N, C * taps, -1)


def check_im2col_nd(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int | Sequence[int],
    padding: int = 0,
    stride: int = 1,
    *,
    fname: str = "im2col",
) -> None:
    """``fn(X, kernel_size, padding=, stride=)`` for X: (N, C, *spatial), 1 to 3 spatial axes,
    equal to F.unfold's layout generalised; no Python loop over output positions."""
    d = X.ndim - 2
    ks = (kernel_size,) * d if isinstance(kernel_size, int) else tuple(kernel_size)
    expected = unfold_nd_reference(X, ks, stride, padding)
    N, C = X.shape[:2]
    taps = expected.shape[1] // C
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if C > 1:
        variants.append(
            (
                "rows in (kernel offset, c) order: list a window channel first, (c, offsets)",
                lambda: expected.reshape(N, C, taps, -1).transpose(1, 2).reshape(expected.shape),
            )
        )
    out_sizes = [(n + 2 * padding - k) // stride + 1 for n, k in zip(X.shape[2:], ks, strict=True)]
    if d > 1:
        variants.append(
            (
                "the output positions (columns) are not in row-major order: the last spatial "
                "axis varies fastest (l = i*out_w + j in 2D)",
                lambda: (
                    expected.reshape(N, -1, *out_sizes)
                    .permute(0, 1, *range(d + 1, 1, -1))
                    .reshape(expected.shape)
                ),
            )
        )
    if padding:
        variants.append(
            (
                "padding is ignored",
                lambda: unfold_nd_reference(X, ks, stride, 0),
            )
        )
    check.check_function(
        fn,
        (X, kernel_size),
        {"padding": padding, "stride": stride},
        expected,
        fname=fname,
        forbidden=check.UNFOLD_OPS | check.CONV_OPS,
        shape_hint="(N, C*prod(kernel_size), L) with L the number of output positions, "
        "out = (in + 2*padding - k) // stride + 1 along every axis",
        variants=variants,
    )
    big = larger(X, 8, seed=sum(X.shape[2:]) + 8 * d)
    check_no_output_loop(
        fn,
        (X, kernel_size),
        (big, kernel_size),
        {"padding": padding, "stride": stride},
        fname=fname,
        instead="loop over the kernel offsets (itertools.product over range(k) per axis): "
        "offset (a, b, ...) fills the rows of that offset for every channel with one strided "
        "slice of the padded input, flattened",
    )


# conv2d_gemm's parameters: the check takes its arguments as the function does
GEMM_PARAMETERS = parameters("X", "K", bias=None, stride=1, padding=0, groups=1)


def check_conv2d_gemm_groups(fn: Fn, *args: Any, **kwargs: Any) -> None:
    """``fn(X, K, bias=None, stride=1, padding=0, groups=1)`` equals ``F.conv2d``, one batched
    matrix product for all groups (no Python loop over them)."""
    fname = "conv2d_gemm"
    settings = GEMM_PARAMETERS(*args, **kwargs)
    X, K = settings.pop("X"), settings.pop("K")
    check.check_conv2d(
        fn, X, K, **settings, fname=fname, forbidden=check.CONV_OPS | check.UNFOLD_OPS
    )
    k = K.shape[-1]
    dev, dt = X.device, X.dtype
    small = (
        check.randn(1, 2, 6, 6, seed=5, device=dev).to(dt),
        check.randn(2, 1, k, k, seed=6, device=dev).to(dt),
        None,
        1,
        0,
        2,
    )
    large = (
        check.randn(1, 24, 6, 6, seed=7, device=dev).to(dt),
        check.randn(24, 1, k, k, seed=8, device=dev).to(dt),
        None,
        1,
        0,
        24,
    )
    check_no_output_loop(
        fn,
        small,
        large,
        fname=fname,
        what="groups",
        instead="one batched matrix product: columns viewed as (N, groups, C_in/groups*kh*kw, "
        "L), weight as (groups, C_out/groups, C_in/groups*kh*kw), multiplied with @ or einsum",
    )


# --------------------------------------------------------------------------------------------
# task 3: every window as a view of X's memory


def window_reference(
    X: torch.Tensor, kernel_size: tuple[int, int], stride: int = 1, dilation: int = 1
) -> torch.Tensor:
    """(N, C, H', W', kh, kw): window (i, j)'s taps, from F.unfold (a copy)."""
    N, C, H, W = X.shape
    kh, kw = kernel_size
    cols = F.unfold(X, kernel_size, dilation=dilation, stride=stride)
    H_out = (H - dilation * (kh - 1) - 1) // stride + 1
    return cols.reshape(N, C, kh, kw, H_out, -1).permute(0, 1, 4, 5, 2, 3)


def _view_with(
    X: torch.Tensor,
    kernel_size: tuple[int, int],
    stride: int,
    dilation: int,
    strides: Sequence[int],
    offset: int,
) -> torch.Tensor:
    """The window view X's storage gives with the element strides of (N, C, H, W) given."""
    N, C, H, W = X.shape
    kh, kw = kernel_size
    H_out = (H - dilation * (kh - 1) - 1) // stride + 1
    W_out = (W - dilation * (kw - 1) - 1) // stride + 1
    sn, sc, sh, sw = strides
    size = (N, C, H_out, W_out, kh, kw)
    steps = (sn, sc, sh * stride, sw * stride, sh * dilation, sw * dilation)
    return torch.as_strided(X, size, steps, offset)


def _contiguous_strides(shape: Sequence[int]) -> list[int]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return strides[::-1]


# message, (strides, storage offset) a mistaken view reads X's storage with
VIEW_MISTAKES: tuple[tuple[str, Callable[[torch.Tensor], tuple[list[int], int]]], ...] = (
    (
        "you assumed X is contiguous: its strides are X.stride(), not the ones its shape "
        "suggests (a slice or a transpose of a bigger tensor keeps the bigger one's)",
        lambda X: (_contiguous_strides(X.shape), int(X.storage_offset())),
    ),
    (
        "you ignored X's storage offset: X may start anywhere in its storage (X.storage_offset())",
        lambda X: (list(X.stride()), 0),
    ),
)

_SHARES_SOURCE = """
def shares_memory(fn):
    def shared(X, *args, **kwargs):
        out = fn(X, *args, **kwargs)
        same = out.untyped_storage().data_ptr() == X.untyped_storage().data_ptr()
        return torch.tensor([int(same)])
    return shared
"""
_shares_memory = adapt(_SHARES_SOURCE, "shares_memory")


# window_view's settings, given by name
WINDOW_SETTINGS = parameters(stride=1, dilation=1)


def check_window_view(fn: Fn, X: Tensor, kernel_size: tuple[int, int], **given: int) -> None:
    """``fn(X, kernel_size, stride=1, dilation=1)`` -> (N, C, H', W', kh, kw), a view of X's
    memory (no copy) holding window (i, j)'s taps; X may be a non-contiguous view itself."""
    fname = "window_view"
    settings = WINDOW_SETTINGS(**given)
    stride, dilation = settings["stride"], settings["dilation"]
    mistakes: list[tuple[str, Callable[[], torch.Tensor]]] = []
    for message, wrong in VIEW_MISTAKES:
        strides, offset = wrong(X)
        if (strides, offset) != (list(X.stride()), X.storage_offset()):
            mistakes.append(
                (
                    message,
                    functools.partial(
                        _view_with, X, kernel_size, stride, dilation, strides, offset
                    ),
                )
            )
    mistakes.append(
        (
            "the last two axes are swapped: (N, C, H', W', kh, kw) ends with the kernel row, "
            "then the kernel column",
            lambda: window_reference(X, kernel_size, stride, dilation).transpose(-1, -2),
        )
    )
    check.check_function(
        fn,
        (X, kernel_size),
        settings,
        window_reference(X, kernel_size, stride, dilation),
        fname=fname,
        forbidden=check.UNFOLD_OPS | check.CONV_OPS,
        shape_hint="(N, C, H', W', kh, kw), H' = (H - dilation*(kh - 1) - 1) // stride + 1",
        variants=mistakes,
    )
    check.check_function(
        _shares_memory(fn),
        (X, kernel_size),
        settings,
        torch.ones(1, dtype=torch.long),
        fname=f"{fname} (memory)",
        forbidden=check.UNFOLD_OPS | check.CONV_OPS,
        variants=[
            (
                "your windows are a copy: build them as a view of X's own storage "
                "(torch.as_strided with X's strides), which costs no memory",
                lambda: torch.zeros(1, dtype=torch.long),
            )
        ],
    )
