# %% markdown id=title
# # Exercise 14: deformable convolution
#
# **Total: {total_points} points.** Book chapter 14.
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. Its visible asserts are a
#   subset of what is graded: hidden tests run the same checks on more random inputs.
# - The checks compare your function with PyTorch (`F.grid_sample` with `align_corners=True` for
#   sampling, autograd for derivatives, `F.conv2d` at zero offsets) and tell you what differs.
#   Calling `F.grid_sample`, a convolution, `F.unfold`, autograd where a derivative is asked, or
#   `convlib` scores 0 for that task. Build from `torch.floor`, indexing, `*`, `sum` and `einsum`.
# - Return tensors on the input's device and dtype.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex14_deformable.ipynb`.
#
# The chapter reads one point at a time and builds a deformable convolution from that. Here you
# sample many points at once (no Python loop over points), derive how a sample changes when its
# point moves (the gradient that lets a network learn its offsets), and add DCNv2's modulation
# mask, with stride, padding and dilation.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.check_practice as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)

# %% markdown id=md_sample
# ## 1. Bilinear sampling of many points at once (3 points)
#
# To read an image `X: (C, H, W)` at a real position `(py, px)` (row, column), take its four
# neighbours `y0 = floor(py)`, `x0 = floor(px)`, `y1 = y0 + 1`, `x1 = x0 + 1`, and weight each by
# the area of the opposite rectangle: with `ly = py - y0`, `lx = px - x0`,
#
# $$v = (1-l_y)(1-l_x) X[y_0, x_0] + (1-l_y) l_x X[y_0, x_1] + l_y (1-l_x) X[y_1, x_0] + l_y l_x X[y_1, x_1]$$
#
# A neighbour outside the image counts as zero. Write `bilinear_sample(X, py, px)` for `P` points
# given as tensors `py, px: (P,)`, returning `(C, P)`, with no Python loop over the points: compute
# the four neighbours of all points at once (a loop over the four corners is fine).

