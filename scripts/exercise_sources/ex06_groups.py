# %% markdown id=title
# # Exercise 6: groups and depthwise separable convolutions
#
# **Total: {total_points} points.** Book chapter 6.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional` on seeded random inputs and tell
#   you what differs. Build everything from indexing, slicing, `sum`, `*` and `@`: calling the
#   operation you implement (`torch.nn.functional.conv2d`, or `convlib`) scores 0 for that task.
# - Return tensors on the input's device and dtype: `X.new_zeros(shape)` creates one.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex06_groups.ipynb`.
#
# The chapter runs a grouped convolution as one convolution per group, and a depthwise separable
# convolution as two steps. Here you show that a grouped layer is an ordinary layer whose weight
# has zeros off its diagonal blocks, go the other way (how many groups hide in a dense weight?),
# and fuse the two steps of a depthwise separable convolution into one kernel, with a depth
# multiplier.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex06 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_dense
# ## 1. A grouped layer is a dense layer with zeros (3 points)
#
# A grouped weight `K: (C_out, C_in // groups, kh, kw)` holds only the kernels that the groups
# use. An ordinary (`groups=1`) layer with a `(C_out, C_in, kh, kw)` weight computes the same
# thing if that weight has `K`'s kernels where a group connects an output channel to an input
# channel, and zeros everywhere else. Write `grouped_as_dense(K, groups)` returning that dense
# weight, so that `F.conv2d(X, grouped_as_dense(K, g)) == F.conv2d(X, K, groups=g)` for every
# input. Which output channels belong to which group, and which input channels does each group
# read? The chapter's loop answers it. What fraction of the dense weight is zeros?

# %% solution id=grouped_as_dense
def grouped_as_dense(K: torch.Tensor, groups: int) -> torch.Tensor:
    """K: (C_out, C_in // groups, kh, kw) -> the dense (C_out, C_in, kh, kw) weight."""
    ### BEGIN SOLUTION
    C_out, ci = K.shape[:2]
    co = C_out // groups
    dense = K.new_zeros((C_out, ci * groups, *K.shape[2:]))
    for g in range(groups):
        dense[g * co : (g + 1) * co, g * ci : (g + 1) * ci] = K[g * co : (g + 1) * co]
    return dense
    ### END SOLUTION

# %% test id=test_grouped_as_dense points=3
F = check.torch_reference()
K = check.randn(6, 2, 3, 3, seed=1, device=device)
practice.check_grouped_as_dense(grouped_as_dense, K, 2)
practice.check_grouped_as_dense(grouped_as_dense, K, 3)
# what the dense weight is for: the same layer without groups
X = check.randn(1, 6, 5, 5, seed=2, device=device)
check.compare(F.conv2d(X, grouped_as_dense(K, 3)), F.conv2d(X, K, groups=3), call="F.conv2d(X, grouped_as_dense(K, 3))", atol=1e-9)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex06", None)
practice = importlib.import_module("convlib.checks.ex06")
for seed, (shape, groups) in enumerate([((4, 1, 3, 3), 4), ((8, 3, 1, 2), 2), ((3, 5, 2, 2), 1), ((6, 1, 1, 1), 3), ((12, 2, 2, 3), 4)]):
    practice.check_grouped_as_dense(grouped_as_dense, check.randn(*shape, seed=80 + seed, device=device), groups)
### END HIDDEN TESTS

# %% markdown id=md_recover
# ## 2. How many groups hide in a dense weight? (3 points)
#
# Now the way back. You are given a dense weight `K: (C_out, C_in, kh, kw)`, perhaps exported from
# a grouped layer, perhaps not. Write `recover_groups(K)` that returns `(K_grouped, groups)`: the
# **largest** number of groups `g` such that a grouped layer with `g` groups computes exactly what
# `K` does, and that layer's weight `K_grouped: (C_out, C_in // g, kh, kw)`, so that
# `grouped_as_dense(K_grouped, g)` gives `K` back. One group always works. Think about which
# numbers of groups are possible at all, and whether "g groups fit" for some `g` tells you anything
# about other values. The weights come from seeded random kernels, whose entries are never
# exactly zero, placed in exact zeros.

# %% solution id=recover_groups
def recover_groups(K: torch.Tensor) -> tuple[torch.Tensor, int]:
    """K: (C_out, C_in, kh, kw) -> (K_grouped: (C_out, C_in // g, kh, kw), g), g the largest."""
    ### BEGIN SOLUTION
    C_out, C_in = K.shape[:2]

    def grouped(g: int) -> torch.Tensor:
        co, ci = C_out // g, C_in // g
        return torch.cat([K[j * co : (j + 1) * co, j * ci : (j + 1) * ci] for j in range(g)])

    for g in range(min(C_out, C_in), 0, -1):  # from the most groups down: the first fit wins
        if C_out % g == 0 and C_in % g == 0 and torch.equal(grouped_as_dense(grouped(g), g), K):
            return grouped(g), g
    raise AssertionError("one group always fits")
    ### END SOLUTION

