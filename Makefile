# SeedTrack: `make run` serves the demo (development values), `make serve` the production start (settings from
# the environment, README § Deployment), `make test` runs the whole suite, `make lint`
# the static checks. All create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# The demo's development values: `make run` sets them itself; nothing else does (production is the default).
DEV_ENV := DEBUG=1 SEEDTRACK_DEMO=1 ALLOWED_HOSTS=127.0.0.1,localhost \
	SECRET_KEY=dev-only-secret-key-not-for-production-use-0123456789abcdef

.PHONY: run serve worker test lint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py load_demo_cohort
	@echo "SeedTrack is at http://127.0.0.1:$(PORT)/"
	$(DEV_ENV) $(PY) manage.py runserver 127.0.0.1:$(PORT)

# Production: migrate, collectstatic, check --deploy (must be silent), gunicorn on $$BIND (default
# 127.0.0.1:$$PORT) with 2 workers. Needs SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL in the environment.
serve: $(VENV)/.installed
	PY=$(PY) PORT=$(PORT) ./scripts/serve.sh

# A Celery worker for DICOM imports and `manage.py recompute`: needs CELERY_BROKER_URL (e.g.
# redis://127.0.0.1:6379/0) and the same DATABASE_URL / MEDIA_ROOT as the web processes. Without a broker the
# tasks run in the web process and no worker is needed.
worker: $(VENV)/.installed
	@test -n "$$CELERY_BROKER_URL" || { echo "make worker: set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)" >&2; exit 2; }
	$(VENV)/bin/celery -A config worker --loglevel INFO --concurrency $${WORKER_CONCURRENCY:-2}

# Two workers (pytest-xdist), each module whole on one worker (--dist loadfile: its module-scoped fixtures are set
# up once, its tests keep their order). TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.dev-installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# ruff; the floors as import contracts (pyproject.toml [tool.importlinter]); mypy (strict on the pure cores,
# typed services); no model change without its migration. README § make lint.
lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo
	$(DEV_ENV) $(VENV)/bin/mypy
	$(DEV_ENV) $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