# %% solution id=bilinear_sample
def bilinear_sample(X: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """X: (C, H, W), py, px: (P,) -> (C, P); neighbours outside X count as zero."""
    ### BEGIN SOLUTION
    C, H, W = X.shape
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0
    out = X.new_zeros((C, py.shape[0]))
    for dy, dx, weight in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
        y, x = y0 + dy, x0 + dx
        inside = (y >= 0) & (y <= H - 1) & (x >= 0) & (x <= W - 1)
        values = X[:, y.clamp(0, H - 1).long(), x.clamp(0, W - 1).long()]  # (C, P)
        out += values * torch.where(inside, weight, 0.0)
    return out
    ### END SOLUTION

# %% test id=test_bilinear_sample points=3
X = check.randn(2, 5, 6, seed=1, device=device)
py = torch.tensor([0.0, 1.5, 3.25, -0.5, 4.5, 2.0], dtype=torch.float64, device=device)
px = torch.tensor([0.0, 2.5, 0.75, 1.0, 5.5, -2.0], dtype=torch.float64, device=device)
practice.check_bilinear_sample(bilinear_sample, X, py, px)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (C, H, W, P) in enumerate([(1, 4, 4, 10), (3, 7, 5, 20), (2, 3, 9, 16)]):
    X = check.randn(C, H, W, seed=10 + seed, device=device)
    py = torch.rand(P, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(device) * (H + 2) - 1.5
    px = torch.rand(P, generator=torch.Generator().manual_seed(seed + 50), dtype=torch.float64).to(device) * (W + 2) - 1.5
    practice.check_bilinear_sample(bilinear_sample, X, py, px)
### END HIDDEN TESTS

# %% markdown id=md_grad
# ## 2. How a sample moves with its point (3 points)
#
# A deformable convolution learns its offsets by gradient descent, so it needs the derivative of
# each sampled value with respect to the point's position. Differentiate the formula of task 1 by
# hand (the neighbours and `floor` are constant between pixels): write `bilinear_grad(X, py, px)`
# returning the pair `(dv/dpy, dv/dpx)`, each `(C, P)`, for points that are not exactly on a
# pixel row or column. Autograd is not allowed here.

# %% solution id=bilinear_grad
def bilinear_grad(X: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (C, H, W), py, px: (P,) -> (d sample / d py, d sample / d px), each (C, P)."""
    ### BEGIN SOLUTION
    C, H, W = X.shape
    y0, x0 = torch.floor(py), torch.floor(px)
    ly, lx = py - y0, px - x0

    def at(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        inside = (y >= 0) & (y <= H - 1) & (x >= 0) & (x <= W - 1)
        return X[:, y.clamp(0, H - 1).long(), x.clamp(0, W - 1).long()] * inside

    v00, v01, v10, v11 = at(y0, x0), at(y0, x0 + 1), at(y0 + 1, x0), at(y0 + 1, x0 + 1)
    dpy = (1 - lx) * (v10 - v00) + lx * (v11 - v01)
    dpx = (1 - ly) * (v01 - v00) + ly * (v11 - v10)
    return dpy, dpx
    ### END SOLUTION

# %% test id=test_bilinear_grad points=3
X = check.randn(2, 5, 6, seed=2, device=device)
py = torch.tensor([0.3, 1.5, 3.25, -0.5, 4.5], dtype=torch.float64, device=device)
px = torch.tensor([0.2, 2.5, 0.75, 1.4, 5.5], dtype=torch.float64, device=device)
practice.check_bilinear_grad(bilinear_grad, X, py, px)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
for seed, (C, H, W, P) in enumerate([(1, 4, 4, 10), (3, 6, 5, 12)]):
    X = check.randn(C, H, W, seed=20 + seed, device=device)
    py = torch.rand(P, generator=torch.Generator().manual_seed(seed + 5), dtype=torch.float64).to(device) * (H + 1) - 1.0 + 0.013
    px = torch.rand(P, generator=torch.Generator().manual_seed(seed + 9), dtype=torch.float64).to(device) * (W + 1) - 1.0 + 0.017
    practice.check_bilinear_grad(bilinear_grad, X, py, px)
### END HIDDEN TESTS

# %% markdown id=md_deform
# ## 3. Modulated deformable convolution, DCNv2 (5 points)
#
# Write `deform_conv2d(X, offset, K, bias=None, mask=None, stride=1, padding=0, dilation=1)` with
# torchvision's conventions: `X: (N, C_in, H, W)`, `K: (C_out, C_in, kh, kw)`, output
# `(N, C_out, H', W')` with conv2d's sizes. For output `(i, j)` and tap `t = a*kw + b`, the sample
# point is
#
# $$p_y = i \cdot s - p + a \cdot d + \text{offset}[n, 2t, i, j], \qquad p_x = j \cdot s - p + b \cdot d + \text{offset}[n, 2t+1, i, j]$$
#
# (`offset: (N, 2*kh*kw, H', W')`, row offset first), the sampled value (bilinear, zero outside) is
# multiplied by `mask[n, t, i, j]` (`mask: (N, kh*kw, H', W')`, all ones when `None`), and then by
# `K[:, :, a, b]` summed over the input channels, as in an ordinary convolution. With zero offsets
# and no mask it must equal `F.conv2d`. Loop over the taps only; sample whole `(H', W')` grids at
# once (your `bilinear_sample` works on flat lists of points).

# %% solution id=deform_conv2d
def deform_conv2d(X: torch.Tensor, offset: torch.Tensor, K: torch.Tensor, bias: torch.Tensor | None = None, mask: torch.Tensor | None = None, stride: int = 1, padding: int = 0, dilation: int = 1) -> torch.Tensor:
    """X: (N, C_in, H, W), offset: (N, 2*kh*kw, H', W'), K: (C_out, C_in, kh, kw),
    mask: (N, kh*kw, H', W') -> (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    s, p, d = stride, padding, dilation
    Ho, Wo = offset.shape[-2:]
    rows = (torch.arange(Ho, device=X.device, dtype=X.dtype) * s - p)[:, None].expand(Ho, Wo)
    cols = (torch.arange(Wo, device=X.device, dtype=X.dtype) * s - p)[None, :].expand(Ho, Wo)
    Y = X.new_zeros((N, C_out, Ho, Wo))
    for n in range(N):
        for a in range(kh):
            for b in range(kw):
                t = a * kw + b
                py = (rows + a * d + offset[n, 2 * t]).reshape(-1)
                px = (cols + b * d + offset[n, 2 * t + 1]).reshape(-1)
                sample = bilinear_sample(X[n], py, px).reshape(C_in, Ho, Wo)
                if mask is not None:
                    sample = sample * mask[n, t]
                Y[n] += torch.einsum("chw,oc->ohw", sample, K[:, :, a, b])
    if bias is not None:
        Y += bias[None, :, None, None]
    return Y
    ### END SOLUTION

# %% test id=test_deform_conv2d points=5
X = check.randn(1, 2, 6, 6, seed=3, device=device)
K = check.randn(3, 2, 3, 3, seed=4, device=device)
practice.check_deform_conv2d(deform_conv2d, X, X.new_zeros((1, 18, 4, 4)), K)  # zero offsets: conv2d
offset = 0.8 * check.randn(1, 18, 4, 4, seed=5, device=device)
mask = torch.sigmoid(check.randn(1, 9, 4, 4, seed=6, device=device))
practice.check_deform_conv2d(deform_conv2d, X, offset, K, check.randn(3, seed=7, device=device), mask)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.check_practice", None)
practice = importlib.import_module("convlib.check_practice")
F = check.torch_reference()
for seed, (xs, ks, s, p, d) in enumerate([((2, 3, 7, 6), (2, 3, 3, 2), 2, 1, 1), ((1, 1, 8, 8), (2, 1, 2, 3), 1, 2, 2), ((1, 2, 5, 7), (1, 2, 1, 1), 1, 0, 1)]):
    X = check.randn(*xs, seed=30 + seed, device=device)
    K = check.randn(*ks, seed=40 + seed, device=device)
    out = F.conv2d(X, K, stride=s, padding=p, dilation=d).shape[-2:]
    taps = ks[2] * ks[3]
    offset = 1.5 * check.randn(xs[0], 2 * taps, *out, seed=50 + seed, device=device)
    mask = torch.sigmoid(check.randn(xs[0], taps, *out, seed=60 + seed, device=device))
    practice.check_deform_conv2d(deform_conv2d, X, offset, K, check.randn(ks[0], seed=70 + seed, device=device), mask, stride=s, padding=p, dilation=d)
    practice.check_deform_conv2d(deform_conv2d, X, X.new_zeros(offset.shape), K, stride=s, padding=p, dilation=d)
### END HIDDEN TESTS
