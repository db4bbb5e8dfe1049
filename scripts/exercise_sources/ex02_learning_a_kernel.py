# %% markdown id=title
# # Exercise 2: learning a kernel, by hand
#
# **Total: {total_points} points.** Book chapter 2 (learning a kernel).
#
# The chapter learns an edge detector by gradient descent, with autograd computing the gradient and
# a learning rate that happens to work. Here you derive the gradient yourself, build the tool that
# tells a right gradient from a wrong one, and compute the learning rate at which the chapter's
# loop stops converging.
#
# How this notebook works:
#
# - Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()` line).
# - Each function is followed by a test cell worth the points it shows. The visible asserts there are
#   a subset of what is graded: hidden tests run the same checks on more random inputs.
# - No autograd in this notebook: the checks call your functions with gradient recording off
#   (`torch.no_grad()`), so `loss.backward()`, `torch.autograd.grad` or a graph kept on a tensor
#   cannot work, and using them scores 0 for that task. Torch's convolutions score 0 too.
# - `corr2d` (chapter 1's loops) is defined below for you to use.
# - Before submitting, run **Kernel > Restart & Run All**, or from a terminal
#   `nbgrader validate ex02_learning_a_kernel.ipynb`.
#
# Notation: `X` input `(H, W)`, `K` kernel `(kh, kw)`, `b` the bias (one number, a 0-d tensor),
# `Y` target. The loss of the chapter's layer is
# $L(K, b) = \sum_{i,j} \left(\hat Y[i, j] - Y[i, j]\right)^2$ with $\hat Y = $ `corr2d(X, K) + b`.

# %% parameters id=parameters
device = "cpu"

# %% setup id=setup
import torch

import convlib.check as check
import convlib.checks.ex02 as practice

# The environment variable CONVLIB_DEVICE (e.g. "cuda"), if set, wins over the parameter above.
device = check.device(device)


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Chapter 1's cross-correlation. X: (H, W), K: (kh, kw) -> (H - kh + 1, W - kw + 1)."""
    kh, kw = K.shape
    Y = X.new_zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y

# %% markdown id=md_loss_grad
# ## 1. The gradient, derived by hand (4 points)
#
# Write $\partial L / \partial K[a, b]$ and $\partial L / \partial b$ as sums over the output
# pixels `i, j`, then recognise the first as an operation you already have. Write
# `loss_grad(X, Y, K, b)` that returns the pair `(dK, db)`: `dK` shaped like `K`, `db` a 0-d
# tensor like `b`.

