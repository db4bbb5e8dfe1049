"""Student-facing checks for the graded exercises (``exercises/*``), written once, used everywhere.

Every exercise test cell calls a function of this module. Each one runs the student's function on
seeded inputs, computes the answer with ``torch.nn.functional`` and, when they disagree, raises an
``AssertionError`` whose text says what differs and what to try, for example::

    output shape (1, 1, 3, 3), expected (1, 1, 2, 2): check the output-size formula with stride=2
    values differ (max abs error 1.3 at [0, 2, 1, 0]: got 0.21, expected 1.51); your output equals
    torch's with the kernel flipped: this is convolution, not cross-correlation

nbgrader shows that text as the feedback of the failed cell.

Device. A notebook's ``parameters`` cell sets ``device = "cpu"``; papermill can override it and so
can the environment variable ``CONVLIB_DEVICE`` (``CONVLIB_DEVICE=cuda nbgrader autograde ...``
grades a class on the GPU). ``device(default)`` applies that rule; the environment wins.

Honesty. ``forbid``/every ``check_*`` call runs the student's code while recording which ATen
functions it reaches (a ``TorchFunctionMode``) and which Python functions it calls
(``sys.setprofile``): calling the very operation the task implements (``F.conv2d``, an alias of it,
``torch.ops.aten.convolution``, ``F.unfold``, a pooling op, ``convlib``'s own answer, numpy's or
scipy's convolutions) fails the check with a message saying so. ``verify_untampered()`` (called by
every check) fails closed when ``torch.nn.functional``'s references or ``torch.testing`` were
replaced by code in the notebook. The hidden test cells re-import this module from disk before
use, so patching ``convlib.check`` itself does not help either.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import sys
import textwrap
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

__all__ = [
    "DEVICE_ENV",
    "CONV_OPS",
    "UNFOLD_OPS",
    "POOL_OPS",
    "device",
    "randn",
    "forbid",
    "verify_untampered",
    "compare",
    "check_int",
    "check_output_size",
    "check_conv_params",
    "check_corr2d",
    "check_conv2d",
    "check_conv_transpose2d",
    "check_conv_matrix",
    "check_unfold",
    "check_max_pool2d",
    "check_avg_pool2d",
    "check_function",
    "CheckFailure",
    "TamperingError",
    "judge",
    "encode",
    "decode_tensor",
    "cascade",
    "MODE_ENV",
    "RECORD_MIME",
]

DEVICE_ENV = "CONVLIB_DEVICE"

# Names of the torch functions (as a TorchFunctionMode sees them, aliases and torch.ops included)
# that compute what the students write. "Tensor.unfold" is the sliding-window view.
CONV_OPS = frozenset(
    {
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "convolution",
        "_convolution",
        "convolution_overrideable",
        "conv_tbc",
        "cudnn_convolution",
        "cudnn_convolution_transpose",
        "mkldnn_convolution",
        "miopen_convolution",
        "_slow_conv2d_forward",
        "slow_conv_dilated2d",
        "slow_conv_transpose2d",
        "thnn_conv2d",
        "_nnpack_spatial_convolution",
        "convolution_backward",
        "conv2d_input",
        "conv2d_weight",
        "unfold",
        "fold",
        "im2col",
        "col2im",
    }
)
UNFOLD_OPS = frozenset({"unfold", "fold", "im2col", "col2im", "Tensor.unfold"})
POOL_OPS = frozenset(
    {
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "max_pool1d_with_indices",
        "max_pool2d_with_indices",
        "max_pool3d_with_indices",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "adaptive_max_pool1d",
        "adaptive_max_pool2d",
        "_adaptive_avg_pool2d",
        "lp_pool1d",
        "lp_pool2d",
        "fractional_max_pool2d",
        "mkldnn_max_pool2d",
        "quantized_max_pool2d",
    }
)

_TORCH_NAMES = {
    "convolution": "torch's convolution (aten::convolution)",
    "unfold": "torch.nn.functional.unfold",
    "fold": "torch.nn.functional.fold",
    "Tensor.unfold": "Tensor.unfold (a sliding-window view)",
}

_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_CONVLIB_DIR = os.path.dirname(os.path.abspath(__file__))
_THIS_FILE = os.path.abspath(__file__)

_UNSET: Any = object()


def _fail(*lines: str) -> AssertionError:
    """An AssertionError whose text has one idea per line.

    ``nbgrader validate`` cuts every line of a traceback at about 87 characters, so long lines are
    wrapped at word boundaries and each diagnosis starts a line of its own.
    """
    return CheckFailure(wrap(*lines))


# --------------------------------------------------------------------------------------------
# device and inputs


def device(default: str = "cpu") -> str:
    """The device the tests run on: ``$CONVLIB_DEVICE`` if set, else ``default`` (the parameter).

    Raises ``RuntimeError`` if cuda is asked for and there is none, and (in IPython) makes
    every later cell fail with the same message, so that a GPU grading run never silently
    falls back to the CPU: the setup cell's own error is ignored by nbgrader.
    """
    name = os.environ.get(DEVICE_ENV, "").strip() or str(default)
    if name.startswith("cuda") and not torch.cuda.is_available():
        message = wrap(
            f"device={name!r} (from {DEVICE_ENV} or the parameters cell) but torch sees no CUDA "
            "device: nothing is graded on the CPU instead.",
            f"Unset {DEVICE_ENV} or use device='cpu', then restart the kernel and run all cells.",
        )
        # nbgrader ignores an error in the (ungraded) setup cell: the cell guard makes every
        # later cell, so every graded cell, fail with this message instead
        guard = _cell_guard()
        if guard is not None:
            guard.device_error = message
        raise RuntimeError(message)
    if not (name == "cpu" or name.startswith("cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {name!r}")
    return name


def randn(*shape: int, seed: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Seeded float64 normal tensor of ``shape``, drawn on the CPU, then moved."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(device)


# --------------------------------------------------------------------------------------------
# tampering


def _is_torch_own(fn: object) -> bool:
    """True if ``fn`` is a function that PyTorch itself defines (C builtin or code in torch/)."""
    if isinstance(fn, types.BuiltinFunctionType):
        return str(getattr(fn, "__module__", "") or "").startswith("torch")
    if isinstance(fn, types.FunctionType):
        return os.path.abspath(fn.__code__.co_filename).startswith(_TORCH_DIR + os.sep)
    return False


_GUARDED: list[tuple[str, str]] = [
    ("torch.nn.functional", name)
    for name in (
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "unfold",
        "fold",
        "pad",
        "max_pool1d",
        "max_pool2d",
        "avg_pool1d",
        "avg_pool2d",
    )
] + [
    ("torch", "conv2d"),
    ("torch", "conv_transpose2d"),
    ("torch", "allclose"),
    ("torch", "equal"),
    ("torch", "isclose"),
    ("torch.testing", "assert_close"),
]


def verify_untampered() -> None:
    """Fail closed if the reference functions the checks rely on were replaced.

    Raises ``AssertionError("... was replaced by code in this notebook: tampering, 0 points")``.
    """
    for module_name, attr in _GUARDED:
        module = sys.modules.get(module_name)
        module_file = os.path.abspath(getattr(module, "__file__", "") or "")
        if not isinstance(module, types.ModuleType) or not module_file.startswith(_TORCH_DIR):
            raise _fail(
                f"tampering, 0 points: the module {module_name} was replaced by code in this "
                "notebook"
            )
        if not _is_torch_own(getattr(module, attr, None)):
            raise _fail(
                f"tampering, 0 points: {module_name}.{attr} was replaced by code in this notebook",
                "(it is no longer PyTorch's own function)",
            )
    if F is not sys.modules.get("torch.nn.functional"):
        raise _fail("tampering, 0 points: torch.nn.functional was replaced in sys.modules")


_Check = TypeVar("_Check", bound=Callable[..., None])


def _guarded(check: _Check) -> _Check:
    """Before a check computes any reference: if the environment was changed, say so (and, while
    grading, record it) instead of computing with replaced functions."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        message = _tampering_message()
        if message is None:
            check(*args, **kwargs)
            return
        if os.environ.get(MODE_ENV, "") in ("record", "reference"):
            fname = str(kwargs.get("fname", check.__name__.removeprefix("check_")))
            record: dict[str, Any] = {"fname": fname, "fp": "", "result": {"tampering": message}}
            if os.environ.get(PREDICT_ENV):
                record["predicted"] = wrap(message)
            _emit(record)
            return
        raise TamperingError(wrap(message))

    return cast(_Check, wrapper)


