# %% markdown id=title
# # Exercise 8: transposed convolutions
#
# **Total: {total_points} points.** Book chapter 8.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv_transpose2d`, `conv2d` and friends, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex08_transposed.ipynb`.
#
# The chapter prints the output-size formula, a one-channel convolution matrix and transposed
# convolutions that loop over input pixels. Here you invert the size formula, build the matrix of a
# multi-channel convolution without a loop over outputs, and debug a fast transposed convolution:
# find the smallest input that exposes each of its bugs, then fix them.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex08 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)


def conv_transpose2d_buggy(X, K, stride=(1, 1), padding=0, output_padding=0):
    """F.conv_transpose2d(X, K, stride=stride, padding=padding, output_padding=output_padding),
    meant to be. X: (N, C_in, H, W), K: (C_in, C_out, kh, kw), stride a pair (sh, sw)."""
    N, C_in, H, W = X.shape
    _, C_out, kh, kw = K.shape
    sh, sw = stride
    H_full, W_full = (H - 1) * sh + kh, (W - 1) * sw + kw
    # every input pixel times every tap, in one product: (N, C_out*kh*kw, H*W)
    products = K.reshape(C_in, -1).T @ X.reshape(N, C_in, H * W)
    products = products.reshape(N, kh, kw, C_out, H, W)
    Y = X.new_zeros((N, C_out, H_full, W_full))
    for a in range(kh):
        for b in range(kw):
            # tap (a, b) sends input pixel (i, j) to output pixel (i*sh + a, j*sw + b)
            Y[:, :, a : a + (H - 1) * sh + 1 : sh, b : b + (W - 1) * sh + 1 : sh] += products[:, a, b]
    Y = Y[:, :, padding : H_full - padding, padding : W_full - padding]
    # output_padding: extra rows and columns at the bottom and on the right
    out = Y.new_zeros((N, C_out, Y.shape[2] + output_padding, Y.shape[3] + output_padding))
    out[:, :, : Y.shape[2], : Y.shape[3]] = Y
    return out

# %% markdown id=md_output_size
# ## 1. Which output_padding? (1 point)
#
# The chapter derives the output size of a transposed convolution,
#
# $$\text{out} = (\text{size} - 1)\,\text{stride} - 2\,\text{padding} + \text{dilation}\,(\text{kernel\_size} - 1) + \text{output\_padding} + 1 ,$$
#
# where `output_padding` resolves the ambiguity of a strided convolution: with stride 2, inputs of
# 7 and 8 pixels both give 4 outputs, so going back from 4 needs to be told which. In a decoder
# (U-Net, an autoencoder) you know the size you want back, the size of the matching encoder layer.
# Write the inverse, `conv_transpose_output_padding(size, target, kernel_size, stride=1,
# padding=0, dilation=1)`: the `output_padding` that makes the transposed convolution return
# `target`, or `-1` if no allowed value does (PyTorch only accepts
# `0 <= output_padding < max(stride, dilation)`). Example: size 4, kernel 3, stride 2, padding 1
# gives 7 with output_padding 0 and 8 with 1; a target of 9 is impossible.

