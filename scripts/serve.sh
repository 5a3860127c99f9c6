#!/bin/sh
# The production start (make serve runs this; README § Deployment): migrate, collect the static files, refuse to
# start unless `check --deploy` is silent, then serve with gunicorn. Settings come from the environment
# (DEBUG off unless set: SECRET_KEY and ALLOWED_HOSTS are required). Stops at the first step that fails.
#   PY       the Python of the virtualenv          (default .venv/bin/python)
#   BIND     address:port gunicorn listens on      (default 127.0.0.1:$PORT, PORT default 8000)
#   WEB_CONCURRENCY  gunicorn worker processes     (default 2)
set -eu
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
BIND="${BIND:-127.0.0.1:${PORT:-8000}}"

"$PY" manage.py migrate --noinput
"$PY" manage.py collectstatic --noinput
"$PY" manage.py check --deploy --database default --fail-level WARNING
exec "$PY" -m gunicorn config.wsgi:application --bind "$BIND" --workers "${WEB_CONCURRENCY:-2}" --access-logfile -
