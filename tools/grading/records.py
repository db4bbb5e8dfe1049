"""The records the checks emit while grading, and the trusted side's reading of them.

In a graded kernel every check (``convlib.check``, mode ``record``) reports what the student's
function did on the test inputs as a display output of the test cell (mime type
``RECORD_MIME``); the instructor's source notebook, run once per assignment in mode
``reference``, reports what each check expects. This module pulls those records out of an
executed notebook (and strips them, so feedback never shows them). It imports neither torch nor
convlib: it runs inside nbgrader's process for every submission.
"""

from __future__ import annotations

from typing import Any

RECORD_MIME = "application/vnd.convlib.check+json"  # = convlib.check.RECORD_MIME


def grade_id(cell: Any) -> str | None:
    """The grade id of an autograded test cell, else None."""
    meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
    return meta.get("grade_id") if meta.get("grade") and cell.get("cell_type") == "code" else None


def extract(nb: Any) -> dict[str, list[Any]]:
    """grade_id -> the records its test cell emitted, in order. Removes every record output
    from every cell (records made in the student's own cells count for nothing)."""
    found: dict[str, list[Any]] = {}
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept, records = [], []
        for out in cell.get("outputs", []):
            data = out.get("data") if isinstance(out, dict) else None
            if isinstance(data, dict) and RECORD_MIME in data:
                records.append(data[RECORD_MIME])
            else:
                kept.append(out)
        cell.outputs = kept
        gid = grade_id(cell)
        if gid is not None:
            found[gid] = records
    return found