def _tampering_message() -> str | None:
    """The first way the grading environment was changed, if any: a cell the guard stopped
    (``convlib.tamper``), or a reference function replaced (``verify_untampered``)."""
    guard = _cell_guard()
    if guard is not None and guard.findings:
        return str(guard.findings[0])
    try:
        verify_untampered()
    except AssertionError as error:
        return str(error)
    return None


class _CellGuard:
    """IPython input transformer: a cell that changes the grading environment does not run; it
    raises the reason instead, and every later check repeats it (see ``convlib.tamper``)."""

    def __init__(self) -> None:
        self.findings: list[str] = []
        self.failed: set[str] = set()  # functions whose check failed (cascades)
        self.convlib_cell_guard = True
        self.device_error: str | None = None  # set by device(): every later cell fails
        self.cells = 0  # cells transformed so far: tells one cell's checks from the next's
        self.failed_cell: int | None = None  # the cell of the last predicted failure

    def __call__(self, lines: list[str]) -> list[str]:
        from convlib import tamper

        self.cells = getattr(self, "cells", 0) + 1

        if getattr(self, "device_error", None):  # the device asked for is not here
            return [
                f"raise __import__('convlib.check').check.CheckFailure({self.device_error!r})\n"
            ]
        found = tamper.messages("".join(lines))
        if not found:
            return lines
        self.findings.extend(m for m in found if m not in self.findings)
        return [f"raise __import__('convlib.check').check.TamperingError({found[0]!r})\n"]


def _cell_guard(install: bool = False) -> _CellGuard | None:
    """The IPython shell's cell guard (kept on the shell: a reloaded copy of this module finds
    the same one); installed when ``install`` and running in IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    for t in shell.input_transformers_cleanup:
        if getattr(t, "convlib_cell_guard", False):
            return cast(_CellGuard, t)
    if not install:
        return None
    guard = _CellGuard()
    shell.input_transformers_cleanup.append(guard)
    return guard


# --------------------------------------------------------------------------------------------
# forbidden operations


class _OpRecorder(TorchFunctionMode):
    """Records the names of the torch functions called while it is active (cheap, no imports)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        name = str(getattr(func, "__name__", "") or "").split(".")[0]
        if name == "unfold" and getattr(func, "__module__", None) != "torch.nn.functional":
            name = "Tensor.unfold"
        self.ops.add(name)
        return func(*args, **(kwargs or {}))


class Forbidden:
    """What ``forbid`` saw: ``.used`` lists forbidden things the code reached (empty if honest)."""

    def __init__(self, torch_ops: frozenset[str], python_calls: bool) -> None:
        self.torch_ops = torch_ops
        self.python_calls = python_calls
        self.used: list[str] = []
        self.calls: list[str] = []  # the notebook's own functions reached (for cascades)

    def _profile(self, frame: types.FrameType, event: str, arg: object) -> None:
        if event != "call":
            return
        filename = frame.f_code.co_filename
        name = frame.f_code.co_name
        if frame.f_globals.get("__name__") == "__main__":
            if name not in self.calls and not name.startswith("<"):
                self.calls.append(name)
            return
        where = None
        if filename.startswith(_CONVLIB_DIR + os.sep) and os.path.abspath(filename) != _THIS_FILE:
            module = os.path.splitext(os.path.relpath(filename, os.path.dirname(_CONVLIB_DIR)))[0]
            where = f"{module.replace(os.sep, '.')}.{name} (the course library's own answer)"
        elif os.sep + "scipy" + os.sep in filename and (
            os.sep + "signal" + os.sep in filename or os.sep + "ndimage" + os.sep in filename
        ):
            where = f"scipy's {name}"
        elif os.sep + "numpy" + os.sep in filename and name in ("convolve", "correlate"):
            where = f"numpy.{name}"
        if where is not None and where not in self.used:
            self.used.append(where)

    def describe(self, fname: str) -> str:
        """The student-facing message for a forbidden use inside ``fname``."""
        return _forbidden_text(fname, self.used)


@contextmanager
def forbid(torch_ops: frozenset[str] = CONV_OPS, python_calls: bool = True) -> Iterator[Forbidden]:
    """Record forbidden operations reached inside the ``with`` block (it never raises itself).

    ``torch_ops``: torch function names (``CONV_OPS``, ``UNFOLD_OPS``, ``POOL_OPS`` or a union).
    ``python_calls``: also flag calls into ``convlib`` (except this module), numpy's and scipy's
    convolutions. Aliases are caught too: the check is on what runs, not on names in the source.
    """
    seen = Forbidden(torch_ops, python_calls)
    recorder = _OpRecorder()
    previous = sys.getprofile()
    if python_calls:
        sys.setprofile(seen._profile)
    try:
        if torch_ops:
            with recorder:
                yield seen
        else:
            yield seen
    finally:
        if python_calls:
            sys.setprofile(previous)
        for op in sorted(recorder.ops & torch_ops):
            label = _TORCH_NAMES.get(op, f"torch.nn.functional.{op}")
            if label not in seen.used:
                seen.used.append(label)


# --------------------------------------------------------------------------------------------
# calling student code: a result record (what the function did), never an exception


