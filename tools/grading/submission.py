"""Stage 2, grade one submission: pick and validate its notebooks, scan them, run nbgrader
autograde in a sandboxed kernel of a scratch course, judge the check records against the
reference outside the kernel, and write the result record (the resume log).
"""

import contextlib
import hashlib
import html
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nbformat

from .common import (
    STATUSES,
    Settings,
    safe_name,
    tree_hash,
    write_json_atomic,
)
from .policy import scan_notebook, tampering_by_task
from .prepare import (
    InfrastructureError,
    infrastructure_failure,
    kernel_setup,
    reference_records,
    settings_sandbox,
    write_nbgrader_config,
)
from .verdict import Verdict, judge_notebook, write_verdicts
from .worker import grading_course, thread_worker


def read_timestamp(sub_dir: Path, record: dict[str, Any]) -> str | None:
    """The submission time from ``timestamp.txt`` (as nbgrader's collect writes it), checked
    with nbgrader's own parser; kept in the record for the gradebook and the export."""
    path = sub_dir / "timestamp.txt"
    if not path.is_file():
        record["timestamp"] = None
        return None
    from nbgrader.utils import parse_utc

    text = path.read_text(encoding="utf-8", errors="replace").strip()
    try:
        record["timestamp"] = parse_utc(text).isoformat()
    except Exception:
        record["timestamp"] = None
        record["notes"].append(f"unreadable timestamp.txt ({text[:40]!r}): treated as on time")
        return None
    return text


# --------------------------------------------------------------------------------------------
# pre-flight: what did the student hand in?


def _grade_ids(nb: Any) -> set[str]:
    return {
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }


def preflight(
    sub_dir: Path, course: Path, assignment: str, layout: dict[str, list]
) -> tuple[dict[str, Path | None], list[str], list[str]]:
    """Pick the notebook file to grade for each expected notebook.

    Returns ({notebook: path or None}, flags, notes). A notebook that is absent but present under
    another name (the only other notebook, with this assignment's cells) is graded under its
    expected name; anything else handed in is listed and ignored (extra .py files in particular
    are NOT copied next to the notebook: a `convlib.py` there would shadow the course library).
    """
    chosen: dict[str, Path | None] = {}
    flags: list[str] = []
    notes: list[str] = []
    files = sorted(p for p in sub_dir.rglob("*") if p.is_file()) if sub_dir.is_dir() else []
    notebooks = [p for p in files if p.suffix == ".ipynb" and ".ipynb_checkpoints" not in p.parts]
    used: set[Path] = set()
    for name in layout:
        path = sub_dir / f"{name}.ipynb"
        chosen[name] = path if path.is_file() else None
        if chosen[name]:
            used.add(path)
    for name, found in chosen.items():
        if found is not None:
            continue
        released = nbformat.read(course / "release" / assignment / f"{name}.ipynb", as_version=4)
        wanted = _grade_ids(released)
        candidates = []
        for p in notebooks:
            if p in used:
                continue
            try:
                if _grade_ids(nbformat.read(p, as_version=4)) & wanted:
                    candidates.append(p)
            except Exception:
                continue
        if len(candidates) == 1:
            chosen[name] = candidates[0]
            used.add(candidates[0])
            flags.append("renamed")
            notes.append(f"renamed: graded {candidates[0].relative_to(sub_dir)} as {name}.ipynb")
        else:
            flags.append("missing_notebook")
            notes.append(f"missing: no {name}.ipynb handed in (0 for its tasks)")
    for p in files:
        if p.relative_to(sub_dir) in (Path("timestamp.txt"), Path("submission_secret.txt")):
            continue  # nbgrader's submission time (read_timestamp), its feedback key (exchange.py)
        if p not in used and ".ipynb_checkpoints" not in p.parts:
            flags.append("extra_file")
            notes.append(f"ignored extra file: {p.relative_to(sub_dir)}")
    return chosen, flags, notes


