"""Helpers for tests/test_site.py: serve the built site on localhost and visit it in Chromium.

The crawl opens every page of ``_build/html`` in headless Chromium (Debian's ``chromium``, driven
by Playwright; ``playwright install`` is never used) and records what a reader's browser does:
every request and its outcome, console errors, whether MathJax typeset every formula, whether every
image and animation decoded, every link and every element id. The tests then judge the record.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import re
import shutil
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:  # playwright is imported where a browser is launched, not at collection
    from playwright.async_api import ViewportSize

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"

# Without the background-networking flags Chromium phones home (updates, sync, field trials);
# those requests are refused here, and a reader's classroom may have no network at all.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    # Names other than localhost resolve to nothing: a request to another host fails at once
    # (and is reported by the test) instead of waiting on a network that may not be there.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]

DESKTOP: ViewportSize = {"width": 1366, "height": 900}
CONCURRENT_TABS = 3
SCREENSHOT_MAX_HEIGHT = 6000  # px: a long chapter's first screens are enough for a reviewer
PHONE: ViewportSize = {"width": 390, "height": 844}

# Runs in the page after load: waits for MathJax, forces lazy images to load, then reports.
INSPECT_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  for (const img of document.images) { img.loading = "eager"; }
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
      new Promise(done => { img.addEventListener("load", done); img.addEventListener("error", done);
                            setTimeout(done, 10000); })));
  // Typeset math and icons load web fonts: wait for them, so that their requests are judged too.
  await document.fonts.ready;
  const mathNodes = Array.from(document.querySelectorAll(".math"));
  const untypeset = mathNodes.filter(el => !el.querySelector("mjx-container"))
                             .map(el => el.textContent.trim().slice(0, 80));
  // Raw TeX left in the visible text: outside code, scripts and typeset math.
  const skipTags = new Set(["SCRIPT", "STYLE", "PRE", "CODE", "TEXTAREA", "KBD", "SAMP",
                            "MJX-CONTAINER", "MJX-ASSISTIVE-MML", "NOSCRIPT"]);
  const texPattern = /\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\$[^$\s][^$]*\$/;
  const rawTex = [];
  const root = document.querySelector("main") || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let skip = false;
    for (let el = node.parentElement; el && el !== root.parentElement; el = el.parentElement) {
      if (skipTags.has(el.tagName) || el.classList.contains("highlight")) { skip = true; break; }
    }
    if (!skip && texPattern.test(node.textContent)) {
      rawTex.push(node.textContent.trim().slice(0, 120));
    }
  }
  const images = Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src,
    ok: img.complete && img.naturalWidth > 0,
    width: img.naturalWidth,
    alt: img.getAttribute("alt"),
  }));
  const videos = Array.from(document.querySelectorAll("video")).map(v => ({
    src: v.currentSrc || v.src, ok: v.error === null,
  }));
  const links = Array.from(document.querySelectorAll("a[href]")).map(a => ({
    href: a.href, raw: a.getAttribute("href"), cls: a.className,
    text: a.textContent.trim().slice(0, 80),
  }));
  const ids = Array.from(document.querySelectorAll("[id], a[name]")).map(el => el.id || el.name);
  return {
    title: document.title,
    math: mathNodes.length,
    mjx: document.querySelectorAll("mjx-container").length,
    untypeset, rawTex, images, videos, links, ids,
    textLength: root.innerText.length,
    overflowX: document.documentElement.scrollWidth - window.innerWidth,
  };
}
"""


def find_chromium() -> str | None:
    """Debian's chromium, or whatever ``chromium`` is on PATH."""
    for candidate in (
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".ipynb": "application/x-ipynb+json",
        ".js": "text/javascript",
        ".woff": "font/woff",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free localhost port; yields the base URL ``http://127.0.0.1:PORT``."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def site_pages(site: Path = SITE) -> list[str]:
    """Every HTML page of the built site, relative to its root (theme fragments excluded)."""
    skip = ("_static/", "_sources/", "_downloads/", "_images/")
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not p.relative_to(site).as_posix().startswith(skip)
    )


def _redirect_target(url: str, site: Path) -> str | None:
    """Where a meta-refresh page (index.html) sends the reader, read from the built file."""
    path = site / urlsplit(url).path.lstrip("/")
    if not path.is_file():
        return None
    match = re.search(
        r"<meta[^>]*http-equiv=[\"']?refresh[\"']?[^>]*url=([^\"'>\s]+)",
        path.read_text(encoding="utf-8", errors="replace"),
        re.IGNORECASE,
    )
    return urljoin(url, match.group(1)) if match else None


async def _open(page: Any, url: str, site: Path) -> None:
    """Go to ``url`` and wait until it has loaded (following a meta-refresh redirect)."""
    await page.goto(url, wait_until="load", timeout=60000)
    target = _redirect_target(url, site)
    if target is not None:
        await page.wait_for_url(target, wait_until="load", timeout=60000)


