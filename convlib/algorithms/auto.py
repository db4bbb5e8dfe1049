"""Pick the fastest algorithm for a convolution from its shape alone, and dispatch to it.

The rule (from the CPU measurements in the chapter "From loops to GEMM"; the benchmark checks it
on GPU too). It depends on the device type, because a CPU and a GPU reward different things: a
CPU has a few cores and little memory bandwidth, so saving copies matters; a GPU runs each tensor
operation as a kernel launch over thousands of threads, so few large operations (GEMMs) matter.

1. a 1x1 kernel is a matrix product: ``pointwise``;
2. depthwise (groups == C_in > 1): ``fft`` once the kernel has at least
   ``FFT_MIN_TAPS_DEPTHWISE`` taps and stride 1; otherwise on a CPU ``depthwise`` (one in-place
   multiply-add per tap, no copies) and on a GPU ``im2col`` (one grouped GEMM, not one launch
   per tap);
3. very large dense kernels (at least ``FFT_MIN_TAPS`` taps, stride 1): ``fft``;
4. on a CPU, 3D kernels with stride 1 along the first spatial dim: ``im2col_partial`` (its column
   matrix is ``kernel[0]`` times smaller, and 3D column matrices are the largest);
5. everything else: ``im2col`` (one GEMM).

Winograd is never picked: on the measured CPU its transforms, written as separate tensor
operations, cost more than its 2.25x fewer multiplications save (slower than im2col on both 3x3
layers of ``book/data/bench_cpu.csv``, by more than the noise), and on a GPU they are many
small launches (it stays available by name). Transposed convolutions: ``phase`` (sub-pixel
phases, one GEMM) when dilation is 1, else ``gemm`` + col2im, on every device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from .._args import IntOrTuple, ntuple
from .depthwise import conv_depthwise
from .fft import conv_fft
from .im2col import conv_im2col, conv_im2col_partial
from .pointwise import conv_pointwise
from .transpose import conv_transpose_gemm, conv_transpose_phase
from .winograd import conv_winograd

ConvFn = Callable[..., torch.Tensor]

ALGORITHMS: dict[str, ConvFn] = {
    "im2col": conv_im2col,
    "im2col_partial": conv_im2col_partial,
    "pointwise": conv_pointwise,
    "depthwise": conv_depthwise,
    "winograd": conv_winograd,
    "fft": conv_fft,
}
TRANSPOSE_ALGORITHMS: dict[str, ConvFn] = {
    "gemm": conv_transpose_gemm,
    "phase": conv_transpose_phase,
}

FFT_MIN_TAPS_DEPTHWISE = 81  # 9x9 and larger
FFT_MIN_TAPS = 225  # 15x15 and larger


def choose_algorithm(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: IntOrTuple = 1,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> str:
    """Algorithm ``auto`` picks for input (N, C_in, *spatial) and weight (C_out, C_in/g, *k).

    A pure function of the shapes, dtype and device type (``"cpu"``, ``"cuda"``, ...): it reads
    no data and needs no GPU, so the rule can be tested anywhere.
    """
    d = len(weight_shape) - 2
    kernel = tuple(weight_shape[2:])
    s = ntuple(stride, d, "stride")
    C_in = input_shape[1]
    taps = math.prod(kernel)
    unit_stride = all(v == 1 for v in s)
    on_cpu = torch.device(device).type == "cpu"
    # The FFT trades exactness for speed: keep it to float32/float64 (not half, not complex).
    fft_ok = dtype in (torch.float32, torch.float64)
    if taps == 1:
        return "pointwise"
    if groups == C_in and groups > 1:
        if fft_ok and unit_stride and taps >= FFT_MIN_TAPS_DEPTHWISE:
            return "fft"
        # A GPU runs one kernel launch per tap for the shift-and-add loop; one grouped GEMM
        # over the column matrix is a single launch and its k-fold copy is cheap there.
        return "depthwise" if on_cpu else "im2col"
    if fft_ok and unit_stride and taps >= FFT_MIN_TAPS:
        return "fft"
    if on_cpu and d == 3 and s[0] == 1 and kernel[0] > 1:
        return "im2col_partial"
    return "im2col"


def choose_transpose_algorithm(
    weight_shape: Sequence[int], dilation: IntOrTuple = 1, device: str | torch.device = "cpu"
) -> str:
    """Algorithm auto picks for a transposed convolution with weight (C_in, C_out/g, *k).

    ``phase`` (one GEMM, no scatter) needs dilation 1; ``gemm`` + col2im takes everything. Both
    are GEMM-based, so the choice is the same on every device.
    """
    d = len(weight_shape) - 2
    return "phase" if all(v == 1 for v in ntuple(dilation, d, "dilation")) else "gemm"


def supported_algorithms(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: IntOrTuple = 1,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> list[str]:
    """The algorithms that accept this shape (im2col and fft accept every shape)."""
    d = len(weight_shape) - 2
    kernel = tuple(weight_shape[2:])
    names = ["im2col", "fft"]
    if ntuple(stride, d, "stride")[0] == 1:
        names.append("im2col_partial")
    if math.prod(kernel) == 1:
        names.append("pointwise")
    if groups == input_shape[1]:
        names.append("depthwise")
    if (
        d == 2
        and kernel == (3, 3)
        and ntuple(stride, 2, "stride") == (1, 1)
        and ntuple(dilation, 2, "dilation") == (1, 1)
    ):
        names.append("winograd")
    return names


def conv(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    algorithm: str = "auto",
) -> torch.Tensor:
    """N-d convolution X: (N, C_in, *spatial), K: (C_out, C_in/groups, *k) by the named algorithm.

    ``algorithm`` is one of ``"auto"`` or the keys of ``ALGORITHMS``. Returns (N, C_out, *out).
    """
    if algorithm == "auto":
        algorithm = choose_algorithm(X.shape, K.shape, stride, dilation, groups, X.dtype, X.device)
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"algorithm must be 'auto' or one of {sorted(ALGORITHMS)}, got {algorithm!r}"
        )
    return ALGORITHMS[algorithm](X, K, bias, stride, padding, dilation, groups)


def conv_transpose(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    algorithm: str = "auto",
) -> torch.Tensor:
    """Transposed convolution X: (N, C_in, *in), K: (C_in, C_out/groups, *k).

    ``algorithm`` is ``"auto"`` (``choose_transpose_algorithm``) or a key of
    ``TRANSPOSE_ALGORITHMS``. Returns (N, C_out, *out).
    """
    if algorithm == "auto":
        algorithm = choose_transpose_algorithm(K.shape, dilation, X.device)
    if algorithm not in TRANSPOSE_ALGORITHMS:
        raise ValueError(
            f"algorithm must be 'auto' or one of {sorted(TRANSPOSE_ALGORITHMS)}, got {algorithm!r}"
        )
    return TRANSPOSE_ALGORITHMS[algorithm](
        X, K, bias, stride, padding, output_padding, groups, dilation
    )
