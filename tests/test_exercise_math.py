"""Every formula in every assignment's markdown renders in MathJax, and no prompt holds a control
character (a form feed once stood where the `\\f` of `\\frac` was, and the page showed "rac{...}").

The markdown cells of each student notebook are put on one page, code spans and blocks removed,
and typeset by the site's own vendored MathJax in headless Chromium with Jupyter's delimiters
(`$...$`, `$$...$$`); a formula that MathJax marks as an error or an undefined macro fails.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from site_browser import CHROMIUM_ARGS, ROOT, find_chromium, serve

NOTEBOOKS = sorted((ROOT / "exercises").glob("*/*.ipynb"))
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def markdown_cells(path: Path) -> list[tuple[str, str]]:
    """(cell id, markdown source) of every markdown cell of a notebook."""
    nb = nbformat.read(path, as_version=4)
    return [
        (str(c.get("id", i)), c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
    ]


def without_code(markdown: str) -> str:
    """The text MathJax would see in Jupyter: fenced blocks and `code spans` are not math."""
    markdown = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    return re.sub(r"`[^`]*`", " ", markdown)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_control_characters(path: Path) -> None:
    for cell in nbformat.read(path, as_version=4).cells:
        bad = CONTROL.search(cell.source)
        assert bad is None, f"{path.name}: cell {cell.get('id')} holds {bad.group()!r}"


def test_control_characters_are_found() -> None:
    assert CONTROL.search("\\frac{a}{b}".replace("\\f", "\f"))
    assert CONTROL.search("tab\tand newline\n") is None


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script>window.MathJax = {{tex: {{inlineMath: [["$", "$"]], displayMath: [["$$", "$$"]],
processEscapes: true}}}};</script><script src="mathjax/tex-chtml.js"></script></head>
<body>{cells}</body></html>"""

# After typesetting: every formula whose MathML has an error or an undefined (red) macro.
FIND_ERRORS = """async () => {
  await MathJax.startup.promise;
  const bad = [];
  const items = Array.from(MathJax.startup.document.math);
  for (const item of items) {
    const mml = MathJax.startup.toMML(item.root);
    if (mml.includes("<merror") || mml.includes('mathcolor="red"')) {
      const cell = item.start.node.parentElement.closest("[data-cell]");
      bad.push([cell ? cell.dataset.cell : "?", item.math]);
    }
  }
  return {count: items.length, bad: bad};
}"""


async def _typeset(chromium: str, url: str) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.goto(url)
        result = await page.evaluate(FIND_ERRORS)
        await browser.close()
    return dict(result)


def _page(cells: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<div data-cell="{html.escape(label)}">{html.escape(without_code(text))}</div>'
        for label, text in cells
    )
    return PAGE.format(cells=body)


def _render(tmp_path: Path, cells: list[tuple[str, str]]) -> dict[str, Any]:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed: `make browser`; the math was NOT checked")
    os.symlink(ROOT / "book" / "_static" / "mathjax", tmp_path / "mathjax")
    (tmp_path / "index.html").write_text(_page(cells), encoding="utf-8")
    with serve(tmp_path) as base:
        return asyncio.run(_typeset(chromium, f"{base}/index.html"))


@pytest.mark.slow
def test_every_formula_of_every_notebook_renders(tmp_path: Path) -> None:
    cells = [
        (f"{path.stem}:{cell_id}", text)
        for path in NOTEBOOKS
        for cell_id, text in markdown_cells(path)
    ]
    result = _render(tmp_path, cells)
    assert result["count"] >= 20, f"only {result['count']} formulas found: delimiters not read?"
    assert not result["bad"], "formulas MathJax cannot render:\n" + json.dumps(
        result["bad"], indent=1
    )


@pytest.mark.slow
def test_a_broken_formula_is_caught(tmp_path: Path) -> None:
    """The check fails on the form-feed accident and on an unknown macro, and passes good math."""
    broken = "$$\\frac{a}{b}$$".replace("\\f", "\f")
    cells = [("good", "$y = \\frac{1}{2} x^2$"), ("ff", broken), ("undef", "$\\notamacro{x}$")]
    result = _render(tmp_path, cells)
    assert result["count"] == 3
    assert sorted(label for label, _ in result["bad"]) == ["ff", "undef"]
