"""Stage 3, collect: the class's records become nbgrader's gradebook (with dates, penalties
and what was graded by hand), feedback, `nbgrader export` and the report.
"""

import html
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import NBGRADER, Settings, run_quiet, tool_env, write_json_atomic


def generate_feedback(settings: Settings, course: Path) -> list[str]:
    """`nbgrader generate_feedback` once per assignment for every autograded notebook (one
    process per assignment instead of one per submission). Returns the notebooks left without
    feedback (should be empty)."""
    env = tool_env(settings)
    problems = []
    for a in settings.assignments:
        if not any((course / "autograded").glob(f"*/{a}/*.ipynb")):
            continue
        run_quiet(
            [*NBGRADER, "generate_feedback", a, "--force"],
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


def _manual_edits(db: Path) -> tuple[dict[tuple, tuple], dict[tuple, str]]:
    """What an instructor entered in formgrader (manual scores, extra credit, comments), keyed
    by (student, assignment, notebook, cell), so a re-run of the runner keeps it."""
    from nbgrader.api import Comment, Grade, Gradebook

    grades: dict[tuple, tuple] = {}
    comments: dict[tuple, str] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for g in gb.db.query(Grade).all():
            if g.manual_score is not None or g.extra_credit is not None:
                nb = g.notebook
                key = (nb.student.id, nb.assignment.name, nb.name, g.name)
                grades[key] = (g.manual_score, g.extra_credit)
        for c in gb.db.query(Comment).all():
            if c.manual_comment:
                nb = c.notebook
                comments[(nb.student.id, nb.assignment.name, nb.name, c.name)] = c.manual_comment
    return grades, comments


def rebuild_gradebook(
    settings: Settings, course: Path, students: Sequence[str], records: Sequence[dict]
) -> None:
    """The main gradebook = the assignment-only gradebook + every result record (serially),
    with nbgrader's dates and penalties: due dates from the course config, submission times
    from timestamp.txt, the late penalty from the configured plugin; and whatever was graded by
    hand in formgrader kept from the previous gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    db = course / "gradebook.db"
    tmp = course / "gradebook.db.new"
    manual, comments = _manual_edits(db) if db.exists() else ({}, {})
    config = load_course_config(settings)
    due_dates = dict(config.get("CourseGrading", {}).get("due_dates", {}) or {})
    plugin = late_plugin(config)
    shutil.copy(settings.out_dir / "state" / "pristine.db", tmp)
    with Gradebook(f"sqlite:///{tmp}") as gb:
        for a in settings.assignments:
            if due_dates.get(a):
                gb.update_or_create_assignment(a, duedate=parse_utc(due_dates[a]))
        for s in students:
            gb.update_or_create_student(s)
        for r in records:
            if r["status"] == "missing":
                continue  # no submission row: nbgrader export reports 0 for it
            a, s = r["assignment"], r["student"]
            stamp = r.get("timestamp")
            sub = gb.update_or_create_submission(
                a, s, timestamp=parse_utc(stamp) if stamp else None
            )
            for name, tasks in r["tasks"].items():
                for gid, t in tasks.items():
                    g = gb.find_grade(gid, name, a, s)
                    g.auto_score = t["score"]
                    g.needs_manual_grade = False
                    if (s, a, name, gid) in manual:
                        g.manual_score, g.extra_credit = manual[(s, a, name, gid)]
            for (cs, ca, cname, cid), text in comments.items():
                if (cs, ca) == (s, a):
                    gb.find_comment(cid, cname, a, s).manual_comment = text
            gb.db.commit()
            # what nbgrader exports as raw_score: manual scores override automatic ones
            r["gradebook_score"] = float(sub.score)
            seconds_late = sub.total_seconds_late
            for nb in sub.notebooks:  # as nbgrader's AssignLatePenalties does, per notebook
                nb.late_submission_penalty = None
                if seconds_late > 0:
                    penalty = plugin.late_submission_penalty(s, nb.score, seconds_late)
                    if penalty is not None:
                        nb.late_submission_penalty = min(max(penalty, 0.0), nb.score)
            gb.db.commit()
    os.replace(tmp, db)


def export_grades(settings: Settings, course: Path) -> list[dict[str, str]]:
    import csv

    out = course / "grades.csv"
    out.unlink(missing_ok=True)
    rc = run_quiet(
        [*NBGRADER, "export", f"--to={out}"],
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
) -> dict[str, Any]:
    import csv

    exported = {(row["student_id"], row["assignment"]): float(row["raw_score"]) for row in export}
    problems = []
    for r in records:
        got = exported.get((r["student"], r["assignment"]))
        want = r.get("gradebook_score", r["score"])  # (with any score entered in formgrader)
        if got is None or abs(got - want) > 1e-9:
            problems.append(f"{r['student']}/{r['assignment']}: report {want}, export {got}")
    rows = []
    for r in records:
        tasks = "; ".join(
            f"{g}={t['score']:g}/{t['max']:g}" for nb in r["tasks"].values() for g, t in nb.items()
        )
        rows.append(
            {
                "student": r["student"],
                "assignment": r["assignment"],
                "status": r["status"],
                "score": f"{r['score']:g}",
                "max_score": f"{r['max_score']:g}",
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
    graded_now = [r for r in records if not r.get("resumed") and r.get("seconds", 0) > 0]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    per_min = 60 * len(graded_now) / elapsed if elapsed > 0 and graded_now else 0.0
    lines = [
        "# Grading report",
        "",
        f"{len(records)} submissions ({len(graded_now)} graded in this run, "
        f"{len(records) - len(graded_now)} reused), {elapsed:.0f} s, "
        f"{per_min:.1f} submissions/minute, device {settings.device}.",
        "",
        f"Sandbox: {sandbox}.",
        "",
        "Statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        "",
        "Export check: " + ("every score matches nbgrader export." if not problems else "MISMATCH"),
        *[f"- {p}" for p in problems],
        "",
        "| student | assignment | status | score | notes |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        notes = html.escape(row["notes"], quote=False).replace("|", "/")
        lines.append(
            f"| {row['student']} | {row['assignment']} | {row['status']} | "
            f"{row['score']}/{row['max_score']} | {notes} |"
        )
    (settings.out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {
        "submissions": len(records),
        "graded_now": len(graded_now),
        "elapsed_s": elapsed,
        "per_minute": per_min,
        "statuses": counts,
        "export_mismatches": problems,
        "sandbox": sandbox,
        "mean_seconds": (sum(r["seconds"] for r in graded_now) / len(graded_now))
        if graded_now
        else 0.0,
    }
    write_json_atomic(settings.out_dir / "summary.json", summary)
    return summary
