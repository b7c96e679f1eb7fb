# mnist-pipeline: `make pipeline` runs everything, `make test` tests everything.
# Both create .venv and install the project (pinned by requirements.lock) on first use.

PYTHON ?= python3.11
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# Stage commands in dvc.yaml call `python` and `mnist-pipeline`: make them the venv's.
export PATH := $(BIN):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install pipeline params test lint ui bench lock clean stack-up stack-down

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,optuna,team,cluster]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools, the Optuna sweeper and the team stack's clients

pipeline: install ## Run the whole DVC pipeline (download -> preprocess -> train -> evaluate)
	$(BIN)/dvc repro

params: install ## Regenerate params.yaml from conf/ after editing conf/
	$(BIN)/mnist-pipeline params

test: install ## Run the test suite
	$(BIN)/python -m pytest

lint: install ## Lint, format-check (ruff) and check the package's layering (import-linter)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

ui: install ## Open the MLflow UI on the local store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --default-artifact-root ./mlartifacts

STACK_DIR ?= .team-stack

stack-up: install ## Start PostgreSQL, an S3 store and mlflow server on 127.0.0.1 (data in $(STACK_DIR)); prints what to paste
	$(BIN)/python scripts/team_stack.py up --dir $(STACK_DIR)

stack-down: ## Stop the team stack by PID (its data stays in $(STACK_DIR))
	$(BIN)/python scripts/team_stack.py down --dir $(STACK_DIR)

bench: install ## Benchmark the pipeline against the reference script (needs MNIST_MIRROR); writes docs/benchmarks.md
	$(BIN)/python benchmarks/bench.py --scaling

lock: install ## Re-pin requirements.lock to what is installed now
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^mnist-pipeline' > requirements.lock

clean: ## Remove pipeline outputs and the local MLflow store (keeps .venv and the DVC cache)
	rm -rf data/raw data/processed models reports mlflow.db mlartifacts outputs
