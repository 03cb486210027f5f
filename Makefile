# Two commands do all the set-up: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export SSL_CERT_FILE ?= /etc/ssl/certs/ca-certificates.crt
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell .ci/python)
UV = $(shell .ci/uv)
DEMO_ENV = DEBUG=1 DATABASE_URL=sqlite:///demo.sqlite3 CELERY_TASK_ALWAYS_EAGER=1 ALERTS_RUN_ON_COMMIT=1 ALERTS_GRACE_SECONDS=0
PYTEST_ARGS ?=
BENCH_ARGS ?=
# The benchmark's own database and Redis database, production settings (DEBUG off).
BENCH_ENV = DATABASE_URL="$${DATABASE_URL%/*}/mastery_bench" REDIS_URL="$${REDIS_URL%/*}/14" \
	DEBUG=0 SECRET_KEY=bench-only-not-secret SECURE_HTTPS=0 CELERY_TASK_ALWAYS_EAGER=0

.PHONY: help demo test sync lint bench worker

help:
	@echo "make demo   run the app with demo data on SQLite at http://127.0.0.1:8000"
	@echo "make test   start PostgreSQL and Redis if needed, lint, check migrations, run all tests"
	@echo "make bench  the benchmark on one 2,000-student school (make bench BENCH_ARGS=--district)"

sync:
	$(UV) sync --locked

demo: sync
	$(DEMO_ENV) $(UV) run python manage.py migrate --noinput
	$(DEMO_ENV) $(UV) run python manage.py seed_demo
	@echo "Serving http://127.0.0.1:8000  (Ctrl-C to stop)"
	$(DEMO_ENV) $(UV) run python manage.py runserver 127.0.0.1:8000

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .

test: sync
	@eval "$$(.ci/services)" && \
	  { [ -d tests/sso/provider/node_modules ] || npm ci --prefix tests/sso/provider --no-audit --no-fund; } && \
	  { [ -d tests/sso/saml-idp/node_modules ] || npm ci --prefix tests/sso/saml-idp --no-audit --no-fund; } && \
	  $(UV) run ruff check . && \
	  $(UV) run ruff format --check . && \
	  DEBUG=1 $(UV) run mypy && \
	  $(UV) run lint-imports && \
	  DEBUG=1 $(UV) run python manage.py makemigrations --check --dry-run && \
	  $(UV) run pytest $(PYTEST_ARGS)

worker:
	@eval "$$(.ci/services)" && DEBUG=1 $(UV) run celery -A config worker -l info

bench: sync
	@eval "$$(.ci/services)" && $(BENCH_ENV) $(UV) run python manage.py bench $(BENCH_ARGS)
