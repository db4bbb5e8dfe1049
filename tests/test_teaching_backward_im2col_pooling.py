"""Teaching layer, chapters 9-11: conv2d gradients, im2col, pooling.

Each function against a hand-checked case, against torch (values and float64 gradients), over
hypothesis-drawn shapes and arguments, and against the general convlib op it teaches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from teaching_helpers import F64, TOL

import convlib
from convlib.teaching.ch09_backward import (
    conv2d_backward,
    conv2d_backward_loops,
    conv2d_weight_grad,
)
from convlib.teaching.ch10_im2col import col2im, conv2d_im2col, im2col
from convlib.teaching.ch11_pooling import (
    adaptive_avg_pool2d,
    adaptive_bins,
    adaptive_max_pool2d,
    avg_pool2d,
    global_avg_pool2d,
    max_pool2d,
)

TIGHT = TOL
Tensor = torch.Tensor
Pair = tuple[int, int]
# (C_in, C_out, kernel, stride, padding, dilation, groups), and the last four as passed on
ConvCase = tuple[int, int, Pair, Pair, Pair, Pair, int]
ConvArgs = tuple[Pair, Pair, Pair, int]


# ---------------------------------------------------------------------------------------------
# Chapter 9: backward
# ---------------------------------------------------------------------------------------------

# (C_in, C_out, kernel, stride, padding, dilation, groups)
CONV_CASES: list[ConvCase] = [
    (1, 1, (2, 2), (1, 1), (0, 0), (1, 1), 1),
    (3, 4, (3, 3), (2, 2), (1, 1), (1, 1), 1),
    (4, 6, (2, 3), (3, 2), (1, 0), (1, 2), 2),
    (4, 4, (3, 3), (2, 1), (2, 2), (2, 2), 4),
    (6, 3, (1, 1), (2, 2), (0, 0), (1, 1), 3),
]


def _torch_grads(
    X: Tensor,
    K: Tensor,
    b: Tensor,
    dY: Tensor,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
    groups: int,
    create_graph: bool = False,
) -> tuple[Tensor, ...]:
    Y = F.conv2d(X, K, b, stride, padding, dilation, groups)
    return torch.autograd.grad(Y, (X, K, b), dY, create_graph=create_graph)


def _conv_case(
    case: ConvCase, device: str = "cpu", H: int = 7, W: int = 8, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor, Tensor, ConvArgs]:
    C_in, C_out, ks, stride, padding, dilation, groups = case
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(2, C_in, H, W, dtype=F64, generator=g).to(device).requires_grad_()
    K = torch.randn(C_out, C_in // groups, *ks, dtype=F64, generator=g).to(device).requires_grad_()
    b = torch.randn(C_out, dtype=F64, generator=g).to(device).requires_grad_()
    Y = F.conv2d(X, K, b, stride, padding, dilation, groups)
    dY = torch.randn(Y.shape, dtype=F64, generator=g).to(device).requires_grad_()
    return X, K, b, dY, (stride, padding, dilation, groups)


def test_backward_hand_case() -> None:
    X = torch.arange(9.0, dtype=F64).reshape(1, 1, 3, 3)
    K = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]], dtype=F64)
    dY = torch.ones(1, 1, 2, 2, dtype=F64)
    for backward in (conv2d_backward_loops, conv2d_backward):
        dX, dK, db = backward(X, K, dY)
        assert dK[0, 0].tolist() == [[8.0, 12.0], [20.0, 24.0]]
        assert dX[0, 0].tolist() == [[0.0, 1.0, 1.0], [2.0, 6.0, 4.0], [2.0, 5.0, 3.0]]
        assert db.tolist() == [4.0]
    assert conv2d_weight_grad(X, dY, (2, 2))[0, 0].tolist() == [[8.0, 12.0], [20.0, 24.0]]


@pytest.mark.parametrize("case", CONV_CASES)
def test_backward_matches_autograd(case: ConvCase, device: str) -> None:
    X, K, b, dY, args = _conv_case(case, device)
    expected = _torch_grads(X, K, b, dY, *args)
    d = dY.detach()
    for ours in (
        conv2d_backward_loops(X.detach(), K.detach(), d, *args),
        conv2d_backward(X.detach(), K.detach(), d, *args),
    ):
        for got, want in zip(ours, expected, strict=True):
            torch.testing.assert_close(got, want, **TIGHT)
    kernel_size = cast(Pair, K.shape[2:])  # a torch.Size of two entries: (kh, kw)
    dK = conv2d_weight_grad(X.detach(), d, kernel_size, *args)
    torch.testing.assert_close(dK, expected[1], **TIGHT)


@pytest.mark.parametrize("case", CONV_CASES[1:4])
def test_backward_gradients_match_double_backward(case: ConvCase) -> None:
    """Our gradients are differentiable; their float64 gradients equal torch's double backward."""
    X, K, b, dY, args = _conv_case(case)
    g = torch.Generator().manual_seed(1)
    R = [torch.randn(t.shape, dtype=F64, generator=g) for t in (X, K, b)]

    def second(grads: Sequence[Tensor]) -> list[Tensor]:
        # sum() of tensors is a tensor (typeshed adds the int start 0 to the type)
        total = cast(Tensor, sum((t * r).sum() for t, r in zip(grads, R, strict=True)))
        out = torch.autograd.grad(total, (X, K, dY), allow_unused=True)
        pairs = zip(out, (X, K, dY), strict=True)
        return [torch.zeros_like(v) if o is None else o for o, v in pairs]

    expected = second(_torch_grads(X, K, b, dY, *args, create_graph=True))
    for backward in (conv2d_backward, conv2d_backward_loops):
        for got, want in zip(second(backward(X, K, dY, *args)), expected, strict=True):
            torch.testing.assert_close(got, want, **TIGHT)


