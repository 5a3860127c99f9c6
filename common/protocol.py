"""Protocol access: every section of ``settings.SEEDTRACK_PROTOCOL`` read as the settings object of its core.

``config/protocol.py`` loads the protocol (the defaults with a site's JSON file merged over them). Each app names
the parser of its sections in ``AppConfig.ready()`` with :func:`register` (``common`` imports no app); a parser
takes the section's plain dict and returns a core's frozen settings object (``ScheduleSettings``,
``RecistSettings`` …), refusing a bad value with a ``ValueError`` (an ``InputError`` naming the key, at best).

Rules kept here:

* ``register`` parses the section at once, so a bad value stops ``django.setup()`` (every ``manage.py`` command,
  the WSGI application, the test run) with :class:`ProtocolError`, whose message names the key:
  ``protocol schedule.m2_window_days = 'x': …``.
* The key named is the refusal's ``field`` when that is a key of the section, else the first key the parser
  refuses on its own; a refusal no single key explains (two windows that overlap) names the section and keeps
  the core's words.
* Code reads a section with :func:`section_settings` (typed by the class it expects), never the raw dict.
* Parsing is lazy and memoised per protocol *object*: a test that assigns a new dict to
  ``settings.SEEDTRACK_PROTOCOL`` gets that dict parsed on the next read; changing the stored dict in place is not
  seen (assign a new one).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["ProtocolError", "digest", "register", "section_settings"]

T = TypeVar("T")
Parser = Callable[[Mapping[str, Any]], object]

_parsers: dict[str, Parser] = {}
_lock = threading.Lock()
_parsed: tuple[object, dict[str, object]] | None = None  # (the protocol dict it was parsed from, section → object)
_digested: tuple[object, str] | None = None  # (the protocol dict, its digest)


class ProtocolError(ImproperlyConfigured):
    """A protocol value the section's core refuses; the message starts ``protocol <section>.<key> = <value>:``."""

    def __init__(self, message: str, *, section: str, key: str = "", value: object = None) -> None:
        super().__init__(message)
        self.section = section
        self.key = key
        self.value = value


def register(section: str, parser: Parser) -> None:
    """Name the parser of one protocol section and parse the section of the current settings at once (start-up).

    Registering the same parser again is allowed (``ready()`` may run twice in tests); another parser for a
    section already taken is a programming error.
    """
    current = _parsers.get(section)
    if current is not None and current != parser:
        raise ImproperlyConfigured(f"protocol section {section!r} already has a parser ({current!r})")
    _parsers[section] = parser
    section_settings(section, object)


def section_settings(section: str, kind: type[T]) -> T:
    """The parsed settings object of one section of the current protocol; ``kind`` is the class the caller
    expects (a section parsed into another class is a programming error, raised as ``TypeError``)."""
    global _parsed
    protocol = settings.SEEDTRACK_PROTOCOL
    with _lock:
        if _parsed is None or _parsed[0] is not protocol:
            _parsed = (protocol, {})
        cache = _parsed[1]
    if section not in cache:
        cache[section] = _parse(section, protocol)
    value = cache[section]
    if not isinstance(value, kind):
        raise TypeError(f"protocol section {section!r} is parsed as {type(value).__name__}, not {kind.__name__}")
    return value


def digest() -> str:
    """A short fingerprint of the current protocol's values (SHA-256 of its canonical JSON, 16 hex digits):
    what a cache of results computed under the protocol keys on, so that a changed protocol (a new file after a
    restart, a test assigning a new dict) never serves results computed under the old one. Memoised per
    protocol object, as :func:`section_settings` is."""
    global _digested
    protocol = settings.SEEDTRACK_PROTOCOL
    found = _digested
    if found is None or found[0] is not protocol:
        text = json.dumps(protocol, sort_keys=True, default=repr, separators=(",", ":"))
        found = _digested = (protocol, hashlib.sha256(text.encode()).hexdigest()[:16])
    return found[1]


def _parse(section: str, protocol: Mapping[str, Any]) -> object:
    try:
        parser = _parsers[section]
    except KeyError:
        raise ImproperlyConfigured(f"protocol section {section!r} has no parser; registered: "
                                   f"{', '.join(sorted(_parsers)) or 'none'}") from None
    values = protocol.get(section, {})
    if not isinstance(values, Mapping):
        raise ProtocolError(f"protocol {section} = {values!r}: not an object of settings", section=section,
                            value=values)
    try:
        return parser(values)
    except (ValueError, TypeError) as exc:
        key = _culprit(parser, values, exc)
        if key is None:
            raise ProtocolError(f"protocol {section}: {exc}", section=section) from exc
        reason = str(exc)
        for prefix in (f"{key}: ", f"settings.{key}: ", f"{getattr(exc, 'field', '')}: "):
            if reason.startswith(prefix):  # the key is named once, in front
                reason = reason[len(prefix):]
                break
        raise ProtocolError(f"protocol {section}.{key} = {values[key]!r}: {reason}", section=section, key=key,
                            value=values[key]) from exc


def _culprit(parser: Parser, values: Mapping[str, Any], exc: Exception) -> str | None:
    """The key of ``values`` the refusal is about: the error's ``field`` when it is one of the keys (also as
    ``settings.<key>`` or ``<section>.<key>``), else the first key that the parser refuses on its own."""
    field = str(getattr(exc, "field", "") or "")
    for candidate in (field, field.rpartition(".")[2], field.split("[")[0]):
        if candidate and candidate in values:
            return candidate
    for key in values:
        try:
            parser({key: values[key]})
        except (ValueError, TypeError):
            return key
    return None
