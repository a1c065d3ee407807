# Two commands on a fresh machine: `make demo` (the whole product, running) and `make test`.
# Both set themselves up: the virtual environment, Python dependencies pinned by
# constraints.txt, and (on Debian, as root) the system packages the tests and demo need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The parts, each its own distribution (contract first: the connector and the server need it).
# Editable installs in "compat" mode put each part's folder on sys.path (a .pth line) instead of
# an import hook, so PyInstaller and mypy find the packages as they find any other.
PARTS := contract client server simulator release
PART_PYPROJECTS := $(foreach part,$(PARTS),$(part)/pyproject.toml)
PACKAGES := veracity_contract veracity_connector veracity_server ibkr_gateway_sim veracity_release

# Debian packages: PostgreSQL (tests run on SQLite and PostgreSQL), Chromium for the page tests,
# Xvfb + trayer + xdotool + ImageMagick for the tray tests, docker-compose to validate the topology.
TEST_DEB_PACKAGES := postgresql chromium xvfb trayer xdotool imagemagick x11-utils docker-compose tinyproxy \
	nginx redis-server
DEMO_DEB_PACKAGES :=
# The Windows build under wine (make test-windows): wine itself, and mingw-w64 for the small
# bcryptprimitives.dll that wine 8 lacks (scripts/wine/bcryptprimitives.c); Xvfb and xwininfo to
# see whether a started gateway shows a console window.
WINDOWS_DEB_PACKAGES := wine wine64 gcc-mingw-w64-x86-64-win32 xvfb x11-utils
# The issue-20 benchmarks: wrk drives gunicorn, PostgreSQL runs beside SQLite.
BENCH_DEB_PACKAGES := wrk postgresql

# Most tests wait on real processes and IBKR's pacing rather than the CPU, so three workers
# finish the suite in about half the serial time even on a 2-core machine.
PYTEST_ARGS ?= -n 3 --durations=20

.PHONY: help venv python-prerequisites system-packages windows-packages test test-windows lint \
	typecheck demo bench clean

help:
	@echo "make demo   - run server + gateway simulator + paired connector, print where to look"
	@echo "make test   - run the whole test suite (SQLite and PostgreSQL, browser, tray)"
	@echo "make test-windows - the Windows connector under wine (cached prefix, tests/windows)"
	@echo "make lint   - ruff"
	@echo "make typecheck - mypy on the product packages (make test runs both first)"
	@echo "make bench  - the ingest and history benchmarks, quick runs (quiet machine please)"

# Debian's own python3 comes without venv/ensurepip and without tkinter (the tray's dialogs).
python-prerequisites:
	@$(PYTHON) -c "import ensurepip, tkinter" 2>/dev/null || \
		scripts/ensure-debian-packages python3-venv python3-tk

$(STAMP): pyproject.toml $(PART_PYPROJECTS) constraints.txt | python-prerequisites
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		--config-settings editable_mode=compat $(foreach part,$(PARTS),-e ./$(part)) --group dev
	@touch $(STAMP)

venv: $(STAMP)

# Installs missing Debian packages when running as root on Debian; otherwise says what is missing.
system-packages:
	@scripts/ensure-debian-packages $(TEST_DEB_PACKAGES)

windows-packages:
	@scripts/ensure-debian-packages $(WINDOWS_DEB_PACKAGES)

lint: venv
	$(VENV)/bin/ruff check .

# The product packages, each checked as the package it is installed as.
typecheck: venv
	$(VENV)/bin/mypy $(foreach package,$(PACKAGES),-p $(package))

# Static checks first: a lint or type error fails in seconds instead of after the suite. Then
# the main suite and, beside it, the Windows suite under wine (scripts/run-suites).
test: system-packages windows-packages venv lint typecheck
	scripts/run-suites $(PY) $(PYTEST_ARGS)

# A cached wine prefix (~/.cache/veracity-wine/<key>) with Windows CPython and the connector
# from its own wheel, then the Windows suite. Serial: the suite shares the prefix's vault.
test-windows: windows-packages venv
	$(PY) scripts/windows_prefix.py
	$(PY) -m pytest tests/windows -p no:xdist --durations=10

demo:
	@scripts/ensure-debian-packages $(DEMO_DEB_PACKAGES)
	@$(MAKE) --no-print-directory venv
	$(PY) scripts/demo.py

# Figures, not tests: run on a machine with nothing else busy (docs/server.md, docs/capacity.md).
bench: venv
	@scripts/ensure-debian-packages $(BENCH_DEB_PACKAGES)
	$(PY) benchmarks/ingest.py --quick
	$(PY) benchmarks/history.py --quick

clean:
	rm -rf $(VENV) .demo test-artefacts .pytest_cache .ruff_cache .mypy_cache
