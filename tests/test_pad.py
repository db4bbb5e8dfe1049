"""convlib.pad against torch.nn.functional.pad: every mode, negative pads, gradients."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import convlib

ROW = torch.arange(5.0).reshape(1, 1, 5)  # [a b c d e] = [0 1 2 3 4]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("constant", [0, 0, 0, 1, 2, 3, 4, 0, 0]),
        ("reflect", [2, 1, 0, 1, 2, 3, 4, 3, 2]),
        ("replicate", [0, 0, 0, 1, 2, 3, 4, 4, 4]),
        ("circular", [3, 4, 0, 1, 2, 3, 4, 0, 1]),
    ],
)
def test_hand_checked_modes(mode: str, expected: list[int]) -> None:
    Y = convlib.pad(ROW, (2, 2), mode=mode)
    torch.testing.assert_close(Y, torch.tensor(expected, dtype=ROW.dtype).reshape(1, 1, 9))


def test_constant_value_and_crop() -> None:
    Y = convlib.pad(ROW, (-1, 2), value=9.0)
    torch.testing.assert_close(Y, torch.tensor([[[1.0, 2.0, 3.0, 4.0, 9.0, 9.0]]]))


def test_integer_tensors_are_padded() -> None:
    X = torch.arange(6).reshape(2, 3)
    torch.testing.assert_close(convlib.pad(X, (1, 0, 0, 1)), F.pad(X, (1, 0, 0, 1)))


@st.composite
def pad_cases(draw: st.DrawFn) -> dict[str, Any]:
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    if mode == "constant":
        ndim = draw(st.integers(1, 5))
        padded_dims = draw(st.integers(1, ndim))
    else:
        padded_dims = draw(st.integers(1, 3))
        ndim = padded_dims + draw(st.integers(1, 2))  # unbatched (C, ...) or batched (N, C, ...)
    shape = [draw(st.integers(1, 4)) for _ in range(ndim)]
    pad: list[int] = []
    for i in range(padded_dims):
        size = shape[ndim - 1 - i]
        if mode == "constant":
            left = draw(st.integers(-size, 3))
            right = draw(st.integers(-(size + min(left, 0)), 3))
        else:
            # crop one side at most, keeping at least one element to copy from
            left = draw(st.integers(-(size - 1), 3))
            cropped = size + min(left, 0)
            right = draw(st.integers(-(cropped - 1) if left >= 0 else 0, 3))
            cropped += min(right, 0)
            limit = cropped - 1 if mode == "reflect" else cropped
            left, right = (min(left, limit), min(right, limit))
        pad += [left, right]
    value = draw(st.sampled_from([None, 0.0, -1.5])) if mode == "constant" else None
    return {"shape": shape, "pad": tuple(pad), "mode": mode, "value": value}


@given(pad_cases(), st.integers(0, 2**16))
def test_matches_torch(case: dict[str, Any], seed: int) -> None:
    X = torch.randn(
        case["shape"], dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
    )
    X.requires_grad_()
    kwargs = {"mode": case["mode"]}
    if case["value"] is not None:
        kwargs["value"] = case["value"]
    Y = convlib.pad(X, case["pad"], **kwargs)
    expected = F.pad(X, case["pad"], **kwargs)
    torch.testing.assert_close(Y, expected, atol=0, rtol=0)
    upstream = torch.randn(Y.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad(Y, X, upstream)
    (expected_grad,) = torch.autograd.grad(expected, X, upstream)
    torch.testing.assert_close(grad, expected_grad, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_on_device(device: str, mode: str) -> None:
    X = torch.randn(2, 3, 4, 5, dtype=torch.float64, device=device)
    Y = convlib.pad(X, (1, 2, 3, 0), mode=mode)
    assert Y.device == X.device
    torch.testing.assert_close(Y, F.pad(X, (1, 2, 3, 0), mode=mode), atol=0, rtol=0)


def test_zero_pad_keeps_values() -> None:
    X = torch.randn(2, 3)
    Y = convlib.pad(X, (0, 0))
    torch.testing.assert_close(Y, X, atol=0, rtol=0)
