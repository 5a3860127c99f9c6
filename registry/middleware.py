"""A user holding a temporary password (registry/accounts.py) can do nothing but choose his own."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from registry.accounts import password_change_pending

ALLOWED_URL_NAMES = ("password_change", "password_change_done", "logout", "login")


class PasswordChangeRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and password_change_pending(user):
            allowed = {reverse(name) for name in ALLOWED_URL_NAMES}
            if request.path_info not in allowed and not request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
                return redirect("password_change")
        return self.get_response(request)
