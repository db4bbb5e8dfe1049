"""The loop references under PyTorch's names: ``convlib.reference.conv2d`` is the readable version
of ``convlib.conv2d``, with the same signature and the same argument checks.

Use them to read how an op works or to check the fast path on small inputs; they are slow.
"""

from .conv import conv1d_reference as conv1d
from .conv import conv2d_reference as conv2d
from .conv import conv3d_reference as conv3d
from .conv import conv_transpose1d_reference as conv_transpose1d
from .conv import conv_transpose2d_reference as conv_transpose2d
from .conv import conv_transpose3d_reference as conv_transpose3d
from .padding import pad
from .unfold import fold_reference as fold
from .unfold import unfold_reference as unfold

__all__ = [
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "fold",
    "pad",
    "unfold",
]

# H2 extras (pooling, deformable, separable): appended, so the imports sit below __all__.
from .deform import deform_conv2d_reference as deform_conv2d  # noqa: E402
from .pooling import avg_pool1d_reference as avg_pool1d  # noqa: E402
from .pooling import avg_pool2d_reference as avg_pool2d  # noqa: E402
from .pooling import avg_pool3d_reference as avg_pool3d  # noqa: E402
from .pooling import max_pool1d_reference as max_pool1d  # noqa: E402
from .pooling import max_pool2d_reference as max_pool2d  # noqa: E402
from .pooling import max_pool3d_reference as max_pool3d  # noqa: E402
from .separable import (  # noqa: E402
    depthwise_separable_conv2d_reference as depthwise_separable_conv2d,
)

__all__ += [
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "deform_conv2d",
    "depthwise_separable_conv2d",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
]
