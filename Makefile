# `make run` starts the app (MODELS=tiny: offline, LANG_UI=pl: Polish UI), `make test` runs the offline test
# suite, `make bench` the benchmarks; each sets up .venv from requirements.txt when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODELS ?=
LANG_UI ?=
PORT ?= 7860
# the suite in two processes, a test file each (its module fixtures, servers and browsers stay in one process);
# PYTEST_ARGS="-n 0" runs it in one
PYTEST_ARGS ?= -n 2 --dist loadfile
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: run test bench lint clean chromium

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m spaces --port $(PORT) $(if $(MODELS),--models $(MODELS)) $(if $(LANG_UI),--lang $(LANG_UI))

test: $(VENV)/.installed chromium
	$(OFFLINE) $(PY) -m pytest $(PYTEST_ARGS)

# The Spaces' browser test drives Debian's chromium through Playwright (never `playwright install`);
# without root or sudo it is skipped.
chromium:
	@command -v chromium >/dev/null || { \
	  s=""; [ "$$(id -u)" -eq 0 ] || s="sudo -n"; \
	  { $$s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq chromium \
	    fonts-noto-color-emoji >/dev/null; } || echo "chromium not installed: the browser test will be skipped"; }

bench: $(VENV)/.installed
	$(OFFLINE) $(PY) -m benchmarks $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
