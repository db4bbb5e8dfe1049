"""Checks of ex17_capstone (chapter 17): the student's own convolution and max pooling as
``torch.autograd.Function``s, a LeNet-style network built from them, trained on scikit-learn's
digits to a held-out accuracy within a CPU budget.

What is judged, task by task:

1. ``Conv2dFunction.apply(X, K, bias, stride, padding)``: the output and the three gradients
   against torch's (usual mistakes: ``CONV_MISTAKES``), then ``torch.autograd.gradcheck`` (last,
   so that a wrong gradient is named first). The backward is called directly
   (``Y.grad_fn.apply(dY)``, gradient recording off) and may not call autograd.
2. ``MaxPool2dFunction.apply(X, kernel_size, stride)``, overlapping windows included: the same
   (``POOL_MISTAKES``).
3. ``make_model()``: its graph holds at least ``MIN_CONV_LAYERS`` of the student's convolutions
   and ``MIN_POOL_LAYERS`` poolings, and no torch convolution or pooling runs in a training
   step, forward or backward. Two recorders: ``convlib.check.forbid`` (the Python-level torch
   functions and calls into ``convlib``) and ``AtenOps`` (every ATen operator, autograd's own
   derivative formulas included).
4. ``train(model, X, y)``: the held-out accuracy reaches ``MIN_ACCURACY`` and the training takes
   at most ``BUDGET_SECONDS`` of CPU time on one thread, with nothing forbidden run, and the
   trained network is built on the student's Functions.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import types
from collections.abc import Callable
from typing import Any

import torch
import torch._dynamo  # noqa: F401  (see below)
import torch.nn.functional as F

import convlib.check as check
from convlib.checks import core
from convlib.teaching.ch17_capstone import AtenOps, load_digits_split

__all__ = [
    "BUDGET_SECONDS",
    "MIN_ACCURACY",
    "MIN_CONV_LAYERS",
    "MIN_POOL_LAYERS",
    "CONV_MISTAKES",
    "POOL_MISTAKES",
    "digits",
    "conv_case",
    "check_conv2d_function",
    "check_max_pool2d_function",
    "check_network",
    "check_training",
]

BUDGET_SECONDS = 10.0  # CPU seconds of training, on one thread
MIN_ACCURACY = 0.95
MIN_CONV_LAYERS = 2
MIN_POOL_LAYERS = 1
FORBIDDEN = check.CONV_OPS | check.POOL_OPS
_CPU_CLOCK = time.process_time  # kept before any notebook code runs
# torch._dynamo is imported above, with this module (the notebook's setup cell, before any
# student code): the first torch.optim optimizer imports it, which must not count as training
# time, and an import of it that fails half way (inside a check's operator recorder, say) can
# never be retried in that kernel: torch registers its cache artifacts once ("Artifact of
# type=precompile already registered"), which zeroed a correct ex17 in a grading run.


def digits(split_seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, ...]:
    """X_train (1437, 1, 8, 8), y_train, X_test (360, 1, 8, 8), y_test: chapter 17's split."""
    return tuple(t.to(device) for t in load_digits_split(seed=split_seed))


# --------------------------------------------------------------------------------------------
# adapters: they call the student's code, so they are compiled outside convlib's files

