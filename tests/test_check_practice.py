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
# ex09_backward


def test_ex09_backward() -> None:
    ns = solutions("ex09_backward")
    settings: dict[str, Any] = {"stride": 2, "padding": 1, "dilation": 1, "groups": 2}
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
# ex10, ex16


def test_ex10() -> None:
    ns = solutions("ex11_pooling")
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


def test_ex07() -> None:
    ns = solutions("ex07_dilation")
    K = r(2, 2, 3, 2)
    practice.check_dilate_kernel(ns["dilate_kernel"], K, (1, 2, 3))
    reversed_ = functools.partial(lambda f, K, d: f(K, tuple(d)[::-1]), ns["dilate_kernel"])
    fails(lambda: practice.check_dilate_kernel(reversed_, K, (1, 2, 3)), "reverse order")
    X, Kc = r(1, 2, 9, 9), r(3, 2, 3, 3, seed=1)
    dilated = ns["conv2d_dilated"]
    practice.check_conv2d_dilated_taps(dilated, X, Kc, dilation=2, stride=3, padding=1)
    swapped = functools.partial(
        lambda f, X, K, dilation=1, stride=1, padding=0: f(X, K, stride, dilation, padding), dilated
    )
    fails(
        lambda: practice.check_conv2d_dilated_taps(swapped, X, Kc, dilation=2, stride=3, padding=1),
        "stride and dilation swapped",
    )

    def positions(
        X: torch.Tensor, K: torch.Tensor, dilation: int = 1, stride: int = 1, padding: int = 0
    ) -> torch.Tensor:
        return ns["conv2d_dilated"](X, K, dilation, stride, padding) + 0 * sum(
            float(i) for i in range(X.shape[-1] * X.shape[-2])
        )

    fails(
        lambda: practice.check_conv2d_dilated_taps(positions, X, Kc, dilation=2),
        "loops in Python over the output positions",
    )


