"""conv_transpose1d/2d/3d, fast path and loop reference, against torch.nn.functional."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import convlib
from convlib import reference

FAST = {1: convlib.conv_transpose1d, 2: convlib.conv_transpose2d, 3: convlib.conv_transpose3d}
LOOP = {1: reference.conv_transpose1d, 2: reference.conv_transpose2d, 3: reference.conv_transpose3d}
TORCH = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
CONV = {1: convlib.conv1d, 2: convlib.conv2d, 3: convlib.conv3d}
TIGHT: dict[str, Any] = {"atol": 1e-10, "rtol": 1e-10}  # float64
LOOSE: dict[str, Any] = {"atol": 1e-4, "rtol": 1e-4}  # float32


def per_dim(draw: st.DrawFn, values: list[int]) -> int | tuple[int, ...]:
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return tuple(values)


@st.composite
def transpose_cases(
    draw: st.DrawFn, dims: int | None = None, small: bool = False
) -> dict[str, Any]:
    """A valid conv_transpose call with every argument form."""
    if dims is None:
        dims = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 2))
    out_per_group = draw(st.integers(1, 2))
    max_k = 2 if (small and dims == 3) else 3
    kernel = [draw(st.integers(1, max_k)) for _ in range(dims)]
    stride = [draw(st.integers(1, 3)) for _ in range(dims)]
    dilation = [draw(st.integers(1, 2)) for _ in range(dims)]
    # output_padding must be smaller than stride or dilation
    output_padding = [
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    ]
    max_size = 2 if (small and dims == 3) else 4
    size = [draw(st.integers(1, max_size)) for _ in range(dims)]
    padding = []
    for i, k, s, d, op in zip(size, kernel, stride, dilation, output_padding, strict=True):
        room = (i - 1) * s + d * (k - 1) + op  # output is room - 2p + 1 >= 1
        padding.append(draw(st.integers(0, min(2, room // 2))))
    batch = draw(st.sampled_from([None, 1, 2]))
    return {
        "dims": dims,
        "input_shape": ((batch,) if batch else ()) + (in_channels, *size),
        "weight_shape": (in_channels, out_per_group, *kernel),
        "bias": draw(st.booleans()),
        "kwargs": {
            "stride": per_dim(draw, stride),
            "padding": per_dim(draw, padding),
            "output_padding": per_dim(draw, output_padding),
            "groups": groups,
            "dilation": per_dim(draw, dilation),
        },
        "seed": draw(st.integers(0, 2**16)),
    }


def make_tensors(
    case: dict[str, Any], dtype: torch.dtype = torch.float64, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    gen = torch.Generator().manual_seed(case["seed"])
    X = torch.randn(case["input_shape"], generator=gen, dtype=dtype).to(device)
    K = torch.randn(case["weight_shape"], generator=gen, dtype=dtype).to(device)
    out_channels = case["weight_shape"][1] * case["kwargs"]["groups"]
    b = torch.randn(out_channels, generator=gen, dtype=dtype).to(device) if case["bias"] else None
    return X, K, b


@pytest.mark.parametrize("conv_transpose2d", [convlib.conv_transpose2d, reference.conv_transpose2d])
def test_hand_checked_scatter(conv_transpose2d: Any) -> None:
    # Each input pixel stamps a copy of the kernel scaled by its value; stamps overlap and add.
    X = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    K = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    expected = torch.tensor([[[[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]]]])
    torch.testing.assert_close(conv_transpose2d(X, K), expected, atol=0, rtol=0)


def test_source_example_shapes() -> None:
    # 4x4 input, 3x3 kernel -> 2x2; the transpose maps 2x2 back to 4x4 (sizes only: not an inverse).
    X = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    K = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    Y = convlib.conv2d(X, K)
    assert Y.shape == (1, 1, 2, 2)
    assert convlib.conv_transpose2d(Y, K).shape == (1, 1, 4, 4)
    # 5x5 -> 2x2 with stride 2, then back to 5x5
    X = torch.randn(1, 1, 5, 5, dtype=torch.float64)
    Y = convlib.conv2d(X, K, stride=2)
    assert Y.shape == (1, 1, 2, 2)
    assert convlib.conv_transpose2d(Y, K, stride=2).shape == (1, 1, 5, 5)


def test_is_the_matrix_transpose_of_conv() -> None:
    # Write conv2d as a 4x16 matrix C (one column per input pixel); conv_transpose2d must be C^T.
    K = torch.randn(1, 1, 3, 3, dtype=torch.float64)
    basis = torch.eye(16, dtype=torch.float64).reshape(16, 1, 4, 4)
    C = convlib.conv2d(basis, K).reshape(16, 4).T  # (4 outputs, 16 inputs)
    Y = torch.randn(1, 1, 2, 2, dtype=torch.float64)
    expected = (C.T @ Y.reshape(4)).reshape(1, 1, 4, 4)
    torch.testing.assert_close(convlib.conv_transpose2d(Y, K), expected, **TIGHT)
    torch.testing.assert_close(reference.conv_transpose2d(Y, K), expected, **TIGHT)


@settings(max_examples=25)
@given(transpose_cases())
def test_adjoint_of_conv(case: dict[str, Any]) -> None:
    # <conv(X), Y> == <X, conv_transpose(Y)> for matching arguments (output_padding picks the size).
    kw = dict(case["kwargs"])
    output_padding = convlib.shapes.ntuple(kw.pop("output_padding"), case["dims"], "output_padding")
    stride = convlib.shapes.ntuple(kw["stride"], case["dims"], "stride")
    # output_padding >= stride (allowed when < dilation) adds a row the conv would read as a window
    assume(all(op < s for op, s in zip(output_padding, stride, strict=True)))
    dims = case["dims"]
    Y, K, _ = make_tensors(case)
    Z = FAST[dims](Y, K, None, **case["kwargs"])  # conv_transpose output: the conv's input shape
    X = torch.randn(Z.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    lhs = (CONV[dims](X, K, None, **kw) * Y).sum()
    rhs = (X * Z).sum()
    torch.testing.assert_close(lhs, rhs, **TIGHT)


@given(transpose_cases())
def test_fast_matches_torch_float64(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case)
    dims = case["dims"]
    expected = TORCH[dims](X, K, b, **case["kwargs"])
    actual = FAST[dims](X, K, b, **case["kwargs"])
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual, expected, **TIGHT)


@settings(max_examples=25)
@given(transpose_cases(small=True))
def test_reference_matches_torch_float64(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case)
    dims = case["dims"]
    expected = TORCH[dims](X, K, b, **case["kwargs"])
    torch.testing.assert_close(LOOP[dims](X, K, b, **case["kwargs"]), expected, **TIGHT)


@settings(max_examples=20)
@given(transpose_cases())
def test_fast_matches_torch_float32(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case, torch.float32)
    dims = case["dims"]
    expected = TORCH[dims](X, K, b, **case["kwargs"])
    torch.testing.assert_close(FAST[dims](X, K, b, **case["kwargs"]), expected, **LOOSE)


@settings(max_examples=25)
@given(transpose_cases())
def test_fast_gradients_match_torch(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case)
    dims = case["dims"]
    leaves = [t.requires_grad_() for t in (X, K, b) if t is not None]
    Y = FAST[dims](X, K, b, **case["kwargs"])
    upstream = torch.randn(Y.shape, generator=torch.Generator().manual_seed(1), dtype=Y.dtype)
    ours = torch.autograd.grad(Y, leaves, upstream)
    theirs = torch.autograd.grad(TORCH[dims](X, K, b, **case["kwargs"]), leaves, upstream)
    for g_ours, g_torch in zip(ours, theirs, strict=True):
        torch.testing.assert_close(g_ours, g_torch, **TIGHT)


DEVICE_CASES = [
    (1, {"stride": 2, "padding": 1, "output_padding": 1}),
    (2, {"stride": 2, "padding": 1, "groups": 2}),
    (
        2,
        {"stride": (3, 1), "padding": (1, 0), "dilation": 2, "output_padding": (2, 1), "groups": 4},
    ),
    (3, {"stride": 2, "dilation": (1, 2, 1)}),
]


@pytest.mark.parametrize(("dims", "kwargs"), DEVICE_CASES)
def test_fast_on_device(device: str, dims: int, kwargs: dict[str, Any]) -> None:
    groups = kwargs.get("groups", 1)
    gen = torch.Generator().manual_seed(dims)
    X = torch.randn((2, 4) + (4,) * dims, generator=gen, dtype=torch.float64).to(device)
    K = torch.randn((4, 3 if groups == 2 else 2) + (3,) * dims, generator=gen, dtype=torch.float64)
    K = K.to(device)
    out_channels = K.shape[1] * groups
    b = torch.randn(out_channels, generator=gen, dtype=torch.float64).to(device)
    for t in (X, K, b):
        t.requires_grad_()
    Y = FAST[dims](X, K, b, **kwargs)
    expected = TORCH[dims](X, K, b, **kwargs)
    assert Y.device == X.device
    torch.testing.assert_close(Y, expected, **TIGHT)
    grads = torch.autograd.grad(Y.square().sum(), (X, K, b))
    expected_grads = torch.autograd.grad(expected.square().sum(), (X, K, b))
    for ours, theirs in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(ours, theirs, **TIGHT)


def test_empty_batch() -> None:
    X = torch.zeros(0, 2, 3, 3)
    K = torch.zeros(2, 3, 2, 2)
    assert (
        convlib.conv_transpose2d(X, K, stride=2).shape == F.conv_transpose2d(X, K, stride=2).shape
    )


def test_complex_dtype() -> None:
    X = torch.randn(2, 2, 4, 3, dtype=torch.complex128)
    K = torch.randn(2, 3, 3, 2, dtype=torch.complex128)
    expected = F.conv_transpose2d(X, K, stride=2, padding=1)
    torch.testing.assert_close(
        convlib.conv_transpose2d(X, K, stride=2, padding=1), expected, **TIGHT
    )


def test_gradcheck_fast_path() -> None:
    X = torch.randn(1, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    K = torch.randn(4, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, k, bb: convlib.conv_transpose2d(
            x, k, bb, stride=(2, 3), padding=1, output_padding=(1, 0), groups=2, dilation=(1, 2)
        ),
        (X, K, b),
    )