def _describe_value(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return "Tensor(" + ", ".join(str(d) for d in value.shape) + ")"
    return repr(value)


def _call_text(fname: str, args: Sequence[object], kwargs: dict[str, object]) -> str:
    parts = [_describe_value(a) for a in args]
    parts += [f"{k}={_describe_value(v)}" for k, v in kwargs.items()]
    return f"{fname}({', '.join(parts)})"


def _student_frame(tb: types.TracebackType | None) -> str:
    """Where in the notebook's own code an exception was raised: 'line 5 of corr2d: Y[i] = ...'."""
    where = ""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__name__") == "__main__" and frame.f_code.co_name != "<module>":
            import linecache

            line = linecache.getline(frame.f_code.co_filename, tb.tb_lineno).strip()
            where = f"line {tb.tb_lineno} of `{frame.f_code.co_name}`" + (
                f": {line}" if line else ""
            )
        tb = tb.tb_next
    return where


def _run(
    fn: Callable[..., Any],
    args: Sequence[object],
    kwargs: dict[str, object],
    *,
    fname: str,
    forbidden: frozenset[str],
) -> dict[str, Any]:
    """Call ``fn(*args, **kwargs)`` under ``forbid``; return what happened as plain data.

    Keys: outcome ("value", "error", "not_implemented", "not_callable"), value (``encode``d),
    error/where (the exception and the notebook line it came from), forbidden (labels of the
    forbidden operations reached), calls (the notebook's own functions it called).
    """
    result: dict[str, Any] = {"outcome": "value", "forbidden": [], "calls": []}
    if not callable(fn):
        result.update(outcome="not_callable", type=type(fn).__name__)
        return result
    seen: Forbidden | None = None
    try:
        with forbid(forbidden) as seen:
            out = fn(*args, **kwargs)
    except NotImplementedError:
        result["outcome"] = "not_implemented"
    except Exception as error:
        text = str(error)
        result.update(
            outcome="error",
            error=f"{type(error).__name__}: {text[:400]}",
            where=_student_frame(error.__traceback__),
        )
    else:
        result["value"] = encode(out)
    if seen is not None:
        result["forbidden"] = list(seen.used)
        result["calls"] = [c for c in seen.calls if c != fname]
    return result


# --------------------------------------------------------------------------------------------
# values as plain JSON data: what crosses from the student's kernel to the grader


_DTYPES = {
    str(t).removeprefix("torch."): t
    for t in (
        torch.float64,
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
    )
}
_MAX_ELEMENTS = 1_000_000


def encode(value: object, depth: int = 0) -> dict[str, Any]:
    """``value`` as JSON data: tensors exactly (dtype, device, shape, every element), numbers,
    None, short sequences of those; anything else by its type name. A tensor subclass is not a
    tensor here: its methods could compute anything when the grader reads it."""
    if value is None:
        return {"t": "none"}
    if type(value) is bool:
        return {"t": "bool", "v": value}
    if type(value) is int:
        return {"t": "int", "v": value}
    if type(value) is float:
        return {"t": "float", "v": value if math.isfinite(value) else repr(value)}
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        tensor = cast(torch.Tensor, value)
        dtype = str(tensor.dtype).removeprefix("torch.")
        out: dict[str, Any] = {
            "t": "tensor",
            "dtype": dtype,
            "device": str(tensor.device),
            "shape": list(tensor.shape),
        }
        if dtype not in _DTYPES or tensor.numel() > _MAX_ELEMENTS or tensor.is_meta:
            out["data"] = None
            return out
        flat = tensor.detach().reshape(-1).cpu()
        data = flat.tolist()
        if tensor.is_floating_point() and not bool(flat.isfinite().all()):
            data = [x if math.isfinite(x) else repr(x) for x in data]
        out["data"] = data
        return out
    if type(value) in (tuple, list) and depth < 2 and len(cast(Sequence[Any], value)) <= 64:
        items = [encode(v, depth + 1) for v in cast(Sequence[Any], value)]
        return {"t": "seq", "type": type(value).__name__, "items": items}
    return {"t": "other", "type": type(value).__name__}


def _number(x: object) -> float | int | bool:
    if isinstance(x, str):
        return float(x)  # "nan", "inf", "-inf"
    if isinstance(x, bool | int | float):
        return x
    raise ValueError(f"not a number: {type(x).__name__}")


def decode_tensor(data: dict[str, Any]) -> torch.Tensor:
    """The CPU tensor an ``encode``d tensor describes; ValueError for anything malformed (the
    data may come from a student's kernel: it is parsed, never executed or unpickled)."""
    dtype = _DTYPES.get(str(data.get("dtype")))
    shape = data.get("shape")
    values = data.get("data")
    if dtype is None or not isinstance(shape, list) or not isinstance(values, list):
        raise ValueError("malformed tensor record")
    if not all(isinstance(s, int) and s >= 0 for s in shape) or math.prod(shape) != len(values):
        raise ValueError("malformed tensor record")
    return torch.tensor([_number(v) for v in values], dtype=dtype).reshape(shape)


def _fingerprint(*parts: object) -> str:
    """A digest of the inputs a check gave the student's function (equal in every kernel that
    builds the same inputs): lines the student's results up with the reference run's."""
    blob = json.dumps(
        [
            encode(p) if not isinstance(p, dict) else {k: encode(v) for k, v in p.items()}
            for p in parts
        ],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


# --------------------------------------------------------------------------------------------
# judging: the same function in Jupyter (here) and in the grader (outside the student's kernel)


class CheckFailure(AssertionError):  # noqa: N818  (students read the name)
    """A failed check. In a notebook it shows as its message only: no traceback through this
    library (IPython calls ``_render_traceback_``), so the reason is the first thing read."""

    def _render_traceback_(self) -> list[str]:
        lines = str(self).split("\n")
        return [f"CheckFailure: {lines[0]}", *lines[1:]]


class TamperingError(CheckFailure):
    """A cell that changes the grading environment (see ``convlib.tamper``)."""


def wrap(*lines: str) -> str:
    """Text with one idea per line, long lines wrapped at word boundaries.

    ``nbgrader validate`` cuts every line of a traceback at about 87 characters.
    """
    wrapped = []
    for line in "\n".join(lines).split("\n"):
        if len(line) <= _WIDTH:
            wrapped.append(line)
        else:
            wrapped.extend(
                textwrap.wrap(line, _WIDTH, subsequent_indent="  ", break_on_hyphens=False)
            )
    return "\n".join(wrapped)


# nbgrader validate indents an error by 4 and cuts its lines at 87 columns; the first line also
# carries "CheckFailure: "
_WIDTH = 68


def _forbidden_text(fname: str, used: Sequence[str]) -> str:
    return (
        f"`{fname}` calls {', '.join(used)}, which computes what this task asks you to write "
        "yourself: not allowed, 0 points for this task.\n"
        "Build it from indexing, slicing, sums and matrix products."
    )


def judge(spec: dict[str, Any], result: dict[str, Any]) -> str | None:
    """Why ``result`` (what the student's function did, see ``_run``) fails ``spec`` (what the
    check expects), or None when it passes. Pure function of JSON data."""
    fname = str(spec.get("fname", "your function"))
    call = str(spec.get("call", fname))
    if result.get("tampering"):
        return wrap(str(result["tampering"]))
    outcome = result.get("outcome")
    if outcome == "not_callable":
        return wrap(f"`{fname}` is not a function (got {result.get('type')})")
    used = [str(u) for u in result.get("forbidden") or []]
    if used:
        return wrap(_forbidden_text(fname, used))
    if outcome == "not_implemented":
        return wrap(
            f"`{fname}` is not implemented yet (it raises NotImplementedError):",
            "replace `raise NotImplementedError()` with your code",
        )
    if outcome == "error":
        lines = [call, f"raised {result.get('error')}"]
        if result.get("where"):
            lines.append(f"(at {result['where']})")
        return wrap(*lines)
    if spec.get("kind") in _MEASURED:
        return _MEASURED[str(spec["kind"])](spec, result)
    value = result.get("value") or {"t": "other", "type": "?"}
    if spec.get("kind") == "int":
        return _judge_int(spec, call, value)
    return _judge_tensor(spec, call, value)


def _judge_int(spec: dict[str, Any], call: str, value: dict[str, Any]) -> str | None:
    expected = int(spec["expected"])
    hint = str(spec.get("hint", ""))
    kind = value.get("t")
    if kind == "none":
        return wrap(call, "function returned None: did you forget `return`?")
    got: object = value.get("v")
    data = value.get("data")
    floating = value.get("dtype") in ("float64", "float32", "float16", "bfloat16")
    if kind == "tensor" and isinstance(data, list) and len(data) == 1 and not floating:
        kind, got = "int", int(_number(data[0]))
    if kind == "float" and got == expected:
        return wrap(
            call,
            f"returned the float {float(cast(float, got))!r}, expected the int {expected}: "
            "use // (floor division)",
        )
    if kind != "int":
        shown = repr(got) if kind in ("float", "bool") else f"a {value.get('type', kind)}"
        type_name = {"float": "float", "bool": "bool"}.get(str(kind), str(value.get("type", kind)))
        return wrap(call, f"returned {shown} ({type_name}), expected an int")
    if got != expected:
        text = f"returned {got}, expected {expected}"
        return wrap(call, f"{text}: {hint}" if hint else text)
    return None


def _judge_tensor(spec: dict[str, Any], call: str, value: dict[str, Any]) -> str | None:
    expected_data = spec["expected"]
    expected = decode_tensor(expected_data)
    shape = tuple(expected.shape)
    kind = value.get("t")
    if kind == "none":
        return wrap(call, "function returned None: did you forget `return`?")
    if kind != "tensor":
        name = value.get("type") or kind
        return wrap(call, f"returned a {name}, expected a torch.Tensor of shape {shape}")
    if value.get("device") != expected_data["device"]:
        return wrap(
            call,
            f"returned a tensor on {value.get('device')}, input was on {expected_data['device']}:",
            "create new tensors on the input's device, e.g. X.new_zeros(shape)",
        )
    if value.get("dtype") != expected_data["dtype"]:
        return wrap(
            call,
            f"returned dtype torch.{value.get('dtype')}, input was torch.{expected_data['dtype']}:",
            "create new tensors with the input's dtype, e.g. X.new_zeros(shape)",
        )
    got_shape = tuple(value.get("shape") or ())
    atol, rtol = float(spec.get("atol", 1e-10)), float(spec.get("rtol", 1e-8))
    variants = [(str(m), v) for m, v in spec.get("variants", [])]
    if got_shape != shape:
        text = f"output shape {got_shape}, expected {shape}"
        if spec.get("shape_hint"):
            text += f": {spec['shape_hint']}"
        by_shape = [
            m
            for m, v in variants
            if v is not None and tuple(v["shape"]) == got_shape and got_shape != shape
        ]
        return wrap(call, text, *by_shape)
    if value.get("data") is None:
        return wrap(call, f"the output has over {_MAX_ELEMENTS} elements")
    actual = decode_tensor(value)
    if _close(actual, expected, atol, rtol):
        return None
    if bool(actual.isnan().any()):
        flat = int(actual.isnan().flatten().nonzero()[0])
        return wrap(call, f"output contains NaN (first at {_index_text(flat, actual.shape)})")
    difference = (actual.to(expected.dtype) - expected).abs()
    flat = int(difference.flatten().argmax())
    where = _index_text(flat, actual.shape)
    got = float(actual.flatten()[flat])
    want = float(expected.flatten()[flat])
    text = (
        f"values differ (max abs error {float(difference.max()):.3g} at {where}: "
        f"got {got:.6g}, expected {want:.6g})"
    )
    found = [
        m
        for m, v in variants
        if v is not None
        and v.get("data") is not None
        and _close(actual, decode_tensor(v), atol, rtol)
    ]
    if not found:
        found = [f"(tolerance atol={atol:g}, rtol={rtol:g})"]
    return wrap(call, text, *found)


def _judge_no_loop(spec: dict[str, Any], result: dict[str, Any]) -> str | None:
    """``lines``: the Python lines the function ran on the small and on the large input (None
    if it raised: its value check says why). Code that loops over positions runs many more."""
    lines = result.get("lines")
    if not isinstance(lines, list) or len(lines) != 2 or None in lines:
        return None
    few, many = int(lines[0]), int(lines[1])
    if many <= 1.5 * few + 20:
        return None
    return wrap(
        f"`{spec.get('call')}` runs {few} lines of Python on {spec.get('small')} but {many} on "
        f"{spec.get('large')}:",
        f"it loops in Python over the {spec.get('what')}. Vectorise: {spec.get('instead')}",
    )


def _judge_speed(spec: dict[str, Any], result: dict[str, Any]) -> str | None:
    """``times``: the best (fast, slow) seconds measured in the kernel, slow being the course's
    own loops; the ratio must reach ``min_ratio``."""
    fast_time, slow_time = (float(_number(t)) for t in result["times"])
    ratio, least = slow_time / max(fast_time, 1e-9), float(spec["min_ratio"])
    if ratio >= least:
        return None
    return wrap(
        f"{spec.get('call')} took {fast_time * 1e3:.2f} ms and {spec.get('slow_name')} "
        f"{slow_time * 1e3:.2f} ms on {spec.get('shape')}:",
        f"only {ratio:.1f}x faster, at least {least:g}x is required.",
        "Do the work in a few large tensor operations (one matrix product over all "
        "positions), not many small ones.",
    )


def _judge_bound(spec: dict[str, Any], result: dict[str, Any]) -> str | None:
    """``value``: a number measured in the kernel (a held-out accuracy, CPU seconds, a count)
    that must reach ``minimum`` and stay within ``maximum`` (either may be absent), shown with
    the format spec ``format`` and the ``unit``."""
    value = result.get("value") or {}
    what, fmt, unit = str(spec.get("what")), str(spec.get("format", "g")), str(spec.get("unit", ""))
    if value.get("t") not in ("int", "float"):
        return wrap(f"{spec.get('call')}: {what} is not a number ({value.get('t')})")
    got = float(_number(value.get("v")))
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is not None and not got >= float(low):  # NaN fails too
        need = f"at least {float(low):{fmt}}{unit}"
    elif high is not None and not got <= float(high):
        need = f"at most {float(high):{fmt}}{unit}"
    else:
        return None
    text = f"{spec.get('call')}: {what} {got:{fmt}}{unit}, {need} needed"
    return wrap(text, str(spec["hint"])) if spec.get("hint") else wrap(text)


# spec kinds whose result is a measurement made in the kernel, not a returned value
_MEASURED: dict[str, Callable[[dict[str, Any], dict[str, Any]], str | None]] = {
    "no_loop": _judge_no_loop,
    "speed": _judge_speed,
    "bound": _judge_bound,
}


def cascade(fname: str, calls: Sequence[str], failed: Iterable[str]) -> str | None:
    """The first line of a failure caused by another function: `learn_kernel` calls `corr2d`,
    whose own check failed."""
    failed = set(failed)
    for name in calls:
        if name != fname and name in failed:
            return (
                f"`{fname}` calls `{name}`, whose own check fails: fix `{name}` first "
                "(this task may pass once it does)"
            )
    return None


# --------------------------------------------------------------------------------------------
# where a check's verdict is made

MODE_ENV = "CONVLIB_CHECK_MODE"
# set by the grader's tests only: each record also says what the check would raise in Jupyter
PREDICT_ENV = "CONVLIB_CHECK_PREDICT"
RECORD_MIME = "application/vnd.convlib.check+json"
_failed_functions: set[str] = set()  # Jupyter: checks that failed in this kernel, for cascades
emitted: list[dict[str, Any]] = []  # records made outside IPython (tests)


def _emit(record: dict[str, Any]) -> None:
    """Send one record to the grader as a display output of the running (test) cell."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        emitted.append(record)
        return
    from IPython.display import publish_display_data

    publish_display_data({RECORD_MIME: record})


def _conclude(
    fname: str,
    fingerprint: str,
    result: dict[str, Any],
    spec: Callable[[], dict[str, Any]],
) -> None:
    """Pass, fail, or (while grading) record.

    ``CONVLIB_CHECK_MODE`` unset (Jupyter, ``nbgrader validate``): judge here and raise
    ``CheckFailure``. ``record`` (a student's notebook being graded): only report what the
    student's function did; the grader judges outside this process against the reference run.
    ``reference`` (the instructor's solution run by the grader): report the spec too.
    """
    tampering = _tampering_message()
    if tampering:
        result = {**result, "tampering": tampering}
    mode = os.environ.get(MODE_ENV, "")
    if mode == "record":
        record: dict[str, Any] = {"fname": fname, "fp": fingerprint, "result": result}
        if os.environ.get(PREDICT_ENV):
            record["predicted"] = _predict(fname, result, spec)
        _emit(record)
        return
    made = spec()
    made["fname"] = fname
    if mode == "reference":
        _emit({"fname": fname, "fp": fingerprint, "result": result, "spec": made})
        return
    message = judge(json.loads(json.dumps(made)), json.loads(json.dumps(result)))
    failed = _failed()
    if message is None:
        failed.discard(fname)
        return
    first = cascade(fname, result.get("calls", []), failed)
    failed.add(fname)
    raise CheckFailure(wrap(first, message) if first else message)


def _failed() -> set[str]:
    """Functions whose check failed in this kernel (for cascades): kept on the shell's cell
    guard, so the fresh copy of this module the hidden tests load shares it."""
    guard = _cell_guard()
    return guard.failed if guard is not None else _failed_functions


def _predict(fname: str, result: dict[str, Any], spec: Callable[[], dict[str, Any]]) -> str | None:
    """What this check would raise in Jupyter (tests of the grader: "no surprises").

    Jupyter stops a cell at its first failure, and the grader reads a task's records up to its
    first failure and never forgets one: so a later check of the same cell changes nothing here,
    and a passing check never clears a function's earlier failure (a value check that failed and
    a no-loop check of the same function that passed leave it failed, for the cascades)."""
    made = spec()
    made["fname"] = fname
    message = judge(json.loads(json.dumps(made)), json.loads(json.dumps(result)))
    if message is None:
        return None
    failed, guard = _failed(), _cell_guard()
    first = cascade(fname, result.get("calls", []), failed)
    cell = getattr(guard, "cells", None)
    if cell is None or getattr(guard, "failed_cell", None) != cell:
        failed.add(fname)
        if guard is not None:
            guard.failed_cell = cell
    return wrap(first, message) if first else message


def _tensor_spec(
    expected: torch.Tensor,
    *,
    call: str,
    shape_hint: str,
    variants: Sequence[tuple[str, Callable[[], torch.Tensor]]],
    atol: float,
    rtol: float,
) -> dict[str, Any]:
    evaluated: list[tuple[str, dict[str, Any] | None]] = []
    for message, thunk in variants:
        try:
            wrong = thunk()
            evaluated.append((message, encode(wrong) if isinstance(wrong, torch.Tensor) else None))
        except Exception:  # a variant that does not apply to these arguments
            evaluated.append((message, None))
    return {
        "kind": "tensor",
        "call": call,
        "expected": encode(expected),
        "shape_hint": shape_hint,
        "variants": evaluated,
        "atol": atol,
        "rtol": rtol,
    }


# --------------------------------------------------------------------------------------------
# comparing results


def _index_text(flat_index: int, shape: Sequence[int]) -> str:
    index = []
    for size in reversed(shape):
        index.append(flat_index % size)
        flat_index //= size
    return "[" + ", ".join(str(i) for i in reversed(index)) + "]"


def _close(actual: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float) -> bool:
    if actual.shape != expected.shape:
        return False
    error = (actual.detach().to(expected.dtype) - expected).abs()
    return bool((error <= atol + rtol * expected.abs()).all()) and not bool(actual.isnan().any())


def compare(
    actual: object,
    expected: torch.Tensor,
    *,
    call: str = "your function",
    shape_hint: str = "",
    variants: Sequence[tuple[str, Callable[[], torch.Tensor]]] = (),
    atol: float = 1e-10,
    rtol: float = 1e-8,
) -> None:
    """Assert ``actual`` equals ``expected``: dtype, device, shape, values (atol + rtol*|expected|).

    ``variants``: (message, thunk) pairs; a thunk computes a *wrong* answer that a typical mistake
    produces. When ``actual`` matches one (by shape, or by values), its message is added, so the
    feedback names the mistake. Raises ``CheckFailure`` (an ``AssertionError``) with the
    explanation; while grading, records ``actual`` for the grader instead.
    """
    result = {"outcome": "value", "value": encode(actual), "forbidden": [], "calls": []}
    _conclude(
        call,
        _fingerprint(call),
        result,
        lambda: _tensor_spec(
            expected, call=call, shape_hint=shape_hint, variants=variants, atol=atol, rtol=rtol
        ),
    )


def check_int(
    fn: Callable[..., Any],
    args: Sequence[object],
    kwargs: dict[str, object],
    expected: int,
    *,
    fname: str,
    hint: str = "",
    forbidden: frozenset[str] = CONV_OPS,
) -> None:
    """Assert ``fn(*args, **kwargs) == expected`` for an integer-valued function (sizes, counts)."""
    call = _call_text(fname, args, kwargs)
    result = _run(fn, args, kwargs, fname=fname, forbidden=forbidden)
    _conclude(
        fname,
        _fingerprint(list(args), dict(kwargs)),
        result,
        lambda: {"kind": "int", "call": call, "expected": int(expected), "hint": hint},
    )


# --------------------------------------------------------------------------------------------
# shape formulas (text for hints) and torch-derived integer references

_CONV_FORMULA = "out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1"
_TRANSPOSE_FORMULA = (
    "out = (in - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1"
)


def _settings(**kwargs: object) -> str:
    """``stride=2, padding=1`` for the arguments that differ from their defaults."""
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "output_padding": 0}
    shown = [f"{k}={v}" for k, v in kwargs.items() if v is not _UNSET and defaults.get(k) != v]
    return ", ".join(shown)


def _shape_hint(formula: str, **kwargs: object) -> str:
    settings = _settings(**kwargs)
    with_text = f" with {settings}" if settings else ""
    return f"check the output-size formula{with_text}\n  {formula}"


@_guarded
def check_output_size(
    fn: Callable[..., Any],
    size: int,
    kernel_size: int,
    stride: int = _UNSET,
    padding: int = _UNSET,
    dilation: int = _UNSET,
    *,
    fname: str = "conv_output_size",
) -> None:
    """Check an output-size function against the size ``F.conv1d`` actually produces."""
    kwargs: dict[str, Any] = _explicit(stride=stride, padding=padding, dilation=dilation)
    ref_kwargs: dict[str, Any] = {"stride": 1, "padding": 0, "dilation": 1, **kwargs}
    X = torch.zeros(1, 1, size)
    K = torch.zeros(1, 1, kernel_size)
    expected = int(F.conv1d(X, K, **ref_kwargs).shape[-1])
    check_int(
        fn,
        (size, kernel_size),
        kwargs,
        expected,
        fname=fname,
        hint=_shape_hint(_CONV_FORMULA, **kwargs),
    )


@_guarded
def check_transpose_output_size(
    fn: Callable[..., Any],
    size: int,
    kernel_size: int,
    stride: int = _UNSET,
    padding: int = _UNSET,
    output_padding: int = _UNSET,
    dilation: int = _UNSET,
    *,
    fname: str = "conv_transpose_output_size",
) -> None:
    """Check a transposed-conv output-size function against ``F.conv_transpose1d``'s output."""
    kwargs: dict[str, Any] = _explicit(
        stride=stride, padding=padding, output_padding=output_padding, dilation=dilation
    )
    X = torch.zeros(1, 1, size)
    K = torch.zeros(1, 1, kernel_size)
    expected = int(F.conv_transpose1d(X, K, **kwargs).shape[-1])
    check_int(
        fn,
        (size, kernel_size),
        kwargs,
        expected,
        fname=fname,
        hint=_shape_hint(_TRANSPOSE_FORMULA, **kwargs),
    )


@_guarded
def check_pool_output_size(
    fn: Callable[..., Any],
    size: int,
    kernel_size: int,
    stride: int | None = _UNSET,
    padding: int = _UNSET,
    ceil_mode: bool = _UNSET,
    *,
    fname: str = "pool_output_size",
) -> None:
    """Check a pooling output-size function against ``F.max_pool1d``'s output."""
    kwargs: dict[str, Any] = _explicit(stride=stride, padding=padding, ceil_mode=ceil_mode)
    expected = int(F.max_pool1d(torch.zeros(1, 1, size), kernel_size, **kwargs).shape[-1])
    check_int(
        fn,
        (size, kernel_size),
        kwargs,
        expected,
        fname=fname,
        hint=_pool_hint(**kwargs),
        forbidden=POOL_OPS | CONV_OPS,
    )


def count_params(module: torch.nn.Module) -> int:
    """Number of parameters of a torch module (build it with ``device="meta"``: no memory)."""
    return sum(p.numel() for p in module.parameters())


def torch_reference() -> types.ModuleType:
    """``torch.nn.functional``, after checking that nothing in it was replaced."""
    verify_untampered()
    return F


@_guarded
def check_conv_params(
    fn: Callable[..., Any],
    in_channels: int,
    out_channels: int,
    kernel_size: int | tuple[int, int],
    groups: int = _UNSET,
    bias: bool = _UNSET,
    *,
    fname: str = "conv_params",
) -> None:
    """Check a parameter-count function against ``torch.nn.Conv2d(...)`` (on the meta device)."""
    kwargs: dict[str, Any] = _explicit(groups=groups, bias=bias)
    layer = torch.nn.Conv2d(in_channels, out_channels, kernel_size, device="meta", **kwargs)
    expected = sum(p.numel() for p in layer.parameters())
    weights = layer.weight.numel()
    hints = [f"torch.nn.Conv2d has {weights} weights"]
    if layer.bias is not None:
        hints.append(f"{layer.bias.numel()} biases (one per output channel)")
    else:
        hints.append("no bias")
    if kwargs.get("groups", 1) != 1:
        hints.append("each output channel sees in_channels // groups input channels")
    check_int(
        fn,
        (in_channels, out_channels, kernel_size),
        kwargs,
        expected,
        fname=fname,
        hint=", ".join(hints),
    )


# --------------------------------------------------------------------------------------------
# tensor-valued checks, one per family of op


def check_function(
    fn: Callable[..., Any],
    args: Sequence[object],
    kwargs: dict[str, object],
    expected: torch.Tensor,
    *,
    fname: str,
    forbidden: frozenset[str] = CONV_OPS,
    shape_hint: str = "",
    variants: Sequence[tuple[str, Callable[[], torch.Tensor]]] = (),
    atol: float = 1e-10,
    rtol: float = 1e-8,
) -> None:
    """Run ``fn`` honestly (see ``forbid``) and compare its result with ``expected``."""
    call = _call_text(fname, args, kwargs)
    result = _run(fn, args, kwargs, fname=fname, forbidden=forbidden)
    _conclude(
        fname,
        _fingerprint(list(args), dict(kwargs)),
        result,
        lambda: _tensor_spec(
            expected, call=call, shape_hint=shape_hint, variants=variants, atol=atol, rtol=rtol
        ),
    )


_FLIPPED = (
    "your output equals torch's with the kernel flipped: this is convolution, not "
    "cross-correlation (slide K as it is, without flipping)"
)


@_guarded
def check_corr2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    *,
    fname: str = "corr2d",
    flip: bool = False,
    atol: float = 1e-10,
    rtol: float = 1e-8,
) -> None:
    """Check a 2D single-channel ``fn(X, K)``, X: (H, W), K: (kh, kw) -> (H - kh + 1, W - kw + 1).

    ``flip=True`` checks a true convolution (the kernel rotated by 180 degrees) instead.
    """
    kernel = K.flip(-1, -2) if flip else K

    def reference(kernel: torch.Tensor) -> torch.Tensor:
        return F.conv2d(X[None, None], kernel[None, None])[0, 0]

    if flip:
        variants = [
            (
                "your output equals torch's cross-correlation: a true convolution flips the "
                "kernel first (K.flip(-1, -2), i.e. rotate it by 180 degrees)",
                lambda: reference(K),
            ),
            (
                "you flipped the kernel along one axis only: flip both (K.flip(-1, -2))",
                lambda: reference(K.flip(-1)),
            ),
            (
                "you flipped the kernel along one axis only: flip both (K.flip(-1, -2))",
                lambda: reference(K.flip(-2)),
            ),
        ]
    else:
        variants = [(_FLIPPED, lambda: reference(K.flip(-1, -2)))]
    variants.append(
        (
            "your output equals torch's with the kernel transposed: index K as K[row, column]",
            lambda: reference(kernel.transpose(0, 1)),
        )
    )
    check_function(
        fn,
        (X, K),
        {},
        reference(kernel),
        fname=fname,
        shape_hint="a valid cross-correlation of (H, W) with (kh, kw) is (H - kh + 1, W - kw + 1)",
        variants=variants,
        atol=atol,
        rtol=rtol,
    )


def _conv_variants(
    reference: Callable[..., torch.Tensor],
    X: torch.Tensor,
    K: torch.Tensor,
    settings: dict[str, Any],
    transposed: bool,
) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """Wrong answers typical mistakes produce, for conv2d or (``transposed``) conv_transpose2d."""

    def with_(**changes: Any) -> Callable[[], torch.Tensor]:
        def thunk() -> torch.Tensor:
            merged = {**settings, **changes}
            weight = merged.pop("weight", K)
            inputs = merged.pop("inputs", X)
            return reference(inputs, weight, **merged)

        return thunk

    if transposed:
        flip_text = (
            "your output equals torch's with the kernel flipped: a transposed convolution "
            "scatters each input pixel times K as it is (or, as a convolution of the "
            "zero-inserted input, uses K rotated by 180 degrees: flip it exactly once)"
        )
    else:
        flip_text = _FLIPPED
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (flip_text, with_(weight=K.flip(-1, -2)))
    ]
    bias = settings.get("bias")
    if bias is not None:
        variants.append(
            (
                "bias not added: add bias[c_out] to every output pixel of channel c_out",
                with_(bias=None),
            )
        )
        variants.append(
            (
                "bias added twice",
                with_(bias=2 * bias),
            )
        )
    for name, default in (("stride", 1), ("padding", 0), ("dilation", 1)):
        if settings.get(name, default) != default:
            variants.append(
                (
                    f"{name} is ignored (your output is torch's with {name}={default})",
                    with_(**{name: default}),
                )
            )
    if transposed and settings.get("output_padding", 0) != 0:
        variants.append(
            (
                "output_padding is ignored (your output is torch's with output_padding=0)",
                with_(output_padding=0),
            )
        )
    groups = int(settings.get("groups", 1))
    if groups > 1 and not transposed:
        in_per_group = X.shape[-3] // groups
        variants.append(
            (
                "groups mix all channels: output channel o must only read the input channels of "
                f"its group, X[:, g*{in_per_group}:(g+1)*{in_per_group}] with "
                "g = o // (out_channels // groups)",
                with_(weight=K.repeat(1, groups, 1, 1), groups=1),
            )
        )
        first = X.narrow(-3, 0, in_per_group)
        variants.append(
            (
                "every group reads the first group's input channels: offset the input channel "
                f"by g * (in_channels // groups) = g * {in_per_group}",
                with_(inputs=first.repeat(*([1] * (X.ndim - 3)), groups, 1, 1)),
            )
        )
    if transposed:
        variants.append(
            (
                "your output is a regular convolution's: a transposed convolution goes the other "
                "way (multiply by C^T, or scatter-add K times each input pixel)",
                lambda: F.conv2d(
                    X,
                    K.transpose(0, 1),
                    stride=settings.get("stride", 1),
                    padding=settings.get("padding", 0),
                    dilation=settings.get("dilation", 1),
                ),
            )
        )
    return variants


def _explicit(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not _UNSET}


@_guarded
def check_conv2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = _UNSET,
    stride: int | tuple[int, int] = _UNSET,
    padding: int | tuple[int, int] = _UNSET,
    dilation: int | tuple[int, int] = _UNSET,
    groups: int = _UNSET,
    *,
    fname: str = "conv2d",
    forbidden: frozenset[str] = CONV_OPS,
    atol: float = 1e-10,
    rtol: float = 1e-8,
) -> None:
    """Check ``fn(X, K, **given)`` against ``F.conv2d``; only the keywords given reach ``fn``.

    X: (N, C_in, H, W) or (C_in, H, W); K: (C_out, C_in // groups, kh, kw); bias: (C_out,).
    """
    kwargs = _explicit(bias=bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = F.conv2d(X, K, **kwargs)
    check_function(
        fn,
        (X, K),
        kwargs,
        expected,
        fname=fname,
        forbidden=forbidden,
        shape_hint=_shape_hint(_CONV_FORMULA, **{k: v for k, v in kwargs.items() if k != "bias"}),
        variants=_conv_variants(F.conv2d, X, K, kwargs, transposed=False),
        atol=atol,
        rtol=rtol,
    )


@_guarded
def check_conv_transpose2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = _UNSET,
    stride: int | tuple[int, int] = _UNSET,
    padding: int | tuple[int, int] = _UNSET,
    output_padding: int | tuple[int, int] = _UNSET,
    groups: int = _UNSET,
    dilation: int | tuple[int, int] = _UNSET,
    *,
    fname: str = "conv_transpose2d",
    forbidden: frozenset[str] = CONV_OPS,
    atol: float = 1e-10,
    rtol: float = 1e-8,
) -> None:
    """Check ``fn(X, K, **given)`` against ``F.conv_transpose2d``.

    X: (N, C_in, H, W) or (C_in, H, W); K: (C_in, C_out // groups, kh, kw).
    """
    kwargs = _explicit(
        bias=bias,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    )
    expected = F.conv_transpose2d(X, K, **kwargs)
    check_function(
        fn,
        (X, K),
        kwargs,
        expected,
        fname=fname,
        forbidden=forbidden,
        shape_hint=_shape_hint(
            _TRANSPOSE_FORMULA, **{k: v for k, v in kwargs.items() if k != "bias"}
        ),
        variants=_conv_variants(F.conv_transpose2d, X, K, kwargs, transposed=True),
        atol=atol,
        rtol=rtol,
    )


