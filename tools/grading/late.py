"""Late submissions the nbgrader way: a late-penalty plugin, per-student extensions, and an
export that shows them.

nbgrader's own ``LateSubmissionPlugin`` offers ``penalty_method`` "none" or "zero". This one takes
a share of the score per started day late, capped at the whole score. In nbgrader_config.py::

    c.AssignLatePenalties.plugin_class = "tools.grading.late.PercentPerDay"
    c.PercentPerDay.percent = 10.0   # 10 % of the notebook's score per started day

The grading runner applies the configured plugin exactly as nbgrader's AssignLatePenalties does
(per notebook, clamped to [0, score]), so the export's late_submission_penalty column is it.

Extensions are nbgrader's: ``SubmittedAssignment.extension`` in the gradebook, added to the due
date before the time late is counted (by nbgrader autograde and by the runner alike). The runner
sets them from ``--extensions EXT.csv`` (columns ``id``, ``assignment``, ``extension``; an empty
assignment means every one) or the roster's ``extension`` column; an extension reads ``2d``,
``36h``, ``90m``, ``1w`` or a bare number of days, and ``0`` removes one. For plain nbgrader::

    python -m tools.grading.late EXT.csv --db sqlite:///graded/course/gradebook.db

``ExportWithExtensions`` is nbgrader's CSV export with two more columns, ``extension_hours`` and
``student_duedate`` (the due date with the extension); the runner's export uses it, and
``c.ExportApp.plugin_class = "tools.grading.late.ExportWithExtensions"`` gives it to
``nbgrader export``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbgrader.plugins import BasePlugin
from nbgrader.plugins.export import CsvExportPlugin
from traitlets import Float


class PercentPerDay(BasePlugin):
    """Penalty = score * percent/100 * (started days late), at most the score."""

    percent = Float(10.0, help="share of the score lost per started day late").tag(config=True)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        if total_seconds_late <= 0:
            return None
        days = math.ceil(total_seconds_late / 86400)
        return min(score, score * self.percent / 100 * days)


UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_extension(text: str) -> datetime.timedelta:
    """``2d``, ``36h``, ``90m``, ``1w``, ``1.5`` (days) -> a timedelta (``0``: no extension)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([wdhm]?)\s*", text.lower())
    if not m:
        raise ValueError(f"extension {text!r}: write e.g. 2d, 36h, 90m or 1w")
    return datetime.timedelta(**{UNITS[m.group(2) or "d"]: float(m.group(1))})


Extensions = dict[tuple[str, str], datetime.timedelta]


def read_extensions(path: Path | None) -> Extensions:
    """(student, assignment or "" for every assignment) -> extension, from a CSV with columns
    ``id`` (the student), ``assignment`` (optional) and ``extension``."""
    if path is None:
        return {}
    found: Extensions = {}
    with open(path, encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            student = (row.get("id") or "").strip()
            if not student or not (row.get("extension") or "").strip():
                continue
            try:
                found[(student, (row.get("assignment") or "").strip())] = parse_extension(
                    row["extension"]
                )
            except ValueError as exc:
                raise ValueError(f"{path}, line {line}: {exc}") from None
    return found


def extension_for(
    extensions: Extensions, roster: Mapping[str, Mapping[str, str]], student: str, assignment: str
) -> datetime.timedelta | None:
    """The extension granted to ``student`` for ``assignment``: the extensions file's row for
    the assignment, else its row for every assignment, else the roster's ``extension`` column;
    None where none of them says anything (the gradebook's own extension is then kept)."""
    for key in ((student, assignment), (student, "")):
        if key in extensions:
            return extensions[key]
    text = roster.get(student, {}).get("extension", "")
    return parse_extension(text) if text else None


class ExportWithExtensions(CsvExportPlugin):
    """nbgrader's CSV export plus ``extension_hours`` and ``student_duedate`` per row."""

    def export(self, gradebook: Any) -> None:
        super().export(gradebook)
        dest = self.to or "grades.csv"
        with open(dest, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        fields = list(reader.fieldnames or [])
        for row in rows:
            row["extension_hours"], row["student_duedate"] = "", row.get("duedate", "")
            try:
                sub = gradebook.find_submission(row["assignment"], row["student_id"])
            except Exception:  # nbgrader's MissingEntry: nothing handed in
                continue
            if sub.extension:
                row["extension_hours"] = f"{sub.extension.total_seconds() / 3600:g}"
                row["student_duedate"] = str(sub.duedate)
        with open(dest, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(
                f, fieldnames=[*fields, "extension_hours", "student_duedate"], lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    """Write extensions into an nbgrader gradebook (for plain `nbgrader autograde`)."""
    from nbgrader.api import Gradebook, MissingEntry

    p = argparse.ArgumentParser(prog="python -m tools.grading.late", description=main.__doc__)
    p.add_argument("extensions", type=Path, help="CSV: id, assignment (optional), extension")
    p.add_argument("--db", required=True, help="the gradebook, e.g. sqlite:///gradebook.db")
    a = p.parse_args(argv)
    with Gradebook(a.db) as gb:
        for (student, assignment), granted in read_extensions(a.extensions).items():
            for name in [assignment] if assignment else [x.name for x in gb.assignments]:
                gb.update_or_create_student(student)
                try:
                    sub = gb.find_submission(name, student)
                except MissingEntry:
                    sub = gb.add_submission(name, student)
                sub.extension = granted or None
                print(f"{student}/{name}: extension {granted}")
        gb.db.commit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
