# Two commands on a fresh machine with only Python 3.11: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen --all-packages

.PHONY: help uv sync lint typecheck security unit test demo serve bench

help:
	@echo "make demo   deploy a good and two bad releases of voj on the embedded sandbox"
	@echo "make test   lint, type-check and run the whole suite"
	@echo "make serve  run the voj backend on 127.0.0.1:8000 against an embedded moto"
	@echo "make bench  run the benchmarks in bench/ and print their tables"

uv:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv \
		|| $(PYTHON) -m pip install --quiet --disable-pip-version-check --user uv

sync: uv
	@$(UV) sync --frozen --all-packages --compile-bytecode --quiet

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: sync
	$(RUN) mypy

unit: sync
	$(RUN) pytest -q -n 2 --dist loadfile

# checkov over the delivery files, in its own pinned tool environment (its pins would fight the
# project's lock), offline: --skip-download and BC_SKIP_MAPPING keep it off its platform. Every
# skip is justified where it is made (template Metadata, workflow and Dockerfile comments).
CHECKOV := checkov==3.3.30
security: uv
	BC_SKIP_MAPPING=TRUE $(UV) tool run --quiet --from $(CHECKOV) checkov --skip-download --quiet --compact \
		-d infra -d .github -d backend --framework cloudformation github_actions dockerfile

test: lint typecheck security unit

serve: sync
	$(RUN) python -m app.devserver

demo: sync
	$(RUN) rollout demo

bench: sync
	$(RUN) python bench/backend.py && $(RUN) python bench/restore.py && $(RUN) python bench/sim_cost.py && $(RUN) python bench/runtime.py
