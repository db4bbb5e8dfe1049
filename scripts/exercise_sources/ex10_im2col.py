# %% markdown id=title
# # Exercise 10: im2col: convolution as a matrix product
#
# **Total: {total_points} points.** Book chapter 10.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.unfold`, `fold`, `conv2d`, `Tensor.unfold`, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex10_im2col.ipynb`.
#
# The chapter prints a 2D im2col and col2im that loop over windows and copy every window, and an
# ungrouped GEMM. Here you write im2col for 1D, 2D and 3D inputs, run a grouped convolution as one
# batched matrix product, and build every window as a view that copies nothing.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex10 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_im2col
# ## 1. im2col in 1D, 2D and 3D, without a loop over windows (4 points)
#
# `im2col` copies every window the kernel visits into a column: for `X: (N, C, H, W)` and a
# `(kh, kw)` kernel it returns `(N, C*kh*kw, L)` where `L = out_h * out_w` is the number of windows,
# numbered row by row (`l = i*out_w + j`), and each column lists the window's entries in
# `(c, a, b)` order (channel first, then kernel row, then kernel column), exactly like
# `torch.nn.functional.unfold(X, kernel_size, padding=padding, stride=stride)`. The chapter's
# version is 2D and loops over the windows. Write `im2col(X, kernel_size, padding=0, stride=1)`
# for any number of spatial axes, `X: (N, C, *spatial)` with 1 (a signal), 2 (an image) or 3 (a
# video) of them, `kernel_size` an int (the same on every axis) or a tuple with one size per
# axis, and int `padding`, `stride`; the result is `(N, C * prod(kernel_size), L)` with the rows
# in `(c, kernel offset)` order and the windows in row-major order (last axis fastest), as
# `F.unfold` in 2D. **No Python loop over the windows**: loop over the kernel offsets instead
# (`itertools.product(*[range(k) for k in kernel_size])`); offset `(a, b, ...)` fills its rows for
# every channel and window with one strided slice of the padded input. Allocating the result as
# `(N, C, *kernel_size, *out_sizes)` and reshaping at the end gives the right order for free.
# Example: `X: (2, 5, 3, 4)` with a 2x3 kernel gives `(2, 30, 4)`; a video `(1, 3, 4, 6, 6)`
# with a 2x3x3 kernel gives `(1, 54, 48)`.

# %% solution id=im2col
import itertools
import math


