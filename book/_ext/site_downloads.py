"""Sphinx extension: notebooks readers can download from the static site.

- Every chapter page (docname matching ``site_chapter_pattern``) gets a bar at the top with a
  "Download notebook" link to ``_downloads/notebooks/<name>.ipynb``, and a "Download exercise" link
  to the assignment that ``site_chapter_assignments`` (chapter number -> assignment) names.
  The notebook is the one myst-nb executed for the page (``_build/jupyter_execute``), so it opens
  with its outputs; if that file is missing, the MyST source is converted with jupytext instead.
- Exercise notebooks ``exercises/<a>/<a>.ipynb`` are copied to ``_downloads/exercises/<a>.ipynb``,
  solution sources ``solutions/<a>/<a>.ipynb`` to ``_downloads/solutions/<a>.ipynb``.
- Roles for pages: ``{exercise-download}`ex01_cross_correlation``` and
  ``{solution-download}`ex01_cross_correlation```.
- ``site_publish_solutions: false`` (a private term's site) keeps every solution source out of the
  build: no ``_downloads/solutions`` (a stale one from a public build is removed), and the
  solution role renders as text saying the file is kept private.
- ``site_optional_pages``: pages (the instructor pages) that a copy of the site may leave out of
  ``_toc.yml``; a ``{doc}`` or ``{ref}`` link to one that is not built renders as plain text
  instead of failing the build. An assignment whose notebook does not exist yet
  is rendered as plain text "(not available yet)" and logged, not warned about, so the book builds
  while exercises are being written; tests/test_site.py requires every one of them to exist.

Everything is written into the HTML output, nothing is fetched: the site stays complete offline.
"""

from __future__ import annotations

import copy
import filecmp
import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

DOWNLOAD_DIR = "_downloads"
KINDS = {"exercise": "exercises", "solution": "solutions"}
# Font Awesome ships with the theme (served from _static): an icon that needs no network font.
ICON = '<i class="fa-solid fa-download" aria-hidden="true"></i> '


def _root(app: Sphinx) -> Path:
    return Path(app.srcdir)


def _assignment_source(app: Sphinx, kind: str, name: str) -> Path:
    folder = KINDS[kind]
    return _root(app) / folder / name / f"{name}.ipynb"


def _relative_prefix(docname: str) -> str:
    """'../' repeated so that a link written on page ``docname`` reaches the site root."""
    return "../" * docname.count("/")


def _download_role(kind: str):  # type: ignore[no-untyped-def]
    def role(name, rawtext, text, lineno, inliner, options=None, content=None):  # type: ignore[no-untyped-def]
        env = inliner.document.settings.env
        app = env.app
        assignment = text.strip()
        if assignment not in app.config.site_assignments:
            msg = inliner.reporter.error(
                f"{kind}-download: unknown assignment {assignment!r}; "
                f"known: {', '.join(app.config.site_assignments)}",
                line=lineno,
            )
            return [inliner.problematic(rawtext, rawtext, msg)], [msg]
        if kind == "solution" and not app.config.site_publish_solutions:
            node = nodes.inline(
                rawtext, f"{assignment}.ipynb (kept private)", classes=["download-private"]
            )
            return [node], []
        source = _assignment_source(app, kind, assignment)
        # Rebuild the page when the notebook appears or changes (a missing dependency
        # makes Sphinx re-read the page on every build until it exists).
        env.note_dependency(str(source))
        if not source.is_file():
            logger.info(f"[site_downloads] {source} does not exist yet")
            node = nodes.inline(
                rawtext, f"{assignment}.ipynb (not available yet)", classes=["download-missing"]
            )
            return [node], []
        uri = f"{_relative_prefix(env.docname)}{DOWNLOAD_DIR}/{KINDS[kind]}/{assignment}.ipynb"
        label = "Download exercise" if kind == "exercise" else "Download solution source"
        ref = nodes.reference(
            rawtext,
            "",
            nodes.literal(text=f"{assignment}.ipynb"),
            refuri=uri,
            classes=[f"download-{kind}"],
            reftitle=f"{label} {assignment}.ipynb",
        )
        return [ref], []

    return role


