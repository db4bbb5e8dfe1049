# %% markdown id=title
# # Exercise 9: im2col: convolution as a matrix product
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
#   `nbgrader validate ex09_im2col.ipynb`.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_im2col
# ## 1. im2col (4 points)
#
# `im2col` copies every window the kernel visits into a column: for `X: (N, C, H, W)` and a
# `(kh, kw)` kernel it returns `(N, C*kh*kw, L)` where `L = out_h * out_w` is the number of windows,
# numbered row by row (`l = i*out_w + j`), and each column lists the window's entries in
# `(c, a, b)` order (channel first, then kernel row, then kernel column), exactly like
# `torch.nn.functional.unfold(X, kernel_size, padding=padding, stride=stride)`. `kernel_size`,
# `padding`, `stride` are ints. Example: `X: (2, 5, 3, 4)` with a 2x3 kernel gives `(2, 30, 4)`.

# %% solution id=im2col
def im2col(X: torch.Tensor, kernel_size: int, padding: int = 0, stride: int = 1) -> torch.Tensor:
    """X: (N, C, H, W) -> (N, C*kh*kw, L), one column per window, like F.unfold."""
    ### BEGIN SOLUTION
    N, C, H, W = X.shape
    k = kernel_size
    Xp = X.new_zeros((N, C, H + 2 * padding, W + 2 * padding))
    Xp[:, :, padding : padding + H, padding : padding + W] = X
    out_h = (H + 2 * padding - k) // stride + 1
    out_w = (W + 2 * padding - k) // stride + 1
    columns = []
    for i in range(out_h):
        for j in range(out_w):
            window = Xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            columns.append(window.reshape(N, C * k * k))
    return torch.stack(columns, dim=2)
    ### END SOLUTION

# %% test id=test_im2col points=4
check.check_unfold(im2col, check.randn(2, 5, 3, 4, seed=1, device=device), 2)
check.check_unfold(im2col, check.randn(1, 2, 5, 5, seed=2, device=device), 3, padding=1, stride=2)
### BEGIN HIDDEN TESTS
for seed, (xs, k, p, s) in enumerate([((1, 1, 4, 4), 1, 0, 1), ((2, 3, 6, 5), 3, 2, 3), ((1, 4, 7, 7), 2, 1, 1)]):
    check.check_unfold(im2col, check.randn(*xs, seed=10 + seed, device=device), k, padding=p, stride=s)
### END HIDDEN TESTS

# %% markdown id=md_gemm
# ## 2. Convolution as one matrix product (3 points)
#
# With the columns in hand, a convolution is a single matrix product: reshape
# `K: (C_out, C_in, k, k)` to `(C_out, C_in*k*k)`, multiply by `im2col(X, ...)` (broadcast over the
# batch), add the bias, and reshape the `L` axis to `(out_h, out_w)`. Write `conv2d_gemm`; it must
# equal `torch.nn.functional.conv2d(X, K, bias, stride=stride, padding=padding)` for square kernels.

# %% solution id=conv2d_gemm
def conv2d_gemm(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, k, k), bias: (C_out,) -> (N, C_out, out_h, out_w)."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, k, _ = K.shape
    out_h = (H + 2 * padding - k) // stride + 1
    out_w = (W + 2 * padding - k) // stride + 1
    Y = K.reshape(C_out, -1) @ im2col(X, k, padding=padding, stride=stride)  # (N, C_out, L)
    if bias is not None:
        Y = Y + bias[:, None]
    return Y.reshape(N, C_out, out_h, out_w)
    ### END SOLUTION

# %% test id=test_conv2d_gemm points=3
X = check.randn(2, 3, 5, 5, seed=3, device=device)
K = check.randn(4, 3, 3, 3, seed=4, device=device)
check.check_conv2d(conv2d_gemm, X, K, bias=check.randn(4, seed=5, device=device), fname="conv2d_gemm")
check.check_conv2d(conv2d_gemm, X, K, stride=2, padding=1, fname="conv2d_gemm")
### BEGIN HIDDEN TESTS
for seed, (xs, ks, s, p) in enumerate([((1, 1, 4, 4), (1, 1, 1, 1), 1, 0), ((2, 2, 7, 6), (3, 2, 3, 3), 2, 1), ((1, 3, 6, 6), (2, 3, 2, 2), 3, 2)]):
    X = check.randn(*xs, seed=20 + seed, device=device)
    K = check.randn(*ks, seed=30 + seed, device=device)
    check.check_conv2d(conv2d_gemm, X, K, bias=check.randn(ks[0], seed=40 + seed, device=device), stride=s, padding=p, fname="conv2d_gemm")
### END HIDDEN TESTS

# %% markdown id=md_col2im
# ## 3. col2im, the way back (3 points)
#
# `col2im(columns, output_size, kernel_size)` undoes the layout of `im2col` (stride 1, no padding):
# it adds every column's entries back at the positions of its window in an `(N, C, H, W)` tensor,
# where `output_size = (H, W)` and `C = columns.shape[1] // kernel_size**2`. Where windows overlap,
# the contributions **add up**, so `col2im(im2col(X))` is `X` times the number of windows covering
# each pixel. This is `torch.nn.functional.fold`; it is also the backward pass of `im2col`.

# %% solution id=col2im
def col2im(columns: torch.Tensor, output_size: tuple[int, int], kernel_size: int) -> torch.Tensor:
    """columns: (N, C*k*k, L) -> (N, C, H, W), overlapping entries summed, like F.fold."""
    ### BEGIN SOLUTION
    N, CKK, L = columns.shape
    H, W = output_size
    k = kernel_size
    C = CKK // (k * k)
    out_w = W - k + 1
    out = columns.new_zeros((N, C, H, W))
    for l in range(L):
        i, j = divmod(l, out_w)
        out[:, :, i : i + k, j : j + k] += columns[:, :, l].reshape(N, C, k, k)
    return out
    ### END SOLUTION

# %% test id=test_col2im points=3
F = check.torch_reference()


def check_col2im(cols, size, k):
    check.check_function(
        col2im, (cols, size, k), {}, F.fold(cols, size, k), fname="col2im", forbidden=check.UNFOLD_OPS | check.CONV_OPS,
        shape_hint="the result is (N, C, H, W) with C = columns.shape[1] // kernel_size**2",
        variants=[("overlapping windows must add up, not be averaged", lambda: F.fold(cols, size, k) / F.fold(torch.ones_like(cols), size, k))],
    )


check_col2im(check.randn(1, 2 * 4, 9, seed=6, device=device), (4, 4), 2)
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for seed, (N, C, H, W, k) in enumerate([(2, 1, 3, 3, 1), (1, 3, 5, 6, 3), (2, 2, 4, 7, 2)]):
    check_col2im(check.randn(N, C * k * k, (H - k + 1) * (W - k + 1), seed=50 + seed, device=device), (H, W), k)
### END HIDDEN TESTS
