"""One request as JSON: the form of ``shutdown(persist=...)`` files and of the Redis wire.

A request is one JSON object::

    {"url": "https://host/a", "options": {...}, "priority": 5, "tag": "crawl", "attempts": 1}

``options`` holds the options that differ from the defaults, by snake_case
name, in the form ``resolve_options`` accepts back (``netstack.jsonvalue``:
enums by value, value types and ``RetryPolicy`` as mappings of their
non-default fields, bytes as ``{"__bytes__": "<base64>"}``). ``priority``
and ``tag`` sit beside the options because they change while a request
waits (``set_priority``); ``priority`` is left out when the carrier keeps it
elsewhere (Redis does). ``attempts`` counts the attempts already run and is
left out when none ran. A carrier adds its own keys around these (the
persisted file's header, the wire's reply token).

Reading is the hostile side: :func:`loads` and :func:`decode_request` turn
anything that is not such a request (not JSON, nested beyond reason, bytes
that are not base64, wrong types) into ``HttpError`` 401 naming where it is;
the option values themselves are checked by ``resolve_options`` when the
request is submitted again.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any, Final

from netstack.errors import HttpError
from netstack.jsonvalue import encode
from netstack.options import DEFAULT_OPTIONS, OPTION_FIELDS, HttpRequestOptions

__all__ = ["DecodedRequest", "decode_request", "dumps", "encode_request", "loads"]

#: Options kept beside the others (they change while a request waits).
_BESIDE: Final = frozenset({"priority", "tag"})
_BYTES: Final = "__bytes__"


def encode_request(
    url: str,
    options: HttpRequestOptions,
    *,
    priority: int | None,
    tag: str | None,
    attempts: int = 0,
) -> dict[str, object]:
    """The JSON object of a validated request (``priority`` None: not written).

    Raises ``jsonvalue.UnencodableValue`` (a TypeError naming the option) for
    a value with no JSON form; each carrier says why it needs one.
    """
    encoded: dict[str, object] = {}
    for name in OPTION_FIELDS:
        value = getattr(options, name)
        if name not in _BESIDE and value != getattr(DEFAULT_OPTIONS, name):
            encoded[name] = encode(value, name)
    out: dict[str, object] = {"url": url, "options": encoded}
    if priority is not None:
        out["priority"] = priority
    out["tag"] = tag
    if attempts:
        out["attempts"] = attempts
    return out


@dataclasses.dataclass(slots=True)
class DecodedRequest:
    """A request read back: ``options`` is a mapping for ``resolve_options``."""

    url: str
    #: Options by snake_case name, priority and tag included when they were written.
    options: dict[str, Any]
    #: Attempts already run (0: none).
    attempts: int


def decode_request(data: object, where: str = "request") -> DecodedRequest:
    """The request in ``data`` (parsed by :func:`loads`); HttpError 401 naming ``where``."""
    if not isinstance(data, dict):
        raise _bad(where, "is not a JSON object")
    url = data.get("url")
    if not isinstance(url, str):
        raise _bad(where, "has no url")
    options = data.get("options")
    if options is None:
        options = {}
    elif not isinstance(options, dict):
        raise _bad(where, "has malformed options (not a JSON object)")
    else:
        options = dict(options)
    if "priority" in data:
        options["priority"] = data["priority"]
    if data.get("tag") is not None:
        options["tag"] = data["tag"]
    attempts = data.get("attempts", 0)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise _bad(where, f"has a malformed attempts count {attempts!r}")
    return DecodedRequest(url, options, attempts)


def dumps(document: object) -> bytes:
    """``document`` as compact UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads(text: str | bytes, where: str) -> object:
    """Parse JSON and restore the bytes :func:`encode_request` wrapped; 401 if it cannot.

    Nesting deep enough to exhaust the parser's recursion, an invalid
    ``__bytes__`` value and text that is not UTF-8 JSON are all 401s.
    """
    try:
        return _DECODER.decode(text.decode("utf-8") if isinstance(text, bytes) else text)
    except RecursionError:
        raise _bad(where, "is nested too deeply to be a netstack request") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError, base64
        raise _bad(where, f"is not valid JSON: {exc}") from None


def _restore_bytes(obj: dict[str, Any]) -> object:
    if len(obj) == 1 and _BYTES in obj:
        value = obj[_BYTES]
        if not isinstance(value, str):
            raise ValueError(f"{_BYTES} must be a base64 string, got {type(value).__name__}")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"{_BYTES} is not base64: {exc}") from None
    return obj


#: One decoder for every call (``json.loads`` with a hook builds a new one each time).
_DECODER: Final = json.JSONDecoder(object_hook=_restore_bytes)


def _bad(where: str, what: str) -> HttpError:
    return HttpError.parameter(f"{where} {what}")