def _chapter_stem(app: Sphinx, docname: str) -> str | None:
    if re.match(app.config.site_chapter_pattern, docname):
        return docname.rsplit("/", 1)[-1]
    return None


def _assignment_for_chapter(app: Sphinx, stem: str) -> str | None:
    """The assignment ``site_chapter_assignments`` maps the chapter's number to (or None).

    An explicit table, not a name rule: assignment names predate the chapters' renumbering
    (chapter 10 links ex10_im2col) and two chapters may share one (chapters 1 and 2).
    """
    number = stem.split("_", 1)[0]
    assignment = dict(app.config.site_chapter_assignments).get(number)
    if assignment is None:
        return None
    if assignment not in app.config.site_assignments:
        logger.warning(
            f"[site_downloads] site_chapter_assignments maps chapter {number} to "
            f"{assignment!r}, which is not in site_assignments"
        )
        return None
    return str(assignment)


def _chapter_bar(app: Sphinx, pagename: str) -> str | None:
    stem = _chapter_stem(app, pagename)
    if stem is None:
        return None
    prefix = _relative_prefix(pagename)
    links = [
        f'<a class="download-notebook" href="{prefix}{DOWNLOAD_DIR}/notebooks/{stem}.ipynb" '
        f'download="{stem}.ipynb">{ICON}Download notebook <code>{stem}.ipynb</code></a>'
    ]
    assignment = _assignment_for_chapter(app, stem)
    if assignment and _assignment_source(app, "exercise", assignment).is_file():
        links.append(
            f'<a class="download-exercise" href="{prefix}{DOWNLOAD_DIR}/exercises/'
            f'{assignment}.ipynb" download="{assignment}.ipynb">{ICON}Download exercise '
            f"<code>{html.escape(assignment)}.ipynb</code></a>"
        )
    return '<div class="site-downloads">' + " ".join(links) + "</div>\n"


def _on_source_read(app: Sphinx, docname: str, source: list[str]) -> None:
    # A chapter page shows its exercise link only once the exercise exists: re-read the page
    # (cheap, execution is cached) whenever that notebook appears or changes.
    stem = _chapter_stem(app, docname)
    assignment = _assignment_for_chapter(app, stem) if stem else None
    if assignment:
        app.env.note_dependency(str(_assignment_source(app, "exercise", assignment)))


