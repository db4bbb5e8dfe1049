"""Checks of ex05_one_by_one: a 1x1 weight and bias fitted to data by least squares, the widest
bottleneck that fits a multiply-add and a parameter budget (its cost read off a forward pass),
and a 1x1 layer split into a squeeze and an expansion through fewer channels.

Cases and usual mistakes are data: ``FIT_MISTAKES`` (wrong fits, each a (message, wrong pair)
rule), ``WIDTH_RULES`` (usual wrong costs of a bottleneck) and ``SQUEEZE_MISTAKES`` (wrong
truncations of the singular value decomposition).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

import convlib.check as check
from convlib.checks.core import adapt, check_pair, rule_hints

Fn = Callable[..., Any]

__all__ = ["check_fit_conv1x1", "bottleneck_cost", "check_bottleneck_width", "check_squeeze_expand"]

Pair = tuple[torch.Tensor, torch.Tensor]


# --------------------------------------------------------------------------------------------
# task 1: the least-squares 1x1 weight and bias


def _pixels(T: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C): one row per pixel."""
    return T.permute(0, 2, 3, 1).reshape(-1, T.shape[1])


def _lstsq_1x1(A: torch.Tensor, B: torch.Tensor, bias: bool = True) -> Pair:
    if bias:
        A = torch.cat([A, A.new_ones(A.shape[0], 1)], dim=1)
    Wt = torch.linalg.pinv(A) @ B  # (C_in [+ 1], C_out)
    C_out, C_in = B.shape[1], A.shape[1] - int(bias)
    K = Wt[:C_in].T.reshape(C_out, C_in, 1, 1).contiguous()
    return K, (Wt[C_in] if bias else B.new_zeros(C_out))


def _mixed(X: torch.Tensor, Y: torch.Tensor) -> Pair:
    return _lstsq_1x1(X.reshape(-1, X.shape[1]), Y.reshape(-1, Y.shape[1]))


def _no_bias(X: torch.Tensor, Y: torch.Tensor) -> Pair:
    return _lstsq_1x1(_pixels(X), _pixels(Y), bias=False)


def _transposed(X: torch.Tensor, Y: torch.Tensor) -> Pair:
    K, b = _lstsq_1x1(_pixels(X), _pixels(Y))
    return K.transpose(0, 1), b


# (message, the wrong (K, b) from X and Y)
FIT_MISTAKES: tuple[tuple[str, Callable[[torch.Tensor, torch.Tensor], Pair]], ...] = (
    (
        "you reshaped (N, C, H, W) straight to (N*H*W, C), which mixes channels and pixels: "
        "move the channel axis last first (X.permute(0, 2, 3, 1)), then reshape",
        _mixed,
    ),
    ("the bias is not fitted: append a column of ones to the pixel matrix", _no_bias),
    ("your weight is transposed: K[o, c] maps input channel c to output channel o", _transposed),
)


def check_fit_conv1x1(fn: Fn, X: Tensor, Y: Tensor, *, fname: str = "fit_conv1x1") -> None:
    """``fn(X, Y)`` -> (K, b): the least-squares 1x1 weight (C_out, C_in, 1, 1) and bias (C_out,)
    mapping X: (N, C_in, H, W) to Y: (N, C_out, H, W), every pixel one equation."""
    check_pair(
        fn,
        (X, Y),
        _lstsq_1x1(_pixels(X), _pixels(Y)),
        [(text, functools.partial(wrong, X, Y)) for text, wrong in FIT_MISTAKES],
        fname=fname,
        hints=("the weight is (C_out, C_in, 1, 1), as F.conv2d takes it", "the bias is (C_out,)"),
        atol=1e-8,
        rtol=1e-6,
    )


# --------------------------------------------------------------------------------------------
# task 2: the widest bottleneck under a multiply-add and a parameter budget


def _count_macs(layer: torch.nn.Module, inputs: Any, output: Tensor, macs: list[int]) -> None:
    """One multiply-add per output value and per weight that reads into it."""
    assert isinstance(layer, torch.nn.Conv2d)
    macs.append(output.numel() * layer.weight[0].numel())


def bottleneck_cost(channels: int, size: int, mid: int) -> tuple[int, int]:
    """(multiply-adds, parameters) of a bottleneck block (1x1 channels -> mid, 3x3 mid -> mid
    with padding 1, 1x1 mid -> channels, each ``torch.nn.Conv2d`` with its bias) on one
    (channels, size, size) input: the multiply-adds from the output shapes of a forward pass on
    the meta device (no memory, no arithmetic)."""
    block = torch.nn.Sequential(
        torch.nn.Conv2d(channels, mid, 1, device="meta"),
        torch.nn.Conv2d(mid, mid, 3, padding=1, device="meta"),
        torch.nn.Conv2d(mid, channels, 1, device="meta"),
    )
    macs: list[int] = []
    for layer in block:
        layer.register_forward_hook(functools.partial(_count_macs, macs=macs))
    out = block(torch.empty(1, channels, size, size, device="meta"))
    assert out.shape == (1, channels, size, size)
    return sum(macs), sum(p.numel() for p in block.parameters())


def _widest(fits: Callable[[int], bool], top: int) -> int:
    """The largest mid in 0 .. top with fits(mid) (fits is monotone: wider costs more)."""
    low, high = 0, top
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _width(
    cost: Callable[[int, int, int], tuple[int, int]], c: int, s: int, macs: int, params: int
) -> int:
    def fits(m: int) -> bool:
        m_macs, m_params = cost(c, s, m)
        return m_macs <= macs and m_params <= params

    return _widest(fits, 4 * c + 64)


