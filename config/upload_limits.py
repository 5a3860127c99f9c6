"""Size limits that act before a request body is read or parsed.

``UploadLimitMiddleware`` (in MIDDLEWARE after AuthenticationMiddleware, before CsrfViewMiddleware: CSRF's
``process_view`` reads ``request.POST``, which parses the whole body) answers, without reading the body:

- 413 when Content-Length exceeds ``UPLOAD_MAX_REQUEST_MB``;
- 302 to the login page (403 for a request that is not a page, e.g. JSON) for a body sent by an anonymous user to
  any view other than the login page (views marked ``login_not_required``), and 413 for an anonymous body over
  ``ANONYMOUS_MAX_BODY_BYTES`` even there;
- a body without Content-Length (``Transfer-Encoding: chunked``) is read only where the server marks the input as
  terminated (``wsgi.input_terminated``), and only up to the request limit (413 beyond, spooled to disk past
  1 MB); elsewhere it is refused with 411, since Django would read it as empty.

``LimitedUploadHandler`` (the only FILE_UPLOAD_HANDLERS entry; files stream to temporary files) counts every
uploaded file while it streams: a file over ``UPLOAD_MAX_FILE_MB`` is dropped and the rest of it swallowed chunk by
chunk (nothing of it is kept, the rest of the form still parses) and ``request.upload_errors`` says "file NAME: N MB; the limit is 64 MB (UPLOAD_MAX_FILE_MB)", which the upload
page shows on the files field (``common.uploads.upload_errors(request)``).
"""

from __future__ import annotations

import tempfile

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from common.uploads import add_upload_error

MB = 1024 * 1024
ANONYMOUS_MAX_BODY_BYTES = 64 * 1024  # a login form is a few hundred bytes
_SPOOL_BYTES = MB


def _mb(n_bytes: int) -> str:
    value = n_bytes / MB
    return f"{value:.0f} MB" if value >= 10 else f"{value:.1f} MB"


def request_limit_bytes() -> int:
    return int(settings.UPLOAD_MAX_REQUEST_MB) * MB


def file_limit_bytes() -> int:
    return int(settings.UPLOAD_MAX_FILE_MB) * MB


def too_large(text: str, status: int = 413) -> HttpResponse:
    """The plain-text refusal: what was too large, the limit and the setting that sets it."""
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _declared_length(request: HttpRequest) -> int | None:
    raw = request.META.get("CONTENT_LENGTH")
    if raw in (None, ""):
        return None
    try:
        return max(0, int(raw))
    except (TypeError, ValueError):
        return None


def _has_body(request: HttpRequest, length: int | None) -> bool:
    if length:
        return True
    return length is None and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def _login_not_required(request: HttpRequest) -> bool:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return getattr(match.func, "login_required", True) is False


class UploadLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self.refuse(request)
        if refusal is not None:
            return refusal
        try:
            return self.get_response(request)
        finally:
            spool = getattr(request, "_upload_spool", None)
            if spool is not None:
                spool.close()

    def refuse(self, request: HttpRequest) -> HttpResponse | None:
        length = _declared_length(request)
        if not _has_body(request, length):
            return None
        limit = request_limit_bytes()
        if length is not None and length > limit:
            return too_large(f"Request body of {_mb(length)} refused: the limit is {settings.UPLOAD_MAX_REQUEST_MB} MB "
                             "(UPLOAD_MAX_REQUEST_MB).")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            if not _login_not_required(request):
                # the body is never parsed (CSRF would parse it): sign in first
                if request.headers.get("Accept", "").startswith("application/json"):
                    return too_large("Sign in first: request bodies from users not signed in are refused "
                                     "unread.", status=403)
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            if length is None or length > ANONYMOUS_MAX_BODY_BYTES:
                return too_large(f"A request of a user not signed in may carry at most "
                                 f"{ANONYMOUS_MAX_BODY_BYTES // 1024} KB with a Content-Length.")
            return None
        if length is None:
            return self._spool_chunked(request, limit)
        return None

    def _spool_chunked(self, request: HttpRequest, limit: int) -> HttpResponse | None:
        """Read a body without Content-Length up to the limit and give it to Django with its length."""
        if not request.META.get("wsgi.input_terminated"):
            return too_large("A request body needs a Content-Length here (at most "
                             f"{settings.UPLOAD_MAX_REQUEST_MB} MB, UPLOAD_MAX_REQUEST_MB).", status=411)
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 -- closed after the response
        source, total = request.META["wsgi.input"], 0
        while chunk := source.read(64 * 1024):
            total += len(chunk)
            if total > limit:
                spool.close()
                return too_large(f"Request body over {settings.UPLOAD_MAX_REQUEST_MB} MB refused: the limit is "
                                 f"{settings.UPLOAD_MAX_REQUEST_MB} MB (UPLOAD_MAX_REQUEST_MB).")
            spool.write(chunk)
        spool.seek(0)
        request.META["CONTENT_LENGTH"] = str(total)
        request._stream = LimitedStream(spool, total)
        request._upload_spool = spool  # closed with the request
        return None


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams each file to a temporary file (FILE_UPLOAD_HANDLERS has only this handler), counting it: a file
    over UPLOAD_MAX_FILE_MB is deleted at that point, the rest of it is read and thrown away chunk by chunk
    (its size is still counted for the message) and the file is left out of request.FILES."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._size, self._too_large = 0, False

    def receive_data_chunk(self, raw_data, start):
        self._size += len(raw_data)
        if not self._too_large and self._size > file_limit_bytes():
            self._too_large = True
            self.file.close()  # a temporary upload file deletes itself when closed
        if self._too_large:
            return None
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        if not self._too_large:
            return super().file_complete(file_size)
        if self.request is not None:
            add_upload_error(self.request, f"file {self.file_name}: {_mb(self._size)}; the limit is "
                                           f"{settings.UPLOAD_MAX_FILE_MB} MB (UPLOAD_MAX_FILE_MB)")
        return None
