# %% markdown id=title
# # Exercise 12: causal convolution, one step at a time
#
# **Total: {total_points} points.** Book chapter 12.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your functions with `torch.nn.functional.conv1d` on seeded random inputs and
#   tell you what differs. Build everything from indexing, slicing, `torch.cat`, `*`, `sum`,
#   `torch.einsum` and `@`: calling a convolution (`F.conv1d`, ...), `F.unfold`, `Tensor.unfold`
#   or `convlib` scores 0 for that task.
# - Return tensors on the input's device and dtype.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex12_conv1d_3d.ipynb`.
#
# The chapter computes a causal convolution on a whole signal at once, by padding on the left.
# A model that *generates* audio (WaveNet) cannot: sample `t + 1` does not exist until sample `t`
# has been produced from the outputs. Here you run a causal stack one time step at a time, with a
# small cached buffer per layer, so each new sample costs a few multiply-adds instead of a pass
# over the whole history, and you design the dilations of such a stack.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex12 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_step
# ## 1. One step of a causal convolution (3 points)
#
# A causal layer with kernel `K: (C_out, C_in, k)` and dilation `d` computes, at time `t`,
# $y_t = \sum_{c} \sum_{a=0}^{k-1} K[:, c, a]\, x_{t - (k-1-a)d}[c]$: its last tap multiplies the
# newest input. To produce $y_t$ when $x_t$ arrives, it only needs the last `d*(k-1)` inputs.
# Write `causal_step(buffer, x_t, K, dilation)` for `buffer: (N, C_in, d*(k-1))` holding those
# inputs, oldest first, and `x_t: (N, C_in)`, returning `(y_t, new_buffer)`: `y_t: (N, C_out)`,
# and the buffer to use at the next step (same shape). Fed a signal sample by sample, starting
# from a buffer of zeros, the `y_t` must equal the chapter's left-padded causal convolution.

# %% solution id=causal_step
def causal_step(buffer: torch.Tensor, x_t: torch.Tensor, K: torch.Tensor, dilation: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """buffer: (N, C_in, d*(k-1)), x_t: (N, C_in), K: (C_out, C_in, k) -> (y_t: (N, C_out), new buffer)."""
    ### BEGIN SOLUTION
    history = torch.cat([buffer, x_t[:, :, None]], dim=2)  # (N, C_in, d*(k-1) + 1), newest last
    y = torch.einsum("nca,oca->no", history[:, :, ::dilation], K)
    return y, history[:, :, 1:]
    ### END SOLUTION

# %% test id=test_causal_step points=3
buffer = check.randn(2, 3, 4, seed=1, device=device)
x_t = check.randn(2, 3, seed=2, device=device)
K = check.randn(5, 3, 3, seed=3, device=device)
practice.check_causal_step(causal_step, buffer, x_t, K, dilation=2)
practice.check_causal_step(causal_step, buffer[:, :, 2:], x_t, K)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex12"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex12")
for seed, (N, C_in, C_out, k, d) in enumerate([(1, 1, 1, 2, 1), (2, 4, 3, 3, 4), (1, 2, 2, 1, 3), (3, 2, 1, 4, 2)]):
    buffer = check.randn(N, C_in, d * (k - 1), seed=10 + seed, device=device)
    x_t = check.randn(N, C_in, seed=20 + seed, device=device)
    practice.check_causal_step(causal_step, buffer, x_t, check.randn(C_out, C_in, k, seed=30 + seed, device=device), dilation=d)
### END HIDDEN TESTS

# %% markdown id=md_stream
# ## 2. A WaveNet stack, generated step by step (4 points)
#
# Write `make_stream(kernels, dilations)`: a causal stack of layers `kernels[i]: (C_i+1, C_i, k_i)`
# with dilations `dilations[i]`, a ReLU after every layer but the last. It returns a function
# `step(x_t)` that takes one time step `x_t: (N, C_0)` and returns the stack's output at that step,
# `(N, C_last)`, keeping one buffer per layer between calls (create them at the first call, when
# you know `N`, as zeros: the signal is silent before `t = 0`). The check feeds it a signal one
# step at a time, so it cannot read the future, and compares every output with the whole stack
# run on the whole signal. Use your `causal_step`.

# %% solution id=make_stream
def make_stream(kernels: list[torch.Tensor], dilations: list[int]):
    """kernels[i]: (C_{i+1}, C_i, k_i) -> step(x_t: (N, C_0)) -> (N, C_last), one call per time step."""
    ### BEGIN SOLUTION
    buffers: list[torch.Tensor] = []

    def step(x_t: torch.Tensor) -> torch.Tensor:
        if not buffers:
            N = x_t.shape[0]
            buffers.extend(x_t.new_zeros((N, K.shape[1], d * (K.shape[2] - 1))) for K, d in zip(kernels, dilations))
        h = x_t
        for i, (K, d) in enumerate(zip(kernels, dilations)):
            h, buffers[i] = causal_step(buffers[i], h, K, d)
            if i < len(kernels) - 1:
                h = torch.relu(h)
        return h

    return step
    ### END SOLUTION

# %% test id=test_make_stream points=4
X = check.randn(2, 2, 12, seed=4, device=device)
kernels = [check.randn(3, 2, 2, seed=5, device=device), check.randn(3, 3, 2, seed=6, device=device), check.randn(1, 3, 2, seed=7, device=device)]
practice.check_stream(make_stream, X, kernels, [1, 2, 4])
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex12"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex12")
for seed, (N, widths, ks, ds, L) in enumerate([(1, [1, 1], [3], [2], 9), (2, [2, 4, 4, 2], [2, 3, 2], [1, 3, 2], 20), (1, [3, 2, 2, 2, 1], [2, 2, 2, 2], [1, 2, 4, 8], 24)]):
    X = check.randn(N, widths[0], L, seed=40 + seed, device=device)
    kernels = [check.randn(widths[i + 1], widths[i], k, seed=50 + 10 * seed + i, device=device) for i, k in enumerate(ks)]
    practice.check_stream(make_stream, X, kernels, ds)
### END HIDDEN TESTS

# %% markdown id=md_design
# ## 3. Design the dilations (3 points)
#
# A stack with kernel size `k` should see `field` steps of history (the current one included), and
# every one of those steps must reach the output through some path: no holes. Write
# `design_dilations(field, kernel_size)` returning the dilations (a list of ints, first layer
# first) of a stack that does so with as few layers as possible. The check computes, from your
# list, the history the stack sees and its holes, and compares the number of layers with the least
# possible: derive that least number, and a design that reaches it, for any `k` (the chapter's
# WaveNet uses `k = 2`).

# %% solution id=design_dilations
def design_dilations(field: int, kernel_size: int) -> list[int]:
    """The dilations of the shortest causal stack with kernel_size taps that sees field steps, no holes."""
    ### BEGIN SOLUTION
    dilations: list[int] = []
    seen = 1
    while seen < field:
        dilations.append(seen)
        seen *= kernel_size
    return dilations
    ### END SOLUTION

# %% test id=test_design_dilations points=3
practice.check_design_dilations(design_dilations, 16, 2)
practice.check_design_dilations(design_dilations, 20, 3)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex12"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex12")
for field, k in [(1, 2), (2, 2), (1024, 2), (81, 3), (82, 3), (100, 5), (7, 7), (50, 4)]:
    practice.check_design_dilations(design_dilations, field, k)
### END HIDDEN TESTS
