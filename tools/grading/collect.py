"""Stage 3, collect: the class's records go into nbgrader's gradebook (in place, with dates,
extensions, penalties and what was graded by hand), then feedback, `nbgrader export`, the
report and the class report.

The gradebook (OUT/course/gradebook.db) is the instructor's: students imported with
`nbgrader db student import`, due dates set with `nbgrader db assignment add --duedate` or in
formgrader, manual scores, comments and extra credit entered in formgrader all live there. A run
updates only the (student, assignment) pairs it graded and creates what is missing; it never
deletes a row, so a run with `--assignments`, a roster or a subset of students leaves the rest as
it was (byte for byte in `nbgrader export`) and every row keeps its id (an open formgrader page
still saves). A resubmission (its notebooks changed since the gradebook last took them) drops the
manual scores, comments and extra credit that described the old one; the report lists them.
"""

import contextlib
import csv
import datetime
import hashlib
import html
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import Settings, tool_env, write_json_atomic
from .late import extension_for, read_extensions
from .worker import thread_worker

# the files of a submission that are not the student's work (nbgrader's exchange writes them)
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def generate_feedback(settings: Settings, course: Path) -> list[str]:
    """`nbgrader generate_feedback` once per assignment for every autograded notebook (one
    process per assignment instead of one per submission). Returns the notebooks left without
    feedback (should be empty)."""
    env = tool_env(settings)
    problems = []
    for a in settings.assignments:
        if not any((course / "autograded").glob(f"*/{a}/*.ipynb")):
            continue
        thread_worker().run(  # (nbgrader in this thread's long-lived process: worker.py)
            ["generate_feedback", a, "--force"],
            course,
            env,
            settings.out_dir / "state" / "feedback.log",
            1800,
        )
        for nb in (course / "autograded").glob(f"*/{a}/*.ipynb"):
            student = nb.parent.parent.name
            if not (course / "feedback" / student / a / f"{nb.stem}.html").exists():
                problems.append(f"{student}/{a}/{nb.stem}: no feedback written")
    return problems


def load_course_config(settings: Settings) -> Any:
    """The instructor's nbgrader configuration (``nbgrader_config.py`` of the course, or
    ``settings.config_file``): due dates and the late-penalty plugin come from it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = settings.config_file or settings.course_root / "nbgrader_config.py"
    if not Path(path).is_file():
        return Config()
    return PyFileConfigLoader(Path(path).name, path=str(Path(path).parent)).load_config()


def late_plugin(config: Any) -> Any:
    """The late-penalty plugin nbgrader's AssignLatePenalties would use with this config
    (``c.AssignLatePenalties.plugin_class``; default nbgrader's LateSubmissionPlugin, whose
    ``penalty_method`` is none or zero; ``tools.grading.late.PercentPerDay`` takes a share)."""
    from nbgrader.plugins import LateSubmissionPlugin
    from traitlets.utils.importstring import import_item

    cls = config.get("AssignLatePenalties", {}).get("plugin_class", LateSubmissionPlugin)
    if isinstance(cls, str):
        cls = import_item(cls)
    return cls(config=config)


# --------------------------------------------------------------------------------------------
# the gradebook, updated in place


def submission_hash(sub_dir: Path) -> str:
    """What the student handed in: every file of the submission but nbgrader's timestamp and
    secret (a new submission time alone does not make a new submission)."""
    h = hashlib.sha256()
    if sub_dir.is_dir():
        for p in sorted(sub_dir.rglob("*")):
            rel = p.relative_to(sub_dir)
            ours = rel.as_posix() not in EXCHANGE_FILES and ".ipynb_checkpoints" not in rel.parts
            if p.is_file() and ours:
                h.update(rel.as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def read_roster(path: Path | None) -> dict[str, dict[str, str]]:
    """nbgrader's roster CSV (as `nbgrader db student import` reads it): `id` and, optional,
    `first_name`, `last_name`, `email`, plus `extension` (e.g. `2d`, `36h`: every assignment)."""
    if path is None:
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        row["id"].strip(): {k: (v or "").strip() for k, v in row.items() if k}
        for row in rows
        if (row.get("id") or "").strip()
    }


def sync_assignment(gb: Any, pristine: Path, assignment: str) -> None:
    """Create or update an assignment's definition in the gradebook (its notebooks and cells, as
    `nbgrader generate_assignment` wrote them to ``pristine``); its due date and the ids of the
    rows already there are kept."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{pristine}") as src:
        notebooks = [
            (
                nb.name,
                nb.kernelspec,
                [(c.name, c.max_score, c.cell_type) for c in nb.grade_cells],
                [c.name for c in nb.solution_cells],
                [(c.name, c.max_score, c.cell_type) for c in nb.task_cells],
                [(c.name, c.cell_type, c.locked, c.source, c.checksum) for c in nb.source_cells],
            )
            for nb in src.find_assignment(assignment).notebooks
        ]
    gb.update_or_create_assignment(assignment)
    for name, kernelspec, grades, solutions, tasks, sources in notebooks:
        gb.update_or_create_notebook(name, assignment, kernelspec=kernelspec)
        for cell, points, kind in grades:
            gb.update_or_create_grade_cell(cell, name, assignment, max_score=points, cell_type=kind)
        for cell in solutions:
            gb.update_or_create_solution_cell(cell, name, assignment)
        for cell, points, kind in tasks:
            gb.update_or_create_task_cell(cell, name, assignment, max_score=points, cell_type=kind)
        for cell, kind, locked, source, checksum in sources:
            gb.update_or_create_source_cell(
                cell,
                name,
                assignment,
                cell_type=kind,
                locked=locked,
                source=source,
                checksum=checksum,
            )


