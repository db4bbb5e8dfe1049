"""The shared core of the practice checks: structure (no loop over output positions), speed,
the forbidden-operation sets and small adapters. One module per assignment (``convlib.checks.exNN``)
builds its checks on this and on ``convlib.check``'s public primitives.

Three kinds of checks live here:

- ``check_no_output_loop``: the function's Python work must not grow with the number of output
  positions. It counts the lines of student code executed (``sys.settrace``, only frames outside
  torch, convlib and the standard library) on a small and on a large input with the same kernel.
- ``check_speedup``: a fast version must beat the course's own loops (``reference_loops``, in this
  module: not the student's, whose slowing would help) by a ratio, timed best-of-N in the same
  process (robust to a loaded machine: the minimum of several runs).

Both only measure in the student's kernel; ``convlib.check.judge`` decides from the numbers, in
Jupyter at once and, while grading, in the grader (records of kind ``no_loop`` and ``speed``).
- autograd is forbidden where the task is to derive a gradient: ``Tensor.backward`` and
  ``torch.autograd.grad`` are recorded like a forbidden convolution.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import sysconfig
import time
import types
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F

import convlib.check as check

__all__ = [
    "Fn",
    "AUTOGRAD_OPS",
    "SAMPLE_OPS",
    "PAD_OPS",
    "ALL_CONV",
    "fail",
    "shape_text",
    "pick",
    "adapt",
    "rule_hints",
    "parameters",
    "larger",
    "corr1d",
    "check_pair",
    "is_some",
    "no_grad",
    "without_autograd",
    "as_float64",
    "count_python_lines",
    "check_no_output_loop",
    "check_speedup",
    "reference_loops",
]

Fn = Callable[..., Any]

# Names a TorchFunctionMode records for autograd: Tensor.backward and torch.autograd.grad.
AUTOGRAD_OPS = frozenset({"backward", "grad"})
SAMPLE_OPS = frozenset({"grid_sample", "grid_sampler", "grid_sampler_2d", "deform_conv2d"})
PAD_OPS = frozenset(
    {
        "pad",
        "constant_pad_nd",
        "reflection_pad1d",
        "reflection_pad2d",
        "replication_pad1d",
        "replication_pad2d",
        "_pad_enum",
        "_pad_circular",
    }
)
ALL_CONV = check.CONV_OPS | check.UNFOLD_OPS

_SKIP_DIRS = tuple(
    os.path.abspath(p) + os.sep
    for p in {
        os.path.dirname(torch.__file__),
        os.path.dirname(os.path.abspath(__file__)),
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    }
)


def fail(*lines: str) -> AssertionError:
    """A failed structural check, shown like ``convlib.check``'s failures (message only)."""
    failure = getattr(check, "CheckFailure", AssertionError)
    wrap = getattr(check, "wrap", None)
    return cast(AssertionError, failure(wrap(*lines) if wrap else "\n".join(lines)))


