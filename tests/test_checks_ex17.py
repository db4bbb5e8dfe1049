"""convlib.checks.ex17: each diagnosis is triggered by the mistake it names, torch's convolutions
and poolings are found wherever they run in a network (forward, backward, autograd's own
formulas), and the released solution passes. Small inputs; one slow test trains for real."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
import torch.nn.functional as F
from check_helpers import fails

import convlib.check as check
from convlib.checks import ex17

ROOT = Path(__file__).resolve().parent.parent
Tensor = torch.Tensor


@functools.cache
def solution() -> dict[str, Any]:
    """The namespace of ex17's setup and solution cells, as a student who solved it has it."""
    nb = nbformat.read(ROOT / "solutions" / "ex17_capstone" / "ex17_capstone.ipynb", 4)
    namespace: dict[str, Any] = {"__name__": "__main__", "device": "cpu"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and not meta.get("grade"):
            exec(compile(cell.source, "<ex17_capstone>", "exec"), namespace)  # noqa: S102
    return namespace


# --------------------------------------------------------------------------------------------
# planted mistakes: a Function from a forward and a backward, each with one bug


def function(
    forward: Callable[..., Tensor], backward: Callable[..., tuple[Tensor | None, ...]]
) -> Any:
    """An autograd Function that saves its inputs and settings and calls ``backward``."""

    class Planted(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, X: Tensor, *rest: Any) -> Tensor:
            ctx.save_for_backward(X, *(t for t in rest if isinstance(t, Tensor)))
            ctx.settings = [t for t in rest if not isinstance(t, Tensor)]
            return forward(X, *rest)

        @staticmethod
        def backward(ctx: Any, dY: Tensor) -> tuple[Tensor | None, ...]:
            return backward(dY, *ctx.saved_tensors, *ctx.settings)

    return Planted


def conv_forward(bug: str = "") -> Callable[..., Tensor]:
    forward = solution()["conv2d_forward"]

    def run(X: Tensor, K: Tensor, b: Tensor, s: int, p: int) -> Tensor:
        if bug == "flip":
            K = K.flip(-1, -2)
        if bug == "bias":
            b = torch.zeros_like(b)
        return forward(X, K, b, 1 if bug == "stride" else s, 0 if bug == "padding" else p)

    return run


def conv_backward(bug: str = "") -> Callable[..., tuple[Tensor | None, ...]]:
    backward = solution()["conv2d_backward"]

    def run(
        dY: Tensor, X: Tensor, K: Tensor, b: Tensor, s: int, p: int
    ) -> tuple[Tensor | None, ...]:
        dX, dK, db = backward(X, K.flip(-1, -2) if bug == "dX_flip" else K, dY, s, p)
        if bug == "dX_flip":
            dK = backward(X, K, dY, s, p)[1]
        if bug == "dX_uncropped":
            dX = F.pad(dX, (p, p, p, p))
        if bug == "dX_lost_rows":
            H = X.shape[2] - (X.shape[2] + 2 * p - K.shape[2]) % s
            W = X.shape[3] - (X.shape[3] + 2 * p - K.shape[3]) % s
            dX = dX[:, :, :H, :W]
        if bug == "dK_mean":
            dK = dK / X.shape[0]
        if bug == "dK_first":
            dK = backward(X[:1], K, dY[:1], s, p)[1]
        if bug == "dK_flip":
            dK = dK.flip(-1, -2)
        if bug == "db_mean":
            db = db / dY[:, 0].numel()
        if bug == "db_batch":
            db = dY.sum(dim=0)
        if bug == "dX_twice":  # not the output's gradient: only gradcheck notices nothing
            dX = 2 * dX
        return dX, dK, db, None, None

    return run


def check_conv(Fn: Any, stride: int = 2, padding: int = 1) -> None:
    X, K, b, dY = ex17.conv_case((2, 2, 8, 8), (3, 2, 3, 3), stride, padding, seed=3)
    ex17.check_conv2d_function(Fn, X, K, b, dY, stride=stride, padding=padding)


def test_the_solution_functions_pass() -> None:
    ns = solution()
    check_conv(ns["Conv2dFunction"])
    check_conv(ns["Conv2dFunction"], stride=1, padding=0)
    X = check.randn(1, 2, 7, 7, seed=5)
    ex17.check_max_pool2d_function(ns["MaxPool2dFunction"], X, 3, 2, seed=6)


def test_the_planted_honest_function_passes() -> None:
    check_conv(function(conv_forward(), conv_backward()))


@pytest.mark.parametrize(
    ("bug", "needle"),
    [
        ("flip", "kernel flipped"),
        ("bias", "bias is not added"),
        ("stride", "stride is ignored"),
        ("padding", "padding is ignored"),
    ],
)
def test_conv_output_mistakes_are_named(bug: str, needle: str) -> None:
    fails(lambda: check_conv(function(conv_forward(bug), conv_backward())), needle)


@pytest.mark.parametrize(
    ("bug", "needle"),
    [
        ("dX_flip", "gradient with the kernel flipped"),
        ("dX_uncropped", "still has the padding's rows"),
        ("dX_lost_rows", "a stride skipped"),
        ("dK_mean", "averaged over the batch"),
        ("dK_first", "first image's gradient only"),
        ("dK_flip", "dL/dK is flipped"),
        ("db_mean", "dL/dbias is a mean"),
        ("db_batch", "summed over the batch only"),
    ],
)
def test_conv_gradient_mistakes_are_named(bug: str, needle: str) -> None:
    text = fails(lambda: check_conv(function(conv_forward(), conv_backward(bug))), needle)
    assert "backward" in text


def test_a_backward_that_disagrees_with_its_own_forward_fails_gradcheck() -> None:
    """A forward that is torch's (so every value check passes) and a backward for another
    forward: only gradcheck can tell."""

    class Inconsistent(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, X: Tensor, K: Tensor, b: Tensor, s: int, p: int) -> Tensor:
            ctx.save_for_backward(X, K)
            ctx.settings = (s, p)
            return solution()["conv2d_forward"](X, K, b, s, p)

        @staticmethod
        def backward(ctx: Any, dY: Tensor) -> tuple[Tensor | None, ...]:
            X, K = ctx.saved_tensors
            if torch.is_grad_enabled() or dY.abs().sum() != 1:  # gradcheck's unit vectors
                return conv_backward()(dY, X, K, K, *ctx.settings)
            return conv_backward("dX_twice")(dY, X, K, K, *ctx.settings)

    fails(lambda: check_conv(Inconsistent), "gradcheck of", "finite differences")


def test_conv2d_in_the_function_and_autograd_in_its_backward_are_forbidden() -> None:
    def torch_forward(X: Tensor, K: Tensor, b: Tensor, s: int, p: int) -> Tensor:
        return F.conv2d(X, K, b, s, p)

    fails(
        lambda: check_conv(function(torch_forward, conv_backward())),
        "torch.nn.functional.conv2d",
        "0 points",
    )

    def by_autograd(dY: Tensor, X: Tensor, K: Tensor, b: Tensor, s: int, p: int) -> tuple[Any, ...]:
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_() for t in (X, K)]
            Y = solution()["conv2d_forward"](*leaves, torch.zeros(K.shape[0]).to(X), s, p)
            dX, dK = torch.autograd.grad(Y, leaves, dY)
        return dX, dK, dY.sum(dim=(0, 2, 3)), None, None

    fails(lambda: check_conv(function(conv_forward(), by_autograd)), "autograd")


