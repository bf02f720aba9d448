# The same targets a person runs are the ones CI runs (.ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install lint test quick bench demo clean

$(PY):
	python3 -m venv $(VENV)

install: $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev]"

lint:
	$(PY) -m ruff check praison_push tests bench
	$(PY) -m ruff format --check praison_push tests bench
	$(PY) -m mypy

test:
	$(PY) -m pytest --cov=praison_push --cov-branch --cov-fail-under=90

# The inner loop (README, "Quick start"): no browsers, kernels, Redis or whole programs.
quick:
	$(PY) -m pytest -n 3 -m "not browser and not kernel and not redis and not e2e"

bench:
	$(PY) bench/fanout.py
	$(PY) bench/agents.py
	$(PY) bench/widgets.py

demo:
	$(VENV)/bin/praison-push demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
