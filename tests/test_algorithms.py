"""convlib.algorithms against torch.nn.functional: values (f64 tight, f32 1e-4) and gradients.

Each algorithm is tested on hypothesis-drawn shapes within the family it accepts, on every device
conftest.py provides; the auto rule is tested on named shapes; unsupported shapes must raise
ValueError naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from convlib import algorithms as alg

TORCH_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
TORCH_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
F64: dict[str, Any] = {"atol": 1e-10, "rtol": 1e-10}
F32: dict[str, Any] = {"atol": 1e-4, "rtol": 1e-4}


def draw_case(
    data: st.DataObject,
    dims: tuple[int, ...] = (1, 2, 3),
    kernel: int | None = None,
    unit_stride: bool = False,
    unit_dilation: bool = False,
    depthwise: bool = False,
    max_k: int = 3,
) -> dict:
    """A random valid convolution: shapes and arguments, all small."""
    d = data.draw(st.sampled_from(dims), label="d")
    groups = data.draw(st.integers(1, 3), label="groups")
    if depthwise:
        C_in = groups = data.draw(st.integers(1, 4), label="C_in=groups")
        C_out = C_in * data.draw(st.integers(1, 2), label="multiplier")
    else:
        C_in = groups * data.draw(st.integers(1, 2), label="C_in/groups")
        C_out = groups * data.draw(st.integers(1, 2), label="C_out/groups")
    k = tuple(
        kernel if kernel is not None else data.draw(st.integers(1, max_k), label="k")
        for _ in range(d)
    )
    stride = tuple(
        1 if unit_stride else data.draw(st.integers(1, 2), label="stride") for _ in range(d)
    )
    dilation = tuple(
        1 if unit_dilation else data.draw(st.integers(1, 2), label="dilation") for _ in range(d)
    )
    padding = tuple(data.draw(st.integers(0, 2), label="padding") for _ in range(d))
    extent = [dl * (ki - 1) + 1 for ki, dl in zip(k, dilation, strict=True)]
    small = 7 if d < 3 else 5
    size = tuple(
        max(e - 2 * p, 1) + data.draw(st.integers(0, small), label="size")
        for e, p in zip(extent, padding, strict=True)
    )
    N = data.draw(st.integers(1, 2), label="N")
    return {
        "d": d,
        "X": (N, C_in, *size),
        "K": (C_out, C_in // groups, *k),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "bias": data.draw(st.booleans(), label="bias"),
    }


def check_against_torch(
    fn: Callable[..., torch.Tensor], case: dict, device: str, grads: bool = True, **extra: Any
) -> None:
    """Values in float64 and float32, gradients (input, weight, bias) in float64."""
    gen = torch.Generator().manual_seed(0)
    for dtype, tol in ((torch.float64, F64), (torch.float32, F32)):
        X = torch.randn(case["X"], generator=gen, dtype=dtype).to(device).requires_grad_()
        K = torch.randn(case["K"], generator=gen, dtype=dtype).to(device).requires_grad_()
        b = torch.randn(case["K"][0], generator=gen, dtype=dtype).to(device).requires_grad_()
        bias = b if case["bias"] else None
        args = (case["stride"], case["padding"], case["dilation"], case["groups"])
        Y = fn(X, K, bias, *args, **extra)
        Y_ref = TORCH_CONV[case["d"]](X, K, bias, *args)
        torch.testing.assert_close(Y, Y_ref, **tol)
        if grads and dtype == torch.float64:
            dY = torch.randn(Y_ref.shape, generator=gen, dtype=dtype).to(device)
            inputs = [X, K] + ([b] if case["bias"] else [])
            got = torch.autograd.grad(Y, inputs, dY)
            want = torch.autograd.grad(Y_ref, inputs, dY)
            for g, w in zip(got, want, strict=True):
                torch.testing.assert_close(g, w, **F64)


@given(data=st.data())
def test_im2col_conv_matches_torch(device: str, data: st.DataObject) -> None:
    check_against_torch(alg.conv_im2col, draw_case(data), device)


@given(data=st.data())
def test_im2col_partial_conv_matches_torch(device: str, data: st.DataObject) -> None:
    case = draw_case(data)
    case["stride"] = (1, *case["stride"][1:])  # the first spatial dim must have stride 1
    check_against_torch(alg.conv_im2col_partial, case, device)


@given(data=st.data())
def test_fft_conv_matches_torch(device: str, data: st.DataObject) -> None:
    check_against_torch(alg.conv_fft, draw_case(data, max_k=4), device)


@given(data=st.data())
def test_pointwise_conv_matches_torch(device: str, data: st.DataObject) -> None:
    check_against_torch(alg.conv_pointwise, draw_case(data, kernel=1), device)


@given(data=st.data())
def test_depthwise_conv_matches_torch(device: str, data: st.DataObject) -> None:
    check_against_torch(alg.conv_depthwise, draw_case(data, depthwise=True), device)


@given(data=st.data())
def test_winograd_conv_matches_torch(device: str, data: st.DataObject) -> None:
    case = draw_case(data, dims=(2,), kernel=3, unit_stride=True, unit_dilation=True)
    check_against_torch(alg.conv_winograd, case, device)


@given(data=st.data())
def test_winograd_f4x4_matches_torch(data: st.DataObject) -> None:
    # F(4x4, 3x3) uses points +-2: its float32 error grows, so values only, float64.
    case = draw_case(data, dims=(2,), kernel=3, unit_stride=True, unit_dilation=True)
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(case["X"], generator=gen, dtype=torch.float64)
    K = torch.randn(case["K"], generator=gen, dtype=torch.float64)
    args = (None, 1, case["padding"], 1, case["groups"])
    torch.testing.assert_close(alg.conv_winograd(X, K, *args, m=4), F.conv2d(X, K, *args), **F64)


@given(data=st.data())
def test_auto_conv_matches_torch(device: str, data: st.DataObject) -> None:
    check_against_torch(alg.conv, draw_case(data, depthwise=data.draw(st.booleans())), device)


@pytest.mark.parametrize("algorithm", ["gemm", "phase", "auto"])
@given(data=st.data())
def test_transpose_matches_torch(device: str, algorithm: str, data: st.DataObject) -> None:
    d = data.draw(st.sampled_from((1, 2, 3)), label="d")
    groups = data.draw(st.integers(1, 2), label="groups")
    C_in = groups * data.draw(st.integers(1, 2))
    C_out = groups * data.draw(st.integers(1, 2))
    k = tuple(data.draw(st.integers(1, 4), label="k") for _ in range(d))
    stride = tuple(data.draw(st.integers(1, 3), label="stride") for _ in range(d))
    max_dilation = 1 if algorithm == "phase" else 2  # phases need dilation 1
    dilation = tuple(data.draw(st.integers(1, max_dilation), label="dilation") for _ in range(d))
    out_pad = tuple(
        data.draw(st.integers(0, max(s, dl) - 1)) for s, dl in zip(stride, dilation, strict=True)
    )
    size = tuple(data.draw(st.integers(1, 4 if d < 3 else 3), label="size") for _ in range(d))
    full = [
        (n - 1) * s + dl * (ki - 1) + 1 + o
        for n, s, dl, ki, o in zip(size, stride, dilation, k, out_pad, strict=True)
    ]
    padding = tuple(data.draw(st.integers(0, (f - 1) // 2), label="padding") for f in full)
    N = data.draw(st.integers(1, 2), label="N")
    gen = torch.Generator().manual_seed(0)
    for dtype, tol in ((torch.float64, F64), (torch.float32, F32)):
        X = torch.randn(N, C_in, *size, generator=gen, dtype=dtype).to(device).requires_grad_()
        K = torch.randn(C_in, C_out // groups, *k, generator=gen, dtype=dtype).to(device)
        K.requires_grad_()
        b = torch.randn(C_out, generator=gen, dtype=dtype).to(device).requires_grad_()
        args = (b, stride, padding, out_pad, groups, dilation)
        Y = alg.conv_transpose(X, K, *args, algorithm=algorithm)
        Y_ref = TORCH_CONV_T[d](X, K, *args)
        torch.testing.assert_close(Y, Y_ref, **tol)
        if dtype == torch.float64:
            dY = torch.randn(Y_ref.shape, generator=gen, dtype=dtype).to(device)
            got = torch.autograd.grad(Y, [X, K, b], dY)
            want = torch.autograd.grad(Y_ref, [X, K, b], dY)
            for g, w in zip(got, want, strict=True):
                torch.testing.assert_close(g, w, **F64)


def test_im2col_matches_torch_unfold(device: str) -> None:
    X = torch.randn(2, 3, 7, 6, dtype=torch.float64, device=device)
    cols = alg.im2col(X, (3, 2), stride=(2, 1), dilation=(1, 2))
    ref = F.unfold(X, (3, 2), dilation=(1, 2), stride=(2, 1))
    torch.testing.assert_close(cols, ref, atol=0, rtol=0)


def test_im2col_bytes_by_hand() -> None:
    # (2, 3, 5, 5), 3x3, no padding: 2 images * 27 rows * 9 columns * 4 bytes.
    assert alg.im2col_bytes((2, 3, 5, 5), 3) == 2 * 27 * 9 * 4
    # ResNet 3x3 layer, 64 channels at 56x56, padding 1: 64*9 rows, 3136 columns, float32.
    assert alg.im2col_bytes((1, 64, 56, 56), 3, padding=1) == 576 * 3136 * 4
    X = torch.zeros(2, 4, 9, 8, dtype=torch.float64)
    cols = alg.im2col(X, (2, 3), stride=2)
    assert alg.im2col_bytes(X.shape, (2, 3), stride=2, element_size=8) == cols.numel() * 8


def test_winograd_matrices_compute_f23_correlation() -> None:
    gen = torch.Generator().manual_seed(0)
    d = torch.randn(4, generator=gen, dtype=torch.float64)
    g = torch.randn(3, generator=gen, dtype=torch.float64)
    y = torch.stack(
        [d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]]
    )
    for BT, G, AT in ((alg.BT, alg.G, alg.AT), alg.derive_winograd(2, 3, (0, 1, -1))):
        BT_, G_, AT_ = (torch.tensor(M, dtype=torch.float64) for M in (BT, G, AT))
        torch.testing.assert_close(AT_ @ ((G_ @ g) * (BT_ @ d)), y, **F64)


def test_derived_winograd_is_a_rescaling_of_lavins() -> None:
    BT, G, AT = (
        torch.tensor(M, dtype=torch.float64) for M in alg.derive_winograd(2, 3, (0, 1, -1))
    )
    # Lavin's scaling: rows 1, 2 of B^T doubled, row 3 negated, with G and A^T compensating.
    D = torch.diag(torch.tensor([1.0, 2.0, 2.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(D @ BT, torch.tensor(alg.BT, dtype=torch.float64), **F64)
    torch.testing.assert_close(
        torch.tensor(alg.G, dtype=torch.float64) @ torch.ones(3, dtype=torch.float64),
        torch.tensor([1.0, 1.5, 0.5, 1.0], dtype=torch.float64),
        **F64,
    )
    assert AT.shape == (2, 4) and G.shape == (4, 3)


@pytest.mark.parametrize("name", ["im2col", "im2col_partial", "phase", "depthwise"])
def test_workspace_reuse_without_autograd(device: str, name: str) -> None:
    # Under no_grad the CPU paths write padding and columns into reused scratch buffers: a
    # larger call, then a smaller one, must not change (or alias) an earlier result.
    gen = torch.Generator().manual_seed(0)
    shapes = [((2, 4, 6, 7, 5), (3, 4, 3, 2, 3)), ((3, 6, 8, 9, 7), (5, 6, 3, 3, 2))]
    shapes.append(shapes[0])
    results = []
    with torch.no_grad():
        for x_shape, w_shape in shapes:
            X = torch.randn(x_shape, generator=gen).to(device)
            K = torch.randn(w_shape, generator=gen).to(device)
            if name == "depthwise":
                X = X[:, :3]
                K = K[:3, :1]  # (C, 1, *k): 3 channels, one filter each
                Y = alg.conv(X, K, None, 2, 2, 1, 3, algorithm="depthwise")
                want = F.conv3d(X, K, None, 2, 2, 1, 3)
            elif name == "phase":
                K = K.transpose(0, 1).contiguous()  # (C_in, C_out, *k)
                Y = alg.conv_transpose(X, K, None, 2, 1, 1, algorithm="phase")
                want = F.conv_transpose3d(X, K, None, 2, 1, 1)
            else:
                Y = alg.conv(X, K, None, 1, 1, algorithm=name)
                want = F.conv3d(X, K, None, 1, 1)
            torch.testing.assert_close(Y, want, **F32)
            results.append((Y, Y.clone()))
    for Y, copy in results:
        assert torch.equal(Y, copy)
    alg.clear_workspaces()


def test_fft_size_is_smallest_5_smooth() -> None:
    def smooth(n: int) -> bool:
        for f in (2, 3, 5):
            while n % f == 0:
                n //= f
        return n == 1

    for n in range(1, 300):
        size = alg.fft_size(n)
        assert size >= n and smooth(size) and not any(smooth(m) for m in range(n, size))
    assert alg.fft_size(86) == 90
    assert alg.fft_size(97) == 100


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "expected"),
    [
        ((8, 256, 56, 56), (64, 256, 1, 1), {}, "pointwise"),
        ((8, 512, 28, 28), (1024, 512, 1, 1), {"stride": 2}, "pointwise"),
        ((8, 144, 56, 56), (144, 1, 3, 3), {"groups": 144}, "depthwise"),
        ((8, 64, 56, 56), (64, 1, 31, 31), {"groups": 64}, "fft"),
        ((8, 64, 56, 56), (64, 1, 9, 9), {"groups": 64}, "fft"),
        ((8, 64, 56, 56), (64, 1, 7, 7), {"groups": 64}, "depthwise"),
        ((8, 64, 56, 56), (64, 1, 31, 31), {"groups": 64, "stride": 2}, "depthwise"),
        ((8, 64, 56, 56), (64, 64, 3, 3), {}, "im2col"),
        ((8, 64, 56, 56), (64, 64, 3, 3), {"stride": 2}, "im2col"),
        ((8, 64, 56, 56), (64, 64, 3, 3), {"dilation": 2}, "im2col"),
        ((8, 3, 224, 224), (64, 3, 3, 3), {}, "im2col"),
        ((8, 3, 224, 224), (64, 3, 7, 7), {"stride": 2}, "im2col"),
        ((2, 64, 8, 28, 28), (64, 64, 3, 3, 3), {}, "im2col_partial"),
        ((2, 64, 8, 28, 28), (64, 64, 1, 3, 3), {}, "im2col"),
        ((2, 64, 8, 28, 28), (64, 64, 3, 3, 3), {"stride": 2}, "im2col"),
        ((2, 64, 8, 28, 28), (64, 64, 3, 3, 3), {"stride": (1, 2, 2)}, "im2col_partial"),
        ((1, 16, 64, 64), (16, 16, 15, 15), {}, "fft"),
        ((1, 16, 64, 64), (16, 16, 15, 15), {"stride": 2}, "im2col"),
    ],
)
def test_auto_rule(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], kwargs: dict[str, Any], expected: str
) -> None:
    groups = kwargs.pop("groups", 1)
    assert alg.choose_algorithm(x_shape, w_shape, groups=groups, **kwargs) == expected
    assert expected in alg.supported_algorithms(x_shape, w_shape, groups=groups, **kwargs)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "on_cpu", "on_cuda"),
    [
        # GEMM-shaped layers pick the same GEMM path on both devices.
        ((8, 256, 56, 56), (64, 256, 1, 1), {}, "pointwise", "pointwise"),
        ((8, 64, 56, 56), (64, 64, 3, 3), {}, "im2col", "im2col"),
        ((8, 3, 224, 224), (64, 3, 7, 7), {"stride": 2}, "im2col", "im2col"),
        # Small depthwise: per-tap multiply-adds on a CPU, one grouped GEMM on a GPU.
        ((8, 144, 56, 56), (144, 1, 3, 3), {"groups": 144}, "depthwise", "im2col"),
        ((8, 64, 56, 56), (64, 1, 31, 31), {"groups": 64, "stride": 2}, "depthwise", "im2col"),
        # Large kernels: the FFT on both.
        ((8, 64, 56, 56), (64, 1, 31, 31), {"groups": 64}, "fft", "fft"),
        ((1, 16, 64, 64), (16, 16, 15, 15), {}, "fft", "fft"),
        # 3D: the smaller column matrix on a CPU, the single big GEMM on a GPU.
        ((2, 64, 8, 28, 28), (64, 64, 3, 3, 3), {}, "im2col_partial", "im2col"),
    ],
)
def test_auto_rule_depends_on_device_type(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    kwargs: dict[str, Any],
    on_cpu: str,
    on_cuda: str,
) -> None:
    groups = kwargs.pop("groups", 1)
    for device, expected in (("cpu", on_cpu), ("cuda", on_cuda), (torch.device("cuda:1"), on_cuda)):
        got = alg.choose_algorithm(x_shape, w_shape, groups=groups, device=device, **kwargs)
        assert got == expected, (device, got)
        assert got in alg.supported_algorithms(x_shape, w_shape, groups=groups, **kwargs)
        assert got != "winograd"


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_transpose_rule(device_type: str) -> None:
    # A pure function of shape and device type: no GPU needed to test the cuda rule.
    assert alg.choose_transpose_algorithm((128, 64, 4, 4), 1, device_type) == "phase"
    assert alg.choose_transpose_algorithm((128, 64, 4, 4), (1, 2), device_type) == "gemm"


def test_conv_transpose_functions_take_every_algorithm() -> None:
    import convlib

    gen = torch.Generator().manual_seed(0)
    X = torch.randn(2, 4, 5, 6, generator=gen, dtype=torch.float64)
    K = torch.randn(4, 3, 4, 3, generator=gen, dtype=torch.float64)
    want = F.conv_transpose2d(X, K, None, 2, 1, 1)
    for name in ("auto", "windows", "phase", "gemm"):
        got = convlib.conv_transpose2d(X, K, None, 2, 1, 1, algorithm=name)
        torch.testing.assert_close(got, want, **F64)
    with pytest.raises(ValueError, match="algorithm"):
        convlib.conv_transpose2d(X, K, algorithm="magic")


def test_auto_avoids_fft_for_half_precision() -> None:
    shape = ((1, 8, 32, 32), (8, 1, 31, 31))
    assert alg.choose_algorithm(*shape, groups=8, dtype=torch.float16) == "depthwise"


@pytest.mark.parametrize(
    ("fn", "kwargs", "argument"),
    [
        (alg.conv_winograd, {"stride": 2}, "stride"),
        (alg.conv_im2col_partial, {"stride": (2, 1)}, "stride"),
        (alg.conv_winograd, {"dilation": 2}, "dilation"),
        (alg.conv_pointwise, {}, "kernel size"),
        (alg.conv_depthwise, {"groups": 1}, "groups"),
        (alg.conv_im2col, {"groups": 3}, "groups"),
        (alg.conv_fft, {"stride": 0}, "stride"),
        (alg.conv_im2col, {"padding": -1}, "padding"),
        (alg.conv_transpose_phase, {"dilation": 2}, "dilation"),
        (alg.conv_transpose_gemm, {"output_padding": 3}, "output_padding"),
    ],
)
def test_unsupported_shapes_raise_value_error(
    fn: Callable[..., torch.Tensor], kwargs: dict[str, Any], argument: str
) -> None:
    X = torch.randn(1, 4, 8, 8)
    K = torch.randn(4, 4, 3, 3) if fn is not alg.conv_depthwise else torch.randn(4, 1, 3, 3)
    with pytest.raises(ValueError, match=argument):
        fn(X, K, **kwargs)


def test_winograd_rejects_other_kernels_and_dims() -> None:
    with pytest.raises(ValueError, match="kernel"):
        alg.conv_winograd(torch.randn(1, 2, 8, 8), torch.randn(2, 2, 5, 5))
    with pytest.raises(ValueError, match="2D"):
        alg.conv_winograd(torch.randn(1, 2, 8), torch.randn(2, 2, 3))


def test_unknown_algorithm_names_the_argument() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        alg.conv(torch.randn(1, 2, 8, 8), torch.randn(2, 2, 3, 3), algorithm="magic")


def test_depthwise_blocks_match_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny cache blocks: every block boundary (images, then channels) is exercised.
    from convlib.algorithms import depthwise

    gen = torch.Generator().manual_seed(0)
    X = torch.randn(3, 5, 9, 8, generator=gen, dtype=torch.float64)
    K = torch.randn(10, 1, 3, 3, generator=gen, dtype=torch.float64)  # multiplier 2
    want = F.conv2d(X, K, None, 1, 1, 1, 5)
    for block in (1, 2 * 9 * 8 * 8 * 3, 10 * 9 * 8 * 8 * 2, 2**30):
        monkeypatch.setattr(depthwise, "CACHE_BLOCK_BYTES", block)
        with torch.no_grad():
            got = alg.conv_depthwise(X, K, None, 1, 1, 1, 5)
        torch.testing.assert_close(got, want, **F64)


def test_large_kernel_depthwise_by_fft_float32(device: str) -> None:
    # The shape family of large-kernel CNNs (31x31 depthwise, 'same' padding), at a small size.
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(2, 4, 40, 40, generator=gen).to(device)
    K = torch.randn(4, 1, 31, 31, generator=gen).to(device) / math.sqrt(31 * 31)
    Y = alg.conv(X, K, None, 1, 15, 1, 4)
    torch.testing.assert_close(Y, F.conv2d(X, K, None, 1, 15, 1, 4), **F32)
