"""Student-facing checks for the practice tasks that go beyond the book's printed code.

Built only on ``convlib.check``'s public primitives (``forbid``, ``compare``, ``check_function``,
``check_conv2d``, ``check_corr2d``, ``randn``, ``verify_untampered`` and the op sets), so a change
to how those run student code or compare results carries over here. Like ``convlib.check``, every
function runs the student's function on the given inputs, computes the answer with PyTorch (or
autograd through PyTorch), and raises an ``AssertionError`` that names the usual mistake.

Three kinds of checks exist only here:

- ``check_no_output_loop``: the function's Python work must not grow with the number of output
  positions. It counts the lines of student code executed (``sys.settrace``, only frames outside
  torch, convlib and the standard library) on a small and on a large input with the same kernel.
- ``check_speedup``: a fast version must beat the student's own loop version by a ratio, timed
  best-of-N in the same process (robust to a loaded machine: the minimum of several runs).
- autograd is forbidden where the task is to derive a gradient: ``Tensor.backward`` and
  ``torch.autograd.grad`` are recorded like a forbidden convolution.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

import convlib.check as check

__all__ = [
    "AUTOGRAD_OPS",
    "SAMPLE_OPS",
    "PAD_OPS",
    "count_python_lines",
    "check_no_output_loop",
    "check_speedup",
    "check_corr2d_taps",
    "check_convolve2d_mode",
    "check_conv2d_taps",
    "check_learn_kernel_by_hand",
    "check_pad2d_mode",
    "check_conv2d_same",
    "check_corr2d_multi_in",
    "check_conv2d_channels_last",
    "check_fit_conv1x1",
    "check_conv2d_groups_vectorised",
    "check_fuse_depthwise_separable",
    "check_dilate_kernel",
    "check_conv2d_dilated_taps",
    "output_padding_reference",
    "check_output_padding",
    "conv_matrix_channels_reference",
    "check_conv_matrix_channels",
    "check_conv_transpose2d_taps",
    "unfold_nd_reference",
    "check_im2col_nd",
    "check_conv2d_gemm_groups",
    "check_col2im",
    "check_max_pool2d_taps",
    "check_avg_pool2d_taps",
    "check_conv2d_grad_input",
    "check_conv2d_grad_weight_per_sample",
    "check_conv2d_grad_bias",
    "check_conv_transpose2d_backward",
    "check_conv1d",
    "check_conv3d",
    "check_causal_conv1d",
    "check_causal_receptive_field",
    "check_separable_factors",
    "check_separable_conv2d",
    "check_low_rank_conv2d",
    "check_grid_sample",
    "check_bilinear_grad",
    "check_deform_conv2d",
    "check_fft_conv2d",
    "check_fft_size",
    "check_overlap_save",
    "check_adaptive_max_pool2d",
    "check_adaptive_avg_pool2d_integral",
    "check_max_pool2d_backward",
    "backward_case",
]

# The shared core moved to convlib.checks.core; this module keeps the per-task checks until each
# assignment has its own module in convlib.checks.
from convlib.checks.core import (  # noqa: E402
    ALL_CONV as _ALL_CONV,
)
from convlib.checks.core import (
    AUTOGRAD_OPS,
    PAD_OPS,
    SAMPLE_OPS,
    check_no_output_loop,
    check_speedup,
    count_python_lines,
)
from convlib.checks.core import fail as _fail  # noqa: E402
from convlib.checks.core import is_some as _is_some  # noqa: E402
from convlib.checks.core import pick as _pick  # noqa: E402

# ------------------------------------------------------------------------------------------
# chapter 1-2: cross-correlation


def check_corr2d_taps(
    fn: Callable[..., Any], X: torch.Tensor, K: torch.Tensor, *, fname: str = "corr2d"
) -> None:
    """``fn(X, K)`` equals cross-correlation and loops over kernel taps, not output positions."""
    check.check_corr2d(fn, X, K, fname=fname)
    H, W = X.shape
    big = check.randn(H + 16, W + 16, seed=H * 31 + W, device=X.device).to(X.dtype)
    check_no_output_loop(fn, (X, K), (big, K), fname=fname)


def check_convolve2d_mode(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    mode: str,
    *,
    fname: str = "convolve2d",
) -> None:
    """``fn(X, K, mode=mode)``: true convolution, ``mode`` "valid" or "full" (np.convolve's)."""
    if mode == "valid":
        # a partial, not a lambda: no Python frame in convlib between the check and fn
        check.check_corr2d(functools.partial(fn, mode="valid"), X, K, fname=fname, flip=True)
        return
    kh, kw = K.shape

    def conv(kernel: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
        return F.conv2d(F.pad(X, pads)[None, None], kernel[None, None])[0, 0]

    full = (kw - 1, kw - 1, kh - 1, kh - 1)
    check.check_function(
        fn,
        (X, K),
        {"mode": "full"},
        conv(K.flip(0, 1), full),
        fname=fname,
        shape_hint="mode='full' keeps every position where the kernel overlaps X: "
        "(H + kh - 1, W + kw - 1)",
        variants=[
            (
                "your output is the full cross-correlation: a convolution flips the kernel first",
                lambda: conv(K, full),
            ),
            (
                "you padded one side only: 'full' pads kh - 1 rows above AND below, kw - 1 "
                "columns left AND right",
                lambda: conv(K.flip(0, 1), (0, 2 * (kw - 1), 0, 2 * (kh - 1))),
            ),
            (
                "you padded by (k - 1) // 2 ('same'): 'full' pads by k - 1 on every side",
                lambda: conv(K.flip(0, 1), ((kw - 1) // 2,) * 2 + ((kh - 1) // 2,) * 2),
            ),
        ],
    )


def check_conv2d_taps(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    fname: str = "conv2d",
) -> None:
    """``fn(X, K, bias)`` equals ``F.conv2d`` and loops over taps only (channels vectorised)."""
    check.check_conv2d(fn, X, K, bias=bias, fname=fname)
    N, C, H, W = X.shape
    big = check.randn(N, C, H + 12, W + 12, seed=N + C + H, device=X.device).to(X.dtype)
    check_no_output_loop(fn, (X, K, bias), (big, K, bias), fname=fname)


def check_learn_kernel_by_hand(
    fn: Callable[..., Any],
    X: torch.Tensor,
    Y: torch.Tensor,
    K_true: torch.Tensor,
    kwargs: dict[str, object] | None = None,
    *,
    fname: str = "learn_kernel",
    atol: float = 0.01,
) -> None:
    """``fn(X, Y, **kwargs)`` recovers ``K_true`` without autograd (gradient derived by hand)."""
    check.check_function(
        fn,
        (X, Y),
        kwargs or {},
        K_true,
        fname=fname,
        forbidden=check.CONV_OPS | AUTOGRAD_OPS,
        variants=[
            (
                "your kernel is the true one with the opposite sign: step against the gradient "
                "(K -= lr * grad)",
                lambda: -K_true,
            ),
            (
                "your kernel is flipped: the gradient of sum((corr2d(X, K) - Y)**2) is "
                "2 * corr2d(X, corr2d(X, K) - Y), X first",
                lambda: K_true.flip(0, 1),
            ),
        ],
        atol=atol,
        rtol=0.0,
    )


# --------------------------------------------------------------------------------------------
# chapter 3: padding modes, padding="same"


def _symmetric_pad(X: torch.Tensor, p: int) -> torch.Tensor:
    """numpy's 'symmetric' padding (the edge repeated): a common wrong 'reflect'."""
    H, W = X.shape[-2:]
    rows = torch.tensor([min(max(i, -1 - i), 2 * H - 1 - i) for i in range(-p, H + p)])
    cols = torch.tensor([min(max(j, -1 - j), 2 * W - 1 - j) for j in range(-p, W + p)])
    return X[..., rows.to(X.device), :][..., cols.to(X.device)]


def _wrong_side_circular(X: torch.Tensor, p: int) -> torch.Tensor:
    """Circular padding wrapped from the wrong side: X's first rows above, its last rows below."""
    H, W = X.shape[-2:]
    rows = torch.tensor([*range(p), *range(H), *range(H - p, H)], device=X.device)
    cols = torch.tensor([*range(p), *range(W), *range(W - p, W)], device=X.device)
    return X[..., rows, :][..., cols]


def check_pad2d_mode(
    fn: Callable[..., Any], X: torch.Tensor, padding: int, mode: str, *, fname: str = "pad2d"
) -> None:
    """``fn(X, padding, mode=mode)`` equals ``F.pad`` with mode constant, reflect, replicate or
    circular (X: (..., H, W), any number of leading dimensions)."""
    H, W = X.shape[-2:]
    flat = X.reshape(-1, 1, H, W)
    pads = (padding,) * 4

    def pad(m: str) -> torch.Tensor:
        return F.pad(flat, pads, mode=m).reshape(*X.shape[:-2], H + 2 * padding, W + 2 * padding)

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "you padded one side only",
            lambda: F.pad(flat, (0, 2 * padding, 0, 2 * padding)).reshape(
                *X.shape[:-2], H + 2 * padding, W + 2 * padding
            ),
        ),
        (
            f"your padding is 'replicate' (the edge value repeated), not {mode!r}",
            lambda: pad("replicate"),
        ),
        (
            f"your padding is 'reflect' (mirror without repeating the edge), not {mode!r}",
            lambda: pad("reflect"),
        ),
        (f"your padding is zeros ('constant'), not {mode!r}", lambda: pad("constant")),
        (
            f"your padding is 'circular' (wrapped around), not {mode!r}",
            lambda: pad("circular"),
        ),
    ]
    variants = [v for v in variants if mode not in v[0].split("not ")[0]]
    if mode == "reflect":
        variants.append(
            (
                "you mirrored including the edge pixel (numpy's 'symmetric'): 'reflect' mirrors "
                "around the edge pixel without repeating it: x2 x1 | x0 x1 x2",
                lambda: _symmetric_pad(X, padding),
            )
        )
    if mode == "circular":
        variants.append(
            (
                "you wrapped from the wrong side: circular padding continues the image "
                "periodically, so the rows above X are its LAST rows (X[..., -p:, :]) and the "
                "rows below are its first ones",
                lambda: _wrong_side_circular(X, padding),
            )
        )
    check.check_function(
        fn,
        (X, padding),
        {"mode": mode},
        pad(mode),
        fname=fname,
        forbidden=PAD_OPS,
        shape_hint="pad both sides of the last two dimensions: (..., H + 2*padding, W + 2*padding)",
        variants=variants,
    )


def _torch_pads(K: torch.Tensor, padding: Any, dilation: int = 1) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) for an int, a pair, "valid" or "same" (torch's rule: the odd
    extra row or column of an even kernel goes at the bottom / right)."""
    kh, kw = K.shape[-2:]
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = dilation * (kh - 1), dilation * (kw - 1)
        return (tw // 2, tw - tw // 2, th // 2, th - th // 2)
    ph, pw = _pair(padding)
    return (pw, pw, ph, ph)


def check_conv2d_same(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    padding: Any,
    stride: Any = 1,
    padding_mode: str | None = None,
    *,
    fname: str = "conv2d",
) -> None:
    """``fn(X, K, stride=, padding=[, padding_mode=])`` with padding an int, a pair, "valid" or
    "same", and padding_mode "zeros", "reflect", "replicate" or "circular" (``nn.Conv2d``'s)."""
    mode = padding_mode or "zeros"
    pads = _torch_pads(K, padding)

    def conv(pads: tuple[int, int, int, int], m: str = mode) -> torch.Tensor:
        padded = F.pad(X, pads) if m == "zeros" else F.pad(X, pads, mode=m)
        return F.conv2d(padded, K, stride=stride)

    kwargs: dict[str, Any] = {"stride": stride, "padding": padding}
    if padding_mode is not None:
        kwargs["padding_mode"] = padding_mode
    kh, kw = K.shape[-2:]
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if mode != "zeros":
        variants.append(
            (
                f"padding_mode={mode!r} is ignored: your output is torch's with zero padding",
                lambda: conv(pads, "zeros"),
            )
        )
        if mode == "reflect" and any(pads):
            variants.append(
                (
                    "you mirrored including the edge pixel (numpy's 'symmetric'): 'reflect' "
                    "mirrors around the edge pixel without repeating it",
                    lambda: F.conv2d(_symmetric_pad(X, max(pads)), K, stride=stride),
                )
            )
    if padding == "same" and (kh % 2 == 0 or kw % 2 == 0):
        left_heavy = (pads[1], pads[0], pads[3], pads[2])
        variants.append(
            (
                "for an even kernel, torch puts the extra padding row at the bottom and the extra "
                "column on the right (left = total // 2, right = total - left)",
                lambda: conv(left_heavy),
            )
        )
    if any(pads):
        variants.append(
            (
                f"padding={padding!r} is ignored (your output is torch's with padding=0)",
                lambda: conv((0, 0, 0, 0)),
            )
        )
    check.check_function(
        fn,
        (X, K),
        kwargs,
        conv(pads),
        fname=fname,
        forbidden=check.CONV_OPS | PAD_OPS,
        shape_hint="padding='same' keeps (H, W) (stride 1); 'valid' means no padding; "
        + "otherwise "
        + _shape_hint_conv(),
        variants=variants,
    )


def _shape_hint_conv() -> str:
    return "out = floor((in + 2*padding - kernel_size) / stride) + 1"


# --------------------------------------------------------------------------------------------
# chapter 4: channels without Python loops over them, channels-last


def check_corr2d_multi_in(
    fn: Callable[..., Any], X: torch.Tensor, K: torch.Tensor, *, fname: str = "corr2d_multi_in"
) -> None:
    """``fn(X, K)``, X: (C_in, H, W), K: (C_in, kh, kw) -> (H', W'), the channels summed with no
    Python loop over them."""

    def reference(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        return F.conv2d(X[None], K[None])[0, 0]

    check.check_function(
        fn,
        (X, K),
        {},
        reference(X, K),
        fname=fname,
        shape_hint="the channels are summed: the output is (H - kh + 1, W - kw + 1)",
        variants=[
            (
                "you used only the first channel: sum over all of them",
                lambda: reference(X[:1], K[:1]),
            ),
            ("you averaged the channels: sum them instead", lambda: reference(X, K) / K.shape[0]),
            (_FLIPPED_TEXT, lambda: reference(X, K.flip(-1, -2))),
        ],
    )
    C, H, W = X.shape
    many = C + 16
    Xm = check.randn(many, H, W, seed=many, device=X.device).to(X.dtype)
    Km = check.randn(many, *K.shape[1:], seed=many + 1, device=X.device).to(X.dtype)
    check_no_output_loop(
        fn,
        (X, K),
        (Xm, Km),
        fname=fname,
        what="input channels",
        instead="multiply a whole (C_in, kh, kw) window by K and sum it in one operation "
        "(or loop over the kernel taps, each a (C_in, H', W') slice times K[:, a, b])",
    )


_FLIPPED_TEXT = (
    "your output equals torch's with the kernel flipped: this is convolution, not "
    "cross-correlation (slide K as it is, without flipping)"
)


def _channels_last_ref(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """NHWC input, HWIO kernel (TensorFlow's layouts) -> NHWC output."""
    return F.conv2d(X.permute(0, 3, 1, 2), K.permute(3, 2, 0, 1)).permute(0, 2, 3, 1)


def check_conv2d_channels_last(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    *,
    fname: str = "corr2d_multi_in_out",
) -> None:
    """``fn(X, K)``, X: (N, H, W, C_in), K: (kh, kw, C_in, C_out) -> (N, H', W', C_out), with no
    Python loop over channels."""
    kh, kw, C_in, C_out = K.shape
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (_FLIPPED_TEXT, lambda: _channels_last_ref(X, K.flip(0, 1))),
        (
            "your output is channels-first (N, C_out, H', W'): keep the channels last",
            lambda: _channels_last_ref(X, K).permute(0, 3, 1, 2),
        ),
    ]
    if kh == kw:
        variants.append(
            (
                "the kernel's spatial axes are swapped: K[a, b] is kernel row a, column b",
                lambda: _channels_last_ref(X, K.transpose(0, 1)),
            )
        )
    if C_in == C_out:
        variants.append(
            (
                "you read the kernel as (kh, kw, C_out, C_in): it is (kh, kw, C_in, C_out), so "
                "a tap is X_slice @ K[a, b] with the input channels first",
                lambda: _channels_last_ref(X, K.transpose(2, 3)),
            )
        )
    check.check_function(
        fn,
        (X, K),
        {},
        _channels_last_ref(X, K),
        fname=fname,
        shape_hint="channels last: (N, H - kh + 1, W - kw + 1, C_out)",
        variants=variants,
    )
    N, H, W, _ = X.shape
    Xm = check.randn(N, H, W, C_in + 12, seed=C_in + 3, device=X.device).to(X.dtype)
    Km = check.randn(kh, kw, C_in + 12, C_out + 12, seed=C_out + 4, device=X.device).to(X.dtype)
    check_no_output_loop(
        fn,
        (X, K),
        (Xm, Km),
        fname=fname,
        what="channels",
        instead="with the channels last, one tap is a matrix product on the last axis: "
        "X[:, a : a + H', b : b + W', :] @ K[a, b]",
    )


# --------------------------------------------------------------------------------------------
# chapter 5: fitting a 1x1 convolution by least squares


def _pixels(T: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C): one row per pixel."""
    return T.permute(0, 2, 3, 1).reshape(-1, T.shape[1])


def _lstsq_1x1(A: torch.Tensor, B: torch.Tensor, bias: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if bias:
        A = torch.cat([A, A.new_ones(A.shape[0], 1)], dim=1)
    Wt = torch.linalg.pinv(A) @ B  # (C_in [+ 1], C_out)
    C_out = B.shape[1]
    C_in = A.shape[1] - int(bias)
    K = Wt[:C_in].T.reshape(C_out, C_in, 1, 1).contiguous()
    b = Wt[C_in] if bias else B.new_zeros(C_out)
    return K, b


def check_fit_conv1x1(
    fn: Callable[..., Any], X: torch.Tensor, Y: torch.Tensor, *, fname: str = "fit_conv1x1"
) -> None:
    """``fn(X, Y)`` -> (K, b): the least-squares 1x1 weight (C_out, C_in, 1, 1) and bias (C_out,)
    mapping X: (N, C_in, H, W) to Y: (N, C_out, H, W), every pixel one equation."""
    K, b = _lstsq_1x1(_pixels(X), _pixels(Y), True)
    C_in, C_out = X.shape[1], Y.shape[1]

    def mixed() -> tuple[torch.Tensor, torch.Tensor]:
        return _lstsq_1x1(X.reshape(-1, C_in), Y.reshape(-1, C_out), True)

    def no_bias() -> tuple[torch.Tensor, torch.Tensor]:
        return _lstsq_1x1(_pixels(X), _pixels(Y), False)

    reshape_text = (
        "you reshaped (N, C, H, W) straight to (N*H*W, C), which mixes channels and pixels: "
        "move the channel axis last first (X.permute(0, 2, 3, 1)), then reshape"
    )
    bias_text = "the bias is not fitted: append a column of ones to the pixel matrix"
    k_variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (reshape_text, lambda: mixed()[0]),
        (bias_text, lambda: no_bias()[0]),
    ]
    if C_in == C_out:
        k_variants.append(
            (
                "your weight is transposed: K[o, c] maps input channel c to output channel o",
                lambda: K.transpose(0, 1),
            )
        )
    check.check_function(
        _pick(fn, 0),
        (X, Y),
        {},
        K,
        fname=f"{fname}(...)[0]",
        shape_hint="the weight is (C_out, C_in, 1, 1), as F.conv2d takes it",
        variants=k_variants,
        atol=1e-8,
        rtol=1e-6,
    )
    check.check_function(
        _pick(fn, 1),
        (X, Y),
        {},
        b,
        fname=f"{fname}(...)[1]",
        shape_hint="the bias is (C_out,)",
        variants=[(reshape_text, lambda: mixed()[1]), (bias_text, lambda: no_bias()[1])],
        atol=1e-8,
        rtol=1e-6,
    )


# --------------------------------------------------------------------------------------------
# chapter 6: groups without a loop over them, fusing a depthwise separable convolution


def check_conv2d_groups_vectorised(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    *,
    fname: str = "conv2d",
) -> None:
    """``fn(X, K, bias, stride, padding, dilation, groups)`` equals ``F.conv2d`` and has no
    Python loop over groups or channels (the groups are an axis of one contraction)."""
    settings: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }
    expected = F.conv2d(X, K, bias, **settings)
    N, C_in, H, W = X.shape
    C_out = K.shape[0]
    cpg, opg = C_in // groups, C_out // groups
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if groups > 1:
        variants.append(
            (
                "groups mix all channels: output channel o must only read the input channels "
                f"of its group, X[:, g*{cpg}:(g+1)*{cpg}] with g = o // {opg}",
                lambda: F.conv2d(X, K.repeat(1, groups, 1, 1), bias, stride, padding, dilation),
            )
        )
        if opg > 1:
            variants.append(
                (
                    "output channels in the wrong order: channel o = g*(out_channels // groups) "
                    "+ j belongs to group g, so reshape the channel axis as (groups, "
                    "out_channels // groups), not the other way round",
                    lambda: (
                        expected.reshape(N, groups, opg, *expected.shape[2:])
                        .transpose(1, 2)
                        .reshape(expected.shape)
                    ),
                )
            )
        if cpg > 1:
            interleaved = X.reshape(N, cpg, groups, H, W).transpose(1, 2).reshape(X.shape)
            variants.append(
                (
                    "input channels grouped in the wrong order: group g is the consecutive "
                    f"channels g*{cpg} ... (g+1)*{cpg} - 1, i.e. X.reshape(N, groups, "
                    "in_channels // groups, H, W), not every groups-th channel",
                    lambda: F.conv2d(interleaved, K, bias, **settings),
                )
            )
    if bias is not None:
        variants.append(
            ("bias not added", lambda: F.conv2d(X, K, None, **settings)),
        )
    check.check_function(
        fn,
        (X, K, bias, stride, padding, dilation, groups),
        {},
        expected,
        fname=fname,
        shape_hint=_shape_hint_conv() + " (with dilation*(kernel_size - 1) + 1 as the kernel)",
        variants=variants,
    )
    k = K.shape[-1]
    small = (
        check.randn(1, 2, 6, 6, seed=1, device=X.device).to(X.dtype),
        check.randn(2, 1, k, k, seed=2, device=X.device).to(X.dtype),
        None,
        1,
        0,
        1,
        2,
    )
    large = (
        check.randn(1, 24, 6, 6, seed=3, device=X.device).to(X.dtype),
        check.randn(24, 1, k, k, seed=4, device=X.device).to(X.dtype),
        None,
        1,
        0,
        1,
        24,
    )
    check_no_output_loop(
        fn,
        small,
        large,
        fname=fname,
        what="groups or channels",
        instead="view X as (N, groups, in_channels // groups, H, W) and K as (groups, "
        "out_channels // groups, in_channels // groups, kh, kw) and contract the channel axis "
        "of all groups at once (torch.einsum)",
    )


def _fuse_reference(Kd: torch.Tensor, Kp: torch.Tensor, C_in: int, order: str) -> torch.Tensor:
    m = Kd.shape[0] // C_in
    kh, kw = Kd.shape[-2:]
    C_out = Kp.shape[0]
    if order == "cm":  # depthwise output q = c*m + j comes from input channel c
        d = Kd.reshape(C_in, m, kh, kw)
        p = Kp.reshape(C_out, C_in, m)
    else:  # the mistake: q = j*C_in + c
        d = Kd.reshape(m, C_in, kh, kw).transpose(0, 1)
        p = Kp.reshape(C_out, m, C_in).transpose(1, 2)
    return torch.einsum("cjhw,ocj->ochw", d, p)


def check_fuse_depthwise_separable(
    fn: Callable[..., Any],
    K_depthwise: torch.Tensor,
    K_pointwise: torch.Tensor,
    in_channels: int,
    *,
    fname: str = "fuse_depthwise_separable",
) -> None:
    """``fn(K_depthwise, K_pointwise, in_channels)`` -> the (C_out, C_in, kh, kw) weight of the
    one ordinary convolution equal to depthwise (multiplier m) then pointwise."""
    expected = _fuse_reference(K_depthwise, K_pointwise, in_channels, "cm")
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if K_depthwise.shape[0] > in_channels and in_channels > 1:
        variants.append(
            (
                "depthwise output channels in the wrong order: with groups=in_channels, "
                "depthwise channel q = c*m + j comes from input channel c (its m kernels are "
                "consecutive), not q = j*in_channels + c",
                lambda: _fuse_reference(K_depthwise, K_pointwise, in_channels, "mc"),
            )
        )
    check.check_function(
        fn,
        (K_depthwise, K_pointwise, in_channels),
        {},
        expected,
        fname=fname,
        shape_hint="the fused weight is (C_out, in_channels, kh, kw): sum over the depth "
        "multiplier's m kernels of each input channel",
        variants=variants,
    )


# --------------------------------------------------------------------------------------------
# chapter 7: N-d kernel dilation, dilated convolution over taps


def _dilate_reference(K: torch.Tensor, dilation: Sequence[int]) -> torch.Tensor:
    n = len(dilation)
    sizes = [d * (k - 1) + 1 for k, d in zip(K.shape[-n:], dilation, strict=True)]
    out = K.new_zeros((*K.shape[:-n], *sizes))
    index: Any = (..., *[slice(None, None, d) for d in dilation])
    out[index] = K
    return out


def check_dilate_kernel(
    fn: Callable[..., Any],
    K: torch.Tensor,
    dilation: Sequence[int],
    *,
    fname: str = "dilate_kernel",
) -> None:
    """``fn(K, dilation)`` with ``dilation`` a tuple for the last len(dilation) axes of K."""
    dilation = tuple(dilation)
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if dilation != dilation[::-1]:
        variants.append(
            (
                "the dilations are applied to the axes in reverse order: dilation[0] belongs to "
                "the first of the last len(dilation) axes (K.shape[-len(dilation)])",
                lambda: _dilate_reference(K, dilation[::-1]),
            )
        )
    if len(dilation) != 2 and K.ndim >= 2:
        variants.append(
            (
                "you dilated the last two axes only: dilate the last len(dilation) axes",
                lambda: _dilate_reference(K, (dilation[-1],) * 2),
            )
        )
    check.check_function(
        fn,
        (K, dilation),
        {},
        _dilate_reference(K, dilation),
        fname=fname,
        shape_hint="each dilated axis spans d*(k - 1) + 1 entries (not d*k): no trailing zeros",
        variants=variants,
    )


def check_conv2d_dilated_taps(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    dilation: int = 1,
    stride: int = 1,
    padding: int = 0,
    *,
    fname: str = "conv2d_dilated",
) -> None:
    """``fn(X, K, dilation=, stride=, padding=)`` equals ``F.conv2d`` and loops over the kernel
    taps only, not over output positions."""
    settings: dict[str, Any] = {"dilation": dilation, "stride": stride, "padding": padding}

    def conv(**changes: int) -> Callable[[], torch.Tensor]:
        return lambda: F.conv2d(X, K, **{**settings, **changes})

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (_FLIPPED_TEXT, lambda: F.conv2d(X, K.flip(-1, -2), **settings)),
    ]
    if dilation != stride:
        variants.append(
            (
                "stride and dilation swapped: tap (a, b) starts at (a*dilation, b*dilation) and "
                "steps by the stride from one output to the next",
                conv(dilation=stride, stride=dilation),
            )
        )
    for name, default in (("dilation", 1), ("stride", 1), ("padding", 0)):
        if settings[name] != default:
            variants.append((f"{name} is ignored", conv(**{name: default})))
    check.check_function(
        fn,
        (X, K),
        settings,
        F.conv2d(X, K, **settings),
        fname=fname,
        shape_hint="out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1",
        variants=variants,
    )
    N, C, H, W = X.shape
    big = check.randn(N, C, H + 14, W + 14, seed=H + W, device=X.device).to(X.dtype)
    check_no_output_loop(
        fn,
        (X, K),
        (big, K),
        settings,
        fname=fname,
        instead="loop over the kh*kw taps: tap (a, b) reads the slice starting at "
        "(a*dilation, b*dilation) with step stride, Xp[:, :, a*d : a*d + (H_out - 1)*s + 1 : s, "
        "...], and contracts its channels with K[:, :, a, b]",
    )


# --------------------------------------------------------------------------------------------
# chapter 8: output_padding, the channel matrix, transposed convolution over taps


def output_padding_reference(
    size: int, target: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """The output_padding that makes ``F.conv_transpose1d`` return ``target``, or -1 if none."""
    x = torch.zeros(1, 1, size)
    k = torch.zeros(1, 1, kernel_size)
    for a in range(max(stride, dilation)):
        got = F.conv_transpose1d(
            x, k, stride=stride, padding=padding, output_padding=a, dilation=dilation
        )
        if got.shape[-1] == target:
            return a
    return -1


def check_output_padding(
    fn: Callable[..., Any],
    size: int,
    target: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    fname: str = "conv_transpose_output_padding",
) -> None:
    """``fn(size, target, kernel_size, stride=, padding=, dilation=)`` -> output_padding or -1."""
    expected = output_padding_reference(size, target, kernel_size, stride, padding, dilation)
    check.check_int(
        fn,
        (size, target, kernel_size),
        {"stride": stride, "padding": padding, "dilation": dilation},
        expected,
        fname=fname,
        hint="output_padding = target - ((size - 1)*stride - 2*padding + dilation*(kernel_size - "
        "1) + 1); torch accepts it only if 0 <= output_padding < max(stride, dilation), "
        "otherwise no output_padding works: return -1",
    )


def conv_matrix_channels_reference(
    K: torch.Tensor,
    input_size: tuple[int, int],
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """C with C @ X.flatten() == F.conv2d(X[None], K, ...).flatten() for X: (C_in, H, W)."""
    H, W = input_size
    C_in = K.shape[1]
    n = C_in * H * W
    basis = torch.eye(n, dtype=K.dtype, device=K.device).reshape(n, C_in, H, W)
    columns = F.conv2d(basis, K, stride=stride, padding=padding, dilation=dilation)
    return columns.reshape(n, -1).T.contiguous()


def check_conv_matrix_channels(
    fn: Callable[..., Any],
    K: torch.Tensor,
    input_size: tuple[int, int],
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    fname: str = "conv_matrix",
) -> None:
    """``fn(K, input_size, stride=, padding=, dilation=)`` with K: (C_out, C_in, kh, kw) returns
    the (C_out*H'*W', C_in*H*W) matrix of the convolution, with no loop over output positions."""
    settings: dict[str, Any] = {"stride": stride, "padding": padding, "dilation": dilation}
    expected = conv_matrix_channels_reference(K, input_size, **settings)
    H, W = input_size
    C_out, C_in = K.shape[:2]

    def channels_last_columns() -> torch.Tensor:
        return expected.reshape(-1, C_in, H * W).transpose(1, 2).reshape(expected.shape)

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("you returned C^T (the transpose of C)", lambda: expected.T),
        (
            _FLIPPED_TEXT,
            lambda: conv_matrix_channels_reference(K.flip(-1, -2), input_size, **settings),
        ),
    ]
    if C_in > 1:
        variants.append(
            (
                "columns in (h, w, c) order: flatten X as (C_in, H, W), so column c*H*W + h*W + w "
                "is input channel c at (h, w)",
                channels_last_columns,
            )
        )
    for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
        if settings[name] != default:
            variants.append(
                (
                    f"{name} is ignored",
                    functools.partial(
                        conv_matrix_channels_reference, K, input_size, **{**settings, name: default}
                    ),
                )
            )
    check.check_function(
        fn,
        (K, input_size),
        settings,
        expected,
        fname=fname,
        shape_hint="C has one row per output value (C_out*H'*W', in (o, i, j) order) and one "
        "column per input value (C_in*H*W, in (c, h, w) order)",
        variants=variants,
    )
    check_no_output_loop(
        fn,
        (K, input_size),
        (K, (H + 12, W + 12)),
        settings,
        fname=fname,
        instead="loop over the kh*kw taps: for tap (a, b), index tensors of all output "
        "positions (i, j) give the column of the input pixel (i*s + a*d - p, j*s + b*d - p) "
        "each row reads; keep those inside the image and write K[:, :, a, b] there at once",
    )


def check_conv_transpose2d_taps(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
    *,
    fname: str = "conv_transpose2d",
) -> None:
    """``fn`` equals ``F.conv_transpose2d`` and loops over the kernel taps, not input pixels."""
    check.check_conv_transpose2d(
        fn,
        X,
        K,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        fname=fname,
    )
    N, C, H, W = X.shape
    big = check.randn(N, C, H + 10, W + 10, seed=H * W, device=X.device).to(X.dtype)
    settings: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "output_padding": output_padding,
        "dilation": dilation,
    }
    check_no_output_loop(
        fn,
        (X, K),
        (big, K),
        settings,
        fname=fname,
        what="input positions",
        instead="loop over the kh*kw taps: tap (a, b) adds X contracted with K[:, :, a, b] onto "
        "the strided slice Y[:, :, a*d : a*d + (H - 1)*s + 1 : s, b*d : b*d + (W - 1)*s + 1 : s]",
    )


# --------------------------------------------------------------------------------------------
# chapter 10: im2col in any dimension, grouped GEMM, col2im without a loop over positions


def unfold_nd_reference(
    X: torch.Tensor, kernel_size: Sequence[int], stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """im2col for X: (N, C, *spatial) with a d-dimensional kernel: (N, C*prod(k), L), rows in
    (c, kernel offsets row-major) order, columns the output positions row-major."""
    N, C = X.shape[:2]
    d = X.ndim - 2
    taps = 1
    for k in kernel_size:
        taps *= k
    conv = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
    eye = torch.eye(taps, dtype=X.dtype, device=X.device).reshape(taps, 1, *kernel_size)
    out = conv(X.reshape(N * C, 1, *X.shape[2:]), eye, stride=stride, padding=padding)
    return out.reshape(N, C * taps, -1)


def check_im2col_nd(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int | Sequence[int],
    padding: int = 0,
    stride: int = 1,
    *,
    fname: str = "im2col",
) -> None:
    """``fn(X, kernel_size, padding=, stride=)`` for X: (N, C, *spatial), 1 to 3 spatial axes,
    equal to F.unfold's layout generalised; no Python loop over output positions."""
    d = X.ndim - 2
    ks = (kernel_size,) * d if isinstance(kernel_size, int) else tuple(kernel_size)
    expected = unfold_nd_reference(X, ks, stride, padding)
    N, C = X.shape[:2]
    taps = expected.shape[1] // C
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if C > 1:
        variants.append(
            (
                "rows in (kernel offset, c) order: list a window channel first, (c, offsets)",
                lambda: expected.reshape(N, C, taps, -1).transpose(1, 2).reshape(expected.shape),
            )
        )
    out_sizes = [(n + 2 * padding - k) // stride + 1 for n, k in zip(X.shape[2:], ks, strict=True)]
    if d > 1:
        variants.append(
            (
                "the output positions (columns) are not in row-major order: the last spatial "
                "axis varies fastest (l = i*out_w + j in 2D)",
                lambda: (
                    expected.reshape(N, -1, *out_sizes)
                    .permute(0, 1, *range(d + 1, 1, -1))
                    .reshape(expected.shape)
                ),
            )
        )
    if padding:
        variants.append(
            (
                "padding is ignored",
                lambda: unfold_nd_reference(X, ks, stride, 0),
            )
        )
    check.check_function(
        fn,
        (X, kernel_size),
        {"padding": padding, "stride": stride},
        expected,
        fname=fname,
        forbidden=check.UNFOLD_OPS | check.CONV_OPS,
        shape_hint="(N, C*prod(kernel_size), L) with L the number of output positions, "
        "out = (in + 2*padding - k) // stride + 1 along every axis",
        variants=variants,
    )
    grown = [n + 8 for n in X.shape[2:]]
    big = check.randn(N, C, *grown, seed=sum(grown), device=X.device).to(X.dtype)
    check_no_output_loop(
        fn,
        (X, kernel_size),
        (big, kernel_size),
        {"padding": padding, "stride": stride},
        fname=fname,
        instead="loop over the kernel offsets (itertools.product over range(k) per axis): "
        "offset (a, b, ...) fills the rows of that offset for every channel with one strided "
        "slice of the padded input, flattened",
    )


def check_conv2d_gemm_groups(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
    *,
    fname: str = "conv2d_gemm",
) -> None:
    """``fn(X, K, bias, stride, padding, groups)`` equals ``F.conv2d``, one batched matrix
    product for all groups (no Python loop over them)."""
    check.check_conv2d(
        fn,
        X,
        K,
        bias=bias,
        stride=stride,
        padding=padding,
        groups=groups,
        fname=fname,
        forbidden=check.CONV_OPS | check.UNFOLD_OPS,
    )
    k = K.shape[-1]
    dev, dt = X.device, X.dtype
    small = (
        check.randn(1, 2, 6, 6, seed=5, device=dev).to(dt),
        check.randn(2, 1, k, k, seed=6, device=dev).to(dt),
        None,
        1,
        0,
        2,
    )
    large = (
        check.randn(1, 24, 6, 6, seed=7, device=dev).to(dt),
        check.randn(24, 1, k, k, seed=8, device=dev).to(dt),
        None,
        1,
        0,
        24,
    )
    check_no_output_loop(
        fn,
        small,
        large,
        fname=fname,
        what="groups",
        instead="one batched matrix product: columns viewed as (N, groups, C_in/groups*kh*kw, "
        "L), weight as (groups, C_out/groups, C_in/groups*kh*kw), multiplied with @ or einsum",
    )


def _fold_overwrite(
    cols: torch.Tensor, size: tuple[int, int], k: int, padding: int, stride: int
) -> torch.Tensor:
    """col2im that assigns instead of adding (tap by tap): the last tap wins on overlaps."""
    N, CKK, L = cols.shape
    C = CKK // (k * k)
    H, W = size
    Ho = (H + 2 * padding - k) // stride + 1
    Wo = L // Ho
    out = cols.new_zeros(N, C, H + 2 * padding, W + 2 * padding)
    blocks = cols.reshape(N, C, k, k, Ho, Wo)
    for a in range(k):
        for b in range(k):
            out[
                :, :, a : a + (Ho - 1) * stride + 1 : stride, b : b + (Wo - 1) * stride + 1 : stride
            ] = blocks[:, :, a, b]
    return out[:, :, padding : padding + H, padding : padding + W]


def check_col2im(
    fn: Callable[..., Any],
    cols: torch.Tensor,
    output_size: tuple[int, int],
    kernel_size: int,
    padding: int = 0,
    stride: int = 1,
    *,
    fname: str = "col2im",
) -> None:
    """``fn(cols, output_size, kernel_size, padding=, stride=)`` equals ``F.fold`` and has no
    Python loop over the output positions (the columns)."""
    settings: dict[str, Any] = {"padding": padding, "stride": stride}
    expected = F.fold(cols, output_size, kernel_size, **settings)
    ones = torch.ones_like(cols)
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "overlapping windows must add up, not be averaged",
            lambda: expected / F.fold(ones, output_size, kernel_size, **settings).clamp(min=1),
        ),
        (
            "overlapping windows overwrite each other: where windows overlap their entries "
            "ADD up (+= on the slice, or index_add_), not assignment",
            lambda: _fold_overwrite(cols, output_size, kernel_size, padding, stride),
        ),
    ]
    check.check_function(
        fn,
        (cols, output_size, kernel_size),
        settings,
        expected,
        fname=fname,
        forbidden=check.UNFOLD_OPS | check.CONV_OPS,
        shape_hint="(N, C, H, W) with C = columns.shape[1] // kernel_size**2: crop the padding",
        variants=variants,
    )
    N, CKK, _ = cols.shape
    H, W = output_size
    bigger = (H + 10, W + 10)
    L = ((H + 10 + 2 * padding - kernel_size) // stride + 1) * (
        (W + 10 + 2 * padding - kernel_size) // stride + 1
    )
    big = check.randn(N, CKK, L, seed=L, device=cols.device).to(cols.dtype)
    check_no_output_loop(
        fn,
        (cols, output_size, kernel_size),
        (big, bigger, kernel_size),
        settings,
        fname=fname,
        what="columns (output positions)",
        instead="loop over the kernel taps: the row block of tap (a, b), reshaped to "
        "(N, C, out_h, out_w), is added onto the strided slice starting at (a, b)",
    )


# --------------------------------------------------------------------------------------------
# chapter 11: pooling with dilation and ceil_mode, over taps


def check_max_pool2d_taps(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    *,
    fname: str = "max_pool2d",
) -> None:
    """``fn(X, kernel_size, stride=, padding=, dilation=, ceil_mode=)`` equals ``F.max_pool2d``,
    a running maximum over the kernel taps (no loop over output positions)."""
    settings: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "ceil_mode": ceil_mode,
    }

    def pool(**changes: Any) -> Callable[[], torch.Tensor]:
        return lambda: F.max_pool2d(X, kernel_size, **{**settings, **changes})

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if stride is None:
        variants.append(
            ("stride is ignored: when stride is None it defaults to kernel_size", pool(stride=1))
        )
    if padding:
        pads = (padding,) * 4
        variants.append(
            (
                "padded with zeros: max pooling pads with -inf, so padding never wins the max",
                lambda: F.max_pool2d(F.pad(X, pads), kernel_size, **{**settings, "padding": 0}),
            )
        )
    if dilation != 1:
        variants.append(("dilation is ignored", pool(dilation=1)))
    if ceil_mode:
        variants.append(("ceil_mode is ignored", pool(ceil_mode=False)))
    variants.append(
        (
            "your output is average pooling, not max pooling",
            lambda: F.avg_pool2d(X, kernel_size, stride, padding, ceil_mode),
        )
    )
    check.check_function(
        fn,
        (X, kernel_size),
        settings,
        F.max_pool2d(X, kernel_size, **settings),
        fname=fname,
        forbidden=check.POOL_OPS | _ALL_CONV,
        shape_hint="out = floor((in + 2*padding - dilation*(k - 1) - 1) / stride) + 1 (ceil with "
        "ceil_mode, dropping a last window that would start in the right padding)",
        variants=variants,
    )
    N, C, H, W = X.shape
    big = check.randn(N, C, H + 12, W + 12, seed=H + 7, device=X.device).to(X.dtype)
    check_no_output_loop(
        fn,
        (X, kernel_size),
        (big, kernel_size),
        settings,
        fname=fname,
        instead="loop over the k*k taps and keep a running torch.maximum of the strided slices "
        "Xp[:, :, a*d : a*d + (H_out - 1)*s + 1 : s, ...]",
    )


def check_avg_pool2d_taps(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int,
    stride: int | None = None,
    padding: int = 0,
    count_include_pad: bool = True,
    *,
    fname: str = "avg_pool2d",
) -> None:
    """``fn`` equals ``F.avg_pool2d`` (both count_include_pad) with no loop over positions."""
    check.check_avg_pool2d(
        fn,
        X,
        kernel_size,
        stride=stride,
        padding=padding,
        count_include_pad=count_include_pad,
        fname=fname,
    )
    N, C, H, W = X.shape
    big = check.randn(N, C, H + 12, W + 12, seed=H + 9, device=X.device).to(X.dtype)
    check_no_output_loop(
        fn,
        (X, kernel_size),
        (big, kernel_size),
        {"stride": stride, "padding": padding, "count_include_pad": count_include_pad},
        fname=fname,
        instead="sum the k*k strided slices (one per tap), and divide by the same sum taken "
        "over a mask of ones (the real pixels) when count_include_pad=False",
    )


# --------------------------------------------------------------------------------------------
# chapter 9: backward


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _fold_circular(dXp: torch.Tensor, ph: int, pw: int, H: int, W: int) -> torch.Tensor:
    """The adjoint of circular padding: padded row q is row (q - ph) mod H, so add it there."""
    rows = (torch.arange(dXp.shape[-2], device=dXp.device) - ph) % H
    cols = (torch.arange(dXp.shape[-1], device=dXp.device) - pw) % W
    out = dXp.new_zeros(*dXp.shape[:-2], H, dXp.shape[-1]).index_add_(-2, rows, dXp)
    return out.new_zeros(*dXp.shape[:-2], H, W).index_add_(-1, cols, out)


def _scatter_input_grad(
    dY: torch.Tensor,
    K: torch.Tensor,
    input_shape: Sequence[int],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """dX by scattering dY * K tap by tap (used with wrong settings, to name mistakes)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    N, C_in, H, W = input_shape
    C_out, cpg, kh, kw = K.shape
    Ho, Wo = dY.shape[-2:]
    dXp = dY.new_zeros(
        N,
        C_in,
        max(H + 2 * ph, (Ho - 1) * sh + dh * (kh - 1) + 1),
        max(W + 2 * pw, (Wo - 1) * sw + dw * (kw - 1) + 1),
    )
    opg = C_out // groups
    for g in range(groups):
        dYg, Kg = dY[:, g * opg : (g + 1) * opg], K[g * opg : (g + 1) * opg]
        for a in range(kh):
            for b in range(kw):
                rows = slice(a * dh, a * dh + (Ho - 1) * sh + 1, sh)
                cols = slice(b * dw, b * dw + (Wo - 1) * sw + 1, sw)
                dXp[:, g * cpg : (g + 1) * cpg, rows, cols] += torch.einsum(
                    "nohw,oc->nchw", dYg, Kg[:, :, a, b]
                )
    if padding_mode == "circular":
        return _fold_circular(dXp[..., : H + 2 * ph, : W + 2 * pw], ph, pw, H, W)
    return dXp[:, :, ph : ph + H, pw : pw + W]


def _gather_weight_grad(
    X: torch.Tensor,
    dY: torch.Tensor,
    kernel_shape: Sequence[int],
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> torch.Tensor:
    """dK by a correlation of X with dY, tap by tap (used with wrong settings)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    C_out, cpg, kh, kw = kernel_shape
    Ho, Wo = dY.shape[-2:]
    Xp = F.pad(X, (pw, pw, ph, ph))
    need_h, need_w = (Ho - 1) * sh + dh * (kh - 1) + 1, (Wo - 1) * sw + dw * (kw - 1) + 1
    Xp = F.pad(Xp, (0, max(0, need_w - Xp.shape[-1]), 0, max(0, need_h - Xp.shape[-2])))
    dK = dY.new_zeros(C_out, cpg, kh, kw)
    opg = C_out // groups
    for g in range(groups):
        for a in range(kh):
            for b in range(kw):
                win = Xp[
                    :,
                    g * cpg : (g + 1) * cpg,
                    a * dh : a * dh + (Ho - 1) * sh + 1 : sh,
                    b * dw : b * dw + (Wo - 1) * sw + 1 : sw,
                ]
                dK[g * opg : (g + 1) * opg, :, a, b] = torch.einsum(
                    "nchw,nohw->oc", win, dY[:, g * opg : (g + 1) * opg]
                )
    return dK


def _autograd_grads(
    X: torch.Tensor, K: torch.Tensor, dY: torch.Tensor, padding_mode: str = "zeros", **settings: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    Xg = X.detach().clone().requires_grad_()
    Kg = K.detach().clone().requires_grad_()
    with torch.enable_grad():
        if padding_mode == "circular":
            p = settings.pop("padding", 0)
            Y = F.conv2d(F.pad(Xg, (p, p, p, p), mode="circular"), Kg, **settings)
        else:
            Y = F.conv2d(Xg, Kg, **settings)
        Y.backward(dY)
    assert Xg.grad is not None and Kg.grad is not None
    return Xg.grad, Kg.grad


_BACKWARD_FORBIDDEN = _ALL_CONV | AUTOGRAD_OPS


def check_conv2d_grad_input(
    fn: Callable[..., Any],
    dY: torch.Tensor,
    K: torch.Tensor,
    input_shape: Sequence[int],
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    fname: str = "conv2d_grad_input",
) -> None:
    """``fn(dY, K, input_shape, stride=, padding=, dilation=, groups=, padding_mode=)`` equals
    autograd's dL/dX through ``F.conv2d`` (after ``F.pad(mode="circular")`` if circular)."""
    settings: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }
    X = dY.new_zeros(tuple(input_shape))
    expected, _ = _autograd_grads(X, K, dY, padding_mode, **settings)

    def wrong(**changes: Any) -> Callable[[], torch.Tensor]:
        merged = {**settings, "padding_mode": padding_mode, **changes}
        kernel = merged.pop("kernel", K)
        return lambda: _scatter_input_grad(dY, kernel, input_shape, **merged)

    variants = [
        (
            "your dX uses the kernel flipped the wrong way: as a convolution of the zero-inserted "
            "dY, dX uses K rotated by 180 degrees (or scatter dY[i, j] * K as it is)",
            wrong(kernel=K.flip(-1, -2)),
        ),
    ]
    if padding_mode == "circular" and padding:
        variants.append(
            (
                "you cropped the padding away: with circular padding the padded border rows ARE "
                "input rows (q - padding) mod H, so their gradient must be added there (wrapped "
                "around), not dropped",
                wrong(padding_mode="zeros"),
            )
        )
    if stride != 1:
        variants.append(
            (
                "stride not undone: output (i, j) came from input row "
                "i*stride + a*dilation - padding, so spread dY out by the stride "
                "(insert stride - 1 zeros between its entries) before the kernel",
                wrong(stride=1),
            )
        )
    if dilation != 1:
        variants.append(
            ("dilation ignored: tap (a, b) sits at a*dilation, b*dilation", wrong(dilation=1))
        )
    if groups != 1:
        variants.append(
            (
                "groups mixed: the gradient of input channel c only comes from the output "
                "channels of its own group",
                lambda: _scatter_input_grad(
                    dY,
                    K.repeat(1, groups, 1, 1),
                    input_shape,
                    stride,
                    padding,
                    dilation,
                    1,
                    padding_mode,
                ),
            )
        )
    check.check_function(
        fn,
        (dY, K, tuple(input_shape)),
        {**settings, "padding_mode": padding_mode},
        expected,
        fname=fname,
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="dL/dX has the input's shape: remove (or, circular, fold back) the padding",
        variants=variants,
    )


def check_conv2d_grad_weight_per_sample(
    fn: Callable[..., Any],
    X: torch.Tensor,
    dY: torch.Tensor,
    kernel_shape: Sequence[int],
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    *,
    fname: str = "conv2d_grad_weight_per_sample",
) -> None:
    """``fn(X, dY, kernel_shape, stride=, ...)`` = dL_n/dK for every image n: (N, *kernel_shape)
    (autograd, one image at a time)."""
    settings: dict[str, Any] = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }
    K = X.new_zeros(tuple(kernel_shape))
    expected = torch.stack(
        [_autograd_grads(X[n : n + 1], K, dY[n : n + 1], **settings)[1] for n in range(len(X))]
    )

    def per_sample(**changes: Any) -> Callable[[], torch.Tensor]:
        merged = {**settings, **changes}
        return lambda: torch.stack(
            [
                _gather_weight_grad(X[n : n + 1], dY[n : n + 1], kernel_shape, **merged)
                for n in range(len(X))
            ]
        )

    variants = [
        (
            "your dK is flipped: dK[n, o, c, a, b] = sum over i, j of "
            "X_padded[n, c, i*stride + a*dilation, j*stride + b*dilation] * dY[n, o, i, j]",
            lambda: expected.flip(-1, -2),
        ),
        (
            "you summed over the batch: that is the ordinary dK (C_out, C_in // groups, kh, kw); "
            "keep one gradient per image, (N, C_out, C_in // groups, kh, kw)",
            lambda: expected.sum(0),
        ),
        (
            "every image got the batch's summed gradient: sum over i, j only, not over n",
            lambda: expected.sum(0, keepdim=True).expand_as(expected),
        ),
    ]
    if stride != 1:
        variants.append(
            (
                "stride not undone: dY[n, o, i, j] pairs with X at row i*stride + a*dilation",
                per_sample(stride=1),
            )
        )
    if dilation != 1:
        variants.append(
            (
                "dilation ignored: tap (a, b) reads X at a*dilation, b*dilation",
                per_sample(dilation=1),
            )
        )
    check.check_function(
        fn,
        (X, dY, tuple(kernel_shape)),
        settings,
        expected,
        fname=fname,
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="one kernel gradient per image: (N, C_out, C_in // groups, kh, kw)",
        variants=variants,
    )


def check_conv2d_grad_bias(
    fn: Callable[..., Any],
    dY: torch.Tensor,
    untied: bool = False,
    *,
    fname: str = "conv2d_grad_bias",
) -> None:
    """``fn(dY, untied=)``: dL/dbias for a shared bias (C_out,) or an untied one (C_out, H', W')
    (one bias per output position, as in locally connected layers); autograd."""
    shape = dY.shape[1:] if untied else dY.shape[1:2]
    bias = dY.new_zeros(shape, requires_grad=True)
    with torch.enable_grad():
        b = bias[None] if untied else bias[None, :, None, None]
        (b * dY).sum().backward()
    assert bias.grad is not None
    expected = bias.grad
    reduce_positions = () if untied else (1, 2)
    check.check_function(
        fn,
        (dY,),
        {"untied": untied},
        expected,
        fname=fname,
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="shared: one gradient per output channel (C_out,); untied: one per output "
        "channel and position (C_out, H', W')",
        variants=[
            (
                "bias gradient not summed over the batch: the bias is added to every image, so "
                "sum dY over n too",
                lambda: dY[0].sum(reduce_positions) if reduce_positions else dY[0],
            ),
            (
                "bias gradient averaged: the loss is a sum, so sum (do not divide)",
                lambda: dY.mean((0, 2, 3)) if not untied else dY.mean(0),
            ),
            (
                "untied: one bias per output position, so sum over the batch only",
                lambda: dY.sum((0, 2, 3)),
            ),
            (
                "shared: sum over the positions too, one gradient per output channel",
                lambda: dY.sum(0),
            ),
        ],
    )


def check_conv_transpose2d_backward(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    dY: torch.Tensor,
    stride: int = 1,
    padding: int = 0,
    *,
    fname: str = "conv_transpose2d_backward",
) -> None:
    """``fn(X, K, dY, stride=, padding=) -> (dX, dK)`` for Y = F.conv_transpose2d(X, K, ...)."""
    kwargs: dict[str, object] = {"stride": stride, "padding": padding}
    Xg = X.detach().clone().requires_grad_()
    Kg = K.detach().clone().requires_grad_()
    with torch.enable_grad():
        F.conv_transpose2d(Xg, Kg, stride=stride, padding=padding).backward(dY)
    assert Xg.grad is not None and Kg.grad is not None
    dK = Kg.grad
    check.check_function(
        _pick(fn, 0),
        (X, K, dY),
        kwargs,
        Xg.grad,
        fname=f"{fname}[0] (dX)",
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="dX has X's shape (N, C_in, H, W)",
        variants=[
            (
                "dX uses the flipped kernel: the gradient of a transposed convolution is an "
                "ordinary cross-correlation conv2d(dY, K) with the same stride and padding",
                lambda: F.conv2d(dY, K.flip(-1, -2), stride=stride, padding=padding),
            ),
            (
                "stride not applied: dX[i] gathers dY at i*stride + a - padding",
                lambda: F.conv2d(dY, K, padding=padding)[..., : X.shape[-2], : X.shape[-1]],
            ),
        ],
    )
    check.check_function(
        _pick(fn, 1),
        (X, K, dY),
        kwargs,
        dK,
        fname=f"{fname}[1] (dK)",
        forbidden=_BACKWARD_FORBIDDEN,
        shape_hint="dK has K's shape (C_in, C_out, kh, kw)",
        variants=[
            ("dK is flipped", lambda: dK.flip(-1, -2)),
            (
                "dK not summed over the batch",
                lambda: _gather_weight_grad(
                    dY[:1], X[:1], (K.shape[0], K.shape[1], *K.shape[2:]), stride, padding, 1, 1
                ),
            ),
        ],
    )


# --------------------------------------------------------------------------------------------
# chapter 12: 1D and 3D


def _conv_nd_variants(
    op: Callable[..., torch.Tensor],
    X: torch.Tensor,
    K: torch.Tensor,
    settings: dict[str, Any],
    dims: int,
) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    flip_dims = tuple(range(-dims, 0))
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "your output equals torch's with the kernel flipped: slide K as it is",
            lambda: op(X, K.flip(flip_dims), **settings),
        ),
    ]
    if settings.get("bias") is not None:
        variants.append(
            (
                "bias not added: add bias[c_out] to every output of channel c_out",
                lambda: op(X, K, **{**settings, "bias": None}),
            )
        )
    for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
        if settings.get(name, default) not in (default, (default,) * dims):
            variants.append(
                (
                    f"{name} is ignored (your output is torch's with {name}={default})",
                    functools.partial(op, X, K, **{**settings, name: default}),
                )
            )
    return variants


