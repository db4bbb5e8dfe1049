"""Chapter 17: a network that learns on the course's own layers.

Chapters 9 to 11 wrote the forward and backward passes of a convolution and of max pooling. Here
they become ``torch.autograd.Function``s, so autograd only chains them, and a LeNet-style network
built from them learns scikit-learn's bundled 8x8 digits.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils._python_dispatch import TorchDispatchMode

from convlib.teaching.ch09_backward import conv2d_weight_grad
from convlib.teaching.ch10_im2col import col2im, conv2d_im2col
from convlib.teaching.ch11_pooling import max_pool2d

Pair = tuple[int, int]
Tensor = torch.Tensor


def conv2d_input_grad(dY: Tensor, K: Tensor, input_size: Pair, padding: Pair) -> Tensor:
    """dL/dX = C^T dY (chapter 9) by chapter 10's product run backwards, stride 1.
    dY: (N, C_out, H', W'), K: (C_out, C_in, kh, kw) -> dX: (N, C_in, *input_size)."""
    C_out, C_in, kh, kw = K.shape
    # Column (n, l) of K^T @ dY is the gradient of window l of image n: one column of im2col.
    cols = K.reshape(C_out, C_in * kh * kw).T @ dY.flatten(2)  # (N, C_in kh kw, H' W')
    return col2im(cols, input_size, kh, kw, padding=padding)  # add each window back in place


class Conv2d(torch.autograd.Function):
    """conv2d (stride 1) whose backward pass is ours: autograd calls it instead of its own."""

    @staticmethod
    def forward(ctx: Any, X: Tensor, K: Tensor, bias: Tensor, padding: Pair) -> Tensor:
        """X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> (N, C_out, H', W')."""
        ctx.save_for_backward(X, K)
        ctx.padding = padding
        return conv2d_im2col(X, K, bias, padding=padding)

    @staticmethod
    def backward(ctx: Any, dY: Tensor) -> tuple[Tensor | None, Tensor, Tensor, None]:
        """dY: (N, C_out, H', W') -> dX, dK, dbias, and None for the padding (not a tensor)."""
        X, K = ctx.saved_tensors
        H, W = X.shape[2:]
        dX = None  # the first layer's input is the data: its gradient is never used
        if ctx.needs_input_grad[0]:
            dX = conv2d_input_grad(dY, K, (H, W), ctx.padding)
        dK = conv2d_weight_grad(X, dY, (K.shape[2], K.shape[3]), padding=ctx.padding)
        return dX, dK, dY.sum(dim=(0, 2, 3)), None


def max_pool2d_backward(dY: Tensor, indices: Tensor, input_shape: torch.Size) -> Tensor:
    """Each output's gradient goes to the input that won its window (chapter 11); an input that
    won several windows gets their sum. dY, indices: (N, C, H', W') -> dX: input_shape."""
    dX = dY.new_zeros(input_shape).flatten(2)  # (N, C, H W): indices count within a channel
    return dX.scatter_add(2, indices.flatten(2), dY.flatten(2)).reshape(input_shape)


class MaxPool2d(torch.autograd.Function):
    """Chapter 11's max pooling (stride = window) with the backward pass above."""

    @staticmethod
    def forward(ctx: Any, X: Tensor, kernel_size: Pair) -> Tensor:
        """X: (N, C, H, W) -> Y: (N, C, H // kh, W // kw)."""
        Y, indices = max_pool2d(X, kernel_size)
        ctx.save_for_backward(indices)
        ctx.input_shape = X.shape
        return Y

    @staticmethod
    def backward(ctx: Any, dY: Tensor) -> tuple[Tensor, None]:
        """dY: (N, C, H', W') -> dX: (N, C, H, W), and None for the kernel size."""
        (indices,) = ctx.saved_tensors
        return max_pool2d_backward(dY, indices, ctx.input_shape), None


class LeNet(torch.nn.Module):
    """Two stages of conv 3x3 (padding 1), ReLU and 2x2 max pooling, then two fully connected
    layers, in the spirit of LeNet-5. X: (N, 1, 8, 8) -> class scores (N, classes)."""

    def __init__(self, c1: int = 16, c2: int = 32, hidden: int = 64, classes: int = 10) -> None:
        super().__init__()
        # Random kernels with variance 1 / fan_in, so every layer starts at a similar scale.
        self.K1 = torch.nn.Parameter(torch.randn(c1, 1, 3, 3) / 3)
        self.b1 = torch.nn.Parameter(torch.zeros(c1))
        self.K2 = torch.nn.Parameter(torch.randn(c2, c1, 3, 3) / (9 * c1) ** 0.5)
        self.b2 = torch.nn.Parameter(torch.zeros(c2))
        self.fc1 = torch.nn.Linear(c2 * 2 * 2, hidden)
        self.fc2 = torch.nn.Linear(hidden, classes)

    def forward(self, X: Tensor) -> Tensor:
        """X: (N, 1, 8, 8) -> (N, classes)."""
        X = MaxPool2d.apply(torch.relu(Conv2d.apply(X, self.K1, self.b1, (1, 1))), (2, 2))
        X = MaxPool2d.apply(torch.relu(Conv2d.apply(X, self.K2, self.b2, (1, 1))), (2, 2))
        return self.fc2(torch.relu(self.fc1(X.flatten(1))))  # (N, c2, 2, 2) -> (N, classes)


def load_digits_split(test_size: int = 360, seed: int = 0) -> tuple[Tensor, ...]:
    """scikit-learn's 1,797 digits (no download), pixels 0..16 scaled to 0..1, split at random.
    -> X_train: (N_train, 1, 8, 8), y_train: (N_train,), X_test: (test_size, 1, 8, 8), y_test."""
    digits = load_digits()
    X = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    y = torch.tensor(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    test, train = order[:test_size], order[test_size:]
    return X[train], y[train], X[test], y[test]


def train(
    model: torch.nn.Module,
    X: Tensor,
    y: Tensor,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
) -> list[float]:
    """Adam on the cross-entropy loss over shuffled minibatches; the model learns in place.
    X: (N, 1, H, W), y: (N,) class indices -> the loss of every step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()  # autograd calls Conv2d.backward and MaxPool2d.backward
            optimizer.step()
            losses.append(loss.item())
    return losses


def accuracy(model: torch.nn.Module, X: Tensor, y: Tensor) -> float:
    """Fraction of images whose highest score is their label. X: (N, 1, H, W), y: (N,)."""
    with torch.no_grad():
        return (model(X).argmax(dim=1) == y).float().mean().item()


class AtenOps(TorchDispatchMode):
    """Records the name of every ATen operator that runs while it is active, in the forward and
    the backward pass, autograd's own derivative formulas included."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(
        self, func: Any, types: Any, args: Any = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        self.names.add(func.overloadpacket.__name__)  # aten.convolution.default -> convolution
        return func(*args, **(kwargs or {}))
