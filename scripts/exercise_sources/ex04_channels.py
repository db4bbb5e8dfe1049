# %% markdown id=title
# # Exercise 4: input and output channels
#
# **Total: {total_points} points.** Book chapter 4.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv2d`, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex04_channels.ipynb`.
#
# The chapter loops over channels one at a time. Here the channels become an axis of a tensor
# operation (no Python loop over them), in PyTorch's channels-first layout and in TensorFlow's
# channels-last one.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_multi_in
# ## 1. Several input channels, without a loop over them (2 points)
#
# With `C_in` input channels, the kernel has one `(kh, kw)` slice per channel: `K: (C_in, kh, kw)`.
# The output is a single channel: the sum over `c` of the cross-correlation of `X[c]` with `K[c]`.
# The chapter runs `corr2d` once per channel in a Python loop and sums the results. Write
# `corr2d_multi_in(X, K)` for `X: (C_in, H, W)`, returning `(H - kh + 1, W - kw + 1)`, with **no
# Python loop over the channels**: the channel sum is part of one tensor operation. Either loop
# over output positions and multiply the whole `(C_in, kh, kw)` window by `K`, or loop over the
# `kh * kw` taps. The check counts the lines of Python your function runs with 3 and with 19
# channels: they must not grow.
#
# Worked example: the two channels `[[0, 1, 2], [3, 4, 5], [6, 7, 8]]` and `[[1, 2, 3], [4, 5, 6],
# [7, 8, 9]]` with kernels `[[0, 1], [2, 3]]` and `[[1, 2], [3, 4]]` give `[[56, 72], [104, 120]]`.

# %% solution id=corr2d_multi_in
def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """X: (C_in, H, W), K: (C_in, kh, kw) -> Y: (H - kh + 1, W - kw + 1), summed over channels."""
    ### BEGIN SOLUTION
    C_in, kh, kw = K.shape
    Y = X.new_zeros((X.shape[1] - kh + 1, X.shape[2] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[:, i : i + kh, j : j + kw] * K).sum()
    return Y
    ### END SOLUTION

# %% test id=test_corr2d_multi_in points=2
X = torch.tensor([[[0.0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=torch.float64, device=device)
K = torch.tensor([[[0.0, 1], [2, 3]], [[1.0, 2], [3, 4]]], dtype=torch.float64, device=device)
check.compare(corr2d_multi_in(X, K), torch.tensor([[56.0, 72], [104, 120]], dtype=torch.float64, device=device), call="corr2d_multi_in on the worked example")
practice.check_corr2d_multi_in(corr2d_multi_in, check.randn(3, 5, 6, seed=1, device=device), check.randn(3, 2, 3, seed=2, device=device))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (C, H, W, kh, kw) in enumerate([(1, 4, 4, 2, 2), (4, 6, 5, 3, 3), (2, 3, 7, 1, 4)]):
    practice.check_corr2d_multi_in(corr2d_multi_in, check.randn(C, H, W, seed=10 + seed, device=device), check.randn(C, kh, kw, seed=20 + seed, device=device))
### END HIDDEN TESTS

# %% markdown id=md_multi_in_out
# ## 2. Channels last, a batch, and a matrix product per tap (3 points)
#
# PyTorch stores images channels-first, `(N, C, H, W)`, and weights as `(C_out, C_in, kh, kw)`.
# TensorFlow and Keras default to **channels-last**: images `(N, H, W, C)` ("NHWC") and weights
# `(kh, kw, C_in, C_out)` ("HWIO"); PyTorch's `channels_last` memory format and most GPU kernels
# prefer that order too. Write `corr2d_multi_in_out(X, K)` for a batch `X: (N, H, W, C_in)` and
# `K: (kh, kw, C_in, C_out)`, returning `(N, H - kh + 1, W - kw + 1, C_out)`, with **no Python loop
# over input or output channels** (the chapter stacks one output channel at a time).
#
# With the channels last, every pixel is a row vector of `C_in` numbers and tap `(a, b)` of the
# kernel is a `(C_in, C_out)` matrix, so the tap's contribution to all outputs is one product on
# the last axis: `X[:, a : a + H_out, b : b + W_out, :] @ K[a, b]`. Loop over the taps and add.
# The check compares with `F.conv2d` on the permuted tensors, and counts your lines of Python with
# few and with many channels.

# %% solution id=corr2d_multi_in_out
def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """X: (N, H, W, C_in), K: (kh, kw, C_in, C_out) -> Y: (N, H - kh + 1, W - kw + 1, C_out)."""
    ### BEGIN SOLUTION
    N, H, W, C_in = X.shape
    kh, kw, _, C_out = K.shape
    H_out, W_out = H - kh + 1, W - kw + 1
    Y = X.new_zeros((N, H_out, W_out, C_out))
    for a in range(kh):
        for b in range(kw):
            Y += X[:, a : a + H_out, b : b + W_out, :] @ K[a, b]
    return Y
    ### END SOLUTION

# %% test id=test_corr2d_multi_in_out points=3
practice.check_conv2d_channels_last(corr2d_multi_in_out, check.randn(2, 5, 5, 2, seed=3, device=device), check.randn(2, 2, 2, 3, seed=4, device=device))
practice.check_conv2d_channels_last(corr2d_multi_in_out, check.randn(1, 6, 4, 3, seed=5, device=device), check.randn(3, 2, 3, 3, seed=6, device=device))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (N, C_in, C_out, H, W, kh, kw) in enumerate([(1, 1, 1, 4, 4, 3, 3), (2, 3, 4, 6, 5, 2, 2), (1, 2, 5, 3, 3, 1, 1), (2, 4, 4, 5, 7, 3, 2)]):
    X = check.randn(N, H, W, C_in, seed=30 + seed, device=device)
    K = check.randn(kh, kw, C_in, C_out, seed=40 + seed, device=device)
    practice.check_conv2d_channels_last(corr2d_multi_in_out, X, K)
### END HIDDEN TESTS

# %% markdown id=md_params
# ## 3. Counting parameters (2 points)
#
# A convolution layer from `in_channels` to `out_channels` with a `kernel_size` kernel (an int, or a
# pair `(kh, kw)`) stores one weight per (output channel, input channel, kernel position) and, if
# `bias=True`, one bias per output channel. Write `conv_params`. For comparison, a fully connected
# layer between two 32x32 RGB images would need `(3*32*32)**2 + 3*32*32` parameters; a 3x3
# convolution from 3 to 3 channels needs 84.

# %% solution id=conv_params
def conv_params(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], bias: bool = True) -> int:
    """Number of learnable parameters of torch.nn.Conv2d(in_channels, out_channels, kernel_size)."""
    ### BEGIN SOLUTION
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return in_channels * out_channels * kh * kw + (out_channels if bias else 0)
    ### END SOLUTION

# %% test id=test_conv_params points=2
check.check_conv_params(conv_params, 3, 3, 3)
check.check_conv_params(conv_params, 16, 32, (3, 5), bias=False)
### BEGIN HIDDEN TESTS
for args, bias in [((1, 1, 1), True), ((64, 128, 3), False), ((3, 96, (11, 7)), True), ((512, 512, 1), True)]:
    check.check_conv_params(conv_params, *args, bias=bias)
### END HIDDEN TESTS
