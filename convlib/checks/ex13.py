"""Checks of ex13_separable (chapter 13, spatially separable kernels), on a whole layer.

Tasks: the best rank-r factorisation of a layer's weight (C_out, C_in, kh, kw) into a vertical
layer (r, C_in, kh, 1) and a horizontal one (C_out, r, 1, kw); its relative error at every rank;
the largest rank a multiply-add budget allows. The factors are judged by the kernel they compose
(unique, where the factors are not). The usual mistakes are data: ``FACTOR_MISTAKES``,
``ERROR_MISTAKES``, ``BUDGET_RULES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

import convlib.check as check
from convlib.checks import core

__all__ = [
    "check_layer_factors",
    "check_relative_errors",
    "check_rank_for_budget",
    "layer_svd",
    "FACTOR_MISTAKES",
    "ERROR_MISTAKES",
    "BUDGET_RULES",
]


def layer_svd(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The SVD of K as the matrix M[(c, a), (o, b)] = K[o, c, a, b]: (C_in kh, C_out kw)."""
    C_out, C_in, kh, kw = K.shape
    return torch.linalg.svd(K.permute(1, 2, 0, 3).reshape(C_in * kh, C_out * kw))


def _compose(K: torch.Tensor, U: torch.Tensor, S: torch.Tensor, Vh: torch.Tensor) -> torch.Tensor:
    """The kernel sum_i S[i] U[:, i] Vh[i] back in K's layout (C_out, C_in, kh, kw)."""
    C_out, C_in, kh, kw = K.shape
    M = (U * S) @ Vh
    return M.reshape(C_in, kh, C_out, kw).permute(2, 0, 1, 3)


def _approx(K: torch.Tensor, rank: int, power: float = 1.0) -> torch.Tensor:
    U, S, Vh = layer_svd(K)
    return _compose(K, U[:, :rank], S[:rank] ** power, Vh[:rank])


# (message, the composed kernel a mistake gives, from K and the rank)
FACTOR_MISTAKES: list[tuple[str, Callable[[torch.Tensor, int], torch.Tensor]]] = [
    (
        "the singular values are missing: scale the factors by sqrt(s_i) each (or one by s_i)",
        lambda K, rank: _approx(K, rank, 0.0),
    ),
    (
        "the singular values are applied twice: sqrt(s_i) to each factor, or s_i to one of them",
        lambda K, rank: _approx(K, rank, 2.0),
    ),
    (
        "one term too few: keep the `rank` largest singular values",
        lambda K, rank: _approx(K, rank - 1),
    ),
]

_COMPOSE = core.adapt(
    "def compose(fn):\n"
    "    def layer_factors(K, rank):\n"
    "        V, H = fn(K, rank)\n"
    "        C_out, C_in, kh, kw = K.shape\n"
    "        shapes = (('V', V, (rank, C_in, kh, 1)), ('H', H, (C_out, rank, 1, kw)))\n"
    "        for name, M, shape in shapes:\n"
    "            if tuple(M.shape) != shape:\n"
    "                raise ValueError(f'{name} has shape {tuple(M.shape)}, expected {shape}')\n"
    "        return torch.einsum('orb,rca->ocab', H[:, :, 0, :], V[:, :, :, 0])\n"
    "    return layer_factors\n",
    "compose",
)


def check_layer_factors(
    fn: Callable[..., Any], K: torch.Tensor, rank: int, *, fname: str = "layer_factors"
) -> None:
    """``fn(K, rank) -> (V, H)``: the vertical layer then the horizontal one compose the best
    rank-``rank`` approximation of K (Frobenius norm)."""
    check.check_function(
        _COMPOSE(fn),
        (K, rank),
        {},
        _approx(K, rank),
        fname=fname,
        forbidden=core.ALL_CONV,
        atol=1e-9,
        rtol=1e-7,
        variants=[(m, functools.partial(wrong, K, rank)) for m, wrong in FACTOR_MISTAKES],
    )


def _errors(K: torch.Tensor, spectral: bool = False, squared: bool = False) -> torch.Tensor:
    S = layer_svd(K)[1]
    if spectral:
        return torch.cat([S[1:], S.new_zeros(1)]) / S[0]
    tail = (S**2).flip(0).cumsum(0).flip(0)  # tail[i] = sum_{j >= i} s_j^2
    rel = torch.cat([tail[1:], S.new_zeros(1)]) / tail[0]
    return rel if squared else rel.sqrt()


# (message, the wrong errors from K)
ERROR_MISTAKES: list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = [
    (
        "you gave s_{r+1} / s_1, the error in the spectral norm; the Frobenius error of the best "
        "rank-r approximation adds up ALL the dropped singular values (squared)",
        lambda K: _errors(K, spectral=True),
    ),
    (
        "these are squared errors: take the square root of the ratio of sums of squares",
        lambda K: _errors(K, squared=True),
    ),
    (
        "off by one rank: entry 0 is rank 1 (keep 1 term), the last entry is full rank (0)",
        lambda K: torch.cat([K.new_ones(1), _errors(K)[:-1]]),
    ),
]


def check_relative_errors(
    fn: Callable[..., Any], K: torch.Tensor, *, fname: str = "relative_errors"
) -> None:
    """``fn(K)``: ||K - K_r|| / ||K|| (Frobenius) for r = 1 .. min(C_in kh, C_out kw)."""
    check.check_function(
        fn,
        (K,),
        {},
        _errors(K),
        fname=fname,
        forbidden=core.ALL_CONV,
        atol=1e-9,
        rtol=1e-7,
        shape_hint="one error per rank r = 1 .. min(C_in*kh, C_out*kw)",
        variants=[(m, functools.partial(wrong, K)) for m, wrong in ERROR_MISTAKES],
    )


def _largest(cost_per_rank: int, budget: float, dense: int, top: int) -> int:
    return min(top, int(budget * dense // cost_per_rank))


# (label, the rank a usual wrong rule gives from C_out, C_in, kh, kw, budget; why it is wrong)
BUDGET_RULES: list[tuple[str, Callable[..., int], str]] = [
    (
        "the single-channel rule r (kh + kw) <= budget kh kw",
        lambda o, c, kh, kw, b: _largest(kh + kw, b, kh * kw, min(c * kh, o * kw)),
        "the vertical layer reads C_in channels, the horizontal one writes C_out",
    ),
    (
        "counting the vertical layer only",
        lambda o, c, kh, kw, b: _largest(c * kh, b, o * c * kh * kw, min(c * kh, o * kw)),
        "the horizontal layer costs C_out kw multiply-adds per output and per rank too",
    ),
    (
        "not capped",
        lambda o, c, kh, kw, b: int(b * o * c * kh * kw // (c * kh + o * kw)),
        "beyond min(C_in kh, C_out kw) terms the factorisation is exact already",
    ),
]


def check_rank_for_budget(
    fn: Callable[..., Any], K: torch.Tensor, budget: float, *, fname: str = "rank_for_budget"
) -> None:
    """``fn(K, budget)``: the largest rank whose two layers cost at most ``budget`` times the
    dense layer's multiply-adds per output position, capped at the full rank."""
    o, c, kh, kw = K.shape
    expected = _largest(c * kh + o * kw, budget, o * c * kh * kw, min(c * kh, o * kw))
    check.check_int(
        fn,
        (K, budget),
        {},
        expected,
        fname=fname,
        forbidden=core.ALL_CONV,
        hint=core.rule_hints(BUDGET_RULES, (o, c, kh, kw, budget), expected),
    )
