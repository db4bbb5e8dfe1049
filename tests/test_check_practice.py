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


def fails(run: Callable[[], None], *needles: str) -> str:
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
# ex09_backward


def test_ex09_backward() -> None:
    ns = solutions("ex09_backward")
    settings = {"stride": 2, "padding": 1, "dilation": 1, "groups": 2}
    X, K, dY = practice.backward_case((2, 4, 7, 7), (4, 2, 3, 3), seed=4, **settings)
    grad_input = ns["conv2d_grad_input"]
    for mode in ("zeros", "circular"):
        practice.check_conv2d_grad_input(grad_input, dY, K, X.shape, **settings, padding_mode=mode)
    flipped = functools.partial(
        lambda f, dY, K, *a, **k: f(dY, K.flip(-1, -2), *a, **k), grad_input
    )
    fails(
        lambda: practice.check_conv2d_grad_input(flipped, dY, K, X.shape, **settings),
        "kernel flipped the wrong way",
    )

    def stride_one(
        dY: torch.Tensor, K: torch.Tensor, shape: Any, stride: int = 1, **kw: Any
    ) -> torch.Tensor:
        return grad_input(dY, K, shape, stride=1, **kw)

    fails(
        lambda: practice.check_conv2d_grad_input(stride_one, dY, K, X.shape, **settings),
        "stride not undone",
    )
    cropped = functools.partial(lambda f, *a, padding_mode="zeros", **k: f(*a, **k), grad_input)
    fails(
        lambda: practice.check_conv2d_grad_input(
            cropped, dY, K, X.shape, **settings, padding_mode="circular"
        ),
        "cropped the padding away",
    )
    per_sample = ns["conv2d_grad_weight_per_sample"]
    practice.check_conv2d_grad_weight_per_sample(per_sample, X, dY, K.shape, **settings)
    summed = functools.partial(lambda f, *a, **k: f(*a, **k).sum(0), per_sample)
    fails(
        lambda: practice.check_conv2d_grad_weight_per_sample(summed, X, dY, K.shape, **settings),
        "you summed over the batch",
    )
    practice.check_conv2d_grad_bias(ns["conv2d_grad_bias"], dY)
    practice.check_conv2d_grad_bias(ns["conv2d_grad_bias"], dY, untied=True)
    fails(
        lambda: practice.check_conv2d_grad_bias(lambda dY, untied=False: dY[0].sum((1, 2)), dY),
        "not summed over the batch",
    )
    Xt, Kt = r(2, 3, 4, 4, seed=11), r(3, 2, 3, 3, seed=12)
    practice.check_conv_transpose2d_backward(
        ns["conv_transpose2d_backward"], Xt, Kt, r(2, 2, 7, 7, seed=14), 2, 1
    )


# --------------------------------------------------------------------------------------------
# ex12, ex13


def test_ex12() -> None:
    ns = solutions("ex12_conv1d_3d")
    X, K = r(2, 3, 20), r(4, 3, 3, seed=1)
    practice.check_conv1d(ns["conv1d"], X, K, r(4, seed=2), stride=2, padding=1, dilation=2)

    def conv1d_positions(
        X: torch.Tensor,
        K: torch.Tensor,
        bias: Any = None,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
    ) -> torch.Tensor:
        Xp = F.pad(X, (padding, padding))
        span = dilation * (K.shape[-1] - 1) + 1
        L = (Xp.shape[-1] - span) // stride + 1
        Y = torch.stack(
            [
                (Xp[:, None, :, t * stride : t * stride + span : dilation] * K).sum((2, 3))
                for t in range(L)
            ],
            -1,
        )
        return Y if bias is None else Y + bias[:, None]

    fails(lambda: practice.check_conv1d(conv1d_positions, X, K, stride=2), "output time steps")
    practice.check_conv3d(
        ns["conv3d"], r(1, 2, 4, 5, 5), r(3, 2, 2, 3, 3, seed=1), stride=(1, 2, 2), padding=1
    )
    Xc, Kc = r(2, 2, 16), r(3, 2, 2, seed=3)
    practice.check_causal_conv1d(ns["causal_conv1d"], Xc, Kc, dilation=4)

    def right_padded(X: torch.Tensor, K: torch.Tensor, dilation: int = 1) -> torch.Tensor:
        return ns["conv1d"](F.pad(X, (0, dilation * (K.shape[-1] - 1))), K, dilation=dilation)

    fails(
        lambda: practice.check_causal_conv1d(right_padded, Xc, Kc, dilation=4),
        "padded on the right",
    )
    practice.check_causal_receptive_field(ns["receptive_field"], 2, [1, 2, 4, 8])
    fails(
        lambda: practice.check_causal_receptive_field(lambda k, ds: len(ds) * (k - 1), 2, [1, 2]),
        "expected 4",
    )