# %% solution id=conv_transpose_output_padding
def conv_transpose_output_padding(size: int, target: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The output_padding that makes a transposed convolution return `target` pixels, or -1."""
    ### BEGIN SOLUTION
    without = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1
    a = target - without
    return a if 0 <= a < max(stride, dilation) else -1
    ### END SOLUTION

# %% test id=test_conv_transpose_output_padding points=1
practice.check_output_padding(conv_transpose_output_padding, 4, 7, 3, stride=2, padding=1)
practice.check_output_padding(conv_transpose_output_padding, 4, 8, 3, stride=2, padding=1)
practice.check_output_padding(conv_transpose_output_padding, 4, 9, 3, stride=2, padding=1)  # impossible: -1
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex08", None)
practice = importlib.import_module("convlib.checks.ex08")
for size, target, k, s, p, d in [(1, 1, 1, 1, 0, 1), (5, 5, 3, 1, 1, 1), (5, 6, 3, 1, 1, 1), (3, 11, 4, 3, 1, 1), (3, 12, 4, 3, 1, 1), (3, 9, 2, 4, 0, 1), (6, 13, 3, 1, 0, 3), (4, 5, 3, 2, 1, 1)]:
    practice.check_output_padding(conv_transpose_output_padding, size, target, k, stride=s, padding=p, dilation=d)
### END HIDDEN TESTS

# %% markdown id=md_conv_matrix
# ## 2. The matrix of a convolution with channels, built without a loop over outputs (3 points)
#
# Flatten an input `X: (C_in, H, W)` into a vector of length `C_in*H*W` (channel first, then rows,
# then columns) and the output `(C_out, H', W')` likewise. A convolution is then a matrix product
# `Y.flatten() = C @ X.flatten()`. The chapter builds `C` for one channel with a loop over the
# output positions. Write `conv_matrix(K, input_size, stride=1, padding=0, dilation=1)` for a
# weight `K: (C_out, C_in, kh, kw)` and int arguments, returning the
# `(C_out*H'*W', C_in*H*W)` matrix of `F.conv2d(X[None], K, stride=stride, padding=padding,
# dilation=dilation)`, with **no Python loop over output positions**: loop over the `kh * kw` taps
# only. For tap `(a, b)`, output position `(i, j)` reads input pixel
# `(i*stride + a*dilation - padding, j*stride + b*dilation - padding)`; build these with
# `torch.arange` for all `(i, j)` at once, keep those that fall inside the image (taps on the zero
# padding multiply nothing: no column), and write `K[:, :, a, b]` into all of them with one indexed
# assignment. Hint: allocate `C` as `(C_out, H', W', C_in, H, W)` (or in an order where the indexed
# axes come first) and reshape at the end.

# %% solution id=conv_matrix
def conv_matrix(K: torch.Tensor, input_size: tuple[int, int], stride: int = 1, padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """K: (C_out, C_in, kh, kw), input_size (H, W) -> C: (C_out*H'*W', C_in*H*W)."""
    ### BEGIN SOLUTION
    C_out, C_in, kh, kw = K.shape
    H, W = input_size
    s, p, d = stride, padding, dilation
    H_out = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    W_out = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    C = K.new_zeros((H_out, W_out, H, W, C_out, C_in))  # the indexed axes first
    i = torch.arange(H_out, device=K.device)[:, None].expand(H_out, W_out)
    j = torch.arange(W_out, device=K.device)[None, :].expand(H_out, W_out)
    for a in range(kh):
        for b in range(kw):
            h, w = i * s + a * d - p, j * s + b * d - p
            inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)
            C[i[inside], j[inside], h[inside], w[inside]] = K[:, :, a, b]
    return C.permute(4, 0, 1, 5, 2, 3).reshape(C_out * H_out * W_out, C_in * H * W)
    ### END SOLUTION

# %% test id=test_conv_matrix points=3
practice.check_conv_matrix_channels(conv_matrix, torch.arange(1.0, 10.0, dtype=torch.float64, device=device).reshape(1, 1, 3, 3), (4, 4))
practice.check_conv_matrix_channels(conv_matrix, check.randn(2, 3, 2, 3, seed=1, device=device), (3, 5))
practice.check_conv_matrix_channels(conv_matrix, check.randn(2, 2, 3, 3, seed=2, device=device), (5, 4), stride=2, padding=1, dilation=1)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex08", None)
practice = importlib.import_module("convlib.checks.ex08")
for seed, (ks, size, s, p, d) in enumerate([((1, 1, 1, 1), (2, 2), 1, 0, 1), ((3, 2, 3, 2), (5, 4), 1, 2, 1), ((2, 1, 2, 2), (6, 6), 2, 0, 2), ((1, 3, 3, 3), (4, 5), 3, 1, 1)]):
    practice.check_conv_matrix_channels(conv_matrix, check.randn(*ks, seed=10 + seed, device=device), size, stride=s, padding=p, dilation=d)
### END HIDDEN TESTS

# %% markdown id=md_failing_cases
# ## 3. Three bugs, three smallest witnesses (3 points)
#
# `conv_transpose2d_buggy` (defined in the setup cell above: read it) is a fast transposed
# convolution, with `stride` a pair `(sh, sw)` and int `padding` and `output_padding`: one matrix
# product gives every input pixel times every tap, then one strided slice per tap adds them up.
# It has exactly three bugs: one in how `output_padding` is applied, one in the order of the
# channels in a reshape, and one in a stride. Run it against `torch.nn.functional.conv_transpose2d`
# on inputs you choose, find each bug, and write `failing_cases()` returning a dict with keys
# `"output_padding"`, `"channels"` and `"stride"`, each mapped to a *smallest* input on which that
# bug alone (the other two fixed) makes the function differ from torch (or crash):
# `(x_shape, k_shape, (sh, sw), padding, output_padding)`, size measured as
# `X.numel() + K.numel()`. The check plants each bug alone in a correct function and runs your
# input through it.

# %% solution id=failing_cases
def failing_cases() -> dict[str, tuple]:
    """{bug: (x_shape, k_shape, (sh, sw), padding, output_padding)}, a smallest witness each."""
    ### BEGIN SOLUTION
    return {
        # the extra rows are real data when padding > 0, and output_padding needs stride > 1:
        # with stride 3 and output_padding 2, a 1x1 input and kernel give a 1x1 output, the
        # uncropped output's last row and column, which the bug leaves zero
        "output_padding": ((1, 1, 1, 1), (1, 1, 1, 1), (3, 3), 1, 2),
        # the order only matters with C_out > 1 and kh*kw > 1
        "channels": ((1, 1, 1, 1), (1, 2, 1, 2), (1, 1), 0, 0),
        # the wrong stride only shows when sh != sw and there are two columns
        "stride": ((1, 1, 1, 2), (1, 1, 1, 1), (1, 2), 0, 0),
    }
    ### END SOLUTION

# %% test id=test_failing_cases points=3
practice.check_failing_cases(failing_cases, ["stride"])
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex08", None)
practice = importlib.import_module("convlib.checks.ex08")
practice.check_failing_cases(failing_cases, ["output_padding", "channels", "stride"])
### END HIDDEN TESTS

# %% markdown id=md_fixed
# ## 4. Fix it (3 points)
#
# Write `conv_transpose2d(X, K, stride=(1, 1), padding=0, output_padding=0)`, the fixed
# function: equal to `torch.nn.functional.conv_transpose2d(X, K, stride=stride, padding=padding,
# output_padding=output_padding)` for every input, and still fast: **no Python loop over the
# input positions** (the check counts your lines of Python on a small and on a large input).
# The feedback names each bug that is still in.

# %% solution id=conv_transpose2d
def conv_transpose2d(X: torch.Tensor, K: torch.Tensor, stride: tuple[int, int] = (1, 1), padding: int = 0, output_padding: int = 0) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_in, C_out, kh, kw) -> (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    _, C_out, kh, kw = K.shape
    sh, sw = stride
    op = output_padding
    H_full, W_full = (H - 1) * sh + kh + op, (W - 1) * sw + kw + op
    products = K.reshape(C_in, -1).T @ X.reshape(N, C_in, H * W)
    products = products.reshape(N, C_out, kh, kw, H, W)
    Y = X.new_zeros((N, C_out, H_full, W_full))
    for a in range(kh):
        for b in range(kw):
            Y[:, :, a : a + (H - 1) * sh + 1 : sh, b : b + (W - 1) * sw + 1 : sw] += products[:, :, a, b]
    return Y[:, :, padding : H_full - padding, padding : W_full - padding]
    ### END SOLUTION

# %% test id=test_conv_transpose2d points=3
X = check.randn(1, 2, 3, 3, seed=4, device=device)
K = check.randn(2, 3, 3, 3, seed=5, device=device)
practice.check_fixed_conv_transpose2d(conv_transpose2d, X, K)
practice.check_fixed_conv_transpose2d(conv_transpose2d, X, K, (2, 1), 1, 0)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex08", None)
practice = importlib.import_module("convlib.checks.ex08")
for seed, (xs, ks, s, p, op) in enumerate([((2, 1, 2, 2), (1, 1, 3, 3), (2, 2), 0, 1), ((1, 3, 4, 3), (3, 2, 2, 4), (3, 2), 1, 1), ((2, 2, 5, 5), (2, 4, 4, 4), (2, 3), 1, 0), ((1, 1, 1, 1), (1, 2, 2, 2), (1, 1), 0, 0), ((1, 2, 3, 4), (2, 2, 3, 2), (3, 3), 1, 2)]):
    practice.check_fixed_conv_transpose2d(conv_transpose2d, check.randn(*xs, seed=40 + seed, device=device), check.randn(*ks, seed=50 + seed, device=device), s, p, op)
### END HIDDEN TESTS
