"""Checks of ex03_padding_stride: TensorFlow's "SAME" padding for any stride (the inverse of the
output-size formula), padding modes, and a convolution with padding="same" and a padding mode.

Cases and usual mistakes are data: ``SAME_MISTAKES`` (wrong splits of the padding), the mode
variants of ``check_pad2d_mode`` and ``check_conv2d_same``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import convlib.check as check
from convlib.checks.core import PAD_OPS, pick

Fn = Callable[..., Any]

__all__ = ["check_same_padding", "check_pad2d_mode", "check_conv2d_same"]


def _same_reference(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


# what the hint says about each side when it is wrong
SAME_MISTAKES = (
    "'SAME' keeps ceil(size / stride) outputs: the padding is the smallest total that lets the "
    "last window, starting at (out - 1) * stride, end inside the padded input "
    "(never negative), and the extra odd pixel goes AFTER: before = total // 2",
    "after = total - before (the odd extra pixel of an uneven total goes after, at the "
    "bottom or right)",
)


def check_same_padding(
    fn: Fn, size: int, kernel_size: int, stride: int, *, fname: str = "same_padding"
) -> None:
    """``fn(size, kernel_size, stride)`` -> (before, after): TensorFlow's "SAME" padding."""
    expected = _same_reference(size, kernel_size, stride)
    for i in (0, 1):
        check.check_int(
            pick(fn, i),
            (size, kernel_size, stride),
            {},
            expected[i],
            fname=f"{fname}(...)[{i}]",
            hint=SAME_MISTAKES[i],
        )


def _symmetric_pad(X: torch.Tensor, p: int) -> torch.Tensor:
    """numpy's 'symmetric' padding (the edge repeated): a common wrong 'reflect'."""
    H, W = X.shape[-2:]
    rows = torch.tensor([min(max(i, -1 - i), 2 * H - 1 - i) for i in range(-p, H + p)])
    cols = torch.tensor([min(max(j, -1 - j), 2 * W - 1 - j) for j in range(-p, W + p)])
    return X[..., rows.to(X.device), :][..., cols.to(X.device)]


def _wrong_side_circular(X: torch.Tensor, p: int) -> torch.Tensor:
    """Circular padding wrapped from the wrong side: X's first rows above, its last rows below."""
    H, W = X.shape[-2:]
    rows = torch.tensor([*range(p), *range(H), *range(H - p, H)], device=X.device)
    cols = torch.tensor([*range(p), *range(W), *range(W - p, W)], device=X.device)
    return X[..., rows, :][..., cols]


def check_pad2d_mode(fn: Fn, X: Tensor, padding: int, mode: str, *, fname: str = "pad2d") -> None:
    """``fn(X, padding, mode=mode)`` equals ``F.pad`` with mode constant, reflect, replicate or
    circular (X: (..., H, W), any number of leading dimensions)."""
    H, W = X.shape[-2:]
    flat = X.reshape(-1, 1, H, W)
    pads = (padding,) * 4

    def pad(m: str) -> torch.Tensor:
        return F.pad(flat, pads, mode=m).reshape(*X.shape[:-2], H + 2 * padding, W + 2 * padding)

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "you padded one side only",
            lambda: F.pad(flat, (0, 2 * padding, 0, 2 * padding)).reshape(
                *X.shape[:-2], H + 2 * padding, W + 2 * padding
            ),
        ),
        (
            f"your padding is 'replicate' (the edge value repeated), not {mode!r}",
            lambda: pad("replicate"),
        ),
        (
            f"your padding is 'reflect' (mirror without repeating the edge), not {mode!r}",
            lambda: pad("reflect"),
        ),
        (f"your padding is zeros ('constant'), not {mode!r}", lambda: pad("constant")),
        (
            f"your padding is 'circular' (wrapped around), not {mode!r}",
            lambda: pad("circular"),
        ),
    ]
    variants = [v for v in variants if mode not in v[0].split("not ")[0]]
    if mode == "reflect":
        variants.append(
            (
                "you mirrored including the edge pixel (numpy's 'symmetric'): 'reflect' mirrors "
                "around the edge pixel without repeating it: x2 x1 | x0 x1 x2",
                lambda: _symmetric_pad(X, padding),
            )
        )
    if mode == "circular":
        variants.append(
            (
                "you wrapped from the wrong side: circular padding continues the image "
                "periodically, so the rows above X are its LAST rows (X[..., -p:, :]) and the "
                "rows below are its first ones",
                lambda: _wrong_side_circular(X, padding),
            )
        )
    check.check_function(
        fn,
        (X, padding),
        {"mode": mode},
        pad(mode),
        fname=fname,
        forbidden=PAD_OPS,
        shape_hint="pad both sides of the last two dimensions: (..., H + 2*padding, W + 2*padding)",
        variants=variants,
    )