def conv_matrix_reference(K: torch.Tensor, input_size: tuple[int, int]) -> torch.Tensor:
    """The matrix C with ``C @ X.flatten() == F.conv2d(X, K).flatten()``: column j is conv(e_j).

    K: (kh, kw); returns (out_h * out_w, in_h * in_w).
    """
    h, w = input_size
    basis = torch.eye(h * w, dtype=K.dtype, device=K.device).reshape(h * w, 1, h, w)
    columns = F.conv2d(basis, K[None, None]).reshape(h * w, -1)
    return columns.T.contiguous()


@_guarded
def check_conv_matrix(
    fn: Callable[..., Any],
    K: torch.Tensor,
    input_size: tuple[int, int],
    *,
    fname: str = "conv_matrix",
) -> None:
    """Check ``fn(K, input_size)`` returns the (out_h*out_w, in_h*in_w) convolution matrix C."""
    expected = conv_matrix_reference(K, input_size)
    check_function(
        fn,
        (K, input_size),
        {},
        expected,
        fname=fname,
        shape_hint="C has one row per output pixel and one column per input pixel",
        variants=[
            ("you returned C^T (the transpose of C)", lambda: expected.T),
            (_FLIPPED, lambda: conv_matrix_reference(K.flip(-1, -2), input_size)),
        ],
    )


