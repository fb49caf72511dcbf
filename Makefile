# The two commands of the README. Both set everything up from nothing but python3.11 + make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/suiro run

# The default tier skips tests marked slow (long seed loops, the full built-in run); test-all runs them too.
# Both run on two pytest-xdist workers: most tests wait on `suiro` subprocesses, servers and sleeps, so two
# workers roughly halve the time even on a 2-core machine (tests must not share ports, paths, cwd or env).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	@# Byte-compiled once here: with PYTHONDONTWRITEBYTECODE set, each of the suite's hundreds of
	@# `suiro` subprocesses would otherwise compile the sources again.
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest -m "not slow" -n 2

test-all: $(STAMP)
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .suiro .pytest_cache

# Side-by-side benchmarks against Prefect, Dagster, Dask and Hamilton (bench/README.md).
# make bench: full run, 3 repetitions, table into bench/README.md; QUICK=1: small, 1 repetition;
# AIRFLOW=1: also Airflow 3 (W1, W2 and start-up only).
.PHONY: bench
bench:
	$(PYTHON) bench/setup.py $(if $(AIRFLOW),--airflow)
	$(PYTHON) bench/run.py $(if $(QUICK),--quick,--readme) $(if $(AIRFLOW),--airflow)

# The Airflow 3 environment tests/integration/test_compile_airflow.py runs compiled DAGs in (separate:
# Airflow's pins conflict with suiro's dependencies). About a minute; the tests skip loudly without it.
.PHONY: airflow-env
airflow-env: tests/.venvs/airflow/bin/airflow
tests/.venvs/airflow/bin/airflow:
	$(PYTHON) -m venv tests/.venvs/airflow
	tests/.venvs/airflow/bin/python -m pip install --quiet --disable-pip-version-check 'apache-airflow>=3'