# %% test id=test_recover_groups points=3
practice.check_recover_groups(recover_groups, practice.grouped_weight(4, 6, 2, (3, 3), seed=1).to(device))
practice.check_recover_groups(recover_groups, practice.grouped_weight(6, 6, 3, (1, 2), seed=2).to(device))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex06", None)
practice = importlib.import_module("convlib.checks.ex06")
for seed, (C_out, C_in, groups, ks) in enumerate([(12, 12, 6, (3, 3)), (8, 8, 8, (2, 2)), (5, 3, 1, (1, 1)), (12, 8, 4, (1, 3)), (12, 12, 4, (2, 1))]):
    practice.check_recover_groups(recover_groups, practice.grouped_weight(C_out, C_in, groups, ks, seed=90 + seed).to(device))
### END HIDDEN TESTS

# %% markdown id=md_separable
# ## 3. A depthwise separable convolution is an ordinary one (3 points)
#
# A depthwise separable convolution filters every input channel on its own (`groups = C_in`), then
# mixes the channels with a 1x1 convolution. With a *depth multiplier* `m`, each input channel gets
# `m` depthwise kernels: `K_depthwise: (C_in * m, 1, kh, kw)`, and the depthwise step has `C_in * m`
# output channels, which the pointwise `K_pointwise: (C_out, C_in * m, 1, 1)` mixes. The chapter
# computes the two steps one after the other.
#
# Both steps are linear, so together they are one ordinary convolution. Derive its weight: write
# `fuse_depthwise_separable(K_depthwise, K_pointwise, in_channels)` returning the
# `(C_out, C_in, kh, kw)` kernel `K` with `conv2d(X, K) == conv2d(conv2d(X, K_depthwise,
# groups=C_in), K_pointwise)` (for any stride, and any zero padding of the depthwise step). Write
# out output channel `o` of the composition as a sum over the depthwise channels and collect the
# terms that read input channel `c`. Mind which depthwise channels belong to input channel `c` when
# `m > 1` (with `groups = C_in`, group `c` is the `m` consecutive output channels `c*m ... c*m + m - 1`).
# No convolution is needed, only products and sums of the weights (`torch.einsum` is ideal). The
# fused kernel has `C_out * C_in * kh * kw` entries but only `C_in*m*(kh*kw + C_out)` degrees of
# freedom: each `K[o, c]` is a combination of the `m` kernels of channel `c`.

# %% solution id=fuse_depthwise_separable
def fuse_depthwise_separable(K_depthwise: torch.Tensor, K_pointwise: torch.Tensor, in_channels: int) -> torch.Tensor:
    """K_depthwise: (C_in*m, 1, kh, kw), K_pointwise: (C_out, C_in*m, 1, 1) -> K: (C_out, C_in, kh, kw)."""
    ### BEGIN SOLUTION
    C_in = in_channels
    m = K_depthwise.shape[0] // C_in
    kh, kw = K_depthwise.shape[-2:]
    C_out = K_pointwise.shape[0]
    depthwise = K_depthwise.reshape(C_in, m, kh, kw)  # channel c*m + j -> [c, j]
    pointwise = K_pointwise.reshape(C_out, C_in, m)
    return torch.einsum("cjhw,ocj->ochw", depthwise, pointwise)
    ### END SOLUTION

# %% test id=test_fuse_depthwise_separable points=3
F = check.torch_reference()
C_in, m, C_out = 3, 2, 4
Kd = check.randn(C_in * m, 1, 3, 3, seed=5, device=device)
Kp = check.randn(C_out, C_in * m, 1, 1, seed=6, device=device)
practice.check_fuse_depthwise_separable(fuse_depthwise_separable, Kd[:C_in], Kp[:, :C_in], C_in)  # m = 1
practice.check_fuse_depthwise_separable(fuse_depthwise_separable, Kd, Kp, C_in)  # m = 2
# what the fused kernel is for: one convolution instead of two (with padding 1 here)
X = check.randn(1, C_in, 5, 5, seed=7, device=device)
two_steps = F.conv2d(F.conv2d(X, Kd, padding=1, groups=C_in), Kp)
check.compare(F.conv2d(X, fuse_depthwise_separable(Kd, Kp, C_in), padding=1), two_steps, call="F.conv2d(X, fuse_depthwise_separable(Kd, Kp, 3), padding=1)", atol=1e-9)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex06", None)
practice = importlib.import_module("convlib.checks.ex06")
for seed, (C_in, m, C_out, kh, kw) in enumerate([(1, 1, 1, 1, 1), (2, 3, 5, 3, 2), (4, 2, 3, 5, 5), (5, 1, 2, 2, 3)]):
    Kd = check.randn(C_in * m, 1, kh, kw, seed=50 + seed, device=device)
    Kp = check.randn(C_out, C_in * m, 1, 1, seed=60 + seed, device=device)
    practice.check_fuse_depthwise_separable(fuse_depthwise_separable, Kd, Kp, C_in)
### END HIDDEN TESTS