# --------------------------------------------------------------------------------------------
# max pooling


def pool_forward(bug: str = "") -> Callable[..., Tensor]:
    def run(X: Tensor, k: int, s: int) -> Tensor:
        Y, _ = solution()["max_pool2d_forward"](X, k, 1 if bug == "stride" else s)
        if bug == "mean":
            return X.unfold(2, k, s).unfold(3, k, s).mean(dim=(-1, -2))
        return Y

    return run


def pool_backward(bug: str = "") -> Callable[..., tuple[Tensor | None, ...]]:
    def run(dY: Tensor, X: Tensor, k: int, s: int) -> tuple[Tensor | None, ...]:
        _, indices = solution()["max_pool2d_forward"](X, k, s)
        if bug == "spread":
            dX = torch.zeros_like(X)
            for i in range(dY.shape[2]):
                for j in range(dY.shape[3]):
                    dX[:, :, i * s : i * s + k, j * s : j * s + k] += dY[:, :, i, j, None, None]
            return dX / (k * k), None, None
        dX = dY.new_zeros(X.shape).flatten(2)
        if bug == "assign":
            dX.scatter_(2, indices.flatten(2), dY.flatten(2))
        else:
            dX.scatter_add_(2, indices.flatten(2), dY.flatten(2))
        return dX.reshape(X.shape), None, None

    return run


