# %% markdown id=title
# # Exercise 7: dilated convolutions
#
# **Total: {total_points} points.** Book chapter 7.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv2d` and friends, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex07_dilation.ipynb`.
#
# The chapter dilates 2D kernels, checks the gridding of 3x3 stacks with Wang et al.'s rule and
# reads a layer's settings from its definition. Here you dilate kernels of any dimension, design a
# hole-free stack under a weight budget and prove it by computing its field, and recover the
# settings of a layer you can only call.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex07 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_dilate_kernel
# ## 1. A kernel with holes, in any number of dimensions (2 points)
#
# A dilated convolution equals an ordinary one with a bigger kernel that has `d - 1` zeros between
# neighbouring taps. The chapter builds that kernel for 2D. Write `dilate_kernel(K, dilation)` for
# any number of spatial axes: `dilation` is a tuple with one rate per trailing axis of `K`
# (`(d,)` for a 1D kernel `(..., k)`, `(dh, dw)` for 2D, `(dt, dh, dw)` for a video kernel
# `(..., kt, kh, kw)`); the leading axes of `K` (channels) are left alone. Each dilated axis of
# length `k` becomes `d*(k - 1) + 1` long, with `K`'s values at every `d`-th position. Build the
# index for the assignment programmatically: a tuple `(..., slice(None, None, d1), ...)` indexes
# the last axes with strides.

# %% solution id=dilate_kernel
def dilate_kernel(K: torch.Tensor, dilation: tuple[int, ...]) -> torch.Tensor:
    """K: (..., k1, ..., kn), dilation (d1, ..., dn) -> (..., d1*(k1-1)+1, ..., dn*(kn-1)+1)."""
    ### BEGIN SOLUTION
    n = len(dilation)
    sizes = [d * (k - 1) + 1 for k, d in zip(K.shape[-n:], dilation)]
    out = K.new_zeros((*K.shape[:-n], *sizes))
    out[(..., *[slice(None, None, d) for d in dilation])] = K
    return out
    ### END SOLUTION

# %% test id=test_dilate_kernel points=2
practice.check_dilate_kernel(dilate_kernel, torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, device=device), (2, 2))
practice.check_dilate_kernel(dilate_kernel, check.randn(2, 3, 3, 2, seed=1, device=device), (3, 2))
practice.check_dilate_kernel(dilate_kernel, check.randn(2, 1, 4, seed=2, device=device), (2,))  # 1D
practice.check_dilate_kernel(dilate_kernel, check.randn(1, 2, 2, 3, 2, seed=3, device=device), (1, 2, 3))  # 3D
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex07", None)
practice = importlib.import_module("convlib.checks.ex07")
for seed, (shape, d) in enumerate([((3, 3), (1, 1)), ((1, 4), (1, 2)), ((4, 2, 2, 3), (4, 1)), ((5,), (3,)), ((2, 2, 3, 2, 2), (2, 3, 1))]):
    practice.check_dilate_kernel(dilate_kernel, check.randn(*shape, seed=10 + seed, device=device), d)
### END HIDDEN TESTS

# %% markdown id=md_design
# ## 2. A hole-free stack under a weight budget (3 points)
#
# You want a stack of square `k x k` convolutions (stride 1, odd `k`, one `dilation` each) whose
# receptive field spans at least `field` pixels per axis, reads **every** pixel of that field
# (no gridding holes), and costs at most `max_weights` weights per pair of channels (a `k x k`
# layer costs `k*k`). The chapter's doubling rates 1, 2, 4, 8 and its 3x3 rule are one answer,
# not the cheapest, and it checks holes only for three 3x3 layers. Write
# `design_dilations(field, max_weights)` returning the layers as a list of
# `(kernel_size, dilation)` pairs, first layer first. The budgets in the tests are the smallest
# that any such stack can meet, so find the cheapest design and convince yourself, by computing
# which offsets of the input reach one output unit, that it has no holes. The check computes the
# field of your layers, counts their holes and adds up their weights.

# %% solution id=design_dilations
def design_dilations(field: int, max_weights: int) -> list[tuple[int, int]]:
    """The cheapest hole-free stack [(kernel_size, dilation), ...] whose field is >= field."""
    ### BEGIN SOLUTION
    layers, covered = [], 1
    while covered < field:
        # taps `covered` apart repeat a block of `covered` consecutive pixels: they touch, no gap,
        # and a 3x3 layer triples the field for 9 weights (a 5x5 multiplies it by 5 for 25)
        layers.append((3, covered))
        covered *= 3
    return layers
    ### END SOLUTION

# %% test id=test_design_dilations points=3
practice.check_dilation_design(design_dilations, 9, 18)
practice.check_dilation_design(design_dilations, 20, 27)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex07", None)
practice = importlib.import_module("convlib.checks.ex07")
for field, budget in [(1, 0), (2, 9), (27, 27), (28, 36), (81, 36), (100, 45), (500, 54)]:
    practice.check_dilation_design(design_dilations, field, budget)
### END HIDDEN TESTS

# %% markdown id=md_probe
# ## 3. What is inside this layer? (4 points)
#
# You are handed `layer`, a one-channel square convolution you can call on any
# `X: (N, 1, H, W)` but not read: its kernel size, stride, padding and dilation are hidden (the
# same on both axes, and its weights are all non-zero). Write `probe_layer(layer)` returning the
# four ints `(kernel_size, stride, padding, dilation)`, found only from what the layer outputs
# for inputs you choose. When `kernel_size` is 1 the dilation cannot be seen: return 1. Design
# your probes so that the padding and the borders cannot fool you. Reading the layer's insides
# (its `__closure__`, `__code__`, `__dict__` or globals) is not probing: the check refuses it.

# %% solution id=probe_layer
def probe_layer(layer) -> tuple[int, int, int, int]:
    """(kernel_size, stride, padding, dilation) of a hidden square convolution."""
    ### BEGIN SOLUTION
    L = 48
    impulses = torch.zeros(L, 1, 1, L, dtype=torch.float64)
    impulses[torch.arange(L), 0, 0, torch.arange(L)] = 1.0  # image x: a column of ones at x
    impulses = impulses.expand(L, 1, L, L)
    reached = layer(impulses)[:, 0].abs().sum(dim=1) > 0  # (x, j): input column x reaches output j
    j = reached.shape[1] // 2  # a window away from the borders
    taps = reached[:, j].nonzero().flatten()
    kernel_size = len(taps)
    dilation = int(taps[1] - taps[0]) if kernel_size > 1 else 1
    stride = int(reached[:, j + 1].nonzero()[0] - taps[0])
    padding = j * stride - int(taps[0])
    return kernel_size, stride, padding, dilation
    ### END SOLUTION

# %% test id=test_probe_layer points=4
practice.check_probe_layer(probe_layer, 3, 1, 1, 1, seed=1)
practice.check_probe_layer(probe_layer, 3, 2, 1, 2, seed=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex07", None)
practice = importlib.import_module("convlib.checks.ex07")
for seed, (k, s, p, d) in enumerate([(1, 1, 0, 1), (2, 1, 0, 3), (3, 3, 2, 2), (4, 2, 3, 1), (5, 1, 0, 2), (2, 4, 1, 5)]):
    practice.check_probe_layer(probe_layer, k, s, p, d, seed=10 + seed)
### END HIDDEN TESTS
