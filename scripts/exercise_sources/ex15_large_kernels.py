# %% markdown id=title
# # Exercise 15: large kernels through the FFT
#
# **Total: {total_points} points.** Book chapter 15.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with `torch.nn.functional.conv2d` on seeded random inputs and
#   tell you what differs. `torch.fft` is allowed (it is the point); a convolution (`F.conv2d`,
#   ...), `F.unfold`, `Tensor.unfold` or `convlib` scores 0 for that task.
# - Return tensors on the input's device and dtype (`torch.fft.irfftn` returns the input's real
#   dtype).
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex15_large_kernels.ipynb`.
#
# The chapter computes a convolution layer through the FFT, padded on both sides, without dilation
# or stride. Here you derive the smallest FFT length that is still exact when padding, dilation and
# stride all play (the wrap-around can do the right-hand padding for you), build a layer that
# transforms at exactly that length, and filter a signal too long for one FFT, block by block
# (overlap-save).

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex15 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_size
# ## 1. How long must the FFT be? (3 points)
#
# The product of two length-`n` DFTs computes a *circular* correlation: indices wrap around modulo
# `n`. Along one axis the input has `size` samples; the layer pads it with `padding` zeros on both
# ends, and its kernel has `kernel_size` taps `dilation` samples apart; the outputs kept are
# `t = 0, stride, 2*stride, ...`, as `F.conv1d` gives them. The FFT route stores the input after
# `padding` zeros in a buffer of length `n` and the kernel's taps at `0, dilation, 2*dilation, ...`
# in another; neither may be cut short. Write
# `fft_size(size, kernel_size, padding=0, dilation=1, stride=1)`: the smallest `n` for which the
# circular result equals `F.conv1d` at every kept output, for every input.
#
# Chapter 15 answers this without dilation or stride. Work out which indices each kept output
# reads and where they land modulo `n`, for each of the three arguments. The check gives a usual
# wrong rule its name.

# %% solution id=fft_size
def fft_size(size: int, kernel_size: int, padding: int = 0, dilation: int = 1, stride: int = 1) -> int:
    """Smallest circular-correlation length that gives every kept output exactly."""
    ### BEGIN SOLUTION
    extent = dilation * (kernel_size - 1) + 1
    out = (size + 2 * padding - extent) // stride + 1
    return max(size + padding, extent, stride * (out - 1) + 1)
    ### END SOLUTION

# %% test id=test_fft_size points=3
practice.check_fft_size(fft_size, 16, 5)
practice.check_fft_size(fft_size, 10, 3, 1)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex15"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex15")
for size, k, p, d, s in [(7, 7, 0, 1, 1), (32, 13, 6, 1, 1), (9, 1, 2, 1, 1), (20, 31, 15, 1, 1), (5, 3, 2, 4, 1), (12, 3, 1, 2, 3), (8, 2, 3, 1, 2), (10, 4, 0, 3, 2)]:
    practice.check_fft_size(fft_size, size, k, p, d, s)
### END HIDDEN TESTS

# %% markdown id=md_fft_conv1d
# ## 2. A 1D layer at exactly that length (4 points)
#
# Write `fft_conv1d(X, K, bias=None, padding=0, dilation=1, stride=1)`, the same as
# `F.conv1d(X, K, bias, stride, padding, dilation)` for `X: (N, C_in, L)`, `K: (C_out, C_in, k)`,
# computed through `torch.fft.rfft`/`irfft` at the length `fft_size` of task 1 (call it): the
# input is stored after `padding` zeros only, the dilated kernel's taps are placed in a buffer of
# that length, the channel sum happens in the frequency domain, and the kept outputs are read
# from the circular result. Chapter 15's `conv2d_fft` pads both sides and has no dilation, no
# stride and no bias.

# %% solution id=fft_conv1d
def fft_conv1d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, padding: int = 0, dilation: int = 1, stride: int = 1) -> torch.Tensor:
    """X: (N, C_in, L), K: (C_out, C_in, k), bias: (C_out,) -> (N, C_out, L_out)."""
    ### BEGIN SOLUTION
    N, C_in, L = X.shape
    C_out, _, k = K.shape
    p, d, s = padding, dilation, stride
    n = fft_size(L, k, p, d, s)
    L_out = (L + 2 * p - d * (k - 1) - 1) // s + 1
    Xbuf = X.new_zeros((N, C_in, n))
    Xbuf[:, :, p : p + L] = X
    Kbuf = K.new_zeros((C_out, C_in, n))
    Kbuf[:, :, : d * (k - 1) + 1 : d] = K
    spectrum = torch.einsum("ncf,ocf->nof", torch.fft.rfft(Xbuf), torch.fft.rfft(Kbuf).conj())
    Y = torch.fft.irfft(spectrum, n)[:, :, : s * (L_out - 1) + 1 : s]
    if bias is not None:
        Y = Y + bias[None, :, None]
    return Y.contiguous()
    ### END SOLUTION

# %% test id=test_fft_conv1d points=4
X = check.randn(2, 3, 12, seed=1, device=device)
K = check.randn(4, 3, 5, seed=2, device=device)
practice.check_fft_conv1d(fft_conv1d, X, K)
practice.check_fft_conv1d(fft_conv1d, X, K, check.randn(4, seed=3, device=device), padding=3, dilation=2, stride=2)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex15"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex15")
for seed, (xs, ks, p, d, s) in enumerate([((1, 1, 9), (2, 1, 3), 2, 4, 1), ((2, 2, 16), (3, 2, 11), 5, 1, 3), ((1, 3, 8), (1, 3, 1), 0, 1, 2), ((1, 2, 7), (2, 2, 7), 0, 1, 1), ((2, 2, 20), (2, 2, 4), 6, 3, 2)]):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    practice.check_fft_conv1d(fft_conv1d, X, K, check.randn(ks[0], seed=30 + seed, device=device), padding=p, dilation=d, stride=s)
### END HIDDEN TESTS

# %% markdown id=md_overlap_save
# ## 3. A long signal in blocks: overlap-save (3 points)
#
# One FFT over a very long signal (an hour of audio, a gigapixel scan) needs the whole signal in
# memory at once. Overlap-save filters it block by block instead: to produce `block` outputs of
# the valid cross-correlation with a kernel of `m` taps you need `block + m - 1` inputs, so
# consecutive input blocks overlap by `m - 1` samples; each block is correlated with one FFT of
# length `block + m - 1` (task 1 says why that length is enough) and its valid part kept. Write
# `fft_conv1d_overlap_save(x, k, block)` for `x: (L,)`, `k: (m,)`, returning the `L - m + 1`
# outputs of `F.conv1d(x[None, None], k[None, None])[0, 0]` (the last block may be shorter).
# A loop over the blocks is expected; `torch.fft.rfft`/`irfft` do the work.

# %% solution id=fft_conv1d_overlap_save
def fft_conv1d_overlap_save(x: torch.Tensor, k: torch.Tensor, block: int) -> torch.Tensor:
    """x: (L,), k: (m,) -> (L - m + 1,), the valid cross-correlation, `block` outputs per FFT."""
    ### BEGIN SOLUTION
    L, m = x.shape[0], k.shape[0]
    n = block + m - 1
    K_hat = torch.fft.rfft(k, n).conj()
    outputs = []
    for start in range(0, L - m + 1, block):
        piece = x[start : start + n]
        y = torch.fft.irfft(torch.fft.rfft(piece, n) * K_hat, n)
        outputs.append(y[: min(block, L - m + 1 - start)])
    return torch.cat(outputs)
    ### END SOLUTION

# %% test id=test_fft_conv1d_overlap_save points=3
x = check.randn(100, seed=4, device=device)
k = check.randn(9, seed=5, device=device)
practice.check_overlap_save(fft_conv1d_overlap_save, x, k, 16)
practice.check_overlap_save(fft_conv1d_overlap_save, x, k, 23)
### BEGIN HIDDEN TESTS
for name in ("convlib.checks.core", "convlib.checks.ex15"):
    sys.modules.pop(name, None)
practice = importlib.import_module("convlib.checks.ex15")
for seed, (L, m, block) in enumerate([(64, 1, 8), (50, 17, 5), (31, 31, 4), (200, 33, 64)]):
    x = check.randn(L, seed=40 + seed, device=device)
    k = check.randn(m, seed=50 + seed, device=device)
    practice.check_overlap_save(fft_conv1d_overlap_save, x, k, block)
### END HIDDEN TESTS
