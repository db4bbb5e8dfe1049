"""unfold (im2col) and fold (col2im), fast and loop, against torch.nn.functional.unfold/fold."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import convlib
from convlib import reference

UNFOLD = [convlib.unfold, reference.unfold]
FOLD = [convlib.fold, reference.fold]
TIGHT: dict[str, Any] = {"atol": 1e-10, "rtol": 1e-10}


def per_dim(draw: st.DrawFn, values: list[int]) -> int | tuple[int, int]:
    if values[0] == values[1] and draw(st.booleans()):
        return values[0]
    return (values[0], values[1])


@st.composite
def unfold_cases(draw: st.DrawFn) -> dict[str, Any]:
    kernel = [draw(st.integers(1, 3)) for _ in range(2)]
    dilation = [draw(st.integers(1, 2)) for _ in range(2)]
    padding = [draw(st.integers(0, 2)) for _ in range(2)]
    stride = [draw(st.integers(1, 3)) for _ in range(2)]
    size = [
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 3))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    ]
    batch = draw(st.sampled_from([None, 1, 2]))
    channels = draw(st.integers(1, 3))
    return {
        "shape": ((batch,) if batch else ()) + (channels, *size),
        "size": tuple(size),
        "kwargs": {
            "kernel_size": per_dim(draw, kernel),
            "dilation": per_dim(draw, dilation),
            "padding": per_dim(draw, padding),
            "stride": per_dim(draw, stride),
        },
        "seed": draw(st.integers(0, 2**16)),
    }


def test_source_shapes() -> None:
    # 2x5x3x4 input, 2x3 kernel: 5*2*3 = 30 rows, (3-2+1)*(4-3+1) = 4 windows
    X = torch.randn(2, 5, 3, 4)
    for unfold in UNFOLD:
        assert unfold(X, kernel_size=(2, 3)).shape == (2, 30, 4)


@pytest.mark.parametrize("unfold", UNFOLD)
def test_hand_checked(unfold: Any) -> None:
    X = torch.arange(9.0).reshape(1, 1, 3, 3)
    expected = torch.tensor([[[0.0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]])
    torch.testing.assert_close(unfold(X, 2), expected, atol=0, rtol=0)


@pytest.mark.parametrize("fold", FOLD)
def test_fold_counts_overlaps(fold: Any) -> None:
    # Folding the windows of an all-ones image counts how many windows cover each pixel.
    cols = torch.ones(1, 4, 4)  # 1 channel, 2x2 kernel, 4 windows over a 3x3 image
    expected = torch.tensor([[[[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]]])
    torch.testing.assert_close(fold(cols, (3, 3), 2), expected, atol=0, rtol=0)


def test_conv_as_unfold_then_matmul() -> None:
    # im2col: a convolution is the kernel matrix times the unfolded input
    X = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    K = torch.randn(4, 3, 3, 2, dtype=torch.float64)
    cols = convlib.unfold(X, (3, 2), padding=1, stride=2)
    Y = (K.reshape(4, -1) @ cols).reshape(2, 4, *convlib.conv_output_size((6, 5), (3, 2), 2, 1))
    torch.testing.assert_close(Y, F.conv2d(X, K, padding=1, stride=2), **TIGHT)


@given(unfold_cases())
def test_unfold_matches_torch(case: dict[str, Any]) -> None:
    gen = torch.Generator().manual_seed(case["seed"])
    X = torch.randn(case["shape"], dtype=torch.float64, generator=gen, requires_grad=True)
    expected = F.unfold(X, **case["kwargs"])
    for unfold in UNFOLD:
        Y = unfold(X, **case["kwargs"])
        torch.testing.assert_close(Y, expected, atol=0, rtol=0)
    Y = convlib.unfold(X, **case["kwargs"])
    upstream = torch.randn(Y.shape, dtype=torch.float64, generator=gen)
    (grad,) = torch.autograd.grad(Y, X, upstream)
    (expected_grad,) = torch.autograd.grad(expected, X, upstream)
    torch.testing.assert_close(grad, expected_grad, **TIGHT)


@given(unfold_cases())
def test_fold_matches_torch(case: dict[str, Any]) -> None:
    gen = torch.Generator().manual_seed(case["seed"])
    cols_shape = F.unfold(torch.zeros(case["shape"]), **case["kwargs"]).shape
    cols = torch.randn(cols_shape, dtype=torch.float64, generator=gen, requires_grad=True)
    expected = F.fold(cols, case["size"], **case["kwargs"])
    for fold in FOLD:
        torch.testing.assert_close(fold(cols, case["size"], **case["kwargs"]), expected, **TIGHT)
    Y = convlib.fold(cols, case["size"], **case["kwargs"])
    upstream = torch.randn(Y.shape, dtype=torch.float64, generator=gen)
    (grad,) = torch.autograd.grad(Y, cols, upstream)
    (expected_grad,) = torch.autograd.grad(expected, cols, upstream)
    torch.testing.assert_close(grad, expected_grad, **TIGHT)


@settings(max_examples=20)
@given(unfold_cases())
def test_fold_is_adjoint_of_unfold(case: dict[str, Any]) -> None:
    # <unfold(X), C> == <X, fold(C)>: fold is unfold's transpose
    gen = torch.Generator().manual_seed(case["seed"])
    X = torch.randn(case["shape"], dtype=torch.float64, generator=gen)
    cols = convlib.unfold(X, **case["kwargs"])
    C = torch.randn(cols.shape, dtype=torch.float64, generator=gen)
    lhs = (cols * C).sum()
    rhs = (X * convlib.fold(C, case["size"], **case["kwargs"])).sum()
    torch.testing.assert_close(lhs, rhs, **TIGHT)


def test_empty_batch() -> None:
    X = torch.zeros(0, 2, 3, 3)
    cols = convlib.unfold(X, 2)
    assert cols.shape == F.unfold(X, 2).shape
    assert convlib.fold(cols, (3, 3), 2).shape == (0, 2, 3, 3)


def test_on_device(device: str) -> None:
    X = torch.randn(2, 3, 7, 6, dtype=torch.float64, device=device)
    kwargs: dict[str, Any] = {
        "kernel_size": (3, 2),
        "dilation": (1, 2),
        "padding": 1,
        "stride": (2, 1),
    }
    cols = convlib.unfold(X, **kwargs)
    assert cols.device == X.device
    torch.testing.assert_close(cols, F.unfold(X, **kwargs), atol=0, rtol=0)
    torch.testing.assert_close(
        convlib.fold(cols, (7, 6), **kwargs), F.fold(cols, (7, 6), **kwargs), **TIGHT
    )
