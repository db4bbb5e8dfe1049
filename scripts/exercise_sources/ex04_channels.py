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

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_multi_in
# ## 1. Several input channels (2 points)
#
# With `C_in` input channels, the kernel has one `(kh, kw)` slice per channel: `K: (C_in, kh, kw)`.
# The output is a single channel: the sum over `c` of the cross-correlation of `X[c]` with `K[c]`.
# Write `corr2d_multi_in(X, K)` for `X: (C_in, H, W)`, returning `(H - kh + 1, W - kw + 1)`.

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
F = check.torch_reference()
X = torch.tensor([[[0.0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]], dtype=torch.float64, device=device)
K = torch.tensor([[[0.0, 1], [2, 3]], [[1.0, 2], [3, 4]]], dtype=torch.float64, device=device)
check.compare(corr2d_multi_in(X, K), torch.tensor([[56.0, 72], [104, 120]], dtype=torch.float64, device=device), call="corr2d_multi_in on the worked example")


def check_multi_in(X, K):
    reference = lambda K: F.conv2d(X[None], K[None])[0, 0]
    check.check_function(
        corr2d_multi_in, (X, K), {}, reference(K), fname="corr2d_multi_in",
        shape_hint="the channels are summed: the output is (H - kh + 1, W - kw + 1)",
        variants=[
            ("you used only the first channel: sum over all of them", lambda: F.conv2d(X[None, :1], K[None, :1])[0, 0]),
            ("you averaged the channels: sum them instead", lambda: reference(K) / K.shape[0]),
            ("your output equals torch's with the kernel flipped: this is convolution, not cross-correlation", lambda: reference(K.flip(-1, -2))),
        ],
    )


check_multi_in(check.randn(3, 5, 6, seed=1, device=device), check.randn(3, 2, 3, seed=2, device=device))
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for seed, (C, H, W, kh, kw) in enumerate([(1, 4, 4, 2, 2), (4, 6, 5, 3, 3), (2, 3, 7, 1, 4)]):
    check_multi_in(check.randn(C, H, W, seed=10 + seed, device=device), check.randn(C, kh, kw, seed=20 + seed, device=device))
### END HIDDEN TESTS

# %% markdown id=md_multi_in_out
# ## 2. Several output channels (3 points)
#
# To produce `C_out` output channels, use one `(C_in, kh, kw)` kernel per output channel:
# `K: (C_out, C_in, kh, kw)`. Write `corr2d_multi_in_out(X, K)` for `X: (C_in, H, W)` returning
# `(C_out, H - kh + 1, W - kw + 1)`; this is `torch.nn.functional.conv2d` on an unbatched input.
# Reuse `corr2d_multi_in` and `torch.stack`.

# %% solution id=corr2d_multi_in_out
def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """X: (C_in, H, W), K: (C_out, C_in, kh, kw) -> Y: (C_out, H - kh + 1, W - kw + 1)."""
    ### BEGIN SOLUTION
    return torch.stack([corr2d_multi_in(X, k) for k in K])
    ### END SOLUTION

# %% test id=test_corr2d_multi_in_out points=3
check.check_conv2d(corr2d_multi_in_out, check.randn(2, 5, 5, seed=3, device=device), check.randn(3, 2, 2, 2, seed=4, device=device), fname="corr2d_multi_in_out")
### BEGIN HIDDEN TESTS
for seed, (C_in, C_out, H, W, k) in enumerate([(1, 1, 4, 4, 3), (3, 4, 6, 5, 2), (2, 5, 3, 3, 1)]):
    X = check.randn(C_in, H, W, seed=30 + seed, device=device)
    K = check.randn(C_out, C_in, k, k, seed=40 + seed, device=device)
    check.check_conv2d(corr2d_multi_in_out, X, K, fname="corr2d_multi_in_out")
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
