"""Separable convolutions (chapter on separable convolutions) against torch.nn.functional.conv2d.

Depthwise separable = F.conv2d(groups=C_in) then a 1x1 F.conv2d, and also one F.conv2d with the
combined kernel; spatially separable = F.conv2d with the outer-product kernel on each channel.
The source material's numbers: 656 vs 4608 parameters, Sobel = [1, 2, 1]^T x [1, 0, -1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from convlib.separable import (
    SOBEL_X,
    SOBEL_Y,
    DepthwiseSeparableConv2d,
    depthwise_separable_conv2d,
    depthwise_separable_conv2d_reference,
    kernel_rank,
    separate_kernel,
    spatially_separable_conv2d,
)

TIGHT: dict[str, Any] = {"atol": 1e-10, "rtol": 1e-10}  # float64
FLOAT32: dict[str, Any] = {"atol": 1e-4, "rtol": 1e-4}


def _form(values: tuple[int, int], how: int) -> Any:
    if how == 0 and values[0] == values[1]:
        return values[0]
    return list(values) if how == 1 else values


@st.composite
def conv_cases(draw: st.DrawFn) -> dict:
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    size = [
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max(1, d * (k - 1) + 1 - 2 * p, 7)))
        for k, p, d in zip((kh, kw), padding, dilation, strict=True)
    ]
    how = draw(st.integers(0, 2))
    batched = draw(st.booleans())
    channels = draw(st.integers(1, 3))
    shape = ((draw(st.integers(1, 2)),) if batched else ()) + (channels, *size)
    return {
        "shape": shape,
        "kernel": (kh, kw),
        "multiplier": draw(st.integers(1, 2)),
        "out_channels": draw(st.integers(1, 3)),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "forms": {
            k: _form(v, how)
            for k, v in (("stride", stride), ("padding", padding), ("dilation", dilation))
        },
        "bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def _depthwise_tensors(case: dict, dtype: Any = torch.float64, device: str = "cpu") -> dict:
    gen = torch.Generator().manual_seed(case["seed"])
    C_in = case["shape"][-3]
    mid = C_in * case["multiplier"]

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype).to(device)

    return {
        "X": rand(*case["shape"]),
        "D": rand(mid, 1, *case["kernel"]),
        "P": rand(case["out_channels"], mid, 1, 1),
        "d_bias": rand(mid) if case["bias"] else None,
        "p_bias": rand(case["out_channels"]) if case["bias"] else None,
    }


def _torch_depthwise_separable(case: dict, t: dict) -> torch.Tensor:
    C_in = case["shape"][-3]
    Y = F.conv2d(
        t["X"], t["D"], t["d_bias"], case["stride"], case["padding"], case["dilation"], C_in
    )
    return F.conv2d(Y, t["P"], t["p_bias"])


# ---------------------------------------------------------------------------------------------
# Depthwise separable
# ---------------------------------------------------------------------------------------------


@given(conv_cases())
def test_depthwise_separable_matches_torch(case: dict) -> None:
    t = _depthwise_tensors(case)
    Y = depthwise_separable_conv2d(
        t["X"], t["D"], t["P"], t["d_bias"], t["p_bias"], **case["forms"]
    )
    torch.testing.assert_close(Y, _torch_depthwise_separable(case, t), **TIGHT)


@given(conv_cases())
def test_depthwise_separable_is_one_conv_with_the_combined_kernel(case: dict) -> None:
    # Without biases the two steps are one ordinary convolution whose kernel for (o, c) is
    # sum over the m depthwise kernels of channel c of pointwise[o, c*M + m] * depthwise[c*M + m].
    t = _depthwise_tensors(case)
    C_in, M = case["shape"][-3], case["multiplier"]
    D = t["D"].reshape(C_in, M, *case["kernel"])
    P = t["P"].reshape(case["out_channels"], C_in, M)
    combined = torch.einsum("ocm,cmhw->ochw", P, D)
    expected = F.conv2d(t["X"], combined, None, case["stride"], case["padding"], case["dilation"])
    Y = depthwise_separable_conv2d(t["X"], t["D"], t["P"], **case["forms"])
    torch.testing.assert_close(Y, expected, **TIGHT)


@given(conv_cases())
def test_depthwise_separable_gradients_match_torch(case: dict) -> None:
    case = {**case, "bias": True}
    t = _depthwise_tensors(case)
    ours = {k: v.clone().requires_grad_() for k, v in t.items()}
    theirs = {k: v.clone().requires_grad_() for k, v in t.items()}
    Y = depthwise_separable_conv2d(
        ours["X"], ours["D"], ours["P"], ours["d_bias"], ours["p_bias"], **case["forms"]
    )
    G = torch.randn(Y.shape, dtype=Y.dtype, generator=torch.Generator().manual_seed(0))
    (Y * G).sum().backward()
    (_torch_depthwise_separable(case, theirs) * G).sum().backward()
    for name in t:
        torch.testing.assert_close(
            ours[name].grad, theirs[name].grad, **TIGHT, msg=f"grad of {name}"
        )


@settings(max_examples=15)
@given(conv_cases())
def test_depthwise_separable_reference_matches_torch(case: dict) -> None:
    case = {**case, "shape": case["shape"][:-2] + tuple(min(s, 5) for s in case["shape"][-2:])}
    kh, kw = case["kernel"]
    (ph, pw), (dh, dw) = case["padding"], case["dilation"]
    assume(case["shape"][-2] + 2 * ph >= dh * (kh - 1) + 1)
    assume(case["shape"][-1] + 2 * pw >= dw * (kw - 1) + 1)
    t = _depthwise_tensors(case)
    Y = depthwise_separable_conv2d_reference(
        t["X"], t["D"], t["P"], t["d_bias"], t["p_bias"], **case["forms"]
    )
    torch.testing.assert_close(Y, _torch_depthwise_separable(case, t), **TIGHT)


def test_parameter_counts_from_the_source() -> None:
    # 16 -> 32 channels, 3x3: 16*3*3 + 16*32*1*1 = 656 weights vs 16*32*3*3 = 4608.
    layer = DepthwiseSeparableConv2d(16, 32, 3, bias=False)
    assert sum(p.numel() for p in layer.parameters()) == 656
    assert sum(p.numel() for p in nn.Conv2d(16, 32, 3, bias=False).parameters()) == 4608
    with_bias = DepthwiseSeparableConv2d(16, 32, 3)
    assert sum(p.numel() for p in with_bias.parameters()) == 656 + 16 + 32
    wide = DepthwiseSeparableConv2d(16, 32, 3, depth_multiplier=2, bias=False)
    assert sum(p.numel() for p in wide.parameters()) == 32 * 3 * 3 + 32 * 32


def test_module_forward_and_training_step(device: str) -> None:
    torch.manual_seed(0)
    layer = DepthwiseSeparableConv2d(4, 6, (3, 3), stride=2, padding=1, device=device)
    X = torch.randn(2, 4, 9, 9, device=device)
    Y = layer(X)
    expected = F.conv2d(
        F.conv2d(X, layer.depthwise_weight, layer.depthwise_bias, 2, 1, 1, 4),
        layer.pointwise_weight,
        layer.pointwise_bias,
    )
    assert Y.shape == (2, 6, 5, 5) and Y.device == X.device
    torch.testing.assert_close(Y, expected, **FLOAT32)
    Y.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
    torch.testing.assert_close(layer(X[0]), Y[0], **FLOAT32)  # unbatched input


# ---------------------------------------------------------------------------------------------
# Rank, separation, Sobel
# ---------------------------------------------------------------------------------------------


def test_sobel_factorisation_from_the_source() -> None:
    column, row = separate_kernel(SOBEL_X)
    assert column.tolist() == [1.0, 2.0, 1.0] and row.tolist() == [1.0, 0.0, -1.0]
    assert torch.equal(column[:, None] * row[None, :], SOBEL_X)
    column, row = separate_kernel(SOBEL_Y)
    assert column.tolist() == [1.0, 0.0, -1.0] and row.tolist() == [1.0, 2.0, 1.0]
    assert torch.equal(SOBEL_Y, SOBEL_X.T)
    assert SOBEL_X.dtype == SOBEL_Y.dtype == torch.float64
    assert kernel_rank(SOBEL_X) == kernel_rank(SOBEL_Y) == 1
    assert column.numel() + row.numel() == 6 and SOBEL_X.numel() == 9


def test_sobel_x_finds_a_vertical_edge() -> None:
    X = torch.zeros(1, 1, 5, 6, dtype=torch.float64)
    X[..., 3:] = 1.0  # dark left half, bright right half
    Y = spatially_separable_conv2d(X, *separate_kernel(SOBEL_X))
    # Cross-correlation with [1, 0, -1] gives left minus right: -4 (= -(1+2+1)) along the edge.
    assert Y[0, 0, 0].tolist() == [0.0, -4.0, -4.0, 0.0]
    assert torch.equal(
        spatially_separable_conv2d(X, *separate_kernel(SOBEL_Y)),
        torch.zeros(1, 1, 3, 4, dtype=X.dtype),
    )


@given(
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(0, 2**16),
    st.sampled_from([torch.float64, torch.float32]),
)
def test_separate_rank_one_kernel(kh: int, kw: int, seed: int, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(kh, generator=gen, dtype=dtype)
    b = torch.randn(kw, generator=gen, dtype=dtype)
    K = a[:, None] * b[None, :]
    assert kernel_rank(K) == int(torch.linalg.matrix_rank(K)) == 1
    column, row = separate_kernel(K)
    assert column.shape == (kh,) and row.shape == (kw,)
    tol = TIGHT if dtype == torch.float64 else {"atol": 1e-5, "rtol": 1e-5}
    torch.testing.assert_close(column[:, None] * row[None, :], K, **tol)


@given(st.integers(2, 5), st.integers(2, 5), st.integers(0, 2**16), st.data())
def test_kernel_rank_matches_matrix_rank(kh: int, kw: int, seed: int, data: st.DataObject) -> None:
    rank = data.draw(st.integers(0, min(kh, kw)))
    gen = torch.Generator().manual_seed(seed)
    K = torch.randn(kh, rank, generator=gen, dtype=torch.float64) @ torch.randn(
        rank, kw, generator=gen, dtype=torch.float64
    )
    assert kernel_rank(K) == int(torch.linalg.matrix_rank(K)) == rank
    if rank > 1:
        with pytest.raises(ValueError, match=f"has rank {rank}"):
            separate_kernel(K)


def test_kernel_rank_tolerance() -> None:
    K = torch.tensor([[1.0, 0.0], [0.0, 1e-9]], dtype=torch.float64)
    assert kernel_rank(K) == 2
    assert kernel_rank(K, tol=1e-6) == 1
    assert kernel_rank(torch.zeros(3, 3)) == 0
    assert kernel_rank(torch.tensor([[1, 2], [2, 4]])) == 1  # integer kernels are accepted
    column, row = separate_kernel(torch.zeros(2, 3))
    assert torch.equal(column[:, None] * row[None, :], torch.zeros(2, 3))


# ---------------------------------------------------------------------------------------------
# Spatially separable convolution
# ---------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's note
@given(conv_cases(), st.sampled_from(["int", "same", "valid"]))
def test_spatially_separable_equals_conv2d_with_outer_product(
    case: dict, padding_kind: str
) -> None:
    gen = torch.Generator().manual_seed(case["seed"])
    X = torch.randn(case["shape"], generator=gen, dtype=torch.float64).requires_grad_()
    kh, kw = case["kernel"]
    column = torch.randn(kh, generator=gen, dtype=torch.float64).requires_grad_()
    row = torch.randn(kw, generator=gen, dtype=torch.float64).requires_grad_()
    stride, padding = case["forms"]["stride"], case["forms"]["padding"]
    if padding_kind != "int":
        padding = padding_kind
        if padding == "same":
            stride = 1
    C = X.shape[-3]
    leaves = [v.detach().clone().requires_grad_() for v in (X, column, row)]
    K = (leaves[1][:, None] * leaves[2][None, :]).expand(C, 1, kh, kw)
    expected = F.conv2d(leaves[0], K, None, stride, padding, 1, C)
    Y = spatially_separable_conv2d(X, column, row, stride=stride, padding=padding)
    torch.testing.assert_close(Y, expected, **TIGHT)
    G = torch.randn(Y.shape, generator=gen, dtype=Y.dtype)
    (Y * G).sum().backward()
    (expected * G).sum().backward()
    for ours, theirs in zip((X, column, row), leaves, strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, **TIGHT)


def test_spatially_separable_float32_on_device(device: str) -> None:
    X = torch.randn(2, 3, 8, 7, generator=torch.Generator().manual_seed(1)).to(device)
    column, row = (v.float().to(device) for v in separate_kernel(SOBEL_X))
    K = SOBEL_X.float().to(device).expand(3, 1, 3, 3)
    Y = spatially_separable_conv2d(X, column, row, stride=(2, 1), padding=1)
    assert Y.device == X.device
    torch.testing.assert_close(Y, F.conv2d(X, K, None, (2, 1), 1, 1, 3), **FLOAT32)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

X = torch.randn(1, 4, 6, 6, dtype=torch.float64)
D = torch.randn(8, 1, 3, 3, dtype=torch.float64)
P = torch.randn(5, 8, 1, 1, dtype=torch.float64)
COL = torch.ones(3, dtype=torch.float64)

# cast(Any, ...) marks an argument of a deliberately wrong type: the call must reject it.
BAD_CALLS = [
    (
        "dw input list",
        lambda: depthwise_separable_conv2d(cast(Any, X.tolist()), D, P),
        TypeError,
        "input must be a torch.Tensor",
    ),
    (
        "dw input 2D",
        lambda: depthwise_separable_conv2d(X[0, 0], D, P),
        ValueError,
        "(N, C_in, H, W)",
    ),
    (
        "dw weight 3D",
        lambda: depthwise_separable_conv2d(X, D[0], P),
        ValueError,
        "depthwise_weight must be 4D",
    ),
    (
        "dw weight not depthwise",
        lambda: depthwise_separable_conv2d(X, D.reshape(4, 2, 3, 3), P),
        ValueError,
        "C_in * multiplier, 1, kh, kw",
    ),
    ("dw multiplier", lambda: depthwise_separable_conv2d(X, D[:6], P[:, :6]), ValueError, "C_in=4"),
    (
        "pw shape",
        lambda: depthwise_separable_conv2d(X, D, P[:, :4]),
        ValueError,
        "pointwise_weight must be",
    ),
    (
        "pw 3x3",
        lambda: depthwise_separable_conv2d(X, D, torch.randn(5, 8, 3, 3, dtype=torch.float64)),
        ValueError,
        "pointwise_weight must be",
    ),
    (
        "pw dtype",
        lambda: depthwise_separable_conv2d(X, D, P.float()),
        TypeError,
        "pointwise_weight has dtype",
    ),
    (
        "dw bias",
        lambda: depthwise_separable_conv2d(X, D, P, torch.zeros(4, dtype=torch.float64)),
        ValueError,
        "depthwise_bias must have shape (8,)",
    ),
    (
        "pw bias",
        lambda: depthwise_separable_conv2d(X, D, P, None, torch.zeros(4, dtype=torch.float64)),
        ValueError,
        "pointwise_bias must have shape (5,)",
    ),
    ("dw stride", lambda: depthwise_separable_conv2d(X, D, P, stride=0), ValueError, "stride"),
    (
        "module channels",
        lambda: DepthwiseSeparableConv2d(0, 4, 3),
        ValueError,
        "in_channels must be positive",
    ),
    (
        "module multiplier",
        lambda: DepthwiseSeparableConv2d(2, 4, 3, depth_multiplier=cast(Any, 1.5)),
        TypeError,
        "depth_multiplier",
    ),
    (
        "module kernel",
        lambda: DepthwiseSeparableConv2d(2, 4, (3, 0)),
        ValueError,
        "kernel_size must be positive",
    ),
    (
        "module bias",
        lambda: DepthwiseSeparableConv2d(2, 4, 3, bias=cast(Any, "no")),
        TypeError,
        "bias must be a bool",
    ),
    ("rank 1D", lambda: kernel_rank(COL), ValueError, "K must be 2D"),
    ("rank list", lambda: kernel_rank(cast(Any, [[1.0]])), TypeError, "K must be a torch.Tensor"),
    ("rank tol", lambda: kernel_rank(SOBEL_X, tol=-1.0), ValueError, "tol must be non-negative"),
    (
        "rank tol str",
        lambda: kernel_rank(SOBEL_X, tol=cast(Any, "small")),
        TypeError,
        "tol must be a number",
    ),
    ("rank empty", lambda: kernel_rank(torch.zeros(0, 3)), ValueError, "K must not be empty"),
    ("separate rank 3", lambda: separate_kernel(torch.eye(3)), ValueError, "has rank 3"),
    ("separate 3D", lambda: separate_kernel(SOBEL_X[None]), ValueError, "K must be 2D"),
    (
        "spatial column 2D",
        lambda: spatially_separable_conv2d(X, COL[:, None], COL),
        ValueError,
        "column must be 1D",
    ),
    (
        "spatial row dtype",
        lambda: spatially_separable_conv2d(X, COL, COL.float()),
        TypeError,
        "row has dtype",
    ),
    (
        "spatial empty",
        lambda: spatially_separable_conv2d(X, COL[:0], COL),
        ValueError,
        "must not be empty",
    ),
    (
        "spatial padding",
        lambda: spatially_separable_conv2d(X, COL, COL, padding=(1, 2, 3)),
        ValueError,
        "padding",
    ),
    (
        "spatial stride",
        lambda: spatially_separable_conv2d(X, COL, COL, stride=-1),
        ValueError,
        "stride",
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
