# The two entry points of the README: `make demo` and `make test`.
VENV    ?= .venv
BIN     := $(VENV)/bin
DEMO_DB ?= sqlite:///demo.db

.PHONY: demo test install install-test browser lint bench

demo: install
	$(BIN)/smflow --db $(DEMO_DB) demo load
	$(BIN)/smflow --db $(DEMO_DB) serve --host 127.0.0.1 --port 5000

test: install-test browser
	$(BIN)/python -m pytest -q

install: $(BIN)/python node_modules/.package-lock.json
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python node_modules/.package-lock.json
	$(BIN)/pip install -q -e ".[test]"

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# bpmn-js and the properties panel come from npm (pinned by package-lock.json); `npm ci` then copies the
# viewer and bundles the modeler (esbuild) into web/static/build/.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The browser tests drive Debian's Chromium; a CJK font makes Chinese readable in screenshots.
browser:
	@command -v chromium >/dev/null && fc-list | grep -qi wqy || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei; }

lint: install-test
	$(BIN)/ruff check .

# Engine, growth, HTTP (gunicorn), the inbox at scale and start-up; writes bench/report.md and report.png.
# PostgreSQL: SMFLOW_BENCH_PG_URL (default postgresql://postgres@127.0.0.1:5432/test; scratch databases beside it).
bench: install-test
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/python -m bench all
