# ruff: noqa: E501, E731  (wrong student answers are kept verbatim as one-line sources and lambdas)
"""The student journey and the checks' feedback.

1. In-process (fast): every kind of mistake, written as a wrong student function, gets its message
   from ``convlib.check``; cheating (calling the op, aliases, convlib) and tampering are caught, and
   the hidden tests of a notebook fail closed even when the student patched the checks.
2. End to end: fill a student notebook's answer cells and run the real ``nbgrader validate`` CLI;
   a correct notebook passes in a few seconds, each wrong one fails with its diagnostic.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
import torch.nn.functional as F

import convlib.check as check

ROOT = Path(__file__).resolve().parent.parent
NBGRADER = Path(sys.executable).parent / "nbgrader"


def flat(text: str) -> str:
    """Messages are wrapped at ~80 columns for nbgrader: compare with whitespace collapsed."""
    return re.sub(r"\s+", " ", text)


def fails_with(fn: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return flat(str(info.value))


# ----------------------------------------------------------------------------- wrong functions


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    kh, kw = K.shape
    Y = X.new_zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()
    return Y


def conv2d(
    X: torch.Tensor,
    K: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    *,
    mistake: str | None = None,
) -> torch.Tensor:
    """A loop conv2d with an optional deliberate mistake."""
    s, p, d = stride, padding, dilation
    if mistake == "stride ignored":
        s = 1
    if mistake == "flip":
        K = K.flip(-1, -2)
    N, C_in, H, W = X.shape
    C_out, C_in_g, kh, kw = K.shape
    Xp = X.new_zeros((N, C_in, H + 2 * p, W + 2 * p))
    Xp[:, :, p : p + H, p : p + W] = X
    H_out = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    W_out = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    Y = X.new_zeros((N, C_out, H_out, W_out))
    for o in range(C_out):
        g = o // (C_out // groups)
        if mistake == "groups first":
            g = 0
        for i in range(H_out):
            for j in range(W_out):
                win = Xp[
                    :, :, i * s : i * s + d * (kh - 1) + 1 : d, j * s : j * s + d * (kw - 1) + 1 : d
                ]
                if mistake == "groups mix":
                    Y[:, o, i, j] = (win * K[o].repeat(groups, 1, 1)).sum(dim=(1, 2, 3))
                else:
                    Y[:, o, i, j] = (win[:, g * C_in_g : (g + 1) * C_in_g] * K[o]).sum(
                        dim=(1, 2, 3)
                    )
        if bias is not None and mistake != "no bias":
            Y[:, o] += bias[o]
    return Y


X4 = check.randn(1, 4, 6, 6, seed=1)
K4 = check.randn(4, 2, 3, 3, seed=2)
B4 = check.randn(4, seed=3)


def test_correct_functions_pass() -> None:
    check.check_corr2d(corr2d, check.randn(5, 6, seed=0), check.randn(2, 3, seed=1))
    check.check_conv2d(conv2d, X4, K4, bias=B4, stride=2, padding=1, dilation=2, groups=2)


def test_flipped_kernel() -> None:
    text = fails_with(
        check.check_corr2d,
        lambda X, K: corr2d(X, K.flip(0, 1)),
        check.randn(5, 5, seed=0),
        check.randn(3, 3, seed=1),
    )
    assert re.search(r"values differ \(max abs error [\d.]+ at \[\d, \d\]", text)
    assert (
        "your output equals torch's with the kernel flipped: this is convolution, not cross-correlation"
        in text
    )
    text = fails_with(
        check.check_conv2d,
        lambda X, K: conv2d(X, K, mistake="flip"),
        X4,
        check.randn(3, 4, 3, 3, seed=9),
    )
    assert "this is convolution, not cross-correlation" in text


def test_true_convolution_that_forgot_to_flip() -> None:
    text = fails_with(
        check.check_corr2d, corr2d, check.randn(4, 4, seed=0), check.randn(2, 2, seed=1), flip=True
    )
    assert (
        "your output equals torch's cross-correlation: a true convolution flips the kernel" in text
    )


def test_bias_not_added() -> None:
    text = fails_with(
        check.check_conv2d,
        lambda X, K, bias, groups: conv2d(X, K, bias, groups=groups, mistake="no bias"),
        X4,
        K4,
        bias=B4,
        groups=2,
    )
    assert "bias not added" in text


def test_stride_ignored_names_the_formula() -> None:
    K = check.randn(1, 1, 2, 2, seed=5)
    X = check.randn(1, 1, 4, 4, seed=6)
    text = fails_with(
        check.check_conv2d,
        lambda X, K, stride: conv2d(X, K, stride=stride, mistake="stride ignored"),
        X,
        K,
        stride=2,
    )
    assert (
        "output shape (1, 1, 3, 3), expected (1, 1, 2, 2): check the output-size formula with stride=2"
        in text
    )
    assert "stride is ignored" in text


def test_groups_mistakes() -> None:
    mix = fails_with(
        check.check_conv2d,
        lambda X, K, groups: conv2d(X, K, groups=groups, mistake="groups mix"),
        X4,
        K4,
        groups=2,
    )
    assert "groups mix all channels" in mix
    first = fails_with(
        check.check_conv2d,
        lambda X, K, groups: conv2d(X, K, groups=groups, mistake="groups first"),
        X4,
        K4,
        groups=2,
    )
    assert "every group reads the first group's input channels" in first


def test_none_not_implemented_dtype_device_exception() -> None:
    X, K = check.randn(4, 4, seed=0), check.randn(2, 2, seed=1)
    assert "function returned None: did you forget `return`?" in fails_with(
        check.check_corr2d, lambda X, K: None, X, K
    )

    def todo(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError()

    assert "`corr2d` is not implemented yet" in fails_with(check.check_corr2d, todo, X, K)
    assert "returned dtype torch.float32, input was torch.float64" in fails_with(
        check.check_corr2d, lambda X, K: corr2d(X, K).float(), X, K
    )
    assert "returned a tensor on meta, input was on cpu" in fails_with(
        check.check_corr2d, lambda X, K: corr2d(X, K).to("meta"), X, K
    )
    assert "raised IndexError" in fails_with(check.check_corr2d, lambda X, K: X[99], X, K)


@pytest.mark.parametrize(
    "cheat, named",
    [
        (lambda X, K: F.conv2d(X[None, None], K[None, None])[0, 0], "torch.nn.functional.conv2d"),
        (
            lambda X, K: torch.ops.aten.convolution(
                X[None, None], K[None, None], None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1
            )[0, 0],
            "torch's convolution",
        ),
        (
            lambda X, K: torch.nn.Conv2d(1, 1, K.shape, bias=False, dtype=X.dtype)(X[None, None])[
                0, 0
            ],
            "torch.nn.functional.conv2d",
        ),
        (
            lambda X, K: F.unfold(X[None, None], K.shape)[0].T @ K.flatten(),
            "torch.nn.functional.unfold",
        ),
    ],
)
def test_calling_the_op_scores_zero(cheat: Callable[..., torch.Tensor], named: str) -> None:
    text = fails_with(
        check.check_corr2d, cheat, check.randn(4, 4, seed=0), check.randn(2, 2, seed=1)
    )
    assert named in text and "not allowed, 0 points for this task" in text


def test_calling_convlib_or_numpy_scores_zero() -> None:
    import numpy as np

    def via_numpy(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        np.convolve(np.ones(3), np.ones(2))
        return corr2d(X, K)

    text = fails_with(
        check.check_corr2d, via_numpy, check.randn(4, 4, seed=0), check.randn(2, 2, seed=1)
    )
    assert "numpy.convolve" in text
    import convlib.shapes

    def via_convlib(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        getattr(convlib.shapes, "conv_output_size", lambda *a: None)(4, 2)
        return corr2d(X, K)

    text = fails_with(
        check.check_corr2d, via_convlib, check.randn(4, 4, seed=0), check.randn(2, 2, seed=1)
    )
    assert "convlib.shapes" in text and "the course library's own answer" in text


def test_integer_checks() -> None:
    wrong = lambda size, k, stride=1, padding=0, dilation=1: (size + 2 * padding - k + 1) // stride  # noqa: E731
    text = fails_with(check.check_output_size, wrong, 7, 5, stride=2, padding=2)
    assert (
        "conv_output_size(7, 5, stride=2, padding=2) returned 3, expected 4: check the output-size formula with stride=2, padding=2"
        in text
    )
    as_float = lambda size, k, stride=1, padding=0, dilation=1: (
        (size + 2 * padding - k) / stride + 1
    )  # noqa: E731
    assert "returned the float 4.0, expected the int 4" in fails_with(
        check.check_output_size, as_float, 7, 5, stride=2, padding=2
    )
    no_groups = lambda i, o, k, groups=1: i * o * k * k + o  # noqa: E731
    assert "returned 4640, expected 2336" in fails_with(
        check.check_conv_params, no_groups, 16, 32, 3, groups=2
    )


def _max_pool_loop(X: torch.Tensor, k: int, stride: int, padding: int, fill: float) -> torch.Tensor:
    Xp = X.new_full((*X.shape[:2], X.shape[2] + 2 * padding, X.shape[3] + 2 * padding), fill)
    Xp[:, :, padding : padding + X.shape[2], padding : padding + X.shape[3]] = X
    out = (Xp.shape[2] - k) // stride + 1
    Y = X.new_zeros((*X.shape[:2], out, out))
    for i in range(out):
        for j in range(out):
            Y[:, :, i, j] = Xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k].amax(
                (2, 3)
            )
    return Y


def test_pooling_unfold_transpose_diagnostics() -> None:
    X = check.randn(1, 2, 5, 5, seed=4) - 3  # mostly negative: zero padding changes the max
    check.check_max_pool2d(
        lambda X, k, stride, padding: _max_pool_loop(X, k, stride, padding, float("-inf")),
        X,
        3,
        stride=2,
        padding=1,
    )
    text = fails_with(
        check.check_max_pool2d,
        lambda X, k, stride, padding: _max_pool_loop(X, k, stride, padding, 0.0),
        X,
        3,
        stride=2,
        padding=1,
    )
    assert "padded with zeros: max pooling pads with -inf" in text
    text = fails_with(check.check_max_pool2d, lambda X, k: F.max_pool2d(X, k), X, 2)
    assert "torch.nn.functional.max_pool2d" in text and "0 points" in text

    cols = F.unfold(X, 2)
    reordered = cols.reshape(1, 2, 2, 2, -1).transpose(2, 3).reshape(cols.shape)
    text = fails_with(check.check_unfold, lambda X, k: reordered.clone(), X, 2)
    assert "rows are in (c, kw, kh) order" in text

    Xt, Kt = check.randn(1, 2, 4, 4, seed=1), check.randn(2, 3, 3, 3, seed=2)
    flipped = F.conv_transpose2d(Xt, Kt.flip(-1, -2))
    text = fails_with(check.check_conv_transpose2d, lambda X, K: flipped.clone(), Xt, Kt)
    assert "your output equals torch's with the kernel flipped" in text
    regular = F.conv2d(Xt, Kt.transpose(0, 1), padding=0)
    text = fails_with(check.check_conv_transpose2d, lambda X, K: regular.clone(), Xt, Kt)
    assert "output shape (1, 3, 2, 2), expected (1, 3, 6, 6)" in text
    assert "a transposed convolution goes the other way" in text


def test_tampering_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F, "conv2d", lambda *args, **kwargs: None)
    text = fails_with(
        check.check_corr2d, corr2d, check.randn(4, 4, seed=0), check.randn(2, 2, seed=1)
    )
    assert "tampering, 0 points: torch.nn.functional.conv2d was replaced" in text
    monkeypatch.undo()
    monkeypatch.setattr(torch.testing, "assert_close", lambda *args, **kwargs: None)
    assert "tampering" in fails_with(check.verify_untampered)


def test_device_parameter_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(check.DEVICE_ENV, raising=False)
    assert check.device("cpu") == "cpu"
    monkeypatch.setenv(check.DEVICE_ENV, "cpu")
    assert check.device("cuda") == "cpu"  # the environment wins
    if not torch.cuda.is_available():
        monkeypatch.setenv(check.DEVICE_ENV, "cuda")
        with pytest.raises(RuntimeError, match="no CUDA device"):
            check.device("cpu")


# ----------------------------------------------------------------------------- hidden tests, in-process


def _cells(name: str, folder: str = "solutions") -> list[nbformat.NotebookNode]:
    return nbformat.read(ROOT / folder / name / f"{name}.ipynb", as_version=4).cells


def _run_cells(cells: list[Any], replacements: dict[str, str]) -> dict[str, str | None]:
    """Execute code cells in one namespace; returns grade_id -> error text (None if it passed)."""
    namespace: dict[str, object] = {}
    results: dict[str, str | None] = {}
    saved = {name: module for name, module in sys.modules.items() if name == "convlib.check"}
    try:
        for cell in cells:
            if cell.cell_type != "code":
                continue
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            source = replacements.get(grade_id, cell.source)
            try:
                exec(compile(source, f"<{grade_id}>", "exec"), namespace)
                results[grade_id] = None
            except Exception as error:  # noqa: BLE001 - a failing graded cell
                results[grade_id] = flat(f"{type(error).__name__}: {error}")
    finally:
        sys.modules.update(saved)
    return results


def test_hidden_tests_survive_a_patched_check_module() -> None:
    """The student's cell makes the visible checks no-ops; the hidden block re-imports from disk."""
    cheat = (
        "import convlib.check as c\n"
        "c.check_corr2d = lambda *a, **k: None\n"
        "c.compare = lambda *a, **k: None\n"
        "def corr2d(X, K):\n"
        "    return X.new_zeros((X.shape[0] - K.shape[0] + 1, X.shape[1] - K.shape[1] + 1))\n"
    )
    results = _run_cells(_cells("ex01_cross_correlation"), {"corr2d": cheat})
    assert results["test_corr2d"] is not None and "values differ" in results["test_corr2d"]
    assert results["test_recover_kernel"] is None  # the honest answers still score


