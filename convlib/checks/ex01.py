"""Checks of ex01_cross_correlation: cross-correlation over the kernel's taps, the "full"
convolution of signal processing, and a kernel recovered from an input and its output.

Cases and usual mistakes are data: ``KERNEL_MISTAKES`` (a kernel read the wrong way round, shared
by the value checks), ``FULL_MISTAKES`` (wrong paddings of the full convolution).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import convlib.check as check
from convlib.checks.core import ALL_CONV, check_no_output_loop

Fn = Callable[..., Any]

__all__ = ["check_corr2d_taps", "check_convolve2d_mode", "check_recover_kernel"]

# (message, how the mistake changes the kernel)
KERNEL_MISTAKES: tuple[tuple[str, Callable[[torch.Tensor], torch.Tensor]], ...] = (
    (
        "your output equals torch's with the kernel flipped: this is convolution, not "
        "cross-correlation (slide K as it is, without flipping)",
        lambda K: K.flip(0, 1),
    ),
    (
        "your output equals torch's with the kernel transposed: index K as K[row, column]",
        lambda K: K.transpose(0, 1),
    ),
)

# (message, paddings (left, right, top, bottom) of the mistake, given kh and kw)
FULL_MISTAKES: tuple[tuple[str, Callable[[int, int], tuple[int, int, int, int]]], ...] = (
    (
        "you padded one side only: 'full' pads kh - 1 rows above AND below, kw - 1 columns left "
        "AND right",
        lambda kh, kw: (0, 2 * (kw - 1), 0, 2 * (kh - 1)),
    ),
    (
        "you padded by (k - 1) // 2 ('same'): 'full' pads by k - 1 on every side",
        lambda kh, kw: ((kw - 1) // 2,) * 2 + ((kh - 1) // 2,) * 2,
    ),
)


def _corr(
    X: torch.Tensor, K: torch.Tensor, pads: tuple[int, int, int, int] = (0,) * 4
) -> torch.Tensor:
    return F.conv2d(F.pad(X, pads)[None, None], K[None, None])[0, 0]


def check_corr2d_taps(fn: Fn, X: Tensor, K: Tensor, *, fname: str = "corr2d") -> None:
    """``fn(X, K)`` equals cross-correlation, built from slices (no torch convolution, no
    ``unfold``), and loops over kernel taps, not output positions."""
    check.check_function(
        fn,
        (X, K),
        {},
        _corr(X, K),
        fname=fname,
        forbidden=ALL_CONV,
        shape_hint="a valid cross-correlation of (H, W) with (kh, kw) is (H - kh + 1, W - kw + 1)",
        variants=[
            (text, functools.partial(_corr, X, change(K))) for text, change in KERNEL_MISTAKES
        ],
    )
    H, W = X.shape
    big = check.randn(H + 16, W + 16, seed=H * 31 + W, device=X.device).to(X.dtype)
    check_no_output_loop(fn, (X, K), (big, K), fname=fname)


def check_convolve2d_mode(fn: Fn, X: Tensor, K: Tensor, mode: str) -> None:
    """``fn(X, K, mode=mode)``: true convolution, ``mode`` "valid" or "full" (np.convolve's)."""
    fname = "convolve2d"
    kh, kw = K.shape
    pads = (kw - 1, kw - 1, kh - 1, kh - 1) if mode == "full" else (0, 0, 0, 0)
    flipped = K.flip(0, 1)
    mistakes = [
        (
            "your output is the cross-correlation: a convolution flips the kernel first "
            "(K.flip(0, 1), i.e. rotate it by 180 degrees)",
            functools.partial(_corr, X, K, pads),
        ),
        (
            "you flipped the kernel along one axis only: flip both (K.flip(0, 1))",
            functools.partial(_corr, X, K.flip(0), pads),
        ),
        (
            "you flipped the kernel along one axis only: flip both (K.flip(0, 1))",
            functools.partial(_corr, X, K.flip(1), pads),
        ),
    ]
    if mode == "full":
        mistakes += [
            (text, functools.partial(_corr, X, flipped, p(kh, kw))) for text, p in FULL_MISTAKES
        ]
    check.check_function(
        fn,
        (X, K),
        {"mode": mode},
        _corr(X, flipped, pads),
        fname=fname,
        shape_hint="mode='valid' is (H - kh + 1, W - kw + 1); mode='full' keeps every position "
        "where the kernel overlaps X: (H + kh - 1, W + kw - 1)",
        variants=mistakes,
    )


def _lstsq_kernel(X: torch.Tensor, Y: torch.Tensor, kh: int, kw: int) -> torch.Tensor:
    """The least-squares K of corr2d(X, K) ~ Y: one column per tap, one row per output pixel."""
    Ho, Wo = Y.shape
    A = torch.stack(
        [X[a : a + Ho, b : b + Wo].reshape(-1) for a in range(kh) for b in range(kw)], 1
    )
    return (torch.linalg.pinv(A) @ Y.reshape(-1)).reshape(kh, kw)


def check_recover_kernel(fn: Fn, X: Tensor, Y: Tensor, kernel_size: tuple[int, int]) -> None:
    """``fn(X, Y, kernel_size)`` -> the (kh, kw) kernel K whose cross-correlation with X is
    closest to Y in least squares (Y may carry noise)."""
    fname = "recover_kernel"
    kh, kw = kernel_size
    K = _lstsq_kernel(X, Y, kh, kw)
    mistakes: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (text, functools.partial(change, K)) for text, change in KERNEL_MISTAKES
    ]
    mistakes.append(
        (
            "your kernel is the cross-correlation of X with Y (a matched filter): that is "
            "K only if X's pixels are uncorrelated; solve the least-squares problem instead",
            lambda: _corr(X, Y),
        )
    )
    check.check_function(
        fn,
        (X, Y, kernel_size),
        {},
        K,
        fname=fname,
        forbidden=ALL_CONV,
        shape_hint="the kernel is (kh, kw) = kernel_size",
        variants=mistakes,
        atol=1e-8,
        rtol=1e-6,
    )
