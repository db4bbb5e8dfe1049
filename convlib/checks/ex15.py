"""Checks of ex15_large_kernels (chapter 15, large kernels through the FFT).

Tasks: the smallest exact FFT length with padding, dilation and stride (expected value from
``convlib.algorithms.fft.exact_fft_length``, the rule chapter 15 and ``conv_fft`` use: one rule,
so the check and the chapter cannot disagree), a 1D FFT layer at that length, and overlap-save.
The usual mistakes are data: ``LENGTH_HINTS``, ``LAYER_MISTAKES``, ``BLOCK_MISTAKES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

import convlib.check as check
from convlib.algorithms.fft import exact_fft_length
from convlib.checks import core
from convlib.checks.core import Fn

__all__ = [
    "check_fft_size",
    "FFT_CONV1D_PARAMETERS",
    "check_fft_conv1d",
    "check_overlap_save",
    "LENGTH_HINTS",
    "LAYER_MISTAKES",
    "BLOCK_MISTAKES",
]

# (a usual wrong rule, its length from size, k, padding, dilation, stride; its diagnosis)
LENGTH_HINTS: list[tuple[str, Callable[[int, int, int, int, int], int], str]] = [
    (
        "size + 2*padding",
        lambda n, k, p, d, s: n + 2 * p,
        "the right-hand padding need not be stored: the wrap-around reads the left-hand zeros",
    ),
    (
        "the full correlation's length",
        lambda n, k, p, d, s: n + 2 * p + d * (k - 1),
        "the outputs you discard may wrap around",
    ),
    (
        "size + padding",
        lambda n, k, p, d, s: n + p,
        "the kernel's d*(k - 1) + 1 samples must fit, and every output read (0, s, 2s, ...) "
        "must exist in the circular result",
    ),
]


def check_fft_size(
    fn: Fn, size: int, kernel_size: int, padding: int = 0, dilation: int = 1, stride: int = 1
) -> None:
    """``fn(size, kernel_size, padding, dilation, stride)`` is the smallest exact FFT length."""
    n, k, p, d, s = size, kernel_size, padding, dilation, stride
    expected = exact_fft_length(n, d * (k - 1) + 1, p, s)
    check.check_int(
        fn,
        (n, k, p, d, s),
        {},
        expected,
        fname="fft_size",
        forbidden=frozenset(),
        hint=core.rule_hints(LENGTH_HINTS, (n, k, p, d, s), expected),
    )


def _sliced(fn: Callable[..., torch.Tensor]) -> Callable[..., Callable[[], torch.Tensor]]:
    return lambda X, K, b, p, d, s: lambda: fn(X, K, b, p, d, s)


# (diagnosis, the wrong layer's output from X, K, bias, padding, dilation, stride)
LAYER_MISTAKES: list[tuple[str, Callable[..., Callable[[], torch.Tensor]]]] = [
    (
        "your output is a true convolution (kernel reversed): cross-correlation multiplies by "
        "the CONJUGATE of the kernel's spectrum",
        _sliced(lambda X, K, b, p, d, s: F.conv1d(X, K.flip(-1), b, s, p, d)),
    ),
    (
        "dilation is ignored: tap a sits d*a samples from tap 0 in the kernel's buffer",
        _sliced(lambda X, K, b, p, d, s: F.conv1d(X, K, b, s, p, 1)),
    ),
    (
        "stride is ignored: keep every stride-th output",
        _sliced(lambda X, K, b, p, d, s: F.conv1d(X, K, b, 1, p, d)),
    ),
    (
        "padding is ignored",
        _sliced(lambda X, K, b, p, d, s: F.conv1d(X, K, b, s, 0, d)),
    ),
    (
        "bias not added",
        _sliced(lambda X, K, b, p, d, s: F.conv1d(X, K, None, s, p, d)),
    ),
    (
        "the channels are not summed: the product of spectra must be summed over C_in",
        _sliced(lambda X, K, b, p, d, s: F.conv1d(X[:, :1], K[:, :1], b, s, p, d)),
    ),
]


# fft_conv1d's parameters: the check takes its arguments as the function does
FFT_CONV1D_PARAMETERS = core.parameters("X", "K", bias=None, padding=0, dilation=1, stride=1)


def check_fft_conv1d(fn: Fn, *args: Any, **kwargs: Any) -> None:
    """``fn(X, K, bias=None, padding=0, dilation=1, stride=1)`` equals ``F.conv1d``;
    X: (N, C_in, L)."""
    case = tuple(FFT_CONV1D_PARAMETERS(*args, **kwargs).values())
    X, K, bias, padding, dilation, stride = case
    check.check_function(
        fn,
        case,
        {},
        F.conv1d(X, K, bias, stride, padding, dilation),
        fname="fft_conv1d",
        forbidden=core.ALL_CONV,
        atol=1e-9,
        rtol=1e-7,
        shape_hint="out = (L + 2*padding - dilation*(k - 1) - 1) // stride + 1",
        variants=[(message, wrong(*case)) for message, wrong in LAYER_MISTAKES],
    )


def _blocks_apart(x: torch.Tensor, k: torch.Tensor, block: int) -> torch.Tensor:
    """Blocks of ``block`` inputs correlated separately: outputs straddling two are missing."""
    m = k.shape[0]
    parts = [x[i : i + block] for i in range(0, x.shape[0], block)]
    return torch.cat([core.corr1d(piece, k) for piece in parts if len(piece) >= m])


# (diagnosis, the wrong output from x, k, block)
BLOCK_MISTAKES: list[tuple[str, Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]]] = [
    (
        "your output is a convolution (kernel flipped): multiply by the conjugate of the "
        "kernel's spectrum",
        lambda x, k, block: core.corr1d(x, k.flip(0)),
    ),
    (
        "the blocks do not overlap: `block` outputs need block + m - 1 inputs, so consecutive "
        "input blocks share m - 1 samples",
        _blocks_apart,
    ),
]


# Runs the student's function while recording the length of every FFT it takes (compiled outside
# convlib's files: it runs the student's code). 1.0 when none is longer than one block's.
_LONGEST_FFT = core.adapt(
    """