def _formula(
    c: int, s: int, m: int, three: int, expand: int, bias: int, area: int
) -> tuple[int, int]:
    """A usual wrong cost: the 3x3 reads ``three`` channels, the expansion writes ``expand``."""
    weights = c * m + 9 * three * m + m * expand
    return area * weights, weights + bias * (2 * m + expand)


# (label, the width a usual wrong cost gives from channels, size, max_macs, max_params; why)
WIDTH_RULES: list[tuple[str, Callable[..., int], str]] = [
    (
        "counting multiply-adds as weights (one output position)",
        lambda c, s, mac, par: _width(
            lambda c, s, m: _formula(c, s, m, m, c, 1, 1), c, s, mac, par
        ),
        "each weight is used once per output position: size * size times per image",
    ),
    (
        "leaving the biases out of the parameters",
        lambda c, s, mac, par: _width(
            lambda c, s, m: _formula(c, s, m, m, c, 0, s * s), c, s, mac, par
        ),
        "every nn.Conv2d has one bias per output channel: mid + mid + channels parameters",
    ),
    (
        "a 3x3 that reads all the block's channels",
        lambda c, s, mac, par: _width(
            lambda c, s, m: _formula(c, s, m, c, c, 1, s * s), c, s, mac, par
        ),
        "the 3x3 sits between the squeeze and the expansion: it reads mid channels, not channels",
    ),
    (
        "forgetting the expansion back to channels",
        lambda c, s, mac, par: _width(
            lambda c, s, m: _formula(c, s, m, m, 0, 1, s * s), c, s, mac, par
        ),
        "the block's output has channels channels again: a third layer, mid -> channels",
    ),
    (
        "one wider than the budget allows",
        lambda c, s, mac, par: _width(bottleneck_cost, c, s, mac, par) + 1,
        "the widest width that FITS both budgets, not the first that breaks one",
    ),
]


def check_bottleneck_width(
    fn: Fn, channels: int, size: int, max_macs: int, max_params: int
) -> None:
    """``fn(channels, size, max_macs, max_params)``: the widest middle width whose bottleneck
    block costs at most ``max_macs`` multiply-adds per image and ``max_params`` parameters."""
    fname = "bottleneck_width"
    args = (channels, size, max_macs, max_params)
    expected = _width(bottleneck_cost, *args)
    check.check_int(
        fn, args, {}, expected, fname=fname, hint=rule_hints(WIDTH_RULES, args, expected)
    )


# --------------------------------------------------------------------------------------------
# task 3: a 1x1 layer through fewer channels (the best rank-mid approximation of its matrix)

# The composite layer's matrix, computed from the student's two weights by code compiled outside
# convlib's files (it calls the student's function).
_COMPOSITE_SOURCE = """
def composite(fn, mid):
    def matrix(K):
        squeeze, expand = fn(K, mid)
        C_out, C_in = K.shape[:2]
        for name, weight, shape in (("squeeze", squeeze, (mid, C_in, 1, 1)),
                                    ("expansion", expand, (C_out, mid, 1, 1))):
            if tuple(weight.shape) != shape:
                raise ValueError(f"the {name} weight is {tuple(weight.shape)}, not {shape}")
        return expand[:, :, 0, 0] @ squeeze[:, :, 0, 0]
    return matrix
"""
_composite = adapt(_COMPOSITE_SOURCE, "composite")


def _truncated(K: torch.Tensor, mid: int, keep: str = "largest", power: int = 1) -> torch.Tensor:
    U, S, Vh = torch.linalg.svd(K[:, :, 0, 0], full_matrices=False)
    kept = slice(0, mid) if keep == "largest" else slice(len(S) - mid, len(S))
    return (U[:, kept] * S[kept] ** power) @ Vh[kept]


# (message, the wrong composite matrix from K and mid)
SQUEEZE_MISTAKES: tuple[tuple[str, Callable[[torch.Tensor, int], torch.Tensor]], ...] = (
    (
        "you kept the smallest singular values: the best approximation keeps the mid LARGEST "
        "(torch.linalg.svd returns them in decreasing order)",
        lambda K, mid: _truncated(K, mid, keep="smallest"),
    ),
    (
        "the singular values are missing: U_r @ Vh_r is not K's approximation, "
        "U_r @ diag(S_r) @ Vh_r is (put diag(S_r) in either factor, or split its square root)",
        lambda K, mid: _truncated(K, mid, power=0),
    ),
    (
        "the singular values count twice: put diag(S_r) in one factor only (or its square root "
        "in each)",
        lambda K, mid: _truncated(K, mid, power=2),
    ),
)


def check_squeeze_expand(fn: Fn, K: Tensor, mid: int, *, fname: str = "squeeze_expand") -> None:
    """``fn(K, mid)`` -> (squeeze (mid, C_in, 1, 1), expand (C_out, mid, 1, 1)) whose composite
    1x1 layer is closest to K (C_out, C_in, 1, 1) in the Frobenius norm; judged on the composite
    matrix expand @ squeeze, which is unique (the factors are not)."""
    check.check_function(
        _composite(fn, mid),
        (K,),
        {},
        _truncated(K, mid),
        fname=f"{fname}(...): expand @ squeeze",
        shape_hint="the composite of the two 1x1 layers is a (C_out, C_in) matrix",
        variants=[(text, functools.partial(wrong, K, mid)) for text, wrong in SQUEEZE_MISTAKES],
        atol=1e-8,
        rtol=1e-6,
    )
