"""convlib.checks.core: the structure and speed checks only measure in the student's kernel; the
verdict is ``convlib.check.judge``'s, in Jupyter at once and in the grader from the records.

A student who slows their own loops gains nothing: the speed check times the course's loops."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from check_helpers import fails, r

import convlib.check as check
from convlib.checks import core


def gemm(X: torch.Tensor, K: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """A vectorised conv2d (stride 1): kh*kw slices, one matrix product."""
    N, C, H, W = X.shape
    C_out, _, kh, kw = K.shape
    Xp = F.pad(X, (padding,) * 4)
    Ho, Wo = Xp.shape[2] - kh + 1, Xp.shape[3] - kw + 1
    taps = [Xp[:, :, a : a + Ho, b : b + Wo] for a in range(kh) for b in range(kw)]
    cols = torch.stack(taps, 2).reshape(N, C * kh * kw, Ho * Wo)
    return (K.reshape(C_out, -1) @ cols).reshape(N, C_out, Ho, Wo)


def positions(X: torch.Tensor, K: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """conv2d with a Python loop over output positions (honest, slow)."""
    Xp = F.pad(X, (padding,) * 4)
    kh, kw = K.shape[-2:]
    Y = X.new_zeros((X.shape[0], K.shape[0], Xp.shape[2] - kh + 1, Xp.shape[3] - kw + 1))
    for i in range(Y.shape[2]):
        for j in range(Y.shape[3]):
            Y[:, :, i, j] = torch.einsum("nckl,ockl->no", Xp[:, :, i : i + kh, j : j + kw], K)
    return Y


def spec_of(run: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The specs the reference run of ``run`` records (what the grader judges against)."""
    monkeypatch.setenv(check.MODE_ENV, "reference")
    start = len(check.emitted)
    run()
    monkeypatch.delenv(check.MODE_ENV)
    return [json.loads(json.dumps(rec)) for rec in check.emitted[start:]]


def test_reference_loops_equal_torch() -> None:
    X, K, b = r(2, 3, 7, 6), r(4, 3, 2, 3, seed=1), r(4, seed=2)
    torch.testing.assert_close(
        core.reference_loops(X, K, b, stride=2, padding=1, dilation=2),
        F.conv2d(X, K, b, stride=2, padding=1, dilation=2),
        atol=1e-12,
        rtol=1e-12,
    )


def test_no_output_loop_in_jupyter() -> None:
    X, K = r(1, 2, 6, 6), r(2, 2, 3, 3, seed=1)
    big = r(1, 2, 24, 24, seed=2)
    core.check_no_output_loop(gemm, (X, K), (big, K), fname="gemm")
    fails(
        lambda: core.check_no_output_loop(positions, (X, K), (big, K), fname="positions"),
        "`positions` runs",
        "loops in Python over the output positions",
    )


def test_no_output_loop_is_judged_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    X, K = r(1, 2, 6, 6), r(2, 2, 3, 3, seed=1)
    big = r(1, 2, 24, 24, seed=2)
    reference = spec_of(
        lambda: core.check_no_output_loop(gemm, (X, K), (big, K), fname="f"), monkeypatch
    )
    assert len(reference) == 1 and reference[0]["spec"]["kind"] == "no_loop"
    monkeypatch.setenv(check.MODE_ENV, "record")
    start = len(check.emitted)
    core.check_no_output_loop(positions, (X, K), (big, K), fname="f")  # no raise: it records
    (record,) = check.emitted[start:]
    assert record["fp"] == reference[0]["fp"]
    few, many = record["result"]["lines"]
    assert many > 1.5 * few + 20
    message = check.judge(reference[0]["spec"], json.loads(json.dumps(record["result"])))
    assert message is not None and "loops in Python over the output positions" in message
    assert check.judge(reference[0]["spec"], reference[0]["result"]) is None
    # the verdict comes from the numbers, wherever they were measured
    forged = {**record["result"], "lines": [few, few]}
    assert check.judge(reference[0]["spec"], forged) is None


def test_speed_is_measured_against_the_course_loops() -> None:
    X, K = r(1, 4, 16, 16), r(4, 4, 3, 3, seed=1)
    core.check_speedup(gemm, (X, K), {"padding": 1}, fast_name="gemm", min_ratio=3)
    # the student's loops play no part: a loop version is not fast, however slow their own is
    fails(
        lambda: core.check_speedup(positions, (X, K), {"padding": 1}, fast_name="positions"),
        "positions took",
        "the course's loops",
        "at least 4x is required",
    )


def test_slowed_student_loops_gain_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old check timed the student's own ``conv2d_loops``: a deliberately slowed one made a
    loop version 'fast enough'. Now the yardstick is ``core.reference_loops``, in the graded
    process's fresh copy of this module, and the grader judges the two times."""
    X, K = r(1, 2, 8, 8), r(2, 2, 3, 3, seed=1)

    def run() -> None:
        core.check_speedup(positions, (X, K), {}, fast_name="conv2d_gemm", min_ratio=5)

    reference = spec_of(
        lambda: core.check_speedup(gemm, (X, K), {}, fast_name="conv2d_gemm", min_ratio=5),
        monkeypatch,
    )
    assert [rec["spec"]["kind"] for rec in reference] == ["tensor", "speed"]
    monkeypatch.setenv(check.MODE_ENV, "record")
    start = len(check.emitted)
    run()
    value_record, speed_record = check.emitted[start:]
    assert speed_record["fp"] == reference[1]["fp"]
    assert check.judge(reference[0]["spec"], value_record["result"]) is None  # right values
    message = check.judge(reference[1]["spec"], json.loads(json.dumps(speed_record["result"])))
    assert message is not None and "at least 5x is required" in message
    fast_time, slow_time = speed_record["result"]["times"]
    assert slow_time < 5 * fast_time


def test_speed_judge_reads_only_the_numbers() -> None:
    spec: dict[str, Any] = {"kind": "speed", "call": "f", "slow_name": "the course's loops"}
    spec.update(shape="T", min_ratio=5.0)
    ok = {"outcome": "value", "forbidden": [], "calls": [], "times": [0.001, 0.01]}
    assert check.judge(spec, ok) is None
    slow = {**ok, "times": [0.004, 0.01]}
    assert "only 2.5x faster" in str(check.judge(spec, slow))
    broken = {"outcome": "error", "error": "RuntimeError: x", "forbidden": [], "calls": []}
    assert "raised RuntimeError" in str(check.judge(spec, broken))
