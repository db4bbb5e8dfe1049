"""The shared core of the practice checks: structure (no loop over output positions), speed,
the forbidden-operation sets and small adapters. One module per assignment (``convlib.checks.exNN``)
builds its checks on this and on ``convlib.check``'s public primitives.

Three kinds of checks live here:

- ``check_no_output_loop``: the function's Python work must not grow with the number of output
  positions. It counts the lines of student code executed (``sys.settrace``, only frames outside
  torch, convlib and the standard library) on a small and on a large input with the same kernel.
- ``check_speedup``: a fast version must beat the student's own loop version by a ratio, timed
  best-of-N in the same process (robust to a loaded machine: the minimum of several runs).
- autograd is forbidden where the task is to derive a gradient: ``Tensor.backward`` and
  ``torch.autograd.grad`` are recorded like a forbidden convolution.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import time
import types
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch

import convlib.check as check

__all__ = [
    "AUTOGRAD_OPS",
    "SAMPLE_OPS",
    "PAD_OPS",
    "ALL_CONV",
    "fail",
    "shape_text",
    "pick",
    "is_some",
    "count_python_lines",
    "check_no_output_loop",
    "check_speedup",
]

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
        "    return some\n",
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
    differs, so code that loops over ``what`` runs many more lines on ``large``.
    """
    few = count_python_lines(fn, small, kwargs)
    many = count_python_lines(fn, large, kwargs)
    if few is None or many is None:  # it raises: its value check says why
        return
    if many > 1.5 * few + 20:
        raise fail(
            f"`{fname}` runs {few} lines of Python on {shape_text(small[0])} but {many} on "
            f"{shape_text(large[0])}:",
            f"it loops in Python over the {what}. Vectorise: {instead}",
        )


# --------------------------------------------------------------------------------------------
# speed: a ratio to the student's own loop version


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
        start = time.perf_counter()
        fn(*args, **kwargs)
        if sync:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        if spent > budget:
            break
    return best


def check_speedup(
    fast: Callable[..., Any],
    slow: Callable[..., Any],
    args: Sequence[object],
    kwargs: dict[str, object] | None = None,
    *,
    fast_name: str,
    slow_name: str,
    min_ratio: float = 4.0,
    budget: float = 1.0,
) -> float:
    """Assert ``fast`` is at least ``min_ratio`` times faster than ``slow`` on the same input.

    Best-of-N wall-clock times in this process, on one CPU thread (the fast function's result is
    first checked against the slow one's): the minimum ignores the runs a busy machine slowed
    down. Returns the measured ratio.
    """
    kwargs = kwargs or {}
    sync = any(isinstance(a, torch.Tensor) and a.is_cuda for a in args)
    try:
        reference = slow(*args, **kwargs)
    except Exception as error:
        raise fail(
            f"your {slow_name} raised {type(error).__name__}: {error}",
            f"fix {slow_name} first: the speed is measured against it",
        ) from None
    if not isinstance(reference, torch.Tensor):
        raise fail(f"your {slow_name} returned {type(reference).__name__}, not a tensor")
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
    # One CPU thread for both: on a busy machine, threads that wait for each other make small
    # operations erratic (a 0.2 ms product took 15 ms with 2 threads under load 5 on 2 cores).
    threads = torch.get_num_threads()
    if not sync:
        torch.set_num_threads(1)
    try:
        slow_time = _best_time(slow, args, kwargs, 3, budget * 0.6, sync)
        fast_time = _best_time(fast, args, kwargs, 10, budget * 0.4, sync)
    except Exception as error:
        raise fail(f"timing raised {type(error).__name__}: {error}") from None
    finally:
        torch.set_num_threads(threads)
    ratio = slow_time / max(fast_time, 1e-9)
    if ratio < min_ratio:
        raise fail(
            f"{fast_name} took {fast_time * 1e3:.2f} ms and your {slow_name} "
            f"{slow_time * 1e3:.2f} ms on {shape_text(args[0])}:",
            f"only {ratio:.1f}x faster, at least {min_ratio:g}x is required.",
            "Do the work in a few large tensor operations (one matrix product over all "
            "positions), not many small ones.",
        )
    return ratio