def _complete(gb: Any, sub: Any) -> None:
    """Give a submission the rows (notebooks, grades, comments) its assignment gained since it
    was created, as nbgrader's add_submission would have."""
    from nbgrader.api import Comment, Grade, SubmittedNotebook

    have = {snb.notebook_id: snb for snb in sub.notebooks}
    for notebook in sub.assignment.notebooks:
        snb = have.get(notebook.id) or SubmittedNotebook(notebook=notebook, assignment=sub)
        graded = {g.cell_id for g in snb.grades}
        commented = {c.cell_id for c in snb.comments}
        for cell in [*notebook.grade_cells, *notebook.task_cells]:
            if cell.id not in graded:
                Grade(cell_id=cell.id, notebook=snb)
        for cell in [*notebook.solution_cells, *notebook.task_cells]:
            if cell.id not in commented:
                Comment(cell_id=cell.id, notebook=snb)
    gb.db.commit()


def _drop_manual(sub: Any) -> list[str]:
    """Clear what was entered by hand on a submission (it described the one before); returns
    what was dropped, one phrase each."""
    dropped = []
    for snb in sub.notebooks:
        for g in snb.grades:
            if g.manual_score is not None:
                dropped.append(f"manual score {g.manual_score:g} on {g.cell.name}")
                g.manual_score = None
            if g.extra_credit:
                dropped.append(f"extra credit {g.extra_credit:+g} on {g.cell.name}")
            g.extra_credit = None
        for c in snb.comments:
            if c.manual_comment:
                dropped.append(f"comment on {c.cell.name} ({c.manual_comment[:60]!r})")
                c.manual_comment = None
    return dropped


def _assign_late_penalties(plugin: Any, sub: Any) -> None:
    """As nbgrader's AssignLatePenalties does when it autogrades: per notebook, from its score
    at that time, clamped to [0, score]. Run for a new submission, new automatic scores, or a
    new submission time, due date or extension; like nbgrader, not for a score edited in
    formgrader."""
    seconds_late = sub.total_seconds_late if sub.assignment.duedate is not None else 0.0
    for nb in sub.notebooks:
        nb.late_submission_penalty = None
        if seconds_late > 0:
            penalty = plugin.late_submission_penalty(sub.student.id, nb.score, seconds_late)
            if penalty is not None:
                nb.late_submission_penalty = min(max(penalty, 0.0), nb.score)


def _naive_utc(when: datetime.datetime | None) -> datetime.datetime | None:
    """As the gradebook stores times (SQLite: naive, UTC)."""
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(datetime.UTC).replace(tzinfo=None)


