"""What the page shows runs on its own: a reader who copies the visible cells gets no NameError.

Each chapter hides its bookkeeping (``glue``, asserts, figure plumbing) in cells tagged
``remove-cell`` or ``remove-input``. The code a reader sees must not depend on those cells. For
every chapter this test takes the code cells without either tag, in order, and executes them alone
in one fresh namespace, with matplotlib's Agg backend and the working directory the book build
uses. Nothing is skipped. It fails on any exception and on any warning (a warning prints on the
page, under the cell).

The one hidden cell that runs is the ``parameters`` cell (``device = "cpu"``): it is the notebook's
input, which papermill replaces to rerun a chapter on CUDA (``tests/test_chapters.py``), not
bookkeeping. ``tests/test_teaching_pages.py`` keeps it hidden and ``test_chapter_format`` keeps it
to that one assignment.

One test per chapter, so pytest-xdist spreads them over workers; the cells run in this process
(torch is already imported), with the random state restored afterwards.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import jupytext
import matplotlib
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_DIR = ROOT / "book" / "chapters"
CHAPTERS = sorted(CHAPTER_DIR.glob("*.md"))
HIDDEN_TAGS = {"remove-cell", "remove-input"}


def visible_cells(chapter: Path) -> list[str]:
    """The chapter's parameters cell, then every code cell a reader sees, in page order."""
    notebook = jupytext.reads(chapter.read_text(encoding="utf-8"), fmt="md:myst")
    cells = []
    for cell in notebook.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "code" and ("parameters" in tags or not tags & HIDDEN_TAGS):
            cells.append(cell.source)
    return cells


def test_visible_cells_found() -> None:
    assert len(CHAPTERS) >= 16
    # 01's first visible cell imports torch: the extraction sees the page's code.
    assert any("import torch" in cell for cell in visible_cells(CHAPTERS[0]))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_visible_cells_run_alone(chapter: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(chapter.parent)
    namespace: dict[str, object] = {"__name__": "__main__"}
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for number, source in enumerate(visible_cells(chapter), start=1):
            code = compile(source, f"{chapter.name}, visible cell {number}", "exec")
            try:
                exec(code, namespace)
            except Exception as error:
                raise AssertionError(
                    f"{chapter.name}: visible cell {number} fails when the visible cells run "
                    f"alone ({type(error).__name__}: {error}):\n{source}"
                ) from error
            finally:
                plt.close("all")
    printed = [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught]
    assert not printed, f"{chapter.name}: visible cells print warnings on the page: {printed}"
