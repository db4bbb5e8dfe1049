"""Run an instructor's source notebook with the checks in ``reference`` mode; save its records.

    python reference.py NOTEBOOK OUT.json TIMEOUT

Run by the runner once per assignment (cached by content), in the grading kernel without the
sandbox: it is the course's own code. The records say, for every check call of every test cell
(hidden tests included), what it expects: the grader judges students' results against them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import extract  # noqa: E402


def main(argv: list[str]) -> int:
    notebook, out, timeout = Path(argv[0]), Path(argv[1]), int(argv[2])
    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="grading-reference-") as tmp:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}}
        )
        client.execute()  # an error in the instructor's notebook stops grading
    out.write_text(json.dumps(extract(nb)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
