"""Checks of ex08_transposed: the output_padding a decoder needs, the matrix of a convolution
with channels, and a transposed convolution with three planted bugs to find (a smallest failing
input for each) and fix.

Cases and usual mistakes are data: ``PLANTED_BUGS`` (each bug: its name, what it gets wrong, and
the size of a smallest input that shows it), read by the checks of both debugging tasks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import convlib.check as check
from convlib.checks.core import Fn, adapt, check_no_output_loop, larger, parameters

__all__ = [
    "SETTINGS",
    "output_padding_reference",
    "check_output_padding",
    "conv_matrix_channels_reference",
    "check_conv_matrix_channels",
    "PLANTED_BUGS",
    "planted",
    "case_verdict",
    "check_failing_cases",
    "check_fixed_conv_transpose2d",
]


# --------------------------------------------------------------------------------------------
# tasks 1 and 2: output_padding, the matrix of a convolution with channels

# the settings of tasks 1 and 2, given by name
SETTINGS = parameters(stride=1, padding=0, dilation=1)


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


def check_output_padding(fn: Fn, size: int, target: int, kernel_size: int, **given: int) -> None:
    """``fn(size, target, kernel_size, stride=1, padding=0, dilation=1)`` returns the
    output_padding that reaches ``target``, or -1."""
    settings = SETTINGS(**given)
    expected = output_padding_reference(size, target, kernel_size, **settings)
    check.check_int(
        fn,
        (size, target, kernel_size),
        settings,
        expected,
        fname="conv_transpose_output_padding",
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
    fn: Fn, K: Tensor, input_size: tuple[int, int], **given: int
) -> None:
    """``fn(K, input_size, stride=1, padding=0, dilation=1)`` with K: (C_out, C_in, kh, kw) returns
    the (C_out*H'*W', C_in*H*W) matrix of the convolution, with no loop over output positions."""
    fname = "conv_matrix"
    settings = SETTINGS(**given)
    expected = conv_matrix_channels_reference(K, input_size, **settings)
    H, W = input_size
    C_out, C_in = K.shape[:2]

    def channels_last_columns() -> torch.Tensor:
        return expected.reshape(-1, C_in, H * W).transpose(1, 2).reshape(expected.shape)

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("you returned C^T (the transpose of C)", lambda: expected.T),
        (
            check._FLIPPED,
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
    for name, default in SETTINGS().items():
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


# --------------------------------------------------------------------------------------------
# tasks 3 and 4: a transposed convolution with planted bugs

# The notebook prints this function with every bug in; ``planted(..., bugs=...)`` keeps only some.
# Compiled outside convlib's files, because the verdict on a student's case calls it inside the
# check (forbid flags convlib's own frames).
_PLANTED_SOURCE = '''
def planted(X, K, stride=(1, 1), padding=0, output_padding=0, bugs=()):
    """conv_transpose2d with the named bugs planted. X: (N, C_in, H, W), K: (C_in, C_out, kh,
    kw), stride a pair, padding and output_padding ints."""
    N, C_in, H, W = X.shape
    _, C_out, kh, kw = K.shape
    sh, sw = stride
    op = output_padding
    H_full, W_full = (H - 1) * sh + kh, (W - 1) * sw + kw
    products = K.reshape(C_in, -1).T @ X.reshape(N, C_in, H * W)  # (N, C_out*kh*kw, H*W)
    if "channels" in bugs:
        products = products.reshape(N, kh, kw, C_out, H, W)
    else:
        products = products.reshape(N, C_out, kh, kw, H, W).permute(0, 2, 3, 1, 4, 5)
    step_w = sh if "stride" in bugs else sw
    extra = 0 if "output_padding" in bugs else op
    Y = X.new_zeros((N, C_out, H_full + extra, W_full + extra))
    for a in range(kh):
        for b in range(kw):
            rows = slice(a, a + (H - 1) * sh + 1, sh)
            cols = slice(b, b + (W - 1) * step_w + 1, step_w)
            Y[:, :, rows, cols] += products[:, a, b]
    Y = Y[:, :, padding : H_full + extra - padding, padding : W_full + extra - padding]
    if "output_padding" in bugs:
        out = Y.new_zeros((N, C_out, Y.shape[2] + op, Y.shape[3] + op))
        out[:, :, : Y.shape[2], : Y.shape[3]] = Y
        Y = out
    return Y


def case_verdict(case, bug, smallest):
    """1/0 for: a valid input, it makes `bug` alone differ from torch, it is a smallest one."""
    try:
        x_shape, k_shape, stride, padding, output_padding = case
        stride = tuple(int(s) for s in stride)
        X = torch.randn(*[int(n) for n in x_shape], dtype=torch.float64)
        K = torch.randn(*[int(n) for n in k_shape], dtype=torch.float64)
        args = (X, K, stride, int(padding), int(output_padding))
        expected = torch.nn.functional.conv_transpose2d(X, K, None, *args[2:])
    except Exception:
        return torch.zeros(3, dtype=torch.long)
    try:
        got = planted(*args, bugs=(bug,))
        fails = got.shape != expected.shape or not torch.allclose(got, expected)
    except Exception:
        fails = True  # a crash is a failure too
    size = X.numel() + K.numel()
    return torch.tensor([1, int(fails), int(fails and size <= smallest)])


def cases_of(fn, bug, smallest):
    def verdict(name):
        return case_verdict(fn()[bug], bug, smallest)
    return verdict
'''
planted = adapt(_PLANTED_SOURCE, "planted")
case_verdict = adapt(_PLANTED_SOURCE, "case_verdict")
_cases_of = adapt(_PLANTED_SOURCE, "cases_of")

# name: (what it gets wrong, X.numel() + K.numel() of a smallest input that shows it)
PLANTED_BUGS: dict[str, tuple[str, int]] = {
    "output_padding": (
        "output_padding is added as zero rows and columns after the crop: in torch the extra "
        "rows come from the uncropped output (with padding > 0 they hold real values)",
        2,
    ),
    "channels": (
        "the products are reshaped as (N, kh, kw, C_out, ...), but K.reshape(C_in, -1) lists "
        "each input channel's weights as (C_out, kh, kw)",
        5,
    ),
    "stride": (
        "the columns are placed with the row stride: tap (a, b) writes every stride[1]-th column",
        3,
    ),
}


def check_failing_cases(
    fn: Callable[..., Any],
    bugs: Sequence[str] = tuple(PLANTED_BUGS),
    *,
    fname: str = "failing_cases",
) -> None:
    """``fn()`` -> {bug: (x_shape, k_shape, stride, padding, output_padding)}: for each planted
    bug, an input on which that bug alone makes the function differ from torch, of the smallest
    size X.numel() + K.numel()."""
    for bug in bugs:
        smallest = PLANTED_BUGS[bug][1]
        check.check_function(
            _cases_of(fn, bug, smallest),
            (bug,),
            {},
            torch.ones(3, dtype=torch.long),
            fname=f"{fname}()[{bug!r}]",
            forbidden=frozenset(),
            shape_hint="a case is (x_shape, k_shape, (stride_h, stride_w), padding, "
            "output_padding)",
            variants=[
                (
                    "not a valid input of F.conv_transpose2d: 4-dim shapes, K.shape[0] == "
                    "X.shape[1], output_padding < stride, a non-empty output",
                    lambda: torch.zeros(3, dtype=torch.long),
                ),
                (
                    f"this input does not show the {bug!r} bug: with only that bug left in, the "
                    "function still agrees with torch on it",
                    lambda: torch.tensor([1, 0, 0]),
                ),
                (
                    f"this input shows the bug, but a smaller one does: a smallest input has "
                    f"X.numel() + K.numel() = {smallest}",
                    lambda: torch.tensor([1, 1, 0]),
                ),
            ],
        )


def check_fixed_conv_transpose2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    stride: tuple[int, int] = (1, 1),
    padding: int = 0,
    output_padding: int = 0,
    *,
    fname: str = "conv_transpose2d",
) -> None:
    """``fn(X, K, stride, padding, output_padding)`` (stride a pair) equals F.conv_transpose2d,
    with no Python loop over input positions; each bug left in is named."""
    settings: dict[str, Any] = {
        "stride": tuple(stride),
        "padding": padding,
        "output_padding": output_padding,
    }
    bugs = [
        (
            f"the {bug!r} bug is still there: {text}",
            functools.partial(planted, X, K, bugs=(bug,), **settings),
        )
        for bug, (text, _) in PLANTED_BUGS.items()
    ]
    check.check_function(
        fn,
        (X, K),
        settings,
        F.conv_transpose2d(X, K, None, **settings),
        fname=fname,
        shape_hint="out = (in - 1)*stride - 2*padding + kernel_size + output_padding per axis",
        variants=bugs,
    )
    check_no_output_loop(
        fn,
        (X, K),
        (larger(X, 10, seed=X.shape[2] * X.shape[3]), K),
        settings,
        fname=fname,
        what="input positions",
        instead="keep the given function's structure: one matrix product for every input pixel "
        "and tap, then one strided slice per tap",
    )
