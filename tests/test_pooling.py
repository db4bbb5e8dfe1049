"""Pooling (chapter on pooling): convlib's max/avg pool against torch.nn.functional.

Values and indices must equal PyTorch's (max pooling picks an element, so the values are exact);
averages and gradients agree to float64 rounding. Hypothesis draws shapes and every argument form
(int, tuple, list, stride None), batched and unbatched, with and without ceil_mode.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlib import pooling
from convlib.shapes import pool_output_size

TIGHT: dict[str, Any] = {"atol": 1e-12, "rtol": 1e-12}  # float64
FLOAT32: dict[str, Any] = {"atol": 1e-5, "rtol": 1e-5}

MAX = {1: pooling.max_pool1d, 2: pooling.max_pool2d, 3: pooling.max_pool3d}
AVG = {1: pooling.avg_pool1d, 2: pooling.avg_pool2d, 3: pooling.avg_pool3d}
MAX_REF = {
    1: pooling.max_pool1d_reference,
    2: pooling.max_pool2d_reference,
    3: pooling.max_pool3d_reference,
}
AVG_REF = {
    1: pooling.avg_pool1d_reference,
    2: pooling.avg_pool2d_reference,
    3: pooling.avg_pool3d_reference,
}
TORCH_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
TORCH_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _form(values: tuple[int, ...], how: int) -> Any:
    """One argument in one of the forms torch accepts: int (when all equal), tuple or list."""
    if how == 0 and len(set(values)) == 1:
        return values[0]
    return list(values) if how == 1 else tuple(values)


@st.composite
def pool_cases(draw: st.DrawFn, max_size: int = 7, dims: tuple[int, ...] = (1, 2, 3)) -> dict:
    """A valid pooling call: input shape and keyword arguments (both max and avg forms)."""
    n = draw(st.sampled_from(dims))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    # Big enough that the dilated kernel fits in the padded input (torch's avg_pool3d also wants
    # the kernel to fit without the padding).
    smallest = [
        max(1, d * (k - 1) + 1 - 2 * p, k if n == 3 else 1)
        for k, p, d in zip(kernel, padding, dilation, strict=True)
    ]
    size = tuple(draw(st.integers(lo, max(lo, max_size))) for lo in smallest)
    batched = draw(st.booleans())
    lead = (
        (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        if batched
        else (draw(st.integers(1, 2)),)
    )
    how = draw(st.integers(0, 2))
    use_stride = draw(st.booleans())
    return {
        "n": n,
        "shape": lead + size,
        "kernel_size": _form(kernel, how),
        "stride": _form(stride, how) if use_stride else None,
        "padding": _form(padding, how),
        "dilation": _form(dilation, how),
        "ceil_mode": draw(st.booleans()),
        "count_include_pad": draw(st.booleans()),
        "divisor_override": draw(st.sampled_from([None, None, 1, 3])),
        "ties": draw(st.booleans()),
    }


def _input(case: dict, dtype: torch.dtype = torch.float64, device: str = "cpu") -> torch.Tensor:
    gen = torch.Generator().manual_seed(zlib.crc32(repr(sorted(case.items())).encode()))
    if case["ties"]:
        # Small integers: many windows hold the maximum twice, so tie-breaking is exercised.
        X = torch.randint(0, 3, case["shape"], generator=gen).to(dtype)
    else:
        X = torch.randn(case["shape"], generator=gen, dtype=dtype)
    return X.to(device)


def _has_all_padding_window(case: dict) -> bool:
    """Whether a dilated window skips over the whole input along some dim (it reads only padding).

    PyTorch then returns -inf with an index outside the input, and its max_pool3d backward aborts
    the process on that index, so gradient tests leave these (legal) calls out.
    """
    n = case["n"]
    stride = case["kernel_size"] if case["stride"] is None else case["stride"]
    args = [case["kernel_size"], stride, case["padding"], case["dilation"]]
    k, s, p, d = ([a] * n if isinstance(a, int) else list(a) for a in args)
    size = case["shape"][-n:]
    out = pool_output_size(size, k, s, p, d, case["ceil_mode"])
    return any(
        not any(0 <= o * s[i] - p[i] + j * d[i] < size[i] for j in range(k[i]))
        for i in range(n)
        for o in range(out[i])
    )


def _max_kwargs(case: dict) -> dict:
    keys = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    return {k: case[k] for k in keys}


def _avg_kwargs(case: dict) -> dict:
    kwargs = {
        k: case[k] for k in ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
    }
    if case["n"] > 1:
        kwargs["divisor_override"] = case["divisor_override"]
    return kwargs


# ---------------------------------------------------------------------------------------------
# Fast path against torch
# ---------------------------------------------------------------------------------------------


@given(pool_cases())
def test_max_pool_matches_torch(case: dict) -> None:
    n, kwargs = case["n"], _max_kwargs(case)
    X = _input(case)
    Y, idx = MAX[n](X, return_indices=True, **kwargs)
    Y_t, idx_t = TORCH_MAX[n](X, return_indices=True, **kwargs)
    assert Y.shape == Y_t.shape and idx.dtype == idx_t.dtype == torch.int64
    torch.testing.assert_close(Y, Y_t, atol=0, rtol=0)
    torch.testing.assert_close(idx, idx_t, atol=0, rtol=0)
    torch.testing.assert_close(MAX[n](X, **kwargs), Y_t, atol=0, rtol=0)


@given(pool_cases())
def test_avg_pool_matches_torch(case: dict) -> None:
    n, kwargs = case["n"], _avg_kwargs(case)
    X = _input(case)
    torch.testing.assert_close(AVG[n](X, **kwargs), TORCH_AVG[n](X, **kwargs), **TIGHT)


@given(pool_cases(max_size=5))
def test_max_pool_gradient_matches_torch(case: dict) -> None:
    # With ties the gradient must reach the same element as torch's (the one the index names).
    assume(not _has_all_padding_window(case))
    n, kwargs = case["n"], _max_kwargs(case)
    X = _input(case).requires_grad_()
    X_t = X.detach().clone().requires_grad_()
    # without return_indices a pool returns a Tensor (convlib's annotation admits the tuple too)
    Y = cast(torch.Tensor, MAX[n](X, **kwargs))
    Y_t = TORCH_MAX[n](X_t, **kwargs)
    G = torch.randn(Y_t.shape, dtype=X.dtype, generator=torch.Generator().manual_seed(1))
    (Y * G).sum().backward()
    (Y_t * G).sum().backward()
    torch.testing.assert_close(X.grad, X_t.grad, **TIGHT)


@given(pool_cases(max_size=5))
def test_avg_pool_gradient_matches_torch(case: dict) -> None:
    n, kwargs = case["n"], _avg_kwargs(case)
    X = _input(case).requires_grad_()
    X_t = X.detach().clone().requires_grad_()
    Y = AVG[n](X, **kwargs)
    Y_t = TORCH_AVG[n](X_t, **kwargs)
    G = torch.randn(Y_t.shape, dtype=X.dtype, generator=torch.Generator().manual_seed(2))
    (Y * G).sum().backward()
    (Y_t * G).sum().backward()
    torch.testing.assert_close(X.grad, X_t.grad, **TIGHT)


# ---------------------------------------------------------------------------------------------
# Loop references against torch (small shapes: they visit every window in Python)
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(pool_cases(max_size=4, dims=(1, 2)))
def test_max_pool_reference_matches_torch(case: dict) -> None:
    n, kwargs = case["n"], _max_kwargs(case)
    X = _input(case)
    Y, idx = MAX_REF[n](X, return_indices=True, **kwargs)
    Y_t, idx_t = TORCH_MAX[n](X, return_indices=True, **kwargs)
    torch.testing.assert_close(Y, Y_t, atol=0, rtol=0)
    torch.testing.assert_close(idx, idx_t, atol=0, rtol=0)


@settings(max_examples=25)
@given(pool_cases(max_size=4, dims=(1, 2)))
def test_avg_pool_reference_matches_torch(case: dict) -> None:
    n, kwargs = case["n"], _avg_kwargs(case)
    X = _input(case)
    torch.testing.assert_close(AVG_REF[n](X, **kwargs), TORCH_AVG[n](X, **kwargs), **TIGHT)


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_references_3d_match_torch(ceil_mode: bool) -> None:
    X = torch.randn(1, 2, 4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    kwargs: dict[str, Any] = {"kernel_size": (2, 3, 2), "stride": (2, 1, 2), "padding": (1, 1, 0)}
    Y, idx = pooling.max_pool3d_reference(X, ceil_mode=ceil_mode, return_indices=True, **kwargs)
    Y_t, idx_t = F.max_pool3d(X, ceil_mode=ceil_mode, return_indices=True, **kwargs)
    torch.testing.assert_close(Y, Y_t, atol=0, rtol=0)
    torch.testing.assert_close(idx, idx_t, atol=0, rtol=0)
    for count_include_pad in (False, True):
        args = {"ceil_mode": ceil_mode, "count_include_pad": count_include_pad, **kwargs}
        torch.testing.assert_close(
            pooling.avg_pool3d_reference(X, **args), F.avg_pool3d(X, **args), **TIGHT
        )


def test_reference_gradient_matches_torch() -> None:
    X = torch.randint(0, 3, (1, 2, 5, 5)).double().requires_grad_()
    X_t = X.detach().clone().requires_grad_()
    kwargs: dict[str, Any] = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    (
        cast(torch.Tensor, pooling.max_pool2d_reference(X, **kwargs)).sum()
        + pooling.avg_pool2d_reference(X, **kwargs).sum()
    ).backward()
    (F.max_pool2d(X_t, **kwargs).sum() + F.avg_pool2d(X_t, **kwargs).sum()).backward()
    torch.testing.assert_close(X.grad, X_t.grad, **TIGHT)


# ---------------------------------------------------------------------------------------------
# Hand-checked cases and torch's corner rules
# ---------------------------------------------------------------------------------------------


def test_max_pool_small_example_by_hand() -> None:
    X = torch.arange(9.0).reshape(1, 1, 3, 3)  # [[0,1,2],[3,4,5],[6,7,8]]
    Y, idx = pooling.max_pool2d(X, 2, stride=1, return_indices=True)
    assert Y.tolist() == [[[[4.0, 5.0], [7.0, 8.0]]]]
    assert idx.tolist() == [[[[4, 5], [7, 8]]]]
    # With padding 1 and stride 2 the corners see one real element each.
    Y_pad = cast(torch.Tensor, pooling.max_pool2d(X, 2, stride=2, padding=1))
    assert Y_pad.tolist() == [[[[0.0, 2.0], [6.0, 8.0]]]]


def test_avg_pool_ceil_mode_counts_only_in_bounds_and_padding() -> None:
    X = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    # Windows [1,2] [3,4] [5 | past the end]: the last one averages one element.
    assert pooling.avg_pool1d(X, 2, stride=2, ceil_mode=True).tolist() == [[[1.5, 3.5, 5.0]]]
    # padding 1: windows [pad,1,2] [2,3,4] [4,5,pad]: padding counts, the overhang would not.
    Y = pooling.avg_pool1d(X, 3, stride=2, padding=1, ceil_mode=True)
    torch.testing.assert_close(Y, torch.tensor([[[1.0, 3.0, 3.0]]]), **FLOAT32)
    Y = pooling.avg_pool1d(X, 3, stride=2, padding=1, count_include_pad=False)
    torch.testing.assert_close(Y, torch.tensor([[[1.5, 3.0, 4.5]]]), **FLOAT32)


def test_avg_pool_ceil_mode_overhang_past_padding() -> None:
    # size 6, kernel 3, stride 2, padding 1, ceil_mode: 4 windows; the last starts at position 5
    # and covers x[5] = 6, one padding zero and one position past the padding. torch counts the
    # input and padding part only: 6 / 2 (and 6 / 1 without the padding), not 6 / 3.
    X = torch.arange(1.0, 7.0, dtype=torch.float64).reshape(1, 1, 6)
    kwargs: dict[str, Any] = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    for count_include_pad, expected in ((True, 3.0), (False, 6.0)):
        Y = pooling.avg_pool1d(X, count_include_pad=count_include_pad, **kwargs)
        assert Y.shape == (1, 1, 4)
        assert Y[0, 0, -1].item() == expected
        Y_t = F.avg_pool1d(X, count_include_pad=count_include_pad, **kwargs)
        torch.testing.assert_close(Y, Y_t, **TIGHT)


def test_max_pool_window_of_minus_inf_points_like_torch() -> None:
    X = torch.full((1, 1, 3, 3), float("-inf"))
    for ceil_mode in (False, True):
        Y, idx = pooling.max_pool2d(
            X, 2, stride=2, padding=1, ceil_mode=ceil_mode, return_indices=True
        )
        Y_t, idx_t = F.max_pool2d(
            X, 2, stride=2, padding=1, ceil_mode=ceil_mode, return_indices=True
        )
        torch.testing.assert_close(Y, Y_t, atol=0, rtol=0)
        assert idx.tolist() == idx_t.tolist() == [[[[0, 1], [3, 4]]]]


def test_max_pool_all_padding_window_index_like_torch() -> None:
    # Kernel 2, dilation 4, padding 1 on 3x3: the window reads rows -1 and 3, both outside.
    X = torch.ones(1, 1, 3, 3)
    kwargs: dict[str, Any] = {"kernel_size": 2, "stride": 1, "padding": 1, "dilation": 4}
    for op in (pooling.max_pool2d, pooling.max_pool2d_reference):
        Y, idx = op(X, return_indices=True, **kwargs)
        Y_t, idx_t = F.max_pool2d(X, return_indices=True, **kwargs)
        torch.testing.assert_close(Y, Y_t, atol=0, rtol=0)
        torch.testing.assert_close(idx, idx_t, atol=0, rtol=0)


def test_max_pool_nan_propagates_with_torch_index() -> None:
    nan = float("nan")
    X = torch.tensor([[[[nan, 1.0, 5.0], [nan, 2.0, nan]]]])
    for op in (pooling.max_pool2d, pooling.max_pool2d_reference):
        Y, idx = op(X, (2, 2), stride=1, return_indices=True)
        Y_t, idx_t = F.max_pool2d(X, (2, 2), stride=1, return_indices=True)
        torch.testing.assert_close(Y, Y_t, atol=0, rtol=0, equal_nan=True)
        torch.testing.assert_close(idx, idx_t, atol=0, rtol=0)


def test_empty_batch() -> None:
    X = torch.randn(0, 2, 5, 5)
    assert cast(torch.Tensor, pooling.max_pool2d(X, 2)).shape == F.max_pool2d(X, 2).shape
    assert pooling.avg_pool2d(X, 2).shape == F.avg_pool2d(X, 2).shape


def test_float32_and_device(device: str) -> None:
    X = torch.randn(2, 3, 9, 10, generator=torch.Generator().manual_seed(4)).to(device)
    kwargs: dict[str, Any] = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    Y, idx = pooling.max_pool2d(X, dilation=2, return_indices=True, **kwargs)
    Y_t, idx_t = F.max_pool2d(X, dilation=2, return_indices=True, **kwargs)
    assert Y.device == X.device and idx.device == X.device
    torch.testing.assert_close(Y, Y_t, atol=0, rtol=0)
    torch.testing.assert_close(idx, idx_t, atol=0, rtol=0)
    for op, op_t in ((pooling.avg_pool2d, F.avg_pool2d), (pooling.max_pool2d, F.max_pool2d)):
        X1 = X.clone().requires_grad_()
        X2 = X.clone().requires_grad_()
        cast(torch.Tensor, op(X1, **kwargs)).square().sum().backward()
        op_t(X2, **kwargs).square().sum().backward()
        torch.testing.assert_close(X1.grad, X2.grad, **FLOAT32)
    V = torch.randn(2, 2, 4, 5, 6, generator=torch.Generator().manual_seed(5)).to(device)
    torch.testing.assert_close(
        pooling.avg_pool3d(V, 2, ceil_mode=True), F.avg_pool3d(V, 2, ceil_mode=True), **FLOAT32
    )
    torch.testing.assert_close(
        pooling.max_pool1d(V[0, 0], 3), F.max_pool1d(V[0, 0], 3), atol=0, rtol=0
    )


# ---------------------------------------------------------------------------------------------
# Bad input: a convlib ValueError/TypeError naming the argument, before any computation
# ---------------------------------------------------------------------------------------------

X4 = torch.randn(1, 2, 6, 6)

# cast(Any, ...) marks an argument of a deliberately wrong type: the call must reject it.
BAD_CALLS = [
    (
        "list input",
        lambda: pooling.max_pool2d(cast(Any, [[1.0]]), 2),
        TypeError,
        "input must be a torch.Tensor",
    ),
    ("2D input to 2d pool", lambda: pooling.max_pool2d(X4[0, 0], 2), ValueError, "3D or 4D"),
    ("5D input to 2d pool", lambda: pooling.avg_pool2d(X4[None], 2), ValueError, "(N, C, H, W)"),
    ("4D input to 1d pool", lambda: pooling.max_pool1d(X4, 2), ValueError, "(N, C, L)"),
    ("integer dtype", lambda: pooling.max_pool2d(X4.long(), 2), TypeError, "input.float()"),
    ("empty channels", lambda: pooling.max_pool2d(X4[:, :0], 2), ValueError, "non-empty"),
    ("kernel 0", lambda: pooling.max_pool2d(X4, 0), ValueError, "kernel_size must be positive"),
    ("kernel float", lambda: pooling.avg_pool2d(X4, cast(Any, 2.0)), TypeError, "kernel_size"),
    ("kernel 3 entries", lambda: pooling.max_pool2d(X4, (2, 2, 2)), ValueError, "kernel_size"),
    (
        "stride 0",
        lambda: pooling.avg_pool1d(X4[0], 2, stride=0),
        ValueError,
        "stride must be positive",
    ),
    (
        "padding -1",
        lambda: pooling.max_pool2d(X4, 2, padding=-1),
        ValueError,
        "padding must be non-negative",
    ),
    (
        "padding > k/2",
        lambda: pooling.max_pool2d(X4, 3, padding=2),
        ValueError,
        "at most half of kernel_size",
    ),
    (
        "avg padding > k/2",
        lambda: pooling.avg_pool3d(X4, 2, padding=(0, 1, 2)),
        ValueError,
        "padding=(0, 1, 2)",
    ),
    (
        "dilation 0",
        lambda: pooling.max_pool3d(X4, 2, dilation=0),
        ValueError,
        "dilation must be positive",
    ),
    ("window too big", lambda: pooling.max_pool2d(X4, 7), ValueError, "kernel_size too large"),
    (
        "dilated too big",
        lambda: pooling.max_pool1d(X4[0], 2, dilation=6),
        ValueError,
        "kernel_size too large",
    ),
    (
        "ceil_mode str",
        lambda: pooling.max_pool2d(X4, 2, ceil_mode=cast(Any, "yes")),
        TypeError,
        "ceil_mode",
    ),
    (
        "return_indices int",
        lambda: pooling.max_pool2d(X4, 2, return_indices=cast(Any, 1)),
        TypeError,
        "return_indices",
    ),
    (
        "count_include_pad None",
        lambda: pooling.avg_pool2d(X4, 2, count_include_pad=cast(Any, None)),
        TypeError,
        "count_include_pad",
    ),
    (
        "divisor 0",
        lambda: pooling.avg_pool2d(X4, 2, divisor_override=0),
        ValueError,
        "divisor_override must not be 0",
    ),
    (
        "divisor float",
        lambda: pooling.avg_pool3d(X4, 2, divisor_override=cast(Any, 2.0)),
        TypeError,
        "divisor_override",
    ),
    (
        "ref padding",
        lambda: pooling.max_pool2d_reference(X4, 2, padding=2),
        ValueError,
        "at most half",
    ),
    (
        "ref divisor",
        lambda: pooling.avg_pool2d_reference(X4, 2, divisor_override=0),
        ValueError,
        "divisor_override",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_raises_named_error(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
    assert (
        Path(info.traceback[-1].path).parent.name == "convlib"
    )  # raised by convlib, not deeper in torch


@given(pool_cases(max_size=4), st.integers(0, 3), st.integers(1, 4))
def test_valid_exactly_when_torch_accepts(case: dict, padding: int, last_size: int) -> None:
    # Paddings up to 3 and sizes down to 1: often more than half the kernel, or a window that
    # does not fit. convlib raises ValueError exactly when torch refuses.
    n = case["n"]
    X = torch.zeros(case["shape"][:-1] + (last_size,), dtype=torch.float64)
    for ours, theirs, kwargs in (
        (MAX[n], TORCH_MAX[n], _max_kwargs(case)),
        (AVG[n], TORCH_AVG[n], _avg_kwargs(case)),
    ):
        kwargs["padding"] = padding
        try:
            theirs(X, **kwargs)
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        if torch_ok:
            ours(X, **kwargs)
        else:
            with pytest.raises(ValueError):
                ours(X, **kwargs)
