"""Checks of ex04_channels: two stacked layers fused into one (kernels and biases across the
middle channels), an input normalisation folded into the weights, and a black-box layer's weight
and bias recovered by probing it.

Cases and usual mistakes are data: ``COMPOSE_MISTAKES``, ``FOLD_MISTAKES`` and ``PROBE_MISTAKES``,
each a (message, wrong pair) table, read by one small engine (``core.check_pair``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from convlib.checks.core import check_pair

Fn = Callable[..., Any]

__all__ = ["check_compose_layers", "check_fold_normalization", "black_box", "check_probe_layer"]

Pair = tuple[torch.Tensor, torch.Tensor]
Mistakes = Sequence[tuple[str, Callable[[], Pair]]]


def _compose(
    K1: torch.Tensor, b1: torch.Tensor, K2: torch.Tensor, b2: torch.Tensor, flip: bool = True
) -> Pair:
    k2h, k2w = K2.shape[-2:]
    padded = F.pad(K1.transpose(0, 1), (k2w - 1, k2w - 1, k2h - 1, k2h - 1))
    K = F.conv2d(padded, K2.flip(-1, -2) if flip else K2).transpose(0, 1)
    return K.contiguous(), b2 + K2.sum((2, 3)) @ b1


def check_compose_layers(fn: Fn, K1: Tensor, b1: Tensor, K2: Tensor, b2: Tensor) -> None:
    """``fn(K1, b1, K2, b2)`` -> (K, b) with
    conv2d(X, K, b) == conv2d(conv2d(X, K1, b1), K2, b2)."""
    fname = "compose_layers"
    expected = _compose(K1, b1, K2, b2)
    mistakes: Mistakes = (
        (
            "your kernel combines K1 and K2 by cross-correlation: stacking slides K2 over K1's "
            "outputs, so the offsets add up and the kernels combine by a (full) convolution",
            lambda: _compose(K1, b1, K2, b2, flip=False),
        ),
        (
            "b1 is lost: it passes through the second layer too, where every weight of K2 that "
            "reads channel m multiplies b1[m]",
            lambda: (expected[0], b2),
        ),
        (
            "b1 reaches the output unweighted: it is multiplied by the sum of K2[o, m]'s weights",
            lambda: (expected[0], b2 + b1.sum()),
        ),
    )
    k = (K1.shape[-2] + K2.shape[-2] - 1, K1.shape[-1] + K2.shape[-1] - 1)
    hints = (
        "the fused weight is (C_out, C_in, kh1 + kh2 - 1, kw1 + kw2 - 1) = "
        f"(.., .., {k[0]}, {k[1]})",
        "the fused bias is (C_out,)",
    )
    check_pair(fn, (K1, b1, K2, b2), expected, mistakes, fname=fname, hints=hints)


def check_fold_normalization(fn: Fn, K: Tensor, b: Tensor, mean: Tensor, std: Tensor) -> None:
    """``fn(K, b, mean, std)`` -> (K', b') with conv2d(X, K', b') == conv2d((X - mean) / std, K, b),
    mean and std per input channel."""
    fname = "fold_normalization"
    scaled = K / std[None, :, None, None]
    expected = (scaled, b - (scaled * mean[None, :, None, None]).sum((1, 2, 3)))
    mistakes: Mistakes = (
        ("the bias is unchanged: subtracting the mean shifts every output", lambda: (scaled, b)),
        (
            "the bias shift forgets the division by std: (X - mean) / std contributes "
            "-K[o, c] * mean[c] / std[c] per weight",
            lambda: (scaled, b - (K * mean[None, :, None, None]).sum((1, 2, 3))),
        ),
        (
            "you scaled the weights by std: dividing the input by std[c] divides the weights "
            "that read channel c",
            lambda: (
                K * std[None, :, None, None],
                b - (K * std[None, :, None, None] * mean[None, :, None, None]).sum((1, 2, 3)),
            ),
        ),
        (
            "mean and std are applied per output channel: they belong to the input channels "
            "(axis 1 of K)",
            lambda: (K / std[:, None, None, None], b - (K.sum((1, 2, 3)) * mean / std)),
        ),
    )
    hints = ("the weight keeps K's shape (C_out, C_in, kh, kw)", "the bias is (C_out,)")
    check_pair(fn, (K, b, mean, std), expected, mistakes, fname=fname, hints=hints)


# The black box: compiled outside convlib's files, so that calling it is not "the course
# library's own answer"; it hides its weight in a closure.
_BOX: dict[str, Any] = {"__name__": "convlib_black_box"}
exec(  # noqa: S102 (a constant string)
    compile(
        "def black_box(K, b):\n"
        "    conv2d = __import__('torch').nn.functional.conv2d\n"
        "    def layer(X):\n"
        "        return conv2d(X, K, b)\n"
        "    return layer\n",
        "<convlib.checks.ex04 black box>",
        "exec",
    ),
    _BOX,
)


def black_box(K: torch.Tensor, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A layer X (N, C_in, H, W) -> conv2d(X, K, b) (no padding, stride 1) that hides K and b."""
    layer: Callable[[torch.Tensor], torch.Tensor] = _BOX["black_box"](
        K.detach().clone(), b.detach().clone()
    )
    return layer


def check_probe_layer(fn: Fn, K: Tensor, b: Tensor) -> None:
    """``fn(layer, in_channels, kernel_size)`` -> (K, b) of the hidden layer, found by calling
    it."""
    fname = "probe_layer"
    layer = black_box(K, b)
    mistakes: Mistakes = (
        (
            "your weight is flipped: an impulse at (p, q) shows up in the output at (-p, -q) "
            "relative to it; the layer cross-correlates, so read the response the other way round",
            lambda: (K.flip(-1, -2), b),
        ),
        (
            "the bias is still in your weight: every response includes b[o]; measure it alone "
            "(an all-zero input) and subtract it",
            lambda: (K + b[:, None, None, None], b),
        ),
    )
    hints = (
        "the weight is (C_out, in_channels, kh, kw), as F.conv2d takes it",
        "the bias is (C_out,)",
    )
    args = (layer, K.shape[1], tuple(K.shape[-2:]))
    check_pair(fn, args, (K, b), mistakes, fname=fname, hints=hints, forbidden=frozenset())