def shape_text(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return "Tensor(" + ", ".join(str(d) for d in value.shape) + ")"
    return repr(value)


# Autograd reached inside a graded function is reported with its own name (convlib.check labels
# unknown ops as torch.nn.functional.<name>).
_labels = getattr(check, "_TORCH_NAMES", None)
if isinstance(_labels, dict):
    _labels.setdefault("backward", "autograd (Tensor.backward: derive the gradient yourself)")
    _labels.setdefault("grad", "autograd (torch.autograd.grad: derive the gradient yourself)")

# Adapters that turn one student function into the single-tensor (or int) function the checks of
# convlib.check judge. They are compiled here, outside convlib's files, so that forbid's
# "the course library's own answer" rule does not flag them as they call the student's code.
_ADAPTERS: dict[str, Any] = {"__name__": "convlib_practice_adapters"}
exec(  # noqa: S102 (a constant string: three one-line adapters)
    compile(
        "def pick(fn, i):\n"
        "    def picked(*args, **kwargs):\n"
        "        return fn(*args, **kwargs)[i]\n"
        "    return picked\n"
        "def is_some(fn):\n"
        "    def some(*args, **kwargs):\n"
        "        return int(fn(*args, **kwargs) is not None)\n"
        "    return some\n"
        "def no_grad(fn):\n"
        "    def without_autograd(*args, **kwargs):\n"
        "        with __import__('torch').no_grad():\n"
        "            return fn(*args, **kwargs)\n"
        "    return without_autograd\n"
        "def as_float64(fn):\n"
        "    def number(*args, **kwargs):\n"
        "        value = fn(*args, **kwargs)\n"
        "        if type(value) in (int, float):\n"
        "            return __import__('torch').tensor(\n"
        "                float(value), dtype=__import__('torch').float64\n"
        "            )\n"
        "        return value\n"
        "    return number\n",
        "<convlib.checks.core adapters>",
        "exec",
    ),
    _ADAPTERS,
)


def pick(fn: Callable[..., Any], i: int) -> Callable[..., Any]:
    """``fn``'s result's element ``i`` (for functions that return a pair)."""
    return cast(Callable[..., Any], _ADAPTERS["pick"](fn, i))


def is_some(fn: Callable[..., Any]) -> Callable[..., Any]:
    """1 if ``fn`` returns something, 0 if it returns None."""
    return cast(Callable[..., Any], _ADAPTERS["is_some"](fn))


def no_grad(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called with gradient recording off: where a task derives a gradient by hand, no
    route to autograd works (``backward``, ``torch.autograd.grad``, a graph kept on a tensor)."""
    return cast(Callable[..., Any], _ADAPTERS["no_grad"](fn))


def as_float64(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``'s Python number as a 0-d float64 tensor (anything else unchanged), for the tensor
    checks of functions that return a number such as a learning rate."""
    return cast(Callable[..., Any], _ADAPTERS["as_float64"](fn))


def adapt(source: str, name: str) -> Callable[..., Any]:
    """The function ``name`` defined by ``source``, compiled outside convlib's files: an adapter
    that calls the student's code (forbid flags calls into convlib's files as its own answer)."""
    namespace: dict[str, Any] = {"__name__": "convlib_practice_adapters", "torch": torch}
    exec(compile(source, "<convlib.checks adapters>", "exec"), namespace)  # noqa: S102
    return cast(Callable[..., Any], namespace[name])


# Compiled outside convlib's files: it runs inside the check's call of the student's function.
_AUTOGRAD_SOURCE = '''
def _refuse(tensor):
    raise RuntimeError(
        "autograd is switched off while this check runs your function: derive the gradient "
        "from slices, products and sums"
    )


def without_autograd(fn):
    """fn, run with gradient recording off and every tensor autograd would save refused."""
    def run(*args, **kwargs):
        with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(_refuse, _refuse):
            return fn(*args, **kwargs)
    return run
'''
_without_autograd = adapt(_AUTOGRAD_SOURCE, "without_autograd")


def without_autograd(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run with gradient recording off and every tensor autograd would save for a backward
    pass refused: where a task derives a gradient by hand, no route to autograd works, whatever
    calls it (stronger than ``no_grad``, which a nested ``torch.enable_grad`` undoes)."""
    return cast(Callable[..., Any], _without_autograd(fn))


def rule_hints(
    rules: Sequence[tuple[str, Callable[..., int], str]], args: Sequence[Any], expected: int
) -> str:
    """The hint of an integer check: for each usual wrong rule (label, rule(*args), why) whose
    value here differs from ``expected`` and from the rules before it, "value is label: why"."""
    lines, seen = [], {expected}
    for label, rule, why in rules:
        value = rule(*args)
        if value not in seen:
            seen.add(value)
            lines.append(f"{value} is {label}: {why}")
    return "\n".join(lines)


def parameters(*names: str, **defaults: Any) -> Callable[..., dict[str, Any]]:
    """A task's parameters as data: ``parameters("X", "K", stride=1)`` is a function that takes a
    call's arguments, positional or by name, and returns them all by name in that order, defaults
    filled in (a missing or unknown one is a TypeError, as in the call). A check that takes the
    arguments of the function it checks reads them through it."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [inspect.Parameter(name, kind) for name in names]
        + [inspect.Parameter(name, kind, default=value) for name, value in defaults.items()]
    )

    def bind(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)

    return bind


def larger(X: torch.Tensor, extra: int, seed: int) -> torch.Tensor:
    """A random input like ``X`` (N, C, *spatial), ``extra`` longer along every spatial axis: the
    large input of ``check_no_output_loop``."""
    shape = (*X.shape[:2], *(n + extra for n in X.shape[2:]))
    return check.randn(*shape, seed=seed, device=X.device).to(X.dtype)


def corr1d(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The valid cross-correlation of x: (L,) with k: (m,), by torch: (L - m + 1,)."""
    return F.conv1d(x[None, None], k[None, None])[0, 0]


def _element(wrong: Callable[[], Sequence[torch.Tensor]], i: int) -> torch.Tensor:
    return wrong()[i]


def check_pair(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    expected: Sequence[torch.Tensor],
    mistakes: Sequence[tuple[str, Callable[[], Sequence[torch.Tensor]]]],
    *,
    fname: str,
    hints: Sequence[str],
    forbidden: frozenset[str] = check.CONV_OPS,
    atol: float = 1e-9,
    rtol: float = 1e-7,
) -> None:
    """``fn(*args)`` returns a pair (weight and bias, two gradients ...): each element compared
    with ``expected``'s and, on a mismatch, with each usual mistake's (message, thunk of the
    wrong pair)."""
    for i, hint in enumerate(hints):
        check.check_function(
            pick(fn, i),
            args,
            {},
            expected[i],
            fname=f"{fname}(...)[{i}]",
            forbidden=forbidden,
            shape_hint=hint,
            variants=[(text, functools.partial(_element, wrong, i)) for text, wrong in mistakes],
            atol=atol,
            rtol=rtol,
        )


# --------------------------------------------------------------------------------------------
# structure: no Python loop over output positions


def count_python_lines(
    fn: Callable[..., Any], args: Sequence[object], kwargs: dict[str, object] | None = None
) -> int | None:
    """Lines of Python executed by ``fn(*args, **kwargs)`` outside torch, convlib and the stdlib
    (None if it raises).

    A loop over output positions executes lines in proportion to their number; a loop over the
    kernel's taps does not grow with the input size.
    """
    count = 0

    def local(frame: types.FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def outer(frame: types.FrameType, event: str, arg: object) -> Any:
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename.startswith(_SKIP_DIRS):
            return None
        return local

    previous = sys.gettrace()
    sys.settrace(outer)
    try:
        fn(*args, **(kwargs or {}))
    except Exception:  # the value checks report a function that raises
        return None
    finally:
        sys.settrace(previous)
    return count


def check_no_output_loop(
    fn: Callable[..., Any],
    small: Sequence[object],
    large: Sequence[object],
    kwargs: dict[str, object] | None = None,
    *,
    fname: str,
    what: str = "output positions",
    instead: str = "loop over the kernel's taps (kh*kw shifted slices) instead",
) -> None:
    """Fail if ``fn``'s Python line count grows from the ``small`` to the ``large`` input.

    Both inputs use the same kernel and settings, only the spatial size (or number of points)
    differs, so code that loops over ``what`` runs many more lines on ``large``. The kernel only
    counts; the verdict is ``convlib.check.judge``'s (here in Jupyter, in the grader while
    grading), like every value check.
    """
    kwargs = dict(kwargs or {})
    lines = [count_python_lines(fn, small, kwargs), count_python_lines(fn, large, kwargs)]
    result: dict[str, Any] = {"outcome": "value", "forbidden": [], "calls": [], "lines": lines}
    spec = {
        "kind": "no_loop",
        "call": fname,
        "small": shape_text(small[0]),
        "large": shape_text(large[0]),
        "what": what,
        "instead": instead,
    }
    fingerprint = check._fingerprint("no_loop", list(small), list(large), kwargs)
    check._conclude(fname, fingerprint, result, lambda: dict(spec))


# --------------------------------------------------------------------------------------------
# speed: a ratio to the course's own loops, which the notebook cannot change


def reference_loops(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """conv2d as a loop over output positions: the yardstick of ``check_speedup``.

    X: (N, C_in, H, W), K: (C_out, C_in, kh, kw), bias: (C_out,) -> (N, C_out, H', W'). It lives
    in this module, which the hidden tests read afresh from disk: no notebook code can slow it.
    """
    N, C_in, H, W = X.shape
    C_out, _, kh, kw = K.shape
    s, p, d = stride, padding, dilation
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    Y = X.new_zeros(
        (N, C_out, (H + 2 * p - d * (kh - 1) - 1) // s + 1, (W + 2 * p - d * (kw - 1) - 1) // s + 1)
    )
    for i in range(Y.shape[2]):
        for j in range(Y.shape[3]):
            window = Xp[
                :, :, i * s : i * s + d * (kh - 1) + 1 : d, j * s : j * s + d * (kw - 1) + 1 : d
            ]
            Y[:, :, i, j] = torch.einsum("nckl,ockl->no", window, K)
    return Y if bias is None else Y + bias[None, :, None, None]


_CLOCK = time.perf_counter


def _best_time(
    fn: Callable[..., Any],
    args: Sequence[object],
    kwargs: dict[str, object],
    repeats: int,
    budget: float,
    sync: bool,
) -> float:
    best = float("inf")
    spent = 0.0
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        start = _CLOCK()
        fn(*args, **kwargs)
        if sync:
            torch.cuda.synchronize()
        elapsed = _CLOCK() - start
        best = min(best, elapsed)
        spent += elapsed
        if spent > budget:
            break
    return best


def check_speedup(
    fast: Callable[..., Any],
    args: Sequence[object],
    kwargs: dict[str, object] | None = None,
    *,
    fast_name: str,
    min_ratio: float = 4.0,
    budget: float = 1.0,
    slow: Callable[..., Any] = reference_loops,
    slow_name: str = "the course's loops",
) -> None:
    """Check ``fast`` computes what ``slow`` does, and is at least ``min_ratio`` times faster.

    ``slow`` is this module's ``reference_loops`` (not the student's own loops: slowing those must
    not help). Best-of-N wall-clock times in this process, on one CPU thread (the minimum ignores
    the runs a busy machine slowed down). The kernel measures; ``convlib.check.judge`` decides
    from the two times (here in Jupyter, in the grader while grading).
    """
    kwargs = dict(kwargs or {})
    sync = any(isinstance(a, torch.Tensor) and a.is_cuda for a in args)
    reference = slow(*args, **kwargs)
    # the fast version must compute the same thing, honestly (recorded like every value check)
    check.check_function(
        fast,
        args,
        kwargs,
        reference.detach(),
        fname=fast_name,
        forbidden=ALL_CONV,
        atol=1e-8,
        rtol=1e-6,
    )
    result: dict[str, Any] = {"outcome": "value", "forbidden": [], "calls": []}
    # One CPU thread for both: on a busy machine, threads that wait for each other make small
    # operations erratic (a 0.2 ms product took 15 ms with 2 threads under load 5 on 2 cores).
    threads = torch.get_num_threads()
    if not sync:
        torch.set_num_threads(1)
    try:
        if not isinstance(_CLOCK, types.BuiltinFunctionType):
            raise RuntimeError("time.perf_counter was replaced by code in this notebook")
        slow_time = _best_time(slow, args, kwargs, 3, budget * 0.6, sync)
        fast_time = _best_time(fast, args, kwargs, 10, budget * 0.4, sync)
        result["times"] = [fast_time, slow_time]
    except Exception as error:
        result.update(outcome="error", error=f"{type(error).__name__}: {str(error)[:400]}")
    finally:
        torch.set_num_threads(threads)
    spec = {
        "kind": "speed",
        "call": fast_name,
        "slow_name": slow_name,
        "shape": shape_text(args[0]),
        "min_ratio": float(min_ratio),
    }
    fingerprint = check._fingerprint("speed", list(args), kwargs)
    check._conclude(fast_name, fingerprint, result, lambda: dict(spec))
    if "times" in result and os.environ.get(check.MODE_ENV, "") == "":
        fast_time, slow_time = result["times"]
        print(f"{fast_name} is {slow_time / max(fast_time, 1e-9):.0f}x faster than {slow_name}")
