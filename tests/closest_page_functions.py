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
        Closest(  # the page's symmetric zero padding
            "test_conv2d",
            "conv2d",
            "ch03_padding_and_stride.corr2d_strided",
            "def conv2d(X, K, stride=1, padding=0, padding_mode='zeros'):\n"
            "    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)\n"
            "    if padding == 'same':\n"
            "        padding = ((K.shape[-2] - 1) // 2, (K.shape[-1] - 1) // 2)\n"
            "    if padding == 'valid':\n"
            "        padding = 0\n"
            "    return page(X, K, pair(stride), pair(padding))",
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
    "ex05_one_by_one": [
        Closest(  # the page's pixel layout, fitted without the bias
            "test_fit_conv1x1",
            "fit_conv1x1",
            "ch05_one_by_one.conv1x1",
            "def fit_conv1x1(X, Y):\n"
            "    N, C_in, H, W = X.shape\n"
            "    A = X.reshape(N, C_in, H * W).transpose(1, 2).reshape(-1, C_in)\n"
            "    B = Y.reshape(N, Y.shape[1], H * W).transpose(1, 2).reshape(-1, Y.shape[1])\n"
            "    K = torch.linalg.lstsq(A, B).solution.T\n"
            "    return K.reshape(*K.shape, 1, 1), Y.new_zeros(Y.shape[1])",
        ),
        Closest(  # ResNet's width on the page: a quarter of the channels
            "test_bottleneck_width",
            "bottleneck_width",
            "ch05_one_by_one.conv1x1",
            "def bottleneck_width(channels, size, max_macs, max_params):\n    return channels // 4",
        ),
        Closest(  # squeeze by keeping the first mid input channels
            "test_squeeze_expand",
            "squeeze_expand",
            "ch05_one_by_one.conv1x1",
            "def squeeze_expand(K, mid):\n"
            "    squeeze = torch.eye(mid, K.shape[1], dtype=K.dtype, device=K.device)\n"
            "    return squeeze[:, :, None, None], K[:, :mid]",
        ),
    ],
    "ex06_groups": [
        Closest(  # the page's loop reads the grouped weight as it is
            "test_grouped_as_dense",
            "grouped_as_dense",
            "ch06_groups.conv2d_grouped",
            "def grouped_as_dense(K, groups):\n    return K",
        ),
        Closest(
            "test_recover_groups",
            "recover_groups",
            "ch06_groups.conv2d_grouped",
            "def recover_groups(K):\n    return K, 1",
        ),
        Closest(  # the page's two steps fused for a depth multiplier of 1
            "test_fuse_depthwise_separable",
            "fuse_depthwise_separable",
            "ch06_groups.depthwise_separable_conv2d",
            "def fuse_depthwise_separable(K_depthwise, K_pointwise, in_channels):\n"
            "    return torch.einsum('chw,oc->ochw', K_depthwise[:, 0], K_pointwise[:, :, 0, 0])",
        ),
    ],
    # ---------------------------------------------------------------------------------- assign2
    "ex07_dilation": [
        Closest(
            "test_dilate_kernel",
            "dilate_kernel",
            "ch07_dilation.dilate_kernel",
            "dilate_kernel = page",
        ),
        Closest(  # the page's doubling rates 1, 2, 4, ... of 3x3 layers
            "test_design_dilations",
            "design_dilations",
            "ch07_dilation.hdc_max_gap",
            "def design_dilations(field, max_weights):\n"
            "    layers, covered = [], 1\n"
            "    while covered < field:\n"
            "        layers.append((3, 2 ** len(layers)))\n"
            "        covered += 2 * layers[-1][1]\n"
            "    return layers",
        ),
        Closest(  # the page's output size, read as if stride 1 and no padding
            "test_probe_layer",
            "probe_layer",
            "ch07_dilation.corr2d_dilated",
            "def probe_layer(layer):\n"
            "    X = torch.zeros(1, 1, 32, 32, dtype=torch.float64)\n"
            "    return 32 - layer(X).shape[-1] + 1, 1, 0, 1",
        ),
    ],
    "ex08_transposed": [
        Closest(  # the page's output size, without the range output_padding must lie in
            "test_conv_transpose_output_padding",
            "conv_transpose_output_padding",
            "ch08_transposed.conv_transpose2d",
            "def conv_transpose_output_padding(size, target, kernel_size, stride=1, padding=0, "
            "dilation=1):\n"
            "    X = torch.zeros(1, 1, size, size, dtype=torch.float64)\n"
            "    K = torch.zeros(1, 1, kernel_size, kernel_size, dtype=torch.float64)\n"
            "    s, p, d = (stride, stride), (padding, padding), (dilation, dilation)\n"
            "    return target - page(X, K, None, s, p, (0, 0), 1, d).shape[-1]",
        ),
        Closest(
            "test_conv_matrix",
            "conv_matrix",
            "ch08_transposed.conv_matrix",
            "def conv_matrix(K, input_size, stride=1, padding=0, dilation=1):\n"
            "    return page(K[0, 0], input_size, (stride, stride), (padding, padding))",
        ),
        Closest(  # brute force: the smallest input where the whole function differs from the page
            "test_failing_cases",
            "failing_cases",
            "ch08_transposed.conv_transpose2d",
            "def failing_cases():\n"
            "    import itertools\n"
            "    found = []\n"
            "    for ci, h, w, co, kh, kw, sh, sw, p, op in itertools.product(*[(1, 2)] * 8, "
            "(0, 1), (0, 1)):\n"
            "        X = torch.randn(1, ci, h, w, dtype=torch.float64)\n"
            "        K = torch.randn(ci, co, kh, kw, dtype=torch.float64)\n"
            "        case = ((1, ci, h, w), (ci, co, kh, kw), (sh, sw), p, op)\n"
            "        try:\n"
            "            want = page(X, K, None, (sh, sw), (p, p), (op, op))\n"
            "            got = conv_transpose2d_buggy(X, K, (sh, sw), p, op)\n"
            "            if not torch.allclose(got, want):\n"
            "                found.append((X.numel() + K.numel(), case))\n"
            "        except Exception:\n"
            "            pass\n"
            "    case = min(found)[1]\n"
            "    return {'output_padding': case, 'channels': case, 'stride': case}",
        ),
        Closest(  # right values, one scatter per input pixel
            "test_conv_transpose2d",
            "conv_transpose2d",
            "ch08_transposed.conv_transpose2d",
            "def conv_transpose2d(X, K, stride=(1, 1), padding=0, output_padding=0):\n"
            "    op = (output_padding, output_padding)\n"
            "    return page(X, K, None, tuple(stride), (padding, padding), op)",
        ),
    ],
    "ex09_backward": [
        Closest(  # zero padding only
            "test_conv2d_grad_input",
            "conv2d_grad_input",
            "ch09_backward.conv2d_backward",
            "def conv2d_grad_input(dY, K, input_shape, stride=1, padding=0, dilation=1, groups=1, "
            "padding_mode='zeros'):\n"
            "    s, p, d = (stride, stride), (padding, padding), (dilation, dilation)\n"
            "    return page(dY.new_zeros(input_shape), K, dY, s, p, d, groups)[0]",
        ),
        Closest(  # judged against the page's gradient at the page's default settings
            "test_find_wrong",
            "find_wrong",
            "ch09_backward.conv2d_backward",
            "def find_wrong(candidates):\n"
            "    X = torch.randn(1, 1, 6, 5, dtype=torch.float64)\n"
            "    K = torch.randn(1, 1, 3, 2, dtype=torch.float64)\n"
            "    dY = torch.randn(1, 1, 4, 4, dtype=torch.float64)\n"
            "    dX = page(X, K, dY)[0]\n"
            "    return [n for n, g in candidates.items() if not torch.allclose(g(X, K, dY), dX)]",
        ),
        Closest(  # the roles of X and dY swapped in the page's conv2d_backward
            "test_conv_transpose2d_backward",
            "conv_transpose2d_backward",
            "ch09_backward.conv2d_backward",
            "def conv_transpose2d_backward(X, K, dY, stride=1, padding=0):\n"
            "    dX, dK, _ = page(dY, K, X, (stride, stride), (padding, padding))\n"
            "    return dX, dK",
        ),
    ],
    "ex10_im2col": [
        Closest(
            "test_im2col",
            "im2col",
            "ch10_im2col.im2col",
            "def im2col(X, kernel_size, padding=0, stride=1):\n"
            "    k = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size\n"
            "    return page(X, k[0], k[1], (stride, stride), (padding, padding))",
        ),
        Closest(
            "test_conv2d_gemm",
            "conv2d_gemm",
            "ch10_im2col.conv2d_im2col",
            "def conv2d_gemm(X, K, bias=None, stride=1, padding=0, groups=1):\n"
            "    return page(X, K, bias, (stride, stride), (padding, padding))",
        ),
        Closest(  # the right numbers, copied into columns
            "test_window_view",
            "window_view",
            "ch10_im2col.im2col",
            "def window_view(X, kernel_size, stride=1, dilation=1):\n"
            "    kh, kw = kernel_size\n"
            "    cols = page(X, kh, kw, (stride, stride), (0, 0), (dilation, dilation))\n"
            "    H_out = (X.shape[2] - dilation * (kh - 1) - 1) // stride + 1\n"
            "    cols = cols.reshape(*X.shape[:2], kh, kw, H_out, -1)\n"
            "    return cols.permute(0, 1, 4, 5, 2, 3)",
        ),
    ],
    "ex11_pooling": [
        Closest(
            "test_max_pool2d",
            "max_pool2d",
            "ch11_pooling.max_pool2d",
            "def max_pool2d(X, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):\n"
            "    s = None if stride is None else (stride, stride)\n"
            "    return page(X, (kernel_size, kernel_size), s, (padding, padding))",
        ),
        Closest(  # autograd through the page's forward
            "test_avg_pool2d_backward",
            "avg_pool2d_backward",
            "ch11_pooling.avg_pool2d",
            "def avg_pool2d_backward(dY, input_size, kernel_size, stride=None, padding=0, "
            "count_include_pad=True):\n"
            "    s = None if stride is None else (stride, stride)\n"
            "    with torch.enable_grad():\n"
            "        X = dY.new_zeros((*dY.shape[:2], *input_size), requires_grad=True)\n"
            "        Y = page(X, (kernel_size, kernel_size), s, (padding, padding))\n"
            "        return torch.autograd.grad(Y, X, dY)[0]",
        ),
        Closest(
            "test_adaptive_avg_pool2d",
            "adaptive_avg_pool2d",
            "ch11_pooling.adaptive_avg_pool2d",
            "adaptive_avg_pool2d = page",
        ),
    ],
    # ---------------------------------------------------------------------------------- assign3
    "ex12_conv1d_3d": [
        Closest(  # the page's conv1d on the cached window gives y_t; the page keeps no buffer
            "test_causal_step",
            "causal_step",
            "ch12_conv1d_3d.conv1d",
            "def causal_step(buffer, x_t, K, dilation=1):\n"
            "    X = torch.cat([buffer, x_t[:, :, None]], dim=2)\n"
            "    return page(X, K, dilation=dilation)[:, :, -1], buffer",
        ),
        Closest(  # the page's causal recipe (left zeros, conv1d) applied to each step alone
            "test_make_stream",
            "make_stream",
            "ch12_conv1d_3d.conv1d",
            "def make_stream(kernels, dilations):\n"
            "    def step(x_t):\n"
            "        h = x_t[:, :, None]\n"
            "        for i, (K, d) in enumerate(zip(kernels, dilations)):\n"
            "            zeros = h.new_zeros(h.shape[0], h.shape[1], d * (K.shape[2] - 1))\n"
            "            h = page(torch.cat([zeros, h], dim=2), K, dilation=d)\n"
            "            h = torch.relu(h) if i < len(kernels) - 1 else h\n"
            "        return h[:, :, -1]\n"
            "    return step",
        ),
        Closest(  # the page's WaveNet dilations, 1, 2, 4, ... (right for k = 2 only)
            "test_design_dilations",
            "design_dilations",
            "ch12_conv1d_3d.conv1d",
            "import math\n"
            "def design_dilations(field, kernel_size):\n"
            "    return [2 ** i for i in range(math.ceil(math.log2(field)))]",
        ),
    ],
    "ex13_separable": [
        Closest(  # the page's SVD of one 2D kernel (here the layer's mean kernel), shared
            "test_layer_factors",
            "layer_factors",
            "ch13_spatially_separable.low_rank_corr2d",
            "def layer_factors(K, rank):\n"
            "    C_out, C_in, kh, kw = K.shape\n"
            "    U, S, Vh = torch.linalg.svd(K.mean((0, 1)))\n"
            "    V = (U[:, :rank] * S[:rank].sqrt()).T.reshape(rank, 1, kh, 1)\n"
            "    H = (S[:rank, None].sqrt() * Vh[:rank]).reshape(1, rank, 1, kw)\n"
            "    return V.expand(rank, C_in, kh, 1), H.expand(C_out, rank, 1, kw)",
        ),
        Closest(  # the page's SVD of every 2D kernel separately
            "test_relative_errors",
            "relative_errors",
            "ch13_spatially_separable.low_rank_corr2d",
            "def relative_errors(K):\n"
            "    energy = torch.linalg.svdvals(K).pow(2)\n"
            "    tail = energy.sum() - energy.sum((0, 1)).cumsum(0)\n"
            "    return (tail / energy.sum()).clamp(min=0).sqrt()",
        ),
        Closest(  # the page's rule: r (kh + kw) against kh kw, one channel
            "test_rank_for_budget",
            "rank_for_budget",
            "ch13_spatially_separable.low_rank_corr2d",
            "def rank_for_budget(K, budget):\n"
            "    kh, kw = K.shape[-2:]\n"
            "    return min(kh, kw, int(budget * kh * kw // (kh + kw)))",
        ),
    ],
    "ex14_deformable": [
        Closest(  # the page's sampler with align_corners=True's mapping for both conventions
            "test_grid_sample",
            "grid_sample",
            "ch14_deformable.bilinear_sample",
            "def grid_sample(X, grid, align_corners=False):\n"
            "    H, W = X.shape[-2:]\n"
            "    px, py = (grid[..., 0] + 1) * (W - 1) / 2, (grid[..., 1] + 1) * (H - 1) / 2\n"
            "    return torch.stack([page(X[n], py[n], px[n]) for n in range(X.shape[0])])",
        ),
        Closest(  # the page's sampler differentiated by autograd
            "test_bilinear_grad",
            "bilinear_grad",
            "ch14_deformable.bilinear_sample",
            "def bilinear_grad(X, py, px):\n"
            "    qy, qx = py.clone().requires_grad_(), px.clone().requires_grad_()\n"
            "    v = page(X, qy, qx)\n"
            "    grads = [torch.autograd.grad(v[c].sum(), (qy, qx), retain_graph=True)\n"
            "             for c in range(X.shape[0])]\n"
            "    return torch.stack([g[0] for g in grads]), torch.stack([g[1] for g in grads])",
        ),
        Closest(  # the page's one-group layer, given the first group's offsets and mask
            "test_deform_conv2d",
            "deform_conv2d",
            "ch14_deformable.deform_conv2d",
            "def deform_conv2d(X, offset, K, bias=None, mask=None, stride=1, padding=0, "
            "dilation=1):\n"
            "    taps = K.shape[2] * K.shape[3]\n"
            "    mask = None if mask is None else mask[:, :taps]\n"
            "    return page(X, offset[:, : 2 * taps], K, bias, (stride, stride), "
            "(padding, padding), (dilation, dilation), mask)",
        ),
    ],
    "ex15_large_kernels": [
        Closest(  # the page's rule: one-sided padding, size + padding
            "test_fft_size",
            "fft_size",
            "ch15_large_kernels.corr2d_fft",
            "def fft_size(size, kernel_size, padding=0, dilation=1, stride=1):\n"
            "    return size + padding",
        ),
        Closest(  # the page's layer on a height-1 image, then every stride-th output
            "test_fft_conv1d",
            "fft_conv1d",
            "ch15_large_kernels.conv2d_fft",
            "def fft_conv1d(X, K, bias=None, padding=0, dilation=1, stride=1):\n"
            "    Y = page(X[:, :, None], K[:, :, None], padding=(0, padding))[:, :, 0, ::stride]\n"
            "    return Y if bias is None else Y + bias[None, :, None]",
        ),
        Closest(  # the page's transform of the whole signal at once
            "test_fft_conv1d_overlap_save",
            "fft_conv1d_overlap_save",
            "ch15_large_kernels.corr2d_fft",
            "def fft_conv1d_overlap_save(x, k, block):\n    return page(x[None], k[None])[0]",
        ),
    ],
    "ex16_speed": [
        Closest(  # rung 2: all windows as one view (no dilation, no bias)
            "test_conv2d_gemm",
            "conv2d_gemm",
            "ch16_loops_to_gemm.conv2d_windows",
            "def conv2d_gemm(X, K, bias=None, stride=1, padding=0, dilation=1):\n"
            "    Y = page(X, K, (stride, stride), (padding, padding))\n"
            "    return Y if bias is None else Y + bias[None, :, None, None]",
        ),
        Closest(
            "test_speedup",
            "conv2d_gemm",
            "ch16_loops_to_gemm.conv2d_windows",
            "def conv2d_gemm(X, K, bias=None, stride=1, padding=0, dilation=1):\n"
            "    Y = page(X, K, (stride, stride), (padding, padding))\n"
            "    return Y if bias is None else Y + bias[None, :, None, None]",
        ),
        Closest(  # the page's F(2, 3) matrices, whatever m and r
            "test_winograd_matrices",
            "winograd_matrices",
            "ch16_loops_to_gemm.winograd_matrices",
            "def winograd_matrices(m, r, points):\n    return page()",
        ),
        Closest(  # the page's F(2x2, 3x3) tiles on a one-row image (3-tap kernels, tile loop)
            "test_winograd_conv1d",
            "winograd_conv1d",
            "ch16_loops_to_gemm.corr2d_winograd",
            "def winograd_conv1d(x, g, m, points):\n"
            "    X = torch.stack([x, x * 0, x * 0])\n"
            "    K = torch.stack([g, g * 0, g * 0])\n"
            "    return page(X, K)[0]",
        ),
    ],
    # ---------------------------------------------------------------------------------- capstone
    # The chapter's Functions are stride 1 and tile the input; its network is built on its own
    # Functions, not on the student's graded ones.
    "ex17_capstone": [
        Closest(
            "test_conv2d_function",
            "conv2d_function",
            "ch17_capstone.Conv2d",
            "class Conv2dFunction(torch.autograd.Function):\n"
            "    @staticmethod\n"
            "    def forward(ctx, X, K, bias, stride, padding):\n"
            "        return page.forward(ctx, X, K, bias, (padding, padding))\n"
            "    @staticmethod\n"
            "    def backward(ctx, dY):\n"
            "        return (*page.backward(ctx, dY), None)",
        ),
        Closest(
            "test_max_pool2d_function",
            "max_pool2d_function",
            "ch17_capstone.MaxPool2d",
            "class MaxPool2dFunction(torch.autograd.Function):\n"
            "    @staticmethod\n"
            "    def forward(ctx, X, kernel_size, stride):\n"
            "        return page.forward(ctx, X, (kernel_size, kernel_size))\n"
            "    @staticmethod\n"
            "    def backward(ctx, dY):\n"
            "        return (*page.backward(ctx, dY), None)",
        ),
        Closest("test_network", "make_model", "ch17_capstone.LeNet", "make_model = page"),
        Closest("test_training", "make_model", "ch17_capstone.LeNet", "make_model = page"),
        Closest("test_training_again", "make_model", "ch17_capstone.LeNet", "make_model = page"),
    ],
}
