"""Honest students and cheats through the real grader (tests/grading_corpus.py), one run.

Every assignment is in the class: its released solution (full marks), two honest students doing
ordinary things (full marks, never "tampered"), and the cheat families, each on at least three
assignments (nothing earned for what they fake). tests/test_grading_every_assignment.py grades the
released solutions again on a Dask cluster and runs `nbgrader validate` on them.

The instructor's command (`python -m tools.grading`, what `make grade` runs) grades both corpora
in one invocation, with due dates and a late penalty configured. Asserted, member by member:
exact score per task, status, the reason of each deduction; no honest student loses a point or is
called tampered; no cheat earns anything for what it fakes; every deduction is predicted, with the
same message, by the notebook's own checks as they run in Jupyter (each record carries that
prediction) and, for a sample, by `nbgrader validate`; the export has nbgrader's timestamp, due
date and late penalty, exactly. This also is the instructor's journey: released notebook, export
rows, a feedback page per student, the report.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as corpus  # noqa: E402

from tools.grading.runner import safe_name  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.timeout(2700)]

JOBS = max(2, min(4, os.cpu_count() or 1))
# reference runs are cached by content: shared by every grading test of this machine
REFERENCES = Path(tempfile.gettempdir()) / "convlib-grading-references"
NBGRADER = Path(sys.executable).parent / "nbgrader"


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("corpus")
    class_dir = root / "submitted"
    members = corpus.build(class_dir)
    config = root / "nbgrader_config.py"
    config.write_text(
        "c = get_config()\n"
        f"c.CourseGrading.due_dates = {dict.fromkeys(corpus.ASSIGNMENTS, corpus.DUE)!r}\n"
        'c.AssignLatePenalties.plugin_class = "tools.grading.late.PercentPerDay"\n'
        f"c.PercentPerDay.percent = {corpus.PERCENT_PER_DAY}\n",
        encoding="utf-8",
    )
    out = root / "graded"
    cmd = [sys.executable, "-m", "tools.grading", str(class_dir), "--out", str(out)]
    cmd += ["--jobs", str(JOBS), "--no-progress", "--config", str(config)]
    cmd += ["--reference-dir", str(REFERENCES), "--cell-timeout", "60"]
    env = {**os.environ, "CONVLIB_CHECK_PREDICT": "1"}
    t0, cpu0 = time.monotonic(), os.times()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=2600, env=env)
    seconds, cpu1 = time.monotonic() - t0, os.times()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(out / "report.csv", encoding="utf-8") as f:
        report = {row["student"]: row for row in csv.DictReader(f)}
    with open(out / "grades.csv", encoding="utf-8") as f:
        export = {(row["student_id"], row["assignment"]): row for row in csv.DictReader(f)}
    records, kernel_records = {}, {}
    for student, m in members.items():
        name = safe_name(student)
        records[student] = json.loads(
            (out / "results" / m.assignment / f"{name}.json").read_text(encoding="utf-8")
        )
        path = out / "work" / m.assignment / name / "records.json"
        kernel_records[student] = json.loads(path.read_text(encoding="utf-8"))[m.assignment]
    cpu = (cpu1.children_user + cpu1.children_system) - (cpu0.children_user + cpu0.children_system)
    return {
        "members": members,
        "out": out,
        "report": report,
        "export": export,
        "records": records,
        "kernel_records": kernel_records,
        "summary": json.loads((out / "summary.json").read_text(encoding="utf-8")),
        "seconds": seconds,
        "cpu": cpu,
        "class_dir": class_dir,
        "config": config,
    }


FAMILIES = {
    "forbidden_op",
    "library_answer",
    "patch_checks",
    "environment",
    "reads_solution",
    "forged_records",
    "tensor_subclass",
}
# what the honest corpus must do somewhere (Member.why)
ORDINARY = (
    "helper cell",
    "prints in",
    "%%time",
    "einsum for @",
    "torch.vmap",
    "%timeit",
    "%prun",
    "cProfile",
    "autograd",
    "gradcheck",
    "compared in a scratch cell",
)


def test_corpora_cover_every_assignment(graded: dict) -> None:
    members = graded["members"]
    cheats = [m for m in members.values() if not m.honest]
    assert len(cheats) >= 40 and {m.status for m in cheats} == {"graded", "tampered"}
    for a in corpus.ASSIGNMENTS:
        assert members[f"solution_{corpus.short(a)}"].assignment == a
        honest = [
            m
            for s, m in members.items()
            if m.honest and m.assignment == a and not s.startswith("solution_")
        ]
        variations = {v for m in honest for v in m.why.split("; ")}
        assert len(variations) >= 2, (a, variations)
    told = " ".join(m.why for m in members.values() if m.honest)
    assert [v for v in ORDINARY if v not in told] == []
    assert "%timeit" in members["honest_ex16_a"].why and "cProfile" in members["honest_ex16_b"].why
    assert "autograd" in members["honest_ex09_a"].why
    families: dict[str, set[str]] = {}
    for m in cheats:
        families.setdefault(m.family, set()).add(m.assignment)
    assert set(families) == FAMILIES
    assert {f: len(a) for f, a in families.items() if len(a) < 3} == {}


def test_every_released_solution_gets_full_marks(graded: dict) -> None:
    for a in corpus.ASSIGNMENTS:
        record = graded["records"][f"solution_{corpus.short(a)}"]
        assert record["status"] == "graded", (a, record["notes"])
        assert record["score"] == record["max_score"] == sum(corpus.points(a).values()), a


def test_every_member_every_task_exact(graded: dict) -> None:
    wrong = []
    for student, m in graded["members"].items():
        record = graded["records"][student]
        got = {g: t["score"] for g, t in record["tasks"][m.assignment].items()}
        if got != m.scores:
            wrong.append(f"{student} ({m.why}): got {got}, expected {m.scores}")
        if record["status"] != m.status:
            wrong.append(f"{student}: status {record['status']}, expected {m.status}")
    assert not wrong, "\n".join(wrong)


def test_no_honest_student_is_accused(graded: dict) -> None:
    for student, m in graded["members"].items():
        if not m.honest:
            continue
        record = graded["records"][student]
        assert "tampered" not in record["flags"], (student, record["notes"])
        assert record["score"] == record["max_score"], (student, record["tasks"])


def test_cheats_earn_nothing_and_are_told_why(graded: dict) -> None:
    for student, m in graded["members"].items():
        if m.honest:
            continue
        tasks = graded["records"][student]["tasks"][m.assignment]
        lost = [t for t in tasks.values() if t["score"] == 0]
        assert lost, student
        assert all(t["message"] for t in lost), student
        if m.message:
            assert any(m.message in flat(t["message"]) for t in lost), (student, lost)
        if m.status == "tampered":  # the reason names the cell that changed the environment
            assert graded["records"][student]["status"] == "tampered"


def _first_predicted_failure(records: list[dict]) -> str | None:
    for rec in records:
        if rec.get("predicted"):
            return str(rec["predicted"])
    return None


def test_jupyter_checks_predict_every_deduction_with_the_same_message(graded: dict) -> None:
    """What each check would raise in Jupyter, recorded in the graded kernel, against the
    grader's verdict: same tasks lost, same words (forged records aside: Jupyter sees the wrong
    answer they hide, the grader the forgery; the task is lost in both; a test cell that fails
    before any check, e.g. on an undefined function, shows its own error in both)."""
    wrong = []
    for student, m in graded["members"].items():
        tasks = graded["records"][student]["tasks"][m.assignment]
        cells = graded["kernel_records"][student]
        for gid, t in tasks.items():
            predicted = _first_predicted_failure(cells.get(gid, []))
            if t["score"] > 0:
                if predicted:
                    wrong.append(f"{student}/{gid}: passes, but Jupyter says {predicted!r}")
            elif predicted is None:
                # (no check ran: the test cell's own error, which Jupyter shows as it is)
                if not re.match(r"[A-Za-z]+Error: ", t["message"]):
                    wrong.append(f"{student}/{gid}: lost ({t['message']!r}), Jupyter says nothing")
            elif m.family != "forged_records" and flat(predicted) != flat(t["message"]):
                wrong.append(f"{student}/{gid}: {t['message']!r} but Jupyter {predicted!r}")
    assert not wrong, "\n".join(wrong)


VALIDATED = ["honest_ex01_timeit", "cheat_F_conv2d", "cheat_patch_check", "cheat_rebinds_range"]
VALIDATED += ["cheat_ex07_patch_checks", "honest_ex16_b"]  # (practice.check_x = ...; cProfile)


@pytest.mark.parametrize("student", VALIDATED)
def test_nbgrader_validate_predicts_the_deductions(
    graded: dict, student: str, tmp_path: Path
) -> None:
    m = graded["members"][student]
    nb = graded["class_dir"] / student / m.assignment / f"{m.assignment}.ipynb"
    (tmp_path / nb.name).write_bytes(nb.read_bytes())
    done = subprocess.run(
        [str(NBGRADER), "validate", "--ExecutePreprocessor.timeout=600", nb.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = flat(done.stdout + done.stderr)
    tasks = graded["records"][student]["tasks"][m.assignment]
    lost = [t["message"] for t in tasks.values() if t["score"] == 0]
    if not lost:
        assert "Success! Your notebook passes all the tests." in output, output
        return
    assert "VALIDATION FAILED" in output, output
    for message in lost:
        first = flat(message.split("\n")[0])
        assert first in output, f"{first!r} not in validate's output:\n{output[:3000]}"
    assert 'check.py", line' not in output  # no traceback through the library's internals


def test_export_has_timestamps_due_dates_and_penalties_exactly(graded: dict) -> None:
    from nbgrader.utils import parse_utc

    for student, m in graded["members"].items():
        row = graded["export"][(student, m.assignment)]
        assert float(row["raw_score"]) == m.total, student
        assert float(row["late_submission_penalty"]) == m.penalty, student
        assert float(row["score"]) == m.total - m.penalty, student
        assert parse_utc(row["duedate"]) == parse_utc(corpus.DUE), student
        if m.timestamp:
            assert parse_utc(row["timestamp"]) == parse_utc(m.timestamp), student
        else:
            assert row["timestamp"] in ("", "None"), (student, row["timestamp"])
    assert any(m.penalty > 0 for m in graded["members"].values())
    assert graded["summary"]["export_mismatches"] == []


def test_feedback_reads_first_and_shows_no_library_frames(graded: dict) -> None:
    feedback = graded["out"] / "course" / "feedback"
    for student, m in graded["members"].items():
        page = feedback / student / m.assignment / f"{m.assignment}.html"
        text = page.read_text(encoding="utf-8")
        graded_nb = nbformat.read(
            graded["out"]
            / "course"
            / "autograded"
            / student
            / m.assignment
            / page.with_suffix(".ipynb").name,
            as_version=4,
        )
        for cell in graded_nb.cells:  # the records never reach the student
            for o in cell.get("outputs", []):
                assert "application/vnd.convlib.check+json" not in o.get("data", {}), student
        assert not re.search(r"convlib/check\.py\S*, line|File \S*convlib/check\.py", text), student
        tasks = graded["records"][student]["tasks"][m.assignment]
        for t in tasks.values():
            if t["score"] == 0:
                first = t["message"].split("\n")[0]
                import html

                assert html.escape(first, quote=False)[:60] in text, (student, first)


def test_the_instructor_journey(graded: dict) -> None:
    """Released notebooks are the students' ones; export, feedback and report list everyone."""
    out = graded["out"]
    for a in corpus.ASSIGNMENTS:
        made = nbformat.read(out / "course" / "release" / a / f"{a}.ipynb", as_version=4)
        given = nbformat.read(REPO / "exercises" / a / f"{a}.ipynb", as_version=4)
        assert [c.source for c in made.cells] == [c.source for c in given.cells]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Grading report")
    for student, m in graded["members"].items():
        assert f"| {student} | {m.assignment} | {m.status} | {m.total:g}/" in report
        assert (out / "course" / "autograded" / student / m.assignment).is_dir()
        for a in corpus.ASSIGNMENTS:  # (the others: handed in nothing, 0, no submission row)
            row = graded["export"][(student, a)]
            assert a == m.assignment or float(row["raw_score"]) == 0.0
    assert {s for s, _ in graded["export"]} == set(graded["members"])


