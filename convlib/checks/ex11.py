"""Checks of ex11_pooling: max pooling with dilation and ceil_mode that returns torch's argmax
(ties included), the backward pass of average pooling without counting the padding, and adaptive
average pooling from a summed-area table.

Cases and usual mistakes are data: ``INDEX_MISTAKES`` (wrong ways to report where a maximum
sits) and ``AVG_BACKWARD_MISTAKES`` (wrong divisors), next to the pooling variants.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

import convlib.check as check
from convlib.checks.core import (
    ALL_CONV,
    AUTOGRAD_OPS,
    check_no_output_loop,
    larger,
    pick,
    without_autograd,
)

__all__ = [
    "pool_taps",
    "INDEX_MISTAKES",
    "check_max_pool2d_indices",
    "AVG_BACKWARD_MISTAKES",
    "check_avg_pool2d_backward",
    "check_adaptive_avg_pool2d_integral",
]


# --------------------------------------------------------------------------------------------
# task 1: max pooling with dilation and ceil_mode, and where each maximum sits


def pool_taps(
    X: torch.Tensor, kernel_size: int, last: bool = False, **settings: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Max pooling by a running maximum over the taps. Returns Y, the winning tap's row and
    column in X (unpadded), and its tap number a*k + b; ties go to the first tap in row-major
    order (torch's rule), or to the last with ``last``. ``settings``: F.max_pool2d's."""
    Y = F.max_pool2d(X, kernel_size, **settings)
    k, p, d = kernel_size, settings.get("padding", 0), settings.get("dilation", 1)
    s = settings.get("stride") or kernel_size
    N, C, H_out, W_out = Y.shape
    rows = max(X.shape[2] + 2 * p, (H_out - 1) * s + d * (k - 1) + 1)
    cols = max(X.shape[3] + 2 * p, (W_out - 1) * s + d * (k - 1) + 1)
    Xp = X.new_full((N, C, rows, cols), float("-inf"))
    Xp[:, :, p : p + X.shape[2], p : p + X.shape[3]] = X
    best = X.new_full(Y.shape, float("-inf"))
    tap = torch.zeros(Y.shape, dtype=torch.long, device=X.device)
    for a in range(k):
        for b in range(k):
            window = Xp[
                :,
                :,
                a * d : a * d + (H_out - 1) * s + 1 : s,
                b * d : b * d + (W_out - 1) * s + 1 : s,
            ]
            wins = window >= best if last else window > best
            best, tap = torch.where(wins, window, best), torch.where(wins, a * k + b, tap)
    i = torch.arange(H_out, device=X.device)[:, None]
    j = torch.arange(W_out, device=X.device)[None, :]
    return Y, i * s + tap // k * d - p, j * s + tap % k * d - p


# message, wrong indices from (X's width, the winning row and column, the tap number)
INDEX_MISTAKES: tuple[
    tuple[str, bool, Callable[[int, int, torch.Tensor, torch.Tensor], torch.Tensor]], ...
] = (
    (
        "ties go to the last maximum: torch keeps the first one in row-major order within the "
        "window (update only on a strictly greater value)",
        True,
        lambda W, p, h, w: h * W + w,
    ),
    (
        "indices count positions in the padded image: report h*W + w in X itself",
        False,
        lambda W, p, h, w: (h + p) * (W + 2 * p) + w + p,
    ),
    (
        "indices swapped: the flat index is row * W + column",
        False,
        lambda W, p, h, w: w * W + h,
    ),
)


def check_max_pool2d_indices(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    *,
    fname: str = "max_pool2d",
) -> None:
    """``fn(X, kernel_size, stride=, padding=, dilation=, ceil_mode=)`` -> (Y, indices) equal to
    ``F.max_pool2d(..., return_indices=True)``, ties included; no loop over output positions."""
    settings: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "ceil_mode": ceil_mode,
    }
    Y, indices = F.max_pool2d(X, kernel_size, **settings, return_indices=True)

    def pool(**changes: Any) -> Callable[[], torch.Tensor]:
        return lambda: F.max_pool2d(X, kernel_size, **{**settings, **changes})

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if stride is None:
        variants.append(
            ("stride is ignored: when stride is None it defaults to kernel_size", pool(stride=1))
        )
    if padding:
        pads = (padding,) * 4
        variants.append(
            (
                "padded with zeros: max pooling pads with -inf, so padding never wins the max",
                lambda: F.max_pool2d(F.pad(X, pads), kernel_size, **{**settings, "padding": 0}),
            )
        )
    if dilation != 1:
        variants.append(("dilation is ignored", pool(dilation=1)))
    if ceil_mode:
        variants.append(("ceil_mode is ignored", pool(ceil_mode=False)))
    check.check_function(
        pick(fn, 0),
        (X, kernel_size),
        settings,
        Y,
        fname=f"{fname}[0] (Y)",
        forbidden=check.POOL_OPS | ALL_CONV,
        shape_hint="out = floor((in + 2*padding - dilation*(k - 1) - 1) / stride) + 1 (ceil with "
        "ceil_mode, dropping a last window that would start in the right padding)",
        variants=variants,
    )
    W = X.shape[-1]
    mistakes: list[tuple[str, Callable[[], torch.Tensor]]] = []
    for message, last, wrong in INDEX_MISTAKES:
        _, h, w = pool_taps(X, kernel_size, last, **settings)
        mistakes.append((message, functools.partial(wrong, W, padding, h, w)))
    check.check_function(
        pick(fn, 1),
        (X, kernel_size),
        settings,
        indices,
        fname=f"{fname}[1] (indices)",
        forbidden=check.POOL_OPS | ALL_CONV,
        shape_hint="one int64 index per output, h * W + w of the maximum in X",
        variants=mistakes,
    )
    check_no_output_loop(
        fn,
        (X, kernel_size),
        (larger(X, 12, seed=X.shape[2] + 7), kernel_size),
        settings,
        fname=fname,
        instead="loop over the k*k taps, keeping the running maximum and the tap that holds it",
    )