def im2col(X: torch.Tensor, kernel_size: int | tuple[int, ...], padding: int = 0, stride: int = 1) -> torch.Tensor:
    """X: (N, C, *spatial) -> (N, C*prod(kernel_size), L), one column per window."""
    ### BEGIN SOLUTION
    N, C = X.shape[:2]
    spatial = X.shape[2:]
    ks = (kernel_size,) * len(spatial) if isinstance(kernel_size, int) else tuple(kernel_size)
    Xp = X.new_zeros((N, C, *[n + 2 * padding for n in spatial]))
    Xp[(slice(None), slice(None), *[slice(padding, padding + n) for n in spatial])] = X
    out = [(n + 2 * padding - k) // stride + 1 for n, k in zip(spatial, ks)]
    cols = X.new_zeros((N, C, *ks, *out))
    for offset in itertools.product(*[range(k) for k in ks]):
        window = tuple(slice(o, o + (m - 1) * stride + 1, stride) for o, m in zip(offset, out))
        cols[(slice(None), slice(None), *offset)] = Xp[(slice(None), slice(None), *window)]
    return cols.reshape(N, C * math.prod(ks), -1)
    ### END SOLUTION

# %% test id=test_im2col points=4
check.check_unfold(im2col, check.randn(2, 5, 3, 4, seed=1, device=device), (2, 3))
check.check_unfold(im2col, check.randn(1, 2, 5, 5, seed=2, device=device), 3, padding=1, stride=2)
practice.check_im2col_nd(im2col, check.randn(1, 2, 5, 5, seed=2, device=device), 3, padding=1, stride=2)
practice.check_im2col_nd(im2col, check.randn(2, 3, 9, seed=3, device=device), 3, padding=1, stride=2)  # 1D
practice.check_im2col_nd(im2col, check.randn(1, 3, 4, 6, 6, seed=4, device=device), (2, 3, 3))  # 3D
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex10", None)
practice = importlib.import_module("convlib.checks.ex10")
for seed, (xs, k, p, s) in enumerate([((1, 1, 4, 4), 1, 0, 1), ((2, 3, 6, 5), 3, 2, 3), ((1, 4, 7, 7), (2, 1), 1, 1), ((1, 2, 12), 4, 0, 3), ((2, 1, 3, 5, 4), 2, 1, 2)]):
    practice.check_im2col_nd(im2col, check.randn(*xs, seed=10 + seed, device=device), k, padding=p, stride=s)
### END HIDDEN TESTS

# %% markdown id=md_gemm
# ## 2. Grouped convolution as one batched matrix product (3 points)
#
# With the columns in hand, a convolution is a single matrix product (the chapter's
# `conv2d_im2col`). With `groups = g`, output channels of group `g` only read the input channels of
# group `g`, which in the columns are a contiguous block of rows (the rows are channel-major).
# Write `conv2d_gemm(X, K, bias=None, stride=1, padding=0, groups=1)` for `X: (N, C_in, H, W)` and
# `K: (C_out, C_in // groups, kh, kw)`, equal to
# `torch.nn.functional.conv2d(X, K, bias, stride=stride, padding=padding, groups=groups)`, as **one
# batched matrix product** with no Python loop over the groups: view the columns as
# `(N, groups, C_in // groups * kh * kw, L)` and the weight as
# `(groups, C_out // groups, C_in // groups * kh * kw)`; `@` broadcasts over the batch and
# multiplies group by group. Then add the bias and reshape to `(N, C_out, out_h, out_w)`. Use your
# `im2col`. The check counts your lines of Python with 2 and with 24 groups.

# %% solution id=conv2d_gemm
def conv2d_gemm(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0, groups: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in // groups, kh, kw), bias: (C_out,) -> (N, C_out, out_h, out_w)."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, C_in_g, kh, kw = K.shape
    out_h = (H + 2 * padding - kh) // stride + 1
    out_w = (W + 2 * padding - kw) // stride + 1
    cols = im2col(X, (kh, kw), padding=padding, stride=stride)  # (N, C_in*kh*kw, L)
    cols = cols.reshape(N, groups, C_in_g * kh * kw, out_h * out_w)
    weight = K.reshape(groups, C_out // groups, C_in_g * kh * kw)
    Y = (weight @ cols).reshape(N, C_out, out_h * out_w)  # (N, groups, C_out // groups, L)
    if bias is not None:
        Y = Y + bias[:, None]
    return Y.reshape(N, C_out, out_h, out_w)
    ### END SOLUTION

# %% test id=test_conv2d_gemm points=3
X = check.randn(2, 4, 5, 5, seed=3, device=device)
K = check.randn(6, 2, 3, 3, seed=4, device=device)
check.check_conv2d(conv2d_gemm, X, K, bias=check.randn(6, seed=5, device=device), groups=2, fname="conv2d_gemm", forbidden=check.CONV_OPS | check.UNFOLD_OPS)
check.check_conv2d(conv2d_gemm, X, check.randn(4, 4, 3, 3, seed=6, device=device), stride=2, padding=1, fname="conv2d_gemm", forbidden=check.CONV_OPS | check.UNFOLD_OPS)
practice.check_conv2d_gemm_groups(conv2d_gemm, X, K[:4, :1], None, 1, 1, 4)  # depthwise
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex10", None)
practice = importlib.import_module("convlib.checks.ex10")
for seed, (xs, ks, s, p, g) in enumerate([((1, 1, 4, 4), (1, 1, 1, 1), 1, 0, 1), ((2, 6, 7, 6), (9, 2, 3, 2), 2, 1, 3), ((1, 4, 6, 6), (8, 1, 2, 2), 3, 2, 4)]):
    X = check.randn(*xs, seed=20 + seed, device=device)
    K = check.randn(*ks, seed=30 + seed, device=device)
    practice.check_conv2d_gemm_groups(conv2d_gemm, X, K, check.randn(ks[0], seed=40 + seed, device=device), s, p, g)
### END HIDDEN TESTS

# %% markdown id=md_window_view
# ## 3. Every window, and not one byte copied (3 points)
#
# im2col copies each pixel into up to `kh*kw` columns. A strided *view* reads the same numbers
# from `X`'s own memory: a tensor is a storage plus a size, a stride per axis (how many elements
# to skip to move one step along it) and a storage offset, and `torch.as_strided(X, size, stride,
# storage_offset)` makes a new view of `X`'s storage with any of them. Write
# `window_view(X, kernel_size, stride=1, dilation=1)` for `X: (N, C, H, W)` (no padding) and
# `kernel_size = (kh, kw)`, returning the `(N, C, H', W', kh, kw)` view whose entry
# `[n, c, i, j, a, b]` is `X[n, c, i*stride + a*dilation, j*stride + b*dilation]`, **sharing
# `X`'s memory** (the check compares storages). `X` may itself be a view, a slice or a transpose of
# a bigger tensor: read its strides and offset from `X`. `Tensor.unfold` and `F.unfold` are not
# allowed.
#
# Then, in a scratch cell, compare the bytes of `window_view(X, (3, 3))` with those of the columns
# im2col makes of the same `X` (`.numel() * .element_size()`, and what `.contiguous()` of the view
# costs) for a `(8, 64, 56, 56)` float32 input: where does the factor come from?

# %% solution id=window_view
def window_view(X: torch.Tensor, kernel_size: tuple[int, int], stride: int = 1, dilation: int = 1) -> torch.Tensor:
    """X: (N, C, H, W) -> (N, C, H', W', kh, kw), a view of X's memory."""
    ### BEGIN SOLUTION
    N, C, H, W = X.shape
    kh, kw = kernel_size
    H_out = (H - dilation * (kh - 1) - 1) // stride + 1
    W_out = (W - dilation * (kw - 1) - 1) // stride + 1
    sn, sc, sh, sw = X.stride()
    size = (N, C, H_out, W_out, kh, kw)
    steps = (sn, sc, sh * stride, sw * stride, sh * dilation, sw * dilation)
    return torch.as_strided(X, size, steps, X.storage_offset())
    ### END SOLUTION

# %% test id=test_window_view points=3
practice.check_window_view(window_view, check.randn(1, 2, 5, 5, seed=8, device=device), (3, 3))
practice.check_window_view(window_view, check.randn(2, 3, 9, 8, seed=9, device=device), (2, 3), stride=2, dilation=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex10", None)
practice = importlib.import_module("convlib.checks.ex10")
base = check.randn(2, 4, 12, 11, seed=60, device=device)
for X, k, s, d in [(base[:, 1:3, 2:, 1::2], (2, 2), 1, 1), (base.transpose(2, 3), (3, 2), 2, 1), (base[1:, :, 3:9, 2:], (2, 3), 1, 2), (check.randn(1, 1, 4, 4, seed=61, device=device), (1, 1), 3, 1)]:
    practice.check_window_view(window_view, X, k, stride=s, dilation=d)
### END HIDDEN TESTS
