"""The term the nbgrader/JupyterHub way, end to end on one machine with nbgrader's filesystem
exchange (no hub): the real `nbgrader` commands, an instructor and two students, each student a
separate home folder with its own Jupyter configuration (the exchange, the course and, since the
test runs as one OS user, the student id nbgrader would take from the OS user), the exchange in a
temporary folder.

1. instructor: `nbgrader release_assignment`;
2. alice and bob: `nbgrader fetch_assignment`, answer (bob leaves his last task undone),
   `nbgrader submit`; the due date, set in the gradebook with nbgrader's own
   `nbgrader db assignment add --duedate` (as formgrader would), falls between the two
   submissions, so bob is late; the course takes all points for a late submission
   (nbgrader's LateSubmissionPlugin, penalty_method = "zero");
3. instructor: `nbgrader collect`, `python -m tools.grading submitted` (what `make grade
   CLASS=submitted` runs), `nbgrader release_feedback`;
4. alice and bob: `nbgrader fetch_feedback`: each gets their page;
5. the export shows bob's late penalty and alice's full score;
6. bob does his last task and resubmits, the instructor collects with --update and grades
   again: only bob is regraded (alice's record is reused), his raw score rises, he is still
   late, and his new feedback reaches him.

The course folder loads the repository's nbgrader_config.py and overrides only its root, its
gradebook and the exchange, so this also checks that the configuration and the runner agree on
where the feedback is (`graded/course/feedback`, the runner's OUT/course for CLASS=submitted).
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as corpus  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.timeout(1200)]

A = corpus.EX01  # its tasks and points are read from the released notebook
FULL = sum(corpus.points(A).values())


def _lost() -> float:
    """The points of the tests after the last answer cell: what leaving that answer undone costs."""
    nb = corpus.released(A)
    after = corpus.index(nb, list(corpus.answers(A))[-1])
    return sum(
        float(c.metadata["nbgrader"]["points"])
        for c in nb.cells[after:]
        if c.metadata.get("nbgrader", {}).get("grade")
    )


LOST = _lost()
RAW = FULL - LOST  # bob's first submission
COURSE_ID = "convolutions-from-scratch"
BIN = Path(sys.executable).parent


def env_for(user: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON"))}
    env.update(HOME=str(home), USER=user, LOGNAME=user, JUPYTER_PLATFORM_DIRS="1")
    env["JUPYTER_CONFIG_DIR"] = str(home / ".jupyter")  # the user's own nbgrader_config.py
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    return env


def nbgrader(user: str, home: Path, cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "nbgrader"), *args],
        cwd=cwd,
        env=env_for(user, home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)} as {user}:\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def grade(course: Path) -> dict:
    """What `make grade CLASS=submitted` runs, for this course (its solutions and config)."""
    cmd = [sys.executable, "-m", "tools.grading", str(course / "submitted")]
    cmd += ["--course-root", str(course), "--jobs", "2", "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((course / "graded" / "summary.json").read_text())


def export(course: Path) -> dict[str, dict[str, str]]:
    with open(course / "graded" / "grades.csv", encoding="utf-8") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def answer(home: Path, answers: dict[str, str]) -> None:
    """The student edits the notebook fetch_assignment gave them (cell by cell, as in Jupyter)."""
    path = home / A / f"{A}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for gid, src in answers.items():
        nb.cells[corpus.index(nb, gid)].source = src
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("term")
    course, exchange = root / "course", root / "exchange"
    exchange.mkdir()
    course.mkdir()
    (course / "solutions").symlink_to(REPO / "solutions")
    (course / "exercises").symlink_to(REPO / "exercises")
    (course / "graded" / "course").mkdir(parents=True)
    config = course / "nbgrader_config.py"
    config.write_text(
        f"""c = get_config()
