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
# The chapter dilates 2D kernels and loops over output positions. Here you dilate kernels of any
# dimension, run a dilated, strided, padded convolution as a loop over the kernel taps only, and
# measure receptive fields.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_effective
# ## 1. The span of a dilated kernel (1 point)
#
# A kernel of size `k` with dilation `d` places its taps `d` pixels apart, so it spans
# `d*(k - 1) + 1` pixels: a 3x3 kernel with dilation 2 sees a 5x5 area with 9 weights. Write
# `effective_kernel_size`.

# %% solution id=effective_kernel_size
def effective_kernel_size(kernel_size: int, dilation: int) -> int:
    """Number of input pixels a dilated kernel spans along one axis."""
    ### BEGIN SOLUTION
    return dilation * (kernel_size - 1) + 1
    ### END SOLUTION

# %% test id=test_effective_kernel_size points=1
F = check.torch_reference()


def span_reference(k, d):
    """Read off torch: a length-L input gives L - span + 1 outputs."""
    return 64 - F.conv1d(torch.zeros(1, 1, 64), torch.zeros(1, 1, k), dilation=d).shape[-1] + 1


check.check_int(effective_kernel_size, (3, 2), {}, span_reference(3, 2), fname="effective_kernel_size", hint="a 3x3 kernel with dilation 2 spans 5 pixels")
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for k, d in [(1, 4), (3, 1), (5, 3), (2, 7)]:
    check.check_int(effective_kernel_size, (k, d), {}, span_reference(k, d), fname="effective_kernel_size")
### END HIDDEN TESTS

# %% markdown id=md_dilate_kernel
# ## 2. A kernel with holes, in any number of dimensions (2 points)
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
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (shape, d) in enumerate([((3, 3), (1, 1)), ((1, 4), (1, 2)), ((4, 2, 2, 3), (4, 1)), ((5,), (3,)), ((2, 2, 3, 2, 2), (2, 3, 1))]):
    practice.check_dilate_kernel(dilate_kernel, check.randn(*shape, seed=10 + seed, device=device), d)
### END HIDDEN TESTS

# %% markdown id=md_dilated_conv
# ## 3. Dilated convolution over the kernel taps (3 points)
#
# The chapter's dilated convolution loops over output positions and reads each window as a strided
# slice. Turn it around: write `conv2d_dilated(X, K, dilation=1, stride=1, padding=0)` for
# `X: (N, C_in, H, W)`, `K: (C_out, C_in, kh, kw)` and int arguments, equal to
# `torch.nn.functional.conv2d(X, K, stride=stride, padding=padding, dilation=dilation)`, with **no
# Python loop over output positions**. Loop over the `kh * kw` taps instead: tap `(a, b)` reads, for
# all outputs at once, the padded input at rows `a*dilation + i*stride` for `i = 0 ... H_out - 1`,
# which is a single slice with start `a*dilation` and step `stride`; contract its channels with
# `K[:, :, a, b]` (`torch.einsum`) and add. Dilation decides where a tap starts, stride how far
# apart consecutive outputs read. The check counts your lines of Python on a small and on a large
# input.

# %% solution id=conv2d_dilated
def conv2d_dilated(X: torch.Tensor, K: torch.Tensor, dilation: int = 1, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw) -> (N, C_out, H_out, W_out)."""
    ### BEGIN SOLUTION
    d, s, p = dilation, stride, padding
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    H_out = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    W_out = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    Y = X.new_zeros((N, C_out, H_out, W_out))
    for a in range(kh):
        for b in range(kw):
            tap = Xp[:, :, a * d : a * d + (H_out - 1) * s + 1 : s, b * d : b * d + (W_out - 1) * s + 1 : s]
            Y += torch.einsum("nchw,oc->nohw", tap, K[:, :, a, b])
    return Y
    ### END SOLUTION

# %% test id=test_conv2d_dilated points=3
X = check.randn(1, 2, 7, 7, seed=2, device=device)
practice.check_conv2d_dilated_taps(conv2d_dilated, X, check.randn(3, 2, 3, 3, seed=3, device=device), dilation=2)
practice.check_conv2d_dilated_taps(conv2d_dilated, X, check.randn(1, 2, 2, 2, seed=4, device=device), dilation=1)
practice.check_conv2d_dilated_taps(conv2d_dilated, X, check.randn(3, 2, 3, 3, seed=3, device=device), dilation=2, stride=3, padding=2)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (xs, ks, d, s, p) in enumerate([((2, 3, 9, 8), (2, 3, 3, 2), 3, 1, 0), ((1, 1, 6, 6), (1, 1, 2, 2), 5, 1, 0), ((1, 2, 8, 9), (4, 2, 3, 3), 2, 2, 1), ((2, 1, 7, 6), (2, 1, 2, 3), 1, 2, 3)]):
    practice.check_conv2d_dilated_taps(conv2d_dilated, check.randn(*xs, seed=20 + seed, device=device), check.randn(*ks, seed=30 + seed, device=device), dilation=d, stride=s, padding=p)
### END HIDDEN TESTS

# %% markdown id=md_receptive_field
# ## 4. Receptive field of a stack of layers (3 points)
#
# The receptive field of a unit is the set of input pixels that can affect it. For a stack of
# layers given as `(kernel_size, stride, dilation)` tuples (first layer first), write
# `receptive_field(layers)`: the receptive field size, along one axis, of one output unit of the last
# layer. Each layer widens the field by `dilation * (kernel_size - 1)` times the product of the
# strides of the layers before it. Three 3x3 layers with dilations 1, 2, 4 see 15 pixels; the test
# measures the answer with autograd on a real stack of `torch` convolutions.

# %% solution id=receptive_field
def receptive_field(layers: list[tuple[int, int, int]]) -> int:
    """layers: [(kernel_size, stride, dilation), ...] first to last -> receptive field size."""
    ### BEGIN SOLUTION
    size, jump = 1, 1
    for kernel_size, stride, dilation in layers:
        size += dilation * (kernel_size - 1) * jump
        jump *= stride
    return size
    ### END SOLUTION

# %% test id=test_receptive_field points=3
F = check.torch_reference()


def receptive_field_reference(layers, length=400):
    """Backpropagate from one output unit through convolutions of ones; count the inputs reached."""
    x = torch.zeros(1, 1, length, dtype=torch.float64, requires_grad=True)
    y = x
    for kernel_size, stride, dilation in layers:
        y = F.conv1d(y, torch.ones(1, 1, kernel_size, dtype=torch.float64), stride=stride, dilation=dilation)
    y[0, 0, y.shape[-1] // 2].backward()
    reached = x.grad[0, 0].nonzero()
    return int(reached.max() - reached.min() + 1)


for layers in [[(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(3, 2, 1), (3, 2, 1)]]:
    check.check_int(receptive_field, (layers,), {}, receptive_field_reference(layers), fname="receptive_field",
                    hint="each layer adds dilation * (kernel_size - 1) * (product of the previous strides)")
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for layers in [[(1, 1, 1)], [(5, 1, 1)], [(7, 2, 1), (3, 2, 1), (3, 1, 2)], [(2, 3, 1), (3, 1, 3), (2, 2, 2)]]:
    check.check_int(receptive_field, (layers,), {}, receptive_field_reference(layers), fname="receptive_field")
### END HIDDEN TESTS
