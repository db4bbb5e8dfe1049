"""convlib.checks.ex07 .. ex11: each diagnosis is triggered by the mistake it names, and the
released solutions (the solution cells of solutions/*) pass. Tiny inputs, CPU only."""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import torch
import torch.nn.functional as F
from check_helpers import fails, r

import convlib.check as check
from convlib.checks import ex07, ex08, ex09, ex10, ex11

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def solutions(assignment: str) -> dict[str, Any]:
    """The namespace of an assignment's setup and solution cells (as a student who solved it
    would have it)."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    namespace: dict[str, Any] = {
        "torch": torch,
        "__name__": "__main__",
        "device": "cpu",
        "check": check,
    }
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        setup = cell.cell_type == "code" and meta.get("locked") and not meta.get("grade")
        if meta.get("solution") or (setup and "conv_transpose2d_buggy" in cell.source):
            exec(compile(cell.source, f"<{assignment}>", "exec"), namespace)  # noqa: S102
    return namespace


def solutions_source(assignment: str, grade_id: str) -> str:
    """The source of one solution cell of an assignment."""
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return str(cell.source)
    raise KeyError(grade_id)


# --------------------------------------------------------------------------------------------
# ex07: dilate in any dimension, a hole-free design under a budget, probing a hidden layer


def test_ex07_dilate_kernel() -> None:
    dilate = solutions("ex07_dilation")["dilate_kernel"]
    K = r(2, 2, 3, 2)
    ex07.check_dilate_kernel(dilate, K, (1, 2, 3))
    reversed_ = functools.partial(lambda f, K, d: f(K, tuple(d)[::-1]), dilate)
    fails(lambda: ex07.check_dilate_kernel(reversed_, K, (1, 2, 3)), "reverse order")
    two = functools.partial(lambda f, K, d: f(K, (d[-1],) * 2), dilate)
    fails(lambda: ex07.check_dilate_kernel(two, K, (1, 2, 3)), "last two axes only")


def smallest_budget(field: int) -> int:
    """The fewest weights of a hole-free stack of odd k x k layers reaching ``field`` (<= 27):
    searched over every stack of one or two 3x3, 5x5 or 7x7 layers with dilations up to 27;
    three layers cost at least 27, which 3x3 layers with dilations 1, 3, 9 reach."""
    best = 0 if field <= 1 else 27
    for depth in (1, 2):
        for ks in itertools.product((3, 5, 7), repeat=depth):
            for ds in itertools.product(range(1, 28), repeat=depth):
                if bool(ex07.design_verdict(list(zip(ks, ds, strict=True)), field, 10**9).all()):
                    best = min(best, sum(k * k for k in ks))
    return best


def test_ex07_design_budgets_are_the_minimum() -> None:
    """The budgets the notebook tests are the cheapest any hole-free stack reaches."""
    for field, budget in [(2, 9), (9, 18), (20, 27), (27, 27)]:
        assert smallest_budget(field) == budget


def test_ex07_design() -> None:
    design = solutions("ex07_dilation")["design_dilations"]
    for field, budget in [(1, 0), (20, 27), (100, 45)]:
        ex07.check_dilation_design(design, field, budget)
    fails(
        lambda: ex07.check_dilation_design(lambda f, b: [(3, 2), (3, 2)], 9, 18),
        "leaves holes",
    )
    fails(lambda: ex07.check_dilation_design(lambda f, b: [(3, 1)], 9, 18), "smaller than")
    fails(
        lambda: ex07.check_dilation_design(lambda f, b: [(3, 1), (3, 2), (3, 4)], 15, 18),
        "over the weight budget",
    )
    fails(
        lambda: ex07.check_dilation_design(lambda f, b: [(2, 1), (3, 2)], 5, 18), "kernel_size odd"
    )
    both = fails(lambda: ex07.check_dilation_design(lambda f, b: [(3, 3)], 9, 18), "holes")
    assert "smaller than the target" in both


def test_ex07_probe() -> None:
    probe = solutions("ex07_dilation")["probe_layer"]
    for k, s, p, d in [(1, 1, 0, 1), (3, 3, 2, 2), (2, 4, 1, 5)]:
        ex07.check_probe_layer(probe, k, s, p, d, seed=k + s)

    def swapped(layer: Any) -> tuple[int, ...]:
        k, s, p, d = probe(layer)
        return k, d, p, s

    fails(
        lambda: ex07.check_probe_layer(swapped, 3, 2, 1, 3, seed=1), "stride and dilation swapped"
    )

    def span(layer: Any) -> tuple[int, ...]:
        k, s, p, d = probe(layer)
        return d * (k - 1) + 1, s, p, 1

    fails(lambda: ex07.check_probe_layer(span, 3, 2, 1, 3, seed=1), "the span")
    no_padding = functools.partial(lambda f, layer: (*f(layer)[:2], 0, f(layer)[3]), probe)
    fails(lambda: ex07.check_probe_layer(no_padding, 3, 2, 1, 3, seed=1), "padding off")

    def peek(layer: Any) -> tuple[int, ...]:
        """Reads the settings out of the layer's closure instead of probing it."""
        names, closure = layer.__code__.co_freevars, layer.__closure__
        cells = {n: c.cell_contents for n, c in zip(names, closure, strict=True)}
        return cells["weight"].shape[-1], cells["stride"], cells["padding"], cells["dilation"]

    assert peek(ex07.hidden_layer(3, 2, 1, 3, seed=1)) == (3, 2, 1, 3)  # it would pass otherwise
    fails(lambda: ex07.check_probe_layer(peek, 3, 2, 1, 3, seed=1), "reads the layer's insides")

    def closure_vars(layer: Any) -> tuple[int, ...]:
        """The same through inspect, which the cell scan for tampering does not see."""
        v = inspect.getclosurevars(layer).nonlocals
        return v["weight"].shape[-1], v["stride"], v["padding"], v["dilation"]

    fails(lambda: ex07.check_probe_layer(closure_vars, 3, 2, 1, 3, seed=1), "layer's insides")


