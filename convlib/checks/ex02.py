"""Checks of ex02_learning_a_kernel: the loss's gradient derived by hand (autograd off), a
central-difference gradient checker, and the learning rate above which gradient descent diverges.

Cases and usual mistakes are data: ``GRAD_MISTAKES`` (wrong hand gradients of the kernel and the
bias, each a change of the true pair) and ``LR_MISTAKES`` (wrong readings of the curvature).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import convlib.check as check
from convlib.checks.core import AUTOGRAD_OPS, as_float64, check_pair, no_grad

Fn = Callable[..., Any]

__all__ = ["check_loss_grad", "check_numerical_grad", "check_critical_lr"]

Pair = tuple[torch.Tensor, torch.Tensor]


def _loss(X: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((F.conv2d(X[None, None], K[None, None])[0, 0] + b - Y) ** 2).sum()


def _true_grad(X: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, b: torch.Tensor) -> Pair:
    with torch.enable_grad():
        K, b = K.detach().requires_grad_(), b.detach().requires_grad_()
        dK, db = torch.autograd.grad(_loss(X, Y, K, b), (K, b))
    return dK.detach(), db.detach()


# (message, the wrong pair from the true pair and the inputs)
GRAD_MISTAKES: tuple[tuple[str, Callable[[Pair, tuple[torch.Tensor, ...]], Pair]], ...] = (
    (
        "your gradient has the wrong sign: differentiate (Y_hat - Y)**2, whose derivative in "
        "Y_hat is +2 (Y_hat - Y); gradient descent then steps against it",
        lambda g, a: (-g[0], -g[1]),
    ),
    (
        "your gradient is half the true one: the derivative of r**2 is 2 r",
        lambda g, a: (g[0] / 2, g[1] / 2),
    ),
    (
        "your kernel gradient is flipped: dL/dK[a, b] = sum_ij 2 r[i, j] X[i + a, j + b], a "
        "cross-correlation of X with the residual r (X first, no flip)",
        lambda g, a: (g[0].flip(0, 1), g[1]),
    ),
    (
        "your gradient leaves the bias out of the residual: r = corr2d(X, K) + b - Y",
        lambda g, a: _true_grad(a[0], a[1], a[2], torch.zeros_like(a[3])),
    ),
)


def check_loss_grad(fn: Fn, X: Tensor, Y: Tensor, K: Tensor, b: Tensor) -> None:
    """``fn(X, Y, K, b)`` -> (dL/dK, dL/db) for L = sum((corr2d(X, K) + b - Y)**2), b a 0-d
    tensor; called with gradient recording off."""
    fname = "loss_grad"
    true = _true_grad(X, Y, K, b)
    args = (X, Y, K, b)
    check_pair(
        no_grad(fn),
        args,
        true,
        [(text, functools.partial(wrong, true, args)) for text, wrong in GRAD_MISTAKES],
        fname=fname,
        hints=(
            "element 0 of the pair is dL/dK, shaped like K",
            "element 1 of the pair is dL/db, a 0-d tensor like b",
        ),
        forbidden=check.CONV_OPS | AUTOGRAD_OPS,
    )


def check_numerical_grad(
    fn: Fn, loss: Callable[[Tensor], Tensor], K: Tensor, eps: float = 1e-6
) -> None:
    """``fn(loss, K, eps)`` -> the central-difference gradient of ``loss`` at K (shaped like K),
    compared with autograd's; called with gradient recording off."""
    fname = "numerical_grad"
    with torch.enable_grad():
        leaf = K.detach().requires_grad_()
        (expected,) = torch.autograd.grad(loss(leaf), leaf)

    def forward_difference() -> torch.Tensor:
        base, out = loss(K), torch.zeros_like(K)
        for i in range(K.numel()):
            step = torch.zeros_like(K).reshape(-1)
            step[i] = eps
            out.reshape(-1)[i] = (loss(K + step.reshape(K.shape)) - base) / eps
        return out

    check.check_function(
        no_grad(fn),
        (loss, K, eps),
        {},
        expected.detach(),
        fname=fname,
        forbidden=AUTOGRAD_OPS,
        shape_hint="one partial derivative per entry of K: the result is shaped like K",
        variants=[
            (
                "your derivatives are about twice the true ones: the central difference "
                "divides by the distance between the two points, 2 * eps",
                lambda: 2 * expected,
            ),
            (
                "your derivatives are off by about eps * (the curvature): a one-sided (forward) "
                "difference; use (loss(K + eps e) - loss(K - eps e)) / (2 eps)",
                forward_difference,
            ),
        ],
        atol=1e-6,
        rtol=1e-6,
    )


def _design(X: torch.Tensor, kh: int, kw: int, bias: bool = True) -> torch.Tensor:
    """The matrix of the linear map (K, b) -> corr2d(X, K) + b: one row per output pixel."""
    Ho, Wo = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    cols = [X[a : a + Ho, b : b + Wo].reshape(-1) for a in range(kh) for b in range(kw)]
    if bias:
        cols.append(X.new_ones(Ho * Wo))
    return torch.stack(cols, dim=1)


def _top(A: torch.Tensor) -> torch.Tensor:
    return torch.linalg.eigvalsh(A.T @ A)[-1]


# (message, the wrong learning rate from the design matrix with and without the bias column)
LR_MISTAKES: tuple[tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]], ...] = (
    (
        "your rate is twice the limit: the loss's Hessian is 2 A^T A (the square's factor 2), "
        "and gradient descent diverges once lr * (its largest eigenvalue) exceeds 2",
        lambda A, A0: 2 / _top(A),
    ),
    (
        "your rate leaves out the bias: the chapter's layer learns K and b together, so the "
        "linear map has a column of ones for b",
        lambda A, A0: 1 / _top(A0),
    ),
    (
        "your rate uses the smallest eigenvalue: the steepest direction (the largest "
        "eigenvalue) is the one that explodes first",
        lambda A, A0: 1 / torch.linalg.eigvalsh(A.T @ A)[0],
    ),
)


def _cpu(
    wrong: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], A: torch.Tensor, A0: torch.Tensor
) -> torch.Tensor:
    return wrong(A, A0).cpu()


def check_critical_lr(fn: Fn, X: Tensor, kernel_size: tuple[int, int]) -> None:
    """``fn(X, kernel_size)`` -> the learning rate above which gradient descent on
    sum((corr2d(X, K) + b - Y)**2) over (K, b) diverges, as a float (any Y)."""
    fname = "critical_lr"
    kh, kw = kernel_size
    A, A0 = _design(X, kh, kw), _design(X, kh, kw, bias=False)
    check.check_function(
        as_float64(no_grad(fn)),
        (X, kernel_size),
        {},
        (1 / _top(A)).to("cpu", torch.float64),
        fname=fname,
        forbidden=check.CONV_OPS | AUTOGRAD_OPS,
        shape_hint="a learning rate is one number (a Python float)",
        variants=[(text, functools.partial(_cpu, wrong, A, A0)) for text, wrong in LR_MISTAKES],
        atol=0.0,
        rtol=1e-6,
    )