def test_ex08() -> None:
    ns = solutions("ex08_transposed")
    practice.check_output_padding(ns["conv_transpose_output_padding"], 4, 8, 3, stride=2, padding=1)
    practice.check_output_padding(ns["conv_transpose_output_padding"], 4, 9, 3, stride=2, padding=1)
    fails(
        lambda: practice.check_output_padding(
            lambda n, t, k, stride=1, padding=0, dilation=1: (
                t - ((n - 1) * stride - 2 * padding + dilation * (k - 1) + 1)
            ),
            4,
            9,
            3,
            stride=2,
            padding=1,
        ),
        "expected -1",
    )
    K = r(2, 3, 2, 3)
    matrix = ns["conv_matrix"]
    practice.check_conv_matrix_channels(matrix, K, (5, 6), stride=2, padding=1, dilation=1)

    def hwc(K: torch.Tensor, size: Any, **kw: Any) -> torch.Tensor:
        C = matrix(K, size, **kw)
        return C.reshape(C.shape[0], K.shape[1], -1).transpose(1, 2).reshape(C.shape)

    fails(lambda: practice.check_conv_matrix_channels(hwc, K, (5, 6)), "(h, w, c) order")
    X, Kt = r(1, 2, 3, 3), r(2, 3, 3, 3, seed=2)
    practice.check_conv_transpose2d_taps(
        ns["conv_transpose2d"], X, Kt, stride=2, padding=1, output_padding=1, dilation=2
    )

    def scatter(
        X: torch.Tensor,
        K: torch.Tensor,
        stride: int = 1,
        padding: int = 0,
        output_padding: int = 0,
        dilation: int = 1,
    ) -> torch.Tensor:
        N, _, H, W = X.shape
        kh, kw = K.shape[-2:]
        Y = X.new_zeros(N, K.shape[1], (H - 1) * stride + kh, (W - 1) * stride + kw)
        for i in range(H):
            for j in range(W):
                Y[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += torch.einsum(
                    "nc,cokl->nokl", X[:, :, i, j], K
                )
        return Y

    fails(lambda: practice.check_conv_transpose2d_taps(scatter, X, Kt), "over the input positions")


def test_ex10_im2col() -> None:
    ns = solutions("ex10_im2col")
    im2col = ns["im2col"]
    for X, k in ((r(2, 3, 9), 3), (r(1, 2, 4, 5, 5, seed=1), (2, 3, 2)), (r(1, 2, 5, 5), 2)):
        practice.check_im2col_nd(im2col, X, k, padding=1, stride=2)

    def offsets_first(X: torch.Tensor, k: Any, padding: int = 0, stride: int = 1) -> torch.Tensor:
        cols = im2col(X, k, padding=padding, stride=stride)
        N, C = X.shape[:2]
        return cols.reshape(N, C, -1, cols.shape[-1]).transpose(1, 2).reshape(cols.shape)

    fails(
        lambda: practice.check_im2col_nd(offsets_first, r(2, 3, 9), 3), "(kernel offset, c) order"
    )
    gemm = ns["conv2d_gemm"]
    X, K = r(2, 4, 5, 5), r(6, 2, 3, 3, seed=2)
    practice.check_conv2d_gemm_groups(gemm, X, K, r(6, seed=3), 2, 1, 2)

    def group_loop(
        X: Any, K: Any, bias: Any = None, stride: int = 1, padding: int = 0, groups: int = 1
    ) -> torch.Tensor:
        ci, co = X.shape[1] // groups, K.shape[0] // groups
        Y = torch.cat(
            [
                gemm(X[:, g * ci : (g + 1) * ci], K[g * co : (g + 1) * co], None, stride, padding)
                for g in range(groups)
            ],
            1,
        )
        return Y if bias is None else Y + bias[:, None, None]

    fails(
        lambda: practice.check_conv2d_gemm_groups(group_loop, X, K, None, 1, 0, 2),
        "over the groups",
    )
    cols = r(2, 3 * 9, 9, seed=4)
    practice.check_col2im(ns["col2im"], cols, (5, 5), 3, padding=1, stride=2)

    def overwrite(
        cols: torch.Tensor, size: Any, k: int, padding: int = 0, stride: int = 1
    ) -> torch.Tensor:
        N, CKK, _ = cols.shape
        H, W = size
        ho, wo = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
        blocks = cols.reshape(N, CKK // (k * k), k, k, ho, wo)
        out = cols.new_zeros(N, CKK // (k * k), H + 2 * padding, W + 2 * padding)
        for a in range(k):
            for b in range(k):
                out[
                    :,
                    :,
                    a : a + (ho - 1) * stride + 1 : stride,
                    b : b + (wo - 1) * stride + 1 : stride,
                ] = blocks[:, :, a, b]
        return out[:, :, padding : padding + H, padding : padding + W]

    fails(lambda: practice.check_col2im(overwrite, r(1, 4, 9, seed=5), (4, 4), 2), "ADD up")


def test_ex10_taps() -> None:
    ns = solutions("ex11_pooling")
    X = r(2, 2, 9, 8)
    practice.check_max_pool2d_taps(
        ns["max_pool2d"], X, 3, stride=2, padding=1, dilation=2, ceil_mode=True
    )

    def zero_padded(
        X: torch.Tensor,
        k: int,
        stride: Any = None,
        padding: int = 0,
        dilation: int = 1,
        ceil_mode: bool = False,
    ) -> torch.Tensor:
        return ns["max_pool2d"](F.pad(X, (padding,) * 4), k, stride, 0, dilation, ceil_mode)

    fails(
        lambda: practice.check_max_pool2d_taps(zero_padded, X, 3, stride=2, padding=1),
        "pads with -inf",
    )

    def positions(
        X: torch.Tensor,
        k: int,
        stride: Any = None,
        padding: int = 0,
        dilation: int = 1,
        ceil_mode: bool = False,
    ) -> torch.Tensor:
        Y = ns["max_pool2d"](X, k, stride, padding, dilation, ceil_mode)
        for _ in range(Y.shape[-1] * Y.shape[-2]):
            pass
        return Y

    fails(lambda: practice.check_max_pool2d_taps(positions, X, 2), "over the output positions")
    practice.check_avg_pool2d_taps(
        ns["avg_pool2d"], X, 3, stride=2, padding=1, count_include_pad=False
    )
    flipped = functools.partial(
        lambda f, *a, count_include_pad=True, **k: f(
            *a, count_include_pad=not count_include_pad, **k
        ),
        ns["avg_pool2d"],
    )
    fails(
        lambda: practice.check_avg_pool2d_taps(
            flipped, X, 3, stride=2, padding=1, count_include_pad=False
        ),
        "count_include_pad is handled the wrong way round",
    )
