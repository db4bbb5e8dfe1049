# %% markdown id=title
# # Exercise 5: 1x1 convolutions
#
# **Total: {total_points} points.** Book chapter 5.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv2d`, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex05_one_by_one.ipynb`.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_conv1x1
# ## 1. A 1x1 convolution is a matrix product (3 points)
#
# With a `1x1` kernel, output pixel `(i, j)` only sees input pixel `(i, j)`: across channels it is a
# fully connected layer applied to every pixel, `Y[n, :, i, j] = K2 @ X[n, :, i, j]` with
# `K2 = K[:, :, 0, 0]` of shape `(C_out, C_in)`. Write `conv1x1(X, K)` with one matrix product
# and no Python loop: reshape `X` to `(N, C_in, H*W)`, multiply, reshape back.

# %% solution id=conv1x1
def conv1x1(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, 1, 1) -> Y: (N, C_out, H, W)."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out = K.shape[0]
    Y = K.reshape(C_out, C_in) @ X.reshape(N, C_in, H * W)
    return Y.reshape(N, C_out, H, W)
    ### END SOLUTION

# %% test id=test_conv1x1 points=3
check.check_conv2d(conv1x1, check.randn(2, 3, 4, 5, seed=1, device=device), check.randn(2, 3, 1, 1, seed=2, device=device), fname="conv1x1")
### BEGIN HIDDEN TESTS
for seed, (N, C_in, C_out, H, W) in enumerate([(1, 1, 1, 3, 3), (3, 8, 4, 2, 7), (2, 5, 9, 6, 1)]):
    X = check.randn(N, C_in, H, W, seed=10 + seed, device=device)
    K = check.randn(C_out, C_in, 1, 1, seed=20 + seed, device=device)
    check.check_conv2d(conv1x1, X, K, fname="conv1x1")
### END HIDDEN TESTS

# %% markdown id=md_inception
# ## 2. Inception: 1x1 convolutions cut the parameter count (2 points)
#
# An Inception block runs parallel branches on the same input (`in_channels`) and concatenates their
# outputs: a 1x1 convolution to `c1` channels, a 3x3 to `c3`, a 5x5 to `c5`, and a 3x3 max pooling.
# The improved block puts a 1x1 convolution before the 3x3 (to `reduce3` channels) and before the
# 5x5 (to `reduce5`), and one after the pooling (to `pool_proj`). Write `inception_params`: the
# number of weights (no biases) of the naive block when `reduce3`, `reduce5`, `pool_proj` are
# `None`, of the improved block otherwise. With `in_channels=192, c1=64, c3=128, c5=32` the naive
# block has 387072 weights; with `reduce3=96, reduce5=16, pool_proj=32`, 163328.

# %% solution id=inception_params
def inception_params(in_channels: int, c1: int, c3: int, c5: int, reduce3: int | None = None, reduce5: int | None = None, pool_proj: int | None = None) -> int:
    """Weights (no biases) of a naive Inception block, or of the 1x1-reduced one."""
    ### BEGIN SOLUTION
    total = in_channels * c1
    if reduce3 is None:
        return total + 9 * in_channels * c3 + 25 * in_channels * c5
    total += in_channels * reduce3 + 9 * reduce3 * c3
    total += in_channels * reduce5 + 25 * reduce5 * c5
    total += in_channels * pool_proj
    return total
    ### END SOLUTION

# %% test id=test_inception_params points=2
def inception_reference(in_channels, c1, c3, c5, reduce3=None, reduce5=None, pool_proj=None):
    """The same count, read off torch modules built on the meta device (no memory)."""
    conv = lambda i, o, k: torch.nn.Conv2d(i, o, k, bias=False, device="meta")
    if reduce3 is None:
        layers = [conv(in_channels, c1, 1), conv(in_channels, c3, 3), conv(in_channels, c5, 5)]
    else:
        layers = [conv(in_channels, c1, 1), conv(in_channels, reduce3, 1), conv(reduce3, c3, 3),
                  conv(in_channels, reduce5, 1), conv(reduce5, c5, 5), conv(in_channels, pool_proj, 1)]
    return check.count_params(torch.nn.ModuleList(layers))


for args in [(192, 64, 128, 32), (192, 64, 128, 32, 96, 16, 32)]:
    check.check_int(inception_params, args, {}, inception_reference(*args), fname="inception_params",
                    hint="count in_channels * out_channels * k * k for every convolution of the block")
assert inception_reference(192, 64, 128, 32) == 387072 and inception_reference(192, 64, 128, 32, 96, 16, 32) == 163328
### BEGIN HIDDEN TESTS
for args in [(256, 128, 192, 96), (256, 128, 192, 96, 128, 32, 64), (3, 1, 2, 3, 4, 5, 6)]:
    check.check_int(inception_params, args, {}, inception_reference(*args), fname="inception_params")
### END HIDDEN TESTS

# %% markdown id=md_bottleneck
# ## 3. The ResNet bottleneck (2 points)
#
# A plain residual block on `channels` channels stacks two 3x3 convolutions (`channels -> channels`).
# The bottleneck block instead reduces to `mid_channels` with a 1x1 convolution, applies a 3x3
# convolution `mid_channels -> mid_channels`, and expands back with a 1x1 convolution. Write both
# counts (weights only, no biases). For `channels=256, mid_channels=64`: 1179648 for the plain
# block, 69632 for the bottleneck.

# %% solution id=block_params
def plain_block_params(channels: int) -> int:
    """Weights of two 3x3 convolutions channels -> channels."""
    ### BEGIN SOLUTION
    return 2 * 9 * channels * channels
    ### END SOLUTION


def bottleneck_params(channels: int, mid_channels: int) -> int:
    """Weights of 1x1 (channels -> mid), 3x3 (mid -> mid), 1x1 (mid -> channels)."""
    ### BEGIN SOLUTION
    return channels * mid_channels + 9 * mid_channels * mid_channels + mid_channels * channels
    ### END SOLUTION

# %% test id=test_block_params points=2
def blocks_reference(channels, mid_channels):
    conv = lambda i, o, k: torch.nn.Conv2d(i, o, k, bias=False, device="meta")
    plain = torch.nn.Sequential(conv(channels, channels, 3), conv(channels, channels, 3))
    bottleneck = torch.nn.Sequential(conv(channels, mid_channels, 1), conv(mid_channels, mid_channels, 3), conv(mid_channels, channels, 1))
    return check.count_params(plain), check.count_params(bottleneck)


plain, bottleneck = blocks_reference(256, 64)
assert (plain, bottleneck) == (1179648, 69632)
check.check_int(plain_block_params, (256,), {}, plain, fname="plain_block_params")
check.check_int(bottleneck_params, (256, 64), {}, bottleneck, fname="bottleneck_params")
### BEGIN HIDDEN TESTS
for channels, mid in [(64, 16), (1024, 256), (3, 7)]:
    plain, bottleneck = blocks_reference(channels, mid)
    check.check_int(plain_block_params, (channels,), {}, plain, fname="plain_block_params")
    check.check_int(bottleneck_params, (channels, mid), {}, bottleneck, fname="bottleneck_params")
### END HIDDEN TESTS
