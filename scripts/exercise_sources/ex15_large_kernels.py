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
# The chapter computes one image with one kernel through the FFT. Here you find the smallest FFT
# size that is still exact, and write a full layer: batch, input and output channels (summed in the
# frequency domain), bias, padding and stride; then the depthwise form that large-kernel networks
# (RepLKNet, ConvNeXt) use.

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

# %% markdown id=md_depthwise
# ## 3. Depthwise large kernels (3 points)
#
# RepLKNet and ConvNeXt use *depthwise* large kernels: channel `c` of the output is channel `c` of
# the input cross-correlated with its own kernel `K[c, 0]` (`groups = C`), e.g. 13x13 or 31x31,
# with `padding = k // 2` to keep the size. Write `fft_depthwise_conv2d(X, K, padding=0)` for
# `X: (N, C, H, W)`, `K: (C, 1, kh, kw)`, the same as `F.conv2d(X, K, padding=padding, groups=C)`,
# through the FFT: no sum over channels this time, one product per channel.

# %% solution id=fft_depthwise_conv2d
def fft_depthwise_conv2d(X: torch.Tensor, K: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """X: (N, C, H, W), K: (C, 1, kh, kw) -> (N, C, H + 2*padding - kh + 1, W + 2*padding - kw + 1)."""
    ### BEGIN SOLUTION
    N, C, H, W = X.shape
    kh, kw = K.shape[-2:]
    p = padding
    Xp = X.new_zeros((N, C, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    Hp, Wp = Xp.shape[-2:]
    spectrum = torch.fft.rfft2(Xp, s=(Hp, Wp)) * torch.fft.rfft2(K[:, 0], s=(Hp, Wp)).conj()[None]
    return torch.fft.irfft2(spectrum, s=(Hp, Wp))[:, :, : Hp - kh + 1, : Wp - kw + 1].contiguous()
    ### END SOLUTION

# %% test id=test_fft_depthwise_conv2d points=3
X = check.randn(2, 3, 16, 16, seed=4, device=device)
K = check.randn(3, 1, 13, 13, seed=5, device=device)
practice.check_fft_conv2d(fft_depthwise_conv2d, X, K, padding=6, depthwise=True, fname="fft_depthwise_conv2d")
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, k, p) in enumerate([((1, 2, 31, 31), (31, 31), 15), ((2, 4, 10, 12), (5, 9), 0), ((1, 1, 7, 7), (3, 3), 4)]):
    X = check.randn(*xs, seed=40 + seed, device=device)
    K = check.randn(xs[1], 1, *k, seed=50 + seed, device=device)
    practice.check_fft_conv2d(fft_depthwise_conv2d, X, K, padding=p, depthwise=True, fname="fft_depthwise_conv2d")
### END HIDDEN TESTS
