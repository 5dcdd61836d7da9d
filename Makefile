# The two commands of the README: `make study` and `make test`. Each sets up .venv first (once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make study GPU=1` (or any target) installs TensorFlow with CUDA, the `gpu` extra; the default is CPU-only.
TENSORFLOW := $(if $(GPU),gpu,cpu)
INSTALLED := $(VENV)/.installed-$(TENSORFLOW)

.PHONY: study test browser questions results bench ui lab plugins refresh-notebooks format

study: $(INSTALLED)
	$(BIN)/regstudy sweep params/default-study.yaml
	$(BIN)/regstudy report default-study

# The linter and formatter first (seconds), then the suite on two workers (one per core); each test file, and
# each notebook's cells, stay together on one worker.
test: $(INSTALLED) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The suite opens the reports in a real headless Chromium: the system's package (installed with apt-get when
# this runs as root on Debian or Ubuntu), or else Playwright's own download of it.
browser: $(INSTALLED)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "make test: installing Chromium (apt-get install chromium) to open the reports in"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		$(BIN)/python -m playwright install chromium; \
	fi

# Every question notebook at its full size (params/<name>.yaml), each logged to its MLflow parent run.
questions: $(INSTALLED)
	for name in $$($(BIN)/regstudy question); do $(BIN)/regstudy question $$name || exit 1; done

# The findings, published: the default study's and every question's full-size answer as a page and a summary in
# results/, and one line each in the README, all read from the runs in the store; what it lacks runs first.
results: $(INSTALLED)
	$(BIN)/regstudy results

# regstudy's training path beside plain Keras and the machine's limits; ratios within one run (a few minutes).
bench: $(INSTALLED)
	$(BIN)/python -m regstudy.bench --output bench.md

# Reformat and fix what the linter can fix by itself (`make test` only checks).
format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

ui: $(INSTALLED)
	$(BIN)/regstudy ui

# Jupyter refuses to start as root (as many containers and cloud notebooks run) unless told it may.
lab: $(INSTALLED)
	@if [ "$$(id -u)" = 0 ]; then echo "make lab: running as root, so passing --allow-root to Jupyter"; fi
	$(BIN)/jupyter lab --ip 127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/

plugins: $(INSTALLED)
	$(BIN)/regstudy plugins

# Reinstall whenever the dependencies change, or the other TensorFlow is asked for. tensorflow and
# tensorflow-cpu install the same package, so the other one is removed first.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	if [ -e $(VENV)/.installed-$(if $(GPU),cpu,gpu) ]; then $(BIN)/python -m pip uninstall --quiet --yes tensorflow tensorflow-cpu; fi
	$(BIN)/python -m pip install --quiet -e ".[test,jax,$(TENSORFLOW)]"
	rm -f $(VENV)/.installed-*
	touch $@

# Re-execute the notebooks in place, into a throw-away store holding the tiny study the comparison
# notebook reads, to refresh the outputs nbval compares.
refresh-notebooks: $(INSTALLED)
	store=$$(mktemp -d) && export MLFLOW_TRACKING_URI=sqlite:///$$store/mlflow.db && \
	$(BIN)/regstudy sweep params/tiny-study.yaml && \
	for notebook in notebooks/*.ipynb; do \
		(cd notebooks && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace $$(basename $$notebook)) || exit 1; \
	done; rm -rf $$store
