"""Deployment checks: a production start refuses while a demo account exists.

``demo_accounts_problem`` is shared by the system check (``manage.py check --deploy --database default`` reports
seedtrack.E001) and by config/wsgi.py, which calls ``refuse_demo_accounts`` so a served instance never starts
with the published demo password in its user table.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

DEMO_ACCOUNT_CHECK_ID = "seedtrack.E001"


def demo_accounts(using: str = "default") -> list[str]:
    """User names of the demo users (registry/demo.py DEMO_USERS) and of any active user whose password is the
    published demo password. An unmigrated database has no users: []."""
    from django.contrib.auth import get_user_model

    from registry.demo import DEMO_PASSWORD, DEMO_USERS

    users = get_user_model()._default_manager.db_manager(using)
    try:
        found = set(users.filter(username__in=list(DEMO_USERS)).values_list("username", flat=True))
        for user in users.filter(is_active=True).exclude(username__in=found).exclude(password__startswith="!"):
            if user.check_password(DEMO_PASSWORD):
                found.add(user.get_username())
    except DatabaseError:
        return []
    return sorted(found)


def demo_accounts_problem(using: str = "default") -> str:
    """One line naming the demo accounts when DEBUG is off and some exist; "" otherwise."""
    if settings.DEBUG:
        return ""
    names = demo_accounts(using)
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
    problem = demo_accounts_problem()
    if problem:
        raise ImproperlyConfigured(problem)
