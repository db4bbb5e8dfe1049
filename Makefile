# Convolutions from Scratch: the verbs a newcomer needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup book book-private test lint bench grade clean exercises check-exercises

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 20

# The virtual environment is rebuilt whenever requirements.txt or pyproject.toml changes.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

setup: $(STAMP) browser  ## create .venv from requirements.txt (done automatically by the other targets), install Chromium

# Debian's Chromium for the site's browser test (tests/test_site.py): apt-get only when it is missing.
.PHONY: browser
browser:  ## install Chromium (Debian package) for the browser test of the site, if missing
	@if [ -x /usr/bin/chromium ]; then echo "chromium: present (/usr/bin/chromium)"; \
	elif command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  { $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	  || echo "warning: could not install chromium: the browser test of the site will be skipped"; \
	else echo "warning: no apt-get here: install Chromium, or the browser test of the site is skipped"; fi

book: $(STAMP)  ## build the site (executes chapters, cached); prints the path of index.html
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going
	@echo "Site built: $(CURDIR)/_build/html/index.html"

book-private: $(STAMP)  ## build the site for a private term (no solutions, no instructor pages) into _build/private
	$(PY) scripts/private_site.py --out _build/private

test: book browser  ## build the site, then run the whole test suite (installs Chromium if missing)
	$(PY) -m pytest -n auto

lint: $(STAMP)  ## ruff and mypy on the library, tests, tools and scripts
	$(VENV)/bin/ruff check convlib tests tools scripts
	$(VENV)/bin/ruff format --check convlib tests tools scripts --exclude scripts/exercise_sources
	$(VENV)/bin/mypy  # files listed in pyproject.toml: convlib, tests, tools, scripts

bench: $(STAMP)  ## benchmark every convlib path against torch; writes CSV and plots
	$(PY) -m convlib.bench

grade: $(STAMP)  ## autograde a class folder: make grade CLASS=path/to/submitted [device=cuda] [OUT=dir] [JOBS=n] [SCHEDULER=tcp://host:8786] [ROSTER=csv]
	@test -n "$(CLASS)" || { echo "usage: make grade CLASS=path/to/submitted [device=cuda] [OUT=dir] [JOBS=n] [SCHEDULER=address or scheduler file]"; exit 2; }
	$(PY) -m tools.grading "$(CLASS)" --device $(or $(device),cpu) $(if $(OUT),--out "$(OUT)") $(if $(JOBS),--jobs $(JOBS)) $(if $(SCHEDULER),--scheduler "$(SCHEDULER)") $(if $(ROSTER),--roster "$(ROSTER)")

exercises: $(STAMP)  ## regenerate solutions/ and exercises/ from scripts/exercise_sources
	$(PY) scripts/make_exercises.py

check-exercises: $(STAMP)  ## fail if exercises/ is out of sync with solutions/
	$(PY) scripts/make_exercises.py --check

clean:  ## remove the built site and caches (keeps .venv)
	rm -rf _build .pytest_cache .hypothesis