@_guarded
def check_unfold(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int | tuple[int, int],
    dilation: int | tuple[int, int] = _UNSET,
    padding: int | tuple[int, int] = _UNSET,
    stride: int | tuple[int, int] = _UNSET,
    *,
    fname: str = "im2col",
) -> None:
    """Check ``fn(X, kernel_size, **given)`` against ``F.unfold``: (N, C*kh*kw, L)."""
    kwargs = _explicit(dilation=dilation, padding=padding, stride=stride)
    expected = F.unfold(X, kernel_size, **kwargs)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    N, C = X.shape[0], X.shape[1]

    def reorder_kw_kh() -> torch.Tensor:
        return expected.reshape(N, C, kh, kw, -1).transpose(2, 3).reshape(N, C * kh * kw, -1)

    def channels_last() -> torch.Tensor:
        return expected.reshape(N, C, kh * kw, -1).transpose(1, 2).reshape(N, C * kh * kw, -1)

    check_function(
        fn,
        (X, kernel_size),
        kwargs,
        expected,
        fname=fname,
        forbidden=UNFOLD_OPS | CONV_OPS,
        shape_hint=(
            "the result is (N, C*kh*kw, L) with L = out_h*out_w: "
            + _shape_hint(_CONV_FORMULA, **kwargs)
        ),
        variants=[
            (
                "rows are in (c, kw, kh) order: flatten each patch as (c, kh, kw), row-major",
                reorder_kw_kh,
            ),
            (
                "rows are in (kh, kw, c) order: flatten each patch as (c, kh, kw), channel first",
                channels_last,
            ),
            (
                "the patches (columns) are in column-major order: number the output positions "
                "row by row (l = i*out_w + j)",
                lambda: _transpose_positions(X, expected, kernel_size, kwargs),
            ),
        ],
    )