def check_conv1d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    fname: str = "conv1d",
    vectorised: bool = True,
) -> None:
    """``fn(X, K, bias, stride=, padding=, dilation=)`` equals ``F.conv1d``; taps loop only."""
    settings: dict[str, Any] = {
        "bias": bias,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
    }
    check.check_function(
        fn,
        (X, K),
        settings,
        F.conv1d(X, K, **settings),
        fname=fname,
        forbidden=_ALL_CONV,
        shape_hint="out = (L + 2*padding - dilation*(k - 1) - 1) // stride + 1",
        variants=_conv_nd_variants(F.conv1d, X, K, settings, 1),
    )
    if vectorised:
        big = check.randn(*X.shape[:-1], X.shape[-1] * 4 + 20, seed=X.shape[-1], device=X.device)
        check_no_output_loop(
            fn,
            (X, K),
            (big.to(X.dtype), K),
            settings,
            fname=fname,
            what="output time steps",
            instead="loop over the k taps, each a strided slice of X",
        )


def check_conv3d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] = 0,
    *,
    fname: str = "conv3d",
) -> None:
    """``fn(X, K, bias, stride=, padding=)`` equals ``F.conv3d`` on (N, C, T, H, W)."""
    settings: dict[str, Any] = {"bias": bias, "stride": stride, "padding": padding}
    variants = _conv_nd_variants(F.conv3d, X, K, settings, 3)
    variants.append(
        (
            "your output convolves each frame separately (no sum over time taps): a 3D "
            "kernel also slides along T",
            lambda: F.conv3d(X, K[:, :, K.shape[2] // 2 : K.shape[2] // 2 + 1], **settings),
        )
    )
    check.check_function(
        fn,
        (X, K),
        settings,
        F.conv3d(X, K, **settings),
        fname=fname,
        forbidden=_ALL_CONV,
        shape_hint="each of T, H, W: out = (in + 2*padding - k) // stride + 1",
        variants=variants,
    )
    N, C, T, H, W = X.shape
    big = check.randn(N, C, T + 4, H + 8, W + 8, seed=T + H, device=X.device).to(X.dtype)
    check_no_output_loop(
        fn,
        (X, K),
        (big, K),
        settings,
        fname=fname,
        instead="loop over the kt*kh*kw taps, each a strided slice of X",
    )


def check_causal_conv1d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    dilation: int = 1,
    *,
    fname: str = "causal_conv1d",
) -> None:
    """``fn(X, K, dilation=)``: output t sees only inputs <= t; output length = input length."""
    k = K.shape[-1]
    span = dilation * (k - 1)
    expected = F.conv1d(F.pad(X, (span, 0)), K, dilation=dilation)
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "you padded on the right: output t then sees inputs after t (the future). Pad "
            "dilation*(k-1) zeros on the LEFT only",
            lambda: F.conv1d(F.pad(X, (0, span)), K, dilation=dilation),
        ),
        (
            "you padded both sides ('same'): output t sees the future. Pad dilation*(k-1) zeros "
            "on the left only",
            lambda: F.conv1d(F.pad(X, (span // 2, span - span // 2)), K, dilation=dilation),
        ),
        (
            "you padded k - 1 zeros: with dilation the kernel spans dilation*(k-1) + 1 steps",
            lambda: F.conv1d(F.pad(X, (k - 1, 0)), K, dilation=dilation),
        ),
        (
            "your output equals torch's with the kernel flipped: slide K as it is",
            lambda: F.conv1d(F.pad(X, (span, 0)), K.flip(-1), dilation=dilation),
        ),
    ]
    check.check_function(
        fn,
        (X, K),
        {"dilation": dilation},
        expected,
        fname=fname,
        forbidden=_ALL_CONV,
        shape_hint="a causal convolution keeps the length: pad dilation*(k-1) on the left",
        variants=variants,
    )
    # Causality: the same check on an input changed from t0 on (a right-padded or centred
    # version reads the change early).
    changed = X.clone()
    changed[..., X.shape[-1] // 2 :] += 1.0
    check.check_function(
        fn,
        (changed, K),
        {"dilation": dilation},
        F.conv1d(F.pad(changed, (span, 0)), K, dilation=dilation),
        fname=fname,
        forbidden=_ALL_CONV,
        variants=variants,
    )


def check_causal_receptive_field(
    fn: Callable[..., Any],
    kernel_size: int,
    dilations: Sequence[int],
    *,
    fname: str = "receptive_field",
) -> None:
    """``fn(kernel_size, dilations)``: how many past inputs (itself included) reach one output."""
    # Measured, not by formula: push an impulse through the stack of causal convolutions.
    span = sum(d * (kernel_size - 1) for d in dilations)
    L = span + 8
    x = torch.zeros(1, 1, L, dtype=torch.float64)
    x[..., -1] = 1.0  # the last output's dependencies, read off backwards through the stack
    seen = torch.zeros(1, 1, L, dtype=torch.float64)
    seen[..., -1] = 1.0
    for d in dilations:
        kernel = torch.ones(1, 1, kernel_size, dtype=torch.float64)
        seen = F.conv1d(F.pad(seen, (0, d * (kernel_size - 1))), kernel, dilation=d).clamp(max=1)
    # the span: from the oldest input it depends on to the current step, both included
    expected = L - int((seen[0, 0] > 0).nonzero()[0])
    check.check_int(
        fn,
        (kernel_size, list(dilations)),
        {},
        expected,
        fname=fname,
        forbidden=frozenset(),
        hint="each causal layer with dilation d adds d*(kernel_size - 1) past steps, and the "
        "current step counts too",
    )


# --------------------------------------------------------------------------------------------
# chapter 13: spatially separable kernels


def check_separable_factors(
    fn: Callable[..., Any], K: torch.Tensor, tol: float = 1e-6, *, fname: str = "separable_factors"
) -> None:
    """``fn(K, tol=)``: None when K is not rank 1 (s2 > tol*s1), else the balanced pair
    ``(col, row)`` with col's largest-magnitude entry positive."""
    U, S, Vh = torch.linalg.svd(K)
    separable = bool(S[1] <= tol * S[0]) if len(S) > 1 else True
    ratio = float(S[1] / S[0]) if len(S) > 1 else 0.0
    check.check_int(
        _is_some(fn),
        (K,),
        {"tol": tol},
        int(separable),
        fname=fname,
        forbidden=_ALL_CONV,
        hint=f"here s2/s1 = {ratio:.2g} and tol = {tol:g}: K is separable (return the factors) "
        "exactly when s2 <= tol * s1; return None otherwise (1 means you returned something, 0 "
        "that you returned None). A tolerance relative to s1, not matrix_rank's default",
    )
    if not separable:
        return
    root = S[0].sqrt()
    col, row = U[:, 0] * root, Vh[0] * root
    if float(col[col.abs().argmax()]) < 0:
        col, row = -col, -row
    check.check_function(
        _pick(fn, 0),
        (K,),
        {"tol": tol},
        col,
        fname=f"{fname}[0] (col)",
        forbidden=_ALL_CONV,
        atol=1e-8,
        rtol=1e-6,
        shape_hint="col has one entry per kernel row: (kh,)",
        variants=[
            (
                "sign convention: make col's largest-magnitude entry positive (negate both)",
                lambda: -col,
            ),
            ("col misses the singular value: give each factor sqrt(s1)", lambda: col / root),
            (
                "not balanced: you put all of s1 into col; give each factor sqrt(s1)",
                lambda: col * root,
            ),
            ("col came from Vh: col is U[:, 0] (K's column direction)", lambda: Vh[0] * root),
        ],
    )
    check.check_function(
        _pick(fn, 1),
        (K,),
        {"tol": tol},
        row,
        fname=f"{fname}[1] (row)",
        forbidden=_ALL_CONV,
        atol=1e-8,
        rtol=1e-6,
        shape_hint="row has one entry per kernel column: (kw,)",
        variants=[
            ("sign convention: negate row together with col", lambda: -row),
            ("row misses the singular value: give each factor sqrt(s1)", lambda: row / root),
            (
                "row is Vh[:, 0], a column of Vh: the right singular vector is the row Vh[0, :]",
                lambda: Vh[:, 0] * root,
            ),
        ],
    )


def _depthwise_ref(X: torch.Tensor, K2: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    N, C, H, W = X.shape
    Y = F.conv2d(X.reshape(N * C, 1, H, W), K2[None, None], padding=padding)
    return Y.reshape(N, C, *Y.shape[-2:])


def check_separable_conv2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    col: torch.Tensor,
    row: torch.Tensor,
    padding: tuple[int, int] = (0, 0),
    *,
    fname: str = "separable_conv2d",
) -> None:
    """``fn(X, col, row, padding)``: every channel cross-correlated with outer(col, row)."""
    expected = _depthwise_ref(X, torch.outer(col, row), padding)
    check.check_function(
        fn,
        (X, col, row, padding),
        {},
        expected,
        fname=fname,
        forbidden=_ALL_CONV,
        shape_hint="(N, C, H + 2*ph - kh + 1, W + 2*pw - kw + 1)",
        variants=[
            (
                "vertical and horizontal swapped: col runs down the rows (along H), row along "
                "the columns (along W)",
                lambda: _depthwise_ref(X, torch.outer(row, col), padding),
            ),
            (
                "your output equals torch's with the kernel flipped: slide the factors as they are",
                lambda: _depthwise_ref(X, torch.outer(col, row).flip(0, 1), padding),
            ),
            ("padding ignored", lambda: _depthwise_ref(X, torch.outer(col, row), (0, 0))),
        ],
    )
    # Two 1D passes cost kh + kw taps; one 2D pass kh * kw. Count lines for growing kernels.
    lines: list[int] = []
    for k in (3, 5, 9):
        c, r = col.new_ones(k), row.new_ones(k)
        count = count_python_lines(fn, (X, c, r, (k // 2, k // 2)))
        if count is None:  # it raises: its value check says why
            return
        lines.append(count)
    growth = (lines[2] - lines[1]) / max(lines[1] - lines[0], 1)
    if growth > 2.75:
        raise _fail(
            f"`{fname}` runs {lines[0]}, {lines[1]}, {lines[2]} lines of Python for 3x3, 5x5 "
            "and 9x9 kernels: its work grows like kh*kw.",
            "Apply the factors as two 1D passes (kh taps down, then kw taps across).",
        )


def check_low_rank_conv2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    rank: int,
    padding: tuple[int, int] = (0, 0),
    *,
    fname: str = "low_rank_conv2d",
) -> None:
    """``fn(X, K, rank, padding)`` = channels filtered with K's best rank-``rank`` approximation."""
    U, S, Vh = torch.linalg.svd(K)

    def approx(r: int, scale: bool = True) -> torch.Tensor:
        s = S[:r] if scale else torch.ones_like(S[:r])
        return (U[:, :r] * s) @ Vh[:r]

    check.check_function(
        fn,
        (X, K, rank, padding),
        {},
        _depthwise_ref(X, approx(rank), padding),
        fname=fname,
        forbidden=_ALL_CONV,
        atol=1e-9,
        rtol=1e-7,
        variants=[
            (
                "you used only the first singular term: sum `rank` separable passes",
                lambda: _depthwise_ref(X, approx(1), padding),
            ),
            (
                "the singular values are missing: term r is s_r * outer(U[:, r], Vh[r])",
                lambda: _depthwise_ref(X, approx(rank, scale=False), padding),
            ),
            (
                "you used the exact K: keep only the first `rank` terms of its SVD",
                lambda: _depthwise_ref(X, K, padding),
            ),
            (
                "Vh's columns used instead of its rows: term r is outer(U[:, r], Vh[r, :])",
                lambda: _depthwise_ref(X, (U[:, :rank] * S[:rank]) @ Vh[:, :rank].T, padding),
            ),
        ],
    )


# --------------------------------------------------------------------------------------------
# chapter 14: bilinear sampling and deformable convolution


def _bilinear_ref(
    X: torch.Tensor,
    py: torch.Tensor,
    px: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> torch.Tensor:
    """X: (C, H, W) sampled at points (P,) with torch's grid_sample -> (C, P)."""
    C, H, W = X.shape
    gx = 2 * px / (W - 1) - 1
    gy = 2 * py / (H - 1) - 1
    grid = torch.stack([gx, gy], -1)[None, None]  # (1, 1, P, 2)
    out = F.grid_sample(X[None], grid, mode=mode, padding_mode=padding_mode, align_corners=True)
    return out[0, :, 0]


def check_grid_sample(
    fn: Callable[..., Any],
    X: torch.Tensor,
    grid: torch.Tensor,
    align_corners: bool = False,
    *,
    fname: str = "grid_sample",
) -> None:
    """``fn(X, grid, align_corners=)`` equals ``F.grid_sample`` (bilinear, zeros padding).

    X: (N, C, H, W); grid: (N, H', W', 2), (x, y) in [-1, 1] -> (N, C, H', W').
    """

    def ref(g: torch.Tensor = grid, corners: bool = align_corners, **kw: Any) -> torch.Tensor:
        return F.grid_sample(
            X,
            g,
            mode=kw.get("mode", "bilinear"),
            padding_mode=kw.get("padding_mode", "zeros"),
            align_corners=corners,
        )

    check.check_function(
        fn,
        (X, grid),
        {"align_corners": align_corners},
        ref(),
        fname=fname,
        forbidden=_ALL_CONV | SAMPLE_OPS,
        shape_hint="one value per channel and grid point: (N, C, H', W')",
        variants=[
            (
                "grid[..., 0] is x (the column, along W) and grid[..., 1] is y (the row): you "
                "swapped them",
                lambda: ref(grid.flip(-1)),
            ),
            (
                f"you used the align_corners={not align_corners} mapping: with True, -1 and 1 are "
                "the CENTRES of the corner pixels, px = (x + 1) (W - 1) / 2; with False they are "
                "the outer EDGES of the image, px = ((x + 1) W - 1) / 2",
                lambda: ref(corners=not align_corners),
            ),
            (
                "outside the image you used the nearest border pixel: neighbours outside X count "
                "as zero",
                lambda: ref(padding_mode="border"),
            ),
            (
                "you rounded to the nearest pixel: interpolate between the four neighbours",
                lambda: ref(mode="nearest"),
            ),
        ],
    )
    N, Ho, Wo, _ = grid.shape
    big = torch.cat([grid] * 4, dim=1)
    check_no_output_loop(
        fn,
        (X, grid),
        (X, big),
        {"align_corners": align_corners},
        fname=fname,
        what="grid points",
        instead="compute the four neighbours of all points at once",
    )


def check_bilinear_grad(
    fn: Callable[..., Any],
    X: torch.Tensor,
    py: torch.Tensor,
    px: torch.Tensor,
    *,
    fname: str = "bilinear_grad",
) -> None:
    """``fn(X, py, px) -> (d/dpy, d/dpx)``, each (C, P): how the samples move with the point."""
    grid_y = py.detach().clone().requires_grad_()
    grid_x = px.detach().clone().requires_grad_()
    dys, dxs = [], []
    with torch.enable_grad():
        for c in range(X.shape[0]):
            values = _bilinear_ref(X[c : c + 1], grid_y, grid_x)[0].sum()
            gy, gx = torch.autograd.grad(values, (grid_y, grid_x))
            dys.append(gy)
            dxs.append(gx)
    dpy, dpx = torch.stack(dys), torch.stack(dxs)
    forbidden = _ALL_CONV | SAMPLE_OPS | AUTOGRAD_OPS
    swapped = "you returned (d/dpx, d/dpy): the row derivative comes first"
    check.check_function(
        _pick(fn, 0),
        (X, py, px),
        {},
        dpy,
        fname=f"{fname}[0] (d/dpy)",
        forbidden=forbidden,
        shape_hint="one derivative per channel and point: (C, P)",
        variants=[
            (swapped, lambda: dpx),
            (
                "sign: moving the point down moves weight from the top neighbours to the "
                "bottom ones, d/dpy = (1-lx)(v10 - v00) + lx (v11 - v01)",
                lambda: -dpy,
            ),
        ],
    )
    check.check_function(
        _pick(fn, 1),
        (X, py, px),
        {},
        dpx,
        fname=f"{fname}[1] (d/dpx)",
        forbidden=forbidden,
        shape_hint="one derivative per channel and point: (C, P)",
        variants=[
            (swapped, lambda: dpy),
            ("sign: d/dpx = (1-ly)(v01 - v00) + ly (v11 - v10)", lambda: -dpx),
        ],
    )


def deform_conv2d_reference(
    X: torch.Tensor,
    offset: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    swap: bool = False,
    first_group_only: bool = False,
) -> torch.Tensor:
    """torchvision's deform_conv2d (offset groups G from offset's shape, groups 1), on
    F.grid_sample.

    X: (N, C_in, H, W); offset: (N, 2*G*kh*kw, H', W') as (dy, dx) per group and tap (channel
    2*(g*kh*kw + t)); K: (C_out, C_in, kh, kw); mask: (N, G*kh*kw, H', W') -> (N, C_out, H', W').
    Input channel block g (C_in / G channels) uses group g's offsets. ``swap`` reads the pairs as
    (dx, dy) and ``first_group_only`` gives every block group 0's offsets (mistakes).
    """
    N, C, H, W = X.shape
    C_out, _, kh, kw = K.shape
    taps = kh * kw
    G = offset.shape[1] // (2 * taps)
    Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    rows = (torch.arange(Ho, dtype=X.dtype, device=X.device) * stride - padding)[:, None]
    cols = (torch.arange(Wo, dtype=X.dtype, device=X.device) * stride - padding)[None, :]
    Y = X.new_zeros(N, C_out, Ho, Wo)
    block = C // G
    for g in range(G):
        Xg, Kg = X[:, g * block : (g + 1) * block], K[:, g * block : (g + 1) * block]
        og = 0 if first_group_only else g
        for a in range(kh):
            for b in range(kw):
                t = og * taps + a * kw + b
                dy, dx = offset[:, 2 * t], offset[:, 2 * t + 1]
                if swap:
                    dy, dx = dx, dy
                py = rows + a * dilation + dy  # (N, Ho, Wo)
                px = cols + b * dilation + dx
                grid = torch.stack([2 * px / (W - 1) - 1, 2 * py / (H - 1) - 1], -1)
                sample = F.grid_sample(
                    Xg, grid, mode="bilinear", padding_mode="zeros", align_corners=True
                )  # (N, C / G, Ho, Wo)
                if mask is not None:
                    sample = sample * mask[:, t, None]
                Y += torch.einsum("nchw,oc->nohw", sample, Kg[:, :, a, b])
    if bias is not None:
        Y += bias[None, :, None, None]
    return Y


def check_deform_conv2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    offset: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    fname: str = "deform_conv2d",
) -> None:
    """``fn(X, offset, K, bias, mask, stride=, padding=, dilation=)`` = DCNv2 (torchvision's)."""
    settings: dict[str, Any] = {"stride": stride, "padding": padding, "dilation": dilation}
    expected = deform_conv2d_reference(X, offset, K, bias, mask, **settings)
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "offsets read as (dx, dy): channel 2*t is the row offset dy of tap t, 2*t + 1 the "
            "column offset dx",
            lambda: deform_conv2d_reference(X, offset, K, bias, mask, **settings, swap=True),
        ),
        (
            "the offsets are ignored: your output is a plain conv2d",
            lambda: F.conv2d(X, K, bias, **settings),
        ),
    ]
    if offset.shape[1] > 2 * K.shape[-2] * K.shape[-1]:
        variants.append(
            (
                "every channel block used the first offset group: input channels "
                "g*C_in/G .. (g+1)*C_in/G - 1 move with offset channels 2*(g*kh*kw + t), +1",
                lambda: deform_conv2d_reference(
                    X, offset, K, bias, mask, **settings, first_group_only=True
                ),
            )
        )
    if mask is not None:
        variants.append(
            (
                "the modulation mask is ignored: multiply each tap's sample by mask[n, t, i, j]",
                lambda: deform_conv2d_reference(X, offset, K, bias, None, **settings),
            )
        )
    if dilation != 1:
        variants.append(
            (
                "dilation ignored in the base grid: tap (a, b) starts at "
                "(i*stride - padding + a*dilation, ...)",
                lambda: deform_conv2d_reference(X, offset, K, bias, mask, stride, padding, 1)[
                    ..., : expected.shape[-2], : expected.shape[-1]
                ],
            )
        )
    check.check_function(
        fn,
        (X, offset, K),
        {"bias": bias, "mask": mask, **settings},
        expected,
        fname=fname,
        forbidden=_ALL_CONV | SAMPLE_OPS,
        atol=1e-9,
        rtol=1e-7,
        shape_hint="the output has conv2d's shape with the same stride, padding, dilation",
        variants=variants,
    )


# --------------------------------------------------------------------------------------------
# chapter 15: FFT convolution


def _fft_wrong_crop(
    X: torch.Tensor, K: torch.Tensor, padding: int, stride: int, depthwise: bool
) -> torch.Tensor:
    """FFT convolution with the flipped kernel, cropped at 0 instead of kh - 1 (a mistake)."""
    Xp = F.pad(X, (padding,) * 4)
    Hp, Wp = Xp.shape[-2:]
    kh, kw = K.shape[-2:]
    Ho, Wo = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    FX = torch.fft.rfft2(Xp, s=(Hp, Wp))
    FK = torch.fft.rfft2(K.flip(-1, -2), s=(Hp, Wp))
    N, C = X.shape[:2]
    Z = FX * FK[:, 0][None] if depthwise else torch.einsum("nchw,ochw->nohw", FX, FK)
    Y = torch.fft.irfft2(Z, s=(Hp, Wp))
    return Y[..., : (Ho - 1) * stride + 1 : stride, : (Wo - 1) * stride + 1 : stride]


def check_fft_conv2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    padding: int = 0,
    stride: int = 1,
    *,
    depthwise: bool = False,
    fname: str = "fft_conv2d",
) -> None:
    """``fn(X, K, bias, padding=, stride=)`` (depthwise: ``fn(X, K, padding=)``) vs ``F.conv2d``."""
    groups = X.shape[1] if depthwise else 1
    kwargs: dict[str, Any] = (
        {"bias": bias, "padding": padding, "stride": stride}
        if not depthwise
        else {"padding": padding}
    )
    expected = F.conv2d(X, K, bias, stride=stride, padding=padding, groups=groups)
    wrong_crop = _fft_wrong_crop(X, K, padding, stride, depthwise)
    if bias is not None:
        wrong_crop = wrong_crop + bias[None, :, None, None]
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "your output is a true convolution (kernel flipped): cross-correlation multiplies by "
            "the CONJUGATE of the kernel's spectrum (or flip the kernel before its FFT)",
            lambda: F.conv2d(
                X, K.flip(-1, -2), bias, stride=stride, padding=padding, groups=groups
            ),
        ),
        (
            "wrong crop: with the flipped kernel the valid outputs start at index (kh-1, kw-1) of "
            "the circular result, not at 0 (yours are rolled by the kernel size)",
            lambda: wrong_crop,
        ),
    ]
    if padding:
        variants.append(
            ("padding ignored", lambda: F.conv2d(X, K, bias, stride=stride, groups=groups))
        )
    if stride != 1:
        variants.append(
            (
                "stride ignored: keep every stride-th output",
                lambda: F.conv2d(X, K, bias, padding=padding, groups=groups),
            )
        )
    if bias is not None:
        variants.append(
            (
                "bias not added",
                lambda: F.conv2d(X, K, None, stride=stride, padding=padding, groups=groups),
            )
        )
    check.check_function(
        fn,
        (X, K),
        kwargs,
        expected,
        fname=fname,
        forbidden=_ALL_CONV,
        atol=1e-9,
        rtol=1e-7,
        shape_hint="crop the valid part: out = (H + 2*padding - kh) // stride + 1",
        variants=variants,
    )


