# %% markdown id=title
# # Exercise 4: input and output channels
#
# **Total: {total_points} points.** Book chapter 4.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your results with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Calling a convolution (`torch.nn.functional.conv2d`, `torch.nn.Conv2d` or
#   `convlib`) inside tasks 1 and 2 scores 0 for that task; task 3 calls the layer it is given.
# - Return tensors on the input's device and dtype (`K.new_zeros(shape)` creates one).
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex04_channels.ipynb`.
#
# The chapter computes a layer's output from its weight `(C_out, C_in, kh, kw)` and bias
# `(C_out,)`: a sum over the input channels, one map per output channel. Here you reason about the
# weight itself: fuse two layers into one, fold a preprocessing step into a layer, and read a
# hidden layer's weight off its outputs.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex04 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_compose
# ## 1. Two layers are one layer (4 points)
#
# Two convolution layers with no nonlinearity between them, `K1: (C_mid, C_in, kh1, kw1)`,
# `b1: (C_mid,)` then `K2: (C_out, C_mid, kh2, kw2)`, `b2: (C_out,)` (no padding, stride 1), compute
# the same function as a single layer. Write `compose_layers(K1, b1, K2, b2)` that returns that
# layer's `(K, b)`: `conv2d(X, K, b)` equals `conv2d(conv2d(X, K1, b1), K2, b2)` for every `X`.
# Work out its kernel size first, then how one entry of `K` collects products of `K1` and `K2`
# over the middle channels, and where `b1` ends up.

# %% solution id=compose_layers
def compose_layers(K1: torch.Tensor, b1: torch.Tensor, K2: torch.Tensor, b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """K1: (C_mid, C_in, kh1, kw1), b1: (C_mid,), K2: (C_out, C_mid, kh2, kw2), b2: (C_out,)
    -> K: (C_out, C_in, kh1 + kh2 - 1, kw1 + kw2 - 1), b: (C_out,)."""
    ### BEGIN SOLUTION
    C_out, _, kh2, kw2 = K2.shape
    _, C_in, kh1, kw1 = K1.shape
    K = K1.new_zeros((C_out, C_in, kh1 + kh2 - 1, kw1 + kw2 - 1))
    # tap (r, s) of K2 shifts K1 by (r, s): the offsets add up
    for r in range(kh2):
        for s in range(kw2):
            K[:, :, r : r + kh1, s : s + kw1] += torch.einsum("om,mcpq->ocpq", K2[:, :, r, s], K1)
    return K, b2 + K2.sum(dim=(2, 3)) @ b1
    ### END SOLUTION

# %% test id=test_compose_layers points=4
F = check.torch_reference()
K1, b1 = check.randn(3, 2, 2, 2, seed=1, device=device), check.randn(3, seed=2, device=device)
K2, b2 = check.randn(4, 3, 3, 2, seed=3, device=device), check.randn(4, seed=4, device=device)
practice.check_compose_layers(compose_layers, K1, b1, K2, b2)
X = check.randn(2, 2, 8, 7, seed=5, device=device)
K, b = compose_layers(K1, b1, K2, b2)
check.compare(F.conv2d(X, K, b), F.conv2d(F.conv2d(X, K1, b1), K2, b2), call="conv2d(X, K, b) with (K, b) = compose_layers(K1, b1, K2, b2)", atol=1e-9)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex04", None)
practice = importlib.import_module("convlib.checks.ex04")
for seed, (C_in, C_mid, C_out, k1, k2) in enumerate([(1, 1, 1, (1, 1), (2, 2)), (2, 4, 3, (3, 1), (1, 3)), (3, 2, 2, (2, 3), (3, 3))]):
    K1, b1 = check.randn(C_mid, C_in, *k1, seed=100 + seed, device=device), check.randn(C_mid, seed=110 + seed, device=device)
    K2, b2 = check.randn(C_out, C_mid, *k2, seed=120 + seed, device=device), check.randn(C_out, seed=130 + seed, device=device)
    practice.check_compose_layers(compose_layers, K1, b1, K2, b2)
### END HIDDEN TESTS

# %% markdown id=md_fold
# ## 2. Fold the input normalisation into the layer (3 points)
#
# Networks trained on images usually normalise each input channel first: `(X - mean[c]) / std[c]`
# with `mean`, `std` of shape `(C_in,)`. For deployment that step is folded into the first layer.
# Write `fold_normalization(K, b, mean, std)` that returns `(K', b')` with
# `conv2d(X, K', b')` equal to `conv2d((X - mean[None, :, None, None]) / std[None, :, None, None], K, b)`
# (no padding, stride 1).

# %% solution id=fold_normalization
def fold_normalization(K: torch.Tensor, b: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """K: (C_out, C_in, kh, kw), b: (C_out,), mean, std: (C_in,) -> K': like K, b': like b."""
    ### BEGIN SOLUTION
    K_folded = K / std[None, :, None, None]
    return K_folded, b - (K_folded * mean[None, :, None, None]).sum(dim=(1, 2, 3))
    ### END SOLUTION

# %% test id=test_fold_normalization points=3
F = check.torch_reference()
K, b = check.randn(4, 3, 3, 3, seed=6, device=device), check.randn(4, seed=7, device=device)
mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64, device=device)  # ImageNet's
std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64, device=device)
practice.check_fold_normalization(fold_normalization, K, b, mean, std)
X = check.randn(2, 3, 6, 6, seed=8, device=device)
K2, b2 = fold_normalization(K, b, mean, std)
check.compare(F.conv2d(X, K2, b2), F.conv2d((X - mean[None, :, None, None]) / std[None, :, None, None], K, b), call="conv2d(X, *fold_normalization(K, b, mean, std))", atol=1e-9)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex04", None)
practice = importlib.import_module("convlib.checks.ex04")
for seed, (C_out, C_in, kh, kw) in enumerate([(1, 1, 1, 1), (2, 4, 2, 3), (3, 2, 3, 1)]):
    K, b = check.randn(C_out, C_in, kh, kw, seed=200 + seed, device=device), check.randn(C_out, seed=210 + seed, device=device)
    mean = check.randn(C_in, seed=220 + seed, device=device)
    std = check.randn(C_in, seed=230 + seed, device=device).abs() + 0.5
    practice.check_fold_normalization(fold_normalization, K, b, mean, std)
### END HIDDEN TESTS

# %% markdown id=md_probe
# ## 3. Read a hidden layer's weights (3 points)
#
# You are given a layer as a function only: `layer(X)` maps a float64 batch `X: (N, C_in, H, W)` on
# `device` to `(N, C_out, H - kh + 1, W - kw + 1)` (a convolution with a bias, no padding, stride 1),
# and you know `C_in` and `(kh, kw)`. Write `probe_layer(layer, in_channels, kernel_size)` that
# returns its weight `(C_out, C_in, kh, kw)` and bias `(C_out,)` by feeding it inputs you design and
# reading its outputs. Think about which inputs isolate one weight, and where its effect appears.

# %% solution id=probe_layer
def probe_layer(layer, in_channels: int, kernel_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """layer: (N, C_in, H, W) -> (N, C_out, H - kh + 1, W - kw + 1) -> K: (C_out, C_in, kh, kw), b: (C_out,)."""
    ### BEGIN SOLUTION
    kh, kw = kernel_size
    # a batch of impulses the size of the kernel: each output is a single pixel
    impulses = torch.eye(in_channels * kh * kw, dtype=torch.float64, device=device)
    bias = layer(torch.zeros((1, in_channels, kh, kw), dtype=torch.float64, device=device))[0, :, 0, 0]
    responses = layer(impulses.reshape(-1, in_channels, kh, kw))[:, :, 0, 0] - bias  # (C_in kh kw, C_out)
    return responses.T.reshape(-1, in_channels, kh, kw), bias
    ### END SOLUTION

# %% test id=test_probe_layer points=3
practice.check_probe_layer(probe_layer, check.randn(2, 3, 3, 3, seed=9, device=device), check.randn(2, seed=10, device=device))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex04", None)
practice = importlib.import_module("convlib.checks.ex04")
for seed, (C_out, C_in, kh, kw) in enumerate([(1, 1, 1, 1), (3, 2, 2, 3), (2, 4, 3, 2)]):
    practice.check_probe_layer(probe_layer, check.randn(C_out, C_in, kh, kw, seed=300 + seed, device=device), check.randn(C_out, seed=310 + seed, device=device))
### END HIDDEN TESTS
