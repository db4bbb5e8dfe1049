"""The built site as a reader sees it: every page opened in headless Chromium on localhost.

Needs ``_build/html`` (``make book``; ``make test`` builds it first) and Debian's ``chromium``
(``make browser`` installs it). One crawl visits every page; under xdist the first worker does it
and the others read its record. Screenshots go to ``_build/screenshots/``, counts to
``_build/site_check.json``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import traceback
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml
from filelock import FileLock
from site_browser import ROOT, SCREENSHOTS, SITE, crawl, find_chromium, serve, site_pages

pytestmark = pytest.mark.slow

_SITE_CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
ASSIGNMENTS = list(_SITE_CONFIG["site_assignments"])
# chapter number -> assignment
CHAPTER_ASSIGNMENTS = {str(k): v for k, v in _SITE_CONFIG["site_chapter_assignments"].items()}
SCREENSHOT_PAGES = {
    "intro": "book/intro.html",
    "chapter-transposed": "book/chapters/08_transposed.html",
    "exercises": "book/exercises.html",
}
SEARCH_WORD = "dilation"
VOCABULARY = ["X", "K", "Y", "in_channels", "out_channels", "kh", "kw", "stride", "padding",
              "dilation", "groups"]  # fmt: skip


def _toc_docnames() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc.get("parts", []):
        names += [entry["file"] for entry in part.get("chapters", [])]
    names += [entry["file"] for entry in toc.get("chapters", [])]
    return names


DOCNAMES = _toc_docnames()
CHAPTERS = [name for name in DOCNAMES if re.match(r"book/chapters/\d\d_", name)]
EXPECTED_PAGES = sorted(
    [f"{name}.html" for name in DOCNAMES] + ["index.html", "search.html", "genindex.html"]
)


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def built_site() -> Path:
    if not (SITE / "index.html").is_file():
        pytest.fail(f"{SITE} has no index.html: build the site first with `make book`")
    return SITE


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "Chromium is not installed and could not be installed, so the site was NOT checked in "
            "a browser: run `make browser` (apt-get install chromium) and `make test` again"
        )
    return path


@pytest.fixture(scope="session")
def server(built_site: Path) -> Iterator[str]:
    with serve(built_site) as base:
        yield base


@pytest.fixture(scope="session")
def record(
    chromium: str, built_site: Path, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> dict[str, Any]:
    """The crawl of the whole site, done once per test run and shared by the xdist workers."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    path = shared / "site_crawl.json"
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            try:
                with serve(built_site) as base:
                    result = crawl(chromium, base, EXPECTED_PAGES, SCREENSHOT_PAGES, SEARCH_WORD)
                (ROOT / "_build" / "site_check.json").write_text(
                    json.dumps(_summary(result), indent=1)
                )
            except Exception:
                result = {"error": traceback.format_exc()}
            path.write_text(json.dumps(result))
        result = json.loads(path.read_text())
    if "error" in result:
        pytest.fail(f"the browser crawl of the site failed:\n{result['error']}")
    return result


# --------------------------------------------------------------------------------------------
# judging the record


def _local_path(href: str, base: str, site: Path = SITE) -> tuple[Path, str] | None:
    """Site file and fragment an internal link points to; None for other hosts and schemes."""
    if not href.startswith(base + "/"):
        return None
    parts = urlsplit(href)
    relative = unquote(parts.path).lstrip("/")
    target = site / relative
    if relative == "" or relative.endswith("/"):
        target = target / "index.html"
    return target, parts.fragment


_ids_cache: dict[Path, set[str]] = {}


def _ids_of(target: Path, record: dict[str, Any], site: Path) -> set[str]:
    relative = target.relative_to(site).as_posix()
    if relative in record["pages"]:
        return set(record["pages"][relative]["ids"])
    if target not in _ids_cache:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(target.read_text(encoding="utf-8"), "html.parser")
        # id and name are single-valued attributes: strings (bs4 types get() more widely)
        elements = soup.select("[id], a[name]")
        _ids_cache[target] = {cast(str, el.get("id") or el.get("name")) for el in elements}
    return _ids_cache[target]