def crawl(
    chromium: str,
    base: str,
    pages: list[str],
    screenshots: dict[str, str],
    search_word: str | None,
    site: Path = SITE,
) -> dict[str, Any]:
    """Visit ``pages`` and record what happens; take screenshots; run one offline search.

    screenshots: {name: page} captured at desktop and phone widths into SCREENSHOTS.
    Returns {"pages": {page: info}, "phone": {page: info}, "search": info, "screenshots": [...]}.
    """
    return asyncio.run(_crawl(chromium, base, pages, screenshots, search_word, site))


async def _crawl(
    chromium: str,
    base: str,
    pages: list[str],
    screenshots: dict[str, str],
    search_word: str | None,
    site: Path,
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    host = urlsplit(base).netloc
    start = time.perf_counter()
    if screenshots:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # A few tabs at once: a page spends much of its time waiting on its scripts and fonts.
    tabs = asyncio.Semaphore(CONCURRENT_TABS)

    async def visit(context: Any, url: str, shot: Path | None = None, then: Any = None) -> dict:
        async with tabs:
            started = time.perf_counter()
            seen: dict[str, Any] = {
                "requests": 0,
                "failed": [],
                "bad_status": [],
                "external": [],
                "console_errors": [],
                "page_errors": [],
            }

            def on_request(request: Any) -> None:
                seen["requests"] += 1
                if not request.url.startswith("data:") and urlsplit(request.url).netloc != host:
                    seen["external"].append(request.url)

            page = await context.new_page()
            page.on("request", on_request)
            page.on("requestfailed", lambda r: seen["failed"].append(f"{r.url} ({r.failure})"))
            page.on(
                "response",
                lambda r: (
                    r.status >= 400 and seen["bad_status"].append(f"{r.url} -> HTTP {r.status}")
                ),
            )
            page.on(
                "console",
                lambda m: (
                    m.type == "error" and seen["console_errors"].append(f"{m.text} @ {m.location}")
                ),
            )
            page.on("pageerror", lambda exc: seen["page_errors"].append(str(exc)))
            await _open(page, url, site)
            info = await page.evaluate(INSPECT_JS)
            info["final_url"] = page.url
            if then is not None:
                info.update(await then(page))
            if shot is not None:
                height = await page.evaluate("document.documentElement.scrollHeight")
                width = page.viewport_size["width"]
                clip = {
                    "x": 0,
                    "y": 0,
                    "width": width,
                    "height": min(height, SCREENSHOT_MAX_HEIGHT),
                }
                await page.screenshot(path=str(shot), full_page=True, clip=clip)
            await page.close()
            info.update(seen)
            info["seconds"] = round(time.perf_counter() - started, 2)
            return info

    async def run_search(page: Any) -> dict[str, Any]:
        # Judge the page once every result (and the math in its summary) is there.
        await page.wait_for_function(
            "() => /found/.test(document.querySelector('#search-results .search-summary')"
            "?.textContent ?? '')",
            timeout=30000,
        )
        info = await page.evaluate(INSPECT_JS)
        info["search_hits"] = await page.eval_on_selector_all(
            "#search-results ul.search li a", "els => els.map(e => e.getAttribute('href'))"
        )
        return info

    async with async_playwright() as pw:
        # launch() starts Chromium on a new, empty temporary profile (user-data-dir) of its own.
        browser = await pw.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            desktop = await browser.new_context(viewport=DESKTOP, service_workers="block")
            phone = await browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, service_workers="block"
            )
            shot_names = {page: name for name, page in screenshots.items()}

            def shot(page: str, width: str) -> Path | None:
                name = shot_names.get(page)
                return SCREENSHOTS / f"{name}-{width}.png" if name else None

            jobs = [visit(desktop, f"{base}/{page}", shot(page, "desktop")) for page in pages]
            if search_word is not None:
                jobs.append(visit(desktop, f"{base}/search.html?q={search_word}", then=run_search))
            jobs += [
                visit(phone, f"{base}/{page}", shot(page, "phone")) for page in screenshots.values()
            ]
            results = await asyncio.gather(*jobs)
        finally:
            await browser.close()

    n = len(pages)
    search = results.pop(n) if search_word is not None else None
    record: dict[str, Any] = {
        "base": base,
        "pages": dict(zip(pages, results[:n], strict=True)),
        "search": search,
        "phone": dict(zip(screenshots.values(), results[n:], strict=True)),
        "screenshots": [
            {
                "file": path.relative_to(ROOT).as_posix(),
                "page": page,
                "width": (DESKTOP if width == "desktop" else PHONE)["width"],
                "overflow_x": info["overflowX"],
            }
            for width, infos in (("desktop", results[:n]), ("phone", results[n:]))
            for page, info in zip(
                pages if width == "desktop" else screenshots.values(), infos, strict=True
            )
            if (path := shot(page, width)) is not None
        ],
    }
    record["seconds"] = round(time.perf_counter() - start, 1)
    return record