@settings(max_examples=15, deadline=None)
@given(
    groups=st.sampled_from([1, 2]),
    per_group=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    ks=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    size=st.tuples(st.integers(5, 8), st.integers(5, 8)),
)
def test_backward_hypothesis(
    groups: int,
    per_group: Pair,
    ks: Pair,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
    size: Pair,
) -> None:
    case = (groups * per_group[0], groups * per_group[1], ks, stride, padding, dilation, groups)
    X, K, b, dY, args = _conv_case(case, H=size[0], W=size[1])
    expected = _torch_grads(X, K, b, dY, *args)
    got = conv2d_backward(X.detach(), K.detach(), dY.detach(), *args)
    for ours, want in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, want, **TIGHT)


@pytest.mark.parametrize("padding, unread", [(1, False), (0, True)])
def test_backward_output_padding_rows(padding: int, unread: bool) -> None:
    """Chapter 9's rule, H=8, k=3, s=2: output_padding is 1 in both cases; the restored last row
    of dX is zero only when no window reads X's last row (padding 0), else it carries gradient."""
    g = torch.Generator().manual_seed(3)
    X = torch.randn(1, 1, 8, 8, dtype=F64, generator=g, requires_grad=True)
    K = torch.randn(1, 1, 3, 3, dtype=F64, generator=g)
    Y = F.conv2d(X, K, stride=2, padding=padding)
    dY = torch.randn(Y.shape, dtype=F64, generator=g)
    (want,) = torch.autograd.grad(Y, X, dY)
    assert (8 + 2 * padding - 3) % 2 == 1  # output_padding
    dX, _, _ = conv2d_backward(X.detach(), K, dY, (2, 2), (padding, padding))
    torch.testing.assert_close(dX, want, **TIGHT)
    assert (want[0, 0, -1].abs().max().item() == 0.0) == unread


@pytest.mark.parametrize("case", CONV_CASES)
def test_backward_equals_convlib(case: ConvCase) -> None:
    """Autograd through the general convlib.conv2d, and convlib.conv_transpose2d, give the same."""
    X, K, b, dY, (stride, padding, dilation, groups) = _conv_case(case)
    Y = convlib.conv2d(X, K, b, stride, padding, dilation, groups)
    expected = torch.autograd.grad(Y, (X, K, b), dY)
    got = conv2d_backward(X.detach(), K.detach(), dY.detach(), stride, padding, dilation, groups)
    for ours, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, theirs, **TIGHT)
    lost = [
        (n + 2 * p - d * (k - 1) - 1) % s
        for n, p, d, k, s in zip(X.shape[2:], padding, dilation, K.shape[2:], stride, strict=True)
    ]
    dX = convlib.conv_transpose2d(dY.detach(), K.detach(), None, stride, padding, lost, groups,
                                  dilation)  # fmt: skip
    torch.testing.assert_close(got[0], dX, **TIGHT)


