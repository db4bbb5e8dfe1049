"""The gradebook is the instructor's: grading adds to it and never loses what it did not grade.

One class (ex01 and a second assignment built from its released notebook), graded three times:

1. a full run, after the instructor used nbgrader's own commands on the course's gradebook
   (`nbgrader db student import` names, `nbgrader db assignment add --duedate`); the roster
   (`--roster`) names the others and gives one student an extension, `--extensions` another;
2. edits made the way formgrader makes them (by grade and comment id), then a partial run: one
   student, one assignment, that student having resubmitted;
3. a full run again (nothing to regrade).

`nbgrader export`, run before and after each, shows every row the run did not grade unchanged
byte for byte, manual scores, comments and extra credit kept, ids stable (an open formgrader page
still saves); the resubmission's stale manual edits are dropped and the report says so. Then the
same late student through plain `nbgrader autograde` gets the same due date, extension, penalty
and score as through the runner.
"""

from __future__ import annotations

import csv
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import grading_corpus as corpus  # noqa: E402

from tools.grading.runner import Settings, grade_class  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.notebooks, pytest.mark.timeout(1500)]

A1, A2 = corpus.EX01, corpus.EX03  # task ids are read from the released notebooks
DUE = "2026-10-01 12:00:00 UTC"
REFERENCES = Path(tempfile.gettempdir()) / "convlib-grading-references"
BIN = Path(sys.executable).parent


