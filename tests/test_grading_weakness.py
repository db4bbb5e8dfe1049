"""Two cheats that once beat plain `nbgrader autograde` + convlib.check, now stopped there too.

The hidden tests run in the student's kernel, after the student's cells. Two cells a student can
add made wrong answers score full points when the notebook was executed the way nbgrader does:

- an IPython input transformer that rewrites every later cell mentioning `check` into `pass`;
- a fake `importlib` in `sys.modules`, so the hidden tests' "fresh" `importlib.import_module(
  "convlib.check")` returns an object whose every check does nothing.

Importing convlib.check in a notebook now installs its cell guard (convlib.tamper): such a cell
does not run, it raises why, and every later check repeats it. So even without the grading
runner (which also finds both statically and judges outside the kernel), the wrong answers fail.
These were strict xfails documenting the weakness; they now assert it is closed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import faulty_class as fc  # noqa: E402

pytestmark = [pytest.mark.notebooks, pytest.mark.timeout(600)]

CHEATS = {
    "input_transformer": (
        "get_ipython().input_transformers_cleanup.append(\n"
        "    lambda lines: ['pass\\n'] if any('check' in l for l in lines) else lines)"
    ),
    "fake_importlib": (
        "import sys, types\nfake = types.ModuleType('importlib')\n"
        "class Ok:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"
        "fake.import_module = lambda name: Ok()\nsys.modules['importlib'] = fake\ncheck = Ok()"
    ),
}


@pytest.mark.parametrize("cheat", sorted(CHEATS))
def test_cheat_with_wrong_answers_fails_the_hidden_tests(cheat: str, tmp_path: Path) -> None:
    nb = nbformat.read(REPO / "solutions" / fc.A / f"{fc.A}.ipynb", as_version=4)
    good = fc.solution_answers()
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in good:
            c.source = fc.wrong_answer(good[gid])
    first = next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")
    )
    nb.cells.insert(first, nbformat.v4.new_code_cell(CHEATS[cheat]))
    NotebookClient(
        nb, timeout=120, allow_errors=True, resources={"metadata": {"path": tmp_path}}
    ).execute()
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") and meta["grade_id"] == "test_conv2d":
            errors = [o for o in c.outputs if o.output_type == "error"]
            assert errors, "wrong conv2d passed its tests"
            assert errors[0].ename == "TamperingError"
            assert "changes the grading environment" in " ".join(errors[0].evalue.split())