def check_notebook(path: Path, released_path: Path) -> tuple[Any | None, list[str], list[str]]:
    """Read and validate one notebook; compare its locked cells with the released ones."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        nb = nbformat.from_dict(raw)
        nbformat.validate(nb)
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # invalid JSON, wrong schema, undecodable bytes
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return None, ["invalid"], [f"invalid notebook {path.name}: {first}"]
    flags: list[str] = []
    notes: list[str] = []
    released = nbformat.read(released_path, as_version=4)
    known = _grade_ids(released)
    for c in nb.cells:  # nbgrader metadata with an id the assignment does not have: a student
        meta = c.get("metadata", {})
        gid = meta.get("nbgrader", {}).get("grade_id")  # cell, not a test
        if "nbgrader" in meta and gid not in known:
            del c.metadata["nbgrader"]
            flags.append("tampered")
            notes.append(f"cell with unknown id {gid!r}: treated as the student's own cell")
    by_id = {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    }
    for rc in released.cells:
        meta = rc.metadata.get("nbgrader", {})
        gid = meta.get("grade_id")
        if not gid:
            continue
        cell = by_id.get(gid)
        if cell is None:
            flags.append("tampered")
            notes.append(f"deleted or renamed cell {gid} (the original was put back)")
            continue
        smeta = cell.metadata.get("nbgrader", {})
        changed = [
            k
            for k in ("grade", "solution", "locked", "points", "task")
            if smeta.get(k, False) != meta.get(k, False)
        ]
        if changed:
            flags.append("tampered")
            notes.append(f"cell {gid}: nbgrader metadata {changed} changed (restored)")
        if meta.get("locked") and cell.source != rc.source:
            flags.append("tampered")
            notes.append(f"cell {gid}: locked cell edited (the original was put back)")
    if [c.source for c in nb.cells] == [c.source for c in released.cells]:
        flags.append("unchanged")
        notes.append(f"{path.name} is unchanged from the released notebook (no answer)")
    return nb, flags, notes


# --------------------------------------------------------------------------------------------
# one submission


def _zero_tasks(layout: dict[str, list], names: Iterable[str], outcome: str, message: str) -> dict:
    return {
        name: {
            t["grade_id"]: {
                "score": 0.0,
                "max": t["points"],
                "outcome": outcome,
                "message": message,
            }
            for t in layout[name]
        }
        for name in names
    }


def grade_submission(
    settings: Settings,
    course: Path,
    source_hash: str,
    layout: dict[str, list],
    student: str,
    assignment: str,
) -> dict[str, Any]:
    """Grade one (student, assignment); returns its result record (also written to disk)."""
    result_path = settings.out_dir / "results" / assignment / f"{safe_name(student)}.json"
    sub_dir = settings.class_dir / student / assignment
    inputs = [p for p in sub_dir.rglob("*")] if sub_dir.is_dir() else []
    input_hash = hashlib.sha256(
        (tree_hash(inputs, sub_dir) + source_hash + settings.grading_key).encode()
    ).hexdigest()
    if result_path.exists():
        with contextlib.suppress(Exception):
            old = json.loads(result_path.read_text(encoding="utf-8"))
            if old.get("input_hash") == input_hash:
                old["resumed"] = True
                return old
    started = time.monotonic()
    record: dict[str, Any] = {
        "student": student,
        "assignment": assignment,
        "input_hash": input_hash,
        "flags": [],
        "notes": [],
        "tasks": {},
        "resumed": False,
    }
    feedback_dir = course / "feedback" / student / assignment
    autograded_dir = course / "autograded" / student / assignment
    shutil.rmtree(feedback_dir, ignore_errors=True)
    shutil.rmtree(autograded_dir, ignore_errors=True)

    if not sub_dir.is_dir():
        record["flags"].append("missing")
        record["notes"].append(f"no submission for {assignment}")
        record["tasks"] = _zero_tasks(layout, layout, "missing", "nothing handed in")
        return _finish(settings, record, result_path, started, course, layout)

    chosen, flags, notes = preflight(sub_dir, course, assignment, layout)
    record["flags"] += flags
    record["notes"] += notes
    gradable: dict[str, Any] = {}
    for name, path in chosen.items():
        if path is None:
            record["tasks"].update(_zero_tasks(layout, [name], "missing", "notebook not handed in"))
            continue
        nb, f2, n2 = check_notebook(path, course / "release" / assignment / f"{name}.ipynb")
        record["flags"] += f2
        record["notes"] += n2
        if nb is None:
            record["tasks"].update(_zero_tasks(layout, [name], "invalid", n2[0]))
        else:
            gradable[name] = nb
    if not gradable:
        if not any(chosen.values()):
            record["flags"].append("missing")
        return _finish(settings, record, result_path, started, course, layout)

    # this submission's own folder (its kernel's TMPDIR, kernelspec, sandbox plan, records, log)
    # and this thread's grading course (prepared once per assignment, its own gradebook)
    work = settings.out_dir / "work" / assignment / safe_name(student)
    shutil.rmtree(work, ignore_errors=True)
    (work / "tmp").mkdir(parents=True)
    grader = grading_course(settings, course, assignment, source_hash)
    for folder in ("submitted", "autograded"):  # (left by an earlier try of this student)
        shutil.rmtree(grader / folder / student, ignore_errors=True)
    (grader / "records.json").unlink(missing_ok=True)
    choice = settings_sandbox(settings)
    ipc_dir = None
    if choice.kind == "bwrap":  # (short: a socket path must stay under 108 bytes)
        import tempfile

        ipc_dir = Path(tempfile.mkdtemp(prefix="gk", dir="/tmp"))
    write_nbgrader_config(grader, settings, ipc=ipc_dir)
    submitted = grader / "submitted" / student / assignment
    submitted.mkdir(parents=True)
    for name, nb in gradable.items():
        nbformat.write(nb, submitted / f"{name}.ipynb")
    timestamp = read_timestamp(sub_dir, record)
    if timestamp is not None:
        (submitted / "timestamp.txt").write_text(timestamp, encoding="utf-8")

    # what the student's own cells do to the grading environment (outside their process)
    tampering: dict[str, dict[str, str]] = {}
    for name, nb in gradable.items():
        released = nbformat.read(course / "release" / assignment / f"{name}.ipynb", as_version=4)
        violations = scan_notebook(nb.cells, released.cells)
        tampering[name] = tampering_by_task(violations)
        for violation in violations:
            record["flags"].append("tampered")
            record["notes"].append(f"{name}: {violation.message}")

    protect = [  # besides the course and OUT: the grading course's own files
        grader / "gradebook.db",
        grader / "source",
        grader / "submitted",
    ]
    env = kernel_setup(settings, work, safe_name(student), protect, ipc_dir, choice)
    log = work / "autograde.log"
    # nbgrader autograde in this thread's long-lived nbgrader process (worker.py): a fresh
    # sandboxed kernel for this submission, the process killed past the time limit
    argv = ["autograde", assignment, f"--student={student}", "--force"]
    nbgrader = thread_worker(settings.out_dir / "state" / "worker.log")
    try:
        rc = nbgrader.run(argv, grader, env, log, settings.submission_timeout)
        if rc not in (0, -9):  # a crash: once more, so a transient failure costs no grade
            record["notes"].append("autograde failed once and was run again")
            rc = nbgrader.run(argv, grader, env, log, settings.submission_timeout)
    finally:
        if ipc_dir is not None:
            shutil.rmtree(ipc_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # the kernel's records, kept with the submission
            os.replace(grader / "records.json", work / "records.json")
        shutil.rmtree(grader / "submitted" / student, ignore_errors=True)
    log_text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    if rc == -9:
        record["flags"].append("timed_out")
        msg = f"grading took over {settings.submission_timeout} s and was stopped"
        record["notes"].append(msg)
        record["tasks"].update(_zero_tasks(layout, gradable, "timed_out", msg))
        return _finish(settings, record, result_path, started, course, layout)

    records_path = work / "records.json"
    records = json.loads(records_path.read_text(encoding="utf-8")) if records_path.exists() else {}
    reference = reference_records(settings, course, assignment)
    for name in gradable:
        graded_nb = grader / "autograded" / student / assignment / f"{name}.ipynb"
        if rc != 0 or not graded_nb.exists():
            infrastructure = infrastructure_failure(log_text)
            if infrastructure:  # not the student's doing: no record, no grade (runner.py)
                raise InfrastructureError(f"{student}/{assignment}: {infrastructure}")
            why = _crash_reason(log_text)
            record["flags"].append("crashed")
            record["notes"].append(f"{name}: autograding failed: {why}")
            record["tasks"].update(_zero_tasks(layout, [name], "crashed", why))
            continue
        nb = nbformat.read(graded_nb, as_version=4)
        infrastructure = infrastructure_failure("", nb)
        if infrastructure:
            raise InfrastructureError(f"{student}/{assignment}: {infrastructure}")
        verdicts = judge_notebook(
            nb, reference.get(name, {}), records.get(name, {}), tampering.get(name, {})
        )
        write_verdicts(nb, verdicts)
        for cell in nb.cells:  # what each test cell checked, for feedback without hidden code
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid and cell.metadata["nbgrader"].get("grade"):
                refs = reference.get(name, {}).get(gid, [])
                cell.metadata["convlib_checks"] = [
                    str(r.get("spec", {}).get("call") or r.get("fname")) for r in refs
                ]
        timed_out = [g for g, v in verdicts.items() if v.outcome == "timed_out"]
        if timed_out:
            record["flags"].append("timed_out")
            record["notes"].append(f"{name}: cell time limit hit in {', '.join(timed_out)}")
        for gid, verdict in verdicts.items():
            if verdict.outcome == "tampered" and gid not in tampering.get(name, {}):
                record["flags"].append("tampered")
                record["notes"].append(f"{name}: {gid}: {verdict.message}")
        record["tasks"][name] = {}
        for t in layout[name]:
            gid = t["grade_id"]
            v = verdicts.get(gid) or Verdict(False, "failed", "the test cell did not run")
            record["tasks"][name][gid] = {
                "score": t["points"] if v.passed else 0.0,
                "max": t["points"],
                "outcome": v.outcome,
                "message": v.message,
            }
        autograded_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, autograded_dir / graded_nb.name)

    shutil.rmtree(grader / "autograded" / student, ignore_errors=True)
    return _finish(settings, record, result_path, started, course, layout)


def _crash_reason(log_text: str) -> str:
    for key, why in (
        ("DeadKernelError", "the kernel died (crash or memory exhausted)"),
        ("Kernel died", "the kernel died (crash or memory exhausted)"),
        ("UnresponsiveKernelError", "the kernel stopped responding"),
        ("MemoryError", "out of memory"),
    ):
        if key in log_text:
            return why
    lines = [ln for ln in log_text.splitlines() if "Error" in ln or "error" in ln]
    return lines[-1].strip()[:200] if lines else "nbgrader failed (see autograde.log)"


def _finish(
    settings: Settings,
    record: dict[str, Any],
    result_path: Path,
    started: float,
    course: Path,
    layout: dict[str, list],
) -> dict[str, Any]:
    # every task of every notebook has a score: nothing skipped silently
    for name, tasks in layout.items():
        record["tasks"].setdefault(name, {})
        for t in tasks:
            record["tasks"][name].setdefault(
                t["grade_id"],
                {"score": 0.0, "max": t["points"], "outcome": "missing", "message": "not graded"},
            )
    flags = list(dict.fromkeys(record["flags"]))
    record["flags"] = flags
    record["status"] = next(s for s in STATUSES if s in flags or s == "graded")
    if record["status"] == "invalid" and any(
        t["outcome"] not in ("invalid", "missing")
        for nb in record["tasks"].values()
        for t in nb.values()
    ):
        record["status"] = "graded"  # another notebook of the assignment was graded
    record["score"] = sum(t["score"] for nb in record["tasks"].values() for t in nb.values())
    record["max_score"] = sum(t["max"] for nb in record["tasks"].values() for t in nb.values())
    record["seconds"] = round(time.monotonic() - started, 2)
    feedback_dir = course / "feedback" / record["student"] / record["assignment"]
    autograded = course / "autograded" / record["student"] / record["assignment"]
    for name in layout:
        page = feedback_dir / f"{name}.html"
        if not (autograded / f"{name}.ipynb").exists():
            # nbgrader writes no feedback for it (missing, invalid, crashed): say why
            feedback_dir.mkdir(parents=True, exist_ok=True)
            page.write_text(_stub_feedback(record, name), encoding="utf-8")
    write_json_atomic(result_path, record)
    return record


def _stub_feedback(record: dict[str, Any], name: str) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(g)}</td><td>{t['score']:g} / {t['max']:g}</td>"
        f"<td>{html.escape(t['message'])}</td></tr>"
        for g, t in record["tasks"][name].items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in record["notes"])
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title>"
        f"</head><body><h1>{html.escape(record['assignment'])}: {html.escape(name)}</h1>"
        f"<p>Status: <b>{record['status']}</b>. This notebook could not be run, so every task "
        f"scores 0.</p><ul>{notes}</ul><table border='1'><tr><th>task</th><th>score</th>"
        f"<th>why</th></tr>{rows}</table></body></html>"
    )


def stop_on_infrastructure(
    results: Iterator[tuple[int, Any]], n_jobs: int, first: int = 3
) -> Iterator[tuple[int, Any]]:
    """Pass the executor's results through; stop the run (InfrastructureError) when the first
    ``min(first, n_jobs)`` submissions all failed for a reason that is not the student's: an
    ``InfrastructureError`` (the kernel died as it started, the setup could not import torch or
    convlib) or any other exception of the runner or the cluster (a task graph the scheduler
    cannot deserialize). Such failures write no record; once one submission was graded, a later
    one is reported as crashed and retried by the next run (runner.py)."""
    held: list[tuple[int, Any]] = []
    decided = False
    for i, result in results:
        if decided:
            yield i, result
            continue
        infrastructure = isinstance(result, Exception) and not hasattr(result, "grading_note")
        if not infrastructure:
            decided = True
            yield from held
            held = []
            yield i, result
            continue
        held.append((i, result))
        if len(held) >= min(first, n_jobs):
            close = getattr(results, "close", None)
            if close is not None:
                close()  # cancels the submissions not started yet
            reasons = [str(r) for _, r in held]
            common = max(set(reasons), key=reasons.count)
            raise InfrastructureError(
                f"the first {len(held)} submissions failed for a reason that is not the "
                f"students': {common}. Grading stopped; no grade was written. Fix this, then run "
                "the same command again."
            )
    yield from held
