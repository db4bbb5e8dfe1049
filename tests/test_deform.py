"""Deformable convolution (chapter on deformable convolution) against independent formulations.

torchvision is not available, so the expected values come from torch itself in three ways:
zero offsets give ``F.conv2d``; integer offsets give ``F.conv2d`` of a shifted input; fractional
offsets give one ``F.grid_sample`` (bilinear, zeros, align_corners=True) per tap followed by a
matmul, written below without any convlib code. Values and gradients in float64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convlib.deform import bilinear_sample, deform_conv2d, deform_conv2d_reference

TIGHT: dict[str, Any] = {"atol": 1e-10, "rtol": 1e-10}  # float64
FLOAT32: dict[str, Any] = {"atol": 1e-4, "rtol": 1e-4}


def grid_sample_deform_conv2d(
    X: torch.Tensor,
    offset: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Deformable convolution by grid_sample: one bilinear read per tap, then a grouped matmul.

    Needs H, W >= 2 (align_corners=True maps pixel p to -1 + 2p / (size - 1)).
    """
    N, C_in, H, W = X.shape
    C_out, C_per_group, kh, kw = K.shape
    groups = C_in // C_per_group
    offset_groups = offset.shape[1] // (2 * kh * kw)
    H_out, W_out = offset.shape[2:]
    rows = torch.arange(H_out, dtype=X.dtype, device=X.device)[:, None] * stride[0] - padding[0]
    cols = torch.arange(W_out, dtype=X.dtype, device=X.device)[None, :] * stride[1] - padding[1]
    per_group = C_in // offset_groups
    blocks = []
    for g in range(offset_groups):
        X_g = X[:, g * per_group : (g + 1) * per_group]
        taps = []
        for i in range(kh):
            for j in range(kw):
                t = g * kh * kw + i * kw + j
                py = rows + i * dilation[0] + offset[:, 2 * t]  # (N, H_out, W_out)
                px = cols + j * dilation[1] + offset[:, 2 * t + 1]
                grid = torch.stack([2 * px / (W - 1) - 1, 2 * py / (H - 1) - 1], dim=-1)
                sample = F.grid_sample(
                    X_g, grid, mode="bilinear", padding_mode="zeros", align_corners=True
                )
                if mask is not None:
                    sample = sample * mask[:, t : t + 1]
                taps.append(sample)
        blocks.append(torch.stack(taps, dim=2))  # (N, per_group, kh*kw, H_out, W_out)
    columns = torch.cat(blocks, dim=1).reshape(N, C_in * kh * kw, H_out * W_out)
    out_per_group = C_out // groups
    outputs = []
    for g in range(groups):
        W_g = K[g * out_per_group : (g + 1) * out_per_group].reshape(out_per_group, -1)
        cols_g = columns[:, g * C_per_group * kh * kw : (g + 1) * C_per_group * kh * kw]
        outputs.append(W_g @ cols_g)
    Y = torch.cat(outputs, dim=1).reshape(N, C_out, H_out, W_out)
    return Y if bias is None else Y + bias[None, :, None, None]


def _pair_form(values: tuple[int, int], how: int) -> Any:
    if how == 0 and values[0] == values[1]:
        return values[0]
    return list(values) if how == 1 else values