def due_plus(**delta: float) -> str:
    when = datetime.datetime(2026, 10, 1, 12, tzinfo=datetime.UTC) + datetime.timedelta(**delta)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def nbgrader(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON"))}
    env.update(JUPYTER_PLATFORM_DIRS="1", PATH=str(BIN) + os.pathsep + env.get("PATH", ""))
    done = subprocess.run(
        [str(BIN / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout


def export_lines(course: Path) -> dict[tuple[str, str], str]:
    """Plain `nbgrader export` of the course's gradebook: (student, assignment) -> its line."""
    dest = course / "plain_export.csv"
    nbgrader(course, "export", f"--to={dest}")
    lines = dest.read_text(encoding="utf-8").splitlines()[1:]
    return {(ln.split(",")[3], ln.split(",")[0]): ln for ln in lines}


def rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}


def put(
    class_dir: Path, student: str, a: str, nb: nbformat.NotebookNode, stamp: str | None
) -> None:
    folder = class_dir / student / a
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{a}.ipynb")
    if stamp:
        (folder / "timestamp.txt").write_text(stamp + "\n", encoding="utf-8")


def total(a: str) -> float:
    return sum(corpus.points(a).values())


def unanswered(a: str) -> nbformat.NotebookNode:
    """The solution with its last answer cell left as released (a task not done)."""
    gid = list(corpus.answers(a))[-1]
    stub = next(c for c in corpus.released(a).cells if c.metadata["nbgrader"]["grade_id"] == gid)
    return corpus.notebook(a, {gid: stub.source})


def ids_of(a: str) -> tuple[list[str], list[str]]:
    """(test cell ids, answer cell ids) of an assignment, in notebook order."""
    return list(corpus.points(a)), list(corpus.answers(a))


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("gradebook")
    class_dir, out = root / "submitted", root / "graded"
    course = out / "course"
    course.mkdir(parents=True)
    db = f"--db=sqlite:///{course / 'gradebook.db'}"
    # the instructor, with nbgrader's own commands, before any grading
    (root / "imported.csv").write_text(
        "id,first_name,last_name,email\nalice,Alice,Liddell,alice@example.org\n"
        "bob,Bob,Builder,bob@example.org\n",
        encoding="utf-8",
    )
    nbgrader(root, "db", "student", "import", str(root / "imported.csv"), db)
    nbgrader(root, "db", "assignment", "add", A1, f"--duedate={DUE}", db)
    # the roster: everyone (names only where it has them: alice's imported name stays)
    roster = root / "roster.csv"
    roster.write_text(
        "id,first_name,last_name,email,extension\nalice,,,,1d\nbob,,,,\n"
        "carol,Carol,Danvers,carol@example.org,\ndave,Dave,Null,dave@example.org,\n",
        encoding="utf-8",
    )
    extensions = root / "extensions.csv"
    extensions.write_text(f"id,assignment,extension\nbob,{A1},48h\n", encoding="utf-8")
    config = root / "nbgrader_config.py"
    config.write_text(
        "c = get_config()\n"
        'c.AssignLatePenalties.plugin_class = "tools.grading.late.PercentPerDay"\n'
        "c.PercentPerDay.percent = 10.0\n",
        encoding="utf-8",
    )
    put(class_dir, "alice", A1, corpus.notebook(A1), due_plus(days=1, hours=1))  # 1 h past ext.
    put(class_dir, "bob", A1, unanswered(A1), due_plus(days=1))
    put(class_dir, "carol", A1, corpus.notebook(A1), due_plus(hours=-2))
    put(class_dir, "alice", A2, corpus.notebook(A2), None)
    put(class_dir, "bob", A2, corpus.notebook(A2), None)

    def run(assignments: list[str], students: list[str]) -> dict:
        settings = Settings(
            class_dir=class_dir,
            out_dir=out,
            assignments=assignments,
            students=students,
            jobs=2,
            progress=False,
            config_file=config,
            reference_dir=REFERENCES,
            cell_timeout=60,
            roster_file=roster,
            extensions_file=extensions,
        )
        return grade_class(settings)

    everyone = ["alice", "bob", "carol", "dave"]
    first = run([A1, A2], everyone)
    export_1 = rows(out / "grades.csv")
    report_1 = (out / "report.md").read_text(encoding="utf-8")

    # edits, as formgrader's API handlers make them: by the ids of grades and comments
    from nbgrader.api import Gradebook

    (t1, *_, t_last), (a1, *_, a_last) = ids_of(A1)
    edits: dict[str, str] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        edits["alice"] = gb.find_grade(t1, A1, A1, "alice").id
        edits["bob_comment"] = gb.find_comment(a_last, A1, A1, "bob").id
        edits["bob_a2"] = gb.find_grade(ids_of(A2)[0][0], A2, A2, "bob").id
        edits["carol"] = gb.find_grade(t_last, A1, A1, "carol").id
        edits["carol_extra"] = gb.find_grade(t1, A1, A1, "carol").id
        edits["carol_comment"] = gb.find_comment(a1, A1, A1, "carol").id
        first_points = corpus.points(A1)[t1]
        gb.find_grade_by_id(edits["alice"]).manual_score = first_points - 0.5
        gb.find_comment_by_id(edits["bob_comment"]).manual_comment = "see me about this one"
        gb.find_grade_by_id(edits["bob_a2"]).extra_credit = 1.0
        gb.find_grade_by_id(edits["carol"]).manual_score = 1.0
        gb.find_grade_by_id(edits["carol_extra"]).extra_credit = 1.0
        gb.find_comment_by_id(edits["carol_comment"]).manual_comment = "hard-coded?"
        gb.db.commit()
    before = export_lines(course)

    # carol resubmits ex01 (a scratch cell added); the instructor grades her alone, ex01 only
    nb = corpus.notebook(A1)
    nb.cells.append(nbformat.v4.new_code_cell("print('checked my answers again')"))
    put(class_dir, "carol", A1, nb, due_plus(hours=-1))
    second = run([A1], ["carol"])
    after_partial = export_lines(course)
    report_2 = (out / "report.md").read_text(encoding="utf-8")
    third = run([A1, A2], everyone)
    after_full = export_lines(course)
    return {
        "root": root,
        "course": course,
        "out": out,
        "class_dir": class_dir,
        "config": config,
        "first": first,
        "second": second,
        "third": third,
        "export_1": export_1,
        "report_1": report_1,
        "report_2": report_2,
        "ids": edits,
        "before": before,
        "after_partial": after_partial,
        "after_full": after_full,
    }


def test_names_come_from_the_gradebook_and_the_roster(term: dict) -> None:
    e = term["export_1"]
    alice, carol, dave = e[("alice", A1)], e[("carol", A1)], e[("dave", A1)]
    assert (alice["first_name"], alice["last_name"], alice["email"]) == (
        "Alice",
        "Liddell",
        "alice@example.org",
    )  # imported with `nbgrader db student import`, not erased by an empty roster cell
    assert (carol["first_name"], carol["email"]) == ("Carol", "carol@example.org")  # --roster
    assert float(dave["raw_score"]) == 0.0 and dave["email"] == "dave@example.org"
    assert dave["timestamp"] == ""  # never handed in


def test_due_date_from_the_gradebook_and_extensions_in_the_export(term: dict) -> None:
    from nbgrader.utils import parse_utc

    e = term["export_1"]
    for s in ("alice", "bob", "carol", "dave"):
        assert parse_utc(e[(s, A1)]["duedate"]) == parse_utc(DUE), s
    alice, bob, carol = e[("alice", A1)], e[("bob", A1)], e[("carol", A1)]
    full = total(A1)
    # alice: extension 1 day (roster), 1 hour past it: one started day, 10 % of her score
    assert alice["extension_hours"] == "24"
    assert parse_utc(alice["student_duedate"]) == parse_utc(due_plus(days=1))
    assert float(alice["raw_score"]) == full
    assert float(alice["late_submission_penalty"]) == pytest.approx(0.1 * full)
    assert float(alice["score"]) == pytest.approx(0.9 * full)
    # bob: 48 h (--extensions), one day after the due date: on time; his last task not done
    assert bob["extension_hours"] == "48" and float(bob["late_submission_penalty"]) == 0.0
    assert 0 < float(bob["score"]) == float(bob["raw_score"]) < full
    assert carol["extension_hours"] == "" and float(carol["score"]) == full


def test_report_shows_the_exported_final_score(term: dict) -> None:
    full = total(A1)
    row = f"| alice | {A1} | graded | {full:g}/{full:g} | {full:g} | {0.1 * full:g} | "
    assert row + f"{0.9 * full:g}/{full:g} |" in term["report_1"]
    assert "every score matches nbgrader export" in term["report_1"]


def test_partial_run_changes_only_what_it_graded(term: dict) -> None:
    before, after = term["before"], term["after_partial"]
    assert set(before) == set(after)
    changed = [k for k in before if before[k] != after[k]]
    assert changed == [("carol", A1)], changed
    assert term["second"]["graded_now"] == 1 and term["second"]["submissions"] == 1
    # the next full run changes nothing (it regrades nothing, unless the grading code changed
    # in between, and the same scores then change nothing either)
    assert term["third"]["submissions"] == 8
    assert term["after_full"] == after


def test_manual_edits_survive_and_ids_are_stable(term: dict) -> None:
    from nbgrader.api import Gradebook

    ids = term["ids"]
    t1 = ids_of(A1)[0][0]
    manual = corpus.points(A1)[t1] - 0.5
    with Gradebook(f"sqlite:///{term['course'] / 'gradebook.db'}") as gb:
        assert gb.find_grade_by_id(ids["alice"]).manual_score == manual
        assert gb.find_comment_by_id(ids["bob_comment"]).manual_comment == "see me about this one"
        assert gb.find_grade_by_id(ids["bob_a2"]).extra_credit == 1.0
        # a formgrader page opened before the runs still saves: same id, same row
        gb.find_grade_by_id(ids["alice"]).manual_score = 0.25
        gb.db.commit()
        assert gb.find_grade(t1, A1, A1, "alice").manual_score == 0.25
        gb.find_grade_by_id(ids["alice"]).manual_score = manual
        gb.db.commit()
    e = {k: line.split(",") for k, line in term["after_full"].items()}
    assert float(e[("alice", A1)][7]) == total(A1) - 0.5  # raw_score with the manual score
    assert float(e[("bob", A2)][7]) == sum(corpus.points(A2).values()) + 1.0  # extra credit


def test_a_resubmission_drops_the_stale_manual_edits(term: dict) -> None:
    from nbgrader.api import Gradebook

    ids = term["ids"]
    with Gradebook(f"sqlite:///{term['course'] / 'gradebook.db'}") as gb:
        assert gb.find_grade_by_id(ids["carol"]).manual_score is None
        assert gb.find_grade_by_id(ids["carol_extra"]).extra_credit is None
        assert gb.find_comment_by_id(ids["carol_comment"]).manual_comment is None
    carol = term["after_partial"][("carol", A1)].split(",")
    assert float(carol[7]) == total(A1) == float(carol[9])  # raw and final: all automatic
    dropped = " ".join(term["second"]["dropped_manual_edits"])
    (t1, *_, t_last), (a1, *_) = ids_of(A1)
    assert f"carol/{A1}" in dropped
    for what in (f"manual score 1 on {t_last}", f"extra credit +1 on {t1}", f"comment on {a1}"):
        assert what in dropped, dropped
    line = next(ln for ln in term["report_2"].splitlines() if ln.startswith("| carol |"))
    assert "resubmitted: dropped" in line and f"manual score 1 on {t_last}" in line


def test_plain_nbgrader_autograde_agrees_on_the_late_student(term: dict) -> None:
    """alice's ex01 in a plain nbgrader course: the same due date (nbgrader db assignment add),
    extension (written by tools.grading.late) and plugin give the export the runner gave."""
    plain = term["root"] / "plain"
    (plain / "source").mkdir(parents=True)
    shutil.copytree(REPO / "solutions" / A1, plain / "source" / A1)
    shutil.copytree(term["class_dir"] / "alice" / A1, plain / "submitted" / "alice" / A1)
    (plain / "nbgrader_config.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        f"load_subconfig({str(term['config'])!r})\n"
        f"c.CourseDirectory.root = {str(plain)!r}\n",
        encoding="utf-8",
    )
    (plain / "ext.csv").write_text(f"id,assignment,extension\nalice,{A1},1d\n", encoding="utf-8")
    nbgrader(plain, "db", "assignment", "add", A1, f"--duedate={DUE}")
    nbgrader(plain, "generate_assignment", A1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    cmd = [sys.executable, "-m", "tools.grading.late", "ext.csv"]
    cmd.append(f"--db=sqlite:///{plain / 'gradebook.db'}")
    done = subprocess.run(cmd, cwd=plain, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    nbgrader(plain, "autograde", A1, "--create")
    nbgrader(
        plain,
        "export",
        "--to=grades.csv",
        "--ExportApp.plugin_class=tools.grading.late.ExportWithExtensions",
    )
    mine = rows(plain / "grades.csv")[("alice", A1)]
    runner = term["export_1"][("alice", A1)]
    keys = ["duedate", "timestamp", "raw_score", "late_submission_penalty", "score", "max_score"]
    keys += ["extension_hours", "student_duedate"]
    assert {k: mine[k] for k in keys} == {k: runner[k] for k in keys}
    assert float(mine["late_submission_penalty"]) == 1.0
