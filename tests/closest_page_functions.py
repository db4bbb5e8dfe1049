"""For each graded test cell of each assignment, the page functions closest to its task.

A row says: the page function (``convlib.teaching``) a student could copy from the chapter, and
the thinnest adapter that gives it the task's signature. ``tests/test_beyond_the_page.py`` runs
each row through the task's visible and hidden tests (the page function transcribed into the
notebook's namespace, as a student who copied it from the page would have it) and asserts that
the checks fail: no graded task is answered by code printed on its chapter page.

Each assignment owns one section below. Every graded test cell needs at least one row; where no
page function is truly close, the row names the nearest one anyway.

Fields of a row (``Closest``):

- ``test``: the grade_id of the graded test cell.
- ``solution``: the grade_id of the solution cell the adapter replaces (the other solution cells
  keep the released solution, so only this task's answer changes).
- ``page``: ``"<teaching module>.<function>"``, e.g. ``"ch01_cross_correlation.corr2d"``; the
  module is transcribed (its source executed in the notebook's namespace), so the page function
  counts as the student's own code, not as a call into convlib.
- ``adapter``: Python source that defines the solution cell's names from ``page`` (the page
  function) and ``pages`` (everything the page module defines, e.g. ``pages.pad2d``), so the
  notebook's other names stay the released solution's. ``"corr2d = page"`` when the signatures
  already agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Closest:
    test: str
    solution: str
    page: str
    adapter: str

    @property
    def module(self) -> str:
        return self.page.rsplit(".", 1)[0]

    @property
    def function(self) -> str:
        return self.page.rsplit(".", 1)[1]


CLOSEST: dict[str, list[Closest]] = {
    # ---------------------------------------------------------------------------------- assign1
    "ex01_cross_correlation": [
        Closest("test_corr2d", "corr2d", "ch01_cross_correlation.corr2d", "corr2d = page"),
        Closest(
            "test_convolve2d",
            "convolve2d",
            "ch01_cross_correlation.convolve2d",
            "def convolve2d(X, K, mode='valid'):\n    return page(X, K)",
        ),
        Closest(  # the matched filter: right shape, the kernel only for uncorrelated pixels
            "test_recover_kernel",
            "recover_kernel",
            "ch01_cross_correlation.corr2d",
            "def recover_kernel(X, Y, kernel_size):\n    return page(X, Y)",
        ),
    ],
    "ex02_learning_a_kernel": [
        Closest(  # the layer's loss differentiated by autograd, as the page does
            "test_loss_grad",
            "loss_grad",
            "ch02_learning_a_kernel.Conv2D",
            "def loss_grad(X, Y, K, b):\n"
            "    layer = page(tuple(K.shape)).to(X.dtype)\n"
            "    layer.weight.data, layer.bias.data = K.clone(), b.reshape(1).clone()\n"
            "    loss = ((layer(X) - Y) ** 2).sum()\n"
            "    dK, db = torch.autograd.grad(loss, (layer.weight, layer.bias))\n"
            "    return dK, db[0]",
        ),
        Closest(
            "test_numerical_grad",
            "numerical_grad",
            "ch02_learning_a_kernel.learn_kernel",
            "def numerical_grad(loss, K, eps=1e-6):\n"
            "    K = K.clone().requires_grad_()\n"
            "    return torch.autograd.grad(loss(K), K)[0]",
        ),
        Closest(  # the page's learning rate, which converges on its example
            "test_critical_lr",
            "critical_lr",
            "ch02_learning_a_kernel.learn_kernel",
            "def critical_lr(X, kernel_size):\n    return 0.01",
        ),
    ],
    "ex03_padding_stride": [
        Closest(  # the page's symmetric padding that keeps the size at stride 1
            "test_same_padding",
            "same_padding",
            "ch03_padding_and_stride.pad2d",
            "def same_padding(size, kernel_size, stride):\n"
            "    p = (kernel_size - 1) // 2\n"
            "    return p, p",
        ),
        Closest(
            "test_pad2d",
            "pad2d",
            "ch03_padding_and_stride.pad2d",
            "def pad2d(X, padding, mode='constant'):\n"
            "    flat = X.reshape(-1, *X.shape[-2:])\n"
            "    out = torch.stack([page(x, (padding, padding)) for x in flat])\n"
            "    return out.reshape(*X.shape[:-2], *out.shape[-2:])",
        ),
        Closest(
            "test_conv2d",
            "conv2d",
            "ch04_channels.conv2d",
            "def conv2d(X, K, stride=1, padding=0, padding_mode='zeros'):\n"
            "    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)\n"
            "    if padding == 'same':\n"
            "        padding = ((K.shape[-2] - 1) // 2, (K.shape[-1] - 1) // 2)\n"
            "    if padding == 'valid':\n"
            "        padding = 0\n"
            "    return page(X, K, None, pair(stride), pair(padding))",
        ),
    ],
    "ex04_channels": [
        Closest(  # one layer after the other is not one kernel
            "test_compose_layers",
            "compose_layers",
            "ch04_channels.conv2d",
            "def compose_layers(K1, b1, K2, b2):\n"
            "    return page(K1.transpose(0, 1), K2, None).transpose(0, 1), b2",
        ),
        Closest(
            "test_fold_normalization",
            "fold_normalization",
            "ch04_channels.corr2d_multi_in_out",
            "def fold_normalization(K, b, mean, std):\n    return K / std[None, :, None, None], b",
        ),
        Closest(  # the response to a centred impulse: the flipped kernel
            "test_probe_layer",
            "probe_layer",
            "ch04_channels.corr2d_multi_in_out",
            "def probe_layer(layer, in_channels, kernel_size):\n"
            "    kh, kw = kernel_size\n"
            "    size = (in_channels, in_channels, 2 * kh - 1, 2 * kw - 1)\n"
            "    X = torch.zeros(size, dtype=torch.float64)\n"
            "    for c in range(in_channels):\n"
            "        X[c, c, kh - 1, kw - 1] = 1\n"
            "    Y = layer(X)\n"
            "    return Y.transpose(0, 1), Y.new_zeros(Y.shape[1])",
        ),
    ],
    "ex05_one_by_one": [],
    "ex06_groups": [],
    # ---------------------------------------------------------------------------------- assign2
    "ex07_dilation": [],
    "ex08_transposed": [],
    "ex09_backward": [],
    "ex10_im2col": [],
    "ex11_pooling": [],
    # ---------------------------------------------------------------------------------- assign3
    "ex12_conv1d_3d": [],
    "ex13_separable": [],
    "ex14_deformable": [],
    "ex15_large_kernels": [],
    "ex16_speed": [],
    # ---------------------------------------------------------------------------------- capstone
    "ex17_capstone": [],
}
