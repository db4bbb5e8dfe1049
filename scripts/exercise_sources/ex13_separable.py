# %% markdown id=title
# # Exercise 13: spatially separable kernels
#
# **Total: {total_points} points.** Book chapter 13.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your functions with `torch.linalg.svd` on seeded random weights and tell
#   you what differs. `torch.linalg` (svd, svdvals, norm) is allowed; a convolution (`F.conv2d`,
#   ...), `F.unfold`, `Tensor.unfold` or `convlib` scores 0 for that task.
# - Return tensors on the input's device and dtype.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex13_separable.ipynb`.
#
# The chapter factors ONE 2D kernel with the SVD and applies it as two 1D passes. A layer of a
# network has `C_out * C_in` kernels, and factoring each one separately saves nothing. Here you
# compress a whole layer, as Jaderberg, Vedaldi and Zisserman did (2014): a vertical `kh x 1`
# layer into `r` channels, then a horizontal `1 x kw` layer out of them, chosen by one SVD so
# that no other rank-`r` pair is closer. Then you measure what each rank costs in error and choose
# the rank a multiply-add budget allows.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex13 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_layer_factors
# ## 1. A layer as a vertical and a horizontal layer (4 points)
#
# Let `K: (C_out, C_in, kh, kw)`. The vertical layer `V: (r, C_in, kh, 1)` followed by the
# horizontal layer `H: (C_out, r, 1, kw)` (no nonlinearity in between) compute the same as one
# layer with the kernel
#
# $$K_r[o, c, a, b] = \sum_{i=0}^{r-1} H[o, i, 0, b]\, V[i, c, a, 0].$$
#
# Write `layer_factors(K, rank)` returning `(V, H)` such that $K_r$ is as close to `K` as any
# pair with `rank` channels in between can make it (in the Frobenius norm). Arrange `K`'s entries
# as a matrix whose rank-`rank` approximations are exactly the kernels such pairs compose: which
# indices go to the rows, which to the columns? The check composes your factors and compares the
# kernel; it names missing or doubled singular values.

# %% solution id=layer_factors
def layer_factors(K: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """K: (C_out, C_in, kh, kw) -> V: (rank, C_in, kh, 1), H: (C_out, rank, 1, kw), best rank-`rank` pair."""
    ### BEGIN SOLUTION
    C_out, C_in, kh, kw = K.shape
    M = K.permute(1, 2, 0, 3).reshape(C_in * kh, C_out * kw)  # rows (c, a), columns (o, b)
    U, S, Vh = torch.linalg.svd(M)
    root = S[:rank].sqrt()
    V = (U[:, :rank] * root).T.reshape(rank, C_in, kh, 1)
    H = (root[:, None] * Vh[:rank]).reshape(rank, C_out, 1, kw).transpose(0, 1)
    return V, H
    ### END SOLUTION

# %% test id=test_layer_factors points=4
K = check.randn(4, 3, 3, 3, seed=1, device=device)
practice.check_layer_factors(layer_factors, K, 2)
practice.check_layer_factors(layer_factors, K, 9)  # full rank: exact
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex13"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex13")
for seed, (shape, rank) in enumerate([((2, 5, 3, 3), 1), ((6, 2, 5, 3), 4), ((3, 3, 1, 5), 2), ((8, 4, 3, 3), 6)]):
    practice.check_layer_factors(layer_factors, check.randn(*shape, seed=10 + seed, device=device), rank)
### END HIDDEN TESTS

# %% markdown id=md_errors
# ## 2. What each rank costs in accuracy (3 points)
#
# Write `relative_errors(K)`: a float tensor whose entry `r - 1` is the relative error
# $\lVert K - K_r \rVert_F / \lVert K \rVert_F$ of the best rank-`r` pair of task 1, for every
# `r = 1 .. R` with `R` the largest rank a pair can usefully have (so the last entry is 0). You
# may compose and subtract, or derive the errors from the singular values alone (Eckart-Young):
# check one against the other in the scratch cell after the test. A trained layer's errors fall much
# faster than a random one's; try a weight built as a sum of a few outer products.

# %% solution id=relative_errors
def relative_errors(K: torch.Tensor) -> torch.Tensor:
    """K: (C_out, C_in, kh, kw) -> (R,), the relative Frobenius error of the best pair of each rank."""
    ### BEGIN SOLUTION
    C_out, C_in, kh, kw = K.shape
    S = torch.linalg.svdvals(K.permute(1, 2, 0, 3).reshape(C_in * kh, C_out * kw))
    energy = S**2
    dropped = energy.sum() - energy.cumsum(0)  # entry r - 1: the energy beyond rank r
    return (dropped.clamp(min=0) / energy.sum()).sqrt()
    ### END SOLUTION

# %% test id=test_relative_errors points=3
practice.check_relative_errors(relative_errors, check.randn(4, 3, 3, 3, seed=2, device=device))
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex13"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex13")
for seed, shape in enumerate([(2, 5, 3, 3), (6, 2, 5, 3), (3, 3, 1, 5)]):
    practice.check_relative_errors(relative_errors, check.randn(*shape, seed=20 + seed, device=device))
### END HIDDEN TESTS

# %% scratch id=scratch_errors
# Try it: compose layer_factors(K, r) and compare with relative_errors(K)[r - 1]

# %% markdown id=md_budget
# ## 3. The rank a budget allows (3 points)
#
# Per output position, the dense layer costs `C_out * C_in * kh * kw` multiply-adds (stride 1,
# 'same' padding for both factored layers, so both run at the output's resolution). Write
# `rank_for_budget(K, budget)`: the largest rank whose vertical and horizontal layers together
# cost at most `budget` times the dense layer's multiply-adds per output position, and no more than
# the rank beyond which nothing changes. Count the two layers' cost yourself.

# %% solution id=rank_for_budget
def rank_for_budget(K: torch.Tensor, budget: float) -> int:
    """K: (C_out, C_in, kh, kw), budget: a fraction of the dense layer's MACs -> the largest affordable rank."""
    ### BEGIN SOLUTION
    C_out, C_in, kh, kw = K.shape
    per_rank = C_in * kh + C_out * kw
    return min(C_in * kh, C_out * kw, int(budget * C_out * C_in * kh * kw // per_rank))
    ### END SOLUTION

# %% test id=test_rank_for_budget points=3
practice.check_rank_for_budget(rank_for_budget, check.randn(64, 64, 3, 3, seed=3, device=device), 0.5)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex13"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex13")
for seed, (shape, budget) in enumerate([((128, 32, 5, 5), 0.25), ((16, 64, 3, 3), 0.125), ((4, 3, 3, 3), 2.0), ((32, 32, 7, 1), 0.5)]):
    practice.check_rank_for_budget(rank_for_budget, check.randn(*shape, seed=30 + seed, device=device), budget)
### END HIDDEN TESTS
