# %% markdown id=title
# # Exercise 17: a network that learns on your own layers
#
# **Total: {total_points} points.** Book chapter 17 (the capstone).
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each task is followed by a test cell worth the points it shows. Its visible checks are a
#   subset of what is graded: hidden tests run the same checks on more inputs, and train your
#   network a second time with another seed on another split of the data.
# - The rule of this exercise: **no torch convolution or pooling runs anywhere in your network**,
#   forward or backward. `torch.nn.Conv2d`, `torch.nn.MaxPool2d`, `torch.nn.functional.conv2d`,
#   `conv_transpose2d`, `max_pool2d`, `avg_pool2d`, `unfold`/`fold`, `torch.nn.grad` and the course's
#   `convlib` are all out; the checks record every operator that runs, including those autograd
#   runs for the backward pass. Everything else is allowed: indexing, slicing, `Tensor.unfold`,
#   `torch.einsum`, `@`, `scatter_add`, `torch.nn.Linear`, `torch.relu`, `F.cross_entropy`, the
#   optimisers of `torch.optim`.
# - Before submitting, run **Kernel > Restart & Run All**, or in a terminal
#   `nbgrader validate ex17_capstone.ipynb`.
#
# Chapter 17 wraps the course's teaching functions (stride 1, non-overlapping pooling) in
# `torch.autograd.Function`s and trains a LeNet-style network on them. Here you do it with **your
# own** convolution and max pooling: the functions you wrote for earlier exercises, or new ones in
# this notebook. Your convolution takes a stride, your pooling takes windows that overlap, and the
# network is yours to design: it must reach at least 95 % accuracy on digits it never saw, within
# a budget of **10 CPU seconds** of training on one thread.
#
# The data are scikit-learn's 1,797 handwritten digits, 8x8 pixels with values from 0 to 1
# (no download: the library ships them), split at random into 1,437 training and 360 held-out
# images, as in the chapter: `X_train: (1437, 1, 8, 8)` with labels `y_train: (1437,)` from 0 to 9,
# and `X_test`, `y_test` for the 360 others.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch
import torch.nn.functional as F

import convlib.check as check
import convlib.checks.ex17 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)
X_train, y_train, X_test, y_test = practice.digits(device=device)

# %% markdown id=md_conv
# ## 1. Your convolution as an autograd Function (3 points)
#
# A `torch.autograd.Function` has two static methods. `forward(ctx, *inputs)` computes the output
# and keeps on `ctx` what the backward pass will need (`ctx.save_for_backward(...)` for tensors,
# plain attributes such as `ctx.stride = stride` for the rest). `backward(ctx, dY)` receives
# `dL/dY` and returns one gradient per input of `forward`, in the same order, `None` for an
# input that is not a tensor. `Conv2dFunction.apply(...)` runs it; autograd then calls your
# `backward` wherever the output is used, and never looks inside `forward`.
#
# Write `Conv2dFunction` with `forward(ctx, X, K, bias, stride, padding)` for
# `X: (N, C_in, H, W)`, `K: (C_out, C_in, kh, kw)`, `bias: (C_out,)` and int `stride` and
# `padding`: the output of `F.conv2d(X, K, bias, stride, padding)`. Its `backward` returns
# `(dX, dK, dbias, None, None)`, computed by your own code, **without autograd** (the check calls
# your `backward` with gradient recording off). With a stride, some rows and columns of `X` may
# lie in no window: their gradient is zero, and `dX` has the shape of `X`.
#
# Before you run the test, check your Function yourself with `torch.autograd.gradcheck`, which
# compares your backward with finite differences of your forward. It needs float64 inputs with
# `requires_grad=True`, for example
# `torch.autograd.gradcheck(lambda X, K, b: Conv2dFunction.apply(X, K, b, 2, 1), (X, K, b))`.
# The test compares your output and gradients with torch's, naming the usual mistakes, then runs
# gradcheck too.