# %% solution id=loss_grad
def loss_grad(X: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of sum((corr2d(X, K) + b - Y)**2). X: (H, W), Y: (H - kh + 1, W - kw + 1),
    K: (kh, kw), b: () -> (dK: (kh, kw), db: ())."""
    ### BEGIN SOLUTION
    residual = corr2d(X, K) + b - Y
    # dL/dK[a, b] = sum_ij 2 r[i, j] X[i + a, j + b]: the cross-correlation of X with 2 r
    return corr2d(X, 2 * residual), 2 * residual.sum()
    ### END SOLUTION

# %% test id=test_loss_grad points=4
X = torch.ones((6, 8), dtype=torch.float64, device=device)
X[:, 2:6] = 0  # chapter 2's image: white, with a black vertical band
Y = corr2d(X, torch.tensor([[1.0, -1.0]], dtype=torch.float64, device=device))  # its edges
practice.check_loss_grad(loss_grad, X, Y, torch.zeros((1, 2), dtype=torch.float64, device=device), torch.tensor(0.0, dtype=torch.float64, device=device))
practice.check_loss_grad(loss_grad, check.randn(5, 6, seed=1, device=device), check.randn(4, 4, seed=2, device=device), check.randn(2, 3, seed=3, device=device), torch.tensor(0.5, dtype=torch.float64, device=device))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex02", None)
practice = importlib.import_module("convlib.checks.ex02")
for seed, (H, W, kh, kw) in enumerate([(4, 4, 1, 1), (6, 5, 3, 2), (7, 8, 2, 4)]):
    X = check.randn(H, W, seed=100 + seed, device=device)
    Y = check.randn(H - kh + 1, W - kw + 1, seed=200 + seed, device=device)
    K = check.randn(kh, kw, seed=300 + seed, device=device)
    practice.check_loss_grad(loss_grad, X, Y, K, check.randn(1, seed=400 + seed, device=device)[0])
### END HIDDEN TESTS

# %% markdown id=md_numerical_grad
# ## 2. A gradient checker (3 points)
#
# A gradient derived by hand is easy to get subtly wrong. Write `numerical_grad(loss, K, eps)`, the
# central-difference estimate of the gradient of any function `loss` (a tensor `K` in, a 0-d tensor
# out) at `K`: one estimate per entry of `K`, each from two evaluations of `loss` at points that
# differ from `K` in that entry only. In float64 with `eps = 1e-6` it agrees with the true
# gradient to about 1e-8; a one-sided difference does not.
#
# Once it passes, use it in the scratch cell to test your `loss_grad`, and the two suspicious
# gradients `grad_a` and `grad_b` given there: which one is wrong, and what was its author's
# mistake?

# %% solution id=numerical_grad
def numerical_grad(loss, K: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central differences. loss: (kh, kw) -> (), K: (kh, kw) -> dloss/dK: (kh, kw)."""
    ### BEGIN SOLUTION
    grad = torch.zeros_like(K)
    for index in range(K.numel()):
        step = torch.zeros_like(K)
        step.view(-1)[index] = eps
        grad.view(-1)[index] = (loss(K + step) - loss(K - step)) / (2 * eps)
    return grad
    ### END SOLUTION

# %% test id=test_numerical_grad points=3
X = check.randn(6, 6, seed=5, device=device)
Y = check.randn(6, 6, seed=6, device=device)


def squared_error(K: torch.Tensor) -> torch.Tensor:
    Y_hat = corr2d(X, K)
    return ((Y_hat - Y[: Y_hat.shape[0], : Y_hat.shape[1]]) ** 2).sum()


def quartic(K: torch.Tensor) -> torch.Tensor:
    return (K**4).sum() + (K[0, 0] * K[-1, -1]) ** 2


practice.check_numerical_grad(numerical_grad, squared_error, check.randn(2, 3, seed=7, device=device))
practice.check_numerical_grad(numerical_grad, quartic, check.randn(3, 3, seed=8, device=device))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex02", None)
practice = importlib.import_module("convlib.checks.ex02")
for seed, (kh, kw) in enumerate([(1, 1), (3, 2), (2, 2)]):
    practice.check_numerical_grad(numerical_grad, squared_error, check.randn(kh, kw, seed=500 + seed, device=device))
    practice.check_numerical_grad(numerical_grad, quartic, check.randn(kh, kw, seed=600 + seed, device=device), 1e-5)
### END HIDDEN TESTS

# %% scratch id=scratch_gradients
def grad_a(X, Y, K, b):
    r = corr2d(X, K) + b - Y
    return corr2d(X.flip(0, 1), 2 * r.flip(0, 1)).flip(0, 1), 2 * r.sum()


def grad_b(X, Y, K, b):
    r = corr2d(X, K) - Y
    return corr2d(X, 2 * r), 2 * (r + b).sum()

# Use numerical_grad here: which of grad_a, grad_b (and your loss_grad) is right?

# %% markdown id=md_critical_lr
# ## 3. When does gradient descent diverge? (3 points)
#
# The chapter steps `K -= lr * dK` and `b -= lr * db` with a learning rate that works. Make it
# twice as large and the loss may explode. For this loss the threshold can be computed exactly,
# before any training: $\hat Y$ is a linear function of the parameters `(K, b)`, so $L$ is a
# quadratic, and gradient descent on a quadratic converges for every start if and only if `lr` is
# below a value set by the quadratic's curvature. Work out that value (it does not depend on
# `Y`) and write `critical_lr(X, kernel_size)` that returns it as a Python float.
#
# Check your answer in the scratch cell: train at 0.95 and at 1.05 times your rate with your
# `loss_grad` and watch the loss.

# %% solution id=critical_lr
def critical_lr(X: torch.Tensor, kernel_size: tuple[int, int]) -> float:
    """The learning rate above which gradient descent on (K, b) diverges. X: (H, W)."""
    ### BEGIN SOLUTION
    kh, kw = kernel_size
    H_out, W_out = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    # (K, b) -> corr2d(X, K) + b is linear: A @ [K.flatten(), b], one row per output pixel
    columns = [X[a : a + H_out, c : c + W_out].reshape(-1) for a in range(kh) for c in range(kw)]
    A = torch.stack(columns + [X.new_ones(H_out * W_out)], dim=1)
    # L's Hessian is 2 A^T A; the iteration contracts iff lr * 2 * lambda_max < 2
    return 1.0 / torch.linalg.eigvalsh(A.T @ A)[-1].item()
    ### END SOLUTION

# %% test id=test_critical_lr points=3
X = torch.ones((6, 8), dtype=torch.float64, device=device)
X[:, 2:6] = 0
practice.check_critical_lr(critical_lr, X, (1, 2))  # the chapter's example
practice.check_critical_lr(critical_lr, check.randn(6, 7, seed=9, device=device), (3, 3))
### BEGIN HIDDEN TESTS
sys.modules.pop("convlib.checks.ex02", None)
practice = importlib.import_module("convlib.checks.ex02")
for seed, (H, W, kh, kw) in enumerate([(5, 5, 1, 1), (8, 6, 2, 3), (7, 7, 4, 1)]):
    practice.check_critical_lr(critical_lr, check.randn(H, W, seed=700 + seed, device=device), (kh, kw))
### END HIDDEN TESTS

# %% scratch id=scratch_lr
# Train at 0.95 and 1.05 times critical_lr(X, (1, 2)) with your loss_grad: what happens to the loss?
