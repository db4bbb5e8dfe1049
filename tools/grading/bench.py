"""Scaling of grading on a Dask cluster: submissions per minute with 1, 2 and 4 workers.

    python -m tools.grading.bench [--workers 1,2,4] [--students 8] [--out DIR]

For each worker count it starts a real `dask scheduler` and that many `dask worker --nthreads 1`
processes on this machine, grades the same class (every student hands in ex01 answered with the
solution, so every submission costs the same) into a fresh OUT through `--scheduler`, and reads the
grading phase's rate from the runner's summary (the course preparation, the reference run, the
gradebook, the feedback and the export are outside it). The workers cannot go faster than the
cores they get: on a machine with C cores, more than C workers adds nothing.
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
    p = argparse.ArgumentParser(prog="python -m tools.grading.bench", description=__doc__)
    p.add_argument("--workers", default="1,2,4", help="worker counts (one thread each)")
    p.add_argument("--students", type=int, default=8, help="submissions in the class")
    p.add_argument("--out", type=Path, default=REPO / "bench_out" / "grading_cluster")
    a = p.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