def test_ex13() -> None:
    ns = solutions("ex13_separable")
    u, v = r(5, seed=2), r(4, seed=3)
    noisy = torch.outer(u, v) + 1e-12 * r(5, 4, seed=4)
    practice.check_separable_factors(ns["separable_factors"], noisy)
    practice.check_separable_factors(ns["separable_factors"], r(3, 3))

    def exact_rank(K: torch.Tensor, tol: float = 1e-6) -> Any:
        return None if int(torch.linalg.matrix_rank(K)) > 1 else ns["separable_factors"](K, tol)

    fails(lambda: practice.check_separable_factors(exact_rank, noisy), "s2/s1")

    def negated(K: torch.Tensor, tol: float = 1e-6) -> Any:
        out = ns["separable_factors"](K, tol)
        return None if out is None else (-out[0], -out[1])

    fails(lambda: practice.check_separable_factors(negated, -torch.outer(u, v)), "sign convention")
    X, col, row = r(2, 3, 8, 9), r(3, seed=9), r(5, seed=10)
    practice.check_separable_conv2d(ns["separable_conv2d"], X, col, row, (1, 2))

    def one_pass(
        X: torch.Tensor, col: torch.Tensor, row: torch.Tensor, padding: Any = (0, 0)
    ) -> torch.Tensor:
        Xp = F.pad(X, (padding[1], padding[1], padding[0], padding[0]))
        Ho, Wo = Xp.shape[2] - len(col) + 1, Xp.shape[3] - len(row) + 1
        Y = X.new_zeros((*X.shape[:2], Ho, Wo))
        for a in range(len(col)):
            for b in range(len(row)):
                Y += col[a] * row[b] * Xp[:, :, a : a + Ho, b : b + Wo]
        return Y

    fails(
        lambda: practice.check_separable_conv2d(one_pass, X, col, row, (1, 2)), "grows like kh*kw"
    )
    practice.check_low_rank_conv2d(ns["low_rank_conv2d"], r(1, 2, 9, 9), r(5, 5, seed=12), 2)


# --------------------------------------------------------------------------------------------
# ex14, ex15


