"""convlib.checks.ex12 .. ex16: each diagnosis is triggered by the mistake it names, and the
released solutions (the solution cells of solutions/*) pass. Tiny inputs, CPU only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
import torch.nn.functional as F
from check_helpers import fails, r

from convlib.algorithms.fft import exact_fft_length
from convlib.checks import core, ex12, ex13, ex14, ex15, ex16

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


# --------------------------------------------------------------------------------------------
# ex14: grid_sample, the bilinear derivative by hand, offset groups


def test_ex14() -> None:
    ns = solutions("ex14_deformable")
    X = r(2, 3, 5, 6)
    grid = 1.2 * (
        2 * torch.rand(2, 4, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        - 1
    )
    for corners in (True, False):
        ex14.check_grid_sample(ns["grid_sample"], X, grid, align_corners=corners)
    swapped = functools.partial(lambda f, X, g, **k: f(X, g.flip(-1), **k), ns["grid_sample"])
    fails(lambda: ex14.check_grid_sample(swapped, X, grid, align_corners=True), "you swapped them")
    other = functools.partial(
        lambda f, X, g, align_corners=False: f(X, g, align_corners=not align_corners),
        ns["grid_sample"],
    )
    fails(
        lambda: ex14.check_grid_sample(other, X, grid, align_corners=False),
        "align_corners=True mapping",
    )
    Xp, py, px = (
        r(2, 5, 6, seed=2),
        torch.tensor([0.3, 1.5, -0.5], dtype=torch.float64),
        torch.tensor([0.2, 2.5, 1.4], dtype=torch.float64),
    )
    ex14.check_bilinear_grad(ns["bilinear_grad"], Xp, py, px)
    Xd, Kd = r(1, 2, 6, 6, seed=3), r(3, 2, 3, 3, seed=4)
    offset, mask = 0.8 * r(1, 36, 4, 4, seed=5), torch.sigmoid(r(1, 18, 4, 4, seed=6))
    ex14.check_deform_conv2d(ns["deform_conv2d"], Xd, offset, Kd, r(3, seed=7), mask)
    no_mask = functools.partial(lambda f, *a, mask=None, **k: f(*a, **k), ns["deform_conv2d"])
    fails(lambda: ex14.check_deform_conv2d(no_mask, Xd, offset, Kd, None, mask), "mask is ignored")

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
        lambda: ex14.check_deform_conv2d(first_group, Xd, offset, Kd, None, mask),
        "first offset group",
    )


def test_ex14_no_route_to_autograd() -> None:
    X, py, px = (
        r(2, 5, 6, seed=2),
        torch.tensor([0.3, 1.5, -0.5], dtype=torch.float64),
        torch.tensor([0.2, 2.5, 1.4], dtype=torch.float64),
    )
    ns = solutions("ex14_deformable")

    def by_autograd(X: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> Any:
        qy, qx = py.clone().requires_grad_(), px.clone().requires_grad_()
        rows = []
        for c in range(X.shape[0]):
            v = ns["grid_sample"](
                X[None, c : c + 1],
                torch.stack([2 * qx / (X.shape[2] - 1) - 1, 2 * qy / (X.shape[1] - 1) - 1], -1)[
                    None, None
                ],
                align_corners=True,
            ).sum()
            rows.append(torch.autograd.grad(v, (qy, qx)))
        return torch.stack([g[0] for g in rows]), torch.stack([g[1] for g in rows])

    # under the check, gradient recording is off: autograd has no graph to work on
    fails(lambda: ex14.check_bilinear_grad(by_autograd, X, py, px), "bilinear_grad")

    def minus(X: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> Any:
        dy, dx = ns["bilinear_grad"](X, py, px)
        return -dy, dx

    fails(lambda: ex14.check_bilinear_grad(minus, X, py, px), "sign: moving the point down")
    swapped = functools.partial(lambda f, *a: f(*a)[::-1], ns["bilinear_grad"])
    fails(lambda: ex14.check_bilinear_grad(swapped, X, py, px), "you returned (d/dpx, d/dpy)")


# --------------------------------------------------------------------------------------------
# ex12: a causal step, a stack streamed step by step, the dilations designed


def test_ex12_causal_step() -> None:
    ns = solutions("ex12_conv1d_3d")
    step = ns["causal_step"]
    buffer, x_t, K = r(2, 3, 4), r(2, 3, seed=1), r(5, 3, 3, seed=2)
    ex12.check_causal_step(step, buffer, x_t, K, dilation=2)
    mistakes: list[tuple[Callable[..., Any], str]] = [
        (lambda b, x, K, d=1: step(b, x, K.flip(-1), d), "the taps are reversed"),
        (
            lambda b, x, K, d=1: (
                step(b[..., -(K.shape[-1] - 1) :], x, K, 1)[0],
                step(b, x, K, d)[1],
            ),
            "dilation is ignored",
        ),
        (lambda b, x, K, d=1: (step(b, x, K, d)[0], b), "the buffer is not updated"),
        (
            lambda b, x, K, d=1: (step(b, x, K, d)[0], torch.cat([x[..., None], b], -1)[..., :-1]),
            "drops the newest input",
        ),
    ]
    for wrong, needle in mistakes:
        fails(functools.partial(ex12.check_causal_step, wrong, buffer, x_t, K, 2), needle)


def test_ex12_stream() -> None:
    ns = solutions("ex12_conv1d_3d")
    X = r(2, 2, 12, seed=4)
    kernels = [r(3, 2, 2, seed=5), r(3, 3, 2, seed=6), r(1, 3, 2, seed=7)]
    ex12.check_stream(ns["make_stream"], X, kernels, [1, 2, 4])
    torch.testing.assert_close(  # the reference stack is the chapter's left-padded convolution
        ex12.causal_stack(X[:, :, :5], kernels, [1, 2, 4]),
        ex12.causal_stack(X, kernels, [1, 2, 4])[:, :, :5],
        atol=1e-12,
        rtol=0,
    )
    make = ns["make_stream"]
    fails(
        lambda: ex12.check_stream(lambda Ks, ds: make(Ks, [1] * len(ds)), X, kernels, [1, 2, 4]),
        "dilations are ignored",
    )
    fails(
        lambda: ex12.check_stream(
            lambda Ks, ds: make([K.flip(-1) for K in Ks], ds), X, kernels, [1, 2, 4]
        ),
        "taps are reversed",
    )

    def linear(Ks: list[torch.Tensor], ds: list[int]) -> Callable[[torch.Tensor], torch.Tensor]:
        buffers: list[torch.Tensor] = []

        def step(x_t: torch.Tensor) -> torch.Tensor:
            if not buffers:
                buffers.extend(
                    x_t.new_zeros(x_t.shape[0], K.shape[1], d) for K, d in zip(Ks, ds, strict=True)
                )
            for i, (K, d) in enumerate(zip(Ks, ds, strict=True)):
                x_t, buffers[i] = ns["causal_step"](buffers[i], x_t, K, d)
            return x_t

        return step

    fails(lambda: ex12.check_stream(linear, X, kernels, [1, 2, 4]), "no ReLU between the layers")


def test_ex12_design() -> None:
    ns = solutions("ex12_conv1d_3d")
    for field, k in [(16, 2), (20, 3), (1, 2), (82, 3)]:
        ex12.check_design_dilations(ns["design_dilations"], field, k)
    fails(lambda: ex12.check_design_dilations(lambda f, k: [1] * (f - 1), 16, 2), "more layers")
    fails(lambda: ex12.check_design_dilations(lambda f, k: [1, 2, 4], 16, 2), "smaller than asked")
    fails(lambda: ex12.check_design_dilations(lambda f, k: [1, 4, 8, 16], 16, 2), "holes")
    assert ex12.reach(2, [1, 2, 4, 8]) == (16, 0) and ex12.fewest_layers(16, 2) == 4


# --------------------------------------------------------------------------------------------
# ex13: a layer compressed by one SVD


def test_ex13() -> None:
    ns = solutions("ex13_separable")
    K = r(4, 3, 3, 3, seed=1)
    ex13.check_layer_factors(ns["layer_factors"], K, 2)
    factors = ns["layer_factors"]

    def scaled(power: float) -> Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]:
        def layer(K: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
            C_out, C_in, kh, kw = K.shape
            U, S, Vh = torch.linalg.svd(K.permute(1, 2, 0, 3).reshape(C_in * kh, C_out * kw))
            V = (U[:, :rank] * S[:rank] ** power).T.reshape(rank, C_in, kh, 1)
            H = (S[:rank, None] ** power * Vh[:rank]).reshape(rank, C_out, 1, kw)
            return V, H.transpose(0, 1)

        return layer

    ex13.check_layer_factors(scaled(0.5), K, 2)
    fails(lambda: ex13.check_layer_factors(scaled(0.0), K, 2), "singular values are missing")
    fails(lambda: ex13.check_layer_factors(scaled(1.0), K, 2), "applied twice")
    one_less = functools.partial(
        lambda K, rank: (
            torch.cat([factors(K, rank - 1)[0], K.new_zeros(1, *K.shape[1:3], 1)]),
            torch.cat([factors(K, rank - 1)[1], K.new_zeros(K.shape[0], 1, 1, K.shape[3])], 1),
        )
    )
    fails(lambda: ex13.check_layer_factors(one_less, K, 3), "one term too few")
    ex13.check_relative_errors(ns["relative_errors"], K)
    errors = ns["relative_errors"]
    fails(lambda: ex13.check_relative_errors(lambda K: errors(K) ** 2, K), "squared errors")

    def spectral(K: torch.Tensor) -> torch.Tensor:
        S = torch.linalg.svdvals(K.permute(1, 2, 0, 3).reshape(K.shape[1] * K.shape[2], -1))
        return torch.cat([S[1:], S.new_zeros(1)]) / S[0]

    fails(lambda: ex13.check_relative_errors(spectral, K), "spectral norm")
    W = r(64, 64, 3, 3, seed=3)
    ex13.check_rank_for_budget(ns["rank_for_budget"], W, 0.5)
    fails(
        lambda: ex13.check_rank_for_budget(lambda K, b: int(b * 9 // 6), W, 0.5),
        "single-channel rule",
    )
    fails(
        lambda: ex13.check_rank_for_budget(lambda K, b: int(b * 64 * 64 * 9 // (64 * 3)), W, 0.5),
        "vertical layer only",
    )
    fails(
        lambda: ex13.check_rank_for_budget(lambda K, b: int(b * 108 // 21), r(4, 3, 3, 3), 2.0),
        "not capped",
    )


# --------------------------------------------------------------------------------------------
# ex15: the FFT length rule, the 1D layer, overlap-save


def circular_is_exact(size: int, k: int, p: int, d: int, s: int, n: int) -> bool:
    """Measured: the circular correlation at length n (input after p zeros, dilated kernel,
    outputs read every s) equals F.conv1d on a random input."""
    e = d * (k - 1) + 1
    if n < size + p or n < e:  # a buffer that cuts the input or the kernel short
        return False
    x, K = r(1, 1, size, seed=size), r(1, 1, k, seed=k + 1)
    expected = F.conv1d(x, K, stride=s, padding=p, dilation=d)[0, 0]
    xb, kb = x.new_zeros(n), x.new_zeros(n)
    xb[p : p + size] = x[0, 0]
    kb[:e:d] = K[0, 0]
    y = torch.fft.irfft(torch.fft.rfft(xb) * torch.fft.rfft(kb).conj(), n)
    kept = y[: s * (expected.shape[0] - 1) + 1 : s]
    return kept.shape == expected.shape and bool(torch.allclose(kept, expected, atol=1e-9))


@pytest.mark.parametrize(
    "case",
    [(10, 3, 1, 1, 1), (7, 7, 0, 1, 1), (9, 1, 2, 1, 1), (5, 3, 2, 4, 1), (12, 3, 1, 2, 3)]
    + [(8, 2, 3, 1, 2), (10, 4, 0, 3, 2), (20, 31, 15, 1, 1), (6, 5, 4, 2, 1)],
)
def test_fft_length_rule_is_the_measured_minimum(case: tuple[int, int, int, int, int]) -> None:
    size, k, p, d, s = case
    n = exact_fft_length(size, d * (k - 1) + 1, p, s)
    assert circular_is_exact(size, k, p, d, s, n)
    assert not circular_is_exact(size, k, p, d, s, n - 1)


def test_ex15_fft_size() -> None:
    ns = solutions("ex15_large_kernels")
    ex15.check_fft_size(ns["fft_size"], 10, 3, 1)  # exact at 11: the case
    assert ns["fft_size"](10, 3, 1) == 11
    fails(lambda: ex15.check_fft_size(lambda n, k, p=0, d=1, s=1: n + 2 * p, 10, 3, 1), "12 is")
    fails(
        lambda: ex15.check_fft_size(lambda n, k, p=0, d=1, s=1: n + 2 * p + k - 1, 16, 5, 1),
        "full correlation's length",
    )
    fails(
        lambda: ex15.check_fft_size(lambda n, k, p=0, d=1, s=1: n + p, 5, 3, 2, 4),
        "d*(k - 1) + 1 samples must fit",
    )


def test_ex15_fft_conv1d() -> None:
    ns = solutions("ex15_large_kernels")
    X, K, b = r(2, 3, 12), r(4, 3, 5, seed=2), r(4, seed=3)
    ex15.check_fft_conv1d(ns["fft_conv1d"], X, K, b, padding=3, dilation=2, stride=2)
    layer = ns["fft_conv1d"]
    mistakes: list[tuple[Callable[..., torch.Tensor], str]] = [
        (lambda X, K, b, p, d, s: layer(X, K.flip(-1), b, p, d, s), "CONJUGATE"),
        (lambda X, K, b, p, d, s: layer(X, K, b, p, 1, s), "dilation is ignored"),
        (lambda X, K, b, p, d, s: layer(X, K, b, p, d, 1), "stride is ignored"),
        (lambda X, K, b, p, d, s: layer(X, K, b, 0, d, s), "padding is ignored"),
        (lambda X, K, b, p, d, s: layer(X, K, None, p, d, s), "bias not added"),
        (lambda X, K, b, p, d, s: layer(X[:, :1], K[:, :1], b, p, d, s), "not summed"),
    ]
    for wrong, needle in mistakes:
        # the stride mistake changes the shape: a one-stride check names it by its values
        s = 1 if needle == "padding is ignored" else 2
        fails(functools.partial(ex15.check_fft_conv1d, wrong, X, K, b, 3, 2, s), needle)


def test_ex15_overlap_save() -> None:
    ns = solutions("ex15_large_kernels")
    x, k = r(100, seed=4), r(9, seed=5)
    ex15.check_overlap_save(ns["fft_conv1d_overlap_save"], x, k, 16)

    def no_overlap(x: torch.Tensor, k: torch.Tensor, block: int) -> torch.Tensor:
        parts = []
        for start in range(0, x.shape[0], block):
            piece = x[start : start + block]
            if piece.shape[0] >= k.shape[0]:
                n = piece.shape[0]
                y = torch.fft.irfft(torch.fft.rfft(piece, n) * torch.fft.rfft(k, n).conj(), n)
                parts.append(y[: n - k.shape[0] + 1])
        return torch.cat(parts)

    fails(lambda: ex15.check_overlap_save(no_overlap, x, k, 16), "do not overlap")
    flipped = functools.partial(
        lambda f, x, k, block: f(x, k.flip(0), block), ns["fft_conv1d_overlap_save"]
    )
    fails(lambda: ex15.check_overlap_save(flipped, x, k, 16), "conjugate")


# --------------------------------------------------------------------------------------------
# ex16: im2col + GEMM, its speed, Winograd derived


def test_ex16_gemm_and_speed() -> None:
    ns = solutions("ex16_speed")
    X, K = r(1, 8, 32, 32), r(8, 8, 3, 3, seed=8)
    core.check_speedup(ns["conv2d_gemm"], (X, K), {"padding": 1}, fast_name="conv2d_gemm")
    small, big = r(2, 3, 7, 7), r(2, 3, 30, 30)
    core.check_no_output_loop(
        ns["conv2d_gemm"], (small, K[:, :3]), (big, K[:, :3]), fname="conv2d_gemm"
    )


def test_ex16_winograd_matrices() -> None:
    ns = solutions("ex16_speed")
    for m, rr, points in [(2, 3, [0, 1, -1]), (4, 3, [0, 1, -1, 2, -2]), (2, 5, [0, 1, -1, 2, -2])]:
        ex16.check_winograd_matrices(ns["winograd_matrices"], m, rr, points)

    def untransposed(m: int, rr: int, points: list[float]) -> tuple[torch.Tensor, ...]:
        AT, G, BT = ns["winograd_matrices"](m, rr, points)
        return AT, G, BT.T

    fails(lambda: ex16.check_winograd_matrices(untransposed, 2, 3, [0, 1, -1]), "TRANSPOSE")

    def reversed_kernel(m: int, rr: int, points: list[float]) -> tuple[torch.Tensor, ...]:
        AT, G, BT = ns["winograd_matrices"](m, rr, points)
        return AT, G.flip(1), BT

    fails(lambda: ex16.check_winograd_matrices(reversed_kernel, 2, 3, [0, 1, -1]), "convolves")
    fails(
        lambda: ex16.check_winograd_matrices(
            lambda m, rr, p: (torch.eye(2),) * 3, 2, 3, [0, 1, -1]
        ),
        "A^T has shape (2, 2), expected (2, 4)",
    )


def test_ex16_winograd_conv1d() -> None:
    ns = solutions("ex16_speed")
    conv = ns["winograd_conv1d"]
    x, g = r(30, seed=1), r(3, seed=2)
    points = [0, 1, -1, 2, -2]
    ex16.check_winograd_conv1d(conv, x, g, 4, points)
    fails(
        lambda: ex16.check_winograd_conv1d(
            lambda x, g, m, p: conv(x, g.flip(0), m, p), x, g, 4, points
        ),
        "convolution (kernel reversed)",
    )

    def apart(x: torch.Tensor, g: torch.Tensor, m: int, p: list[float]) -> torch.Tensor:
        a = m + g.shape[0] - 1
        tiles = [conv(x[i : i + a], g, m, p) for i in range(0, x.shape[0] - a + 1, a)]
        return torch.cat(tiles)

    fails(lambda: ex16.check_winograd_conv1d(apart, x, g, 4, points), "do not overlap")

    def per_tile(x: torch.Tensor, g: torch.Tensor, m: int, p: list[float]) -> torch.Tensor:
        a = m + g.shape[0] - 1
        return torch.cat([conv(x[i : i + a], g, m, p) for i in range(0, x.shape[0] - a + 1, m)])

    ex16.check_winograd_conv1d(per_tile, x, g, 4, points)  # right values ...
    fails(  # ... but a loop over the tiles
        lambda: core.check_no_output_loop(
            per_tile, (x[:14], g, 4, points), (r(402, seed=3), g, 4, points), fname="w"
        ),
        "loops in Python",
    )


def test_ex15_overlap_save_is_blockwise() -> None:
    x, k = r(100, seed=4), r(9, seed=5)

    def one_fft(x: torch.Tensor, k: torch.Tensor, block: int) -> torch.Tensor:
        n = x.shape[0]
        y = torch.fft.irfft(torch.fft.rfft(x, n) * torch.fft.rfft(k, n).conj(), n)
        return y[: n - k.shape[0] + 1]

    ex15.check_overlap_save(one_fft, x, k, 92)  # one block is the whole signal: allowed
    fails(lambda: ex15.check_overlap_save(one_fft, x, k, 16), "longer than one block's")
