"""What nbgrader's exchange needs next to the feedback, so `nbgrader release_feedback` works on
the runner's output.

`nbgrader submit` puts `timestamp.txt` and `submission_secret.txt` in every submission and
`nbgrader collect` copies them to `submitted/<student>/<assignment>/`. `release_feedback` reads
both from each `feedback/<student>/<assignment>/` folder (the feedback page is published under
a hash of the secret, and `fetch_feedback` finds it with the copy the student kept), and fails on
a folder without them. The runner grades a copy of the notebooks, so it copies the two files
from the class folder into the feedback folders here.

In a class collected through the exchange, a feedback folder whose submission has no secret (the
stub page for an assignment never handed in) gets a fresh random secret and a timestamp no
student could match: the page is published under a hash nobody can compute, and
`release_feedback` does not stop on it. A class that did not come through the exchange (no
secrets at all) is left alone.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FILES = ("timestamp.txt", "submission_secret.txt")


def add_exchange_files(class_dir: Path, course: Path, assignments: Sequence[str]) -> int:
    """Copy timestamp.txt and submission_secret.txt next to each feedback page; returns how many
    feedback folders got the submission's own files."""
    copied = 0
    for a in assignments:
        if not any(class_dir.glob(f"*/{a}/submission_secret.txt")):
            continue  # not collected through the exchange
        for folder in sorted((course / "feedback").glob(f"*/{a}")):
            student = folder.parent.name
            sub = class_dir / student / a
            if all((sub / f).is_file() for f in FILES):
                for f in FILES:
                    shutil.copyfile(sub / f, folder / f)
                copied += 1
                continue
            for f in FILES:
                (folder / f).unlink(missing_ok=True)
            (folder / "timestamp.txt").write_text("1970-01-01 00:00:00.000000 UTC")
            (folder / "submission_secret.txt").write_text(secrets.token_hex(64))
    return copied


def course_feedback_dir(config: Any, course_root: Path) -> Path:
    """Where the course's nbgrader configuration makes `release_feedback` look for feedback."""
    cd = config.get("CourseDirectory", {})
    root = Path(cd.get("root") or course_root)
    return root / cd.get("feedback_directory", "feedback")
