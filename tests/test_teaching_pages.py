"""The code on the page is the code that runs: every chapter displays its from-scratch functions.

Each chapter shows functions of ``convlib.teaching`` with ``literalinclude`` + ``:pyobject:``. This
file proves, by reading the chapter sources, that

- every chapter displays at least one teaching function, and every displayed object exists;
- the chapter imports each displayed function from the module it displays, and calls it;
- every function of the teaching layer is displayed by some chapter and tested against torch
  (named in a ``tests/test_teaching_*.py`` file);
- no visible code cell holds bookkeeping (``glue(`` or a bare ``assert``): that executes hidden;
- the teaching layer stays readable: short functions, about a thousand lines in all.

The values themselves are checked against torch in ``tests/test_teaching_*.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book" / "chapters").glob("*.md"))
TEACHING = ROOT / "convlib" / "teaching"
MODULES = sorted(p for p in TEACHING.glob("ch*.py"))
HIDDEN_TAGS = {"remove-input", "remove-cell"}
MAX_FUNCTION_LINES = 25  # code lines, without docstring, comments or blank lines (target: 20)
MAX_TOTAL_LINES = 1150  # the whole teaching layer, every line counted (target: ~1,000)

INCLUDE = re.compile(r"^```\{literalinclude\}\s+(\S+)\s*\n((?:\s*:[\w-]+:.*\n)*)", re.MULTILINE)
PYOBJECT = re.compile(r":pyobject:\s*(\S+)")


def _displayed(chapter: Path) -> list[tuple[Path, str]]:
    text = chapter.read_text(encoding="utf-8")
    shown = []
    for match in INCLUDE.finditer(text):
        obj = PYOBJECT.search(match.group(2))
        if obj:
            shown.append(((chapter.parent / match.group(1)).resolve(), obj.group(1)))
    return shown


def _code_cells(chapter: Path) -> list[tuple[str, set[str]]]:
    notebook = jupytext.reads(chapter.read_text(encoding="utf-8"), fmt="md:myst")
    return [
        (c.source, set(c.metadata.get("tags", []))) for c in notebook.cells if c.cell_type == "code"
    ]


def _top_level(module: Path) -> dict[str, ast.AST]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    }


def _imported_names(code: str, module: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module == f"convlib.teaching.{module}":
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def _called_names(code: str) -> set[str]:
    called: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                called.add(func.id)
            elif isinstance(func, ast.Attribute):
                called.add(func.attr)
                if func.attr == "apply" and isinstance(func.value, ast.Name):
                    called.add(func.value.id)  # an autograd Function runs as Function.apply(...)
    return called


def _python(source: str) -> str:
    # IPython magics and shell escapes are not Python; drop them before parsing.
    lines = source.splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_displays_and_calls_its_code(chapter: Path) -> None:
    shown = _displayed(chapter)
    assert shown, f"{chapter.name} displays no function of convlib.teaching"
    code = "\n".join(_python(source) for source, _ in _code_cells(chapter))
    called = _called_names(code)
    for path, name in shown:
        assert path.parent == TEACHING, f"{chapter.name} displays {path}, not the teaching layer"
        assert path.exists(), f"{chapter.name} displays a missing file {path}"
        objects = _top_level(path)
        assert name in objects, f"{chapter.name} displays {name}, which {path.name} does not define"
        assert name in _imported_names(code, path.stem), (
            f"{chapter.name} displays {name} but never imports it from convlib.teaching.{path.stem}"
        )
        assert name in called, f"{chapter.name} displays {name} but never calls it"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_bookkeeping_is_hidden(chapter: Path) -> None:
    for source, tags in _code_cells(chapter):
        if tags & HIDDEN_TAGS:
            continue
        assert "glue(" not in source, f"{chapter.name}: a visible cell calls glue:\n{source}"
        assert not re.search(r"^\s*assert\s", source, re.MULTILINE), (
            f"{chapter.name}: a visible cell holds a bare assert (hide it):\n{source}"
        )
    parameters = [tags for _, tags in _code_cells(chapter) if "parameters" in tags]
    assert all(tags & HIDDEN_TAGS for tags in parameters), "hide the device parameters cell"


def test_every_teaching_function_is_displayed_and_tested() -> None:
    assert MODULES, "convlib/teaching has no chapter modules"
    displayed = {(path, name) for chapter in CHAPTERS for path, name in _displayed(chapter)}
    tests = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.glob("tests/test_teaching_*.py"))
    for module in MODULES:
        for name in _top_level(module):
            assert (module.resolve(), name) in displayed, (
                f"convlib.teaching.{module.stem}.{name} is shown by no chapter"
            )
            assert re.search(rf"\b{name}\b", tests), f"{module.stem}.{name} has no test"


def _code_lines(node: ast.AST, source: list[str]) -> int:
    assert isinstance(node, ast.FunctionDef | ast.ClassDef)
    body = node.body
    start = body[0].end_lineno if ast.get_docstring(node) else node.lineno
    lines = source[start : node.end_lineno]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def test_teaching_layer_is_short() -> None:
    total = 0
    for module in MODULES:
        source = module.read_text(encoding="utf-8").splitlines()
        total += len(source)
        for name, node in _top_level(module).items():
            if isinstance(node, ast.FunctionDef):
                assert _code_lines(node, source) <= MAX_FUNCTION_LINES, (
                    f"{module.stem}.{name} is too long to read on a page"
                )
    assert total <= MAX_TOTAL_LINES, f"the teaching layer has {total} lines"
