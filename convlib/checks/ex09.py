"""Checks of ex09_backward: the input gradient through zero and circular padding, finding the
wrong ones among supplied backward functions, and the gradients of a transposed convolution.

Every student function runs with autograd switched off (``core.without_autograd``: gradient
recording off, and any tensor autograd would save for a backward pass refused), so no route to
autograd works, whatever it is called by. Cases and usual mistakes are data: ``CANDIDATES``
(supplied input-gradient functions, each with the settings where its bug shows, or None if
correct).
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import convlib.check as check
from convlib.checks.core import ALL_CONV, AUTOGRAD_OPS, Fn, adapt, pick, without_autograd

__all__ = [
    "backward_case",
    "check_conv2d_grad_input",
    "CANDIDATES",
    "candidate_functions",
    "check_find_wrong",
    "check_conv_transpose2d_backward",
]

# Compiled outside convlib's files: they run inside the check's call of the student's function.
_ADAPTERS_SOURCE = '''
def _fit(dX, H, W):
    out = dX.new_zeros((*dX.shape[:2], H, W))
    h, w = min(H, dX.shape[2]), min(W, dX.shape[3])
    out[:, :, :h, :w] = dX[:, :, :h, :w]
    return out


def input_grad(X, K, dY, stride=1, padding=0, dilation=1, bug=None):
    """dL/dX of conv2d, by a transposed convolution; `bug` plants one mistake."""
    H, W = X.shape[2:]
    s, p, d = stride, padding, dilation
    kernel = K.flip(-1, -2) if bug == "flip" else K
    if bug == "swap":
        s, d = d, s
    if bug == "dilation":
        d = 1
    full = torch.nn.functional.conv_transpose2d(dY, kernel, stride=s, dilation=d)
    start = {"padding": 0, "stride_padding": p * s}.get(bug, p)
    return _fit(full[:, :, start:, start:], H, W)


def candidate(bug):
    def grad_input(X, K, dY, stride=1, padding=0, dilation=1):
        """dL/dX of Y = conv2d(X, K, stride=stride, padding=padding, dilation=dilation)."""
        return input_grad(X, K, dY, stride, padding, dilation, bug)
    return grad_input


def flagged(fn, candidates):
    names = sorted(candidates)
    def mask(label):
        wrong = set(fn(dict(candidates)))
        return torch.tensor([int(name in wrong) for name in names])
    return mask
'''
_candidate = adapt(_ADAPTERS_SOURCE, "candidate")
_flagged = adapt(_ADAPTERS_SOURCE, "flagged")


# --------------------------------------------------------------------------------------------
# task 1: dL/dX with zero and circular padding


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _fold_circular(dXp: torch.Tensor, ph: int, pw: int, H: int, W: int) -> torch.Tensor:
    """The adjoint of circular padding: padded row q is row (q - ph) mod H, so add it there."""
    rows = (torch.arange(dXp.shape[-2], device=dXp.device) - ph) % H
    cols = (torch.arange(dXp.shape[-1], device=dXp.device) - pw) % W
    out = dXp.new_zeros(*dXp.shape[:-2], H, dXp.shape[-1]).index_add_(-2, rows, dXp)
    return out.new_zeros(*dXp.shape[:-2], H, W).index_add_(-1, cols, out)


def _scatter_input_grad(
    dY: torch.Tensor,
    K: torch.Tensor,
    input_shape: Sequence[int],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """dX by scattering dY * K tap by tap (used with wrong settings, to name mistakes)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C_in, H, W = input_shape
    C_out, cpg, kh, kw = K.shape
    Ho, Wo = dY.shape[-2:]
    dXp = dY.new_zeros(
        N,
        C_in,
        max(H + 2 * ph, (Ho - 1) * sh + dh * (kh - 1) + 1),
        max(W + 2 * pw, (Wo - 1) * sw + dw * (kw - 1) + 1),
    )
    opg = C_out // groups
    for g in range(groups):
        dYg, Kg = dY[:, g * opg : (g + 1) * opg], K[g * opg : (g + 1) * opg]
        for a in range(kh):
            for b in range(kw):
                rows = slice(a * dh, a * dh + (Ho - 1) * sh + 1, sh)
                cols = slice(b * dw, b * dw + (Wo - 1) * sw + 1, sw)
                dXp[:, g * cpg : (g + 1) * cpg, rows, cols] += torch.einsum(
                    "nohw,oc->nchw", dYg, Kg[:, :, a, b]
                )
    if padding_mode == "circular":
        return _fold_circular(dXp[..., : H + 2 * ph, : W + 2 * pw], ph, pw, H, W)
    return dXp[:, :, ph : ph + H, pw : pw + W]


