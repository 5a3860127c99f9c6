"""Deployment checks: a production start refuses while a demo account exists, or without a task queue.

``demo_accounts_problem`` is shared by the system check (``manage.py check --deploy --database default`` reports
seedtrack.E001) and by config/wsgi.py, which calls ``refuse_demo_accounts`` so a served instance never starts
with a demo account. Testing a password costs one hash per user (≈ 0.5 s with Django's PBKDF2), so the system check
(run once by the production start) tests every active user, while the check at every worker start tests the demo
user names and the password of staff and superusers only (the accounts that reach the admin).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.models import Q

from registry.demo_accounts import DEMO_PASSWORD, DEMO_USERS

DEMO_ACCOUNT_CHECK_ID = "seedtrack.E001"
NO_BROKER_CHECK_ID = "seedtrack.W002"


def demo_accounts(using: str = "default", *, every_password: bool = True) -> list[str]:
    """User names of the demo users (registry/demo_accounts.py DEMO_USERS) and of any active user whose password is
    the published demo password (``every_password=False``: of active staff and superusers). An unmigrated
    database has no users: []."""
    users = get_user_model()._default_manager.db_manager(using)
    try:
        found = set(users.filter(username__in=list(DEMO_USERS)).values_list("username", flat=True))
        candidates = users.filter(is_active=True).exclude(username__in=found).exclude(password__startswith="!")
        if not every_password:
            candidates = candidates.filter(Q(is_staff=True) | Q(is_superuser=True))
        for user in candidates:
            if user.check_password(DEMO_PASSWORD):
                found.add(user.get_username())
    except DatabaseError:
        return []
    return sorted(found)


def demo_accounts_problem(using: str = "default", *, every_password: bool = True) -> str:
    """One line naming the demo accounts when DEBUG is off and some exist; "" otherwise."""
    if settings.DEBUG:
        return ""
    names = demo_accounts(using, every_password=every_password)
    if not names:
        return ""
    return (f"Demo accounts exist with DEBUG off: {', '.join(names)}. Delete them or change their password "
            "(a production instance must not accept the published demo password).")


@checks.register(checks.Tags.database, checks.Tags.security, deploy=True)
def check_demo_accounts(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for alias in databases or ():
        problem = demo_accounts_problem(alias)
        if problem:
            errors.append(checks.Error(problem, id=DEMO_ACCOUNT_CHECK_ID,
                                       hint="manage.py shell: remove the users named, or run with DEBUG=1 for the demo."))
    return errors


def refuse_demo_accounts() -> None:
    """Called by config/wsgi.py: a production start stops with one line while a demo account exists."""
    problem = demo_accounts_problem(every_password=False)
    if problem:
        raise ImproperlyConfigured(problem)


@checks.register(checks.Tags.security, deploy=True)
def check_task_queue(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Production needs a broker: without one, DICOM imports and recomputation run inside the web request, where
    gunicorn stops a request after its timeout (30 s) and the user waits on a page that does not answer."""
    if settings.DEBUG or settings.CELERY_BROKER_URL:
        return []
    return [checks.Warning(
        "CELERY_BROKER_URL is not set: DICOM imports and recomputation would run inside web requests.",
        id=NO_BROKER_CHECK_ID,
        hint="Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) and run `make worker` (README § Deployment).")]
