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

import convlib.check as check
from convlib.algorithms.fft import exact_fft_length
from convlib.checks import core, ex15, ex16

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
