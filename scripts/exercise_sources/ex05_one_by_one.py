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
# The chapter computes a 1x1 convolution as a matrix product and counts what 1x1 reductions save
# in given Inception and ResNet blocks. Here you invert it (fit the weight to data by least
# squares), design a bottleneck to fit a budget, and find the best squeeze through fewer channels.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex05 as practice

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
# The chapter runs the layer forward; nothing on the page fits one. Write `fit_conv1x1(X, Y)`
# returning `(K, b)`. The tests use noisy `Y`, so only the least-squares answer passes; a library
# solver (`torch.linalg.lstsq`, `torch.linalg.solve`) is allowed, a convolution is not.

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
sys.modules.pop("convlib.checks.ex05", None)
practice = importlib.import_module("convlib.checks.ex05")
F = check.torch_reference()
for seed, (N, C_in, C_out, H, W) in enumerate([(1, 1, 1, 3, 3), (3, 4, 4, 2, 7), (2, 5, 3, 6, 1)]):
    practice.check_fit_conv1x1(fit_conv1x1, *noisy_case(N, C_in, C_out, H, W, seed=10 + 10 * seed))
### END HIDDEN TESTS

# %% markdown id=md_bottleneck
# ## 2. The widest bottleneck under a budget (3 points)
#
# The chapter takes ResNet's widths as given (256 channels squeezed to 64) and counts the weights.
# A designer goes the other way: the budget is fixed, the width is chosen. A bottleneck block on
# `channels` channels has three `torch.nn.Conv2d` layers, each with its bias (the default): a 1x1
# from `channels` to `mid`, a 3x3 from `mid` to `mid` with padding 1, and a 1x1 from `mid` back to
# `channels`. It runs on one `(channels, size, size)` image.
#
# Write `bottleneck_width(channels, size, max_macs, max_params)`: the widest `mid` whose block
# costs at most `max_macs` multiply-adds for the image and has at most `max_params` parameters
# (weights and biases). A multiply-add is one weight times one input value, added to an output;
# adding a bias is not one. Work out both costs as functions of `mid` (the chapter's counts are one
# case of them); the check reads them off a forward pass of the block's `torch.nn.Conv2d` layers,
# so your counts must be exact. Count, do not measure: running a torch convolution here scores 0
# for this task.

# %% solution id=bottleneck_width
def bottleneck_width(channels: int, size: int, max_macs: int, max_params: int) -> int:
    """The widest mid of a 1x1 -> 3x3 -> 1x1 bottleneck (biases included) within both budgets."""
    ### BEGIN SOLUTION
    def costs(mid: int) -> tuple[int, int]:
        weights = channels * mid + 9 * mid * mid + mid * channels
        return size * size * weights, weights + 2 * mid + channels

    mid = 0
    while all(c <= m for c, m in zip(costs(mid + 1), (max_macs, max_params))):
        mid += 1
    return mid
    ### END SOLUTION

# %% test id=test_bottleneck_width points=3
practice.check_bottleneck_width(bottleneck_width, 256, 56, 220_000_000, 70_000)
practice.check_bottleneck_width(bottleneck_width, 256, 14, 20_000_000, 1_000_000)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex05", None)
practice = importlib.import_module("convlib.checks.ex05")
for args in [(64, 32, 10_000_000, 20_000), (512, 28, 400_000_000, 300_000), (2048, 7, 200_000_000, 1_200_000), (8, 5, 2_000, 10_000)]:
    practice.check_bottleneck_width(bottleneck_width, *args)
### END HIDDEN TESTS

# %% markdown id=md_squeeze
# ## 3. Squeeze and expand: a 1x1 layer through fewer channels (3 points)
#
# A 1x1 convolution from `C_in` to `C_out` channels is one `(C_out, C_in)` matrix applied at every
# pixel. Replace it by two 1x1 layers with no non-linearity between them: a *squeeze* from `C_in`
# to `mid` channels, then an *expansion* from `mid` to `C_out`. Together they cost
# `mid * (C_in + C_out)` weights instead of `C_in * C_out`, but they can only compute some layers:
# which ones?
#
# Write `squeeze_expand(K, mid)` that takes a weight `K: (C_out, C_in, 1, 1)` and returns the pair
# `(K_squeeze, K_expand)` of shapes `(mid, C_in, 1, 1)` and `(C_out, mid, 1, 1)` whose two layers,
# run one after the other, come closest to `K`'s layer: the composite weight should differ from
# `K` by the least sum of squared entries (the Frobenius norm). Many pairs give the same composite
# (scale one factor up and the other down); the check judges the composite. Hint:
# `torch.linalg.svd` and the Eckart-Young theorem.

# %% solution id=squeeze_expand
def squeeze_expand(K: torch.Tensor, mid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """K: (C_out, C_in, 1, 1) -> K_squeeze: (mid, C_in, 1, 1), K_expand: (C_out, mid, 1, 1)."""
    ### BEGIN SOLUTION
    U, S, Vh = torch.linalg.svd(K[:, :, 0, 0], full_matrices=False)
    K_squeeze = S[:mid, None] * Vh[:mid]  # (mid, C_in): the mid strongest input directions
    K_expand = U[:, :mid]  # (C_out, mid)
    return K_squeeze[:, :, None, None], K_expand[:, :, None, None]
    ### END SOLUTION

# %% test id=test_squeeze_expand points=3
K = check.randn(6, 5, 1, 1, seed=1, device=device)
practice.check_squeeze_expand(squeeze_expand, K, 2)
practice.check_squeeze_expand(squeeze_expand, K, 5)  # full rank: the composite is K itself
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex05", None)
practice = importlib.import_module("convlib.checks.ex05")
for seed, (C_out, C_in, mid) in enumerate([(3, 8, 1), (16, 16, 4), (10, 4, 3), (7, 9, 6)]):
    practice.check_squeeze_expand(squeeze_expand, check.randn(C_out, C_in, 1, 1, seed=70 + seed, device=device), mid)
### END HIDDEN TESTS
