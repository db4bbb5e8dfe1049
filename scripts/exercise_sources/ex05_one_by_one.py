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
#
# The chapter computes a 1x1 convolution as a matrix product. Here you invert it (fit the weight
# to data by least squares) and count what 1x1 convolutions save in Inception and ResNet blocks.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_conv1x1
# ## 1. The way back: fit a 1x1 convolution by least squares (3 points)
#
# The chapter computes a 1x1 convolution as one matrix product: every pixel's `C_in` channel
# values times the same `(C_out, C_in)` matrix, plus the bias. Now go the other way. Given an input
# batch `X: (N, C_in, H, W)` and an output batch `Y: (N, C_out, H, W)`, find the weight
# `K: (C_out, C_in, 1, 1)` and bias `b: (C_out,)` whose 1x1 convolution comes closest to `Y` in the
# least-squares sense (minimise the sum of squared differences over every pixel and channel).
#
# Because the same matrix acts on every pixel, each of the `N * H * W` pixels is one equation of an
# ordinary linear regression: stack the pixels as the rows of a matrix `A` with `C_in` columns (plus
# a column of ones for the bias), the target pixels as the rows of `B` with `C_out` columns, solve
# `A @ W ~ B` for `W` (`torch.linalg.lstsq(A, B).solution`, or the normal equations
# `(A^T A) W = A^T B` with `torch.linalg.solve`), and read `K` and `b` off `W`. Careful with the
# reshape: a pixel's channels must end up in one row. Write `fit_conv1x1(X, Y)` returning `(K, b)`.
# The tests use noisy `Y`, so only the least-squares answer passes.

# %% solution id=fit_conv1x1
def fit_conv1x1(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (N, C_in, H, W), Y: (N, C_out, H, W) -> K: (C_out, C_in, 1, 1), b: (C_out,), least squares."""
    ### BEGIN SOLUTION
    C_in, C_out = X.shape[1], Y.shape[1]
    A = X.permute(0, 2, 3, 1).reshape(-1, C_in)  # one row per pixel
    A = torch.cat([A, A.new_ones(A.shape[0], 1)], dim=1)  # the bias column
    B = Y.permute(0, 2, 3, 1).reshape(-1, C_out)
    W = torch.linalg.solve(A.T @ A, A.T @ B)  # (C_in + 1, C_out)
    return W[:C_in].T.reshape(C_out, C_in, 1, 1), W[C_in]
    ### END SOLUTION

# %% test id=test_fit_conv1x1 points=3
F = check.torch_reference()


def noisy_case(N, C_in, C_out, H, W, seed):
    """Y is a 1x1 convolution of X plus noise: the fit is not exact."""
    X = check.randn(N, C_in, H, W, seed=seed, device=device)
    K = check.randn(C_out, C_in, 1, 1, seed=seed + 1, device=device)
    b = check.randn(C_out, seed=seed + 2, device=device)
    return X, F.conv2d(X, K, b) + 0.1 * check.randn(N, C_out, H, W, seed=seed + 3, device=device)


practice.check_fit_conv1x1(fit_conv1x1, *noisy_case(2, 3, 2, 4, 5, seed=1))
practice.check_fit_conv1x1(fit_conv1x1, *noisy_case(1, 2, 2, 6, 6, seed=5))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
F = check.torch_reference()
for seed, (N, C_in, C_out, H, W) in enumerate([(1, 1, 1, 3, 3), (3, 4, 4, 2, 7), (2, 5, 3, 6, 1)]):
    practice.check_fit_conv1x1(fit_conv1x1, *noisy_case(N, C_in, C_out, H, W, seed=10 + 10 * seed))
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
