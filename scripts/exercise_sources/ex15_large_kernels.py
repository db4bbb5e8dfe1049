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
# The chapter computes a convolution layer through the FFT with padding and groups. Here you derive
# the smallest FFT size that is still exact, add what the chapter leaves out (bias and stride, and
# a spectrum product summed over channels), and filter a signal too long for one FFT, block by
# block (overlap-save).

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_size
# ## 1. How long must the FFT be? (2 points)
#
# The product of two length-`n` DFTs computes a *circular* correlation: indices wrap around modulo
# `n`. Along one axis, the input has `size` samples, is zero-padded by `padding` on both ends, and
# is cross-correlated with a kernel of `kernel_size` taps; only the valid outputs
# `t = 0 .. size + 2*padding - kernel_size` are kept. Write `fft_size(size, kernel_size, padding)`:
# the smallest `n` for which the circular result equals the linear one at every kept output.
# Think about which outputs the wrap-around actually reaches before you answer
# `size + 2*padding + kernel_size - 1` (the length of the *full* correlation).

# %% solution id=fft_size
def fft_size(size: int, kernel_size: int, padding: int = 0) -> int:
    """Smallest FFT length whose circular correlation gives every valid output exactly."""
    ### BEGIN SOLUTION
    return size + 2 * padding
    ### END SOLUTION

# %% test id=test_fft_size points=2
practice.check_fft_size(fft_size, 16, 5)
practice.check_fft_size(fft_size, 10, 3, 1)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for size, k, p in [(7, 7, 0), (32, 13, 6), (9, 1, 2), (20, 31, 15)]:
    practice.check_fft_size(fft_size, size, k, p)
### END HIDDEN TESTS

# %% markdown id=md_fft_conv2d
# ## 2. A convolution layer through the FFT (5 points)
#
# Write `fft_conv2d(X, K, bias=None, padding=0, stride=1)`, the same as
# `F.conv2d(X, K, bias, stride, padding)` for `X: (N, C_in, H, W)`, `K: (C_out, C_in, kh, kw)`:
#
# 1. zero-pad `X` by `padding`, to `(Hp, Wp)`;
# 2. take `torch.fft.rfft2` of the padded input and of the kernel, both at size `s=(Hp, Wp)`;
# 3. cross-correlation, not convolution: multiply by the *complex conjugate* of the kernel's
#    spectrum, and sum over the input channels in the frequency domain
#    (`torch.einsum("nchw,ochw->nohw", ...)` works on complex tensors);
# 4. `torch.fft.irfft2(..., s=(Hp, Wp))`, keep the valid outputs (which indices?), then every
#    `stride`-th one, and add the bias.

# %% solution id=fft_conv2d
def fft_conv2d(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, padding: int = 0, stride: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    p, s = padding, stride
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    Hp, Wp = Xp.shape[-2:]
    spectrum = torch.einsum("nchw,ochw->nohw", torch.fft.rfft2(Xp, s=(Hp, Wp)), torch.fft.rfft2(K, s=(Hp, Wp)).conj())
    full = torch.fft.irfft2(spectrum, s=(Hp, Wp))
    Y = full[:, :, : Hp - kh + 1 : s, : Wp - kw + 1 : s]
    if bias is not None:
        Y = Y + bias[None, :, None, None]
    return Y.contiguous()
    ### END SOLUTION

# %% test id=test_fft_conv2d points=5
X = check.randn(2, 3, 12, 12, seed=1, device=device)
K = check.randn(4, 3, 7, 7, seed=2, device=device)
practice.check_fft_conv2d(fft_conv2d, X, K)
practice.check_fft_conv2d(fft_conv2d, X, K, check.randn(4, seed=3, device=device), padding=3, stride=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, ks, p, s) in enumerate([((1, 1, 9, 13), (2, 1, 5, 3), 2, 1), ((2, 2, 16, 16), (3, 2, 11, 11), 5, 3), ((1, 3, 8, 8), (1, 3, 1, 1), 0, 2), ((1, 2, 6, 7), (2, 2, 6, 7), 0, 1)]):
    X = check.randn(*xs, seed=10 + seed, device=device)
    K = check.randn(*ks, seed=20 + seed, device=device)
    practice.check_fft_conv2d(fft_conv2d, X, K, check.randn(ks[0], seed=30 + seed, device=device), padding=p, stride=s)
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
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (L, m, block) in enumerate([(64, 1, 8), (50, 17, 5), (31, 31, 4), (200, 33, 64)]):
    x = check.randn(L, seed=40 + seed, device=device)
    k = check.randn(m, seed=50 + seed, device=device)
    practice.check_overlap_save(fft_conv1d_overlap_save, x, k, block)
### END HIDDEN TESTS