def check_fft_size(
    fn: Callable[..., Any],
    size: int,
    kernel_size: int,
    padding: int = 0,
    *,
    fname: str = "fft_size",
) -> None:
    """``fn(size, kernel_size, padding)``: the smallest FFT length with no wrap-around in the
    valid outputs. Measured: the first length whose circular correlation equals ``F.conv1d``."""
    x = check.randn(1, 1, size, seed=size)
    k = check.randn(1, 1, kernel_size, seed=kernel_size + 1)
    reference = F.conv1d(x, k, padding=padding)[0, 0]
    xp = F.pad(x, (padding, padding))[0, 0]
    expected = None
    for n in range(1, size + 2 * padding + kernel_size + 1):
        if n < xp.shape[0]:
            continue  # the signal does not fit: the FFT would fold it
        X = torch.fft.rfft(xp, n)
        Kf = torch.fft.rfft(k[0, 0], n)
        y = torch.fft.irfft(X * Kf.conj(), n)[: reference.shape[0]]
        if torch.allclose(y, reference, atol=1e-9):
            expected = n
            break
    assert expected is not None
    check.check_int(
        fn,
        (size, kernel_size, padding),
        {},
        expected,
        fname=fname,
        forbidden=frozenset(),
        hint="the padded input (size + 2*padding) must fit in the FFT; wrap-around only lands "
        "on outputs that are discarded, so the full length size + 2*padding + kernel_size - 1 "
        "is more than needed",
    )