def _broken_links(info: dict[str, Any], record: dict[str, Any], site: Path) -> list[str]:
    broken = []
    for link in info["links"]:
        local = _local_path(link["href"], record["base"], site)
        if local is None:
            continue
        target, fragment = local
        if not target.is_file():
            broken.append(f"{link['raw']!r} ({link['text']!r}): no file {target.relative_to(site)}")
        elif (
            fragment
            and target.suffix == ".html"
            and unquote(fragment) not in _ids_of(target, record, site)
        ):
            broken.append(
                f"{link['raw']!r} ({link['text']!r}): no id {fragment!r} in {target.name}"
            )
    return broken


# An alt that only names a file: an image extension, or a long hexadecimal hash (the name
# myst-nb gives a cell's output image), with or without a path before it.
_FILE_LIKE_ALT = re.compile(
    r"(^|[/\\])[\w.-]+\.(png|jpe?g|gif|svg|webp|bmp)$|(^|[/\\])[0-9a-f]{16,}(\.\w+)?$",
    re.IGNORECASE,
)


def _undescribed(img: dict[str, Any]) -> bool:
    """True when an image's alt text is missing, empty, or a file name or hash, not words."""
    alt = (img.get("alt") or "").strip()
    name = unquote(urlsplit(img["src"]).path).rsplit("/", 1)[-1]
    return not alt or bool(_FILE_LIKE_ALT.search(alt)) or alt in (name, name.rsplit(".", 1)[0])


def _problems(
    info: dict[str, Any], record: dict[str, Any], site: Path = SITE
) -> dict[str, list[str]]:
    return {
        "requests to other hosts": info["external"],
        "failed requests": info["failed"],
        "HTTP errors": info["bad_status"],
        "console errors": info["console_errors"],
        "uncaught script errors": info["page_errors"],
        "math not typeset by MathJax": info["untypeset"],
        "raw TeX left in the text": info["rawTex"],
        "images or animations that did not load": [
            img["src"][:100] for img in info["images"] + info["videos"] if not img["ok"]
        ],
        "internal links that do not resolve": _broken_links(info, record, site),
        "images whose alt text does not describe them": [
            f"{img['src'][:80]} (alt={img.get('alt')!r})"
            for img in info["images"]
            if _undescribed(img)
        ],
    }


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    pages = record["pages"].values()
    internal = sum(
        1 for info in pages for link in info["links"] if _local_path(link["href"], record["base"])
    )
    return {
        "pages": len(record["pages"]),
        "requests checked": sum(info["requests"] for info in pages),
        "internal links checked": internal,
        "images checked": sum(len(info["images"]) for info in pages),
        "animations (GIF) checked": sum(
            1 for info in pages for img in info["images"] if img["src"].startswith("data:image/gif")
        ),
        "formulas typeset": sum(info["math"] for info in pages),
        "screenshots": len(record["screenshots"]),
        "crawl seconds": record["seconds"],
    }


def _fetch(server: str, href: str, base: str) -> bytes:
    assert href.startswith(base + "/"), f"download link {href} is not served by the site"
    with urllib.request.urlopen(server + href[len(base) :], timeout=10) as response:
        assert response.status == 200
        return response.read()


def _notebook(data: bytes, what: str) -> nbformat.NotebookNode:
    notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    nbformat.validate(notebook)
    assert notebook.cells, f"{what} has no cells"
    return notebook


def _links(record: dict[str, Any], page: str, cls: str) -> list[dict[str, Any]]:
    return [link for link in record["pages"][page]["links"] if cls in link["cls"].split()]


# --------------------------------------------------------------------------------------------
# tests


def test_every_page_is_checked(built_site: Path) -> None:
    """The crawl list (from _toc.yml) is exactly the set of pages the build wrote."""
    assert site_pages(built_site) == EXPECTED_PAGES


