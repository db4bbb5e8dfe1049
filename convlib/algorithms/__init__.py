"""Fast convolution algorithms: the ladder from loops to GEMM speed.

Each takes ``(X, K, bias=None, stride=1, padding=0, dilation=1, groups=1)`` like
``torch.nn.functional.conv{1,2,3}d`` (batched input, zero padding given as ints) and raises
``ValueError`` naming the argument when given a shape it does not support.

- ``conv_im2col``: columns + one GEMM (any shape); ``im2col_bytes`` is its extra memory.
- ``conv_im2col_partial``: columns over all but the first kernel dim, ``k0`` shifted GEMMs.
- ``conv_pointwise``: 1x1 kernels as a matmul.
- ``conv_depthwise``: groups == C_in, one vectorised multiply-add per kernel tap.
- ``conv_winograd``: F(2x2, 3x3), stride 1, 3x3 kernels.
- ``conv_fft``: frequency-domain products, for large kernels.
- ``conv_transpose_gemm``: transposed convolution as GEMM + col2im.
- ``conv_transpose_phase``: transposed convolution as s^d sub-pixel phases, one GEMM.
- ``conv(..., algorithm="auto")`` picks one by ``choose_algorithm``.
"""

from ._common import clear_workspaces
from .auto import (
    ALGORITHMS,
    FFT_MIN_TAPS,
    FFT_MIN_TAPS_DEPTHWISE,
    TRANSPOSE_ALGORITHMS,
    choose_algorithm,
    choose_transpose_algorithm,
    conv,
    conv_transpose,
    supported_algorithms,
)
from .depthwise import conv_depthwise
from .fft import conv_fft, exact_fft_length, fft_size
from .im2col import conv_im2col, conv_im2col_partial, im2col, im2col_bytes
from .pointwise import conv_pointwise
from .transpose import conv_transpose_gemm, conv_transpose_phase
from .winograd import AT, BT, G, conv_winograd, derive_winograd

__all__ = [
    "ALGORITHMS",
    "AT",
    "BT",
    "FFT_MIN_TAPS",
    "FFT_MIN_TAPS_DEPTHWISE",
    "G",
    "TRANSPOSE_ALGORITHMS",
    "choose_algorithm",
    "choose_transpose_algorithm",
    "clear_workspaces",
    "conv",
    "conv_depthwise",
    "conv_fft",
    "conv_im2col",
    "conv_im2col_partial",
    "conv_pointwise",
    "conv_transpose",
    "conv_transpose_gemm",
    "conv_transpose_phase",
    "conv_winograd",
    "derive_winograd",
    "fft_size",
    "exact_fft_length",
    "im2col",
    "im2col_bytes",
    "supported_algorithms",
]
