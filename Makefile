# Strongroom: `make run` starts a registry with embedded defaults; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run strongroom test test-tools check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: install
	$(PY) -m strongroom serve $(ARGS)

# Any other command, e.g. make strongroom ARGS="admin reset-password" (the same as .venv/bin/strongroom).
strongroom: install
	$(VENV)/bin/strongroom $(ARGS)

# Installs the tools the tests drive when missing (apt-get as root, else prints the command);
# STRONGROOM_TEST_SKIP=podman,postgres,... leaves parts out.
test-tools: install
	$(PY) tests/support/tools.py install

test: test-tools
	$(PY) -m pytest $(ARGS)

check: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	PYTHON=$(abspath $(PY)) bash bench/run.sh $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
