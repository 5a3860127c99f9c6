# The Celery app is loaded with Django, so @shared_task tasks bind to it (Celery's documented Django layout).
from config.celery import app as celery_app

__all__ = ("celery_app",)
