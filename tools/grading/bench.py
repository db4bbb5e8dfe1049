"""Scaling of grading on a Dask cluster: submissions per minute with 1, 2 and 4 workers.

    python -m tools.grading.bench [--workers 1,2,4] [--students 8] [--out DIR]

For each worker count it starts a real `dask scheduler` and that many `dask worker --nthreads 1`
processes on this machine, grades the same class (every student hands in ex01 answered with the
solution, so every submission costs the same) into a fresh OUT through `--scheduler`, and reads the
grading phase's rate from the runner's summary (the course preparation, the reference run, the
gradebook, the feedback and the export are outside it). The workers cannot go faster than the
cores they get: on a machine with C cores, more than C workers adds nothing.

    python -m tools.grading.bench --compare-nbgrader [--jobs 1,2,4] [--students 12] [--rounds 2]

grades one class of ex01 (honest variations and wrong answers, tests/grading_corpus.py) both
ways, in the same run, for each number of jobs: plain `nbgrader autograde` (one process per job,
each over its share of the class in its own course and gradebook: one process cannot grade in
parallel on one SQLite gradebook) and the runner (`python -m tools.grading --jobs N`, the whole
command: preparation, the probe kernel, grading, gradebook, feedback and export). Each timing is
the best of ``--rounds``, the two ways alternating; the spread (worst - best) is printed with it.
The plain side is timed twice: `nbgrader autograde` alone (first column), and autograde followed
by `nbgrader generate_feedback` and `nbgrader export` (second column: what an instructor runs to get
the outputs the runner writes: grades, feedback pages, a CSV). The reference run is warm: it is
made once before the clock starts into a cache every timed run reads (as on any run after the
first), so no timed column contains it. The notebooks'
own checks run in both (plain nbgrader: assertions in the kernel; the runner: records judged
outside it), and the total points of the class are printed for both: they must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .runner import REPO

DASK = Path(sys.executable).with_name("dask")


def build_class(dest: Path, students: int) -> str:
    """`students` identical honest submissions of ex01 (tests/faulty_class.py's builders)."""
    sys.path.insert(0, str(REPO / "tests"))
    import faulty_class as fc

    good = fc.answered(fc.solution_answers())
    for i in range(students):
        fc.write(dest, f"student_{i:03d}", good)
    return fc.A


def start_cluster(root: Path, workers: int) -> tuple[Path, list[subprocess.Popen]]:
    sched_file = root / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    log = open(root / "dask.log", "ab")  # noqa: SIM115 (kept open by the processes)

    def start(cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    procs = [
        start(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(sched_file)]
        )
    ]
    while not sched_file.exists():
        time.sleep(0.2)
    procs.append(
        start(
            [str(DASK), "worker", "--scheduler-file", str(sched_file), "--nthreads", "1"]
            + ["--nworkers", str(workers), "--no-dashboard", "--host", "127.0.0.1"]
            + ["--preload", "tools.grading.runner"]  # imported before the clock starts
        )
    )
    return sched_file, procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.grading.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workers", default="1,2,4", help="worker counts (one thread each)")
    p.add_argument("--students", type=int, default=8, help="submissions in the class")
    p.add_argument("--out", type=Path, default=None, help="scratch folder (under bench_out/)")
    p.add_argument("--compare-nbgrader", action="store_true", help="the runner vs nbgrader")
    p.add_argument("--jobs", default="1,2,4", help="--compare-nbgrader: job counts")
    p.add_argument("--rounds", type=int, default=2, help="--compare-nbgrader: best of N")
    a = p.parse_args(argv)
    if a.compare_nbgrader:
        out = a.out or REPO / "bench_out" / "compare_nbgrader"
        jobs = [int(x) for x in a.jobs.split(",")]
        return compare_nbgrader(out, a.students if a.students != 8 else 12, jobs, a.rounds)
    a.out = a.out or REPO / "bench_out" / "grading_cluster"
    load0 = os.getloadavg()[0]
    shutil.rmtree(a.out, ignore_errors=True)
    class_dir = a.out / "submitted"
    assignment = build_class(class_dir, a.students)

    results = []
    for n in [int(x) for x in a.workers.split(",")]:
        out = a.out / f"workers-{n}"
        root = a.out / f"dask-{n}"
        root.mkdir()
        sched_file, procs = start_cluster(root, n)
        try:
            t0 = time.monotonic()
            cmd = [sys.executable, "-m", "tools.grading", str(class_dir), "--out", str(out)]
            cmd += ["--scheduler", str(sched_file), "--no-progress"]
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            total = time.monotonic() - t0
        finally:
            stop(procs)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            return 1
        summary = json.loads((out / "summary.json").read_text())
        assert summary["graded_now"] == a.students, summary
        results.append(
            {
                "workers": n,
                "submissions": a.students,
                "grading_s": round(summary["elapsed_s"], 1),
                "per_minute": round(summary["per_minute"], 2),
                "command_s": round(total, 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    one = results[0]["per_minute"]
    lines = [
        f"{a.students} submissions of {assignment}, {os.cpu_count()} CPU cores, "
        f"load average at the start: {load0:.1f}",
        "",
        "| workers | grading (s) | submissions/min | speed-up vs 1 worker | whole command (s) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        r["speedup"] = round(r["per_minute"] / one, 2) if one else 0.0
        lines.append(
            f"| {r['workers']} | {r['grading_s']} | {r['per_minute']} | {r['speedup']} | "
            f"{r['command_s']} |"
        )
    (a.out / "bench.json").write_text(json.dumps(results, indent=1))
    (a.out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


# --------------------------------------------------------------------------------------------
# the runner against plain nbgrader


def compare_class(dest: Path, students: int) -> str:
    """``students`` submissions of ex01: the solution with one piece of ordinary Python each
    (tests/grading_corpus.py's honest kinds, in turn), every third with a wrong ``corr2d``.
    Returns the assignment."""
    sys.path.insert(0, str(REPO / "tests"))
    import grading_corpus as corpus
    import nbformat

    a = corpus.EX01
    kinds = [k for k in corpus.HONEST if k not in ("cell_time", "os_and_shell")]
    for i in range(students):
        nb = corpus._honest(a, kinds[i % len(kinds)])
        if i % 3 == 2:
            nb = corpus.notebook(a, {"corr2d": corpus.wrong(a, "corr2d")})
        folder = dest / f"student_{i:03d}" / a
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{a}.ipynb")
    return a


PLAIN_CONFIG = """c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.Execute.timeout = 30
"""


def plain_courses(root: Path, class_dir: Path, a: str, shards: int) -> list[Path]:
    """``shards`` nbgrader courses (the instructor's solution as source, `generate_assignment`
    done), each with its share of the class under submitted/: the one-process-per-job layout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    students = sorted(p.name for p in class_dir.iterdir())
    courses = []
    for k in range(shards):
        course = root / f"course-{k}"
        shutil.rmtree(course, ignore_errors=True)
        shutil.copytree(REPO / "solutions" / a, course / "source" / a)
        (course / "nbgrader_config.py").write_text(PLAIN_CONFIG.format(root=str(course)))
        gen = [sys.executable, "-m", "nbgrader", "generate_assignment", a, "--force"]
        subprocess.run(gen, cwd=course, env=env, capture_output=True, check=True)
        for s in students[k::shards]:
            shutil.copytree(class_dir / s, course / "submitted" / s)
        courses.append(course)
    return courses


def plain_total(courses: list[Path], a: str) -> float:
    """The class's points in the plain courses' gradebooks."""
    from nbgrader.api import Gradebook

    total = 0.0
    for course in courses:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            total += sum(sub.score for sub in gb.assignment_submissions(a))
    return total


def time_plain(root: Path, class_dir: Path, a: str, jobs: int) -> tuple[float, float, float]:
    """Wall seconds of `nbgrader autograde` over the class in ``jobs`` processes at once (the
    courses prepared before the clock); wall seconds of autograde then `generate_feedback` then
    `export` (each course's three in turn, the courses at once); the points given to the class."""
    courses = plain_courses(root, class_dir, a, jobs)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")

    def run_all(step: list[str]) -> None:
        cmd = [sys.executable, "-m", "nbgrader", *step]
        procs = [
            subprocess.Popen(
                cmd, cwd=c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for c in courses
        ]
        codes = [proc.wait() for proc in procs]
        if any(codes):
            raise RuntimeError(f"nbgrader {step[0]} failed in {root}: {codes}")

    t0 = time.monotonic()
    run_all(["autograde", a, "--force"])
    autograde = time.monotonic() - t0
    run_all(["generate_feedback", a, "--force"])
    run_all(["export"])
    full = time.monotonic() - t0
    for c in courses:  # the outputs the runner also writes
        assert (c / "grades.csv").exists() and any((c / "feedback").rglob("*.html")), c
    return autograde, full, plain_total(courses, a)


def time_runner(out: Path, class_dir: Path, jobs: int, refs: Path) -> tuple[float, float, float]:
    """Wall seconds of the whole runner command (fresh OUT: nothing resumed), its grading
    phase, and the points it gave the class."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "tools.grading", str(class_dir), "--out", str(out)]
    cmd += ["--jobs", str(jobs), "--no-progress", "--reference-dir", str(refs)]
    t0 = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"the runner failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    with open(out / "report.csv", encoding="utf-8") as f:
        import csv

        total = sum(float(row["score"]) for row in csv.DictReader(f))
    return seconds, summary["elapsed_s"], total


def compare_nbgrader(out: Path, students: int, jobs: list[int], rounds: int) -> int:
    """Print and save (OUT/compare.md, .json) seconds per submission both ways, and the ratio."""
    load0 = os.getloadavg()
    shutil.rmtree(out, ignore_errors=True)
    class_dir = out / "submitted"
    a = compare_class(class_dir, students)
    refs = out / "references"
    warm = out / "warm"  # the reference run (cached) and the OS's file cache, before the clock
    build_one = warm / "submitted" / "student_000" / a
    shutil.copytree(class_dir / "student_000" / a, build_one)
    time_runner(warm / "graded", warm / "submitted", 1, refs)
    rows = []
    for n in jobs:
        plain, full, runner, phase = [], [], [], []
        for _ in range(rounds):
            seconds, whole, plain_points = time_plain(out / f"plain-{n}", class_dir, a, n)
            plain.append(seconds)
            full.append(whole)
            seconds, grading, runner_points = time_runner(out / f"runner-{n}", class_dir, n, refs)
            runner.append(seconds)
            phase.append(grading)
        row = {
            "jobs": n,
            "plain_s_per_sub": round(min(plain) / students, 2),
            "plain_spread": round((max(plain) - min(plain)) / students, 2),
            "plain_full_s_per_sub": round(min(full) / students, 2),
            "plain_full_spread": round((max(full) - min(full)) / students, 2),
            "runner_s_per_sub": round(min(runner) / students, 2),
            "runner_spread": round((max(runner) - min(runner)) / students, 2),
            "runner_grading_s_per_sub": round(min(phase) / students, 2),
            "runner_grading_spread": round((max(phase) - min(phase)) / students, 2),
            "ratio": round(min(runner) / min(plain), 2),
            "ratio_full": round(min(runner) / min(full), 2),
            "per_round": {"plain": plain, "plain_full": full, "runner": runner, "grading": phase},
            "points_plain": plain_points,
            "points_runner": runner_points,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    load1 = os.getloadavg()
    lines = [
        f"{students} submissions of {a}, {os.cpu_count()} CPU cores, best of {rounds} "
        f"(spread: worst - best), load average {load0[0]:.1f} at the start, "
        f"{load1[0]:.1f} at the end; the reference run warm (cached before the clock)",
        "",
        "| jobs | plain autograde (s/sub) | plain autograde + feedback + export (s/sub) | "
        "runner, whole command (s/sub) | runner, grading phase (s/sub) | "
        "runner / plain autograde | runner / plain with feedback + export | points plain, runner |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['jobs']} | {r['plain_s_per_sub']} ± {r['plain_spread']} | "
            f"{r['plain_full_s_per_sub']} ± {r['plain_full_spread']} | "
            f"{r['runner_s_per_sub']} ± {r['runner_spread']} | "
            f"{r['runner_grading_s_per_sub']} ± {r['runner_grading_spread']} | "
            f"{r['ratio']} | {r['ratio_full']} | {r['points_plain']:g}, {r['points_runner']:g} |"
        )
    (out / "compare.json").write_text(json.dumps(rows, indent=1))
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    ok = all(r["points_plain"] == r["points_runner"] for r in rows)  # the same grades
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
