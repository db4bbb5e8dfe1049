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
# The chapter prints a 2D im2col and col2im that loop over windows, and an ungrouped GEMM. Here
# you write im2col for 1D, 2D and 3D inputs and col2im with a loop over kernel taps only, and run a
# grouped convolution as one batched matrix product.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

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
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
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
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, ks, s, p, g) in enumerate([((1, 1, 4, 4), (1, 1, 1, 1), 1, 0, 1), ((2, 6, 7, 6), (9, 2, 3, 2), 2, 1, 3), ((1, 4, 6, 6), (8, 1, 2, 2), 3, 2, 4)]):
    X = check.randn(*xs, seed=20 + seed, device=device)
    K = check.randn(*ks, seed=30 + seed, device=device)
    practice.check_conv2d_gemm_groups(conv2d_gemm, X, K, check.randn(ks[0], seed=40 + seed, device=device), s, p, g)
### END HIDDEN TESTS

# %% markdown id=md_col2im
# ## 3. col2im, the way back, without a loop over windows (3 points)
#
# `col2im(columns, output_size, kernel_size, padding=0, stride=1)` undoes the layout of a 2D
# `im2col` with the same square `kernel_size`, `padding` and `stride`: it adds every column's
# entries back at the positions of its window in an `(N, C, H, W)` tensor, where
# `output_size = (H, W)` and `C = columns.shape[1] // kernel_size**2`, and drops what lands on the
# padding. Where windows overlap, the contributions **add up**, so `col2im(im2col(X))` is `X` times
# the number of windows covering each pixel. This is `torch.nn.functional.fold`, and the backward
# pass of `im2col`. The chapter's version loops over the windows; loop over the `k * k` kernel
# taps instead: the rows of tap `(a, b)`, reshaped to `(N, C, out_h, out_w)`, are added onto the
# strided slice of the padded result that starts at `(a, b)`.

# %% solution id=col2im
def col2im(columns: torch.Tensor, output_size: tuple[int, int], kernel_size: int, padding: int = 0, stride: int = 1) -> torch.Tensor:
    """columns: (N, C*k*k, L) -> (N, C, H, W), overlapping entries summed, like F.fold."""
    ### BEGIN SOLUTION
    N, CKK, L = columns.shape
    H, W = output_size
    k, p, s = kernel_size, padding, stride
    C = CKK // (k * k)
    out_h, out_w = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    blocks = columns.reshape(N, C, k, k, out_h, out_w)
    out = columns.new_zeros((N, C, H + 2 * p, W + 2 * p))
    for a in range(k):
        for b in range(k):
            out[:, :, a : a + (out_h - 1) * s + 1 : s, b : b + (out_w - 1) * s + 1 : s] += blocks[:, :, a, b]
    return out[:, :, p : p + H, p : p + W]
    ### END SOLUTION

# %% test id=test_col2im points=3
practice.check_col2im(col2im, check.randn(1, 2 * 4, 9, seed=6, device=device), (4, 4), 2)
practice.check_col2im(col2im, check.randn(2, 3 * 9, 9, seed=7, device=device), (5, 5), 3, padding=1, stride=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (N, C, H, W, k, p, s) in enumerate([(2, 1, 3, 3, 1, 0, 1), (1, 3, 5, 6, 3, 0, 1), (2, 2, 4, 7, 2, 1, 1), (1, 2, 7, 6, 3, 1, 3)]):
    L = ((H + 2 * p - k) // s + 1) * ((W + 2 * p - k) // s + 1)
    practice.check_col2im(col2im, check.randn(N, C * k * k, L, seed=50 + seed, device=device), (H, W), k, padding=p, stride=s)
### END HIDDEN TESTS
