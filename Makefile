# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
# Python comes from the machine (python3 ≥ 3.11); everything else is installed into .venv by uv,
# pinned by requirements.lock.

PYTHON ?= python3
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test test-fast lint install translations messages lock clean-instance

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Reinstalled whenever the lock file changes.
$(VENV)/.installed: requirements.lock | $(BIN)/uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	touch $@

install: $(VENV)/.installed

# Compiled catalogs are build output (not committed): portal/translations/*/LC_MESSAGES/messages.mo
translations: install
	$(BIN)/pybabel compile --statistics -d portal/translations >/dev/null

# Start gunicorn and a Huey consumer on 127.0.0.1:$(PORT); Ctrl-C stops both.
run: translations
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	PORT=$(PORT) $(BIN)/python -m portal.runner

# ruff's lint rules only: the code is laid out by hand (aligned continuation lines), which `ruff format`
# would rewrite in 170-odd files; adopting the formatter is one commit of its own if the team wants it.
lint: install
	$(BIN)/ruff check .

# The whole suite: unit, service, view, migration, integration and browser tests,
# on SQLite and (when a server is available or can be started) PostgreSQL.
# Two pytest processes at once, so both cores work: the browser tests (much of their time is Chromium's and the
# live server's) beside everything else; the browser half's output is printed after the other's. Each process has
# its own databases, Redis databases and ports. Exit status 5 (no test selected, e.g. PYTEST_ARGS naming one
# folder) is not a failure of either half.
test: translations
	$(BIN)/ruff check .
	@log=$$(mktemp); \
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS) >"$$log" 2>&1 & browser=$$!; \
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS); rest=$$?; \
	wait $$browser; browser_status=$$?; \
	echo "== browser tests (tests/e2e), run beside the rest"; cat "$$log"; rm -f "$$log"; \
	[ $$rest -eq 0 -o $$rest -eq 5 ] && [ $$browser_status -eq 0 -o $$browser_status -eq 5 ]

# The inner loop: unit, service and view tests on SQLite only, no browser (no PostgreSQL, no Chromium).
# `make test` stays the judge before a commit is shared.
test-fast: translations
	$(BIN)/python -m pytest -m "not e2e" -k "not postgresql" $(PYTEST_ARGS)

# Re-extract every translatable string and merge it into the English catalog.
messages: install
	$(BIN)/pybabel extract -F portal/translations/babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o portal/translations/messages.pot . >/dev/null
	$(BIN)/pybabel update -N --ignore-obsolete -i portal/translations/messages.pot -d portal/translations

lock:
	$(BIN)/uv pip compile --quiet pyproject.toml --extra test --python-version 3.11 --generate-hashes -o requirements.lock

clean-instance:
	rm -rf instance
