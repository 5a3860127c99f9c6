"""What the upload handler tells a page about the files it dropped as too large.

The handler (config/upload_limits.py, which stays in config with the middleware) records one line per dropped
file on the request with :func:`add_upload_error`; an upload page reads them with :func:`upload_errors` after the
request's POST and FILES were parsed and shows them on its files field. Apps import this module, never config.
"""

from __future__ import annotations

from django.http import HttpRequest

__all__ = ["add_upload_error", "upload_errors"]

_ATTRIBUTE = "upload_errors"


def add_upload_error(request: HttpRequest, text: str) -> None:
    """Record that a file was dropped: ``text`` names it, its size and the limit ("file NAME: N MB; …")."""
    if not hasattr(request, _ATTRIBUTE):
        setattr(request, _ATTRIBUTE, [])
    getattr(request, _ATTRIBUTE).append(text)


def upload_errors(request: HttpRequest) -> list[str]:
    """The files the upload handler dropped as too large (parse request.POST / FILES first)."""
    return list(getattr(request, _ATTRIBUTE, []))
