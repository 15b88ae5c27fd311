# Domain Shift Studio: `make run` starts the app, `make test` runs the tests.  Both create .venv when
# it is missing and install requirements.txt only when it changed (a stamp file records the last install).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8501

E2E_STAMP := $(VENV)/.e2e-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-e2e chromium lint setup bench clean-venv

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	@echo "Starting Domain Shift Studio on http://localhost:$(PORT) (Ctrl+C stops it)"
	$(PY) -m streamlit run app.py --server.headless true --server.port $(PORT)

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not e2e"

# Browser tests: Playwright from PyPI, Chromium from the system package (never `playwright install`,
# which downloads a browser and fails offline).  Screenshots land in docs/screenshots/.
$(E2E_STAMP): requirements-e2e.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-e2e.txt
	@touch $(E2E_STAMP)

chromium:
	@test -x $(CHROMIUM) || { echo "Chromium missing: installing Debian's package"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y chromium; else sudo apt-get install -y chromium; fi; }

test-e2e: setup $(E2E_STAMP) chromium
	$(PY) -m pytest -m e2e tests/e2e

lint: setup
	$(PY) -m ruff check .

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