# ---------------------------------------------------------------------------------------------
# Chapter 10: im2col
# ---------------------------------------------------------------------------------------------

Im2colCase = tuple[int, int, Pair, Pair, Pair]
IM2COL_CASES: list[Im2colCase] = [  # (kh, kw, stride, padding, dilation)
    (2, 2, (1, 1), (0, 0), (1, 1)),
    (3, 2, (2, 3), (1, 1), (2, 1)),
    (1, 3, (1, 2), (0, 2), (1, 2)),
]


def test_im2col_hand_case() -> None:
    X = torch.arange(9.0, dtype=F64).reshape(1, 1, 3, 3)
    cols = im2col(X, 2, 2)
    assert cols[0].T.tolist() == [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]
    K = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]], dtype=F64)
    assert conv2d_im2col(X, K)[0, 0].tolist() == [[19.0, 25.0], [37.0, 43.0]]
    assert col2im(torch.ones_like(cols), (3, 3), 2, 2)[0, 0].tolist() == [
        [1.0, 2.0, 1.0],
        [2.0, 4.0, 2.0],
        [1.0, 2.0, 1.0],
    ]
    assert tuple(im2col(torch.zeros(2, 5, 3, 4), 2, 3).shape) == (2, 30, 4)


@pytest.mark.parametrize("case", IM2COL_CASES)
def test_im2col_matches_torch(case: Im2colCase, device: str) -> None:
    kh, kw, stride, padding, dilation = case
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2, 3, 7, 8, dtype=F64, generator=g).to(device).requires_grad_()
    K = torch.randn(4, 3, kh, kw, dtype=F64, generator=g).to(device).requires_grad_()
    b = torch.randn(4, dtype=F64, generator=g).to(device).requires_grad_()
    torch_args = dict(dilation=dilation, padding=padding, stride=stride)
    cols = im2col(X, kh, kw, stride, padding, dilation)
    expected_cols = F.unfold(X, (kh, kw), **torch_args)
    torch.testing.assert_close(cols, expected_cols, **TIGHT)
    Z = torch.randn(cols.shape, dtype=F64, generator=g).to(device).requires_grad_()
    back = col2im(Z, (7, 8), kh, kw, stride, padding, dilation)
    expected_back = F.fold(Z, (7, 8), (kh, kw), **torch_args)
    torch.testing.assert_close(back, expected_back, **TIGHT)
    Y = conv2d_im2col(X, K, b, stride, padding, dilation)
    expected_Y = F.conv2d(X, K, b, stride, padding, dilation)
    torch.testing.assert_close(Y, expected_Y, **TIGHT)
    # float64 gradients, through the same random cotangents
    checks: list[tuple[Tensor, Tensor, Tensor | tuple[Tensor, ...]]] = [
        (cols, expected_cols, X),
        (back, expected_back, Z),
        (Y, expected_Y, (X, K, b)),
    ]
    for ours, theirs, inputs in checks:
        R = torch.randn(ours.shape, dtype=F64, generator=g).to(device)
        got = torch.autograd.grad((ours * R).sum(), inputs)
        want = torch.autograd.grad((theirs * R).sum(), inputs)
        for a, w in zip(got, want, strict=True):
            torch.testing.assert_close(a, w, **TIGHT)


@settings(max_examples=15, deadline=None)
@given(
    ks=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    size=st.tuples(st.integers(5, 8), st.integers(5, 8)),
    channels=st.integers(1, 3),
)
def test_im2col_hypothesis(
    ks: Pair, stride: Pair, padding: Pair, dilation: Pair, size: Pair, channels: int
) -> None:
    X = torch.randn(2, channels, *size, dtype=F64)
    cols = im2col(X, *ks, stride, padding, dilation)
    args = dict(dilation=dilation, padding=padding, stride=stride)
    torch.testing.assert_close(cols, F.unfold(X, ks, **args), **TIGHT)
    torch.testing.assert_close(col2im(cols, size, *ks, stride, padding, dilation),
                               F.fold(cols, size, ks, **args), **TIGHT)  # fmt: skip
    K = torch.randn(2, channels, *ks, dtype=F64)
    Y = conv2d_im2col(X, K, None, stride, padding, dilation)
    torch.testing.assert_close(Y, F.conv2d(X, K, None, stride, padding, dilation), **TIGHT)


