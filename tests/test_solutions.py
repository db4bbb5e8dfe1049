"""Every nbgrader source notebook runs top to bottom and passes its own visible and hidden tests.

Executed with papermill like an instructor would (``device`` parameter), one test per notebook and
device so pytest-xdist spreads them.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())


@pytest.mark.notebooks
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_passes_its_tests(name: str, device: str, tmp_path: Path) -> None:
    source = ROOT / "solutions" / name / f"{name}.ipynb"
    output = tmp_path / f"{name}.ipynb"
    start = time.perf_counter()
    papermill.execute_notebook(
        str(source),
        str(output),
        parameters={"device": device},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
        log_output=False,
    )
    elapsed = time.perf_counter() - start
    executed = nbformat.read(output, as_version=4)
    graded = [c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert graded, "no graded cells executed"
    for cell in graded:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{name} {cell.metadata['nbgrader']['grade_id']}: {errors}"
    # the notebook ran on the requested device (papermill injected the parameter)
    assert any(
        f'device = "{device}"' in c.source
        for c in executed.cells
        if "injected-parameters" in c.metadata.get("tags", [])
    )
    assert elapsed < 120, f"{name} took {elapsed:.1f} s"
