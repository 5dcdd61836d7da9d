# The two commands of the README: `make study` and `make test`. Each sets up .venv first (once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: study test questions bench ui lab plugins refresh-notebooks

study: $(INSTALLED)
	$(BIN)/regstudy sweep params/default-study.yaml
	$(BIN)/regstudy report default-study

# Two workers (one per core); each test file, and each notebook's cells, stay together on one worker.
test: $(INSTALLED)
	$(BIN)/python -m pytest -n 2 --dist loadfile

# Every question notebook at its full size (params/<name>.yaml), each logged to its MLflow parent run.
questions: $(INSTALLED)
	for name in $$($(BIN)/regstudy question); do $(BIN)/regstudy question $$name || exit 1; done

# regstudy's training path beside plain Keras and the machine's limits; ratios within one run (a few minutes).
bench: $(INSTALLED)
	$(BIN)/python -m regstudy.bench --output bench.md

ui: $(INSTALLED)
	$(BIN)/regstudy ui

lab: $(INSTALLED)
	$(BIN)/jupyter lab --ip 127.0.0.1 notebooks/

plugins: $(INSTALLED)
	$(BIN)/regstudy plugins

# Reinstall whenever the dependencies change.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# Re-execute the notebooks in place, into a throw-away store holding the tiny study the comparison
# notebook reads, to refresh the outputs nbval compares.
refresh-notebooks: $(INSTALLED)
	store=$$(mktemp -d) && export MLFLOW_TRACKING_URI=sqlite:///$$store/mlflow.db && \
	$(BIN)/regstudy sweep params/tiny-study.yaml && \
	for notebook in notebooks/*.ipynb; do \
		(cd notebooks && ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace $$(basename $$notebook)) || exit 1; \
	done; rm -rf $$store
