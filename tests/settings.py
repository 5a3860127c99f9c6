"""Settings of the test suite: the development values ``make run`` sets (DEBUG on, the committed development
key, demo mode), put in the environment before config.settings reads it — so subprocesses the tests start
(``manage.py …``) get them too. A variable already set (e.g. DATABASE_URL for PostgreSQL in CI) is kept.

Production behaviour (DEBUG off: required variables, HTTPS, the manifest of static files, error pages) is tested
explicitly: tests/test_settings.py and tests/test_deployment.py start manage.py / gunicorn with DEBUG=0.
"""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("SEEDTRACK_DEMO", "1")

from config.settings import *  # noqa: E402,F403