def test_cost_is_reported(graded: dict) -> None:
    n = len(graded["members"])
    print(
        f"\ncorpus: {n} submissions in {graded['seconds']:.0f} s wall, {graded['cpu']:.0f} s CPU "
        f"({graded['cpu'] / n:.1f} s CPU per submission), sandbox: {graded['summary']['sandbox']}"
    )
    seconds: dict[str, list[float]] = {}
    for student, m in graded["members"].items():
        seconds.setdefault(m.assignment, []).append(float(graded["records"][student]["seconds"]))
    print(
        "seconds per submission (mean, runner's report): "
        + ", ".join(f"{corpus.short(a)} {sum(s) / len(s):.1f}" for a, s in seconds.items())
    )
    # every submission graded in this run, none reused (the students' other assignments are
    # "missing" records: nothing handed in, not counted as graded)
    assert graded["summary"]["graded_now"] == n
    assert not [s for s in graded["members"] if graded["records"][s].get("resumed")]


def test_formgrader_reads_the_gradebook_and_manual_grades_survive_a_rerun(graded: dict) -> None:
    """formgrader's API lists every submission; a score and a comment entered by hand are kept
    when the runner runs again (everything else is reused: no kernel starts)."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    course = graded["out"] / "course"
    config = Config()
    config.CourseDirectory.root = str(course)
    api = NbGraderAPI(config=config)
    listed = {s["student"] for s in api.get_submissions(corpus.EX04) if s["submitted"]}
    assert listed == {s for s, m in graded["members"].items() if m.assignment == corpus.EX04}
    student, a, gid = "honest_ex04_seeds", corpus.EX04, "test_compose_layers"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.find_grade(gid, a, a, student).manual_score = 1.5
        gb.find_comment("compose_layers", a, a, student).manual_comment = "see me"
        gb.db.commit()
    cmd = [sys.executable, "-m", "tools.grading", str(graded["class_dir"])]
    cmd += ["--out", str(graded["out"]), "--no-progress", "--config", str(graded["config"])]
    cmd += ["--reference-dir", str(REFERENCES), "--cell-timeout", "60"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((graded["out"] / "summary.json").read_text())["graded_now"] == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert gb.find_grade(gid, a, a, student).manual_score == 1.5
        assert gb.find_comment("compose_layers", a, a, student).manual_comment == "see me"
    with open(graded["out"] / "grades.csv", encoding="utf-8") as f:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    autograded = corpus.points(a)[gid]  # the task's automatic score, replaced by the manual one
    expected = graded["members"][student].total - autograded + 1.5
    assert float(rows[(student, a)]["raw_score"]) == expected