from torch.overrides import TorchFunctionMode

class Lengths(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.longest = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "").removeprefix("fft_")
        if name.rstrip("2n") in ("fft", "rfft", "ifft", "irfft", "hfft", "ihfft") and args:
            given = kwargs.get("n", kwargs.get("s", args[1] if len(args) > 1 else None))
            if given is not None:
                n = max(given) if isinstance(given, (tuple, list)) else given
            else:
                dims = 1 if name[-1] not in "2n" else 2
                n = max(args[0].shape[-dims:]) if args[0].dim() else 0
                n = 2 * (n - 1) if name.rstrip("2n") in ("irfft", "hfft") else n
            self.longest = max(self.longest, int(n))
        return func(*args, **kwargs)

def blockwise(fn):
    def fft_conv1d_overlap_save(x, k, block):
        with Lengths() as lengths:
            fn(x, k, block)
        longest = block + k.shape[0] - 1
        return torch.tensor(float(lengths.longest <= longest), dtype=torch.float64)
    return fft_conv1d_overlap_save
""",
    "blockwise",
)


def check_overlap_save(
    fn: Callable[..., Any],
    x: torch.Tensor,
    k: torch.Tensor,
    block: int,
    *,
    fname: str = "fft_conv1d_overlap_save",
) -> None:
    """``fn(x, k, block)``: the valid cross-correlation of a long signal x (L,) with k (m,),
    computed ``block`` outputs at a time (overlap-save), equals ``F.conv1d``."""
    check.check_function(
        fn,
        (x, k, block),
        {},
        core.corr1d(x, k),
        fname=fname,
        forbidden=core.ALL_CONV,
        atol=1e-9,
        rtol=1e-7,
        shape_hint="the valid correlation has L - m + 1 outputs; the last block may be shorter",
        variants=[
            (message, functools.partial(wrong, x, k, block)) for message, wrong in BLOCK_MISTAKES
        ],
    )
    check.check_function(
        _LONGEST_FFT(fn),
        (x, k, block),
        {},
        torch.ones((), dtype=torch.float64),
        fname=fname,
        forbidden=core.ALL_CONV,
        variants=[
            (
                "an FFT longer than one block's, block + m - 1: filter block by block, never "
                "the whole signal at once",
                functools.partial(torch.zeros, (), dtype=torch.float64),
            )
        ],
    )
