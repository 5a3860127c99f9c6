"""The 500 handler: the friendly page with the navigation of a logged-in user; without the navigation when
rendering with the request fails (the database is down, so the session or the user cannot be read); and as a
plain page when even that fails (e.g. static files not collected, so base.html cannot name its stylesheet)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponseServerError
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

PLAIN_500 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Server error · SeedTrack</title></head>
<body><h1>Something went wrong on the server (500)</h1>
<p>SeedTrack could not complete this request because of an error on the server; the error has been logged.
A save that was interrupted was not stored in part: check the record, then try again. If it keeps happening, tell
your data manager the time and what you were doing.</p><p><a href="/">Back to your start page</a></p></body></html>
"""


def server_error(request: HttpRequest) -> HttpResponseServerError:
    # The page must render whatever broke; the error itself is already logged by Django.
    for attempt in (lambda: render_to_string("500.html", request=request), lambda: render_to_string("500.html")):
        try:
            return HttpResponseServerError(attempt())
        except Exception:
            logger.warning("the 500 page could not be rendered this way; trying a simpler one", exc_info=True)
    return HttpResponseServerError(PLAIN_500)
