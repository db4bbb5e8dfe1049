"""The class report (tools/grading/class_report.py): per task, how many passed, the diagnoses
counted, the median submission time; a PNG beside it. Records are written by hand here, in the
runner's format, so every count below can be checked by reading them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.grading.class_report import diagnosis, write_class_report  # noqa: E402

FLIPPED = "your output equals torch's with the kernel flipped: this is convolution\nmore detail"


def record(student: str, corr: str | None, conv: str | None, stamp: str | None) -> dict:
    """A result record of assignment `hw` with tasks t_corr (2 points) and t_conv (4); a task
    passes when its message is None."""

    def task(points: float, message: str | None) -> dict:
        outcome = "passed" if message is None else "failed"
        return {"score": points if message is None else 0.0, "max": points, "outcome": outcome,
                "message": message or ""}  # fmt: skip

    return {
        "student": student,
        "assignment": "hw",
        "status": "graded",
        "timestamp": stamp,
        "seconds": 3.0,
        "tasks": {"hw": {"t_corr": task(2, corr), "t_conv": task(4, conv)}},
    }


def test_counts_diagnoses_and_median_time(tmp_path: Path) -> None:
    records = [
        record("a", None, None, "2026-10-01T10:00:00+00:00"),
        record("b", FLIPPED, "wrong shape (3, 4), expected (2, 2)", "2026-10-01T11:00:00+00:00"),
        record("c", FLIPPED, "wrong shape (5, 5), expected (4, 4)", "2026-10-01T12:00:00+00:00"),
        record("d", None, "NameError: name 'conv2d' is not defined", "2026-10-02T09:00:00+00:00"),
        {
            "student": "e",
            "assignment": "hw",
            "status": "missing",
            "timestamp": None,
            "seconds": 0.1,
            "tasks": {
                "hw": {
                    "t_corr": {"score": 0.0, "max": 2, "outcome": "missing", "message": "x"},
                    "t_conv": {"score": 0.0, "max": 4, "outcome": "missing", "message": "x"},
                }
            },
        },
    ]
    path = write_class_report(tmp_path, ["hw"], records)
    text = path.read_text(encoding="utf-8")
    assert "4 of 5 students handed it in" in text
    assert "median submission time 2026-10-01 11:00 UTC" in text  # (lower median of 4)
    corr = next(ln for ln in text.splitlines() if ln.startswith("| t_corr "))
    assert "| 2 | 2 of 4 |" in corr
    assert "2 of 4: your output equals torch's with the kernel flipped" in corr
    assert "more detail" not in corr  # first line only
    conv = next(ln for ln in text.splitlines() if ln.startswith("| t_conv "))
    assert "| 4 | 1 of 4 |" in conv
    # the two shape messages differ only in numbers: one diagnosis, counted twice
    assert "2 of 4: wrong shape (3, 4), expected (2, 2)" in conv
    assert "1 of 4: NameError: name 'conv2d' is not defined" in conv
    png = (tmp_path / "class_report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_students_graded_earlier_are_counted(tmp_path: Path) -> None:
    """A run that grades one student still reports the class: the others' records on disk."""
    folder = tmp_path / "results" / "hw"
    folder.mkdir(parents=True)
    for r in (record("a", None, None, None), record("b", FLIPPED, None, None)):
        (folder / f"{r['student']}-0.json").write_text(json.dumps(r), encoding="utf-8")
    now = record("c", FLIPPED, None, None)
    text = write_class_report(tmp_path, ["hw"], [now]).read_text(encoding="utf-8")
    assert "3 of 3 students handed it in; median submission time -" in text
    assert "| t_corr | 2 | 1 of 3 | 2 of 3: your output equals" in text


def test_diagnosis_key_ignores_numbers() -> None:
    first = diagnosis("max error 0.25 at (1, 2)\nrest")[0]
    assert first == diagnosis("max error 3e-05 at (0, 0)")[0]
    assert diagnosis("max error 0.25 at (1, 2)\nrest")[1] == "max error 0.25 at (1, 2)"
