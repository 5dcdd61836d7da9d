# The two commands of the README: `make study` and `make test`. Each sets up .venv first (once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: study test ui lab plugins clean-store

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
