# The two commands of the README: `make study` and `make test`. Each sets up .venv first (once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: study test ui lab plugins refresh-notebooks

study: $(INSTALLED)
	$(BIN)/regstudy sweep params/default-study.yaml

test: $(INSTALLED)
	$(BIN)/python -m pytest

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

# Re-execute the notebooks in place (into a throw-away store) to refresh the outputs nbval compares.
refresh-notebooks: $(INSTALLED)
	store=$$(mktemp -d) && cd notebooks && for notebook in *.ipynb; do \
		MLFLOW_TRACKING_URI=sqlite:///$$store/mlflow.db ../$(BIN)/jupyter nbconvert --to notebook --execute --inplace $$notebook || exit 1; \
	done; rm -rf $$store
