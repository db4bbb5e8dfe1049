"""Decide every task of a graded notebook, outside the student's process.

Inputs, all trusted except the records: the reference records (the instructor's notebook run
once, ``reference.py``), the records the student's kernel emitted (what the student's functions
returned; data only, parsed and never executed), the executed notebook's own errors and
timeouts, and the static tampering findings (``policy.py``). The comparison is
``convlib.check.judge``, the very function the notebook's check cells use in Jupyter, so a
deduction reads the same here as in ``nbgrader validate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nbformat

from .records import grade_id

CHECK_FAILURE = "CheckFailure"


@dataclass
class Verdict:
    """One task: passed or not, an outcome word for the report, the one-line reason."""

    passed: bool
    outcome: str  # passed, failed, timed_out, tampered
    message: str = ""


def _first_error(cell: Any) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.get('ename')}: {str(out.get('evalue', ''))[:300]}"
    return None


def _timed_out(cell: Any) -> bool:
    return any(
        out.get("output_type") == "error" and out.get("ename") == "CellTimeoutError"
        for out in cell.get("outputs", [])
    )


def judge_notebook(
    nb: Any,
    reference: dict[str, list[Any]],
    records: dict[str, list[Any]],
    tampering: dict[str, str],
) -> dict[str, Verdict]:
    """grade_id -> Verdict for every test cell of ``nb`` (the executed notebook), in order.

    tampering: grade_id -> the message of the first environment-changing cell before it.
    """
    from convlib.check import cascade, judge, wrap

    verdicts: dict[str, Verdict] = {}
    failed_functions: set[str] = set()
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in tampering:
            verdicts[gid] = Verdict(False, "tampered", wrap(tampering[gid]))
            continue
        if _timed_out(cell):
            verdicts[gid] = Verdict(False, "timed_out", "the test cell ran out of time")
            continue
        expected = reference.get(gid, [])
        got = records.get(gid, [])
        error = _first_error(cell)
        verdict = Verdict(True, "passed")
        if len(got) > len(expected) or (len(got) < len(expected) and not error):
            # checks that vanished without an error, or results nobody asked for: forged
            verdicts[gid] = Verdict(
                False,
                "tampered",
                f"this test reported {len(got)} check results for its {len(expected)} checks: "
                "the checks were bypassed or their results forged",
            )
            continue
        for i, ref in enumerate(expected):
            spec, fname = ref["spec"], str(ref["fname"])
            if i >= len(got):
                verdict = Verdict(False, "failed", str(error))
                break
            rec = got[i]
            try:
                result = rec["result"]
                if result.get("tampering"):
                    verdict = Verdict(False, "tampered", wrap(str(result["tampering"])))
                    break
                if rec.get("fname") != fname or rec.get("fp") != ref["fp"]:
                    verdict = Verdict(
                        False,
                        "failed",
                        f"{spec.get('call', fname)}: this check's inputs differ from the "
                        "reference run (they were built or changed by code in the notebook)",
                    )
                    break
                message = judge(spec, result)
            except Exception as exc:  # malformed data from the student's kernel
                verdict = Verdict(False, "tampered", f"unreadable check record ({exc!r:.80})")
                break
            if message:
                first = cascade(fname, [str(c) for c in result.get("calls", [])], failed_functions)
                failed_functions.add(fname)
                verdict = Verdict(False, "failed", f"{first}\n{message}" if first else message)
                break
        else:
            if error:
                verdict = Verdict(False, "failed", error)
        verdicts[gid] = verdict
    return verdicts


def write_verdicts(nb: Any, verdicts: dict[str, Verdict]) -> None:
    """Put each failed task's reason on its test cell as an error output, where nbgrader's
    feedback shows it (the kernel's own error, if any, stays below it)."""
    for cell in nb.cells:
        gid = grade_id(cell)
        v = verdicts.get(gid) if gid else None
        if v is None or v.passed or v.outcome == "timed_out":
            continue
        lines = v.message.split("\n")
        cell.outputs.insert(
            0,
            nbformat.v4.new_output(
                "error",
                ename=CHECK_FAILURE,
                evalue=v.message,
                traceback=[f"{CHECK_FAILURE}: {lines[0]}", *lines[1:]],
            ),
        )
