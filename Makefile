# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Parallel test workers (pytest-xdist). Tests wait on sockets, rate limits and subprocesses
# too: on a 2-core machine 4 workers beat 3 (and 2); `WORKERS=auto` is one per core, 0 one
# process.
WORKERS ?= 4

.PHONY: run test lint setup chromium tools clean db places invite export chat civicbot lock

# Not echoed: what `make run` prints begins with where to open the bot (after the two lines
# that make a new database, on the first run).
run: $(VENV)/.installed
	@$(BIN)/civicbot serve

# The operator's common commands, on the database `make run` uses (./civicbot.db here, or
# DATABASE_URL). `make run` puts civicbot in $(BIN)/, not on the PATH: any other command is
# `$(BIN)/civicbot …` or `make civicbot ARGS="…"` (`ARGS=--help` lists them).
db: $(VENV)/.installed
	$(BIN)/civicbot db init

places: $(VENV)/.installed
	$(BIN)/civicbot municipality list

# make invite ROLE=staff MUNICIPALITY=naryn_city (roles: deputy staff organizer volunteer)
invite: $(VENV)/.installed
	$(BIN)/civicbot invite --role $(ROLE) $(if $(MUNICIPALITY),--municipality $(MUNICIPALITY))

# make export [WHAT=wishes|bribes|campaigns]: a spreadsheet, in a file named for it and the day
WHAT ?= wishes
export: $(VENV)/.installed
	$(BIN)/civicbot export $(WHAT) --format xlsx

chat: $(VENV)/.installed
	$(BIN)/civicbot chat

civicbot: $(VENV)/.installed
	$(BIN)/civicbot $(ARGS)

# The tests start their own PostgreSQL (tests/services.py); the browser tests need chromium.
# Bytecode is written even where the environment says not to: otherwise every worker and
# every `civicbot` a test starts compiles the project again (about 5 s of CPU each).
test: $(VENV)/.installed-dev chromium tools
	$(BIN)/ruff check .
	$(BIN)/mypy
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(WORKERS) --dist worksteal

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

setup: $(VENV)/.installed-dev

# Debian's chromium for the browser tests, installed where apt can (as root or with
# passwordless sudo); elsewhere those tests fail with the one command that gives them one.
chromium:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || { \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else exit 0; fi; \
	  echo "make: installing Debian's chromium for the browser tests"; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
	  echo "make: chromium could not be installed; the browser tests will say what to run"; }

# Debian's caddy and prometheus (for promtool) for tests/test_deploy.py, which checks deploy/
# with them (systemd-analyze comes with systemd); installed as chromium is above, else those
# tests fail with the command to run. Each program is checked apart and only a missing one's
# package installed; the packages start their services (a web server on port 80, Prometheus
# on 9090), which the tests do not need: only those just installed are stopped again, never
# a Caddy or Prometheus this machine already had in use.
tools:
	@missing=; command -v caddy >/dev/null 2>&1 || missing=" caddy"; \
	  command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	  [ -z "$$missing" ] || ! command -v apt-get >/dev/null || { \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else exit 0; fi; \
	  echo "make: installing Debian's$$missing for the deploy tests"; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $$missing >/dev/null && \
	  { ! command -v systemctl >/dev/null || \
	    $$sudo systemctl disable --now $$missing >/dev/null 2>&1 || true; } || \
	  echo "make:$$missing could not be installed; the deploy tests will say what to run"; }

# A venv from before the lock had `phonenumbers`; `phonenumberslite` installs into the same
# folder, so uninstalling either later deletes both: both go, and the lock puts lite back.
UNSHARE_PHONENUMBERS = ! $(BIN)/pip show -q phonenumbers 2>/dev/null || \
	$(BIN)/pip uninstall --quiet -y phonenumbers phonenumberslite

# Installed from the lock files (exact versions, checked by hash), then the project itself
# without resolving anything again; pyproject.toml's ranges are for those who pip install it.
$(VENV)/.installed: pyproject.toml requirements-build.lock requirements.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(UNSHARE_PHONENUMBERS)
	$(BIN)/pip install --quiet -r requirements-build.lock -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-build.lock requirements-dev.lock
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(UNSHARE_PHONENUMBERS)
	$(BIN)/pip install --quiet -r requirements-build.lock -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.installed

# The lock files, after a change to pyproject.toml's dependencies (tests/test_lock.py fails
# until then): the versions locked already are kept; `make lock UPGRADE=--upgrade` takes the
# newest the ranges allow. Universal (every platform and Python the project supports) with
# every wheel's hash: the same files serve this machine, the Docker image and CI.
# requirements-build.lock holds what builds the project itself ([build-system] requires), so
# that installing it fetches nothing unpinned either (`--no-build-isolation`).
UPGRADE ?=
COMPILE = $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet $(UPGRADE)
BUILD_REQUIRES = $(BIN)/python -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
lock: $(VENV)/.installed-dev
	$(COMPILE) pyproject.toml -o requirements.lock
	$(COMPILE) pyproject.toml --extra s3 -o requirements-s3.lock
	$(COMPILE) pyproject.toml --extra dev -o requirements-dev.lock
	$(BUILD_REQUIRES) | $(COMPILE) - -o requirements-build.lock

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
