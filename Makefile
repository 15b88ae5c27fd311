# Domain Shift Studio: `make run` starts the app, `make test` runs the tests.  Both create .venv when
# it is missing and install requirements.txt only when it changed (a stamp file records the last install).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8501

E2E_STAMP := $(VENV)/.e2e-stamp
SCALE_STAMP := $(VENV)/.scale-stamp
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-e2e test-ray chromium lint setup bench bench-first-visit clean-venv

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

# The text built-ins' corpora (VADER ground truth) come from the vadersentiment sdist on PyPI, checked against a
# pinned sha256, into DA_CACHE_DIR (never into the repo); a second run only checks them.  DA_FETCH_TEXT=0 skips it.
setup: $(STAMP)
	@if [ "$${DA_FETCH_TEXT:-1}" != 0 ]; then $(PY) -m da_core fetch-text --quiet; fi

# The one-time work for the default pair (datasets, digits-cnn, embeddings, UMAP's compile and map, gap metrics)
# goes to DA_CACHE_DIR before the server starts, so a first visit does not wait for it; a few seconds when all
# is cached (importing torch, mostly).  DA_WARM_UP=0 skips it (and the server's background warm-up).
run: setup
	@if [ "$${DA_WARM_UP:-1}" != 0 ]; then \
	  echo "Preparing the default pair (once per machine; quick when cached)"; \
	  $(PY) -m da_core warmup || echo "warning: the warm-up failed; the app prepares what it needs on first use"; \
	fi
	@echo "Starting Domain Shift Studio on http://localhost:$(PORT) (Ctrl+C stops it)"
	@# Streamlit's own banner looks up this machine's external IP on the internet (a request to
	@# checkip.amazonaws.com, up to 2 s when offline); the line above says where the app is instead.
	$(PY) -m streamlit run app.py --server.headless true --server.port $(PORT) --logger.hideWelcomeMessage true

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not e2e and not ray"

# Browser tests: Playwright from PyPI, Chromium from the system package (never `playwright install`,
# which downloads a browser and fails offline).  Screenshots land in docs/screenshots/.
$(E2E_STAMP): requirements-e2e.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-e2e.txt
	@touch $(E2E_STAMP)

chromium:
	@test -x $(CHROMIUM) || { echo "Chromium missing: installing Debian's package"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

test-e2e: setup $(E2E_STAMP) chromium
	$(PY) -m pytest -m e2e tests/e2e

# The scale extra (requirements-scale.txt): Ray, the optional engine for many runs (`--backend ray`), and faiss for
# neighbour search; its tests run on a local Ray of 2 CPUs, then the neighbour tests again with faiss installed.
$(SCALE_STAMP): requirements-scale.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-scale.txt
	@touch $(SCALE_STAMP)

test-ray: setup $(SCALE_STAMP)
	$(PY) -m pytest -m ray tests/test_scale_ray.py
	$(PY) -m pytest tests/test_neighbours.py

lint: setup
	$(PY) -m ruff check .

# bench_first_visit.py drives the app in headless Chromium, like the browser tests.
bench: setup $(E2E_STAMP) $(SCALE_STAMP) chromium
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

bench-first-visit: setup $(E2E_STAMP) chromium
	$(PY) benchmarks/bench_first_visit.py

clean-venv:
	rm -rf $(VENV)
