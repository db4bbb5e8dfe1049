"""convlib.check_practice: each diagnosis is triggered by the mistake it names, and the reference
solutions (the solution cells of solutions/*) pass. Tiny inputs, CPU only: about 10 s."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
import torch.nn.functional as F

import convlib.check as check
import convlib.check_practice as practice

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def solutions(assignment: str) -> dict[str, Any]:
    """The namespace of an assignment's solution cells (as a student who solved it would have)."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    namespace: dict[str, Any] = {"torch": torch, "__name__": "__main__"}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(compile(cell.source, f"<{assignment}>", "exec"), namespace)  # noqa: S102
    return namespace


def fails(run: Callable[[], object], *needles: str) -> str:
    with pytest.raises(AssertionError) as info:
        run()
    text = " ".join(str(info.value).split())
    for needle in needles:
        assert " ".join(needle.split()) in text, text
    return text


def r(*shape: int, seed: int = 0) -> torch.Tensor:
    return check.randn(*shape, seed=seed)


# --------------------------------------------------------------------------------------------
# ex01: taps, full mode, gradient by hand


def corr2d_positions(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    kh, kw = K.shape
    Y = X.new_zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y


def test_ex01() -> None:
    ns = solutions("ex01_cross_correlation")
    X, K = r(5, 6), r(3, 2, seed=1)
    practice.check_corr2d_taps(ns["corr2d"], X, K)
    fails(
        lambda: practice.check_corr2d_taps(corr2d_positions, X, K),
        "loops in Python over the output positions",
    )
    practice.check_convolve2d_mode(ns["convolve2d"], X, K, "full")
    practice.check_convolve2d_mode(ns["convolve2d"], X, K, "valid")

    def one_side(X: torch.Tensor, K: torch.Tensor, mode: str = "valid") -> torch.Tensor:
        kh, kw = K.shape
        return ns["corr2d"](F.pad(X, (0, 2 * (kw - 1), 0, 2 * (kh - 1))), K.flip(0, 1))

    def unflipped(X: torch.Tensor, K: torch.Tensor, mode: str = "valid") -> torch.Tensor:
        kh, kw = K.shape
        return ns["corr2d"](F.pad(X, (kw - 1, kw - 1, kh - 1, kh - 1)), K)

    fails(lambda: practice.check_convolve2d_mode(one_side, X, K, "full"), "padded one side only")
    fails(lambda: practice.check_convolve2d_mode(unflipped, X, K, "full"), "full cross-correlation")
    Xc, Kc = r(2, 3, 5, 5), r(4, 3, 3, 3, seed=2)
    practice.check_conv2d_taps(ns["conv2d"], Xc, Kc, r(4, seed=3))
    X = torch.ones((6, 8), dtype=torch.float64)
    X[:, 2:6] = 0  # the chapter's image: a black band on white
    K_true = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    Y = F.conv2d(X[None, None], K_true[None, None])[0, 0]
    practice.check_learn_kernel_by_hand(ns["learn_kernel"], X, Y, K_true)

    def with_autograd(
        X: torch.Tensor, Y: torch.Tensor, steps: int = 60, lr: float = 0.03
    ) -> torch.Tensor:
        K = X.new_zeros((1, 2)).requires_grad_()
        loss = ((ns["corr2d"](X, K) - Y) ** 2).sum()
        loss.backward()
        return K.detach()

    fails(lambda: practice.check_learn_kernel_by_hand(with_autograd, X, Y, K_true), "autograd")


# --------------------------------------------------------------------------------------------
# ex03-ex08, ex10_im2col, ex10: the tasks beyond the chapters' printed code


def test_ex03() -> None:
    ns = solutions("ex03_padding_stride")
    X = r(2, 5, 4)
    for mode in ("constant", "reflect", "replicate", "circular"):
        practice.check_pad2d_mode(ns["pad2d"], X, 2, mode)

    def wrong_side(X: torch.Tensor, p: int, mode: str = "constant") -> torch.Tensor:
        X = torch.cat([X[..., :p, :], X, X[..., -p:, :]], -2)
        return torch.cat([X[..., :p], X, X[..., -p:]], -1)

    fails(lambda: practice.check_pad2d_mode(wrong_side, X, 2, "circular"), "wrong side")

    def symmetric(X: torch.Tensor, p: int, mode: str = "constant") -> torch.Tensor:
        X = torch.cat([X[..., :p, :].flip(-2), X, X[..., -p:, :].flip(-2)], -2)
        return torch.cat([X[..., :p].flip(-1), X, X[..., -p:].flip(-1)], -1)

    fails(lambda: practice.check_pad2d_mode(symmetric, X, 2, "reflect"), "numpy's 'symmetric'")
    conv2d = ns["conv2d"]
    Xc, K, Ke = r(1, 2, 5, 6), r(3, 2, 3, 3, seed=1), r(3, 2, 2, 4, seed=2)
    practice.check_conv2d_same(conv2d, Xc, Ke, "same")
    practice.check_conv2d_same(conv2d, Xc, K, 1, stride=2, padding_mode="circular")

    def left_heavy(
        X: torch.Tensor, K: torch.Tensor, stride: Any = 1, padding: Any = 0
    ) -> torch.Tensor:
        kh, kw = K.shape[-2:]
        top, left = kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2  # the extra row on top
        N, C, H, W = X.shape
        Xp = X.new_zeros((N, C, H + kh - 1, W + kw - 1))
        Xp[:, :, top : top + H, left : left + W] = X
        return conv2d(Xp, K, stride)

    fails(lambda: practice.check_conv2d_same(left_heavy, Xc, Ke, "same"), "extra padding row")
    zeros_only = functools.partial(lambda f, *a, padding_mode="zeros", **k: f(*a, **k), conv2d)
    fails(
        lambda: practice.check_conv2d_same(zeros_only, Xc, K, 1, padding_mode="reflect"),
        "padding_mode='reflect' is ignored",
    )


def test_ex04() -> None:
    ns = solutions("ex04_channels")
    X, K = r(3, 5, 6), r(3, 2, 3, seed=1)
    practice.check_corr2d_multi_in(ns["corr2d_multi_in"], X, K)

    def per_channel(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:  # the chapter's loop
        return torch.stack([corr2d_positions(x, k) for x, k in zip(X, K, strict=True)]).sum(0)

    fails(lambda: practice.check_corr2d_multi_in(per_channel, X, K), "over the input channels")
    Xl, Kl = r(2, 5, 5, 3), r(2, 2, 3, 3, seed=2)
    practice.check_conv2d_channels_last(ns["corr2d_multi_in_out"], Xl, Kl)

    def out_loop(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [ns["corr2d_multi_in_out"](X, K[..., o : o + 1])[..., 0] for o in range(K.shape[-1])],
            -1,
        )

    fails(lambda: practice.check_conv2d_channels_last(out_loop, Xl, Kl), "over the channels")
    swapped = functools.partial(lambda f, X, K: f(X, K.transpose(2, 3)), ns["corr2d_multi_in_out"])
    fails(lambda: practice.check_conv2d_channels_last(swapped, Xl, Kl), "(kh, kw, C_out, C_in)")


def test_ex05() -> None:
    ns = solutions("ex05_one_by_one")
    X = r(2, 3, 4, 5)
    Y = F.conv2d(X, r(3, 3, 1, 1, seed=1), r(3, seed=2)) + 0.1 * r(2, 3, 4, 5, seed=3)
    practice.check_fit_conv1x1(ns["fit_conv1x1"], X, Y)

    def straight_reshape(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        A = X.reshape(-1, X.shape[1])
        A = torch.cat([A, A.new_ones(A.shape[0], 1)], 1)
        W = torch.linalg.lstsq(A, Y.reshape(-1, Y.shape[1])).solution
        return W[:-1].T.reshape(Y.shape[1], X.shape[1], 1, 1), W[-1]

    fails(lambda: practice.check_fit_conv1x1(straight_reshape, X, Y), "mixes channels and pixels")

    def no_bias(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        A, B = X.permute(0, 2, 3, 1).reshape(-1, 3), Y.permute(0, 2, 3, 1).reshape(-1, 3)
        return torch.linalg.lstsq(A, B).solution.T.reshape(3, 3, 1, 1), B.new_zeros(3)

    fails(lambda: practice.check_fit_conv1x1(no_bias, X, Y), "bias is not fitted")


def test_ex06() -> None:
    ns = solutions("ex06_groups")
    conv2d = ns["conv2d"]
    X, K, b = r(2, 4, 6, 6), r(6, 2, 3, 3, seed=1), r(6, seed=2)
    practice.check_conv2d_groups_vectorised(conv2d, X, K, b, 2, 1, 1, 2)

    def group_loop(
        X: Any,
        K: Any,
        bias: Any = None,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
    ) -> torch.Tensor:
        ci, co = X.shape[1] // groups, K.shape[0] // groups
        parts = [
            conv2d(
                X[:, g * ci : (g + 1) * ci],
                K[g * co : (g + 1) * co],
                None,
                stride,
                padding,
                dilation,
                1,
            )
            for g in range(groups)
        ]
        Y = torch.cat(parts, 1)
        return Y if bias is None else Y + bias[:, None, None]

    fails(
        lambda: practice.check_conv2d_groups_vectorised(group_loop, X, K, b, 2, 1, 1, 2),
        "loops in Python over the groups or channels",
    )

    def interleaved_out(*args: Any) -> torch.Tensor:
        Y = conv2d(*args)
        N, C = Y.shape[:2]
        return Y.reshape(N, 2, C // 2, *Y.shape[2:]).transpose(1, 2).reshape(Y.shape)

    fails(
        lambda: practice.check_conv2d_groups_vectorised(interleaved_out, X, K, None, 1, 0, 1, 2),
        "output channels in the wrong order",
    )
    fuse = ns["fuse_depthwise_separable"]
    Kd, Kp = r(6, 1, 3, 3, seed=3), r(4, 6, 1, 1, seed=4)
    practice.check_fuse_depthwise_separable(fuse, Kd, Kp, 3)

    def wrong_order(Kd: torch.Tensor, Kp: torch.Tensor, C_in: int) -> torch.Tensor:
        m = Kd.shape[0] // C_in
        d = Kd.reshape(m, C_in, *Kd.shape[-2:])
        p = Kp.reshape(Kp.shape[0], m, C_in)
        return torch.einsum("jchw,ojc->ochw", d, p)

    fails(
        lambda: practice.check_fuse_depthwise_separable(wrong_order, Kd, Kp, 3),
        "depthwise output channels in the wrong order",
    )
