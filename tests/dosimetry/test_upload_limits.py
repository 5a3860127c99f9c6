"""Upload size limits act before the body is read: the 413 / login redirect come from the headers alone (the
WSGI input below raises if anything reads it), a file over UPLOAD_MAX_FILE_MB is dropped while it streams and the
upload page names it, and memory stays bounded (tracemalloc peak measured in the test)."""

from __future__ import annotations

import html

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from dosimetry.models import DicomImport
from tests.memory import measured

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
BOUNDARY = "----seedtrack-test-boundary"


class Unreadable:
    """A WSGI input that fails the test if the body is read at all."""

    def read(self, *args):
        raise AssertionError("the request body was read")

    readline = read

    def __iter__(self):
        raise AssertionError("the request body was read")


class MultipartStream:
    """A multipart/form-data body produced as it is read: fields, and files of N zero bytes or given bytes."""

    def __init__(self, fields: dict[str, str], files: list[tuple[str, int | bytes]]):
        self._parts: list[bytes | int] = []
        for name, value in fields.items():
            self._parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
                               .encode())
        for file_name, content in files:
            self._parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '
                               f'filename="{file_name}"\r\nContent-Type: application/dicom\r\n\r\n'.encode())
            self._parts.append(content)
            self._parts.append(b"\r\n")
        self._parts.append(f"--{BOUNDARY}--\r\n".encode())
        self.length = sum(p if isinstance(p, int) else len(p) for p in self._parts)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        size = self.length if size is None or size < 0 else size
        out = bytearray()
        while self._parts and len(out) < size:
            part = self._parts[0]
            want = size - len(out)
            if isinstance(part, int):
                n = min(part, want)
                out += bytes(n)
                if part - n:
                    self._parts[0] = part - n
                else:
                    self._parts.pop(0)
            else:
                out += part[:want]
                if part[want:]:
                    self._parts[0] = part[want:]
                else:
                    self._parts.pop(0)
        self.bytes_read += len(out)
        return bytes(out)

    def readline(self, size: int = -1) -> bytes:
        raise AssertionError("the multipart parser reads in chunks, not lines")


def _post(client, url, stream, length: int | None, **extra):
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": url, "wsgi.input": stream,
               "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", **extra}
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    return client.request(**environ)


@pytest.fixture
def upload_url(procedure):
    return reverse("dosimetry:dicom_upload", args=[procedure.pk])


def test_the_limit_middleware_runs_after_authentication_and_before_csrf():
    order = settings.MIDDLEWARE
    mine = order.index("config.upload_limits.UploadLimitMiddleware")
    assert order.index("django.contrib.auth.middleware.AuthenticationMiddleware") < mine
    assert mine < order.index("django.middleware.csrf.CsrfViewMiddleware")
    assert settings.FILE_UPLOAD_HANDLERS == ["config.upload_limits.LimitedUploadHandler"]
    assert (settings.UPLOAD_MAX_FILE_MB, settings.UPLOAD_MAX_REQUEST_MB) == (64, 256)


def test_an_anonymous_300_mb_post_is_refused_unread(client, upload_url):
    response = _post(client, upload_url, Unreadable(), 300 * MB)
    assert response.status_code == 413
    assert response.content.decode().strip() == (
        "Request body of 300 MB refused: the limit is 256 MB (UPLOAD_MAX_REQUEST_MB).")


@pytest.fixture
def csrf_client():
    """A client that enforces CSRF like a browser's server does, holding the login page's CSRF cookie."""
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))
    return client


def test_without_the_limit_middleware_csrf_would_parse_an_anonymous_body(upload_url):
    """The reproduction: CsrfViewMiddleware reads request.POST before LoginRequiredMiddleware redirects."""
    without = [m for m in settings.MIDDLEWARE if m != "config.upload_limits.UploadLimitMiddleware"]
    with override_settings(MIDDLEWARE=without):
        client = Client(enforce_csrf_checks=True)  # a client loads the middleware at its first request
        client.get(reverse("login"))
        with pytest.raises(AssertionError, match="the request body was read"):
            _post(client, upload_url, Unreadable(), 10 * MB)