def test_hidden_tests_catch_a_patched_reference() -> None:
    """A student who makes torch's reference agree with a wrong answer gets 0, with the reason."""
    cheat = (
        "import torch.nn.functional as F\n"
        "def recover_kernel(X, Y, kernel_size):\n"
        "    return X.new_zeros(kernel_size)\n"
        "F.conv2d = lambda X, K, bias=None, *args, **kwargs: X.new_zeros(K.shape[-2:])\n"
    )
    original = F.conv2d
    try:
        results = _run_cells(_cells("ex01_cross_correlation"), {"recover_kernel": cheat})
    finally:
        F.conv2d = original
    assert "tampering, 0 points: torch.nn.functional.conv2d was replaced" in (
        results["test_recover_kernel"] or ""
    )
    assert results["test_corr2d"] is None


# ----------------------------------------------------------------------------- nbgrader validate


def _answer_cells(name: str) -> dict[str, str]:
    """The solution cells of the source notebook, with the solution markers removed."""
    answers = {}
    for cell in _cells(name):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            lines = [
                line
                for line in cell.source.split("\n")
                if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
            ]
            answers[cell.metadata["nbgrader"]["grade_id"]] = "\n".join(lines)
    return answers


def _validate(name: str, replacements: dict[str, str], tmp_path: Path) -> tuple[int, str, float]:
    student = nbformat.read(ROOT / "exercises" / name / f"{name}.ipynb", as_version=4)
    answers = {**_answer_cells(name), **replacements}
    for cell in student.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[grade_id]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(student, path)
    start = time.perf_counter()
    # run from the notebook's folder, as a student would (no course nbgrader_config.py there); the
    # generous cell timeout only matters on an overloaded shared test machine
    done = subprocess.run(
        [str(NBGRADER), "validate", "--ExecutePreprocessor.timeout=600", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def test_validate_correct_notebook_passes(tmp_path: Path) -> None:
    code, output, seconds = _validate("ex01_cross_correlation", {}, tmp_path)
    assert "Success! Your notebook passes all the tests." in output, output
    assert code == 0
    print(f"nbgrader validate ex01 (correct): {seconds:.1f} s")
    assert seconds < 60, f"validate took {seconds:.1f} s"


_GROUPS_MIX_SOURCE = """def grouped_as_dense(K, groups):
    # the mistake: every output channel reads every group with its one kernel
    return K.repeat(1, groups, 1, 1)
"""

WRONG = {
    "flipped kernel": (
        "ex01_cross_correlation",
        {
            "corr2d": "def corr2d(X, K):\n    kh, kw = K.shape\n    K = K.flip(0, 1)\n    Y = X.new_zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))\n    for i in range(Y.shape[0]):\n        for j in range(Y.shape[1]):\n            Y[i, j] = (X[i : i + kh, j : j + kw] * K).sum()\n    return Y\n"
        },
        ["this is convolution, not cross-correlation"],
    ),
    "missing bias, calls F.conv2d, no return": (
        "ex01_cross_correlation",
        {
            "corr2d": "import torch.nn.functional as F\ndef corr2d(X, K):\n    return F.conv2d(X[None, None], K[None, None])[0, 0]\n",
            "recover_kernel": "def recover_kernel(X, Y, kernel_size):\n    K = X.new_zeros(kernel_size)\n",
        },
        [
            "calls torch.nn.functional.conv2d",
            "not allowed, 0 points for this task",
            "function returned None: did you forget `return`?",
        ],
    ),
    "bias not shifted": (
        "ex04_channels",
        {
            "fold_normalization": "def fold_normalization(K, b, mean, std):\n    return K / std[None, :, None, None], b\n"
        },
        ["the bias is unchanged: subtracting the mean shifts every output"],
    ),
    "same padding for stride 1 only": (
        "ex03_padding_stride",
        {
            "same_padding": "def same_padding(size, kernel_size, stride):\n    t = kernel_size - 1\n    return t // 2, t - t // 2\n"
        },
        ["returned 3, expected 2: 'SAME' keeps ceil(size / stride) outputs"],
    ),
    "groups ignored": (
        "ex06_groups",
        {"grouped_as_dense": _GROUPS_MIX_SOURCE},
        ["every output channel reads every group with its one kernel"],
    ),
}


@pytest.mark.parametrize("kind", list(WRONG))
def test_validate_reports_each_mistake(kind: str, tmp_path: Path) -> None:
    name, replacements, messages = WRONG[kind]
    code, output, seconds = _validate(name, replacements, tmp_path)
    assert "VALIDATION FAILED" in output, output
    # nbgrader validate exits 0 either way: its verdict is in the text
    for message in messages:
        assert message in flat(output), f"{message!r} not in:\n{output}"
