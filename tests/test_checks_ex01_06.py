"""convlib.checks.ex01 .. ex06: each diagnosis is triggered by the mistake it names, written as a
student would write it, and the released solutions (the solution cells of solutions/*) pass.
Tiny inputs, CPU only."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import torch
import torch.nn.functional as F
from check_helpers import fails, r

from convlib.checks import ex01, ex02, ex03, ex04, ex05, ex06

ROOT = Path(__file__).resolve().parent.parent
Fn = Callable[..., Any]


@functools.cache
def solutions(assignment: str) -> dict[str, Any]:
    """The namespace of an assignment's setup and solution cells (as a student who solved it
    would have it), on the CPU."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("grade"):
            exec(compile(cell.source, f"<{assignment}>", "exec"), namespace)  # noqa: S102
    namespace["device"] = "cpu"
    return namespace


def zero_pad(X: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Zeros around the last two axes, by slicing (F.pad is what some tasks forbid)."""
    H, W = X.shape[-2:]
    out = X.new_zeros((*X.shape[:-2], top + H + bottom, left + W + right))
    out[..., top : top + H, left : left + W] = X
    return out


def message(table: Any, i: int) -> str:
    """The first sentence of a mistake table's i-th message (enough to name it)."""
    return str(table[i][0]).split(":")[0]


# --------------------------------------------------------------------------------------------
# ex01: taps, the full convolution, a kernel recovered by least squares


def test_ex01_corr2d() -> None:
    corr2d = solutions("ex01_cross_correlation")["corr2d"]
    X, K = r(5, 6), r(3, 3, seed=1)
    ex01.check_corr2d_taps(corr2d, X, K)
    fails(
        lambda: ex01.check_corr2d_taps(lambda X, K: corr2d(X, K.flip(0, 1)), X, K),
        "this is convolution",
    )
    fails(lambda: ex01.check_corr2d_taps(lambda X, K: corr2d(X, K.T), X, K), "kernel transposed")

    def positions(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        kh, kw = K.shape
        Y = X.new_zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
        return Y

    fails(
        lambda: ex01.check_corr2d_taps(positions, X, K), "loops in Python over the output positions"
    )


def test_ex01_convolve2d() -> None:
    ns = solutions("ex01_cross_correlation")
    corr2d, convolve2d = ns["corr2d"], ns["convolve2d"]
    X, K = r(5, 6), r(3, 2, seed=1)
    for mode in ("valid", "full"):
        ex01.check_convolve2d_mode(convolve2d, X, K, mode)

    def planted(pads: Callable[[int, int], tuple[int, ...]], flip: tuple[int, ...]) -> Fn:
        def convolve(X: torch.Tensor, K: torch.Tensor, mode: str = "valid") -> torch.Tensor:
            return corr2d(zero_pad(X, *pads(*K.shape)), K.flip(flip) if flip else K)

        return convolve

    def full(kh: int, kw: int) -> tuple[int, ...]:
        return (kw - 1, kw - 1, kh - 1, kh - 1)

    fails(
        lambda: ex01.check_convolve2d_mode(planted(full, ()), X, K, "full"),
        "your output is the cross-correlation",
    )
    fails(lambda: ex01.check_convolve2d_mode(planted(full, (0,)), X, K, "full"), "one axis only")
    wrong_pads: list[Callable[[int, int], tuple[int, ...]]] = [
        lambda kh, kw: (0, 2 * (kw - 1), 0, 2 * (kh - 1)),  # one side
        lambda kh, kw: ((kw - 1) // 2,) * 2 + ((kh - 1) // 2,) * 2,  # "same"
    ]
    for i, pads in enumerate(wrong_pads):
        wrong = planted(pads, (0, 1))
        fails(
            functools.partial(ex01.check_convolve2d_mode, wrong, X, K, "full"),
            message(ex01.FULL_MISTAKES, i),
        )


def test_ex01_recover_kernel() -> None:
    ns = solutions("ex01_cross_correlation")
    recover, corr2d = ns["recover_kernel"], ns["corr2d"]
    X, K = r(7, 8), r(3, 3, seed=1)
    Y = F.conv2d(X[None, None], K[None, None])[0, 0] + 0.01 * r(5, 6, seed=2)
    ex01.check_recover_kernel(recover, X, Y, (3, 3))
    flipped = functools.partial(lambda f, X, Y, k: f(X, Y, k).flip(0, 1), recover)
    fails(lambda: ex01.check_recover_kernel(flipped, X, Y, (3, 3)), "this is convolution")
    fails(
        lambda: ex01.check_recover_kernel(lambda X, Y, k: corr2d(X, Y), X, Y, (3, 3)),
        "matched filter",
    )


# --------------------------------------------------------------------------------------------
# ex02: the gradient by hand, central differences, the critical learning rate


def test_ex02_loss_grad() -> None:
    ns = solutions("ex02_learning_a_kernel")
    grad, corr2d = ns["loss_grad"], ns["corr2d"]
    X, K, b = r(6, 5), r(2, 3, seed=1), r(seed=2)
    Y = r(5, 3, seed=3)
    ex02.check_loss_grad(grad, X, Y, K, b)
    planted: list[tuple[Fn, int]] = [
        (lambda X, Y, K, b: tuple(-g for g in grad(X, Y, K, b)), 0),
        (lambda X, Y, K, b: tuple(g / 2 for g in grad(X, Y, K, b)), 1),
        (lambda X, Y, K, b: (grad(X, Y, K, b)[0].flip(0, 1), grad(X, Y, K, b)[1]), 2),
        (lambda X, Y, K, b: grad(X, Y, K, torch.zeros_like(b)), 3),
    ]
    for wrong, i in planted:
        fails(
            functools.partial(ex02.check_loss_grad, wrong, X, Y, K, b),
            message(ex02.GRAD_MISTAKES, i),
        )

    def autograd(X: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, b: torch.Tensor) -> Any:
        K, b = K.clone().requires_grad_(), b.clone().requires_grad_()
        ((corr2d(X, K) + b - Y) ** 2).sum().backward()
        return K.grad, b.grad

    fails(lambda: ex02.check_loss_grad(autograd, X, Y, K, b), "autograd")


def test_ex02_numerical_grad() -> None:
    numerical = solutions("ex02_learning_a_kernel")["numerical_grad"]
    K = r(2, 3, seed=4)

    def loss(K: torch.Tensor) -> torch.Tensor:
        return (K**3).sum() + (K[0] * K[1]).sum()

    ex02.check_numerical_grad(numerical, loss, K)

    def one_eps(loss: Fn, K: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        return 2 * numerical(loss, K, eps)

    def forward(loss: Fn, K: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
        grad = torch.zeros_like(K)
        for i in range(K.numel()):
            step = torch.zeros_like(K)
            step.view(-1)[i] = eps
            grad.view(-1)[i] = (loss(K + step) - loss(K)) / eps
        return grad

    fails(lambda: ex02.check_numerical_grad(one_eps, loss, K), "2 * eps")
    fails(lambda: ex02.check_numerical_grad(forward, loss, K, eps=1e-3), "one-sided (forward)")


def test_ex02_critical_lr() -> None:
    critical = solutions("ex02_learning_a_kernel")["critical_lr"]
    X = r(6, 7, seed=5)
    ex02.check_critical_lr(critical, X, (2, 3))

    def eigenvalues(X: torch.Tensor, kernel_size: tuple[int, int], bias: bool) -> torch.Tensor:
        kh, kw = kernel_size
        Ho, Wo = X.shape[0] - kh + 1, X.shape[1] - kw + 1
        cols = [X[a : a + Ho, c : c + Wo].reshape(-1) for a in range(kh) for c in range(kw)]
        A = torch.stack(cols + [X.new_ones(Ho * Wo)] * bias, dim=1)
        return torch.linalg.eigvalsh(A.T @ A)

    planted = [
        (lambda X, k: 2 / eigenvalues(X, k, True)[-1].item(), 0),
        (lambda X, k: 1 / eigenvalues(X, k, False)[-1].item(), 1),
        (lambda X, k: 1 / eigenvalues(X, k, True)[0].item(), 2),
    ]
    for wrong, i in planted:
        fails(
            functools.partial(ex02.check_critical_lr, wrong, X, (2, 3)),
            message(ex02.LR_MISTAKES, i),
        )


# --------------------------------------------------------------------------------------------
# ex03: "SAME" padding for any stride, padding modes, conv2d with padding="same" (2D)


def test_ex03_same_padding() -> None:
    same = solutions("ex03_padding_stride")["same_padding"]
    ex03.check_same_padding(same, 224, 7, 2)

    def stride_one(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
        t = kernel_size - 1
        return t // 2, t - t // 2

    def before_heavy(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
        before, after = same(size, kernel_size, stride)
        return after, before

    fails(lambda: ex03.check_same_padding(stride_one, 224, 7, 2), ex03.SAME_MISTAKES[0][:40])
    fails(lambda: ex03.check_same_padding(before_heavy, 224, 7, 2), ex03.SAME_MISTAKES[0][:40])
    fails(
        lambda: ex03.check_same_padding(lambda s, k, st: (same(s, k, st)[0],) * 2, 224, 7, 2),
        ex03.SAME_MISTAKES[1][:40],
    )


def test_ex03_pad2d() -> None:
    pad2d = solutions("ex03_padding_stride")["pad2d"]
    X = r(2, 5, 4)
    for mode in ("constant", "reflect", "replicate", "circular"):
        ex03.check_pad2d_mode(pad2d, X, 2, mode)

    def one_side(X: torch.Tensor, p: int, mode: str = "constant") -> torch.Tensor:
        return zero_pad(X, 0, 2 * p, 0, 2 * p)

    def wrong_side(X: torch.Tensor, p: int, mode: str = "constant") -> torch.Tensor:
        X = torch.cat([X[..., :p, :], X, X[..., -p:, :]], -2)
        return torch.cat([X[..., :p], X, X[..., -p:]], -1)

    def symmetric(X: torch.Tensor, p: int, mode: str = "constant") -> torch.Tensor:
        X = torch.cat([X[..., :p, :].flip(-2), X, X[..., -p:, :].flip(-2)], -2)
        return torch.cat([X[..., :p].flip(-1), X, X[..., -p:].flip(-1)], -1)

    def modes_swapped(X: torch.Tensor, p: int, mode: str = "constant") -> torch.Tensor:
        swap = {"reflect": "replicate", "replicate": "reflect", "circular": "constant"}
        return pad2d(X, p, swap.get(mode, mode))

    fails(lambda: ex03.check_pad2d_mode(one_side, X, 2, "constant"), "padded one side only")
    fails(lambda: ex03.check_pad2d_mode(wrong_side, X, 2, "circular"), "wrong side")
    fails(lambda: ex03.check_pad2d_mode(symmetric, X, 2, "reflect"), "numpy's 'symmetric'")
    fails(lambda: ex03.check_pad2d_mode(modes_swapped, X, 2, "reflect"), "is 'replicate'")
    fails(lambda: ex03.check_pad2d_mode(modes_swapped, X, 2, "replicate"), "is 'reflect'")
    fails(lambda: ex03.check_pad2d_mode(modes_swapped, X, 2, "circular"), "is zeros")


def test_ex03_conv2d() -> None:
    ns = solutions("ex03_padding_stride")
    conv2d, pad2d = ns["conv2d"], ns["pad2d"]
    X, K, Ke = r(5, 6), r(3, 3, seed=1), r(2, 4, seed=2)
    ex03.check_conv2d_same(conv2d, X, Ke, "same")
    ex03.check_conv2d_same(conv2d, X, K, 1, stride=2, padding_mode="circular")

    def left_heavy(X: torch.Tensor, K: torch.Tensor, stride: Any = 1, padding: Any = 0) -> Any:
        kh, kw = K.shape
        top, left = kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2  # the extra row on top
        Xp = zero_pad(X, left, kw - 1 - left, top, kh - 1 - top)
        return conv2d(Xp, K, stride)

    def zeros_only(
        X: torch.Tensor,
        K: torch.Tensor,
        stride: Any = 1,
        padding: Any = 0,
        padding_mode: str = "zeros",
    ) -> Any:
        return conv2d(X, K, stride, padding)

    def symmetric(
        X: torch.Tensor,
        K: torch.Tensor,
        stride: Any = 1,
        padding: Any = 0,
        padding_mode: str = "zeros",
    ) -> Any:
        p = padding
        Xp = torch.cat([X[:p].flip(0), X, X[-p:].flip(0)], 0)
        return conv2d(torch.cat([Xp[:, :p].flip(1), Xp, Xp[:, -p:].flip(1)], 1), K, stride)

    fails(lambda: ex03.check_conv2d_same(left_heavy, X, Ke, "same"), "extra padding row")
    fails(
        lambda: ex03.check_conv2d_same(zeros_only, X, K, 1, padding_mode="reflect"),
        "padding_mode='reflect' is ignored",
    )
    fails(
        lambda: ex03.check_conv2d_same(symmetric, X, K, 1, padding_mode="reflect"),
        "numpy's 'symmetric'",
    )
    fails(
        lambda: ex03.check_conv2d_same(
            lambda X, K, stride=1, padding=0: conv2d(X, K, stride), X, K, 1
        ),
        "padding=1 is ignored",
    )
    assert pad2d is not None


# --------------------------------------------------------------------------------------------
# ex04: two layers fused, a normalisation folded, a black box probed


def test_ex04_compose_layers() -> None:
    compose = solutions("ex04_channels")["compose_layers"]
    K1, b1, K2, b2 = r(3, 2, 2, 3), r(3, seed=1), r(2, 3, 3, 2, seed=2), r(2, seed=3)
    ex04.check_compose_layers(compose, K1, b1, K2, b2)

    def correlated(K1: torch.Tensor, b1: torch.Tensor, K2: torch.Tensor, b2: torch.Tensor) -> Any:
        return compose(K1, b1, K2.flip(-1, -2), b2)[0], compose(K1, b1, K2, b2)[1]

    def b1_lost(K1: torch.Tensor, b1: torch.Tensor, K2: torch.Tensor, b2: torch.Tensor) -> Any:
        return compose(K1, b1, K2, b2)[0], b2

    def unweighted(K1: torch.Tensor, b1: torch.Tensor, K2: torch.Tensor, b2: torch.Tensor) -> Any:
        return compose(K1, b1, K2, b2)[0], b2 + b1.sum()

    fails(lambda: ex04.check_compose_layers(correlated, K1, b1, K2, b2), "by cross-correlation")
    fails(lambda: ex04.check_compose_layers(b1_lost, K1, b1, K2, b2), "b1 is lost")
    fails(
        lambda: ex04.check_compose_layers(unweighted, K1, b1, K2, b2),
        "b1 reaches the output unweighted",
    )


def test_ex04_fold_normalization() -> None:
    fold = solutions("ex04_channels")["fold_normalization"]
    K, b, mean, std = r(2, 3, 2, 2), r(2, seed=1), r(3, seed=2), 0.5 + r(3, seed=3).abs()
    ex04.check_fold_normalization(fold, K, b, mean, std)
    planted: list[tuple[Fn, str]] = [
        (lambda K, b, m, s: (fold(K, b, m, s)[0], b), "the bias is unchanged"),
        (
            lambda K, b, m, s: (
                fold(K, b, m, s)[0],
                b - (K * m[None, :, None, None]).sum((1, 2, 3)),
            ),
            "forgets the division by std",
        ),
        (lambda K, b, m, s: fold(K, b, m, 1 / s), "you scaled the weights by std"),
        (
            lambda K, b, m, s: (K / s[:, None, None, None], b - K.sum((1, 2, 3)) * m / s),
            "per output channel",
        ),
    ]
    mean2, std2 = r(2, seed=4), 0.5 + r(2, seed=5).abs()
    for wrong, text in planted[:3]:
        fails(functools.partial(ex04.check_fold_normalization, wrong, K, b, mean, std), text)
    K2 = r(2, 2, 2, 2, seed=6)  # square channels: the per-output mistake has the right shape
    fails(lambda: ex04.check_fold_normalization(planted[3][0], K2, b, mean2, std2), planted[3][1])


def test_ex04_probe_layer() -> None:
    probe = solutions("ex04_channels")["probe_layer"]
    K, b = r(2, 3, 2, 3), r(2, seed=1)
    ex04.check_probe_layer(probe, K, b)
    flipped = functools.partial(lambda f, *a: (f(*a)[0].flip(-1, -2), f(*a)[1]), probe)
    fails(lambda: ex04.check_probe_layer(flipped, K, b), "your weight is flipped")

    def with_bias(layer: Fn, in_channels: int, kernel_size: tuple[int, int]) -> Any:
        K, b = probe(layer, in_channels, kernel_size)
        return K + b[:, None, None, None], b

    fails(lambda: ex04.check_probe_layer(with_bias, K, b), "the bias is still in your weight")


# --------------------------------------------------------------------------------------------
# ex05: a 1x1 fitted by least squares, the widest bottleneck, squeeze and expand


def test_ex05_fit_conv1x1() -> None:
    fit = solutions("ex05_one_by_one")["fit_conv1x1"]
    X = r(2, 3, 4, 5)
    Y = F.conv2d(X, r(3, 3, 1, 1, seed=1), r(3, seed=2)) + 0.1 * r(2, 3, 4, 5, seed=3)
    ex05.check_fit_conv1x1(fit, X, Y)

    def straight(X: torch.Tensor, Y: torch.Tensor) -> Any:
        A = X.reshape(-1, X.shape[1])
        A = torch.cat([A, A.new_ones(A.shape[0], 1)], 1)
        W = torch.linalg.lstsq(A, Y.reshape(-1, Y.shape[1])).solution
        return W[:-1].T.reshape(Y.shape[1], X.shape[1], 1, 1), W[-1]

    def no_bias(X: torch.Tensor, Y: torch.Tensor) -> Any:
        A, B = X.permute(0, 2, 3, 1).reshape(-1, 3), Y.permute(0, 2, 3, 1).reshape(-1, 3)
        return torch.linalg.lstsq(A, B).solution.T.reshape(3, 3, 1, 1), B.new_zeros(3)

    transposed = functools.partial(lambda f, X, Y: (f(X, Y)[0].transpose(0, 1), f(X, Y)[1]), fit)
    planted: list[Fn] = [straight, no_bias, transposed]
    for i, wrong in enumerate(planted):
        fails(functools.partial(ex05.check_fit_conv1x1, wrong, X, Y), message(ex05.FIT_MISTAKES, i))


def widest(cost: Callable[[int], tuple[int, int]], max_macs: int, max_params: int) -> int:
    """A student's search: count up while the next width still fits."""
    mid = 0
    while cost(mid + 1)[0] <= max_macs and cost(mid + 1)[1] <= max_params:
        mid += 1
    return mid


def test_ex05_bottleneck_width() -> None:
    width = solutions("ex05_one_by_one")["bottleneck_width"]
    ex05.check_bottleneck_width(width, 256, 14, 20_000_000, 1_000_000)
    ex05.check_bottleneck_width(width, 256, 56, 220_000_000, 70_000)
    assert ex05.bottleneck_cost(256, 56, 64)[1] == 69_632 + 2 * 64 + 256  # the page's block

    def planted(
        weights: Callable[[int, int], int], bias: Callable[[int, int], int], area: bool
    ) -> Fn:
        def bottleneck_width(c: int, s: int, max_macs: int, max_params: int) -> int:
            def cost(m: int) -> tuple[int, int]:
                return (s * s if area else 1) * weights(c, m), weights(c, m) + bias(c, m)

            return widest(cost, max_macs, max_params)

        return bottleneck_width

    def right(c: int, m: int) -> int:
        return 2 * c * m + 9 * m * m

    def biases(c: int, m: int) -> int:
        return 2 * m + c

    cases = [
        (
            planted(right, biases, False),
            (256, 14, 20_000_000, 1_000_000),
            "counting multiply-adds as weights",
        ),
        (
            planted(right, lambda c, m: 0, True),
            (256, 56, 220_000_000, 70_000),
            "leaving the biases out",
        ),
        (
            planted(lambda c, m: 2 * c * m + 9 * c * m, biases, True),
            (256, 14, 20_000_000, 1_000_000),
            "reads all the block's channels",
        ),
        (
            planted(lambda c, m: c * m + 9 * m * m, lambda c, m: 2 * m, True),
            (256, 14, 20_000_000, 1_000_000),
            "forgetting the expansion",
        ),
        (lambda *a: width(*a) + 1, (256, 14, 20_000_000, 1_000_000), "one wider than the budget"),
    ]
    for wrong, args, text in cases:
        fails(functools.partial(ex05.check_bottleneck_width, wrong, *args), text)


def test_ex05_squeeze_expand() -> None:
    squeeze = solutions("ex05_one_by_one")["squeeze_expand"]
    K = r(6, 5, 1, 1, seed=1)
    ex05.check_squeeze_expand(squeeze, K, 2)

    def svd(K: torch.Tensor) -> Any:
        return torch.linalg.svd(K[:, :, 0, 0], full_matrices=False)

    def smallest(K: torch.Tensor, mid: int) -> Any:
        U, S, Vh = svd(K)
        return (S[-mid:, None] * Vh[-mid:])[..., None, None], U[:, -mid:, None, None]

    def no_s(K: torch.Tensor, mid: int) -> Any:
        U, S, Vh = svd(K)
        return Vh[:mid, :, None, None], U[:, :mid, None, None]

    def twice(K: torch.Tensor, mid: int) -> Any:
        U, S, Vh = svd(K)
        return (S[:mid, None] * Vh[:mid])[..., None, None], (U[:, :mid] * S[:mid])[..., None, None]

    for i, wrong in enumerate((smallest, no_s, twice)):
        fails(
            functools.partial(ex05.check_squeeze_expand, wrong, K, 2),
            message(ex05.SQUEEZE_MISTAKES, i),
        )
    swapped = functools.partial(lambda f, K, mid: f(K, mid)[::-1], squeeze)
    fails(lambda: ex05.check_squeeze_expand(swapped, K, 2), "not (2, 5, 1, 1)")


# --------------------------------------------------------------------------------------------
# ex06: a grouped weight as a dense one, the groups recovered, depthwise separable fused


def test_ex06_grouped_as_dense() -> None:
    dense = solutions("ex06_groups")["grouped_as_dense"]
    K = r(6, 2, 3, 3)
    ex06.check_grouped_as_dense(dense, K, 3)

    def first_columns(K: torch.Tensor, groups: int) -> torch.Tensor:
        out = K.new_zeros((K.shape[0], K.shape[1] * groups, *K.shape[2:]))
        out[:, : K.shape[1]] = K
        return out

    def strided(K: torch.Tensor, groups: int) -> torch.Tensor:
        out = K.new_zeros((K.shape[0], K.shape[1] * groups, *K.shape[2:]))
        for o in range(K.shape[0]):
            out[o, o % groups :: groups] = K[o]
        return out

    planted = [(lambda K, g: K.repeat(1, g, 1, 1)), first_columns, strided]
    for i, wrong in enumerate(planted):
        fails(
            functools.partial(ex06.check_grouped_as_dense, wrong, K, 3),
            message(ex06.DENSE_MISTAKES, i),
        )


def test_ex06_recover_groups() -> None:
    recover = solutions("ex06_groups")["recover_groups"]
    K6 = ex06.grouped_weight(6, 6, 3, (1, 2), seed=2)  # 3 groups fit, 2 do not
    K12 = ex06.grouped_weight(12, 12, 6, (2, 2), seed=3)  # 2 and 3 fit, 4 does not, 6 does
    for K in (K6, K12, ex06.grouped_weight(4, 6, 2, (3, 3), seed=1)):
        ex06.check_recover_groups(recover, K)

    def fits(K: torch.Tensor, g: int) -> bool:
        co, ci = K.shape[0] // g, K.shape[1] // g
        mask = torch.block_diag(*[torch.ones(co, ci)] * g).bool()
        return K.shape[0] % g == 0 and K.shape[1] % g == 0 and not K[~mask].any()

    def counting_up(K: torch.Tensor) -> Any:
        g = 1
        for candidate in range(2, min(K.shape[:2]) + 1):
            if K.shape[0] % candidate == 0 and K.shape[1] % candidate == 0:
                if not fits(K, candidate):
                    break
                g = candidate
        return recover(K)[0], g

    cases: list[tuple[Fn, torch.Tensor, str]] = [
        (lambda K: (K, 1), K6, "one group always fits"),
        (lambda K: (recover(K)[0], 6), K6, "greatest common divisor"),
        (counting_up, K12, "not monotone"),
        (lambda K: (recover(K)[0], K.shape[1] // recover(K)[1]), K6, "not how many input channels"),
        (lambda K: (K[:, : K.shape[1] // recover(K)[1]], recover(K)[1]), K6, "first input columns"),
    ]
    for wrong, K, text in cases:
        fails(functools.partial(ex06.check_recover_groups, wrong, K), text)


def test_ex06_fuse_depthwise_separable() -> None:
    fuse = solutions("ex06_groups")["fuse_depthwise_separable"]
    Kd, Kp = r(6, 1, 3, 3, seed=3), r(4, 6, 1, 1, seed=4)
    ex06.check_fuse_depthwise_separable(fuse, Kd, Kp, 3)

    def wrong_order(Kd: torch.Tensor, Kp: torch.Tensor, C_in: int) -> torch.Tensor:
        m = Kd.shape[0] // C_in
        d = Kd.reshape(m, C_in, *Kd.shape[-2:])
        p = Kp.reshape(Kp.shape[0], m, C_in)
        return torch.einsum("jchw,ojc->ochw", d, p)

    fails(
        lambda: ex06.check_fuse_depthwise_separable(wrong_order, Kd, Kp, 3),
        "depthwise output channels in the wrong order",
    )