def test_an_anonymous_post_with_a_login_page_token_is_sent_to_the_login_unread(csrf_client, upload_url):
    client = csrf_client
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = _post(client, upload_url, Unreadable(), 10 * MB, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    response = _post(client, upload_url, Unreadable(), None, HTTP_TRANSFER_ENCODING="chunked",
                     **{"wsgi.input_terminated": True})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not DicomImport.objects.exists()


def test_the_login_page_still_takes_a_login_but_no_large_body(client, users):
    response = client.post(reverse("login"), {"username": "nurse_a", "password": "test-pass-123"})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    client.logout()
    response = _post(client, reverse("login"), Unreadable(), 5 * MB)
    assert response.status_code == 413 and "at most 64 KB" in response.content.decode()


def test_a_signed_in_post_over_the_request_limit_is_refused_unread(login, users, upload_url):
    response = _post(login(users["nurse"]), upload_url, Unreadable(), 257 * MB)
    assert response.status_code == 413 and "the limit is 256 MB (UPLOAD_MAX_REQUEST_MB)" in response.content.decode()
    assert response["Content-Type"].startswith("text/plain")


def test_a_file_over_the_file_limit_is_dropped_while_it_streams_and_named_on_the_page(
        login, users, upload_url, export):
    """70 MB of zeros streamed in: the page names the file, its size and the limit; memory stays bounded."""
    client = login(users["nurse"])
    stream = MultipartStream({"kind": "pre"}, [("big.dcm", 70 * MB)])
    response, peak = measured(lambda: _post(client, upload_url, stream, stream.length))
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "file big.dcm: 70 MB; the limit is 64 MB (UPLOAD_MAX_FILE_MB)" in page
    assert stream.bytes_read == stream.length  # parsed to the end, no file kept
    assert peak < 16 * MB, f"peak {peak / MB:.0f} MB for a 70 MB upload"
    assert not DicomImport.objects.exists()


@override_settings(UPLOAD_MAX_FILE_MB=1)
def test_other_files_of_the_upload_still_parse_and_the_oversized_one_is_refused(login, users, upload_url, export):
    files = export("pre")
    stream = MultipartStream({"kind": "pre"}, [*files, ("ct-slice.dcm", 3 * MB)])
    response = _post(login(users["nurse"]), upload_url, stream, stream.length)
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "file ct-slice.dcm: 3.0 MB; the limit is 1 MB (UPLOAD_MAX_FILE_MB)" in page
    assert not DicomImport.objects.exists()  # nothing half-saved: the user uploads the export again


def test_an_upload_within_the_limits_still_works(login, users, upload_url, export):
    stream = MultipartStream({"kind": "pre"}, export("pre"))
    response = _post(login(users["nurse"]), upload_url, stream, stream.length)
    assert response.status_code == 302, response.content.decode()[:1000]
    assert DicomImport.objects.get().status == DicomImport.Status.UPLOADED


def test_a_chunked_upload_is_read_up_to_the_limit_only(login, users, upload_url, export):
    client = login(users["nurse"])
    stream = MultipartStream({"kind": "pre"}, export("pre"))
    response = _post(client, upload_url, stream, None, HTTP_TRANSFER_ENCODING="chunked",
                     **{"wsgi.input_terminated": True})
    assert response.status_code == 302, response.content.decode()[:1000]
    with override_settings(UPLOAD_MAX_REQUEST_MB=2):
        stream = MultipartStream({"kind": "pre"}, [("big.dcm", 50 * MB)])
        response = _post(client, upload_url, stream, None, HTTP_TRANSFER_ENCODING="chunked",
                         **{"wsgi.input_terminated": True})
    assert response.status_code == 413 and "(UPLOAD_MAX_REQUEST_MB)" in response.content.decode()
    assert stream.bytes_read <= 2 * MB + 64 * 1024  # stopped at the limit
    # a server that does not terminate the input: Django would read the body as empty, so it is refused
    response = _post(client, upload_url, Unreadable(), None, HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411 and "Content-Length" in response.content.decode()
    assert DicomImport.objects.count() == 1