_apply_of = core.adapt(
    "def apply_of(Fn, settings, dY=None, i=None):\n"
    "    def run(*inputs):\n"
    "        leaves = [t.detach().clone().requires_grad_() for t in inputs]\n"
    "        Y = Fn.apply(*leaves, *settings)\n"
    "        if dY is None:\n"
    "            return Y\n"
    "        node = getattr(Y, 'grad_fn', None)\n"
    "        if node is None or not hasattr(node, 'apply'):\n"
    "            raise TypeError(f'{Fn.__name__}.apply returned no tensor autograd can '\n"
    "                            'differentiate: is it a torch.autograd.Function?')\n"
    "        with torch.no_grad():  # as autograd's engine calls it\n"
    "            grads = node.apply(dY)\n"
    "        return grads[i] if isinstance(grads, tuple) else grads\n"
    "    return run\n",
    "apply_of",
)
_gradcheck_of = core.adapt(
    "def gradcheck_of(Fn, settings):\n"
    "    def passes(*inputs):\n"
    "        leaves = tuple(t.detach().clone().requires_grad_() for t in inputs)\n"
    "        f = lambda *xs: Fn.apply(*xs, *settings)\n"
    "        return int(torch.autograd.gradcheck(f, leaves, raise_exception=False))\n"
    "    return passes\n",
    "gradcheck_of",
)
# how many nodes of each student Function autograd's graph of ``scores`` holds
_COUNT_NODES = (
    "def count_nodes(scores, classes):\n"
    "    seen, todo, counts = set(), [scores.grad_fn], [0] * len(classes)\n"
    "    while todo:\n"
    "        node = todo.pop()\n"
    "        if node is None or id(node) in seen:\n"
    "            continue\n"
    "        seen.add(id(node))\n"
    "        for k, cls in enumerate(classes):\n"
    "            counts[k] += getattr(node, '_forward_cls', None) is cls\n"
    "        todo.extend(n for n, _ in node.next_functions)\n"
    "    return counts\n"
)
_step_of = core.adapt(
    _COUNT_NODES + "def step_of(make_model, X, y, seed, classes):\n"
    "    def step():\n"
    "        torch.manual_seed(seed)\n"
    "        model = make_model()\n"
    "        scores = model(X)\n"
    "        shape = tuple(getattr(scores, 'shape', ()))\n"
    "        if shape != (X.shape[0], 10):\n"
    "            raise ValueError(f'model(X) for X of shape {tuple(X.shape)} gave '\n"
    "                             f'{shape}, expected class scores {(X.shape[0], 10)}')\n"
    "        torch.nn.functional.cross_entropy(scores, y).backward()\n"
    "        return torch.tensor(count_nodes(scores, classes))\n"
    "    return step\n",
    "step_of",
)
_training_of = core.adapt(
    _COUNT_NODES + "def training_of(make_model, train, data, seed, clock, classes, least):\n"
    "    X, y, X_test, y_test = data\n"
    "    def run():\n"
    "        torch.manual_seed(seed)\n"
    "        model = make_model()\n"
    "        start = clock()\n"
    "        train(model, X, y)\n"
    "        seconds = clock() - start\n"
    "        with torch.no_grad():\n"
    "            scores = model(X_test)\n"
    "        if tuple(getattr(scores, 'shape', ())) != (len(y_test), 10):\n"
    "            raise ValueError('the trained model does not give 10 class scores per image')\n"
    "        accuracy = (scores.argmax(dim=1) == y_test).double().mean().item()\n"
    "        counts = count_nodes(model(X_test[:4]), classes)\n"
    "        if any(c < n for c, n in zip(counts, least)):\n"
    "            names = ' and '.join(f'{c} of your {k.__name__}'\n"
    "                                 for c, k in zip(counts, classes))\n"
    "            raise ValueError(f'the trained network holds {names}: train the LeNet-style '\n"
    "                             'network of task 3, built on your Functions')\n"
    "        return torch.tensor([accuracy, seconds], dtype=torch.float64)\n"
    "    return run\n",
    "training_of",
)


# --------------------------------------------------------------------------------------------
# tasks 1 and 2: the Functions


def _wrong(fn: Callable[..., torch.Tensor]) -> Callable[..., Callable[[], torch.Tensor]]:
    """A usual mistake as a function of the case, returning the thunk ``compare`` evaluates."""
    return lambda *case: lambda: fn(*case)