def update_gradebook(
    settings: Settings, course: Path, students: Sequence[str], records: Sequence[dict]
) -> list[str]:
    """Put this run's records into the course's gradebook, in place.

    Creates what is missing (the assignments' definitions, students, submissions), updates the
    (student, assignment) pairs of ``records`` only: automatic scores, the submission time
    (timestamp.txt), an extension (``--extensions``, the roster's ``extension``), the late
    penalty of the configured plugin, per notebook as nbgrader's AssignLatePenalties computes
    it. Names and emails come from the roster where it has them. Due dates are the gradebook's
    (`nbgrader db assignment add --duedate`, formgrader); ``c.CourseGrading.due_dates`` only
    fills in an assignment that has none. A resubmission loses its manual scores, comments and
    extra credit. Returns what was dropped ("student/assignment: ..."); each record gets its
    ``gradebook_score`` (nbgrader's raw score, manual edits included).
    """
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import parse_utc

    db = course / "gradebook.db"
    if not db.exists():  # the first run: start from the definitions (nbgrader made its schema)
        shutil.copy(settings.out_dir / "state" / "pristine.db", db)
    taken_path = settings.out_dir / "state" / "gradebook_inputs.json"
    taken = json.loads(taken_path.read_text(encoding="utf-8")) if taken_path.exists() else {}
    config = load_course_config(settings)
    due_dates = dict(config.get("CourseGrading", {}).get("due_dates", {}) or {})
    plugin = late_plugin(config)
    roster = read_roster(settings.roster_file)
    extensions = read_extensions(settings.extensions_file)
    changes: list[str] = []
    with Gradebook(f"sqlite:///{db}") as gb:
        for a in settings.assignments:
            sync_assignment(gb, settings.out_dir / "state" / "pristine.db", a)
            assignment = gb.find_assignment(a)
            if assignment.duedate is None and due_dates.get(a):
                assignment.duedate = _naive_utc(parse_utc(due_dates[a]))
        gb.db.commit()
        for s in students:
            person = roster.get(s, {})
            names = {k: person[k] for k in ("first_name", "last_name", "email") if person.get(k)}
            gb.update_or_create_student(s, **names)
        for r in records:
            a, s = r["assignment"], r["student"]
            try:
                sub = gb.find_submission(a, s)
            except MissingEntry:
                sub = None
            if r["status"] == "missing":
                if sub is not None:  # handed in before; this CLASS folder does not have it
                    r["gradebook_score"] = float(sub.score)
                    r["notes"].append("not in this class folder: the gradebook keeps its grade")
                continue  # no submission row: nbgrader export reports 0 for it
            key = json.dumps([s, a])
            seen = taken.get(key, {})
            content = submission_hash(settings.class_dir / s / a)
            stamp = _naive_utc(parse_utc(r["timestamp"])) if r.get("timestamp") else None
            new = sub is None or content != seen.get("content", content)
            if sub is None:
                sub = gb.update_or_create_submission(a, s, timestamp=stamp)
            elif new or (not seen and sub.timestamp != stamp):  # (not seen: by its time)
                new = True
                dropped = _drop_manual(sub)
                if dropped:
                    note = "resubmitted: dropped " + "; ".join(dropped)
                    r["notes"].append(note)
                    changes.append(f"{s}/{a}: {note}")
            sub.timestamp = stamp
            _complete(gb, sub)
            granted = extension_for(extensions, roster, s, a)
            if granted is not None and sub.assignment.duedate is not None:
                sub.extension = granted or None  # (nbgrader: no due date, no extension)
            rescored = new  # the penalty is computed again: see _assign_late_penalties
            for name, tasks in r["tasks"].items():
                for gid, t in tasks.items():
                    g = gb.find_grade(gid, name, a, s)
                    rescored = rescored or g.auto_score != t["score"]
                    g.auto_score = t["score"]
                    g.needs_manual_grade = False
            gb.db.commit()
            # what nbgrader exports as raw_score: manual scores override automatic ones
            r["gradebook_score"] = float(sub.score)
            late = [str(sub.assignment.duedate), str(sub.extension), str(sub.timestamp)]
            if rescored or late != seen.get("late"):
                _assign_late_penalties(plugin, sub)
                gb.db.commit()
            taken[key] = {"content": content, "late": late}
    write_json_atomic(taken_path, taken)
    if changes:
        log = settings.out_dir / "state" / "dropped_edits.log"
        stamp_now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        with open(log, "a", encoding="utf-8") as f:
            f.writelines(f"{stamp_now} {c}\n" for c in changes)
    return changes


