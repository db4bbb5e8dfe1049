"""Every chapter of the book runs top to bottom through papermill, on CPU and (when present) CUDA.

One test per chapter and device, so pytest-xdist spreads them over workers. The MyST markdown is
converted to a notebook with jupytext in a temporary folder and executed with the papermill
parameter ``device``; the working directory is ``book/chapters`` so relative paths work as in the
book build. A chapter still holding its placeholder text runs too (it has nothing to fail on).

Cached execution. ``make test`` builds the book first, and the build executes every chapter on the
CPU into jupyter-cache (``_build/.jupyter_cache``), keyed by the chapter's code cells. On the CPU
this test reads that execution when the cache holds one for exactly the current code (the same
cells, the same ``device = "cpu"``), instead of running the chapter a second time; otherwise, and
always on CUDA, it executes the chapter itself. The assertions are the same either way.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest
from jupyter_client.kernelspec import KernelSpecManager

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_DIR = ROOT / "book" / "chapters"
BUILD_CACHE = ROOT / "_build" / ".jupyter_cache"
CHAPTERS = sorted(CHAPTER_DIR.glob("*.md"))
PLACEHOLDER = "Placeholder until the chapter is written."
CELL_TIMEOUT_S = 120
# Glue references in the prose: {glue:}`name`, {glue:text}`name`, {glue:md}`name`, {glue:figure}...
GLUE_REF = re.compile(r"\{glue(?::[a-z]+)?\}`([^`<]+?)(?::[^`]*)?`")
GLUE_DIRECTIVE = re.compile(r"^```\{glue(?::[a-z]+)?\}\s+(\S+)", re.MULTILINE)


def _cached_execution(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The book build's CPU execution of exactly these code cells, if the cache holds one."""
    if not (BUILD_CACHE / "global.db").is_file():
        return None
    from jupyter_cache import get_cache

    cache = get_cache(str(BUILD_CACHE))
    try:
        record = cache.match_cache_notebook(notebook)
    except KeyError:  # this code was never executed by a build
        return None
    return cache.get_cache_bundle(record.pk).nb


def _is_placeholder(text: str) -> bool:
    return PLACEHOLDER in text


def _glued_names(notebook: nbformat.NotebookNode) -> set[str]:
    names = set()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                names.add(scrapbook["name"])
    return names


def test_chapters_exist() -> None:
    assert len(CHAPTERS) >= 15, [p.name for p in CHAPTERS]


def test_kernel_is_this_python() -> None:
    """papermill's ``python3`` kernel must run this interpreter (the venv) to find convlib."""
    spec = KernelSpecManager().get_kernel_spec("python3")
    # jupyter_client swaps a bare "python"/"python3" for sys.executable when it starts the kernel.
    launcher = spec.argv[0]
    assert (
        launcher in {"python", "python3", sys.executable}
        or Path(launcher).resolve() == Path(sys.executable).resolve()
    ), (
        f"kernelspec python3 at {spec.resource_dir} launches {launcher}, not {sys.executable}; "
        f"run: {sys.executable} -m ipykernel install --sys-prefix --name python3"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_format(chapter: Path) -> None:
    """PLAN.md conventions: top label, one parameters cell with device, seeded, glue defined."""
    text = chapter.read_text(encoding="utf-8")
    assert text.startswith("---\njupytext:"), "the chapter needs the jupytext MyST header"
    if _is_placeholder(text):
        return
    number = chapter.name[:2]
    assert f"(ch-{number})=" in text, f"missing the label (ch-{number})= before the title"
    notebook = jupytext.reads(text, fmt="md:myst")
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one code cell must be tagged parameters"
    assert re.search(r'^device\s*=\s*"cpu"\s*$', tagged[0].source, re.MULTILINE), tagged[0].source
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "manual_seed" in code, "seed torch so the chapter is deterministic"
    glued_in_prose = set(GLUE_REF.findall(text)) | set(GLUE_DIRECTIVE.findall(text))
    for name in glued_in_prose:
        assert re.search(rf"glue\(\s*[\"']{re.escape(name)}[\"']", code), f"{name} is never glued"


@pytest.mark.notebooks
@pytest.mark.timeout(600)
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes(
    chapter: Path, device: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits this environment: one BLAS thread per worker, like the rest of the suite.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    text = chapter.read_text(encoding="utf-8")
    notebook = jupytext.reads(text, fmt="md:myst")
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cached = _cached_execution(notebook) if device == "cpu" else None
    if cached is not None:
        code = [c.source for c in notebook.cells if c.cell_type == "code"]
        assert [c.source for c in cached.cells if c.cell_type == "code"] == code
        result = cached
    else:
        source = tmp_path / f"{chapter.stem}.ipynb"
        executed = tmp_path / f"{chapter.stem}.{device}.ipynb"
        nbformat.write(notebook, source)
        papermill.execute_notebook(
            str(source),
            str(executed),
            parameters={"device": device},
            kernel_name="python3",
            cwd=str(chapter.parent),
            execution_timeout=CELL_TIMEOUT_S,
            progress_bar=False,
            log_output=False,
        )
        result = nbformat.read(executed, as_version=4)

    errors = [
        o for c in result.cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors, errors
    if not _is_placeholder(text):
        # Every number the prose quotes must have been glued by an executed cell.
        wanted = set(GLUE_REF.findall(text)) | set(GLUE_DIRECTIVE.findall(text))
        missing = wanted - _glued_names(result)
        assert not missing, f"glued in the prose but never glued when run: {sorted(missing)}"