# --------------------------------------------------------------------------------------------
# task 2: the backward pass of average pooling


def _avg_grad(dY: torch.Tensor, shape: tuple[int, ...], **settings: Any) -> torch.Tensor:
    X = dY.new_zeros(shape, requires_grad=True)
    with torch.enable_grad():
        F.avg_pool2d(X, **settings).backward(dY)
    assert X.grad is not None
    return X.grad


# message, the settings whose exact gradient the mistake computes (None: it does not apply)
AVG_BACKWARD_MISTAKES: tuple[tuple[str, Callable[[dict[str, Any]], dict[str, Any] | None]], ...] = (
    (
        "every window divided by kernel_size**2: with count_include_pad=False a window near the "
        "border averages only the real pixels it covers, so it divides by their number",
        lambda s: (
            {**s, "count_include_pad": True}
            if not s["count_include_pad"] and s["padding"]
            else None
        ),
    ),
    (
        "windows near the border divided by the real pixels they cover: with "
        "count_include_pad=True the padded zeros count, every window divides by kernel_size**2",
        lambda s: (
            {**s, "count_include_pad": False} if s["count_include_pad"] and s["padding"] else None
        ),
    ),
    (
        "stride is ignored: when stride is None it defaults to kernel_size",
        lambda s: {**s, "stride": 1} if s["stride"] is None else None,
    ),
)


def check_avg_pool2d_backward(
    fn: Callable[..., Any],
    dY: torch.Tensor,
    input_size: tuple[int, int],
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    count_include_pad: bool = True,
    *,
    fname: str = "avg_pool2d_backward",
) -> None:
    """``fn(dY, input_size, kernel_size, stride=, padding=, count_include_pad=)`` -> dL/dX of
    ``F.avg_pool2d``, computed with autograd switched off."""
    settings: dict[str, Any] = {
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
        "count_include_pad": count_include_pad,
    }
    shape = (*dY.shape[:2], *input_size)
    mistakes: list[tuple[str, Callable[[], torch.Tensor]]] = []
    for message, changed in AVG_BACKWARD_MISTAKES:
        wrong = changed(settings)
        if wrong is not None:
            mistakes.append((message, functools.partial(_avg_grad, dY, shape, **wrong)))
    mistakes.append(
        (
            "not divided at all: each window's mean gives every pixel it covers 1/(its count) "
            "of that window's gradient",
            lambda: (
                kernel_size**2 * _avg_grad(dY, shape, **{**settings, "count_include_pad": True})
            ),
        )
    )
    rest = {k: v for k, v in settings.items() if k != "kernel_size"}
    check.check_function(
        without_autograd(fn),
        (dY, input_size, kernel_size),
        rest,
        _avg_grad(dY, shape, **settings),
        fname=fname,
        forbidden=check.POOL_OPS | ALL_CONV | AUTOGRAD_OPS,
        shape_hint="dL/dX has the input's shape (N, C, *input_size)",
        variants=mistakes,
    )


# --------------------------------------------------------------------------------------------
# task 3: adaptive average pooling from a summed-area table


def check_adaptive_avg_pool2d_integral(
    fn: Callable[..., Any],
    X: torch.Tensor,
    output_size: tuple[int, int],
    *,
    fname: str = "adaptive_avg_pool2d",
) -> None:
    """``fn(X, output_size)`` equals ``F.adaptive_avg_pool2d`` with no Python loop over the
    output bins (a summed-area table: four lookups per bin)."""
    H, W = X.shape[-2:]
    oh, ow = output_size

    def floor_end_mean() -> torch.Tensor:
        rows = []
        for i in range(oh):
            cols = []
            for j in range(ow):
                r0, r1 = i * H // oh, max((i + 1) * H // oh, i * H // oh + 1)
                c0, c1 = j * W // ow, max((j + 1) * W // ow, j * W // ow + 1)
                cols.append(X[..., r0:r1, c0:c1].mean((-2, -1)))
            rows.append(torch.stack(cols, -1))
        return torch.stack(rows, -2)

    check.check_function(
        fn,
        (X, output_size),
        {},
        F.adaptive_avg_pool2d(X, output_size),
        fname=fname,
        forbidden=check.POOL_OPS | ALL_CONV,
        shape_hint="(N, C, *output_size); output (1, 1) is global average pooling",
        variants=[
            (
                "window ends rounded down: bin i covers rows floor(i*H/out) up to (not "
                "including) ceil((i+1)*H/out)",
                floor_end_mean,
            ),
            (
                "off by one in the summed-area table: pad it with a zero row and column first, "
                "so that S[r, c] is the sum of X[:r, :c] and a bin's sum is "
                "S[r1, c1] - S[r0, c1] - S[r1, c0] + S[r0, c0]",
                lambda: F.adaptive_avg_pool2d(F.pad(X, (1, 0, 1, 0))[..., :H, :W], output_size),
            ),
            (
                "your output is max pooling, not average pooling",
                lambda: F.adaptive_max_pool2d(X, output_size),
            ),
        ],
    )
    check_no_output_loop(
        fn,
        (X, (1, 1)),
        (X, (min(H, 6), min(W, 6))),
        fname=fname,
        what="output bins",
        instead="build the summed-area table once (cumsum along H and W) and read every bin's "
        "four corners with index tensors",
    )
