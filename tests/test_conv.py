"""conv1d/2d/3d, fast path and loop reference, against torch.nn.functional (trusted)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import convlib
from convlib import reference

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")

FAST = {1: convlib.conv1d, 2: convlib.conv2d, 3: convlib.conv3d}
LOOP = {1: reference.conv1d, 2: reference.conv2d, 3: reference.conv3d}
TORCH = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TIGHT: dict[str, Any] = {"atol": 1e-10, "rtol": 1e-10}  # float64
LOOSE: dict[str, Any] = {"atol": 1e-4, "rtol": 1e-4}  # float32: different summation orders
# the default dispatch (convlib.algorithms picks one) and convlib.conv's own windows + einsum path
ALGORITHMS = ["auto", "windows"]
WINDOWS2D = functools.partial(convlib.conv2d, algorithm="windows")


def per_dim(draw: st.DrawFn, values: list[int]) -> int | tuple[int, ...]:
    """Pass an argument as an int when every dim agrees and the draw says so, else as a tuple."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return tuple(values)


@st.composite
def conv_cases(draw: st.DrawFn, dims: int | None = None, small: bool = False) -> dict[str, Any]:
    """A valid conv call: shapes, every argument form (int/tuple, 'same'/'valid', groups, bias)."""
    if dims is None:
        dims = draw(st.sampled_from([1, 2, 3]))
    big = 1 if small else 2
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, big))
    out_channels = groups * draw(st.integers(1, 2))
    max_k = 2 if (small and dims == 3) else 3
    kernel = [draw(st.integers(1, max_k)) for _ in range(dims)]
    dilation = [draw(st.integers(1, 2)) for _ in range(dims)]
    form = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    if form == "same":
        stride = [1] * dims
        padding: Any = "same"
        pads = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]  # total, both sides
    else:
        stride = [draw(st.integers(1, 3)) for _ in range(dims)]
        pad_values = (
            [0] * dims if form == "valid" else [draw(st.integers(0, 2)) for _ in range(dims)]
        )
        padding = "valid" if form == "valid" else per_dim(draw, pad_values)
        if form == "tuple":
            padding = tuple(pad_values)
        pads = [2 * p for p in pad_values]
    extra = 1 if (small and dims == 3) else 3
    size = [
        max(1, d * (k - 1) + 1 - p) + draw(st.integers(0, extra))
        for k, d, p in zip(kernel, dilation, pads, strict=True)
    ]
    batch = draw(st.sampled_from([None, 1, 2]))  # None: unbatched input
    return {
        "dims": dims,
        "input_shape": ((batch,) if batch else ()) + (in_channels, *size),
        "weight_shape": (out_channels, in_channels // groups, *kernel),
        "bias": draw(st.booleans()),
        "kwargs": {
            "stride": per_dim(draw, stride),
            "padding": padding,
            "dilation": per_dim(draw, dilation),
            "groups": groups,
        },
        "seed": draw(st.integers(0, 2**16)),
    }


def make_tensors(
    case: dict[str, Any], dtype: torch.dtype = torch.float64, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    gen = torch.Generator().manual_seed(case["seed"])
    X = torch.randn(case["input_shape"], generator=gen, dtype=dtype).to(device)
    K = torch.randn(case["weight_shape"], generator=gen, dtype=dtype).to(device)
    b = (
        torch.randn(case["weight_shape"][0], generator=gen, dtype=dtype).to(device)
        if case["bias"]
        else None
    )
    return X, K, b


# --- hand-checked ------------------------------------------------------------------------------


@pytest.mark.parametrize("conv2d", [convlib.conv2d, reference.conv2d])
def test_corr2d_hand_checked(conv2d: Any) -> None:
    # 0*0 + 1*1 + 3*2 + 4*3 = 19, and so on (the d2l worked example).
    X = torch.arange(9.0).reshape(1, 1, 3, 3)
    K = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    expected = torch.tensor([[[[19.0, 25.0], [37.0, 43.0]]]])
    torch.testing.assert_close(conv2d(X, K), expected, atol=0, rtol=0)


@pytest.mark.parametrize("conv1d", [convlib.conv1d, reference.conv1d])
def test_conv1d_hand_checked(conv1d: Any) -> None:
    # moving difference x[i+1] - x[i], stride 2, bias 10
    X = torch.tensor([[1.0, 4.0, 9.0, 16.0, 25.0]])
    K = torch.tensor([[[-1.0, 1.0]]])
    Y = conv1d(X, K, torch.tensor([10.0]), stride=2)
    torch.testing.assert_close(Y, torch.tensor([[13.0, 17.0]]), atol=0, rtol=0)


def test_source_output_sizes() -> None:
    # 80x80, k3 s2 p1 -> 40x40; 7x7 k5 s2 p2 with 64 groups -> 4x4 (worked examples of the source)
    X = torch.zeros(1, 3, 80, 80)
    assert convlib.conv2d(X, torch.zeros(8, 3, 3, 3), stride=2, padding=1).shape == (1, 8, 40, 40)
    X = torch.zeros(1, 64, 7, 7)
    assert convlib.conv2d(X, torch.zeros(64, 1, 5, 5), stride=2, padding=2, groups=64).shape == (
        1,
        64,
        4,
        4,
    )


# --- property tests against torch --------------------------------------------------------------


@given(conv_cases())
def test_fast_matches_torch_float64(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case)
    dims = case["dims"]
    expected = TORCH[dims](X, K, b, **case["kwargs"])
    for algorithm in ALGORITHMS:
        actual = FAST[dims](X, K, b, **case["kwargs"], algorithm=algorithm)
        assert actual.shape == expected.shape
        torch.testing.assert_close(actual, expected, **TIGHT)


@settings(max_examples=25)
@given(conv_cases(small=True))
def test_reference_matches_torch_float64(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case)
    dims = case["dims"]
    expected = TORCH[dims](X, K, b, **case["kwargs"])
    torch.testing.assert_close(LOOP[dims](X, K, b, **case["kwargs"]), expected, **TIGHT)


@settings(max_examples=20)
@given(conv_cases())
def test_fast_matches_torch_float32(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case, torch.float32)
    dims = case["dims"]
    expected = TORCH[dims](X, K, b, **case["kwargs"])
    for algorithm in ALGORITHMS:
        actual = FAST[dims](X, K, b, **case["kwargs"], algorithm=algorithm)
        torch.testing.assert_close(actual, expected, **LOOSE)


@settings(max_examples=25)
@given(conv_cases())
def test_fast_gradients_match_torch(case: dict[str, Any]) -> None:
    X, K, b = make_tensors(case)
    dims = case["dims"]
    leaves = [t.requires_grad_() for t in (X, K, b) if t is not None]
    expected = TORCH[dims](X, K, b, **case["kwargs"])
    upstream = torch.randn(
        expected.shape, generator=torch.Generator().manual_seed(1), dtype=X.dtype
    )
    theirs = torch.autograd.grad(expected, leaves, upstream)
    for algorithm in ALGORITHMS:
        Y = FAST[dims](X, K, b, **case["kwargs"], algorithm=algorithm)
        ours = torch.autograd.grad(Y, leaves, upstream)
        for g_ours, g_torch in zip(ours, theirs, strict=True):
            torch.testing.assert_close(g_ours, g_torch, **TIGHT)


# --- specific forms ----------------------------------------------------------------------------


@pytest.mark.parametrize("kernel", [2, 4, (2, 3), (4, 1)])
@pytest.mark.parametrize("dilation", [1, 2, (1, 3)])
def test_same_padding_even_kernels_match_torch(kernel: Any, dilation: Any) -> None:
    # Even effective kernels need asymmetric padding; torch puts the extra zero on the right.
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    X = torch.randn(2, 3, 7, 8, dtype=torch.float64)
    K = torch.randn(4, 3, kh, kw, dtype=torch.float64)
    expected = F.conv2d(X, K, padding="same", dilation=dilation)
    assert expected.shape[-2:] == X.shape[-2:]
    for conv2d in (convlib.conv2d, WINDOWS2D, reference.conv2d):
        torch.testing.assert_close(
            conv2d(X, K, padding="same", dilation=dilation), expected, **TIGHT
        )


def test_non_contiguous_inputs() -> None:
    X = torch.randn(2, 3, 6, 5, dtype=torch.float64).transpose(2, 3)  # (2, 3, 5, 6), strided
    K = torch.randn(3, 4, 3, 3, dtype=torch.float64).transpose(0, 1)  # (4, 3, 3, 3), strided
    for conv2d in (convlib.conv2d, WINDOWS2D):
        torch.testing.assert_close(conv2d(X, K, padding=1), F.conv2d(X, K, padding=1), **TIGHT)
        X_last = X.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(conv2d(X_last, K, stride=2), F.conv2d(X, K, stride=2), **TIGHT)


def test_empty_batch() -> None:
    X = torch.zeros(0, 2, 5, 5)
    assert (
        convlib.conv2d(X, torch.zeros(3, 2, 3, 3)).shape
        == F.conv2d(X, torch.zeros(3, 2, 3, 3)).shape
    )


def test_complex_dtype() -> None:
    X = torch.randn(2, 2, 5, 4, dtype=torch.complex128)
    K = torch.randn(3, 2, 3, 2, dtype=torch.complex128)
    expected = F.conv2d(X, K, padding=1)
    for conv2d in (convlib.conv2d, WINDOWS2D, reference.conv2d):
        torch.testing.assert_close(conv2d(X, K, padding=1), expected, **TIGHT)


def test_output_size_comes_from_shapes() -> None:
    # The op and the published formula agree (one source of truth).
    X = torch.zeros(1, 1, 11, 9)
    K = torch.zeros(1, 1, 3, 2)
    Y = convlib.conv2d(X, K, stride=(2, 3), padding=(1, 2), dilation=(2, 1))
    assert tuple(Y.shape[-2:]) == convlib.conv_output_size((11, 9), (3, 2), (2, 3), (1, 2), (2, 1))


DEVICE_CASES = [
    (1, {"stride": 2, "padding": 1}),
    (2, {"padding": "same", "dilation": 2, "groups": 2}),
    (2, {"stride": (2, 1), "padding": (0, 1), "groups": 4}),
    (3, {"stride": 1, "padding": "valid", "dilation": (1, 2, 1)}),
]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize(("dims", "kwargs"), DEVICE_CASES)
def test_fast_on_device(device: str, dims: int, kwargs: dict[str, Any], algorithm: str) -> None:
    groups = kwargs.get("groups", 1)
    gen = torch.Generator().manual_seed(dims)
    X = torch.randn((2, 4) + (6,) * dims, generator=gen, dtype=torch.float64).to(device)
    K = torch.randn((8, 4 // groups) + (3,) * dims, generator=gen, dtype=torch.float64).to(device)
    b = torch.randn(8, generator=gen, dtype=torch.float64).to(device)
    X.requires_grad_()
    K.requires_grad_()
    b.requires_grad_()
    Y = FAST[dims](X, K, b, **kwargs, algorithm=algorithm)
    expected = TORCH[dims](X, K, b, **kwargs)
    assert Y.device == X.device
    torch.testing.assert_close(Y, expected, **TIGHT)
    grads = torch.autograd.grad(Y.square().sum(), (X, K, b))
    expected_grads = torch.autograd.grad(expected.square().sum(), (X, K, b))
    for ours, theirs in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(ours, theirs, **TIGHT)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept(dtype: torch.dtype) -> None:
    Y = convlib.conv2d(torch.randn(1, 2, 4, 4, dtype=dtype), torch.randn(3, 2, 2, 2, dtype=dtype))
    assert Y.dtype == dtype


def test_gradcheck_fast_path() -> None:
    # Finite differences, independent of torch's conv, on a small grouped, strided, dilated case.
    X = torch.randn(2, 4, 6, 5, dtype=torch.float64, requires_grad=True)
    K = torch.randn(6, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, k, bb: convlib.conv2d(
            x, k, bb, stride=(2, 1), padding=1, dilation=(1, 2), groups=2
        ),
        (X, K, b),
    )
