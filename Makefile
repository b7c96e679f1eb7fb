# mnist-pipeline: `make pipeline` runs everything, `make test` tests everything.
# Both create .venv and install the project (pinned by requirements.lock) on first use, with
# the newest Python 3.11-3.13 that runs here, or PYTHON (`make test PYTHON=python3.12`).

# Empty: scripts/find-python picks. VENV: another environment beside .venv (CI tests each Python).
PYTHON ?=
VENV ?= .venv
# GPU=1: train on an NVIDIA GPU (x86-64 Linux): adds the `gpu` extra, TensorFlow's CUDA build in
# place of tensorflow-cpu (scripts/install-venv swaps them).
GPU ?=
COMMA := ,
EXTRAS ?= dev,optuna,team,cluster,ray$(if $(GPU),$(COMMA)gpu)
# `make test PYTEST_ARGS='-m "not slow"'`: the fast suite. TEST_WORKERS: pytest-xdist processes
# (each test file runs whole on one of them); 0 runs everything in this one process.
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
LOCK_ARGS ?=
BIN := $(abspath $(VENV))/bin
# One stamp per PYTHON asked for: asking for another one rebuilds VENV with it.
STAMP := $(VENV)/.installed$(if $(PYTHON),-$(subst /,_,$(PYTHON)))$(if $(GPU),-gpu)
export PYTHON VENV EXTRAS
# Stage commands in dvc.yaml call `python` and `mnist-pipeline`: make them the venv's.
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install pipeline plots params test lint mutants ui bench bench-best lock clean stack-up stack-down

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock scripts/install-venv scripts/find-python
	scripts/install-venv
	touch $(STAMP)

install: $(STAMP) ## Create .venv (newest Python 3.11-3.13, or PYTHON=...) and install the project, dev tools, Optuna sweeper, team, cluster and Ray clients (GPU=1: TensorFlow for NVIDIA GPUs)
	@echo "make: $(VENV) runs Python $$($(BIN)/python -c 'import platform; print(platform.python_version())')"

pipeline: install ## Run the whole DVC pipeline (download -> preprocess -> train -> evaluate)
	$(BIN)/dvc repro
	$(BIN)/mnist-pipeline plots-page

plots: install ## dvc plots show, on a page that draws offline (Vega inline: mnist-pipeline plots-page)
	$(BIN)/mnist-pipeline plots-page
	$(BIN)/dvc plots show

params: install ## Regenerate params.yaml from conf/ after editing conf/
	$(BIN)/mnist-pipeline params

test: install ## Run the test suite (on TEST_WORKERS=2 processes; lists the 15 slowest tests, to keep it under 15 minutes)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

lint: install ## Lint, format-check (ruff) and check the package's layering (import-linter)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

mutants: install ## Break src/ one line at a time in a temporary copy (8 mutants, ~2 min); fails if the fast tests miss one
	$(BIN)/python scripts/mutants.py

ui: install ## Open the MLflow UI on the local store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root ./mlartifacts

STACK_DIR ?= .team-stack

stack-up: install ## Start PostgreSQL, an S3 store and mlflow server on 127.0.0.1 (data in $(STACK_DIR)); prints what to paste
	$(BIN)/python scripts/team_stack.py up --dir $(STACK_DIR)

stack-down: ## Stop the team stack by PID (its data stays in $(STACK_DIR))
	$(BIN)/python scripts/team_stack.py down --dir $(STACK_DIR)

bench: install ## Benchmark the pipeline, an edit, sweeps, predict, runs and the CNN against the reference script (needs MNIST_MIRROR; 20-30 minutes on 2 cores); writes docs/benchmarks.md
	$(BIN)/python benchmarks/bench.py --scaling

bench-best: install ## Time +experiment=best to accuracy over three seeds, and their ensemble (needs MNIST_MIRROR; about 25 minutes on 2 cores); writes docs/benchmarks-best.md
	$(BIN)/python benchmarks/bench.py --sections cnn --cnn-experiment best --out docs/benchmarks-best.md

# One universal lock for Python 3.11-3.13 on every platform, all extras. It keeps the pins it
# already has and changes only what pyproject.toml now needs; `make lock LOCK_ARGS=--upgrade`
# moves everything to the newest allowed versions. After a merge conflict in requirements.lock,
# take either side and run `make lock`.
lock: install ## Re-pin requirements.lock from pyproject.toml (universal: Python 3.11-3.13, every OS)
	$(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
	  --custom-compile-command 'make lock' --quiet $(LOCK_ARGS) -o requirements.lock

clean: ## Remove pipeline outputs and the local MLflow store (keeps .venv and the DVC cache)
	rm -rf data/raw data/processed models reports mlflow.db mlartifacts outputs
