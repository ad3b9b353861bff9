# The two commands a newcomer needs:  make dev  (whole stack)   make test  (whole suite)
# Python >= 3.11 is required; 3.13 is preferred (Temporal's sandbox has an import race on 3.11,
# sdk-python#585, and 3.12.1 can crash at interpreter exit after running workflows), so a
# pyenv-installed 3.13 or 3.12 is used when one exists.

VENV ?= .venv
PY_CANDIDATES := python3.13 $(shell pyenv prefix 3.13 2>/dev/null)/bin/python3.13 \
	python3.12 $(shell pyenv prefix 3.12 2>/dev/null)/bin/python3.12 python3.11 python3
PYTHON ?= $(shell for p in $(PY_CANDIDATES); do \
	if $$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1; then echo $$p; break; fi; done)
STAMP := $(VENV)/.installed

.PHONY: dev test venv demo bench clean lint

venv: $(STAMP)

$(STAMP): pyproject.toml sandbox/pyproject.toml tests/js/package-lock.json
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 not found" >&2; exit 1; }
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev,test]" -e ./sandbox
	@# The JavaScript Stellar SDK the client tests drive, from the pinned lockfile (only where Node is).
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/js --no-audit --no-fund --loglevel=error; \
	else echo "node not found: tests/chains/soroban/test_js_sdk.py will be skipped"; fi
	@touch $(STAMP)

## Bring up Postgres, Temporal (+UI), sandboxes, worker and API; Ctrl-C stops all of it.
dev: venv
	$(VENV)/bin/custody dev

## Run the whole test suite (needs PostgreSQL on 127.0.0.1:5432, or TEST_PG_URL).
test: venv
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tests/js/node_modules

lint: venv
	$(VENV)/bin/ruff check .

## Run the scripted journey against the stack that `make dev` runs (in another terminal).
demo: venv
	$(VENV)/bin/custody demo