def test_ex14() -> None:
    ns = solutions("ex14_deformable")
    X = r(2, 3, 5, 6)
    grid = 1.2 * (
        2 * torch.rand(2, 4, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        - 1
    )
    for corners in (True, False):
        practice.check_grid_sample(ns["grid_sample"], X, grid, align_corners=corners)
    swapped = functools.partial(lambda f, X, g, **k: f(X, g.flip(-1), **k), ns["grid_sample"])
    fails(
        lambda: practice.check_grid_sample(swapped, X, grid, align_corners=True), "you swapped them"
    )
    other = functools.partial(
        lambda f, X, g, align_corners=False: f(X, g, align_corners=not align_corners),
        ns["grid_sample"],
    )
    fails(
        lambda: practice.check_grid_sample(other, X, grid, align_corners=False),
        "align_corners=True mapping",
    )
    Xp, py, px = (
        r(2, 5, 6, seed=2),
        torch.tensor([0.3, 1.5, -0.5], dtype=torch.float64),
        torch.tensor([0.2, 2.5, 1.4], dtype=torch.float64),
    )
    practice.check_bilinear_grad(ns["bilinear_grad"], Xp, py, px)
    Xd, Kd = r(1, 2, 6, 6, seed=3), r(3, 2, 3, 3, seed=4)
    offset, mask = 0.8 * r(1, 36, 4, 4, seed=5), torch.sigmoid(r(1, 18, 4, 4, seed=6))
    practice.check_deform_conv2d(ns["deform_conv2d"], Xd, offset, Kd, r(3, seed=7), mask)
    no_mask = functools.partial(lambda f, *a, mask=None, **k: f(*a, **k), ns["deform_conv2d"])
    fails(
        lambda: practice.check_deform_conv2d(no_mask, Xd, offset, Kd, None, mask), "mask is ignored"
    )

    def first_group(
        X: torch.Tensor,
        offset: torch.Tensor,
        K: torch.Tensor,
        bias: Any = None,
        mask: Any = None,
        **k: Any,
    ) -> torch.Tensor:
        taps = K.shape[-2] * K.shape[-1]
        offset = offset[:, : 2 * taps].repeat(1, offset.shape[1] // (2 * taps), 1, 1)
        mask = None if mask is None else mask[:, :taps].repeat(1, mask.shape[1] // taps, 1, 1)
        return ns["deform_conv2d"](X, offset, K, bias, mask, **k)

    fails(
        lambda: practice.check_deform_conv2d(first_group, Xd, offset, Kd, None, mask),
        "first offset group",
    )


def test_ex15() -> None:
    ns = solutions("ex15_large_kernels")
    practice.check_fft_size(ns["fft_size"], 16, 5, 1)
    fails(
        lambda: practice.check_fft_size(lambda n, k, p=0: n + 2 * p + k - 1, 16, 5, 1),
        "more than needed",
    )
    X, K = r(2, 3, 12, 12), r(4, 3, 7, 7, seed=2)
    practice.check_fft_conv2d(ns["fft_conv2d"], X, K, r(4, seed=3), padding=3, stride=2)
    flipped = functools.partial(
        lambda f, X, K, *a, **k: f(X, K.flip(-1, -2), *a, **k), ns["fft_conv2d"]
    )
    fails(lambda: practice.check_fft_conv2d(flipped, X, K), "CONJUGATE")
    x, k = r(100, seed=4), r(9, seed=5)
    practice.check_overlap_save(ns["fft_conv1d_overlap_save"], x, k, 16)

    def no_overlap(x: torch.Tensor, k: torch.Tensor, block: int) -> torch.Tensor:
        parts = []
        for start in range(0, x.shape[0], block):
            piece = x[start : start + block]
            if piece.shape[0] >= k.shape[0]:
                n = piece.shape[0]
                y = torch.fft.irfft(torch.fft.rfft(piece, n) * torch.fft.rfft(k, n).conj(), n)
                parts.append(y[: n - k.shape[0] + 1])
        return torch.cat(parts)

    fails(lambda: practice.check_overlap_save(no_overlap, x, k, 16), "do not overlap")


# --------------------------------------------------------------------------------------------
# ex10, ex16


def test_ex10() -> None:
    ns = solutions("ex10_pooling")
    X = r(2, 3, 7, 5)
    practice.check_adaptive_avg_pool2d_integral(ns["adaptive_avg_pool2d"], X, (3, 2))

    def bins_loop(X: torch.Tensor, out: Any) -> torch.Tensor:
        H, W = X.shape[-2:]
        rows = []
        for i in range(out[0]):
            cols = []
            for j in range(out[1]):
                r0, r1 = i * H // out[0], -((-(i + 1) * H) // out[0])
                c0, c1 = j * W // out[1], -((-(j + 1) * W) // out[1])
                cols.append(X[..., r0:r1, c0:c1].mean((-2, -1)))
            rows.append(torch.stack(cols, -1))
        return torch.stack(rows, -2)

    fails(lambda: practice.check_adaptive_avg_pool2d_integral(bins_loop, X, (3, 2)), "output bins")
    Xm = r(2, 1, 5, 5, seed=6)
    practice.check_max_pool2d_backward(ns["max_pool2d_backward"], Xm, 3, 1)

    def overwrite(dY: torch.Tensor, indices: torch.Tensor, size: Any) -> torch.Tensor:
        N, C = dY.shape[:2]
        out = dY.new_zeros((N, C, size[0] * size[1]))
        out.scatter_(2, indices.reshape(N, C, -1), dY.reshape(N, C, -1))
        return out.reshape(N, C, *size)

    fails(lambda: practice.check_max_pool2d_backward(overwrite, Xm, 3, 1), "ADD up")


def test_ex16() -> None:
    ns = solutions("ex16_speed")
    X, K = r(1, 8, 32, 32), r(8, 8, 3, 3, seed=8)
    ratio = practice.check_speedup(
        ns["conv2d_gemm"],
        ns["conv2d_loops"],
        (X, K),
        {"padding": 1},
        fast_name="conv2d_gemm",
        slow_name="conv2d_loops",
        min_ratio=5,
    )
    assert ratio >= 5
    fails(
        lambda: practice.check_speedup(
            ns["conv2d_loops"],
            ns["conv2d_loops"],
            (r(1, 2, 6, 6), r(2, 2, 3, 3)),
            {},
            fast_name="conv2d_gemm",
            slow_name="conv2d_loops",
            min_ratio=5,
        ),
        "faster, at least 5x is required",
    )
    small, big = r(2, 3, 7, 7), r(2, 3, 30, 30)
    practice.check_no_output_loop(
        ns["conv2d_gemm"], (small, K[:, :3]), (big, K[:, :3]), fname="conv2d_gemm"
    )
    fails(
        lambda: practice.check_no_output_loop(
            ns["conv2d_loops"], (small, K[:, :3]), (big, K[:, :3]), fname="conv2d_loops"
        ),
        "loops in Python over the output positions",
    )
    x, g = r(12, seed=11), r(3, seed=12)
    practice.check_no_output_loop(
        ns["winograd_conv1d"], (x, g), (r(202, seed=13), g), fname="winograd_conv1d"
    )
    assert torch.allclose(ns["winograd_conv1d"](x, g), F.conv1d(x[None, None], g[None, None])[0, 0])
