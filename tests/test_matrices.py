"""Chapter 8: convolution as a matrix C, transposed convolution as C.T (checked against torch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from convlib.matrices import conv_matrix, zero_insert

TIGHT: dict[str, Any] = {"atol": 1e-10, "rtol": 1e-10}


def test_source_example_shape_and_pattern() -> None:
    # 4x4 input, 3x3 kernel: C is 4x16 and its first row is the kernel laid out on a 4-wide grid.
    K = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(3, 3)
    C = conv_matrix(K, 4)
    assert C.shape == (4, 16)
    expected_row0 = torch.tensor(
        [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0], dtype=torch.float64
    )
    torch.testing.assert_close(C[0], expected_row0, **TIGHT)
    # Last output pixel (1, 1): the kernel shifted one row and one column.
    expected_row3 = torch.tensor(
        [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9], dtype=torch.float64
    )
    torch.testing.assert_close(C[3], expected_row3, **TIGHT)
    assert int((C != 0).sum()) == 4 * 9


@given(
    H=st.integers(1, 7),
    W=st.integers(1, 7),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    dh=st.integers(1, 2),
    dw=st.integers(1, 2),
)
def test_matches_torch_conv_and_conv_transpose(
    H: int, W: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int, dh: int, dw: int
) -> None:
    H_out = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    W_out = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if H_out < 1 or W_out < 1:
        return
    g = torch.Generator().manual_seed(H * 1000 + W * 100 + kh * 10 + kw)
    K = torch.randn(kh, kw, dtype=torch.float64, generator=g)
    X = torch.randn(H, W, dtype=torch.float64, generator=g)
    C = conv_matrix(K, (H, W), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    assert C.shape == (H_out * W_out, H * W)
    kwargs: dict[str, Any] = {"stride": (sh, sw), "padding": (ph, pw), "dilation": (dh, dw)}
    Y = F.conv2d(X[None, None], K[None, None], **kwargs)[0, 0]
    torch.testing.assert_close(C @ X.flatten(), Y.flatten(), **TIGHT)

    # The rows/columns that stride skips are recovered by output_padding.
    output_padding = ((H + 2 * ph - dh * (kh - 1) - 1) % sh, (W + 2 * pw - dw * (kw - 1) - 1) % sw)
    if output_padding[0] >= max(sh, dh) or output_padding[1] >= max(sw, dw):
        return  # torch only allows output_padding < max(stride, dilation)
    Z = torch.randn(H_out, W_out, dtype=torch.float64, generator=g)
    T = F.conv_transpose2d(Z[None, None], K[None, None], output_padding=output_padding, **kwargs)
    assert T.shape[-2:] == (H, W)
    torch.testing.assert_close(C.T @ Z.flatten(), T.flatten(), **TIGHT)


def test_device_and_gradient(device: str) -> None:
    K = torch.randn(3, 3, dtype=torch.float64, device=device, requires_grad=True)
    X = torch.randn(5, 5, dtype=torch.float64, device=device)
    C = conv_matrix(K, 5, stride=2, padding=1)
    assert C.device == K.device
    (C @ X.flatten()).sum().backward()
    K_ref = K.detach().clone().requires_grad_(True)
    F.conv2d(X[None, None], K_ref[None, None], stride=2, padding=1).sum().backward()
    assert K.grad is not None and K_ref.grad is not None
    torch.testing.assert_close(K.grad, K_ref.grad, **TIGHT)


def test_float32(device: str) -> None:
    K = torch.randn(2, 3, device=device)
    X = torch.randn(6, 5, device=device)
    C = conv_matrix(K, (6, 5))
    assert C.dtype == torch.float32
    Y = F.conv2d(X[None, None], K[None, None])[0, 0]
    torch.testing.assert_close(C @ X.flatten(), Y.flatten(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: conv_matrix(cast(Any, [[1.0]]), 3), TypeError, "K must be a torch.Tensor"),
        (lambda: conv_matrix(torch.ones(1, 3, 3), 4), ValueError, "K must be 2D"),
        (lambda: conv_matrix(torch.ones(3, 3), 2), ValueError, "does not fit"),
        (lambda: conv_matrix(torch.ones(3, 3), 4, stride=0), ValueError, "stride must be positive"),
        (
            lambda: conv_matrix(torch.ones(3, 3), 4, padding=-1),
            ValueError,
            "padding must be",
        ),
        (lambda: conv_matrix(torch.ones(3, 3), (4, 4, 4)), ValueError, "input_size"),
        (lambda: zero_insert(torch.ones(3), 2), ValueError, "at least 2 dimensions"),
        (lambda: zero_insert(torch.ones(3, 3), 0), ValueError, "stride must be positive"),
    ],
)
def test_bad_arguments(call: Callable[[], object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_zero_insert_matches_hand_example() -> None:
    X = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    expected = torch.tensor(
        [[1, 0, 0, 2], [0, 0, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]], dtype=torch.float64
    )
    torch.testing.assert_close(zero_insert(X, 3), expected, **TIGHT)
    torch.testing.assert_close(zero_insert(X, 1), X, **TIGHT)
    assert zero_insert(torch.ones(2, 4, 3, 2), (2, 1)).shape == (2, 4, 5, 2)


@given(
    H=st.integers(1, 5),
    W=st.integers(1, 5),
    s=st.integers(1, 3),
    k=st.integers(1, 4),
    p=st.integers(0, 3),
)
def test_zero_insertion_pad_flip_equals_conv_transpose(
    H: int, W: int, s: int, k: int, p: int
) -> None:
    # conv_transpose2d(Y, K, stride=s, padding=p) == conv2d(pad(zero_insert(Y, s), k-1-p), flip(K))
    if p > k - 1 or s * (H - 1) + k - 2 * p < 1 or s * (W - 1) + k - 2 * p < 1:
        return  # negative equivalent padding (a crop), or an empty output
    g = torch.Generator().manual_seed(H * 100 + W * 10 + s)
    Y = torch.randn(H, W, dtype=torch.float64, generator=g)
    K = torch.randn(k, k, dtype=torch.float64, generator=g)
    expected = F.conv_transpose2d(Y[None, None], K[None, None], stride=s, padding=p)
    q = k - 1 - p
    Z = zero_insert(Y, s)
    Zp = torch.zeros(Z.shape[0] + 2 * q, Z.shape[1] + 2 * q, dtype=torch.float64)
    Zp[q : q + Z.shape[0], q : q + Z.shape[1]] = Z
    got = F.conv2d(Zp[None, None], K.flip(0, 1)[None, None])
    torch.testing.assert_close(got, expected, **TIGHT)
