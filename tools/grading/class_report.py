"""The class report: what an instructor reads before the next lecture.

For each task of each assignment graded: how many of the students who handed it in passed, the
diagnoses the failing ones received, counted ("12 of 40: your output equals torch's with the
kernel flipped ..."), and the median time of submission (nbgrader's timestamp.txt). Written by
every run as OUT/class_report.md with a plot, OUT/class_report.png (pass and fail counts per
task). It covers every student with a result in OUT/results for the assignments of the run, not
only those graded by this run.

    python -m tools.grading.class_report OUT [--assignments a,b]   # write it again from OUT
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TaskSummary:
    """One task across the class: who handed it in, who passed, why the others failed."""

    points: float = 0.0
    handed_in: int = 0
    passed: int = 0
    diagnoses: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # diagnosis key -> its first text


def diagnosis(message: str) -> tuple[str, str]:
    """(key, text) of a failed task's message: its first line; the key has every number
    replaced by '#', so "differs at (2, 3)" and "differs at (0, 1)" count as one diagnosis."""
    first = (message.strip().splitlines() or ["(no message)"])[0].strip()[:160]
    return re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", first), first


def class_records(out_dir: Path, assignments: Sequence[str], records: Iterable[dict]) -> list:
    """This run's records, plus the latest record on disk of every other student of the
    assignments (OUT/results/<assignment>/<student>.json)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for a in assignments:
        for path in sorted((out_dir / "results" / a).glob("*.json")):
            try:
                r = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            found[(r["student"], r["assignment"])] = r
    for r in records:
        found[(r["student"], r["assignment"])] = r
    return sorted(found.values(), key=lambda r: (r["assignment"], r["student"]))


def summarize(records: Iterable[dict]) -> dict[str, dict[str, TaskSummary]]:
    """assignment -> task (grade id, in notebook order) -> its TaskSummary."""
    table: dict[str, dict[str, TaskSummary]] = {}
    for r in records:
        tasks = table.setdefault(r["assignment"], {})
        for notebook in r["tasks"].values():
            for gid, t in notebook.items():
                s = tasks.setdefault(gid, TaskSummary(points=t["max"]))
                if r["status"] == "missing" or t.get("outcome") == "missing":
                    continue
                s.handed_in += 1
                if t["score"] >= t["max"]:
                    s.passed += 1
                    continue
                key, text = diagnosis(t.get("message", ""))
                s.diagnoses[key] += 1
                s.examples.setdefault(key, text)
    return table


def median_time(records: Iterable[dict], assignment: str) -> str:
    """The median submission time (UTC) of an assignment, or a dash without timestamps."""
    stamps = sorted(
        datetime.datetime.fromisoformat(r["timestamp"])
        for r in records
        if r["assignment"] == assignment and r.get("timestamp") and r["status"] != "missing"
    )
    if not stamps:
        return "-"
    mid = stamps[(len(stamps) - 1) // 2]  # the lower median: a real submission time
    return mid.strftime("%Y-%m-%d %H:%M UTC")


def render(records: Sequence[dict]) -> str:
    """class_report.md's text."""
    table = summarize(records)
    lines = ["# Class report", ""]
    for a, tasks in table.items():
        mine = [r for r in records if r["assignment"] == a]
        handed = sum(r["status"] != "missing" for r in mine)
        seconds = [r["seconds"] for r in mine if r.get("seconds")]
        lines += [
            f"## {a}",
            "",
            f"{handed} of {len(mine)} students handed it in; median submission time "
            f"{median_time(mine, a)}; median grading time "
            f"{statistics.median(seconds) if seconds else 0:.1f} s.",
            "",
            "| task | points | passed | diagnoses of the others |",
            "|---|---|---|---|",
        ]
        for gid, s in tasks.items():
            why = "; ".join(
                f"{n} of {s.handed_in}: {_cell(s.examples[k])}"
                for k, n in s.diagnoses.most_common()
            )
            lines.append(f"| {gid} | {s.points:g} | {s.passed} of {s.handed_in} | {why or '-'} |")
        lines.append("")
    if not table:
        lines.append("Nothing was graded.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("<", "&lt;")


def plot(records: Sequence[dict], path: Path) -> None:
    """class_report.png: per assignment, passed and failed counts of each task (bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summarize(records) or {"(nothing graded)": {}}
    fig, axes = plt.subplots(
        len(table), 1, figsize=(8, 1.2 + 0.45 * sum(max(len(t), 1) for t in table.values()))
    )
    for ax, (a, tasks) in zip(axes if len(table) > 1 else [axes], table.items(), strict=True):
        names = list(tasks)[::-1]
        passed = [tasks[g].passed for g in names]
        failed = [tasks[g].handed_in - tasks[g].passed for g in names]
        ax.barh(names, passed, color="#4c9a2a", label="passed")
        ax.barh(names, failed, left=passed, color="#c0392b", label="failed")
        ax.set_title(a, fontsize=10)
        ax.set_xlabel("students")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_class_report(
    out_dir: Path, assignments: Sequence[str], records: Iterable[dict] = ()
) -> Path:
    """Write OUT/class_report.md and OUT/class_report.png; returns the .md path."""
    everyone = class_records(out_dir, assignments, records)
    path = out_dir / "class_report.md"
    path.write_text(render(everyone), encoding="utf-8")
    plot(everyone, out_dir / "class_report.png")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.grading.class_report", description=__doc__)
    p.add_argument("out", type=Path, help="the runner's output folder (OUT)")
    p.add_argument("--assignments", default="", help="comma-separated (default: all in OUT)")
    a = p.parse_args(argv)
    names = [x for x in a.assignments.split(",") if x] or sorted(
        d.name for d in (a.out / "results").iterdir() if d.is_dir()
    )
    print(write_class_report(a.out, names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
