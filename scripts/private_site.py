"""Build the site for a private term: no solution source, no hidden test, no instructor page.

    python scripts/private_site.py [--out DIR]      # the site lands in DIR/_build/html

The public `_config.yml` and `_toc.yml` stay as they are. This writes a copy of each into DIR with
`site_publish_solutions: false` (book/_ext/site_downloads.py then copies no solution source and
the instructors page links none) and without the pages listed in `site_optional_pages` (the
instructor pages; links to them from other pages become plain text). Chapter execution is read
from the public build's cache (`_build/.jupyter_cache`), so after `make book` this takes about a
minute; without it the chapters execute once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def private_config(root: Path = ROOT) -> dict[str, Any]:
    """`_config.yml` for the private site (paths made absolute: the copy lives elsewhere)."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config.setdefault("sphinx", {})
    sphinx["local_extensions"] = {
        name: str((root / path).resolve()) for name, path in sphinx["local_extensions"].items()
    }
    sphinx.setdefault("config", {})["site_publish_solutions"] = False
    config.setdefault("execute", {})["cache"] = str(root / "_build" / ".jupyter_cache")
    return config


def private_toc(root: Path = ROOT) -> dict[str, Any]:
    """`_toc.yml` without the optional (instructor) pages."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    optional = set(config["sphinx"]["config"].get("site_optional_pages", []))
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    for part in toc.get("parts", []):
        part["chapters"] = [c for c in part["chapters"] if c.get("file") not in optional]
    toc["parts"] = [p for p in toc.get("parts", []) if p["chapters"]]
    return toc


def build(out: Path, root: Path = ROOT) -> Path:
    """Build the private site under ``out``; returns its html folder. Raises on a failed build."""
    out.mkdir(parents=True, exist_ok=True)
    config, toc = out / "_private_config.yml", out / "_private_toc.yml"
    config.write_text(yaml.safe_dump(private_config(root), sort_keys=False), encoding="utf-8")
    toc.write_text(yaml.safe_dump(private_toc(root), sort_keys=False), encoding="utf-8")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jupyter_book), "build", str(root), "--config", str(config), "--toc", str(toc)]
    cmd += ["--path-output", str(out), "--warningiserror", "--keep-going"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"the private site build failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    return out / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "private")
    args = parser.parse_args(argv)
    try:
        html = build(args.out.resolve())
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Private site built: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