@st.composite
def deform_cases(draw: st.DrawFn, max_size: int = 6, max_channels: int = 2) -> dict:
    groups = draw(st.integers(1, 2))
    offset_groups = draw(st.integers(1, 2))
    C_in = groups * offset_groups * draw(st.integers(1, max_channels))
    C_out = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = [
        draw(
            st.integers(max(2, d * (k - 1) + 1 - 2 * p), max(2, d * (k - 1) + 1 - 2 * p, max_size))
        )
        for k, p, d in zip((kh, kw), padding, dilation, strict=True)
    ]
    how = draw(st.integers(0, 2))
    return {
        "shape": (draw(st.integers(1, 2)), C_in, *size),
        "weight": (C_out, C_in // groups, kh, kw),
        "offset_groups": offset_groups,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "forms": {
            "stride": _pair_form(stride, how),
            "padding": _pair_form(padding, how),
            "dilation": _pair_form(dilation, how),
        },
        "bias": draw(st.booleans()),
        "mask": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def _tensors(
    case: dict, offset_scale: float = 1.5, device: str = "cpu", dtype: Any = torch.float64
) -> dict:
    """Random input, weight, bias, offset (some points land outside the input) and mask."""
    gen = torch.Generator().manual_seed(case["seed"])
    N, C_in, H, W = case["shape"]
    C_out, _, kh, kw = case["weight"]
    H_out, W_out = (
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, k, s, p, d in zip(
            (H, W), (kh, kw), case["stride"], case["padding"], case["dilation"], strict=True
        )
    )
    G = case["offset_groups"]

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype).to(device)

    return {
        "X": rand(N, C_in, H, W),
        "K": rand(*case["weight"]),
        "bias": rand(C_out) if case["bias"] else None,
        "offset": rand(N, 2 * G * kh * kw, H_out, W_out) * offset_scale,
        "mask": torch.rand(N, G * kh * kw, H_out, W_out, generator=gen, dtype=dtype).to(device)
        if case["mask"]
        else None,
    }


def _call(op: Any, case: dict, t: dict, **override: Any) -> torch.Tensor:
    args = {**t, **override}
    return op(
        args["X"], args["offset"], args["K"], args["bias"], mask=args["mask"], **case["forms"]
    )


def _expected(case: dict, t: dict) -> torch.Tensor:
    return grid_sample_deform_conv2d(
        t["X"],
        t["offset"],
        t["K"],
        t["bias"],
        case["stride"],
        case["padding"],
        case["dilation"],
        t["mask"],
    )


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


@given(deform_cases())
def test_zero_offsets_equal_conv2d(case: dict) -> None:
    t = _tensors(case)
    zeros = torch.zeros_like(t["offset"])
    groups = case["shape"][1] // case["weight"][1]
    expected = F.conv2d(
        t["X"], t["K"], t["bias"], case["stride"], case["padding"], case["dilation"], groups
    )
    torch.testing.assert_close(
        _call(deform_conv2d, case, t, offset=zeros, mask=None), expected, **TIGHT
    )
    ones = torch.ones(zeros.shape[0], zeros.shape[1] // 2, *zeros.shape[2:], dtype=zeros.dtype)
    torch.testing.assert_close(
        _call(deform_conv2d, case, t, offset=zeros, mask=ones), expected, **TIGHT
    )


@given(
    deform_cases(),
    st.lists(st.tuples(st.integers(-2, 2), st.integers(-2, 2)), min_size=2, max_size=2),
)
def test_integer_offsets_equal_shifted_conv2d(case: dict, shifts: list[tuple[int, int]]) -> None:
    # Offset group g moves every tap by the whole pixels shifts[g] = (dy, dx): the same as
    # convolving an input whose group-g channels are read (dy, dx) further on, zero outside.
    t = _tensors(case)
    X = t["X"]
    N, C_in, H, W = X.shape
    G = case["offset_groups"]
    offset = torch.zeros_like(t["offset"]).reshape(N, G, -1, 2, *t["offset"].shape[2:])
    margin = 3 + max(case["padding"])
    canvas = F.pad(X, (margin,) * 4)
    (ph, pw), per_group = case["padding"], C_in // G
    shifted = []
    for g in range(G):
        dy, dx = shifts[g]
        offset[:, g, :, 0], offset[:, g, :, 1] = dy, dx
        top, left = margin - ph + dy, margin - pw + dx
        block = canvas[:, g * per_group : (g + 1) * per_group]
        shifted.append(block[:, :, top : top + H + 2 * ph, left : left + W + 2 * pw])
    groups = C_in // case["weight"][1]
    expected = F.conv2d(
        torch.cat(shifted, dim=1), t["K"], t["bias"], case["stride"], 0, case["dilation"], groups
    )
    actual = _call(deform_conv2d, case, t, offset=offset.reshape(t["offset"].shape), mask=None)
    torch.testing.assert_close(actual, expected, **TIGHT)


@given(deform_cases())
def test_fractional_offsets_match_grid_sample(case: dict) -> None:
    t = _tensors(case)
    torch.testing.assert_close(_call(deform_conv2d, case, t), _expected(case, t), **TIGHT)


@settings(max_examples=20)
@given(deform_cases(max_size=4, max_channels=1))
def test_reference_matches_grid_sample(case: dict) -> None:
    t = _tensors(case)
    expected = _expected(case, t)
    torch.testing.assert_close(_call(deform_conv2d_reference, case, t), expected, **TIGHT)


def test_small_example_by_hand() -> None:
    # A 1x1 kernel of weight 1 and offset (0.5, 0.5) averages each 2x2 neighbourhood; the samples
    # at the right and bottom edges keep only their in-bounds corners (weight 1/4 each).
    X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    offset = torch.full((1, 2, 2, 2), 0.5, dtype=torch.float64)
    K = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    expected = torch.tensor([[[[2.5, 1.5], [1.75, 1.0]]]], dtype=torch.float64)
    for op in (deform_conv2d, deform_conv2d_reference):
        torch.testing.assert_close(op(X, offset, K), expected, **TIGHT)
    # A mask scales each sample; offsets are (dy, dx): only dx = 1 reads the right neighbour.
    offset = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    offset[:, 1] = 1.0
    mask = torch.full((1, 1, 2, 2), 0.5, dtype=torch.float64)
    expected = torch.tensor([[[[1.0, 0.0], [2.0, 0.0]]]], dtype=torch.float64)
    for op in (deform_conv2d, deform_conv2d_reference):
        torch.testing.assert_close(op(X, offset, K, mask=mask), expected, **TIGHT)


def test_points_one_pixel_outside_read_zero() -> None:
    # torchvision's rule: p <= -1 or p >= size reads 0; just inside, the edge pixel is weighted.
    image = torch.arange(1.0, 7.0, dtype=torch.float64).reshape(1, 1, 2, 3)
    py = torch.tensor([[-1.0, -0.75, 0.0, 2.0, 1.25, 0.0]], dtype=torch.float64)
    px = torch.tensor([[0.0, 0.0, -1.0, 0.0, 2.0, 2.5]], dtype=torch.float64)
    expected = torch.tensor([[[0.0, 0.25, 0.0, 0.0, 0.75 * 6.0, 0.5 * 3.0]]], dtype=torch.float64)
    torch.testing.assert_close(bilinear_sample(image, py, px), expected, **TIGHT)


def test_far_and_infinite_offsets_read_zero() -> None:
    # Taps sent far outside or to +-inf read 0, as in torchvision (NaN reads 0 too): only bias left.
    X = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    K = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    bias = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    expected = bias[None, :, None, None].expand(1, 3, 3, 3)
    for value in (1e30, -1e30, float("inf"), float("-inf"), float("nan")):
        offset = torch.full((1, 8, 3, 3), value, dtype=torch.float64)
        torch.testing.assert_close(deform_conv2d(X, offset, K, bias), expected, **TIGHT)


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(deform_cases(max_size=5))
def test_gradients_match_grid_sample(case: dict) -> None:
    case = {**case, "mask": True, "bias": True}
    t = _tensors(case)
    ours = {k: v.clone().requires_grad_() for k, v in t.items()}
    theirs = {k: v.clone().requires_grad_() for k, v in t.items()}
    Y = _call(deform_conv2d, case, ours)
    G = torch.randn(Y.shape, dtype=Y.dtype, generator=torch.Generator().manual_seed(0))
    (Y * G).sum().backward()
    (_expected(case, theirs) * G).sum().backward()
    for name in ("X", "offset", "K", "mask", "bias"):
        torch.testing.assert_close(
            ours[name].grad, theirs[name].grad, **TIGHT, msg=f"grad of {name}"
        )


def test_reference_gradients_match_fast_path() -> None:
    case = {
        "shape": (1, 2, 4, 4),
        "weight": (2, 1, 2, 2),
        "offset_groups": 2,
        "stride": (1, 1),
        "padding": (1, 0),
        "dilation": (1, 1),
        "forms": {"stride": 1, "padding": (1, 0), "dilation": 1},
        "bias": True,
        "mask": True,
        "seed": 7,
    }
    t = _tensors(case)
    grads = []
    for op in (deform_conv2d, deform_conv2d_reference):
        leaves = {k: v.clone().requires_grad_() for k, v in t.items()}
        _call(op, case, leaves).square().sum().backward()
        grads.append({k: v.grad for k, v in leaves.items()})
    for name in ("X", "offset", "K", "mask", "bias"):
        torch.testing.assert_close(grads[0][name], grads[1][name], **TIGHT, msg=f"grad of {name}")


def test_float32_on_device(device: str) -> None:
    case = {
        "shape": (2, 4, 7, 6),
        "weight": (6, 2, 3, 3),
        "offset_groups": 2,
        "stride": (2, 1),
        "padding": (1, 1),
        "dilation": (1, 2),
        "forms": {"stride": (2, 1), "padding": 1, "dilation": (1, 2)},
        "bias": True,
        "mask": True,
        "seed": 3,
    }
    t = _tensors(case, device=device, dtype=torch.float32)
    leaves = {k: v.clone().requires_grad_() for k, v in t.items()}
    Y = _call(deform_conv2d, case, leaves)
    assert Y.device == t["X"].device and Y.dtype == torch.float32
    torch.testing.assert_close(Y, _expected(case, t), **FLOAT32)
    Y.sum().backward()
    assert all(v.grad is not None and v.grad.device == Y.device for v in leaves.values())


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

X = torch.randn(1, 4, 5, 5)
K = torch.randn(2, 2, 3, 3)  # groups = 2
OFF = torch.zeros(1, 18, 3, 3)  # offset_groups = 1
MASK = torch.ones(1, 9, 3, 3)

# cast(Any, ...) marks an argument of a deliberately wrong type: the call must reject it.
BAD_CALLS = [
    (
        "input not tensor",
        lambda: deform_conv2d(cast(Any, X.tolist()), OFF, K),
        TypeError,
        "input must be a torch.Tensor",
    ),
    ("input 3D", lambda: deform_conv2d(X[0], OFF, K), ValueError, "(N, C_in, H, W)"),
    ("input int", lambda: deform_conv2d(X.long(), OFF, K), TypeError, "floating-point"),
    ("offset 3D", lambda: deform_conv2d(X, OFF[0], K), ValueError, "offset must be 4D"),
    ("offset dtype", lambda: deform_conv2d(X, OFF.double(), K), TypeError, "offset has dtype"),
    ("weight 3D", lambda: deform_conv2d(X, OFF, K[0]), ValueError, "weight must be 4D"),
    (
        "groups",
        lambda: deform_conv2d(X, OFF, torch.randn(2, 3, 3, 3)),
        ValueError,
        "not a multiple of weight.shape[1]=3",
    ),
    ("out channels", lambda: deform_conv2d(X, OFF, torch.randn(3, 2, 3, 3)), ValueError, "C_out=3"),
    ("offset channels", lambda: deform_conv2d(X, OFF[:, :17], K), ValueError, "offset.shape[1]=17"),
    (
        "offset groups",
        lambda: deform_conv2d(X, torch.zeros(1, 54, 3, 3), K),
        ValueError,
        "offset_groups=3",
    ),
    ("offset size", lambda: deform_conv2d(X, OFF[:, :, :2], K), ValueError, "(1, 18, 3, 3)"),
    (
        "offset batch",
        lambda: deform_conv2d(X, OFF.expand(2, -1, -1, -1), K),
        ValueError,
        "offset must have shape",
    ),
    (
        "mask channels",
        lambda: deform_conv2d(X, OFF, K, mask=MASK[:, :8]),
        ValueError,
        "mask must have shape",
    ),
    (
        "mask dtype",
        lambda: deform_conv2d(X, OFF, K, mask=MASK.double()),
        TypeError,
        "mask has dtype",
    ),
    (
        "bias shape",
        lambda: deform_conv2d(X, OFF, K, bias=torch.zeros(3)),
        ValueError,
        "bias must have shape",
    ),
    (
        "bias type",
        lambda: deform_conv2d(X, OFF, K, bias=cast(Any, [0.0, 0.0])),
        TypeError,
        "bias must be a torch.Tensor",
    ),
    ("stride 0", lambda: deform_conv2d(X, OFF, K, stride=0), ValueError, "stride must be positive"),
    (
        "padding -1",
        lambda: deform_conv2d(X, OFF, K, padding=(-1, 0)),
        ValueError,
        "padding must be non-negative",
    ),
    ("dilation 3", lambda: deform_conv2d(X, OFF, K, dilation=(1, 2, 3)), ValueError, "dilation"),
    (
        "kernel too big",
        lambda: deform_conv2d(X, OFF, K, dilation=3),
        ValueError,
        "kernel_size too large",
    ),
    (
        "reference too",
        lambda: deform_conv2d_reference(X, OFF[:, :17], K),
        ValueError,
        "offset.shape[1]=17",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "message"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_raises_named_error(call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
    assert Path(info.traceback[-1].path).parent.name == "convlib"  # raised by convlib's checks
