"""The convolution explorer (book/_static/explorer.js) in Chromium, judged by convlib.

One headless Chromium visit of ``book/explorer.html`` on localhost drives the widget through its
DOM contract (inputs named after the arguments, ``[data-role=...]`` outputs) on 600 seeded random
settings, valid and invalid, plain and transposed, and records what it shows. The tests then
compare every number and message with Python:

- output size, parameters and multiply-adds with ``convlib.shapes`` and with the output size
  convlib's argument validator computes (``_conv_args`` / ``_conv_transpose_args``, the first
  lines of ``convlib.conv2d`` / ``conv_transpose2d``);
- the error text, word for word, with the exception convlib raises for the same shapes;
- the highlighted cells with convlib's autograd (which inputs an output depends on) and forward
  pass (which outputs one input reaches), for convolution and transposed convolution;
- the PyTorch and convlib code shown, executed here: same shape, same values;
- the channel lines with the groups rule.

It also checks the keyboard path, the phone layout, no console error and no request off
localhost, and takes screenshots into ``_build/screenshots/``. Skipped (not failed) when
``_build/html`` or Chromium is missing; ``EXPLORER_SITE=/path/to/html`` points it at another
build while developing.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import torch
from filelock import FileLock
from site_browser import CHROMIUM_ARGS, DESKTOP, PHONE, SCREENSHOTS, SITE, find_chromium, serve

from convlib import shapes
from convlib.conv import _conv_args, _conv_transpose_args

pytestmark = pytest.mark.slow

BUILT = Path(os.environ.get("EXPLORER_SITE", SITE))
PAGE = "book/explorer.html"
N_SETTINGS = 600
BATCH = 60
SEED = 15
FIELDS = ["input_size", "kernel_size", "stride", "padding", "dilation", "groups",
          "in_channels", "out_channels", "output_padding"]  # fmt: skip
Setting = dict[str, Any]


# --------------------------------------------------------------------------------------------
# settings and what convlib says about them


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def random_settings(n: int = N_SETTINGS, seed: int = SEED) -> list[Setting]:
    """Seeded settings: about half valid, the rest broken in one of convlib's ways."""
    rng = random.Random(seed)
    settings = []
    for _ in range(n):
        transposed = rng.random() < 0.4
        cin = rng.choice([1, 2, 3, 4, 6, 8, 12])
        groups = rng.choice(_divisors(cin))
        s, d = rng.randint(1, 3), rng.choice([1, 1, 2, 3])
        st: Setting = {
            "transposed": transposed,
            "input_size": rng.randint(1, 8 if transposed else 12),
            "kernel_size": rng.randint(1, 5),
            "stride": s,
            "padding": rng.randint(0, 2),
            "dilation": d,
            "groups": groups,
            "in_channels": cin,
            "out_channels": groups * rng.randint(1, 4),
            "output_padding": rng.randint(0, max(s, d) - 1) if transposed else rng.randint(0, 3),
        }
        if rng.random() < 0.5:
            _break(st, rng)
        settings.append(st)
    return settings


def _break(st: Setting, rng: random.Random) -> None:
    """Make one or two things wrong, as a reader might."""
    for _ in range(rng.choice([1, 1, 1, 2])):
        how = rng.choice(
            ["groups", "groups", "kernel", "stride", "padding", "dilation", "channels", "size",
             "empty", "output_padding", "output_padding", "crop", "float", "out_channels"]
        )  # fmt: skip
        if how == "groups":  # a groups that does not divide in or out
            st["groups"] = rng.randint(2, 5)
        elif how == "kernel":
            st["kernel_size"] = 0
        elif how in ("stride", "dilation"):
            st[how] = rng.choice([0, -1])
        elif how == "padding":
            st["padding"] = -rng.randint(1, 2)
        elif how == "channels":
            st[rng.choice(["in_channels", "out_channels"])] = 0
            if rng.random() < 0.3:
                st["groups"] = rng.choice([0, -2])
        elif how == "size":
            st["input_size"] = 0
        elif how == "empty":  # a kernel wider than the padded input
            st["kernel_size"] = st["input_size"] + 2 * max(st["padding"], 0) + rng.randint(1, 3)
        elif how == "output_padding":
            st["transposed"] = True
            st["output_padding"] = max(st["stride"], st["dilation"]) + rng.randint(0, 1)
        elif how == "crop":  # padding that crops away the whole transposed output
            st["transposed"] = True
            st["padding"] = st["input_size"] * 3 + st["kernel_size"]
        elif how == "out_channels":  # transposed: in divisible by groups, out not
            st["transposed"] = True
            st["groups"] = rng.choice([2, 3])
            st["in_channels"] = st["groups"] * rng.randint(1, 3)
            st["out_channels"] = st["groups"] * rng.randint(0, 2) + 1
        else:  # a float for an argument of the call (shapes are always ints)
            name = rng.choice(["stride", "padding", "dilation", "groups", "output_padding"])
            st[name] = rng.randint(0, 3) + 0.5