def _on_get_outdated(
    app: Sphinx, env: Any, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    # Sphinx copies html_static_path only when some page is rebuilt: with nothing else to do,
    # an edited site.css or script would never reach the site. Rebuild the landing page then.
    out = Path(app.outdir) / "_static"
    for entry in app.config.html_static_path:
        folder = Path(app.confdir) / entry
        for source in folder.rglob("*") if folder.is_dir() else []:
            if not source.is_file():
                continue
            target = out / source.relative_to(folder)
            if not target.is_file() or not filecmp.cmp(source, target, shallow=False):
                logger.info(f"[site_downloads] {source} changed: copying static files")
                return [app.config.root_doc]
    return []


def _on_page_context(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    bar = _chapter_bar(app, pagename)
    if bar and "body" in context:
        context["body"] = bar + context["body"]
    if pagename == "search" and app.config.mathjax_path:
        # Search summaries quote the pages' TeX: load MathJax here too, and typeset them.
        # (Sphinx adds MathJax only to pages with equations; files added here go on this page.)
        builder = app.builder
        if app.config.mathjax3_config:
            body = "window.MathJax = " + json.dumps(app.config.mathjax3_config)
            builder.add_js_file("", body=body)  # type: ignore[attr-defined]
        builder.add_js_file(app.config.mathjax_path, defer="defer")  # type: ignore[attr-defined]
        builder.add_js_file("site_search_math.js", defer="defer")  # type: ignore[attr-defined]


def _clean_notebook(notebook: Any) -> Any:
    """Drop metadata that only makes sense in this repository (jupytext pairing)."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata.pop("source_map", None)  # myst-nb's line numbers in the .md
    notebook.metadata.setdefault(
        "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}
    )
    return notebook


def _with_outputs(app: Sphinx, notebook: Any) -> Any:
    """The notebook with the outputs of its cached execution (myst-nb writes it without them)."""
    try:
        from jupyter_cache import get_cache

        cache = get_cache(app.env.mystnb_config.execution_cache_path)  # type: ignore[attr-defined]
        _, merged = cache.merge_match_into_notebook(notebook)
        return merged
    except Exception as exc:  # no cache record: the reader still gets the code
        logger.info(f"[site_downloads] no cached outputs for a chapter notebook: {exc}")
        return notebook


def _chapter_notebook(app: Sphinx, docname: str) -> Any:
    import jupytext
    import nbformat

    # myst-nb's reading of the MyST source, the notebook its execution cache knows
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{docname}.ipynb"
    if executed.is_file():
        notebook = _with_outputs(app, nbformat.read(executed, as_version=4))
    else:
        source = Path(app.env.doc2path(docname))
        notebook = jupytext.read(source)
    notebook = _clean_notebook(notebook)
    nbformat.validate(notebook)
    return notebook


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    import nbformat

    out = Path(app.outdir) / DOWNLOAD_DIR
    notebooks = out / "notebooks"
    notebooks.mkdir(parents=True, exist_ok=True)
    written = 0
    for docname in sorted(app.env.found_docs):
        stem = _chapter_stem(app, docname)
        if stem is None:
            continue
        nbformat.write(_chapter_notebook(app, docname), notebooks / f"{stem}.ipynb")
        written += 1
    copied = {kind: 0 for kind in KINDS}
    for kind, folder in KINDS.items():
        target = out / folder
        if kind == "solution" and not app.config.site_publish_solutions:
            shutil.rmtree(target, ignore_errors=True)  # a public build's copies, if any
            continue
        target.mkdir(parents=True, exist_ok=True)
        for assignment in app.config.site_assignments:
            source = _assignment_source(app, kind, assignment)
            if source.is_file():
                shutil.copyfile(source, target / source.name)
                copied[kind] += 1
    manifest = {
        "notebooks": written,
        "exercises": copied["exercise"],
        "solutions": copied["solution"],
        "assignments": list(app.config.site_assignments),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    logger.info(
        f"[site_downloads] {written} chapter notebooks, {copied['exercise']} exercises, "
        f"{copied['solution']} solution sources written to {out}"
    )


def _left_out_page(app: Sphinx, env: Any, node: Any) -> str | None:
    """The optional page a pending ``doc``/``ref`` reference points at, if this build leaves it
    out (not in ``_toc.yml``); None for any other reference."""
    target = str(node.get("reftarget", "")).strip("/")
    for page in app.config.site_optional_pages:
        name = page.rsplit("/", 1)[-1]
        wanted = (name, page) if node.get("reftype") == "doc" else (name.replace("_", "-"),)
        if node.get("reftype") in ("doc", "ref") and target in wanted:
            return None if page in env.found_docs else str(page)
    return None


def _on_missing_reference(app: Sphinx, env: Any, node: Any, contnode: Any) -> Any:
    # An optional page (the instructor pages) left out of this copy's _toc.yml: keep the words,
    # drop the link. Any other missing target still fails the build.
    page = _left_out_page(app, env, node)
    if page is None:
        return None
    logger.info(f"[site_downloads] {page} is not in this site: link to it dropped")
    text = contnode.astext() if contnode is not None else page
    return nodes.inline(text, text, classes=["optional-page-left-out"])


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("site_assignments", [], "env")
    app.add_config_value("site_chapter_assignments", {}, "env")
    app.add_config_value("site_chapter_pattern", r"^book/chapters/\d\d_", "env")
    app.add_config_value("site_publish_solutions", True, "env")
    app.add_config_value("site_optional_pages", [], "env")
    app.add_role("exercise-download", _download_role("exercise"))
    app.add_role("solution-download", _download_role("solution"))
    app.connect("source-read", _on_source_read)
    app.connect("env-get-outdated", _on_get_outdated)
    app.connect("html-page-context", _on_page_context)
    app.connect("build-finished", _on_build_finished)
    app.connect("missing-reference", _on_missing_reference)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
