"""Grading you can trust: the faulty class (tests/faulty_class.py) through the real nbgrader.

One run of the whole class, killed part-way with SIGKILL, then resumed; then run again. Asserted:
every student in the export with the exact expected score per task and in total; the status and
the notes the report gives each fault; cheats scored 0 with the reason in the feedback; the
resumed run reused what the killed one finished; the re-run changed nothing (idempotent).
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import faulty_class  # noqa: E402

from tools.grading import Settings, grade_class  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.timeout(1500)]

A = faulty_class.A
# A honest cell of ex01 takes well under a second on an idle core; 30 s leaves room for a loaded
# CI machine while keeping the infinite loop's cost (3 cells time out) bounded.
CELL_TIMEOUT = 30
JOBS = max(2, min(4, os.cpu_count() or 1))
# reference runs are cached by content: shared by every grading test of this machine
REFERENCES = Path(tempfile.gettempdir()) / "convlib-grading-references"


def settings(class_dir: Path, out: Path) -> Settings:
    return Settings(
        class_dir=class_dir,
        out_dir=out,
        assignments=[A],
        jobs=JOBS,
        cell_timeout=CELL_TIMEOUT,
        submission_timeout=600,
        mem_limit_mb=3072,
        progress=False,
        reference_dir=REFERENCES,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("faulty")
    class_dir = root / "submitted"
    expected = faulty_class.build(class_dir)
    out = root / "graded"

    # 1. start grading in another process and kill it (SIGKILL) once a few records exist
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path\n"
        "from tools.grading.__main__ import main\n"
        "main([sys.argv[2], '--out', sys.argv[3], '--assignments', sys.argv[4], '--jobs', "
        f"'{JOBS}', '--cell-timeout', '{CELL_TIMEOUT}', '--mem-limit-mb', '3072', '--no-progress', "
        f"'--reference-dir', {str(REFERENCES)!r}])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(REPO), str(class_dir), str(out), A],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / "results" / A
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if results.is_dir() and len(list(results.glob("*.json"))) >= 8:
            break
        time.sleep(1)
    proc.send_signal(signal.SIGKILL)  # the runner only: its children die with it (PDEATHSIG)
    proc.wait()
    finished_before_kill = {p.name for p in results.glob("*.json")}

    # 2. resume
    t0 = time.monotonic()
    summary = grade_class(settings(class_dir, out))
    seconds = time.monotonic() - t0
    with open(out / "report.csv", encoding="utf-8") as f:
        report = {row["student"]: row for row in csv.DictReader(f)}
    grades_csv = (out / "grades.csv").read_text(encoding="utf-8")
    records = {
        json.loads(p.read_text(encoding="utf-8"))["student"]: json.loads(
            p.read_text(encoding="utf-8")
        )
        for p in results.glob("*.json")
    }

    # 3. run again: nothing to do, same grades
    summary_again = grade_class(settings(class_dir, out))
    return {
        "expected": expected,
        "out": out,
        "summary": summary,
        "seconds": seconds,
        "report": report,
        "records": records,
        "grades_csv": grades_csv,
        "finished_before_kill": finished_before_kill,
        "summary_again": summary_again,
        "grades_csv_again": (out / "grades.csv").read_text(encoding="utf-8"),
    }


def test_the_class_is_big_and_varied_enough(graded: dict) -> None:
    assert len(graded["expected"]) >= 40
    assert {e.status for e in graded["expected"].values()} >= {
        "graded",
        "timed_out",
        "crashed",
        "tampered",
        "missing",
        "invalid",
    }


def test_every_student_every_task_exact(graded: dict) -> None:
    wrong = []
    for student, e in graded["expected"].items():
        got = {g: t["score"] for g, t in graded["records"][student]["tasks"][A].items()}
        if got != e.scores:
            wrong.append(f"{student} ({e.fault}): got {got}, expected {e.scores}")
    assert not wrong, "\n".join(wrong)


def test_export_has_every_student_with_the_right_total(graded: dict) -> None:
    rows = list(csv.DictReader(graded["grades_csv"].splitlines()))
    by_student = {r["student_id"]: r for r in rows if r["assignment"] == A}
    assert set(by_student) == set(graded["expected"])
    for student, e in graded["expected"].items():
        assert float(by_student[student]["raw_score"]) == e.total, student
        assert float(by_student[student]["max_score"]) == sum(faulty_class.TASKS.values())
    assert graded["summary"]["export_mismatches"] == []


def test_status_and_notes_per_fault(graded: dict) -> None:
    wrong = []
    for student, e in graded["expected"].items():
        row = graded["report"][student]
        if row["status"] != e.status:
            wrong.append(f"{student}: status {row['status']}, expected {e.status}")
        if e.note and e.note not in row["notes"]:
            wrong.append(f"{student}: notes {row['notes']!r} lack {e.note!r}")
    assert not wrong, "\n".join(wrong)


def test_cheats_get_zero_and_feedback_says_why(graded: dict) -> None:
    feedback = graded["out"] / "course" / "feedback"
    for student, e in graded["expected"].items():
        page = feedback / student / A / f"{A}.html"
        assert page.exists(), f"no feedback for {student}"
        if e.feedback:  # (messages are wrapped at 80 columns: compare without the breaks)
            text = re.sub(r"\s+", " ", page.read_text(encoding="utf-8"))
            assert e.feedback in text, student
    # no cheat earned anything its honest part did not
    for student, e in graded["expected"].items():
        if e.fault.startswith("cheat"):
            assert graded["records"][student]["score"] == 0.0


def test_interrupted_run_resumed_and_rerun_is_idempotent(graded: dict) -> None:
    records = graded["records"]
    assert len(graded["finished_before_kill"]) >= 8
    assert len(records) == len(graded["expected"])
    again = graded["summary_again"]
    assert again["graded_now"] == 0  # everything reused
    assert graded["grades_csv_again"] == graded["grades_csv"]


def test_throughput_is_reported(graded: dict) -> None:
    s = graded["summary"]
    print(
        f"\nfaulty class: {s['submissions']} submissions, {s['graded_now']} graded after the "
        f"resume in {graded['seconds']:.0f} s, {s['per_minute']:.1f} submissions/minute, "
        f"{s['mean_seconds']:.1f} s per submission (wall, {JOBS} in parallel)"
    )
    assert s["per_minute"] > 0
    assert (graded["out"] / "report.md").read_text(encoding="utf-8").startswith("# Grading report")
