"""Command line: grade a class folder (`CLASS/<student>/<assignment>/<notebook>.ipynb`).

python -m tools.grading CLASS [--out OUT] [--device cuda] [--jobs N] [--assignments a,b]
    [--scheduler tls://host:8786 | --scheduler scheduler.json] [--tls-dir DIR]   (cluster.py)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .runner import REPO, Settings, grade_class


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.grading", description=__doc__.split("\n")[0])
    p.add_argument("class_dir", type=Path, help="folder of <student>/<assignment>/*.ipynb")
    p.add_argument("--out", type=Path, help="output folder (default: CLASS/../graded)")
    p.add_argument("--course-root", type=Path, default=REPO, help="course with solutions/")
    p.add_argument("--assignments", default="", help="comma-separated (default: all handed in)")
    p.add_argument(
        "--roster",
        type=Path,
        help="CSV with an `id` column (nbgrader's roster): every student in it is graded, 0 and "
        "`missing` for one without a folder, and only they (default: the folders of CLASS); "
        "its first_name, last_name, email (and extension) columns go into the gradebook",
    )
    p.add_argument(
        "--extensions",
        type=Path,
        help="CSV with columns id, assignment (empty: every one), extension (2d, 36h, ...): "
        "nbgrader's per-student extensions, written into the gradebook (tools/grading/late.py)",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (sets CONVLIB_DEVICE)")
    p.add_argument(
        "--jobs",
        type=int,
        default=0,
        help="parallel submissions (default: one per CPU core; on cuda, one per visible GPU)",
    )
    p.add_argument("--cell-timeout", type=int, default=30, help="seconds per cell")
    p.add_argument("--submission-timeout", type=int, default=600, help="seconds per submission")
    p.add_argument("--mem-limit-mb", type=int, default=4096, help="kernel memory cap on CPU")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--sandbox",
        choices=("auto", "bwrap", "none"),
        default="auto",
        help="kernel sandbox: auto (bubblewrap; if it cannot run, a warning and in-process "
        "guards only), bwrap (required), none (in-process guards only)",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="nbgrader_config.py with due dates and the late penalty (default: the course's)",
    )
    p.add_argument("--reference-dir", type=Path, help="cache of reference runs (default: in OUT)")
    p.add_argument(
        "--scheduler",
        default="",
        help="grade on this Dask cluster (address or scheduler file); workers must share the "
        "course, CLASS and OUT (see tools/grading/cluster.py); default: this machine",
    )
    p.add_argument(
        "--tls-dir",
        type=Path,
        help="the cluster's certificates (`python -m tools.grading.cluster certs DIR`)",
    )
    p.add_argument(
        "--insecure-cluster",
        action="store_true",
        help="allow a scheduler that is neither TLS nor on the loopback interface",
    )
    a = p.parse_args(argv)
    # nbgrader's gradebook runs `alembic` from PATH (in this process too): the venv's, as if
    # it were activated
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    if not a.class_dir.is_dir():
        p.error(f"class folder {a.class_dir} does not exist")
    students: list[str] = []
    if a.roster:
        import csv

        with open(a.roster, encoding="utf-8", newline="") as f:
            students = [row["id"].strip() for row in csv.DictReader(f) if row.get("id", "").strip()]
        if not students:
            p.error(f"roster {a.roster} has no `id` column or no students")
    settings = Settings(
        class_dir=a.class_dir,
        out_dir=a.out or a.class_dir.resolve().parent / "graded",
        course_root=a.course_root,
        assignments=[x for x in a.assignments.split(",") if x],
        students=students,
        device=a.device,
        jobs=a.jobs,
        cell_timeout=a.cell_timeout,
        submission_timeout=a.submission_timeout,
        mem_limit_mb=a.mem_limit_mb,
        progress=not a.no_progress,
        sandbox=a.sandbox,
        config_file=a.config,
        reference_dir=a.reference_dir,
        roster_file=a.roster,
        extensions_file=a.extensions,
    )
    executor = None
    if a.scheduler:
        from .cluster import DaskExecutor

        executor = DaskExecutor(a.scheduler, tls_dir=a.tls_dir, insecure=a.insecure_cluster)
    from .prepare import InfrastructureError

    try:
        summary = grade_class(settings, executor=executor)
    except InfrastructureError as exc:  # nobody graded: say what to fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    print(f"report: {settings.out_dir / 'report.md'}\ngrades: {settings.out_dir / 'grades.csv'}")
    print(f"feedback: {settings.out_dir / 'course' / 'feedback'}")
    return 1 if summary["export_mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
