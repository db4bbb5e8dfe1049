"""Checks of ex06_groups: a grouped weight written as the equal dense (block-diagonal) weight, the
way back (the most groups a dense weight allows, and its grouped weight), and a depthwise
separable convolution fused into one ordinary convolution.

Cases and usual mistakes are data: ``DENSE_MISTAKES`` (wrong placements of the groups' blocks),
``GROUPS_RULES`` (usual wrong readings of the number of groups) and the order mistake of
``check_fuse_depthwise_separable``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

import convlib.check as check
from convlib.checks.core import pick, rule_hints

Fn = Callable[..., Any]

__all__ = [
    "check_grouped_as_dense",
    "grouped_weight",
    "check_recover_groups",
    "check_fuse_depthwise_separable",
]


# --------------------------------------------------------------------------------------------
# task 1: a grouped weight as a dense one


def _dense(K: torch.Tensor, groups: int, order: str = "blocks") -> torch.Tensor:
    """The (C_out, C_in, kh, kw) weight of conv2d(X, K, groups=groups) with no groups.

    ``order`` "blocks" is torch's (group g: consecutive channels); the usual mistakes: "strided"
    (group g: every groups-th channel), "first" (every block in the first input columns),
    "repeat" (every output channel reads every group with its one kernel)."""
    C_out, ci = K.shape[:2]
    co, C_in = C_out // groups, ci * groups
    if order == "repeat":
        return K.repeat(1, groups, 1, 1)
    dense = K.new_zeros((C_out, C_in, *K.shape[2:]))
    for g in range(groups):
        outs = slice(g * co, (g + 1) * co) if order != "strided" else slice(g, C_out, groups)
        ins = {"blocks": slice(g * ci, (g + 1) * ci), "strided": slice(g, C_in, groups)}
        dense[outs, ins.get(order, slice(0, ci))] = K[outs]
    return dense


DENSE_MISTAKES: tuple[tuple[str, str], ...] = (
    (
        "every output channel reads every group with its one kernel: the other groups' columns "
        "of a dense weight are zeros (output group g reads input group g only)",
        "repeat",
    ),
    (
        "every block sits in the first in_channels // groups columns: output group g reads "
        "input channels g*(C_in // groups) ... (g+1)*(C_in // groups) - 1",
        "first",
    ),
    (
        "your groups are every groups-th channel: torch's group g is CONSECUTIVE channels, "
        "g*(C // groups) ... (g+1)*(C // groups) - 1, for inputs and outputs alike",
        "strided",
    ),
)


def check_grouped_as_dense(
    fn: Fn, K: Tensor, groups: int, *, fname: str = "grouped_as_dense"
) -> None:
    """``fn(K, groups)`` -> the dense (C_out, C_in, kh, kw) weight of the grouped layer
    (K: (C_out, C_in // groups, kh, kw)), zeros where no group connects."""
    check.check_function(
        fn,
        (K, groups),
        {},
        _dense(K, groups),
        fname=fname,
        shape_hint="the dense weight is (C_out, groups * K.shape[1], kh, kw)",
        variants=[
            (text, functools.partial(_dense, K, groups, how)) for text, how in DENSE_MISTAKES
        ],
    )


# --------------------------------------------------------------------------------------------
# task 2: the most groups a dense weight allows, and its grouped weight


def grouped_weight(
    C_out: int, C_in: int, groups: int, kernel_size: tuple[int, int], seed: int
) -> torch.Tensor:
    """A dense weight with exactly ``groups`` groups: random blocks (no zero entry) on the
    block diagonal, zeros elsewhere."""
    K = check.randn(C_out, C_in // groups, *kernel_size, seed=seed)
    return _dense(K, groups)


def _fits(K: torch.Tensor, g: int) -> bool:
    C_out, C_in = K.shape[:2]
    if C_out % g or C_in % g:
        return False
    return bool(torch.equal(_dense(_grouped(K, g), g), K))


def _grouped(K: torch.Tensor, g: int) -> torch.Tensor:
    """The (C_out, C_in // g, kh, kw) weight read off the diagonal blocks of a dense K."""
    C_out, C_in = K.shape[:2]
    co, ci = C_out // g, C_in // g
    return torch.cat([K[j * co : (j + 1) * co, j * ci : (j + 1) * ci] for j in range(g)])


def _most_groups(K: torch.Tensor) -> int:
    return max(g for g in range(1, K.shape[0] + 1) if _fits(K, g))


def _first_failure(K: torch.Tensor) -> int:
    """Counting up through the common divisors of C_out and C_in, stopping before the first
    number of groups that does not fit."""
    found = 1
    for g in range(2, math.gcd(K.shape[0], K.shape[1]) + 1):
        if K.shape[0] % g == 0 and K.shape[1] % g == 0:
            if not _fits(K, g):
                break
            found = g
    return found


# (label, the number of groups a usual wrong reading gives from K; why it is wrong)
GROUPS_RULES: list[tuple[str, Callable[..., int], str]] = [
    ("one group", lambda K: 1, "one group always fits; the question is the MOST groups that fit"),
    (
        "the greatest common divisor of C_out and C_in",
        lambda K: math.gcd(K.shape[0], K.shape[1]),
        "any number that divides both is possible; the zeros of the weight decide which holds",
    ),
    (
        "where counting up stops",
        _first_failure,
        "whether g groups fit is not monotone in g: 6 channels in 3 groups do not fit 2 groups "
        "(blocks of 3 rows cannot be cut in halves), so try every divisor",
    ),
    (
        "the channels per group",
        lambda K: K.shape[1] // _most_groups(K),
        "return how many groups there are, not how many input channels each one has",
    ),
]


def check_recover_groups(fn: Fn, K: Tensor, *, fname: str = "recover_groups") -> None:
    """``fn(K)`` -> (K_grouped, groups): the most groups g whose grouped layer equals the dense
    K's, and its (C_out, C_in // g, kh, kw) weight."""
    g = _most_groups(K)
    check.check_int(
        pick(fn, 1), (K,), {}, g, fname=f"{fname}(...)[1]", hint=rule_hints(GROUPS_RULES, (K,), g)
    )
    ci = K.shape[1] // g
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if g > 1:
        variants.append(
            (
                "every group's kernels are read from the first input columns: group j's block "
                "is rows j*(C_out // g) ... and columns j*(C_in // g) ... of the dense weight",
                lambda: K[:, :ci],
            )
        )
    check.check_function(
        pick(fn, 0),
        (K,),
        {},
        _grouped(K, g),
        fname=f"{fname}(...)[0]",
        shape_hint="the grouped weight is (C_out, C_in // groups, kh, kw) = "
        f"{(K.shape[0], ci, *K.shape[2:])}",
        variants=variants,
    )


# --------------------------------------------------------------------------------------------
# task 3: depthwise then pointwise as one ordinary convolution


def _fuse_reference(Kd: torch.Tensor, Kp: torch.Tensor, C_in: int, order: str) -> torch.Tensor:
    m = Kd.shape[0] // C_in
    kh, kw = Kd.shape[-2:]
    C_out = Kp.shape[0]
    if order == "cm":  # depthwise output q = c*m + j comes from input channel c
        d = Kd.reshape(C_in, m, kh, kw)
        p = Kp.reshape(C_out, C_in, m)
    else:  # the mistake: q = j*C_in + c
        d = Kd.reshape(m, C_in, kh, kw).transpose(0, 1)
        p = Kp.reshape(C_out, m, C_in).transpose(1, 2)
    return torch.einsum("cjhw,ocj->ochw", d, p)


def check_fuse_depthwise_separable(
    fn: Fn, K_depthwise: Tensor, K_pointwise: Tensor, in_channels: int
) -> None:
    """``fn(K_depthwise, K_pointwise, in_channels)`` -> the (C_out, C_in, kh, kw) weight of the
    one ordinary convolution equal to depthwise (multiplier m) then pointwise."""
    fname = "fuse_depthwise_separable"
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if K_depthwise.shape[0] > in_channels > 1:
        variants.append(
            (
                "depthwise output channels in the wrong order: with groups=in_channels, "
                "depthwise channel q = c*m + j comes from input channel c (its m kernels are "
                "consecutive), not q = j*in_channels + c",
                lambda: _fuse_reference(K_depthwise, K_pointwise, in_channels, "mc"),
            )
        )
    check.check_function(
        fn,
        (K_depthwise, K_pointwise, in_channels),
        {},
        _fuse_reference(K_depthwise, K_pointwise, in_channels, "cm"),
        fname=fname,
        shape_hint="the fused weight is (C_out, in_channels, kh, kw): sum over the depth "
        "multiplier's m kernels of each input channel",
        variants=variants,
    )