def check_pool(Fn: Any) -> None:
    X = check.randn(2, 2, 7, 7, seed=7)
    ex17.check_max_pool2d_function(Fn, X, 3, 2, seed=8)


def test_the_planted_honest_pooling_passes() -> None:
    check_pool(function(pool_forward(), pool_backward()))


@pytest.mark.parametrize(
    ("forward", "backward", "needle"),
    [
        ("mean", "", "each window's mean"),
        ("stride", "", "stride is ignored"),
        ("", "spread", "spreads each gradient over its whole window"),
        ("", "assign", "must get the SUM of their gradients"),
    ],
)
def test_pool_mistakes_are_named(forward: str, backward: str, needle: str) -> None:
    fails(lambda: check_pool(function(pool_forward(forward), pool_backward(backward))), needle)


def test_torch_max_pool2d_in_the_function_is_forbidden() -> None:
    def torch_forward(X: Tensor, k: int, s: int) -> Tensor:
        return F.max_pool2d(X, k, s)

    fails(lambda: check_pool(function(torch_forward, pool_backward())), "max_pool2d", "0 points")


# --------------------------------------------------------------------------------------------
# the network


def lenet(conv: Callable[..., Tensor], pool: Callable[..., Tensor], convs: int = 2) -> Any:
    """make_model for a small LeNet whose convolutions and poolings are ``conv`` and ``pool``."""

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.K = torch.nn.ParameterList(
                [torch.nn.Parameter(torch.randn(4, 1 if i == 0 else 4, 3, 3) / 3) for i in range(2)]
            )
            self.b = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(4)) for _ in range(2)])
            self.fc = torch.nn.Linear(4 * 4 * 4 if convs == 1 else 4 * 2 * 2, 10)

        def forward(self, X: Tensor) -> Tensor:
            for i in range(convs):
                X = pool(torch.relu(conv(X, self.K[i], self.b[i], 1, 1)), 2, 2)
            return self.fc(X.flatten(1))

    return Net


def ours() -> tuple[Any, Any]:
    return solution()["Conv2dFunction"], solution()["MaxPool2dFunction"]


def test_network_of_our_functions_passes() -> None:
    Conv, Pool = ours()
    ex17.check_network(lenet(Conv.apply, Pool.apply), Conv, Pool, batch=4)
    ex17.check_network(solution()["make_model"], Conv, Pool, batch=4)


def test_network_with_torch_layers_is_forbidden() -> None:
    Conv, Pool = ours()
    fails(
        lambda: ex17.check_network(lenet(F.conv2d, Pool.apply), Conv, Pool, batch=4),
        "torch.nn.functional.conv2d",
        "0 points",
    )
    fails(
        lambda: ex17.check_network(lenet(Conv.apply, F.max_pool2d), Conv, Pool, batch=4),
        "max_pool2d",
        "0 points",
    )


def test_a_torch_convolution_in_autograds_own_backward_is_found() -> None:
    """The backward of torch's convolution runs in C++ (no Python call to record): the ATen
    recorder sees it; and a network calling the ATen operator directly is caught."""
    X = torch.randn(1, 1, 5, 5, requires_grad=True)
    K = torch.randn(2, 1, 3, 3, requires_grad=True)
    found = ex17._aten_forbidden(lambda: F.conv2d(X, K).sum().backward())
    assert "torch's convolution_backward (aten::convolution_backward)" in found
    Conv, Pool = ours()

    def conv(X: Tensor, K: Tensor, b: Tensor, s: int, p: int) -> Tensor:
        return torch.ops.aten.convolution(X, K, b, [s, s], [p, p], [1, 1], False, [0, 0], 1)

    fails(
        lambda: ex17.check_network(lenet(conv, Pool.apply), Conv, Pool, batch=4),
        "convolution",
        "0 points",
    )


def test_too_few_layers_of_ours_are_named() -> None:
    Conv, Pool = ours()
    fails(
        lambda: ex17.check_network(lenet(Conv.apply, Pool.apply, convs=1), Conv, Pool, batch=4),
        "layers of your",
        "at least 2",
    )

    def no_pool(X: Tensor, k: int, s: int) -> Tensor:
        return X[:, :, ::s, ::s]

    fails(
        lambda: ex17.check_network(lenet(Conv.apply, no_pool), Conv, Pool, batch=4),
        "MaxPool2dFunction",
        "at least 1",
    )