def _gather_weight_grad(
    X: torch.Tensor,
    dY: torch.Tensor,
    kernel_shape: Sequence[int],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> torch.Tensor:
    """dK by a correlation of X with dY, tap by tap (used with wrong settings)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    C_out, cpg, kh, kw = kernel_shape
    Ho, Wo = dY.shape[-2:]
    Xp = F.pad(X, (pw, pw, ph, ph))
    need_h, need_w = (Ho - 1) * sh + dh * (kh - 1) + 1, (Wo - 1) * sw + dw * (kw - 1) + 1
    Xp = F.pad(Xp, (0, max(0, need_w - Xp.shape[-1]), 0, max(0, need_h - Xp.shape[-2])))
    dK = dY.new_zeros(C_out, cpg, kh, kw)
    opg = C_out // groups
    for g in range(groups):
        for a in range(kh):
            for b in range(kw):
                win = Xp[
                    :,
                    g * cpg : (g + 1) * cpg,
                    a * dh : a * dh + (Ho - 1) * sh + 1 : sh,
                    b * dw : b * dw + (Wo - 1) * sw + 1 : sw,
                ]
                dK[g * opg : (g + 1) * opg, :, a, b] = torch.einsum(
                    "nchw,nohw->oc", win, dY[:, g * opg : (g + 1) * opg]
                )
    return dK


def _autograd_grads(
    X: torch.Tensor, K: torch.Tensor, dY: torch.Tensor, padding_mode: str = "zeros", **settings: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    Xg = X.detach().clone().requires_grad_()
    Kg = K.detach().clone().requires_grad_()
    with torch.enable_grad():
        if padding_mode == "circular":
            p = settings.pop("padding", 0)
            Y = F.conv2d(F.pad(Xg, (p, p, p, p), mode="circular"), Kg, **settings)
        else:
            Y = F.conv2d(Xg, Kg, **settings)
        Y.backward(dY)
    assert Xg.grad is not None and Kg.grad is not None
    return Xg.grad, Kg.grad


_BACKWARD_FORBIDDEN = ALL_CONV | AUTOGRAD_OPS


def check_conv2d_grad_input(
    fn: Callable[..., Any],
    dY: torch.Tensor,
    K: torch.Tensor,
    input_shape: Sequence[int],
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    fname: str = "conv2d_grad_input",
) -> None:
    """``fn(dY, K, input_shape, stride=, padding=, dilation=, groups=, padding_mode=)`` equals
    autograd's dL/dX through ``F.conv2d`` (after ``F.pad(mode="circular")`` if circular)."""
    settings: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }
    X = dY.new_zeros(tuple(input_shape))
    expected, _ = _autograd_grads(X, K, dY, padding_mode, **settings)

    def wrong(**changes: Any) -> Callable[[], torch.Tensor]:
        merged = {**settings, "padding_mode": padding_mode, **changes}
        kernel = merged.pop("kernel", K)
        return lambda: _scatter_input_grad(dY, kernel, input_shape, **merged)

    variants = [
        (
            "your dX uses the kernel flipped the wrong way: as a convolution of the zero-inserted "
            "dY, dX uses K rotated by 180 degrees (or scatter dY[i, j] * K as it is)",
            wrong(kernel=K.flip(-1, -2)),
        ),
    ]
    if padding_mode == "circular" and padding:
        variants.append(
            (
                "you cropped the padding away: with circular padding the padded border rows ARE "
                "input rows (q - padding) mod H, so their gradient must be added there (wrapped "
                "around), not dropped",
                wrong(padding_mode="zeros"),
            )
        )
    if stride != 1:
        variants.append(
            (
                "stride not undone: output (i, j) came from input row "
                "i*stride + a*dilation - padding, so spread dY out by the stride "
                "(insert stride - 1 zeros between its entries) before the kernel",
                wrong(stride=1),
            )
        )
    if dilation != 1:
        variants.append(
            ("dilation ignored: tap (a, b) sits at a*dilation, b*dilation", wrong(dilation=1))
        )
    if groups != 1:
        variants.append(
            (
                "groups mixed: the gradient of input channel c only comes from the output "
                "channels of its own group",
                lambda: _scatter_input_grad(
                    dY,
                    K.repeat(1, groups, 1, 1),
                    input_shape,
                    stride,
                    padding,
                    dilation,
                    1,
                    padding_mode,
                ),
            )
        )
    check.check_function(
        without_autograd(fn),
        (dY, K, tuple(input_shape)),
        {**settings, "padding_mode": padding_mode},
        expected,
        fname=fname,
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="dL/dX has the input's shape: remove (or, circular, fold back) the padding",
        variants=variants,
    )


# --------------------------------------------------------------------------------------------
# task 2: which supplied backward functions are wrong?

# name: (bug planted, where it shows (None: a correct function))
CANDIDATES: dict[str, tuple[str | None, str | None]] = {
    "transpose": (None, None),
    "transpose_again": (None, None),
    "flip": ("flip", "with any kernel that is not symmetric under a 180-degree rotation"),
    "swap": ("swap", "when stride != dilation (it swaps them)"),
    "dilation": ("dilation", "when dilation > 1 (it ignores it)"),
    "padding": ("padding", "when padding > 0 (it crops the wrong rows)"),
    "stride_padding": (
        "stride_padding",
        "when stride > 1 and padding > 0 meet (it crops padding * stride rows)",
    ),
}


