"""Teaching layer, chapter 17: the course's layers as autograd Functions, and a network on them.

Each Function against ``torch.nn.functional`` (values and float64 gradients, and
``torch.autograd.gradcheck``), the network against the same network built from torch's own
layers with the same weights, the data split, the training loop, and the op recorder.
"""

from __future__ import annotations

from typing import cast

import pytest
import torch
import torch.nn.functional as F
from teaching_helpers import F64, TOL

from convlib.teaching.ch17_capstone import (
    AtenOps,
    Conv2d,
    LeNet,
    MaxPool2d,
    accuracy,
    conv2d_input_grad,
    load_digits_split,
    max_pool2d_backward,
    train,
)

Tensor = torch.Tensor
Pair = tuple[int, int]


def _leaf(*shape: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=F64, generator=g).requires_grad_()


@pytest.mark.parametrize(
    ("x_shape", "k_shape", "padding"),
    [((2, 3, 5, 6), (4, 3, 3, 3), (1, 1)), ((1, 2, 4, 4), (3, 2, 2, 3), (0, 1))],
)
def test_conv2d_input_grad_matches_autograd(
    x_shape: tuple[int, ...], k_shape: tuple[int, ...], padding: Pair
) -> None:
    X, K = _leaf(*x_shape, seed=0), _leaf(*k_shape, seed=1)
    Y = F.conv2d(X, K, padding=padding)
    dY = torch.randn_like(Y)
    (expected,) = torch.autograd.grad(Y, X, dY)
    H, W = x_shape[2:]
    torch.testing.assert_close(conv2d_input_grad(dY, K.detach(), (H, W), padding), expected, **TOL)


def test_conv2d_function_matches_torch_and_passes_gradcheck() -> None:
    X, K, b = _leaf(2, 3, 5, 5, seed=2), _leaf(4, 3, 3, 3, seed=3), _leaf(4, seed=4)
    ours = Conv2d.apply(X, K, b, (1, 1))
    theirs = F.conv2d(X, K, b, padding=1)
    torch.testing.assert_close(ours, theirs, **TOL)
    dY = torch.randn_like(ours)
    for a, e in zip(
        torch.autograd.grad(ours, (X, K, b), dY),
        torch.autograd.grad(theirs, (X, K, b), dY),
        strict=True,
    ):
        torch.testing.assert_close(a, e, **TOL)
    small = (_leaf(1, 2, 4, 4, seed=5), _leaf(2, 2, 3, 3, seed=6), _leaf(2, seed=7))
    assert torch.autograd.gradcheck(lambda X, K, b: Conv2d.apply(X, K, b, (0, 1)), small)


def test_conv2d_function_skips_the_input_gradient_it_is_not_asked_for() -> None:
    X = torch.randn(2, 1, 4, 4, dtype=F64)  # data: no requires_grad
    K, b = _leaf(3, 1, 3, 3, seed=8), _leaf(3, seed=9)
    Conv2d.apply(X, K, b, (1, 1)).sum().backward()
    expected = torch.autograd.grad(F.conv2d(X, K, b, padding=1).sum(), (K, b))
    torch.testing.assert_close(K.grad, expected[0], **TOL)
    torch.testing.assert_close(b.grad, expected[1], **TOL)


def test_max_pool2d_backward_and_function_match_torch() -> None:
    X = _leaf(2, 3, 6, 4, seed=10)
    ours = MaxPool2d.apply(X, (2, 2))
    theirs, indices = F.max_pool2d(X, 2, return_indices=True)
    torch.testing.assert_close(ours, theirs, **TOL)
    dY = torch.randn_like(ours)
    (expected,) = torch.autograd.grad(theirs, X, dY)
    torch.testing.assert_close(torch.autograd.grad(ours, X, dY)[0], expected, **TOL)
    torch.testing.assert_close(max_pool2d_backward(dY, indices, X.shape), expected, **TOL)
    assert torch.autograd.gradcheck(
        lambda X: MaxPool2d.apply(X, (2, 3)), _leaf(1, 2, 4, 6, seed=11)
    )


