# `make run` starts the app (MODELS=tiny: offline, LANG_UI=pl: Polish UI), `make test` runs the offline test
# suite, `make bench` the benchmarks; each sets up .venv from requirements.txt when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODELS ?=
LANG_UI ?=
PORT ?= 7860
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1

.PHONY: run test bench lint clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m spaces --port $(PORT) $(if $(MODELS),--models $(MODELS)) $(if $(LANG_UI),--lang $(LANG_UI))

test: $(VENV)/.installed
	$(OFFLINE) $(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(OFFLINE) $(PY) -m benchmarks $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
