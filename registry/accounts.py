"""Account management a data manager may do (the restricted user admin, registry/admin_users.py, calls these).

A data manager manages the users who share one of his sites, and the users without a site yet that he created;
never a superuser. He gives roles (only the four role groups of registry/roles.py) and memberships of his own
sites, (de)activates, issues a temporary password (shown to him once; the user must choose his own at the next
login, registry/middleware.py) and unlocks an account django-axes locked after failed logins. Each of these lands
in the account's history (AccountSecurity) with who did it and why.
"""

from __future__ import annotations

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.views import PasswordChangeView
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.crypto import get_random_string

from common.writes import set_history
from registry.models import AccountSecurity, Site

# No 0/O, 1/l/I: the data manager reads the password out or writes it down.
TEMP_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def managed_sites(manager) -> QuerySet[Site]:
    """The sites whose memberships ``manager`` may give: his own (a superuser: all)."""
    if manager.is_superuser:
        return Site.objects.all()
    return Site.objects.filter(memberships__user=manager)


def managed_users(manager) -> QuerySet:
    """The users ``manager`` sees and manages in the user admin."""
    users = get_user_model()._default_manager.all()
    if manager.is_superuser:
        return users
    mine = Q(site_memberships__site__in=managed_sites(manager))
    created_without_site = Q(site_memberships__isnull=True, account_security__created_by=manager)
    ids = users.filter(is_superuser=False).filter(mine | created_without_site).values("pk")
    return users.filter(pk__in=ids)


def security_of(user) -> AccountSecurity:
    return AccountSecurity.objects.get_or_create(user=user)[0]


def _record(security: AccountSecurity, by, reason: str) -> None:
    set_history(security, by, reason)
    security.save()


def new_temporary_password() -> str:
    """16 characters in four groups (≈ 90 bits): typed once, then replaced by the user's own."""
    return "-".join(get_random_string(4, TEMP_PASSWORD_ALPHABET) for _ in range(4))


@transaction.atomic
def issue_temporary_password(*, user, by) -> str:
    """Give ``user`` a random password, returned once (it is stored only hashed); he must change it at his next
    login. His open sessions end (Django ties sessions to the password hash)."""
    password = new_temporary_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    security = security_of(user)
    security.must_change_password = True
    security.temp_password_hash = user.password
    security.temp_issued_by, security.temp_issued_at = by, timezone.now()
    _record(security, by, f"temporary password issued by {by.get_username()}; to be changed at the next login")
    return password


@transaction.atomic
def record_creation(*, user, by) -> None:
    security = security_of(user)
    security.created_by = by
    _record(security, by, f"account created by {by.get_username()}")


@transaction.atomic
def unlock(*, user, by) -> int:
    """Clear django-axes' failed-login records of ``user`` (every IP address); returns how many there were."""
    cleared = axes_reset(username=user.get_username())
    _record(security_of(user), by, f"unlocked by {by.get_username()}: {cleared} failed-login record(s) cleared")
    return cleared


def password_change_pending(user) -> bool:
    """True while ``user`` still logs in with a temporary password a data manager issued."""
    security = AccountSecurity.objects.filter(user=user, must_change_password=True).first()
    return security is not None and security.temp_password_hash == user.password


class PasswordChange(PasswordChangeView):
    """Django's password change; choosing one's own password ends the temporary one."""

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "must_change_password": password_change_pending(self.request.user)}

    def form_valid(self, form):
        response = super().form_valid(form)
        security = AccountSecurity.objects.filter(user=self.request.user, must_change_password=True).first()
        if security is not None:
            security.must_change_password, security.temp_password_hash = False, ""
            _record(security, self.request.user, "temporary password replaced by the user's own")
        return response