def _torch_pads(K: torch.Tensor, padding: Any, dilation: int = 1) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) for an int, a pair, "valid" or "same" (torch's rule: the odd
    extra row or column of an even kernel goes at the bottom / right)."""
    kh, kw = K.shape[-2:]
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = dilation * (kh - 1), dilation * (kw - 1)
        return (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    ph, pw = (padding, padding) if isinstance(padding, int) else (int(padding[0]), int(padding[1]))
    return (pw, pw, ph, ph)


def check_conv2d_same(
    fn: Fn, X: Tensor, K: Tensor, padding: Any, stride: Any = 1, padding_mode: str | None = None
) -> None:
    """``fn(X, K, stride=, padding=[, padding_mode=])`` for X: (H, W), K: (kh, kw), with padding
    an int, a pair, "valid" or "same", and padding_mode "zeros", "reflect", "replicate" or
    "circular" (a one-channel ``nn.Conv2d``'s)."""
    fname = "conv2d"
    mode = padding_mode or "zeros"
    pads = _torch_pads(K, padding)
    X4 = X[None, None]

    def conv(pads: tuple[int, int, int, int], m: str = mode) -> torch.Tensor:
        return correlate(F.pad(X4, pads) if m == "zeros" else F.pad(X4, pads, mode=m))

    def correlate(padded: torch.Tensor) -> torch.Tensor:
        return F.conv2d(padded, K[None, None], stride=stride)[0, 0]

    kwargs: dict[str, Any] = {"stride": stride, "padding": padding}
    if padding_mode is not None:
        kwargs["padding_mode"] = padding_mode
    kh, kw = K.shape[-2:]
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if mode != "zeros":
        variants.append(
            (
                f"padding_mode={mode!r} is ignored: your output is torch's with zero padding",
                lambda: conv(pads, "zeros"),
            )
        )
        if mode == "reflect" and any(pads):
            variants.append(
                (
                    "you mirrored including the edge pixel (numpy's 'symmetric'): 'reflect' "
                    "mirrors around the edge pixel without repeating it",
                    lambda: correlate(_symmetric_pad(X4, max(pads))),
                )
            )
    if padding == "same" and (kh % 2 == 0 or kw % 2 == 0):
        left_heavy = (pads[1], pads[0], pads[3], pads[2])
        variants.append(
            (
                "for an even kernel, torch puts the extra padding row at the bottom and the extra "
                "column on the right (left = total // 2, right = total - left)",
                lambda: conv(left_heavy),
            )
        )
    if any(pads):
        variants.append(
            (
                f"padding={padding!r} is ignored (your output is torch's with padding=0)",
                lambda: conv((0, 0, 0, 0)),
            )
        )
    check.check_function(
        fn,
        (X, K),
        kwargs,
        conv(pads),
        fname=fname,
        forbidden=check.CONV_OPS | PAD_OPS,
        shape_hint="X is (H, W), the output (H_out, W_out); padding='same' keeps (H, W) "
        "(stride 1); 'valid' means no padding; "
        + "otherwise "
        + "out = floor((in + 2*padding - kernel_size) / stride) + 1",
        variants=variants,
    )
