"""The 500 handler: the friendly page with the navigation of a logged-in user, and without it when rendering
with the request fails (the database is down, so the session or the user cannot be read)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponseServerError
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def server_error(request: HttpRequest) -> HttpResponseServerError:
    try:
        html = render_to_string("500.html", request=request)
    except Exception:  # the page must render whatever broke; the cause is already in the log
        logger.warning("500 page rendered without the request (navigation left out)", exc_info=True)
        html = render_to_string("500.html")
    return HttpResponseServerError(html)
