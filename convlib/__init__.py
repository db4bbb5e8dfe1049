"""convlib: every convolution used in deep learning, written from scratch on tensor primitives.

Names and signatures mirror ``torch.nn.functional``. Each convolution-like op has a fast default
(vectorised, differentiable, any device) and a loop ``*_reference`` beside it for reading.
"""

from .conv import *  # noqa: F403
from .deform import *  # noqa: F403
from .matrices import *  # noqa: F403
from .padding import *  # noqa: F403
from .pooling import *  # noqa: F403
from .separable import *  # noqa: F403
from .shapes import *  # noqa: F403
from .unfold import *  # noqa: F403

__version__ = "0.1.0"