def _conv_grads(
    X: torch.Tensor, K: torch.Tensor, b: torch.Tensor, s: int, p: int, dY: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    X, K, b = (t.detach().clone().requires_grad_() for t in (X, K, b))
    return torch.autograd.grad(F.conv2d(X, K, b, stride=s, padding=p), (X, K, b), dY)


# CONV_MISTAKES[what]: (diagnosis, wrong result from X, K, bias, stride, padding, dY)
CONV_MISTAKES: dict[str, list[tuple[str, Callable[..., Callable[[], torch.Tensor]]]]] = {
    "output": [
        (
            "your output equals torch's with the kernel flipped: slide K as it is "
            "(cross-correlation)",
            _wrong(lambda X, K, b, s, p, dY: F.conv2d(X, K.flip(-1, -2), b, s, p)),
        ),
        ("the bias is not added", _wrong(lambda X, K, b, s, p, dY: F.conv2d(X, K, None, s, p))),
        (
            "the stride is ignored: step the windows by `stride`",
            _wrong(lambda X, K, b, s, p, dY: F.conv2d(X, K, b, 1, p)),
        ),
        (
            "the padding is ignored: pad X with `padding` zeros on every side first",
            _wrong(lambda X, K, b, s, p, dY: F.conv2d(X, K, b, s, 0)),
        ),
    ],
    "dX": [
        (
            "dL/dX equals the gradient with the kernel flipped: dY scatters through K as it is "
            "(a transposed convolution with the same K)",
            _wrong(lambda X, K, b, s, p, dY: _conv_grads(X, K.flip(-1, -2), b, s, p, dY)[0]),
        ),
        (
            "dL/dX still has the padding's rows and columns: crop `padding` from every side",
            _wrong(
                lambda X, K, b, s, p, dY: F.pad(_conv_grads(X, K, b, s, p, dY)[0], (p, p, p, p))
            ),
        ),
        (
            "dL/dX misses the last rows or columns a stride skipped: they get zeros, and dX "
            "must have X's shape",
            _wrong(lambda X, K, b, s, p, dY: F.conv_transpose2d(dY, K, stride=s, padding=p)),
        ),
    ],
    "dK": [
        (
            "dL/dK is averaged over the batch: autograd sums the images' contributions",
            _wrong(lambda X, K, b, s, p, dY: _conv_grads(X, K, b, s, p, dY)[1] / X.shape[0]),
        ),
        (
            "dL/dK holds the first image's gradient only: sum over the batch",
            _wrong(lambda X, K, b, s, p, dY: _conv_grads(X[:1], K, b, s, p, dY[:1])[1]),
        ),
        (
            "dL/dK is flipped: tap (a, b) meets the pixels at a, b from each window's corner",
            _wrong(lambda X, K, b, s, p, dY: _conv_grads(X, K, b, s, p, dY)[1].flip(-1, -2)),
        ),
    ],
    "dbias": [
        (
            "dL/dbias is a mean: sum dY over the batch and every position",
            _wrong(lambda X, K, b, s, p, dY: dY.sum(dim=(0, 2, 3)) / dY[:, 0].numel()),
        ),
        (
            "dL/dbias is summed over the batch only: bias[o] is added at every position too",
            _wrong(lambda X, K, b, s, p, dY: dY.sum(dim=0)),
        ),
    ],
}


def conv_case(
    x_shape: tuple[int, ...],
    k_shape: tuple[int, ...],
    stride: int,
    padding: int,
    *,
    seed: int,
    device: str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded float64 X, K, bias and dY (shaped like the output) for one convolution."""
    X = check.randn(*x_shape, seed=seed, device=device)
    K = check.randn(*k_shape, seed=seed + 1, device=device)
    b = check.randn(k_shape[0], seed=seed + 2, device=device)
    shape = F.conv2d(X, K, b, stride, padding).shape
    return X, K, b, check.randn(*shape, seed=seed + 3, device=device)


def _judged(
    fn: Callable[..., Any],
    inputs: tuple[torch.Tensor, ...],
    expected: torch.Tensor,
    *,
    fname: str,
    call: str,
    forbidden: frozenset[str],
    variants: list[tuple[str, Callable[[], torch.Tensor]]],
) -> None:
    """One value record: what ``fn(*inputs)`` returned, against ``expected``."""
    result = check._run(fn, inputs, {}, fname=fname, forbidden=forbidden)
    spec = functools.partial(
        check._tensor_spec,
        expected.detach(),
        call=call,
        shape_hint="",
        variants=variants,
        atol=1e-8,
        rtol=1e-6,
    )
    check._conclude(fname, check._fingerprint(call, list(inputs)), result, spec)


def _gradchecked(
    fn: Callable[..., Any], inputs: tuple[torch.Tensor, ...], *, fname: str, call: str
) -> None:
    """One record: 1 if ``torch.autograd.gradcheck`` passes the student's Function on the first
    image of ``inputs[0]`` (the batch is judged by the value checks, which also record the
    forbidden operations: gradcheck runs here without the slower torch-op recorder)."""
    inputs = (inputs[0][:1], *inputs[1:])
    result = check._run(fn, inputs, {}, fname=fname, forbidden=frozenset())
    hint = (
        "your backward disagrees with finite differences of your forward: run "
        "torch.autograd.gradcheck(..., raise_exception=True) to see which input's gradient "
        "is wrong (inputs in float64)"
    )
    spec = {"kind": "int", "call": f"gradcheck of {call}", "expected": 1, "hint": hint}
    check._conclude(
        fname, check._fingerprint("gradcheck", call, list(inputs)), result, lambda: dict(spec)
    )


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


@check._guarded
def check_conv2d_function(
    Fn: Any,
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor,
    dY: torch.Tensor,
    stride: int = 1,
    padding: int = 0,
    *,
    fname: str = "Conv2dFunction",
) -> None:
    """gradcheck, the output and dX, dK, dbias of ``Fn.apply(X, K, bias, stride, padding)``."""
    s, p = stride, padding
    call = f"{fname}.apply(X {_shape(X)}, K {_shape(K)}, bias, stride={s}, padding={p})"
    inputs = (X, K, bias)
    case = (X, K, bias, s, p, dY)
    dX, dK, dbias = _conv_grads(X, K, bias, s, p, dY)
    expected = {"output": F.conv2d(X, K, bias, s, p), "dX": dX, "dK": dK, "dbias": dbias}
    for i, what in enumerate(expected):
        fn = _apply_of(Fn, (s, p)) if what == "output" else _apply_of(Fn, (s, p), dY, i - 1)
        _judged(
            fn,
            inputs,
            expected[what],
            fname=fname,
            call=call if what == "output" else f"{call}, then backward: {what}",
            forbidden=FORBIDDEN | core.AUTOGRAD_OPS,
            variants=[(m, wrong(*case)) for m, wrong in CONV_MISTAKES[what]],
        )
    # last: a wrong gradient is named above; gradcheck catches what torch's values cannot
    _gradchecked(_gradcheck_of(Fn, (s, p)), inputs, fname=fname, call=call)


def _overwritten(X: torch.Tensor, k: int, s: int, dY: torch.Tensor) -> torch.Tensor:
    """dX when each window writes its gradient over the previous one's (row-major order)."""
    _, indices = F.max_pool2d(X, k, s, return_indices=True)
    dX = torch.zeros_like(X).flatten(2)
    flat_i, flat_g = indices.flatten(2), dY.flatten(2)
    for w in range(flat_i.shape[2]):
        dX.scatter_(2, flat_i[:, :, w : w + 1], flat_g[:, :, w : w + 1])
    return dX.reshape(X.shape)


def _pool_grad(
    X: torch.Tensor, k: int, s: int, dY: torch.Tensor, avg: bool = False
) -> torch.Tensor:
    leaf = X.detach().clone().requires_grad_()
    pool = F.avg_pool2d if avg else F.max_pool2d
    return torch.autograd.grad(pool(leaf, k, s), leaf, dY)[0]


# POOL_MISTAKES[what]: (diagnosis, wrong result from X, kernel_size, stride, dY)
POOL_MISTAKES: dict[str, list[tuple[str, Callable[..., Callable[[], torch.Tensor]]]]] = {
    "output": [
        (
            "your output is each window's mean: max pooling keeps its maximum",
            _wrong(lambda X, k, s, dY: F.avg_pool2d(X, k, s)),
        ),
        (
            "the stride is ignored: windows start every `stride` pixels",
            _wrong(lambda X, k, s, dY: F.max_pool2d(X, k, 1)),
        ),
    ],
    "dX": [
        (
            "dL/dX spreads each gradient over its whole window (average pooling's backward): "
            "only the window's maximum gets it",
            _wrong(lambda X, k, s, dY: _pool_grad(X, k, s, dY, avg=True)),
        ),
        (
            "where windows overlap, an input that wins two windows must get the SUM of their "
            "gradients: yours keeps one (add, e.g. with scatter_add or +=, do not assign)",
            _wrong(lambda X, k, s, dY: _overwritten(X, k, s, dY)),
        ),
    ],
}


@check._guarded
def check_max_pool2d_function(
    Fn: Any,
    X: torch.Tensor,
    kernel_size: int,
    stride: int,
    *,
    seed: int,
    fname: str = "MaxPool2dFunction",
) -> None:
    """gradcheck, the output and dX of ``Fn.apply(X, kernel_size, stride)``; dY seeded."""
    k, s = kernel_size, stride
    call = f"{fname}.apply(X {_shape(X)}, kernel_size={k}, stride={s})"
    Y = F.max_pool2d(X, k, s)
    dY = check.randn(*Y.shape, seed=seed, device=X.device)
    expected = {"output": Y, "dX": _pool_grad(X, k, s, dY)}
    for what in ("output", "dX"):
        fn = _apply_of(Fn, (k, s)) if what == "output" else _apply_of(Fn, (k, s), dY, 0)
        _judged(
            fn,
            (X,),
            expected[what],
            fname=fname,
            call=call if what == "output" else f"{call}, then backward: dX",
            forbidden=FORBIDDEN | core.AUTOGRAD_OPS,
            variants=[(m, wrong(X, k, s, dY)) for m, wrong in POOL_MISTAKES[what]],
        )
    _gradchecked(_gradcheck_of(Fn, (k, s)), (X,), fname=fname, call=call)


# --------------------------------------------------------------------------------------------
# tasks 3 and 4: the network and its training


def _aten_forbidden(run: Callable[[], Any]) -> list[str]:
    """The ATen convolutions and poolings that ``run`` reaches, forward and backward."""
    with AtenOps() as ops, contextlib.suppress(Exception):  # the run under forbid reports it
        run()
    names = sorted(n for n in ops.names if "conv" in n or "pool" in n or n in ("im2col", "col2im"))
    return [f"torch's {n} (aten::{n})" for n in names]


def _bound_spec(call: str, what: str, hint: str, **bounds: Any) -> dict[str, Any]:
    return {"kind": "bound", "call": call, "what": what, "hint": hint, **bounds}


def _measured(result: dict[str, Any], i: int) -> dict[str, Any]:
    """Result ``i`` of a run that returned a vector of measurements, as its own record."""
    out = dict(result)
    value = result.get("value") or {}
    if result.get("outcome") == "value" and value.get("t") == "tensor":
        out["value"] = check.encode(check.decode_tensor(value).tolist()[i])
    return out


@check._guarded
def check_network(
    make_model: Callable[[], torch.nn.Module],
    conv_function: Any,
    pool_function: Any,
    *,
    batch: int = 16,
    seed: int = 0,
    device: str = "cpu",
    fname: str = "make_model",
) -> None:
    """One training step of ``make_model()`` on ``batch`` digits: the graph holds enough of the
    student's convolutions and poolings, and no torch convolution or pooling runs."""
    X, y = (t[:batch] for t in digits(device=device)[:2])
    step = _step_of(make_model, X, y, seed, (conv_function, pool_function))
    result = check._run(step, (), {}, fname=fname, forbidden=FORBIDDEN)
    result["forbidden"] = list(result["forbidden"]) + [
        label for label in _aten_forbidden(step) if label not in result["forbidden"]
    ]
    call = f"one training step of {fname}() on {batch} digits"
    layers = [
        (conv_function, MIN_CONV_LAYERS, "convolution", "Conv2dFunction.apply"),
        (pool_function, MIN_POOL_LAYERS, "max pooling", "MaxPool2dFunction.apply"),
    ]
    for i, (cls, least, kind, api) in enumerate(layers):
        name = getattr(cls, "__name__", "?")
        spec = _bound_spec(
            call,
            f"layers of your {name} in the network's graph:",
            f"a LeNet-style network has at least {least} {kind} layer(s), each a call to {api}",
            minimum=least,
        )
        fingerprint = check._fingerprint("network", i, X, y, seed)
        check._conclude(fname, fingerprint, _measured(result, i), functools.partial(dict, spec))


@check._guarded
def check_training(
    make_model: Callable[[], torch.nn.Module],
    train: Callable[..., Any],
    *functions: Any,
    split_seed: int = 0,
    seed: int = 0,
    device: str = "cpu",
    fname: str = "train",
) -> None:
    """Train a fresh ``make_model()`` with ``train(model, X_train, y_train)`` on one CPU thread:
    held-out accuracy at least ``MIN_ACCURACY``, at most ``BUDGET_SECONDS`` of CPU time, and
    the trained network built on the student's Functions (as ``check_network`` asks).
    ``functions``: the student's Conv2dFunction and MaxPool2dFunction."""
    data = digits(split_seed, device)
    if not isinstance(_CPU_CLOCK, types.BuiltinFunctionType):
        raise core.fail("time.process_time was replaced by code in this notebook")
    least = (MIN_CONV_LAYERS, MIN_POOL_LAYERS)
    run = _training_of(make_model, train, data, seed, _CPU_CLOCK, functions, least)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = check._run(run, (), {}, fname=fname, forbidden=FORBIDDEN)
    finally:
        torch.set_num_threads(threads)
    call = f"{fname}(model, X_train, y_train) (split seed {split_seed}, model seed {seed})"
    specs = [
        _bound_spec(
            call,
            "held-out accuracy",
            "train longer or with a better learning rate, or widen the network "
            "(within the time budget)",
            minimum=MIN_ACCURACY,
            format=".1%",
        ),
        _bound_spec(
            call,
            "training took",
            "make your layers faster (whole-tensor operations, no Python loop over pixels), "
            "or train fewer steps",
            maximum=BUDGET_SECONDS,
            format=".1f",
            unit=" CPU seconds",
        ),
    ]
    for i, spec in enumerate(specs):
        fingerprint = check._fingerprint("training", i, split_seed, seed, device)
        check._conclude(fname, fingerprint, _measured(result, i), functools.partial(dict, spec))
    value = result.get("value") or {}
    if os.environ.get(check.MODE_ENV, "") == "" and value.get("t") == "tensor":
        accuracy, seconds = check.decode_tensor(value).tolist()
        print(f"held-out accuracy {accuracy:.1%} after {seconds:.1f} CPU seconds of training")