def test_max_pool2d_backward_adds_where_windows_share_a_winner() -> None:
    X = _leaf(1, 1, 5, 5, seed=12)
    Y, indices = F.max_pool2d(X, 3, stride=1, return_indices=True)  # overlapping windows
    dY = torch.randn_like(Y)
    (expected,) = torch.autograd.grad(Y, X, dY)
    torch.testing.assert_close(max_pool2d_backward(dY, indices, X.shape), expected, **TOL)


def _torch_lenet(model: LeNet, X: Tensor) -> Tensor:
    """The same network from torch's own conv2d and max_pool2d, with the model's weights."""
    X = F.max_pool2d(torch.relu(F.conv2d(X, model.K1, model.b1, padding=1)), 2)
    X = F.max_pool2d(torch.relu(F.conv2d(X, model.K2, model.b2, padding=1)), 2)
    return cast(Tensor, model.fc2(torch.relu(model.fc1(X.flatten(1)))))


def test_lenet_equals_the_same_network_from_torch_layers() -> None:
    torch.manual_seed(0)
    model = LeNet(c1=4, c2=6, hidden=8).to(F64)
    X = torch.randn(5, 1, 8, 8, dtype=F64)
    ours, theirs = model(X), _torch_lenet(model, X)
    assert ours.shape == (5, 10)
    torch.testing.assert_close(ours, theirs, **TOL)
    params = list(model.parameters())
    weights = torch.randn_like(ours)
    for a, e in zip(
        torch.autograd.grad((ours * weights).sum(), params),
        torch.autograd.grad((theirs * weights).sum(), params),
        strict=True,
    ):
        torch.testing.assert_close(a, e, **TOL)


def test_load_digits_split_is_a_seeded_partition() -> None:
    X_train, y_train, X_test, y_test = load_digits_split()
    assert X_train.shape == (1437, 1, 8, 8) and X_test.shape == (360, 1, 8, 8)
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    assert float(X_train.min()) == 0.0 and float(X_train.max()) == 1.0
    assert set(y_test.tolist()) == set(range(10))
    again = load_digits_split()
    assert torch.equal(again[2], X_test) and torch.equal(again[3], y_test)
    # no test image is a training image (the digits have no exact duplicates across the split)
    same = (X_test.flatten(1)[:, None] == X_train.flatten(1)[None]).all(dim=-1)
    assert not bool(same.any())


def test_train_lowers_the_loss_and_accuracy_counts_correct_labels() -> None:
    X_train, y_train, _, _ = load_digits_split()
    X, y = X_train[:128], y_train[:128]
    torch.manual_seed(0)
    model = LeNet(c1=4, c2=8, hidden=16)
    before = F.cross_entropy(model(X), y).item()
    losses = train(model, X, y, epochs=5, batch_size=32)
    assert len(losses) == 5 * 4
    assert F.cross_entropy(model(X), y).item() < before
    with torch.no_grad():
        expected = sum(int(model(X[i : i + 1]).argmax()) == int(y[i]) for i in range(len(y)))
    assert accuracy(model, X, y) == pytest.approx(expected / len(y))


def test_aten_ops_sees_torch_convolutions_forward_and_backward() -> None:
    X = torch.randn(2, 1, 8, 8)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.MaxPool2d(2))
    with AtenOps() as ops:
        net(X).sum().backward()
    assert {"convolution", "convolution_backward", "max_pool2d_with_indices"} <= ops.names
    assert "max_pool2d_with_indices_backward" in ops.names
    with AtenOps() as ours:
        LeNet(c1=2, c2=2, hidden=4)(X).sum().backward()
    assert not {n for n in ours.names if "conv" in n or "pool" in n}
    assert {"scatter_add", "mm"} <= ours.names