def convlib_says(st: Setting) -> dict[str, Any]:
    """What convlib computes or raises for these settings: the expected widget state."""
    i, k, cin, cout = st["input_size"], st["kernel_size"], st["in_channels"], st["out_channels"]
    s, p, d, g, op = (st[name] for name in ("stride", "padding", "dilation", "groups",
                                             "output_padding"))  # fmt: skip
    per_group = (lambda c: c // g) if isinstance(g, int) and g > 0 else (lambda c: 1)
    X = torch.empty(1, cin, i, i)
    try:
        # First the call (its checks), then the counts of the layer it makes.
        if st["transposed"]:
            K = torch.empty(cin, per_group(cout), k, k)
            out = _conv_transpose_args(2, X, K, None, s, p, op, g, d)[3].output_size[0]
            assert out == shapes.conv_transpose_output_size(i, k, s, p, op, d)
        else:
            K = torch.empty(cout, per_group(cin), k, k)
            out = _conv_args(2, X, K, None, s, p, d, g)[3].output_size[0]
            assert out == shapes.conv_output_size(i, k, s, p, d)
        params = shapes.conv_params(cin, cout, k, groups=g)
        weights = shapes.conv_params(cin, cout, k, groups=g, bias=False)
        if st["transposed"]:  # every input pixel meets every tap: the adjoint convolution's count
            macs = shapes.conv_macs(cout, cin, k, i, groups=g)
        else:
            macs = shapes.conv_macs(cin, cout, k, out, groups=g)
    except (TypeError, ValueError) as exc:
        return {"error": str(exc), "error_type": type(exc).__name__}
    return {"error": "", "output": out, "params": params, "weights": weights, "macs": macs}


def reads(st: Setting, row: int, col: int) -> set[tuple[int, int]]:
    """Input cells output (row, col) depends on, by convlib's autograd (rows of the padded input
    for a convolution, counted from the unpadded corner)."""
    from convlib import conv2d, conv_transpose2d

    i, k, s, p, d = (st[n] for n in ("input_size", "kernel_size", "stride", "padding", "dilation"))
    K = torch.ones(1, 1, k, k, dtype=torch.float64)
    if st["transposed"]:
        X = torch.ones(1, 1, i, i, dtype=torch.float64, requires_grad=True)
        Y = conv_transpose2d(X, K, None, s, p, st["output_padding"], 1, d)
        offset = 0
    else:
        X = torch.ones(1, 1, i + 2 * p, i + 2 * p, dtype=torch.float64, requires_grad=True)
        Y = conv2d(X, K, None, s, 0, d)
        offset = p
    Y[0, 0, row, col].backward()
    assert X.grad is not None
    return {(r - offset, c - offset) for r, c in (X.grad[0, 0] != 0).nonzero().tolist()}


def feeds(st: Setting, row: int, col: int) -> set[tuple[int, int]]:
    """Output cells input (row, col) reaches, by a forward pass of a one-hot input."""
    from convlib import conv2d, conv_transpose2d

    i, k, s, p, d = (st[n] for n in ("input_size", "kernel_size", "stride", "padding", "dilation"))
    K = torch.ones(1, 1, k, k, dtype=torch.float64)
    if st["transposed"]:
        X = torch.zeros(1, 1, i, i, dtype=torch.float64)
        X[0, 0, row, col] = 1
        Y = conv_transpose2d(X, K, None, s, p, st["output_padding"], 1, d)
    else:
        X = torch.zeros(1, 1, i + 2 * p, i + 2 * p, dtype=torch.float64)
        X[0, 0, row + p, col + p] = 1
        Y = conv2d(X, K, None, s, 0, d)
    return {(r, c) for r, c in (Y[0, 0] != 0).nonzero().tolist()}


def group_edges(cin: int, cout: int, groups: int) -> set[tuple[int, int]]:
    """(input channel, output channel) pairs the groups rule connects."""
    per_in, per_out = cin // groups, cout // groups
    edges = set()
    for o in range(cout):
        group = o // per_out
        edges |= {(c, o) for c in range(group * per_in, (group + 1) * per_in)}
    return edges


# --------------------------------------------------------------------------------------------
# the browser session


# Sets the fields of the first explorer, fires one event, reads back what the widget shows.
# For a valid setting it also points at one output cell and one input cell (focus, as the
# keyboard does) and reads which cells light up.
DRIVE_JS = r"""
({settings, probes}) => {
  const root = document.querySelector("[data-explorer]");
  const field = name => root.querySelector(`input[name="${name}"]`);
  const text = role => root.querySelector(`[data-role="${role}"]`).textContent;
  const value = role => root.querySelector(`[data-role="${role}"]`).getAttribute("data-value");
  const lit = side => Array.from(root.querySelectorAll(`.cx-grid-${side} .cx-lit`))
      .map(c => [Number(c.dataset.row), Number(c.dataset.col)]);
  return settings.map((st, n) => {
    let last = null;
    for (const [name, v] of Object.entries(st)) {
      const input = field(name);
      if (name === "transposed") { input.checked = v; } else { input.value = String(v); }
      last = input;
    }
    last.dispatchEvent(new Event(n % 2 ? "change" : "input", {bubbles: true}));
    const seen = {
      output: text("output-size"), error: text("error"),
      error_type: text("error-type").replace(/:$/, ""),
      params: value("params"), weights: value("weights"), macs: value("macs"),
      params_text: text("params"), macs_text: text("macs"),
      torch: text("torch-call"), convlib: text("convlib-call"),
      edges: Array.from(root.querySelectorAll(".cx-edge"))
          .map(e => [Number(e.dataset.in), Number(e.dataset.out)]),
      grid: root.querySelectorAll(".cx-grid-out .cx-cell").length,
    };
    const probe = probes[n];
    if (probe && seen.grid) {
      const cell = (side, r, c) => root.querySelector(
          `.cx-grid-${side} [data-row="${r}"][data-col="${c}"]`);
      cell("out", probe.out[0], probe.out[1]).focus();
      seen.reads = lit("in");
      seen.focus_info = text("focus-info");
      cell("in", probe.in[0], probe.in[1]).focus();
      seen.feeds = lit("out");
    }
    return seen;
  });
}
"""


def _probes(settings: list[Setting], expected: list[dict[str, Any]]) -> list[Any]:
    """An output cell and an input cell to point at, for each valid setting."""
    rng = random.Random(SEED + 1)
    probes: list[Any] = []
    for st, exp in zip(settings, expected, strict=True):
        if exp["error"]:
            probes.append(None)
            continue
        o, i, p = exp["output"], st["input_size"], st["padding"]
        lo, hi = (0, i) if st["transposed"] else (-p, i + p)
        probes.append({
            "out": [rng.randrange(o), rng.randrange(o)],
            "in": [rng.randrange(lo, hi), rng.randrange(lo, hi)],
        })  # fmt: skip
    return probes


def _watch(page: Any, seen: dict[str, list[str]], host: str) -> None:
    def on_request(request: Any) -> None:
        url = request.url
        if not url.startswith(("data:", "blob:")) and urlsplit(url).netloc != host:
            seen["external"].append(url)

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen["console"].append(f"{message.text} @ {message.location}")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen["console"].append(f"uncaught: {exc}"))
    page.on("requestfailed", lambda r: seen["failed"].append(f"{r.url} ({r.failure})"))


