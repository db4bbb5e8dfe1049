"""The private variant of the site (scripts/private_site.py): no solution, no hidden test.

A private term builds the site with `site_publish_solutions: false` and without the instructor
pages. Every file of that build (pages, search index, downloads, executed notebooks, sources) is
searched for the solutions' and hidden tests' code, and the site is opened in Chromium: it works,
and searching it finds no solution. The public build is tested as it is by tests/test_site.py.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from site_browser import ROOT, crawl, find_chromium, serve, site_pages

sys.path.insert(0, str(ROOT / "scripts"))
import private_site  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def _public_text() -> str:
    """Everything a public reader may see anyway: the book's sources, convlib, the exercises."""
    parts = [p.read_text(encoding="utf-8") for p in (ROOT / "book").rglob("*.md")]
    parts += [p.read_text(encoding="utf-8") for p in (ROOT / "convlib").rglob("*.py")]
    for path in (ROOT / "exercises").rglob("*.ipynb"):  # the cells as written, not JSON-escaped
        parts += [cell.source for cell in nbformat.read(path, as_version=4).cells]
    return "\n".join(parts)


def secret_lines() -> list[str]:
    """Lines of the solutions and hidden tests that appear nowhere public (so they can only reach
    a build through the solution sources): long enough to be distinctive."""
    public = _public_text()
    secret: set[str] = set()
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            regions = re.findall(
                r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END (?:SOLUTION|HIDDEN TESTS)",
                cell.source,
                flags=re.S,
            )
            for region in regions:
                for line in region.splitlines():
                    line = line.strip()
                    if len(line) >= 30 and line not in public:
                        secret.add(line)
    return sorted(secret)


@pytest.fixture(scope="module")
def private_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("private-site")
    private_site.build(out)
    return out


def _files(folder: Path) -> Iterator[Path]:
    yield from (p for p in folder.rglob("*") if p.is_file())


def leaks(folder: Path, secrets: list[str]) -> list[str]:
    """Solution code found in any file under ``folder``: as written, HTML-escaped (pages) or
    JSON-escaped (notebooks, search data)."""
    found = []
    for path in _files(folder):
        raw = path.read_bytes().decode("utf-8", errors="replace")
        text = html.unescape(raw).replace('\\"', '"').replace("\\n", "\n")
        found += [f"{path.name}: {m}" for m in MARKERS if m in text]
        found += [f"{path.name}: {line[:60]}" for line in secrets if line in text]
    return found


def test_the_search_finds_solutions_where_they_are(tmp_path: Path) -> None:
    """The detector works: it finds solution code in a solution source, and in a page quoting it."""
    secrets = secret_lines()
    assert len(secrets) >= 50
    source = ROOT / "solutions" / "ex01_cross_correlation" / "ex01_cross_correlation.ipynb"
    (tmp_path / "copy.ipynb").write_bytes(source.read_bytes())
    assert len(leaks(tmp_path, secrets)) >= 5
    (tmp_path / "copy.ipynb").unlink()
    (tmp_path / "page.html").write_text(f"<pre>{html.escape(secrets[0])}</pre>")
    assert leaks(tmp_path, secrets) == [f"page.html: {secrets[0][:60]}"]


def test_no_solution_or_hidden_test_anywhere(private_build: Path) -> None:
    found = leaks(private_build / "_build", secret_lines())
    assert not found, "the private site holds solution code:\n" + "\n".join(found[:20])


def test_no_solution_downloads_and_no_instructor_pages(private_build: Path) -> None:
    html = private_build / "_build" / "html"
    assert (html / "index.html").is_file()
    assert not (html / "_downloads" / "solutions").exists()
    assert not (html / "book" / "instructors.html").exists()
    assert not (html / "book" / "instructor_guide.html").exists()
    assert (html / "_downloads" / "exercises" / "ex01_cross_correlation.ipynb").is_file()
    intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
    assert "optional-page-left-out" in intro  # the intro's link to the instructors, as text
    assert 'href="instructors.html' not in intro


def test_private_site_in_the_browser(private_build: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed: `make browser`")
    html = private_build / "_build" / "html"
    pages = site_pages(html)
    with serve(html) as base:
        result = crawl(chromium, base, pages, {}, "solution", site=html)
    broken = {
        page: {k: info[k] for k in ("failed", "bad_status", "page_errors") if info.get(k)}
        for page, info in result["pages"].items()
    }
    assert not {p: b for p, b in broken.items() if b}, broken
    hits = result["search"]["search_hits"]
    assert not [h for h in hits if "instructor" in h or "solutions/" in h], hits