@pytest.mark.parametrize("case", IM2COL_CASES)
def test_im2col_equals_convlib(case: Im2colCase) -> None:
    kh, kw, stride, padding, dilation = case
    X = torch.randn(2, 3, 7, 8, dtype=F64)
    K = torch.randn(4, 3, kh, kw, dtype=F64)
    args: dict[str, Any] = dict(stride=stride, padding=padding, dilation=dilation)
    cols = im2col(X, kh, kw, stride, padding, dilation)
    torch.testing.assert_close(cols, convlib.unfold(X, (kh, kw), **args), **TIGHT)
    torch.testing.assert_close(cols, convlib.unfold_reference(X, (kh, kw), **args), **TIGHT)
    folded = convlib.fold(cols, (7, 8), (kh, kw), **args)
    torch.testing.assert_close(col2im(cols, (7, 8), kh, kw, stride, padding, dilation), folded)
    Y = conv2d_im2col(X, K, None, stride, padding, dilation)
    torch.testing.assert_close(Y, convlib.conv2d(X, K, None, **args), **TIGHT)


# ---------------------------------------------------------------------------------------------
# Chapter 11: pooling (teaching layer), and the library's pooling edges
# ---------------------------------------------------------------------------------------------

PoolCase = tuple[Pair, Pair | None, Pair]
POOL_CASES: list[PoolCase] = [  # (kernel_size, stride, padding)
    ((2, 2), None, (0, 0)),
    ((3, 2), (2, 1), (1, 1)),
    ((3, 3), (1, 2), (1, 0)),
    ((2, 3), (2, 3), (0, 1)),
]
ADAPTIVE_SIZES = [(1, 1), (3, 4), (7, 9), (5, 2), (4, 6), (10, 3)]


def test_pooling_hand_case() -> None:
    X = torch.arange(9.0, dtype=F64).reshape(1, 1, 3, 3)
    Y, indices = max_pool2d(X, (2, 2), stride=(1, 1))
    assert Y[0, 0].tolist() == [[4.0, 5.0], [7.0, 8.0]]
    assert indices[0, 0].tolist() == [[4, 5], [7, 8]]  # flat in the channel, not in the window
    assert avg_pool2d(X, (2, 2), stride=(1, 1))[0, 0].tolist() == [[2.0, 3.0], [5.0, 6.0]]
    X16 = torch.arange(16.0, dtype=F64).reshape(1, 1, 4, 4)
    padded, padded_indices = max_pool2d(X16, (3, 3), (2, 2), (1, 1))
    assert padded[0, 0].tolist() == [[5.0, 7.0], [13.0, 15.0]]
    assert padded_indices[0, 0].tolist() == [[5, 7], [13, 15]]
    assert global_avg_pool2d(X).flatten().tolist() == [4.0]
    assert adaptive_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert adaptive_bins(4, 2) == [(0, 2), (2, 4)]
    assert adaptive_bins(2, 5) == [
        (0, 1),
        (0, 1),
        (0, 2),
        (1, 2),
        (1, 2),
    ]  # the middle bin overlaps both
    assert adaptive_max_pool2d(X, (1, 3))[0, 0].tolist() == [[6.0, 7.0, 8.0]]
    assert adaptive_avg_pool2d(X, (2, 2))[0, 0].tolist() == [[2.0, 3.0], [5.0, 6.0]]


def _grads(outputs: Tensor, inputs: Tensor, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    R = torch.randn(outputs.shape, dtype=F64, generator=g).to(outputs.device)
    return torch.autograd.grad((outputs * R).sum(), inputs)[0]


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_matches_torch(case: PoolCase, device: str) -> None:
    kernel_size, stride, padding = case
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2, 3, 7, 9, dtype=F64, generator=g).to(device).requires_grad_()
    Y, indices = max_pool2d(X, kernel_size, stride, padding)
    Y_t, indices_t = F.max_pool2d(X, kernel_size, stride, padding, return_indices=True)
    torch.testing.assert_close(Y, Y_t, **TIGHT)
    assert torch.equal(indices, indices_t)
    torch.testing.assert_close(_grads(Y, X), _grads(Y_t, X), **TIGHT)
    A, A_t = (
        avg_pool2d(X, kernel_size, stride, padding),
        F.avg_pool2d(X, kernel_size, stride, padding),
    )
    torch.testing.assert_close(A, A_t, **TIGHT)
    torch.testing.assert_close(_grads(A, X), _grads(A_t, X), **TIGHT)


