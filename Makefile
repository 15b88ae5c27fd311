# Domain Shift Studio: `make run` starts the app, `make test` runs the tests.  Both create .venv when
# it is missing and install requirements.txt only when it changed (a stamp file records the last install).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8501

.PHONY: run test lint setup bench clean-venv

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

lint: setup
	$(PY) -m ruff check .

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)
