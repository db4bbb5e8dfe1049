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

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check

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
# ## 2. Dilation is a kernel with holes (2 points)
#
# A dilated convolution equals an ordinary one with a bigger kernel that has `d - 1` zeros between
# neighbouring taps. Write `dilate_kernel(K, dilation)` for `K: (..., kh, kw)`, returning the
# `(..., d*(kh-1)+1, d*(kw-1)+1)` kernel with `K`'s values at every `d`-th position and zeros
# elsewhere (allocate zeros, assign with a strided slice).

# %% solution id=dilate_kernel
def dilate_kernel(K: torch.Tensor, dilation: int) -> torch.Tensor:
    """K: (..., kh, kw) -> (..., d*(kh-1)+1, d*(kw-1)+1) with zeros between the taps."""
    ### BEGIN SOLUTION
    kh, kw = K.shape[-2:]
    out = K.new_zeros((*K.shape[:-2], dilation * (kh - 1) + 1, dilation * (kw - 1) + 1))
    out[..., ::dilation, ::dilation] = K
    return out
    ### END SOLUTION

# %% test id=test_dilate_kernel points=2
F = check.torch_reference()


def check_dilate(K, d):
    # zero insertion is a transposed convolution of K with a 1x1 kernel of ones and stride d
    ones = torch.ones(1, 1, 1, 1, dtype=K.dtype, device=K.device)
    flat = K.reshape(-1, 1, *K.shape[-2:])
    expected = F.conv_transpose2d(flat, ones, stride=d).reshape(*K.shape[:-2], *([d * (s - 1) + 1 for s in K.shape[-2:]]))
    check.check_function(dilate_kernel, (K, d), {}, expected, fname="dilate_kernel",
                         shape_hint="a dilated kernel spans d*(k - 1) + 1 pixels per axis")


check_dilate(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64, device=device), 2)
check_dilate(check.randn(2, 3, 3, 2, seed=1, device=device), 3)
### BEGIN HIDDEN TESTS
F = check.torch_reference()
for seed, (shape, d) in enumerate([((3, 3), 1), ((1, 4), 2), ((4, 2, 2, 3), 4)]):
    check_dilate(check.randn(*shape, seed=10 + seed, device=device), d)
### END HIDDEN TESTS

# %% markdown id=md_dilated_conv
# ## 3. Dilated convolution by strided slicing (3 points)
#
# Write `conv2d_dilated(X, K, dilation)` for `X: (N, C_in, H, W)`, `K: (C_out, C_in, kh, kw)`, no
# padding, stride 1, `dilation` an int: the window at output `(i, j)` is the strided slice
# `X[:, :, i : i + d*(kh-1) + 1 : d, j : j + d*(kw-1) + 1 : d]`. It must equal
# `torch.nn.functional.conv2d(X, K, dilation=dilation)`.

# %% solution id=conv2d_dilated
def conv2d_dilated(X: torch.Tensor, K: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw) -> (N, C_out, H - d*(kh-1), W - d*(kw-1))."""
    ### BEGIN SOLUTION
    d = dilation
    C_out, C_in, kh, kw = K.shape
    span_h, span_w = d * (kh - 1) + 1, d * (kw - 1) + 1
    H_out, W_out = X.shape[2] - span_h + 1, X.shape[3] - span_w + 1
    Y = X.new_zeros((X.shape[0], C_out, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            window = X[:, :, i : i + span_h : d, j : j + span_w : d]  # (N, C_in, kh, kw)
            Y[:, :, i, j] = torch.einsum("nchw,ochw->no", window, K)
    return Y
    ### END SOLUTION

# %% test id=test_conv2d_dilated points=3
X = check.randn(1, 2, 7, 7, seed=2, device=device)
check.check_conv2d(conv2d_dilated, X, check.randn(3, 2, 3, 3, seed=3, device=device), dilation=2, fname="conv2d_dilated")
check.check_conv2d(conv2d_dilated, X, check.randn(1, 2, 2, 2, seed=4, device=device), dilation=1, fname="conv2d_dilated")
### BEGIN HIDDEN TESTS
for seed, (xs, ks, d) in enumerate([((2, 3, 9, 8), (2, 3, 3, 2), 3), ((1, 1, 6, 6), (1, 1, 2, 2), 5), ((1, 2, 8, 9), (4, 2, 3, 3), 2)]):
    check.check_conv2d(conv2d_dilated, check.randn(*xs, seed=20 + seed, device=device), check.randn(*ks, seed=30 + seed, device=device), dilation=d, fname="conv2d_dilated")
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