def export_grades(settings: Settings, course: Path) -> list[dict[str, str]]:
    """`nbgrader export` of the whole gradebook (every assignment and student, not only this
    run's), with the extension columns of ``late.ExportWithExtensions``."""
    out = course / "grades.csv"
    out.unlink(missing_ok=True)
    rc = thread_worker().run(
        [
            "export",
            f"--to={out}",
            "--ExportApp.plugin_class=tools.grading.late.ExportWithExtensions",
        ],
        course,
        tool_env(settings),
        settings.out_dir / "state" / "export.log",
        300,
    )
    if rc != 0 or not out.exists():
        raise RuntimeError("nbgrader export failed; see state/export.log")
    shutil.copy(out, settings.out_dir / "grades.csv")
    with open(out, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_report(
    settings: Settings,
    records: Sequence[dict],
    export: Sequence[dict],
    elapsed: float,
    sandbox: str = "",
    changes: Sequence[str] = (),
) -> dict[str, Any]:
    """report.csv and report.md: every record with its autograded score and the exported
    grade (raw score with manual edits and extra credit, late penalty, final score)."""
    exported = {(row["student_id"], row["assignment"]): row for row in export}
    problems = []
    for r in records:
        row = exported.get((r["student"], r["assignment"]))
        got = float(row["raw_score"]) if row else None
        want = r.get("gradebook_score", r["score"])  # (with any score entered in formgrader)
        if got is None or abs(got - want) > 1e-9:
            problems.append(f"{r['student']}/{r['assignment']}: report {want}, export {got}")
    rows = []
    for r in records:
        tasks = "; ".join(
            f"{g}={t['score']:g}/{t['max']:g}" for nb in r["tasks"].values() for g, t in nb.items()
        )
        row = exported.get((r["student"], r["assignment"]), {})
        rows.append(
            {
                "student": r["student"],
                "assignment": r["assignment"],
                "status": r["status"],
                "score": f"{r['score']:g}",  # autograded, this run
                "max_score": f"{r['max_score']:g}",
                "raw_score": _num(row.get("raw_score")),  # the export's: with manual edits
                "late_penalty": _num(row.get("late_submission_penalty")),
                "final_score": _num(row.get("score")),  # the export's: what the student gets
                "flags": " ".join(r["flags"]),
                "tasks": tasks,
                "notes": " | ".join(r["notes"]),
                "seconds": r.get("seconds", 0),
            }
        )
    with open(settings.out_dir / "report.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["student"])
        w.writeheader()
        w.writerows(rows)
    # graded in this run: not resumed from a record, and something was handed in to grade
    graded_now = [
        r
        for r in records
        if not r.get("resumed") and r["status"] != "missing" and r.get("seconds", 0) > 0
    ]  # (a record the runner made for a dead worker took no grading time: not graded)
    nothing = sum(1 for r in records if not r.get("resumed") and r["status"] == "missing")
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    per_min = 60 * len(graded_now) / elapsed if elapsed > 0 and graded_now else 0.0
    lines = [
        "# Grading report",
        "",
        f"{len(records)} submissions ({len(graded_now)} graded in this run, "
        f"{len(records) - len(graded_now) - nothing} reused, {nothing} with nothing handed in), "
        f"{elapsed:.0f} s, "
        f"{per_min:.1f} submissions/minute, device {settings.device}.",
        "",
        f"Sandbox: {sandbox}.",
        "",
        "Statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        "",
        "Export check: " + ("every score matches nbgrader export." if not problems else "MISMATCH"),
        *[f"- {p}" for p in problems],
        "",
        "Resubmissions: "
        + ("no manual edit was dropped." if not changes else "manual edits dropped:"),
        *[f"- {html.escape(c, quote=False)}" for c in changes],
        "",
        "`autograded`: this run's tests; `final`: the grade in `nbgrader export` (manual scores "
        "and extra credit entered in formgrader, minus the late penalty).",
        "",
        "| student | assignment | status | autograded | raw | late penalty | final | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        notes = html.escape(row["notes"], quote=False).replace("|", "/")
        lines.append(
            f"| {row['student']} | {row['assignment']} | {row['status']} | "
            f"{row['score']}/{row['max_score']} | {row['raw_score']} | {row['late_penalty']} | "
            f"{row['final_score']}/{row['max_score']} | {notes} |"
        )
    (settings.out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {
        "submissions": len(records),
        "graded_now": len(graded_now),
        "elapsed_s": elapsed,
        "per_minute": per_min,
        "statuses": counts,
        "export_mismatches": problems,
        "dropped_manual_edits": list(changes),
        "sandbox": sandbox,
        "mean_seconds": (sum(r["seconds"] for r in graded_now) / len(graded_now))
        if graded_now
        else 0.0,
    }
    write_json_atomic(settings.out_dir / "summary.json", summary)
    return summary


def _num(text: str | None) -> str:
    """An exported number as the report prints it (`''` when the export has no row)."""
    if not text:
        return ""
    with contextlib.suppress(ValueError):
        return f"{float(text):g}"
    return text
