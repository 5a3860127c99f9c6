"""Response headers for everything Django serves (pages, CSV, SVG, PDF, stored files, errors).

Patient data must not stay in a browser's or a proxy's cache: every response Django produces says
``Cache-Control: no-store`` (and ``Pragma: no-cache`` for HTTP/1.0 caches). Static files are served by WhiteNoise
before this middleware runs, so they keep their long-lived cache headers.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # Replaces any weaker header a view set (max-age, private…): nothing Django serves may be stored.
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response
