"""Grade a class folder with nbgrader, one submission per worker, nothing lost, nothing wrong.

Layout. CLASS is nbgrader's `submitted` layout: `CLASS/<student>/<assignment>/<notebook>.ipynb`.
Everything the runner writes goes under OUT (default: `<CLASS>/../graded`):

    OUT/course/            an nbgrader course: source/ (copied from solutions/), release/,
                           gradebook.db (the instructor's: updated in place, see collect.py),
                           autograded/, feedback/<student>/<assignment>/<notebook>.html,
                           grades.csv
    OUT/results/<a>/<student>.json   one record per submission: the resume log
    OUT/work/<a>/<student>/          scratch course of one submission (own gradebook: no locks)
    OUT/report.csv, OUT/report.md    what happened to every student, task by task, and the
                                     exported grade (penalty, manual edits, extra credit)
    OUT/class_report.md, .png        per task: passed, diagnoses counted (class_report.py)
    OUT/grades.csv                   `nbgrader export` of the whole gradebook

Why per-submission scratch courses: `nbgrader autograde` on one shared SQLite gradebook serialises
and, run in parallel, fails with "database is locked". Each worker autogrades in its own copy of
the assignment-only gradebook; results are merged serially at the end into the course's gradebook,
updating only the (student, assignment) pairs of this run (re-runs are idempotent, an interrupted
run resumes by skipping the records already written, and a changed submission is regraded because
its input hash changes).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .class_report import write_class_report
from .collect import *  # noqa: F403
from .collect import export_grades, generate_feedback, update_gradebook, write_report
from .common import *  # noqa: F403
from .common import Settings, safe_name, tree_hash
from .prepare import *  # noqa: F403
from .prepare import assignment_layout, prepare_master, reference_records, settings_sandbox
from .submission import *  # noqa: F403
from .submission import _zero_tasks, grade_submission, stop_on_infrastructure
from .worker import thread_worker

# --------------------------------------------------------------------------------------------
# the whole class


def roster(settings: Settings) -> list[str]:
    if settings.students:
        return list(settings.students)
    return sorted(
        p.name for p in settings.class_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def discover_assignments(settings: Settings) -> list[str]:
    src = settings.course_root / settings.source_dir
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def default_jobs(settings: Settings) -> int:
    """Submissions graded at once: ``settings.jobs``, else one per visible GPU on CUDA (each
    kernel holds its own CUDA context and memory), else one per CPU core."""
    if settings.jobs:
        return settings.jobs
    if settings.device.startswith("cuda"):
        import torch

        return max(1, torch.cuda.device_count())
    return os.cpu_count() or 1


def grade_class(settings: Settings, executor: Any = None) -> dict[str, Any]:
    """Grade every (student, assignment); update the gradebook; export; write the reports.

    `executor` runs grade_submission for each (student, assignment): by default
    `settings.jobs` threads here; `cluster.DaskExecutor` sends them to a Dask cluster."""
    from .cluster import LocalExecutor
    from .exchange import add_exchange_files

    settings.class_dir = settings.class_dir.resolve()
    settings.out_dir = settings.out_dir.resolve()
    settings.course_root = settings.course_root.resolve()
    if not settings.assignments:
        present = {p.name for s in settings.class_dir.iterdir() if s.is_dir() for p in s.iterdir()}
        settings.assignments = [a for a in discover_assignments(settings) if a in present]
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    choice = settings_sandbox(settings)
    executor = executor or LocalExecutor(default_jobs(settings))
    # nbgrader's long-lived process for this thread (course, feedback, export: worker.py) starts
    # importing now, and the course is prepared while the probe kernel starts (both must pass)
    thread_worker(settings.out_dir / "state" / "worker.log").warm()
    with ThreadPoolExecutor(1) as probing:
        probe = probing.submit(executor.check, settings)  # one sandboxed kernel imports torch,
        try:  # convlib (every worker)
            course, _ = prepare_master(settings)
        finally:
            probe.result()
    src = settings.course_root / settings.source_dir
    # per assignment: a record stays valid whichever other assignments a run grades
    source_hash = {a: tree_hash((src / a).rglob("*"), src) for a in settings.assignments}
    layouts = {a: assignment_layout(course, a) for a in settings.assignments}
    for a in settings.assignments:  # before the pool: a broken solution stops everything
        reference_records(settings, course, a)
    students = roster(settings)
    jobs = [(s, a) for s in students for a in settings.assignments]
    n_workers = default_jobs(settings)
    records: list[dict[str, Any]] = []
    t0 = time.monotonic()
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="grading", unit="submission", disable=not settings.progress)
    executor = executor or LocalExecutor(n_workers)
    calls = [(settings, course, source_hash[a], layouts[a], s, a) for s, a in jobs]
    names = [f"{a}-{safe_name(s)}" for s, a in jobs]
    results = executor.map(grade_submission, calls, names, settings)
    for i, result in stop_on_infrastructure(results, len(jobs)):  # no student's 0
        s, a = jobs[i]
        if isinstance(result, dict):
            records.append(result)
        else:  # a bug in the runner itself, or a dead worker, must not lose the others
            note = getattr(result, "grading_note", None) or f"grading runner error: {result!r}"
            rec = {
                "student": s,
                "assignment": a,
                "flags": ["crashed"],
                "status": "crashed",
                "notes": [note],
                "tasks": _zero_tasks(layouts[a], layouts[a], "crashed", note),
                "resumed": False,
                "seconds": 0.0,
            }
            rec["score"] = 0.0
            rec["max_score"] = sum(t["points"] for ts in layouts[a].values() for t in ts)
            records.append(rec)  # not written to results/: retried on the next run
        bar.update(1)
        bar.set_postfix_str(f"{s}/{a}: {records[-1]['status']}", refresh=False)
    bar.close()
    elapsed = time.monotonic() - t0
    records.sort(key=lambda r: (r["assignment"], r["student"]))
    changes = update_gradebook(settings, course, students, records)
    feedback_problems = generate_feedback(settings, course)
    add_exchange_files(settings.class_dir, course, settings.assignments)
    export = export_grades(settings, course)
    summary = write_report(settings, records, export, elapsed, choice.reason, changes)
    summary["feedback_problems"] = feedback_problems
    write_class_report(settings.out_dir, settings.assignments, records)
    return summary