# %% solution id=conv2d_function
def conv2d_forward(X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> Y: (N, C_out, H', W')."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    kh, kw = K.shape[2:]
    s, p = stride, padding
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    Ho, Wo = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
    Y = bias[None, :, None, None].expand(N, -1, Ho, Wo).clone()
    for a in range(kh):
        for b in range(kw):
            taps = Xp[:, :, a : a + s * (Ho - 1) + 1 : s, b : b + s * (Wo - 1) + 1 : s]
            Y += torch.einsum("nchw,oc->nohw", taps, K[:, :, a, b])
    return Y
    ### END SOLUTION


def conv2d_backward(X: torch.Tensor, K: torch.Tensor, dY: torch.Tensor, stride: int, padding: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dY: (N, C_out, H', W') -> dX: (N, C_in, H, W), dK: (C_out, C_in, kh, kw), dbias: (C_out,)."""
    ### BEGIN SOLUTION
    N, C_in, H, W = X.shape
    kh, kw = K.shape[2:]
    s, p = stride, padding
    Ho, Wo = dY.shape[2:]
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    dXp, dK = torch.zeros_like(Xp), torch.zeros_like(K)
    for a in range(kh):
        for b in range(kw):
            rows, cols = slice(a, a + s * (Ho - 1) + 1, s), slice(b, b + s * (Wo - 1) + 1, s)
            dK[:, :, a, b] = torch.einsum("nchw,nohw->oc", Xp[:, :, rows, cols], dY)
            dXp[:, :, rows, cols] += torch.einsum("nohw,oc->nchw", dY, K[:, :, a, b])
    return dXp[:, :, p : p + H, p : p + W], dK, dY.sum(dim=(0, 2, 3))
    ### END SOLUTION


class Conv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X: torch.Tensor, K: torch.Tensor, bias: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
        ### BEGIN SOLUTION
        ctx.save_for_backward(X, K)
        ctx.stride, ctx.padding = stride, padding
        return conv2d_forward(X, K, bias, stride, padding)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, dY: torch.Tensor):
        ### BEGIN SOLUTION
        X, K = ctx.saved_tensors
        dX, dK, dbias = conv2d_backward(X, K, dY, ctx.stride, ctx.padding)
        return dX, dK, dbias, None, None
        ### END SOLUTION

# %% test id=test_conv2d_function points=3
X, K, b, dY = practice.conv_case((2, 3, 5, 5), (4, 3, 3, 3), 1, 1, seed=1, device=device)
practice.check_conv2d_function(Conv2dFunction, X, K, b, dY, stride=1, padding=1)
X, K, b, dY = practice.conv_case((2, 2, 7, 6), (3, 2, 3, 2), 2, 1, seed=5, device=device)
practice.check_conv2d_function(Conv2dFunction, X, K, b, dY, stride=2, padding=1)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex17", None)
practice = importlib.import_module("convlib.checks.ex17")
cases = [((3, 1, 6, 6), (2, 1, 2, 2), 2, 0), ((1, 4, 5, 7), (2, 4, 1, 3), 1, 0), ((2, 2, 8, 8), (3, 2, 3, 3), 3, 2)]
for seed, (xs, ks, s, p) in enumerate(cases):
    X, K, b, dY = practice.conv_case(xs, ks, s, p, seed=100 + 10 * seed, device=device)
    practice.check_conv2d_function(Conv2dFunction, X, K, b, dY, stride=s, padding=p)
### END HIDDEN TESTS

# %% markdown id=md_pool
# ## 2. Your max pooling, windows that overlap included (2 points)
#
# Write `MaxPool2dFunction` with `forward(ctx, X, kernel_size, stride)` for `X: (N, C, H, W)` and
# int arguments (no padding), giving `F.max_pool2d(X, kernel_size, stride)`, and its `backward`
# returning `(dX, None, None)`. The chapter's pooling has windows that tile the input
# (`stride = kernel_size`); yours must also handle `stride < kernel_size` (AlexNet pools 3x3
# windows with stride 2), where one input can be the maximum of several windows. Test it with
# `gradcheck` first, as above.

# %% solution id=max_pool2d_function
def max_pool2d_forward(X: torch.Tensor, kernel_size: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """X: (N, C, H, W) -> Y and the flat index h * W + w of each maximum in its channel, both (N, C, H', W')."""
    ### BEGIN SOLUTION
    k, s = kernel_size, stride
    W = X.shape[3]
    windows = X.unfold(2, k, s).unfold(3, k, s)  # (N, C, H', W', k, k), a view
    Y, arg = windows.reshape(*windows.shape[:4], k * k).max(dim=-1)
    rows = torch.arange(Y.shape[2], device=X.device)[:, None] * s + arg // k
    cols = torch.arange(Y.shape[3], device=X.device)[None, :] * s + arg % k
    return Y, rows * W + cols
    ### END SOLUTION


def max_pool2d_backward(dY: torch.Tensor, indices: torch.Tensor, input_shape: torch.Size) -> torch.Tensor:
    """dY, indices: (N, C, H', W') -> dX: input_shape."""
    ### BEGIN SOLUTION
    dX = dY.new_zeros(input_shape).flatten(2)
    return dX.scatter_add(2, indices.flatten(2), dY.flatten(2)).reshape(input_shape)
    ### END SOLUTION


class MaxPool2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
        ### BEGIN SOLUTION
        Y, indices = max_pool2d_forward(X, kernel_size, stride)
        ctx.save_for_backward(indices)
        ctx.input_shape = X.shape
        return Y
        ### END SOLUTION

    @staticmethod
    def backward(ctx, dY: torch.Tensor):
        ### BEGIN SOLUTION
        (indices,) = ctx.saved_tensors
        return max_pool2d_backward(dY, indices, ctx.input_shape), None, None
        ### END SOLUTION

# %% test id=test_max_pool2d_function points=2
X = check.randn(2, 3, 6, 6, seed=20, device=device)
practice.check_max_pool2d_function(MaxPool2dFunction, X, 2, 2, seed=21)
X = check.randn(1, 2, 7, 7, seed=22, device=device)
practice.check_max_pool2d_function(MaxPool2dFunction, X, 3, 2, seed=23)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex17", None)
practice = importlib.import_module("convlib.checks.ex17")
for seed, (shape, k, s) in enumerate([((2, 2, 5, 8), 2, 1), ((1, 3, 9, 6), 3, 3), ((2, 1, 8, 8), 4, 2)]):
    X = check.randn(*shape, seed=200 + 2 * seed, device=device)
    practice.check_max_pool2d_function(MaxPool2dFunction, X, k, s, seed=201 + 2 * seed)
### END HIDDEN TESTS

# %% markdown id=md_network
# ## 3. A LeNet-style network on your layers (2 points)
#
# Write `make_model()`, returning a new, randomly initialised `torch.nn.Module` that maps
# `X: (N, 1, 8, 8)` to class scores `(N, 10)`. Make it LeNet-style: at least two convolution
# layers, each a call to `Conv2dFunction.apply`, with a nonlinearity after each, at least one
# `MaxPool2dFunction.apply`, and fully connected layers at the end (`torch.nn.Linear` is fine).
# Keep the kernels and biases as `torch.nn.Parameter`s so that an optimiser finds them. Choose
# the widths, kernel sizes, strides and paddings yourself, with the next task's time budget in
# mind. The test runs one training step and records every operator that runs in it, forward and
# backward.

# %% solution id=make_model
def make_model() -> torch.nn.Module:
    """A new network: (N, 1, 8, 8) -> (N, 10)."""
    ### BEGIN SOLUTION
    class LeNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.K1 = torch.nn.Parameter(torch.randn(16, 1, 3, 3) / 3)
            self.b1 = torch.nn.Parameter(torch.zeros(16))
            self.K2 = torch.nn.Parameter(torch.randn(32, 16, 3, 3) / 12)
            self.b2 = torch.nn.Parameter(torch.zeros(32))
            self.fc1 = torch.nn.Linear(32 * 2 * 2, 64)
            self.fc2 = torch.nn.Linear(64, 10)

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            X = MaxPool2dFunction.apply(torch.relu(Conv2dFunction.apply(X, self.K1, self.b1, 1, 1)), 2, 2)
            X = MaxPool2dFunction.apply(torch.relu(Conv2dFunction.apply(X, self.K2, self.b2, 1, 1)), 2, 2)
            return self.fc2(torch.relu(self.fc1(X.flatten(1))))

    return LeNet().to(device)
    ### END SOLUTION

# %% test id=test_network points=2
practice.check_network(make_model, Conv2dFunction, MaxPool2dFunction, device=device)
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex17", None)
practice = importlib.import_module("convlib.checks.ex17")
practice.check_network(make_model, Conv2dFunction, MaxPool2dFunction, batch=5, seed=3, device=device)
### END HIDDEN TESTS

# %% markdown id=md_train
# ## 4. Train it to 95 % within 10 CPU seconds (2 + 1 points)
#
# Write `train(model, X, y)`, which trains `model` in place on the images `X: (N, 1, 8, 8)` with
# labels `y: (N,)` (choose the loss, optimiser, learning rate, batch size and number of epochs).
# The test builds a fresh `make_model()` (after `torch.manual_seed`), calls
# `train(model, X_train, y_train)` on **one CPU thread**, measures its CPU time, and scores the
# trained model on the held-out images. To pass, the accuracy must be at least **95 %** and the
# training must take at most **10 CPU seconds**, with no torch convolution or pooling anywhere,
# and the trained network must be the one of task 3, built on your Functions.
# The second test cell does it again with another seed and another random split (1 point), so
# aim above 95 % and well under the budget (each test cell may run for 30 seconds in all). A network whose
# layers loop over pixels in Python is too slow: make every layer a few whole-tensor operations.
#
# The scratch cell after the two tests is yours: train there, watch the loss fall and time it.

# %% solution id=train
def train(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> None:
    """Train model in place on X: (N, 1, 8, 8) and labels y: (N,)."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.8)  # smaller steps at the end
    for _ in range(10):
        for batch in torch.randperm(len(y), device=y.device).split(32):
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    ### END SOLUTION

# %% test id=test_training points=2
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex17", None)
practice = importlib.import_module("convlib.checks.ex17")
### END HIDDEN TESTS
practice.check_training(make_model, train, Conv2dFunction, MaxPool2dFunction, device=device)

# %% test id=test_training_again points=1
# The grader trains your network once more, with another seed on another split of the data.
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex17", None)
practice = importlib.import_module("convlib.checks.ex17")
practice.check_training(make_model, train, Conv2dFunction, MaxPool2dFunction, split_seed=1, seed=1, device=device)
### END HIDDEN TESTS

# %% scratch id=scratch_train
# Your experiments here, e.g.
# import time
# torch.manual_seed(0); model = make_model(); start = time.process_time()
# train(model, X_train, y_train)
# print(time.process_time() - start, (model(X_test).argmax(1) == y_test).float().mean())