# --------------------------------------------------------------------------------------------
# ex08: output_padding, the channel matrix, planted bugs


def test_ex08_output_padding_and_matrix() -> None:
    ns = solutions("ex08_transposed")
    ex08.check_output_padding(ns["conv_transpose_output_padding"], 4, 8, 3, stride=2, padding=1)
    fails(
        lambda: ex08.check_output_padding(
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
    ex08.check_conv_matrix_channels(matrix, K, (5, 6), stride=2, padding=1, dilation=1)

    def hwc(K: torch.Tensor, size: Any, **kw: Any) -> torch.Tensor:
        C = matrix(K, size, **kw)
        return C.reshape(C.shape[0], K.shape[1], -1).transpose(1, 2).reshape(C.shape)

    fails(lambda: ex08.check_conv_matrix_channels(hwc, K, (5, 6)), "(h, w, c) order")
    fails(
        lambda: ex08.check_conv_matrix_channels(lambda K, s, **kw: matrix(K, s, **kw).T, K, (5, 6)),
        "C^T",
    )


def test_ex08_printed_function_is_the_planted_one() -> None:
    """The notebook's conv_transpose2d_buggy is ``ex08.planted`` with every bug in; each bug
    alone is wrong, none is right."""
    buggy = solutions("ex08_transposed")["conv_transpose2d_buggy"]
    for seed, (xs, ks, stride, p, op) in enumerate(
        [((2, 3, 3, 4), (3, 2, 2, 3), (1, 2), 0, 0), ((1, 2, 4, 3), (2, 3, 3, 3), (2, 3), 1, 1)]
    ):
        X, K = r(*xs, seed=seed), r(*ks, seed=seed + 9)
        args = (X, K, stride, p, op)
        torch.testing.assert_close(
            buggy(*args), ex08.planted(*args, bugs=tuple(ex08.PLANTED_BUGS)), rtol=0, atol=0
        )
        torch.testing.assert_close(
            ex08.planted(*args),
            F.conv_transpose2d(X, K, None, stride, p, op),
            rtol=1e-8,
            atol=1e-10,
        )


def test_ex08_smallest_witnesses() -> None:
    """Every input of size X.numel() + K.numel() <= 5 (the largest stated), strides up to 4,
    padding and output_padding up to 3: the smallest size at which each bug shows is the one
    PLANTED_BUGS states (a search over strides up to 2 once missed the size-2 witness of the
    output_padding bug, which needs stride 3)."""
    best = dict.fromkeys(ex08.PLANTED_BUGS, 10**9)
    dims = [
        d
        for d in itertools.product((1, 2), *[(1, 2, 3)] * 5)
        if d[0] * d[1] * d[2] + d[0] * d[3] * d[4] * d[5] <= 5
    ]
    for (c_in, h, w, c_out, kh, kw), sh, sw, p, op in itertools.product(
        dims, range(1, 5), range(1, 5), range(4), range(4)
    ):
        case = ((1, c_in, h, w), (c_in, c_out, kh, kw), (sh, sw), p, op)
        size = c_in * h * w + c_in * c_out * kh * kw
        for bug in best:
            if size < best[bug] and bool(ex08.case_verdict(case, bug, 0)[1]):
                best[bug] = size
    assert best == {bug: smallest for bug, (_, smallest) in ex08.PLANTED_BUGS.items()}


def test_ex08_failing_cases() -> None:
    cases = solutions("ex08_transposed")["failing_cases"]
    ex08.check_failing_cases(cases)
    right = cases()
    wrong_key = functools.partial(lambda c: {**c, "stride": c["channels"]}, right)
    fails(lambda: ex08.check_failing_cases(wrong_key), "does not show the 'stride' bug")
    bigger = {**right, "channels": ((1, 1, 2, 2), (1, 2, 2, 2), (1, 1), 0, 0)}
    fails(lambda: ex08.check_failing_cases(lambda: bigger), "a smaller one does", "= 5")
    invalid = {**right, "output_padding": ((1, 1, 1, 1), (2, 1, 2, 2), (2, 2), 1, 1)}
    fails(lambda: ex08.check_failing_cases(lambda: invalid), "not a valid input")


def test_ex08_fixed() -> None:
    fixed = solutions("ex08_transposed")["conv_transpose2d"]
    X, K = r(1, 2, 3, 4), r(2, 3, 3, 2, seed=1)
    ex08.check_fixed_conv_transpose2d(fixed, X, K, (2, 3), 1, 1)
    for bug in ex08.PLANTED_BUGS:
        left = functools.partial(ex08.planted, bugs=(bug,))
        run = functools.partial(ex08.check_fixed_conv_transpose2d, left, X, K, (2, 3), 1, 1)
        fails(run, f"the {bug!r} bug is still there")

    def loops(X: torch.Tensor, K: torch.Tensor, stride: Any = (1, 1), **kw: Any) -> torch.Tensor:
        for _ in range(X.shape[-1] * X.shape[-2]):
            pass
        return fixed(X, K, stride, **kw)

    fails(
        lambda: ex08.check_fixed_conv_transpose2d(loops, X, K, (1, 1)), "over the input positions"
    )


# --------------------------------------------------------------------------------------------
# ex09: circular padding's gradient, wrong candidates, the transposed convolution's gradients


def test_ex09_grad_input() -> None:
    grad_input = solutions("ex09_backward")["conv2d_grad_input"]
    settings: dict[str, Any] = {"stride": 2, "padding": 1, "dilation": 1, "groups": 2}
    X, K, dY = ex09.backward_case((2, 4, 7, 7), (4, 2, 3, 3), seed=4, **settings)
    for mode in ("zeros", "circular"):
        ex09.check_conv2d_grad_input(grad_input, dY, K, X.shape, **settings, padding_mode=mode)
    flipped = functools.partial(
        lambda f, dY, K, *a, **k: f(dY, K.flip(-1, -2), *a, **k), grad_input
    )
    fails(
        lambda: ex09.check_conv2d_grad_input(flipped, dY, K, X.shape, **settings),
        "kernel flipped the wrong way",
    )
    stride_one = functools.partial(lambda f, *a, stride=1, **k: f(*a, stride=1, **k), grad_input)
    fails(
        lambda: ex09.check_conv2d_grad_input(stride_one, dY, K, X.shape, **settings),
        "stride not undone",
    )
    cropped = functools.partial(lambda f, *a, padding_mode="zeros", **k: f(*a, **k), grad_input)
    fails(
        lambda: ex09.check_conv2d_grad_input(
            cropped, dY, K, X.shape, **settings, padding_mode="circular"
        ),
        "cropped the padding away",
    )


def sliced_conv(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """conv2d (stride 1, no padding) from slices, so that only autograd is left to forbid."""
    kh, kw = K.shape[-2:]
    H, W = X.shape[-2] - kh + 1, X.shape[-1] - kw + 1
    taps = [X[:, :, a : a + H, b : b + W] for a in range(kh) for b in range(kw)]
    Y = X.new_zeros((X.shape[0], K.shape[0], H, W))
    for i, t in enumerate(taps):
        Y = Y + torch.einsum("nchw,oc->nohw", t, K[:, :, i // kw, i % kw])
    return Y


def autograd_routes() -> list[Callable[..., torch.Tensor]]:
    """dL/dX of conv2d(X, K) (stride 1, no padding) through autograd, four ways."""

    def backward(dY: torch.Tensor, K: torch.Tensor, shape: Any, **kw: Any) -> torch.Tensor:
        with torch.enable_grad():
            X = dY.new_zeros(shape, requires_grad=True)
            (sliced_conv(X, K) * dY).sum().backward()
        assert X.grad is not None
        return X.grad

    def functional(dY: torch.Tensor, K: torch.Tensor, shape: Any, **kw: Any) -> torch.Tensor:
        return torch.func.vjp(lambda X: sliced_conv(X, K), dY.new_zeros(shape))[1](dY)[0]

    def grad(dY: torch.Tensor, K: torch.Tensor, shape: Any, **kw: Any) -> torch.Tensor:
        return torch.func.grad(lambda X: (sliced_conv(X, K) * dY).sum())(dY.new_zeros(shape))

    def vjp(dY: torch.Tensor, K: torch.Tensor, shape: Any, **kw: Any) -> torch.Tensor:
        return torch.autograd.functional.vjp(lambda X: sliced_conv(X, K), dY.new_zeros(shape), dY)[
            1
        ]

    return [backward, functional, grad, vjp]


def test_ex09_autograd_is_off() -> None:
    """Every route to autograd fails inside the check, whatever it is called by (issue 21)."""
    X, K, dY = ex09.backward_case((1, 2, 5, 5), (3, 2, 3, 3), seed=1)
    exact = ex09._autograd_grads(X, K, dY)[0]
    for route in autograd_routes():
        torch.testing.assert_close(route(dY, K, X.shape), exact, rtol=1e-8, atol=1e-10)
        run = functools.partial(ex09.check_conv2d_grad_input, route, dY, K, X.shape)
        fails(run, "raised RuntimeError")
    fails(
        lambda: ex09.check_conv2d_grad_input(autograd_routes()[0], dY, K, X.shape),
        "autograd is switched off",
    )


def test_ex09_find_wrong() -> None:
    find_wrong = solutions("ex09_backward")["find_wrong"]
    for seed in (5, 6, 7):
        ex09.check_find_wrong(find_wrong, seed=seed)
    fails(lambda: ex09.check_find_wrong(lambda c: list(c), seed=5), "is correct")
    fails(lambda: ex09.check_find_wrong(lambda c: [], seed=5), "is wrong", "when padding > 0")
    # a judge that only tries stride 1 misses the bug where stride and padding meet
    stride_one = ex09.candidate_functions(6)
    assert sorted(stride_one) == ["A", "B", "C", "D"]
    X, K, dY = ex09.backward_case((1, 1, 6, 5), (1, 1, 3, 2), seed=3, padding=1)
    exact = ex09._autograd_grads(X, K, dY, padding=1)[0]
    shallow = [
        name
        for name, fn in stride_one.items()
        if not torch.allclose(fn(X, K, dY, padding=1), exact)
    ]
    fails(lambda: ex09.check_find_wrong(lambda c: shallow, seed=6), "stride > 1 and padding > 0")


def test_ex09_transpose_backward() -> None:
    backward = solutions("ex09_backward")["conv_transpose2d_backward"]
    X, K = r(2, 3, 4, 4, seed=11), r(3, 2, 3, 3, seed=12)
    dY = r(2, 2, 7, 7, seed=14)
    ex09.check_conv_transpose2d_backward(backward, X, K, dY, 2, 1)
    flipped = functools.partial(
        lambda f, X, K, dY, **k: (f(X, K, dY, **k)[0], f(X, K, dY, **k)[1].flip(-1, -2)), backward
    )
    fails(lambda: ex09.check_conv_transpose2d_backward(flipped, X, K, dY, 2, 1), "dK is flipped")


# --------------------------------------------------------------------------------------------
# ex10: im2col in 1D-3D, grouped GEMM, zero-copy windows


def test_ex10_im2col_and_gemm() -> None:
    ns = solutions("ex10_im2col")
    im2col = ns["im2col"]
    for X, k in ((r(2, 3, 9), 3), (r(1, 2, 4, 5, 5, seed=1), (2, 3, 2)), (r(1, 2, 5, 5), 2)):
        ex10.check_im2col_nd(im2col, X, k, padding=1, stride=2)

    def offsets_first(X: torch.Tensor, k: Any, padding: int = 0, stride: int = 1) -> torch.Tensor:
        cols = im2col(X, k, padding=padding, stride=stride)
        N, C = X.shape[:2]
        return cols.reshape(N, C, -1, cols.shape[-1]).transpose(1, 2).reshape(cols.shape)

    fails(lambda: ex10.check_im2col_nd(offsets_first, r(2, 3, 9), 3), "(kernel offset, c) order")
    gemm = ns["conv2d_gemm"]
    X, K = r(2, 4, 5, 5), r(6, 2, 3, 3, seed=2)
    ex10.check_conv2d_gemm_groups(gemm, X, K, r(6, seed=3), 2, 1, 2)

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

    fails(lambda: ex10.check_conv2d_gemm_groups(group_loop, X, K, None, 1, 0, 2), "over the groups")


def test_ex10_window_view() -> None:
    view = solutions("ex10_im2col")["window_view"]
    base = r(2, 4, 12, 11)
    sliced = base[:, 1:3, 2:, 1::2]
    for X, k, s, d in [(sliced, (2, 2), 1, 1), (base.transpose(2, 3), (3, 2), 2, 2)]:
        ex10.check_window_view(view, X, k, stride=s, dilation=d)

    def assumed_contiguous(X: torch.Tensor, k: Any, stride: int = 1, dilation: int = 1) -> Any:
        return view(
            torch.as_strided(X, X.shape, X.contiguous().stride(), X.storage_offset()),
            k,
            stride,
            dilation,
        )

    fails(
        lambda: ex10.check_window_view(assumed_contiguous, sliced, (2, 2)),
        "assumed X is contiguous",
    )

    def no_offset(X: torch.Tensor, k: Any, stride: int = 1, dilation: int = 1) -> Any:
        return view(torch.as_strided(X, X.shape, X.stride(), 0), k, stride, dilation)

    fails(lambda: ex10.check_window_view(no_offset, sliced, (2, 2)), "storage offset")
    copied = functools.partial(lambda f, *a, **k: f(*a, **k).contiguous(), view)
    fails(lambda: ex10.check_window_view(copied, sliced, (2, 2)), "your windows are a copy")
    swapped = functools.partial(lambda f, *a, **k: f(*a, **k).transpose(-1, -2), view)
    fails(lambda: ex10.check_window_view(swapped, sliced, (2, 2)), "the last two axes are swapped")
    unfolded = functools.partial(lambda X, k, **kw: X.unfold(2, k[0], 1).unfold(3, k[1], 1))
    fails(lambda: ex10.check_window_view(unfolded, sliced, (2, 2)), "Tensor.unfold")


# --------------------------------------------------------------------------------------------
# ex11: argmax with ties, average pooling's backward, adaptive pooling


def test_ex11_max_pool_indices() -> None:
    pool = solutions("ex11_pooling")["max_pool2d"]
    X = r(2, 2, 9, 8).round()
    settings: dict[str, Any] = {"stride": 2, "padding": 1, "dilation": 2, "ceil_mode": True}
    ex11.check_max_pool2d_indices(pool, X, 3, **settings)
    Y, h, w = ex11.pool_taps(X, 3, **settings)
    torch.testing.assert_close(
        h * X.shape[-1] + w, F.max_pool2d(X, 3, **settings, return_indices=True)[1]
    )

    # the solution with ties to the last tap (convlib's own pool_taps would be flagged as such)
    namespace: dict[str, Any] = {"torch": torch}
    last_tie_source = solutions_source("ex11_pooling", "max_pool2d").replace(
        "window > Y", "window >= Y"
    )
    assert "window >= Y" in last_tie_source
    exec(compile(last_tie_source, "<last tie>", "exec"), namespace)  # noqa: S102
    fails(
        lambda: ex11.check_max_pool2d_indices(namespace["max_pool2d"], X, 3, **settings),
        "ties go to the last",
    )

    def padded_index(X: torch.Tensor, k: int, **kw: Any) -> tuple[torch.Tensor, torch.Tensor]:
        Y, index = pool(X, k, **kw)
        p, W = kw["padding"], X.shape[-1]
        return Y, (index // W + p) * (W + 2 * p) + index % W + p

    fails(lambda: ex11.check_max_pool2d_indices(padded_index, X, 3, **settings), "padded image")

    def zero_padded(
        X: torch.Tensor, k: int, stride: Any = None, padding: int = 0, **kw: Any
    ) -> Any:
        return pool(F.pad(X, (padding,) * 4), k, stride, 0, **kw)

    fails(
        lambda: ex11.check_max_pool2d_indices(zero_padded, X - 9, 3, stride=2, padding=1),
        "pads with -inf",
    )


def test_ex11_avg_pool_backward() -> None:
    backward = solutions("ex11_pooling")["avg_pool2d_backward"]
    dY = r(1, 2, 3, 3, seed=3)
    ex11.check_avg_pool2d_backward(backward, dY, (5, 5), 3, 2, 1, count_include_pad=False)
    flipped = functools.partial(
        lambda f, *a, count_include_pad=True, **k: f(
            *a, count_include_pad=not count_include_pad, **k
        ),
        backward,
    )
    fails(
        lambda: ex11.check_avg_pool2d_backward(
            flipped, dY, (5, 5), 3, 2, 1, count_include_pad=False
        ),
        "divided by kernel_size**2",
    )
    fails(
        lambda: ex11.check_avg_pool2d_backward(flipped, dY, (5, 5), 3, 2, 1),
        "the padded zeros count",
    )
    undivided = functools.partial(lambda f, *a, **k: 9 * f(*a, **k), backward)
    fails(lambda: ex11.check_avg_pool2d_backward(undivided, dY, (5, 5), 3, 2, 1), "not divided")


def test_ex11_adaptive() -> None:
    adaptive = solutions("ex11_pooling")["adaptive_avg_pool2d"]
    X = r(2, 3, 7, 5)
    ex11.check_adaptive_avg_pool2d_integral(adaptive, X, (3, 2))

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

    fails(lambda: ex11.check_adaptive_avg_pool2d_integral(bins_loop, X, (3, 2)), "output bins")
    fails(
        lambda: ex11.check_adaptive_avg_pool2d_integral(
            lambda X, out: F.adaptive_max_pool2d(X.clone(), out), X, (3, 2)
        ),
        "adaptive_max_pool2d",
    )