def candidate_functions(seed: int, count: int = 4) -> dict[str, Callable[..., torch.Tensor]]:
    """``count`` candidates drawn from ``CANDIDATES`` by ``seed``, named "A", "B", ..."""
    drawn = random.Random(seed).sample(sorted(CANDIDATES), count)
    return {chr(65 + i): _candidate(CANDIDATES[key][0]) for i, key in enumerate(drawn)}


def check_find_wrong(fn: Callable[..., Any], *, seed: int, fname: str = "find_wrong") -> None:
    """``fn(candidates)`` -> the names of the candidates that are wrong for some settings."""
    drawn = random.Random(seed).sample(sorted(CANDIDATES), 4)
    candidates = candidate_functions(seed)
    names = sorted(candidates)
    truth = torch.tensor([int(CANDIDATES[key][0] is not None) for key in drawn])
    verdicts = []  # what misjudging each candidate means
    for name, key in zip(names, drawn, strict=True):
        where = CANDIDATES[key][1]
        verdicts.append(
            f"candidate {name!r} is wrong: it differs from the true gradient {where}"
            if where
            else f"candidate {name!r} is correct: a judge that flags it is too strict (float64 "
            "central differences agree with the true gradient to about 1e-7)"
        )
    mistakes: list[tuple[str, Callable[[], torch.Tensor]]] = []
    for flags in itertools.product((0, 1), repeat=len(names)):
        answer = torch.tensor(flags)
        misjudged = [
            text for text, a, t in zip(verdicts, flags, truth.tolist(), strict=True) if a != t
        ]
        if misjudged:
            text = "; ".join(misjudged) + ". Test every candidate where each argument matters"
            mistakes.append((text, functools.partial(torch.clone, answer)))
    check.check_function(
        _flagged(without_autograd(fn), candidates),
        (f"candidates of seed {seed}",),
        {},
        truth,
        fname=fname,
        forbidden=AUTOGRAD_OPS,
        shape_hint="return the names of the wrong candidates",
        variants=mistakes,
    )


# --------------------------------------------------------------------------------------------
# task 3: the gradients of a transposed convolution


def check_conv_transpose2d_backward(
    fn: Fn, X: Tensor, K: Tensor, dY: Tensor, stride: int = 1, padding: int = 0
) -> None:
    """``fn(X, K, dY, stride=, padding=) -> (dX, dK)`` for Y = F.conv_transpose2d(X, K, ...)."""
    fname = "conv_transpose2d_backward"
    kwargs: dict[str, object] = {"stride": stride, "padding": padding}
    Xg = X.detach().clone().requires_grad_()
    Kg = K.detach().clone().requires_grad_()
    with torch.enable_grad():
        F.conv_transpose2d(Xg, Kg, stride=stride, padding=padding).backward(dY)
    assert Xg.grad is not None and Kg.grad is not None
    dK = Kg.grad
    check.check_function(
        pick(without_autograd(fn), 0),
        (X, K, dY),
        kwargs,
        Xg.grad,
        fname=f"{fname}[0] (dX)",
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="dX has X's shape (N, C_in, H, W)",
        variants=[
            (
                "dX uses the flipped kernel: the gradient of a transposed convolution is an "
                "ordinary cross-correlation conv2d(dY, K) with the same stride and padding",
                lambda: F.conv2d(dY, K.flip(-1, -2), stride=stride, padding=padding),
            ),
            (
                "stride not applied: dX[i] gathers dY at i*stride + a - padding",
                lambda: F.conv2d(dY, K, padding=padding)[..., : X.shape[-2], : X.shape[-1]],
            ),
        ],
    )
    check.check_function(
        pick(without_autograd(fn), 1),
        (X, K, dY),
        kwargs,
        dK,
        fname=f"{fname}[1] (dK)",
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="dK has K's shape (C_in, C_out, kh, kw)",
        variants=[
            ("dK is flipped", lambda: dK.flip(-1, -2)),
            (
                "dK not summed over the batch",
                lambda: _gather_weight_grad(
                    dY[:1], X[:1], (K.shape[0], K.shape[1], *K.shape[2:]), stride, padding, 1, 1
                ),
            ),
        ],
    )


def backward_case(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    seed: int,
    device: str | torch.device = "cpu",
    **settings: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded (X, K, dY) for a conv2d with ``settings``: dY has the output's shape."""
    X = check.randn(*input_shape, seed=seed, device=device)
    K = check.randn(*kernel_shape, seed=seed + 1, device=device)
    out_shape = F.conv2d(X, K, **settings).shape
    return X, K, check.randn(*out_shape, seed=seed + 2, device=device)