@pytest.mark.parametrize("page", EXPECTED_PAGES)
def test_page_in_browser(record: dict[str, Any], page: str) -> None:
    """No failed or remote request, no console error, math typeset, images load, links resolve."""
    info = record["pages"][page]
    assert info["textLength"] > 0, f"{page} shows no text"
    problems = {kind: items for kind, items in _problems(info, record).items() if items}
    report = "\n".join(f"{kind}:\n  " + "\n  ".join(items) for kind, items in problems.items())
    assert not problems, f"{page}:\n{report}"


def test_search_works_offline(record: dict[str, Any]) -> None:
    search = record["search"]
    problems = {kind: items for kind, items in _problems(search, record).items() if items}
    assert not problems, problems
    hits = search["search_hits"]
    assert any("book/intro.html" in hit for hit in hits), f"searching {SEARCH_WORD!r} found {hits}"


def test_no_remote_resources_in_built_files(built_site: Path) -> None:
    """No <script>, <link>, <img>, <iframe>, @import or url() points at another host."""
    tag = re.compile(
        r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\b(src|href)=[\"']?(https?:)?//",
        re.IGNORECASE,
    )
    css = re.compile(r"(@import\s+(url\()?\s*[\"']?|url\(\s*[\"']?)(https?:)?//", re.IGNORECASE)
    offenders = []
    for path in built_site.rglob("*"):
        if path.suffix == ".html":
            text = path.read_text(encoding="utf-8", errors="replace")
            # Hyperlinks (<a href>) to other sites are fine: they load nothing by themselves.
            offenders += [
                f"{path.relative_to(built_site)}: {m.group(0)}" for m in tag.finditer(text)
            ]
            for style in re.findall(r"<style\b.*?</style>", text, re.DOTALL | re.IGNORECASE):
                offenders += [
                    f"{path.relative_to(built_site)}: {m.group(0)}" for m in css.finditer(style)
                ]
        elif path.suffix == ".css":
            text = path.read_text(encoding="utf-8", errors="replace")
            offenders += [
                f"{path.relative_to(built_site)}: {m.group(0)}" for m in css.finditer(text)
            ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_built_chapter_shows_code_not_bookkeeping(built_site: Path, chapter: str) -> None:
    """On the page a reader gets: teaching code displayed, no glue call in any visible cell."""
    from bs4 import BeautifulSoup

    page = (built_site / f"{chapter}.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    inputs = [cell.get_text() for cell in soup.select("div.cell_input")]
    assert inputs, f"{chapter} shows no code cell"
    assert not [text for text in inputs if "glue(" in text], f"{chapter} shows a glue call"
    # literalinclude blocks sit outside the notebook cells: the displayed teaching functions
    shown = [
        block.get_text()
        for block in soup.select("div.highlight-python, div.highlight-default")
        if not block.find_parent("div", class_="cell")
    ]
    assert any(text.lstrip().startswith(("def ", "class ")) for text in shown), (
        f"{chapter} displays no from-scratch function"
    )


def test_mathjax_is_served_by_the_site(built_site: Path) -> None:
    mathjax = built_site / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file() and (mathjax / "LICENSE").is_file()
    assert len(list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))) >= 20
    pages_with_math = 0
    for page in EXPECTED_PAGES:
        text = (built_site / page).read_text(encoding="utf-8")
        if 'class="math' in text:
            pages_with_math += 1
            assert re.search(r'<script[^>]*src="(\.\./)*_static/mathjax/tex-chtml\.js', text), page
    assert pages_with_math >= 1


def test_landing_page(record: dict[str, Any], built_site: Path) -> None:
    """What the course is, who it is for, prerequisites, the two commands, one animation."""
    from bs4 import BeautifulSoup
    from PIL import GifImagePlugin, Image

    soup = BeautifulSoup(
        (built_site / "book/intro.html").read_text(encoding="utf-8"), "html.parser"
    )
    headings = [h.get_text(" ", strip=True).rstrip("#").strip() for h in soup.select("main h2")]
    for needed in (
        "What the course is",
        "Who it is for",
        "Prerequisites",
        "Run it on your machine",
    ):
        assert needed in headings, f"landing page lacks a section {needed!r}: {headings}"
    code = " ".join(block.get_text() for block in soup.select("main pre"))
    assert "make book" in code and "make test" in code and "nbgrader validate" in code
    # First column of the vocabulary table: "X", "kh, kw", ...
    names = {
        name.strip()
        for row in soup.select("main table tbody tr")
        for name in row.select("td")[0].get_text().split(",")
    }
    for name in VOCABULARY:
        assert name in names, f"the vocabulary table lacks {name}: {sorted(names)}"

    gifs = [
        img for img in record["pages"]["book/intro.html"]["images"]
        if img["src"].startswith("data:image/gif;base64,")
    ]  # fmt: skip
    assert gifs, "the landing page shows no animation (an inline GIF)"
    assert all(img["ok"] and img["width"] > 0 for img in gifs)
    gif = Image.open(io.BytesIO(base64.b64decode(gifs[0]["src"].split(",", 1)[1])))
    assert isinstance(gif, GifImagePlugin.GifImageFile)  # narrows the type: n_frames
    frames = gif.n_frames
    assert frames > 1, "the landing page's GIF is a still image"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_download_notebook(record: dict[str, Any], server: str, chapter: str) -> None:
    links = _links(record, f"{chapter}.html", "download-notebook")
    assert len(links) == 1, f"{chapter} has {len(links)} 'download notebook' links"
    notebook = _notebook(_fetch(server, links[0]["href"], record["base"]), chapter)
    assert notebook.metadata.kernelspec.name == "python3"
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert any(cell.outputs for cell in code), f"{chapter}'s notebook comes without its outputs"
    source = (ROOT / f"{chapter}.md").read_text(encoding="utf-8")
    heading = next(line for line in source.splitlines() if line.startswith("# "))
    assert any(heading in cell.source for cell in notebook.cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_download(record: dict[str, Any], server: str, assignment: str) -> None:
    """The exercises page (and the chapter with its number) link the student notebook."""
    committed = ROOT / "exercises" / assignment / f"{assignment}.ipynb"
    assert committed.is_file(), f"{committed.relative_to(ROOT)} does not exist"
    chapters = [
        c for c in CHAPTERS if CHAPTER_ASSIGNMENTS.get(c.rsplit("/", 1)[-1][:2]) == assignment
    ]
    assert chapters, f"no chapter links {assignment} (site_chapter_assignments in _config.yml)"
    pages = ["book/exercises.html", "book/instructors.html"] + [f"{c}.html" for c in chapters]
    for page in pages:
        links = [
            link for link in _links(record, page, "download-exercise")
            if link["href"].endswith(f"/{assignment}.ipynb")
        ]  # fmt: skip
        assert links, f"{page} has no 'download exercise' link for {assignment}"
        data = _fetch(server, links[0]["href"], record["base"])
        assert data == committed.read_bytes(), f"{page} serves a stale copy of {assignment}"
        notebook = _notebook(data, assignment)
        text = "\n".join(cell.source for cell in notebook.cells)
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, (
            f"the student notebook {assignment} contains solution or hidden-test markers"
        )


def test_every_chapter_links_an_assignment() -> None:
    """Each chapter's number is mapped to an assignment that exists (no site build needed)."""
    for chapter in CHAPTERS:
        number = chapter.rsplit("/", 1)[-1][:2]
        assert CHAPTER_ASSIGNMENTS.get(number) in ASSIGNMENTS, f"{chapter} links no assignment"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructors_page_links_solution(
    record: dict[str, Any], server: str, assignment: str
) -> None:
    committed = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    assert committed.is_file(), f"{committed.relative_to(ROOT)} does not exist"
    links = [
        link for link in _links(record, "book/instructors.html", "download-solution")
        if link["href"].endswith(f"/{assignment}.ipynb")
    ]  # fmt: skip
    assert links, f"the instructors page has no solution link for {assignment}"
    data = _fetch(server, links[0]["href"], record["base"])
    assert data == committed.read_bytes()
    _notebook(data, assignment)


def test_instructors_page_links_grading_guide(record: dict[str, Any]) -> None:
    guide = [
        link for link in record["pages"]["book/instructors.html"]["links"]
        if link["href"].split("#")[0].endswith("/book/instructor_guide.html")
    ]  # fmt: skip
    assert guide, "the instructors page does not link the grading guide"
    assert record["pages"]["book/instructor_guide.html"]["textLength"] > 200


def test_screenshots(record: dict[str, Any]) -> None:
    """Three pages at desktop and phone widths, for a reviewer; the phone layout must fit."""
    shots = record["screenshots"]
    assert len(shots) == 2 * len(SCREENSHOT_PAGES)
    for shot in shots:
        path = ROOT / shot["file"]
        assert path.parent == SCREENSHOTS and path.stat().st_size > 5000, shot
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shot
        assert shot["overflow_x"] <= 1, f"{shot['page']} scrolls sideways at width {shot['width']}"


def test_phone_views_have_no_problems(record: dict[str, Any]) -> None:
    for page, info in record["phone"].items():
        problems = {kind: items for kind, items in _problems(info, record).items() if items}
        assert not problems, f"{page} at phone width: {problems}"


# A tiny site with one defect per page: each check must notice its defect (and only there).
_HEAD = "<!doctype html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
_PIXEL = (  # a 1x1 grey PNG
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNoAAAAggCB"
    "d81ytgAAAABJRU5ErkJggg=="
)
DEFECTS = {
    "ok.html": ("<p id='here'>fine <a href='other.html#there'>link</a></p>", set()),
    "other.html": ("<p id='there'>fine</p>", set()),
    "remote.html": (
        "<script src='https://cdn.example.com/lib.js'></script><p>x</p>",
        {"requests to other hosts", "failed requests", "console errors"},
    ),
    "image.html": (
        "<p>x</p><img src='missing.png' alt='A picture that is not there'>",
        {"images or animations that did not load", "HTTP errors", "console errors"},
    ),
    "tex.html": (
        "<p>area $x^2$ and <span class='math'>\\(y\\)</span></p>",
        {"raw TeX left in the text", "math not typeset by MathJax"},
    ),
    "script.html": ("<p>x</p><script>notDefined()</script>", {"uncaught script errors"}),
    "alt.html": (
        "".join(
            f"<img src='{_PIXEL}'{alt}>"
            for alt in (
                "",
                " alt=''",
                " alt='  '",
                " alt='plot.png'",
                " alt='../../_images/0a1b2c3d4e5f60718293a4b5c6d7e8f9.png'",
                " alt='0a1b2c3d4e5f60718293a4b5c6d7e8f9'",
            )
        )
        + f"<img src='{_PIXEL}' alt='A grey square, one pixel wide.'>",
        {"images whose alt text does not describe them"},
    ),
    "links.html": (
        "<p><a href='gone.html'>a</a> <a href='ok.html#nowhere'>b</a></p>",
        {"internal links that do not resolve"},
    ),
}


def test_the_checks_catch_defects(chromium: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for page, (body, _) in DEFECTS.items():
        (site / page).write_text(f"{_HEAD}<title>{page}</title></head><body><main>{body}</main>")
    with serve(site) as base:
        record = crawl(chromium, base, sorted(DEFECTS), {}, None, site=site)
    for page, (_, expected) in DEFECTS.items():
        found = {
            kind for kind, items in _problems(record["pages"][page], record, site).items() if items
        }
        assert found == expected, f"{page}: expected {expected}, found {found}"
    links = _broken_links(record["pages"]["links.html"], record, site)
    assert len(links) == 2, links
    undescribed = [img for img in record["pages"]["alt.html"]["images"] if _undescribed(img)]
    assert len(undescribed) == 6, undescribed  # all but the last, which has words