def _transpose_positions(
    X: torch.Tensor, cols: torch.Tensor, kernel_size: Any, kwargs: dict[str, Any]
) -> torch.Tensor:
    """``cols`` with the L axis read column-major instead of row-major (a common im2col mistake)."""
    padding = kwargs.get("padding", 0)
    stride = kwargs.get("stride", 1)
    dilation = kwargs.get("dilation", 1)
    sizes = []
    for axis in (0, 1):
        k = kernel_size if isinstance(kernel_size, int) else kernel_size[axis]
        p = padding if isinstance(padding, int) else padding[axis]
        s = stride if isinstance(stride, int) else stride[axis]
        d = dilation if isinstance(dilation, int) else dilation[axis]
        sizes.append((X.shape[-2 + axis] + 2 * p - d * (k - 1) - 1) // s + 1)
    out_h, out_w = sizes
    return cols.reshape(*cols.shape[:-1], out_h, out_w).transpose(-1, -2).reshape(cols.shape)


def _pool_hint(**kwargs: Any) -> str:
    settings = _settings(**kwargs)
    text = f"check the pooling output-size formula{' with ' + settings if settings else ''} "
    text += "(out = floor((in + 2*padding - kernel_size) / stride) + 1, with ceil instead of floor "
    text += "when ceil_mode=True, dropping a last window that would start in the right padding; "
    text += "stride defaults to kernel_size)"
    return text


@_guarded
def check_max_pool2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = _UNSET,
    padding: int | tuple[int, int] = _UNSET,
    ceil_mode: bool = _UNSET,
    *,
    fname: str = "max_pool2d",
) -> None:
    """Check ``fn(X, kernel_size, **given)`` against ``F.max_pool2d``."""
    kwargs = _explicit(stride=stride, padding=padding, ceil_mode=ceil_mode)
    expected = F.max_pool2d(X, kernel_size, **kwargs)
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if kwargs.get("stride") is None:
        variants.append(
            (
                "stride is ignored: when stride is None it defaults to kernel_size "
                "(windows do not overlap)",
                lambda: F.max_pool2d(X, kernel_size, **{**kwargs, "stride": 1}),
            )
        )
    p = kwargs.get("padding", 0)
    if p != 0:
        pads = (p, p, p, p) if isinstance(p, int) else (p[1], p[1], p[0], p[0])
        variants.append(
            (
                "padded with zeros: max pooling pads with -inf, so padding never wins the max",
                lambda: F.max_pool2d(F.pad(X, pads), kernel_size, **{**kwargs, "padding": 0}),
            )
        )
    if kwargs.get("ceil_mode"):
        variants.append(
            (
                "ceil_mode is ignored",
                lambda: F.max_pool2d(X, kernel_size, **{**kwargs, "ceil_mode": False}),
            )
        )
    variants.append(
        (
            "your output is average pooling, not max pooling",
            lambda: F.avg_pool2d(X, kernel_size, **kwargs),
        )
    )
    check_function(
        fn,
        (X, kernel_size),
        kwargs,
        expected,
        fname=fname,
        forbidden=POOL_OPS | CONV_OPS,
        shape_hint=_pool_hint(**kwargs),
        variants=variants,
    )