def test_a_network_with_the_wrong_output_shape_is_named() -> None:
    Conv, Pool = ours()

    def make_model() -> torch.nn.Module:
        return torch.nn.Flatten()

    fails(lambda: ex17.check_network(make_model, Conv, Pool, batch=4), "expected class scores")


# --------------------------------------------------------------------------------------------
# training


class NearestNeighbour(torch.nn.Module):
    """A model that learns in no time, 1-nearest neighbour, plus zero times a small LeNet on the
    solution's Functions (so that its graph holds them, as the check asks)."""

    def __init__(self) -> None:
        super().__init__()
        self.X, self.y = torch.zeros(1, 64), torch.zeros(1, dtype=torch.long)
        self.lenet = lenet(*(f.apply for f in ours()))()

    def forward(self, X: Tensor) -> Tensor:
        nearest = torch.cdist(X.flatten(1), self.X).argmin(dim=1)
        return F.one_hot(self.y[nearest], 10).float() + 0 * self.lenet(X)


def remember(model: NearestNeighbour, X: Tensor, y: Tensor) -> None:
    model.X, model.y = X.flatten(1), y


def test_training_that_reaches_the_accuracy_in_time_passes() -> None:
    ex17.check_training(NearestNeighbour, remember, *ours())


def test_a_trained_network_without_our_layers_is_named() -> None:
    class Plain(NearestNeighbour):
        def forward(self, X: Tensor) -> Tensor:
            nearest = torch.cdist(X.flatten(1), self.X).argmin(dim=1)
            return F.one_hot(self.y[nearest], 10).float()

    fails(
        lambda: ex17.check_training(Plain, remember, *ours()),
        "holds 0 of your Conv2dFunction",
        "LeNet-style",
    )


def test_training_below_the_accuracy_is_named() -> None:
    Conv, Pool = ours()
    fails(
        lambda: ex17.check_training(
            lenet(Conv.apply, Pool.apply), lambda m, X, y: None, Conv, Pool
        ),
        "held-out accuracy",
        "at least 95.0% needed",
    )


def test_training_over_the_budget_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex17, "BUDGET_SECONDS", 0.05)

    def slow(model: NearestNeighbour, X: Tensor, y: Tensor) -> None:
        start = time.process_time()
        while time.process_time() - start < 0.1:
            pass
        remember(model, X, y)

    fails(
        lambda: ex17.check_training(NearestNeighbour, slow, *ours()),
        "training took",
        "CPU seconds, at most",
    )


def test_torch_pooling_during_training_is_forbidden() -> None:
    class Pooled(NearestNeighbour):
        def forward(self, X: Tensor) -> Tensor:
            return super().forward(F.max_pool2d(X, 1))

    fails(lambda: ex17.check_training(Pooled, remember, *ours()), "max_pool2d", "0 points")


def test_bound_records_read_the_same_in_the_grader() -> None:
    spec = {"kind": "bound", "call": "c", "what": "held-out accuracy", "minimum": 0.95}
    spec["format"] = ".1%"
    ok = {"outcome": "value", "value": check.encode(0.97), "forbidden": [], "calls": []}
    low = {**ok, "value": check.encode(0.5)}
    nan = {**ok, "value": check.encode(float("nan"))}
    assert check.judge(spec, ok) is None
    assert "50.0%, at least 95.0% needed" in str(check.judge(spec, low))
    assert "at least" in str(check.judge(spec, nan))
    assert "not a number" in str(check.judge(spec, {**ok, "value": check.encode(None)}))


def test_the_notebook_states_the_budget_and_the_accuracy() -> None:
    source = (ROOT / "scripts" / "exercise_sources" / "ex17_capstone.py").read_text()
    assert f"**{ex17.BUDGET_SECONDS:g} CPU seconds**" in source
    assert f"**{ex17.MIN_ACCURACY:.0%}**".replace("%", " %") in source


@pytest.mark.slow
def test_the_solution_trains_to_the_accuracy_within_the_budget() -> None:
    ex17.check_training(solution()["make_model"], solution()["train"], *ours())