def run_session(chromium: str, site: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    settings = random_settings()
    expected = [convlib_says(st) for st in settings]
    probes = _probes(settings, expected)
    seen: dict[str, list[str]] = {"external": [], "console": [], "failed": []}
    record: dict[str, Any] = {"settings": settings, "expected": expected, "probes": probes}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serve(site) as base, sync_playwright() as pw:
        host = urlsplit(base).netloc
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            desktop = browser.new_context(viewport=DESKTOP, service_workers="block")
            page = desktop.new_page()
            _watch(page, seen, host)
            page.goto(f"{base}/{PAGE}", wait_until="load")
            record["explorers"] = page.locator("[data-explorer]").count()
            record["initial"] = page.evaluate(
                "() => { const r = document.querySelector('[data-explorer]');"
                " return {output: r.querySelector('[data-role=output-size]').textContent,"
                " error: r.querySelector('[data-role=error]').textContent}; }"
            )
            page.locator("[data-explorer]").first.screenshot(
                path=str(SCREENSHOTS / "explorer-widget-desktop.png")
            )
            page.screenshot(path=str(SCREENSHOTS / "explorer-desktop.png"), full_page=True)
            record["keyboard"] = _keyboard(page)
            started = time.perf_counter()
            shown: list[dict[str, Any]] = []
            for at in range(0, len(settings), BATCH):
                shown += page.evaluate(
                    DRIVE_JS,
                    {"settings": settings[at : at + BATCH], "probes": probes[at : at + BATCH]},
                )
            record["drive_seconds"] = round(time.perf_counter() - started, 2)
            record["shown"] = shown
            # A transposed example for the reviewer: input 2, kernel 3, stride 2.
            page.evaluate(DRIVE_JS, {"settings": [{
                "transposed": True, "input_size": 2, "kernel_size": 3, "stride": 2, "padding": 0,
                "dilation": 1, "groups": 1, "in_channels": 2, "out_channels": 4,
                "output_padding": 1}], "probes": [None]})  # fmt: skip
            page.locator(".cx-grid-out [data-row='2'][data-col='2']").first.hover()
            page.locator("[data-explorer]").first.screenshot(
                path=str(SCREENSHOTS / "explorer-transposed-desktop.png")
            )
            record["hover_info"] = page.locator("[data-role=focus-info]").first.text_content()

            phone = browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, service_workers="block"
            )
            mobile = phone.new_page()
            _watch(mobile, seen, host)
            mobile.goto(f"{base}/{PAGE}", wait_until="load")
            record["phone_overflow"] = mobile.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            record["phone_widget_width"] = mobile.evaluate(
                "() => document.querySelector('[data-explorer]').getBoundingClientRect().right"
            )
            mobile.screenshot(path=str(SCREENSHOTS / "explorer-phone.png"), full_page=True)
        finally:
            browser.close()
    record.update(seen)
    record["screenshots"] = sorted(p.name for p in SCREENSHOTS.glob("explorer-*.png"))
    return record