# --------------------------------------------------------------------------------------------
# chapter 11: adaptive pooling, the backward of max pooling


def _adaptive_floor_end(X: torch.Tensor, out: tuple[int, int]) -> torch.Tensor:
    H, W = X.shape[-2:]
    oh, ow = out
    rows = []
    for i in range(oh):
        cols = []
        for j in range(ow):
            r0, r1 = i * H // oh, max((i + 1) * H // oh, i * H // oh + 1)
            c0, c1 = j * W // ow, max((j + 1) * W // ow, j * W // ow + 1)
            cols.append(X[..., r0:r1, c0:c1].amax((-2, -1)))
        rows.append(torch.stack(cols, -1))
    return torch.stack(rows, -2)


def check_adaptive_max_pool2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    output_size: tuple[int, int],
    *,
    fname: str = "adaptive_max_pool2d",
) -> None:
    """``fn(X, output_size)`` equals ``F.adaptive_max_pool2d`` (output (1, 1): global pooling)."""
    H, W = X.shape[-2:]
    oh, ow = output_size
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (
            "window ends rounded down: window i covers rows floor(i*H/out) up to "
            "ceil((i+1)*H/out), so neighbouring windows may overlap",
            lambda: _adaptive_floor_end(X, output_size),
        ),
        (
            "you used fixed windows of H // out: adaptive windows vary in size so that they "
            "cover all of X",
            lambda: F.max_pool2d(X, (H // oh, W // ow)),
        ),
        (
            "your output is average pooling, not max pooling",
            lambda: F.adaptive_avg_pool2d(X, output_size),
        ),
    ]
    check.check_function(
        fn,
        (X, output_size),
        {},
        F.adaptive_max_pool2d(X, output_size),
        fname=fname,
        forbidden=check.POOL_OPS | _ALL_CONV,
        shape_hint="(N, C, *output_size)",
        variants=variants,
    )


def check_max_pool2d_backward(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int,
    stride: int,
    *,
    fname: str = "max_pool2d_backward",
) -> None:
    """``fn(dY, indices, input_size)`` = autograd's gradient of max_pool2d w.r.t. its input."""
    Xg = X.detach().clone().requires_grad_()
    with torch.enable_grad():
        Y, indices = F.max_pool2d(Xg, kernel_size, stride, return_indices=True)
        dY = check.randn(*Y.shape, seed=int(Y.numel()), device=X.device).to(X.dtype)
        Y.backward(dY)
    assert Xg.grad is not None
    size = tuple(X.shape[-2:])
    N, C = X.shape[:2]

    def overwrite() -> torch.Tensor:
        flat = X.new_zeros(N, C, size[0] * size[1])
        flat.scatter_(2, indices.flatten(2), dY.flatten(2))
        return flat.reshape(X.shape)

    check.check_function(
        fn,
        (dY, indices, size),
        {},
        Xg.grad,
        fname=fname,
        forbidden=check.POOL_OPS | _ALL_CONV | AUTOGRAD_OPS | {"max_unpool2d"},
        shape_hint="the gradient has the input's shape (N, C, H, W)",
        variants=[
            (
                "overlapping windows overwrite each other: when one pixel is the max of several "
                "windows its gradients ADD up (scatter_add / index_add, not assignment)",
                overwrite,
            ),
        ],
    )


def backward_case(
    input_shape: Sequence[int],
    kernel_shape: Sequence[int],
    seed: int,
    device: str | torch.device = "cpu",
    **settings: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded (X, K, dY) for a conv2d with ``settings``: dY has the output's shape."""
    X = check.randn(*input_shape, seed=seed, device=device)
    K = check.randn(*kernel_shape, seed=seed + 1, device=device)
    out_shape = F.conv2d(X, K, **settings).shape
    return X, K, check.randn(*out_shape, seed=seed + 2, device=device)


def check_overlap_save(
    fn: Callable[..., Any],
    x: torch.Tensor,
    k: torch.Tensor,
    block: int,
    *,
    fname: str = "fft_conv1d_overlap_save",
) -> None:
    """``fn(x, k, block)``: the valid cross-correlation of a long signal x (L,) with k (m,),
    computed ``block`` outputs at a time (overlap-save), equals ``F.conv1d``."""

    def corr(kernel: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x[None, None], kernel[None, None])[0, 0]

    m = k.shape[0]

    def no_overlap() -> torch.Tensor:
        # blocks of `block` inputs each, correlated separately: the outputs that straddle two
        # blocks are missing
        parts = [corr_part(x[i : i + block]) for i in range(0, x.shape[0], block)]
        return torch.cat([p for p in parts if p.numel()])

    def corr_part(piece: torch.Tensor) -> torch.Tensor:
        if piece.shape[0] < m:
            return piece.new_zeros(0)
        return F.conv1d(piece[None, None], k[None, None])[0, 0]

    check.check_function(
        fn,
        (x, k, block),
        {},
        corr(k),
        fname=fname,
        forbidden=_ALL_CONV,
        atol=1e-9,
        rtol=1e-7,
        shape_hint="the valid correlation has L - m + 1 outputs; the last block may be shorter",
        variants=[
            (
                "your output is a convolution (kernel flipped): multiply by the conjugate of "
                "the kernel's spectrum",
                lambda: corr(k.flip(0)),
            ),
            (
                "the blocks do not overlap: `block` outputs need block + m - 1 inputs, so "
                "consecutive input blocks share m - 1 samples",
                no_overlap,
            ),
        ],
    )


def check_adaptive_avg_pool2d_integral(
    fn: Callable[..., Any],
    X: torch.Tensor,
    output_size: tuple[int, int],
    *,
    fname: str = "adaptive_avg_pool2d",
) -> None:
    """``fn(X, output_size)`` equals ``F.adaptive_avg_pool2d`` with no Python loop over the
    output bins (a summed-area table: four lookups per bin)."""
    H, W = X.shape[-2:]
    oh, ow = output_size

    def floor_end_mean() -> torch.Tensor:
        rows = []
        for i in range(oh):
            cols = []
            for j in range(ow):
                r0, r1 = i * H // oh, max((i + 1) * H // oh, i * H // oh + 1)
                c0, c1 = j * W // ow, max((j + 1) * W // ow, j * W // ow + 1)
                cols.append(X[..., r0:r1, c0:c1].mean((-2, -1)))
            rows.append(torch.stack(cols, -1))
        return torch.stack(rows, -2)

    check.check_function(
        fn,
        (X, output_size),
        {},
        F.adaptive_avg_pool2d(X, output_size),
        fname=fname,
        forbidden=check.POOL_OPS | _ALL_CONV,
        shape_hint="(N, C, *output_size); output (1, 1) is global average pooling",
        variants=[
            (
                "window ends rounded down: bin i covers rows floor(i*H/out) up to (not "
                "including) ceil((i+1)*H/out)",
                floor_end_mean,
            ),
            (
                "off by one in the summed-area table: pad it with a zero row and column first, "
                "so that S[r, c] is the sum of X[:r, :c] and a bin's sum is "
                "S[r1, c1] - S[r0, c1] - S[r1, c0] + S[r0, c0]",
                lambda: F.adaptive_avg_pool2d(F.pad(X, (1, 0, 1, 0))[..., :H, :W], output_size),
            ),
            (
                "your output is max pooling, not average pooling",
                lambda: F.adaptive_max_pool2d(X, output_size),
            ),
        ],
    )
    check_no_output_loop(
        fn,
        (X, (1, 1)),
        (X, (min(H, 6), min(W, 6))),
        fname=fname,
        what="output bins",
        instead="build the summed-area table once (cumsum along H and W) and read every bin's "
        "four corners with index tensors",
    )