@_guarded
def check_avg_pool2d(
    fn: Callable[..., Any],
    X: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = _UNSET,
    padding: int | tuple[int, int] = _UNSET,
    ceil_mode: bool = _UNSET,
    count_include_pad: bool = _UNSET,
    *,
    fname: str = "avg_pool2d",
) -> None:
    """Check ``fn(X, kernel_size, **given)`` against ``F.avg_pool2d``."""
    kwargs = _explicit(
        stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad
    )
    expected = F.avg_pool2d(X, kernel_size, **kwargs)
    variants: list[tuple[str, Callable[[], torch.Tensor]]] = []
    if kwargs.get("padding", 0) != 0:
        include = kwargs.get("count_include_pad", True)
        variants.append(
            (
                "count_include_pad is handled the wrong way round: with count_include_pad=True "
                "divide by kh*kw (padding counts as zeros), with False divide by the number of "
                "real (non-padding) pixels in the window",
                lambda: F.avg_pool2d(
                    X, kernel_size, **{**kwargs, "count_include_pad": not include}
                ),
            )
        )
    if kwargs.get("stride") is None:
        variants.append(
            (
                "stride is ignored: when stride is None it defaults to kernel_size",
                lambda: F.avg_pool2d(X, kernel_size, **{**kwargs, "stride": 1}),
            )
        )
    variants.append(
        (
            "your output is max pooling, not average pooling",
            lambda: F.max_pool2d(
                X, kernel_size, **{k: v for k, v in kwargs.items() if k != "count_include_pad"}
            ),
        )
    )
    check_function(
        fn,
        (X, kernel_size),
        kwargs,
        expected,
        fname=fname,
        forbidden=POOL_OPS | CONV_OPS,
        shape_hint=_pool_hint(**kwargs),
        variants=variants,
    )


# In a notebook, stop cells that change the grading environment before they run (and say why).
_cell_guard(install=True)