@pytest.mark.parametrize("size", ADAPTIVE_SIZES)
def test_adaptive_matches_torch(size: Pair, device: str) -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2, 3, 7, 9, dtype=F64, generator=g).to(device).requires_grad_()
    for ours, theirs in [
        (adaptive_avg_pool2d(X, size), F.adaptive_avg_pool2d(X, size)),
        (adaptive_max_pool2d(X, size), F.adaptive_max_pool2d(X, size)),
        (global_avg_pool2d(X), F.adaptive_avg_pool2d(X, 1)),
    ]:
        torch.testing.assert_close(ours, theirs, **TIGHT)
        torch.testing.assert_close(_grads(ours, X), _grads(theirs, X), **TIGHT)


@settings(max_examples=15, deadline=None)
@given(
    kernel_size=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))),
    pad=st.tuples(st.booleans(), st.booleans()),
    size=st.tuples(st.integers(3, 8), st.integers(3, 8)),
    out=st.tuples(st.integers(1, 9), st.integers(1, 9)),
)
def test_pooling_hypothesis(
    kernel_size: Pair, stride: Pair | None, pad: tuple[bool, bool], size: Pair, out: Pair
) -> None:
    (kh, kw), (pad_h, pad_w) = kernel_size, pad
    padding = (kh // 2 if pad_h else 0, kw // 2 if pad_w else 0)
    X = torch.randn(1, 2, *size, dtype=F64)
    Y, indices = max_pool2d(X, kernel_size, stride, padding)
    Y_t, indices_t = F.max_pool2d(X, kernel_size, stride, padding, return_indices=True)
    torch.testing.assert_close(Y, Y_t, **TIGHT)
    assert torch.equal(indices, indices_t)
    A_t = F.avg_pool2d(X, kernel_size, stride, padding)
    torch.testing.assert_close(avg_pool2d(X, kernel_size, stride, padding), A_t, **TIGHT)
    torch.testing.assert_close(adaptive_avg_pool2d(X, out), F.adaptive_avg_pool2d(X, out), **TIGHT)
    torch.testing.assert_close(adaptive_max_pool2d(X, out), F.adaptive_max_pool2d(X, out), **TIGHT)


@pytest.mark.parametrize("case", POOL_CASES)
def test_pooling_equals_convlib(case: PoolCase) -> None:
    kernel_size, stride, padding = case
    X = torch.randn(2, 3, 7, 9, dtype=F64)
    Y, indices = max_pool2d(X, kernel_size, stride, padding)
    Y_lib, indices_lib = convlib.max_pool2d(X, kernel_size, stride, padding, return_indices=True)
    torch.testing.assert_close(Y, Y_lib, **TIGHT)
    assert torch.equal(indices, indices_lib)
    A_lib = convlib.avg_pool2d(X, kernel_size, stride, padding)
    torch.testing.assert_close(avg_pool2d(X, kernel_size, stride, padding), A_lib, **TIGHT)
    for size in ADAPTIVE_SIZES:
        avg_lib = convlib.adaptive_avg_pool2d(X, size)
        max_lib = convlib.adaptive_max_pool2d(X, size)
        torch.testing.assert_close(adaptive_avg_pool2d(X, size), avg_lib, **TIGHT)
        torch.testing.assert_close(adaptive_max_pool2d(X, size), max_lib, **TIGHT)
    torch.testing.assert_close(global_avg_pool2d(X), convlib.adaptive_avg_pool2d(X, 1), **TIGHT)


# The library (convlib.pooling) against torch on argument forms: issue 11's edge and its kin.
X1 = torch.randn(2, 3, 9, dtype=F64)
X2 = torch.randn(2, 3, 7, 8, dtype=F64)
X3 = torch.randn(1, 2, 5, 6, 7, dtype=F64)
EDGE_CALLS = [  # (name, input, args, kwargs)
    ("avg_pool1d", X1, (2,), {"stride": ()}),
    ("max_pool1d", X1, (3,), {"stride": []}),
    ("avg_pool2d", X2, (2,), {"stride": ()}),
    ("max_pool2d", X2, (2,), {"stride": ()}),
    ("avg_pool2d", X2, (3,), {"stride": []}),
    ("max_pool2d", X2, (3,), {"stride": None}),
    ("avg_pool3d", X3, (2,), {"stride": ()}),
    ("max_pool3d", X3, (2,), {"stride": ()}),
    ("avg_pool2d", X2, ((2,),), {"stride": ()}),  # a one-entry kernel tuple, then stride ()
    ("avg_pool2d", X2, (3,), {"padding": (1,)}),  # a one-entry padding tuple
    ("max_pool2d", X2, (3,), {"padding": [1, 0], "dilation": (2,)}),
    ("avg_pool2d", X2, (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    ("avg_pool2d", X2, (3,), {"stride": (), "divisor_override": 3}),
    ("avg_pool2d", X2, (3,), {"divisor_override": -2}),
    ("max_pool2d", X2, (3, 2, 1), {"ceil_mode": True, "return_indices": True}),
    ("max_pool2d", X2[0], (2,), {"stride": (), "return_indices": True}),  # unbatched
    ("avg_pool2d", X2[:0], (2,), {"stride": ()}),  # empty batch
    ("adaptive_avg_pool1d", X1, (4,), {}),
    ("adaptive_max_pool1d", X1, ((4,),), {"return_indices": True}),
    ("adaptive_avg_pool2d", X2, ((None, 3),), {}),
    ("adaptive_max_pool2d", X2, ((3, None),), {"return_indices": True}),
    ("adaptive_avg_pool2d", X2, (10,), {}),  # larger than the input: bins repeat
    ("adaptive_avg_pool2d", X2, (0,), {}),
    ("adaptive_max_pool2d", X2[0], (3,), {"return_indices": True}),
    ("adaptive_avg_pool3d", X3, ((2, None, 3),), {}),
    ("adaptive_max_pool3d", X3, ((2, 3, 4),), {"return_indices": True}),
]


def _edge_id(value: object) -> str:
    """A test id the same in every xdist worker: a tensor by its shape, not its random values."""
    if isinstance(value, torch.Tensor):
        return "x".join(map(str, value.shape)) or "scalar"
    return repr(value)[:40]


@pytest.mark.parametrize("name, X, args, kwargs", EDGE_CALLS, ids=_edge_id)
def test_library_pooling_edges_match_torch(
    name: str, X: Tensor, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    ours = getattr(convlib, name)(X, *args, **kwargs)
    theirs = getattr(F, name)(X, *args, **kwargs)
    if isinstance(theirs, tuple):
        torch.testing.assert_close(ours[0], theirs[0], **TIGHT)
        assert torch.equal(ours[1], theirs[1])
    else:
        torch.testing.assert_close(ours, theirs, **TIGHT)


def test_library_adaptive_max_ties_nan_and_gradients() -> None:
    nan, inf = float("nan"), float("inf")
    X = torch.tensor([[[[1, 1, 2], [2, nan, 0], [nan, 5, -inf]]]], dtype=F64)
    for size in [(1, 1), (2, 2), (3, 1), (2, 3)]:
        ours = convlib.adaptive_max_pool2d(X, size, return_indices=True)
        theirs = F.adaptive_max_pool2d(X, size, return_indices=True)
        torch.testing.assert_close(ours[0], theirs[0], equal_nan=True)
        assert torch.equal(ours[1], theirs[1])
    Xg = X2.clone().requires_grad_()
    for name in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        ours, theirs = getattr(convlib, name)(Xg, (4, 5)), getattr(F, name)(Xg, (4, 5))
        torch.testing.assert_close(_grads(ours, Xg), _grads(theirs, Xg), **TIGHT)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: convlib.adaptive_avg_pool2d(X2, (3,)), ValueError),
        (lambda: convlib.adaptive_avg_pool2d(X2, -1), ValueError),
        # cast(Any, ...): a deliberately wrong type, which the call must reject
        (lambda: convlib.adaptive_avg_pool2d(X2, cast(Any, 2.0)), TypeError),
        (lambda: convlib.adaptive_avg_pool1d(X1, cast(Any, None)), TypeError),
        (lambda: convlib.adaptive_max_pool2d(X2.long(), 2), TypeError),
        (lambda: convlib.adaptive_max_pool2d(X2[0, 0], 2), ValueError),
        (lambda: convlib.avg_pool2d(X2, ()), ValueError),  # an empty kernel is not a default
    ],
)
def test_library_adaptive_bad_calls(call: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        call()