load_subconfig({str(REPO / "nbgrader_config.py")!r})
c.CourseDirectory.root = {str(course)!r}
c.CourseDirectory.db_url = {"sqlite:///" + str(course / "graded" / "course" / "gradebook.db")!r}
c.Exchange.root = {str(exchange)!r}
c.LateSubmissionPlugin.penalty_method = "zero"
""",
        encoding="utf-8",
    )
    teacher = root / "home" / "teacher"
    homes = {s: root / "home" / s for s in ("alice", "bob")}
    for home in [teacher, *homes.values()]:
        (home / ".jupyter").mkdir(parents=True)
    for name, home in homes.items():  # the hub's config for students: exchange, course, and
        # the student id (on a hub, each student is their own OS user; here all are one user)
        (home / ".jupyter" / "nbgrader_config.py").write_text(
            f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.CourseDirectory.student_id = {name!r}\n",
            encoding="utf-8",
        )

    def teach(*args: str) -> str:
        return nbgrader("teacher", teacher, course, *args)

    def student(name: str, *args: str) -> str:
        return nbgrader(name, homes[name], homes[name], *args)

    good = corpus.answers(A)
    last = list(good)[-1]
    undone = {**good, last: corpus.released(A).cells[corpus.index(corpus.released(A), last)].source}

    teach("release_assignment", A)
    for s in homes:
        student(s, "fetch_assignment", A)
    answer(homes["alice"], good)
    student("alice", "submit", A)
    due = datetime.datetime.now(datetime.UTC)  # after alice's submission, before bob's
    teach("db", "assignment", "add", A, f"--duedate={due.strftime('%Y-%m-%d %H:%M:%S.%f')} UTC")
    time.sleep(1.0)
    answer(homes["bob"], undone)
    student("bob", "submit", A)

    teach("collect", A)
    first = grade(course)
    first_export = export(course)
    teach("release_feedback", A)
    fetched = {s: student(s, "fetch_feedback", A) for s in homes}
    feedback_1 = {s: sorted((homes[s] / A / "feedback").glob(f"*/{A}.html")) for s in homes}

    # bob does his last task and submits again
    answer(homes["bob"], good)
    time.sleep(1.0)
    student("bob", "submit", A)
    teach("collect", "--update", A)
    second = grade(course)
    second_export = export(course)
    teach("release_feedback", A)
    student("bob", "fetch_feedback", A)
    feedback_2 = sorted((homes["bob"] / A / "feedback").glob(f"*/{A}.html"))
    report = (course / "graded" / "report.md").read_text(encoding="utf-8")
    return {
        "course": course,
        "due": due,
        "first": first,
        "first_export": first_export,
        "fetched": fetched,
        "feedback_1": feedback_1,
        "second": second,
        "second_export": second_export,
        "feedback_2": feedback_2,
        "report": report,
    }


def test_collect_fills_submitted_with_nbgrader_timestamps(term: dict) -> None:
    for s in ("alice", "bob"):
        folder = term["course"] / "submitted" / s / A
        assert (folder / f"{A}.ipynb").is_file()
        assert (folder / "timestamp.txt").is_file() and (folder / "submission_secret.txt").is_file()


def test_late_penalty_in_export(term: dict) -> None:
    rows = term["first_export"]
    assert set(rows) == {"alice", "bob"}
    alice, bob = rows["alice"], rows["bob"]
    assert float(alice["raw_score"]) == FULL and float(alice["score"]) == FULL
    assert float(alice["late_submission_penalty"]) == 0.0
    assert LOST > 0 and float(bob["raw_score"]) == RAW  # his last task undone
    assert float(bob["late_submission_penalty"]) == RAW  # late: penalty_method "zero"
    assert float(bob["score"]) == 0.0
    assert term["first"]["graded_now"] == 2


def test_students_fetch_their_feedback(term: dict) -> None:
    for s, pages in term["feedback_1"].items():
        assert len(pages) == 1, (s, term["fetched"][s])
        text = pages[0].read_text(encoding="utf-8")
        assert A in text
    alice = term["feedback_1"]["alice"][0].read_text(encoding="utf-8")
    assert f"{A} (Score: {FULL:.1f} / {FULL:.1f})" in alice
    assert "Late submission penalty" not in alice
    bob = term["feedback_1"]["bob"][0].read_text(encoding="utf-8")
    # nbgrader's header gives the score after the penalty; his last task's points lost, the
    # rest taken
    assert f"{A} (Score: 0.0 / {FULL:.1f})" in bob
    assert f"Late submission penalty (Score: -{RAW:.1f})" in bob
    # the feedback nbgrader released is the page the runner wrote, byte for byte
    course_fb = term["course"] / "graded" / "course" / "feedback"
    released = (course_fb / "alice" / A / f"{A}.html").read_bytes()
    assert term["feedback_1"]["alice"][0].read_bytes() == released


def test_resubmission_regrades_only_that_student(term: dict) -> None:
    second = term["second"]
    assert second["graded_now"] == 1 and second["submissions"] == 2, second
    assert "1 graded in this run, 1 reused" in term["report"]
    rows = term["second_export"]
    assert rows["alice"] == term["first_export"]["alice"]  # reused: the very same row
    assert float(rows["bob"]["raw_score"]) == FULL  # the fix was graded
    assert float(rows["bob"]["late_submission_penalty"]) == FULL  # and is still late
    assert float(rows["bob"]["score"]) == 0.0
    assert rows["bob"]["timestamp"] > term["first_export"]["bob"]["timestamp"]
    pages = term["feedback_2"]
    assert len(pages) == 2  # one feedback folder per submission fetched
    newest = pages[-1].read_text(encoding="utf-8")
    assert f"Late submission penalty (Score: -{FULL:.1f})" in newest  # all earned, late
