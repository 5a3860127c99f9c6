"""The Celery application: DICOM imports and the recomputation of derived results run as its tasks.

Its settings are the ``CELERY_*`` names of config/settings.py (broker from ``CELERY_BROKER_URL``; none set means
every task runs in the process that sends it). Tasks live in each app's ``tasks.py`` and stay thin: they call the
app's services, which hold the rules. ``make worker`` starts a worker: ``celery -A config worker``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("seedtrack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