def _keyboard(page: Any) -> dict[str, Any]:
    """Tab from the last setting into the input grid, then into the output grid; arrow keys."""
    out: dict[str, Any] = {}
    page.locator("input[name=output_padding]").first.focus()
    tabs = 0
    while tabs < 10:
        page.keyboard.press("Tab")
        tabs += 1
        side = page.evaluate("() => document.activeElement.dataset.side || ''")
        if side == "out":
            break
    out["tabs_to_output"] = tabs
    out["first"] = page.evaluate("() => [document.activeElement.dataset.row,"
                                 " document.activeElement.dataset.col]")  # fmt: skip
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    out["moved"] = page.evaluate("() => [document.activeElement.dataset.side,"
                                 " document.activeElement.dataset.row,"
                                 " document.activeElement.dataset.col]")  # fmt: skip
    out["lit_inputs"] = page.locator(".cx-grid-in .cx-lit").count()
    out["info"] = page.locator("[data-role=focus-info]").first.text_content()
    return out


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed: the explorer was NOT checked (run `make browser`)")
    return path


@pytest.fixture(scope="session")
def session(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[dict[str, Any]]:
    """One browser session for the whole module, shared by the xdist workers through a file."""
    if not BUILT.is_dir():
        pytest.skip(f"{BUILT} does not exist: build the site first (`make book`)")
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    path = shared / "explorer_session.json"
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            started = time.perf_counter()
            try:
                result = run_session(chromium, BUILT)
                result["seconds"] = round(time.perf_counter() - started, 2)
            except Exception as exc:  # reported by every test, not only the first
                result = {"failure": f"{type(exc).__name__}: {exc}"}
            path.write_text(json.dumps(result))
        result = json.loads(path.read_text())
    if "failure" in result:
        pytest.fail(f"the browser session on {PAGE} failed: {result['failure']}")
    yield result


# --------------------------------------------------------------------------------------------
# tests


def _rows(session: dict[str, Any]) -> Iterator[tuple[Setting, dict[str, Any], dict[str, Any], Any]]:
    """(setting, what convlib says, what the widget showed, the cells pointed at) per setting."""
    keys = ("settings", "expected", "shown", "probes")
    yield from zip(*(session[key] for key in keys), strict=True)


def test_settings_cover_the_cases() -> None:
    """The random settings are valid and invalid, plain and transposed, and hit every error."""
    settings = random_settings()
    expected = [convlib_says(st) for st in settings]
    assert len(settings) >= 500
    valid = [st for st, e in zip(settings, expected, strict=True) if not e["error"]]
    errors = {" ".join(e["error"].split()[:3]) for e in expected if e["error"]}
    assert len(valid) >= 200 and len(settings) - len(valid) >= 200
    assert sum(st["transposed"] for st in valid) >= 80
    assert sum(st["transposed"] for st in settings) >= 200
    messages = " | ".join(e["error"] for e in expected)
    for needle in ("must be divisible by groups", "must both be divisible by groups",
                   "so the output would be empty", "output_padding must be smaller",
                   "padding too large for conv_transpose", "must be an int",
                   "must be positive", "must be non-negative", "kernel size (kh, kw)"):  # fmt: skip
        assert needle in messages, f"no random setting gets convlib's {needle!r} error"
    assert len(errors) >= 10


def test_page_has_an_explorer(session: dict[str, Any]) -> None:
    assert session["explorers"] >= 1
    assert session["initial"]["error"] == "" and session["initial"]["output"].isdigit()


def test_numbers_and_messages_match_convlib(session: dict[str, Any]) -> None:
    """Every setting: the output size, parameters, multiply-adds or the error, as convlib."""
    mismatches = []
    for st, exp, got, _ in _rows(session):
        if exp["error"]:
            want = {"error": exp["error"], "error_type": exp["error_type"], "output": "—"}
            have = {key: got[key] for key in want}
        else:
            want = {
                "error": "", "output": str(exp["output"]), "params": str(exp["params"]),
                "weights": str(exp["weights"]), "macs": str(exp["macs"]),
                "params_text": f"{exp['params']:,}", "macs_text": f"{exp['macs']:,}",
            }  # fmt: skip
            have = {key: got[key] for key in want}
        if have != want:
            mismatches.append(f"{st}\n  convlib: {want}\n  widget:  {have}")
    assert not mismatches, f"{len(mismatches)} settings differ:\n" + "\n".join(mismatches[:10])


def test_highlights_match_convlib(session: dict[str, Any]) -> None:
    """Pointing at an output lights the inputs it depends on (autograd), an input the outputs
    it reaches (forward pass): for convolution and transposed convolution."""
    checked = {False: 0, True: 0}
    for st, _, got, probe in _rows(session):
        if probe is None or not got["grid"]:
            continue
        want_reads = reads(st, *probe["out"])
        want_feeds = feeds(st, *probe["in"])
        assert {tuple(c) for c in got["reads"]} == want_reads, (st, probe["out"], got["reads"])
        assert {tuple(c) for c in got["feeds"]} == want_feeds, (st, probe["in"], got["feeds"])
        assert f"reads {len(want_reads)} input cell" in got["focus_info"], got["focus_info"]
        checked[st["transposed"]] += 1
    assert checked[False] >= 100 and checked[True] >= 80, checked


def test_code_shown_runs_and_agrees(session: dict[str, Any]) -> None:
    """The PyTorch code shown runs as printed; the convlib call shown gives the same tensor."""
    ran = 0
    for st, exp, got, _ in _rows(session):
        name = "conv_transpose2d" if st["transposed"] else "conv2d"
        assert re.search(rf"\bF\.{name}\(x, w, stride=", got["torch"]), got["torch"]
        assert f"convlib.{name}(x, w, stride=" in got["convlib"], got["convlib"]
        if exp["error"]:
            continue
        torch.manual_seed(ran)
        scope: dict[str, Any] = {"print": lambda *args: None}
        shape = (1, st["out_channels"], exp["output"], exp["output"])
        if st["input_size"] == 0:  # convlib pads an empty input; PyTorch refuses it, as shown
            assert "PyTorch raises RuntimeError for a 0 x 0 input" in got["torch"]
            with pytest.raises(RuntimeError):
                exec(got["torch"], scope)
            exec(got["convlib"], scope)
            assert tuple(scope["y"].shape) == shape
            continue
        exec(got["torch"], scope)
        y_torch = scope["y"]
        exec(got["convlib"], scope)
        assert tuple(y_torch.shape) == shape
        torch.testing.assert_close(scope["y"], y_torch, rtol=1e-4, atol=1e-4)
        assert f"torch.Size([{', '.join(map(str, shape))}])" in got["torch"]
        ran += 1
    assert ran >= 200


def test_channel_lines_follow_groups(session: dict[str, Any]) -> None:
    for st, exp, got, _ in _rows(session):
        if exp["error"]:
            assert got["edges"] == []
            continue
        if max(st["in_channels"], st["out_channels"]) > 32:  # drawn up to 32 channels a side
            assert got["edges"] == []
            continue
        drawn = {tuple(e) for e in got["edges"]}
        assert len(drawn) == len(got["edges"])
        assert drawn == group_edges(st["in_channels"], st["out_channels"], st["groups"]), st


def test_keyboard(session: dict[str, Any]) -> None:
    """Tab reaches the grids (one stop per grid); arrows move inside and update the highlight."""
    kb = session["keyboard"]
    assert kb["tabs_to_output"] <= 3, kb  # output_padding -> input grid -> kernel -> output
    assert kb["first"] == ["0", "0"]
    assert kb["moved"] == ["out", "1", "1"]
    assert kb["lit_inputs"] > 0 and kb["info"].startswith("Output (1, 1) reads"), kb


def test_offline_and_no_console_errors(session: dict[str, Any]) -> None:
    assert session["external"] == [], session["external"]
    assert session["failed"] == [], session["failed"]
    assert session["console"] == [], session["console"]


def test_phone_and_screenshots(session: dict[str, Any]) -> None:
    assert session["phone_overflow"] <= 1, "the explorer page scrolls sideways on a phone"
    assert session["phone_widget_width"] <= PHONE["width"] + 1
    for name in ("explorer-desktop.png", "explorer-phone.png", "explorer-widget-desktop.png",
                 "explorer-transposed-desktop.png"):  # fmt: skip
        path = SCREENSHOTS / name
        assert name in session["screenshots"] and path.stat().st_size > 5000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Output (2, 2) reads" in session["hover_info"]


def test_fast_enough(session: dict[str, Any]) -> None:
    """The whole browser session, 600 settings included, stays under a minute (about 10 s on
    a quiet 2-core machine, 16 s on a busy one)."""
    assert session["seconds"] < 60, session["seconds"]
