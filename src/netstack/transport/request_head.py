"""An HTTP/1.1 request head written in one piece, as http.client would write it.

urllib3's ``HTTPConnection.request`` sends a head through http.client's
``putrequest`` / ``putheader`` / ``endheaders``: a Python call, an encode and
two regular-expression matches per header line, then a join. For the plain
case, :func:`encode_head` builds the same bytes with a handful of C-level
operations and checks everything http.client checks (token method, no control
character or space in the target, legal header names, no CR or LF in a
value), over the whole head at once.

It answers None whenever the case is not the plain one (a target in absolute
form, a header that is not a str, a name or value http.client would refuse or
fold, a ``Transfer-Encoding`` the caller set, urllib3's ``SKIP_HEADER``...):
the connection then goes through urllib3 and http.client as before, which
raise their own errors. So a head written here is byte for byte the head
http.client writes: same lines, same order (Host, Accept-Encoding, framing,
User-Agent, then the caller's headers).

The field lines depend only on the method, the Host value, the body size and
the headers, which repeat from request to request (the same defaults, the
same origin); they are remembered for the last :data:`_FIELDS_MAX` such
combinations, so a repeated request checks only its method and target.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from urllib3._version import __version__ as _urllib3_version
from urllib3.util import SKIP_HEADER

__all__ = ["encode_head", "host_header"]

#: Methods that need no token check (urllib3 refuses any non-token character).
_COMMON_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"}
)
_TOKEN: Final = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+").fullmatch
#: What http.client refuses in a target: control characters, space, DEL.
_BAD_TARGET: Final = re.compile("[\x00-\x20\x7f]").search
#: Header names joined by LF: each non-empty, no colon, CR or LF, not starting with space.
_NAMES: Final = re.compile(r"[^:\s][^:\r\n]*(?:\n[^:\s][^:\r\n]*)*").fullmatch
#: urllib3's methods that send no ``Content-Length: 0`` without a body.
_NO_BODY_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "TRACE", "OPTIONS", "CONNECT"})
_USER_AGENT: Final = f"User-Agent: python-urllib3/{_urllib3_version}"


#: Encoded field lines (after the request line, blank line included) by
#: (method, Host value, body size or -1, *header items); only checked heads.
_FIELDS: dict[tuple[object, ...], bytes] = {}
_FIELDS_MAX: Final = 256


def encode_head(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes | None
) -> bytes | None:
    """The head (and ``body``) of one request, or None to let http.client write it.

    ``target`` is the origin-form target urllib3 passes on, ``host`` the
    ``Host`` value the connection sends when ``headers`` set none
    (:func:`host_header`).
    """
    if not target.startswith("/") or _BAD_TARGET(target) or not target.isascii():
        return None  # absolute form (a forwarding proxy) or a target http.client refuses
    key = (method, host, -1 if body is None else len(body), *headers.items())
    try:
        fields = _FIELDS.get(key)
    except TypeError:  # an unhashable value: http.client's path refuses or encodes it
        return None
    if fields is None:
        fields = _encode_fields(method, host, headers, body)
        if fields is None:
            return None
        if len(_FIELDS) >= _FIELDS_MAX:
            _FIELDS.clear()  # bounded: requests with ever-new headers start over
        _FIELDS[key] = fields
    head = f"{method} {target} HTTP/1.1\r\n".encode("ascii") + fields
    return head + body if body else head


def _encode_fields(
    method: str, host: str, headers: Mapping[str, str], body: bytes | None
) -> bytes | None:
    """The field lines and the blank line after them, or None (see :func:`encode_head`)."""
    if method not in _COMMON_METHODS and not _TOKEN(method):
        return None
    checked = _checked(headers)
    if checked is None:
        return None
    block, keys = checked
    lines = []
    if "host" not in keys:
        lines.append("Host: " + host)
    if "accept-encoding" not in keys:
        lines.append("Accept-Encoding: identity")
    if "content-length" not in keys:
        if "transfer-encoding" in keys:
            return None  # urllib3 chunk-encodes the body then
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif method.upper() not in _NO_BODY_METHODS:
            lines.append("Content-Length: 0")
    if "user-agent" not in keys:
        lines.append(_USER_AGENT)
    if block:
        lines.append(block)
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        return None  # http.client raises its own error for a value beyond latin-1


def _checked(headers: Mapping[str, str]) -> tuple[str, frozenset[str]] | None:
    """The header lines joined by CRLF and the lower-case names; None if any would be refused."""
    count = len(headers)
    if not count:
        return "", frozenset()
    try:
        names = "\n".join(headers)
        block = "\r\n".join(map(": ".join, headers.items()))
    except TypeError:
        return None  # bytes or int values: http.client encodes those itself
    if (
        not _NAMES(names)
        or not names.isascii()
        # Exactly the line breaks put between the lines: none inside a name or value.
        or block.count("\n") != count - 1
        or block.count("\r") != count - 1
        or SKIP_HEADER in block
    ):
        return None
    return block, frozenset(names.lower().split("\n"))


def host_header(host: str, port: int | None, default_port: int) -> str | None:
    """The ``Host`` value http.client's ``putrequest`` derives (None: let it do so).

    ASCII, else IDNA; an IPv6 address in brackets without its zone; the port
    unless it is the scheme's default.
    """
    try:
        encoded = host.encode("ascii")
    except UnicodeEncodeError:
        try:
            encoded = host.encode("idna")
        except UnicodeError:
            return None
    if ":" in host:
        encoded = b"[" + encoded.partition(b"%")[0] + b"]"
    value = encoded.decode("ascii")
    if "\r" in value or "\n" in value:
        return None
    return value if port == default_port else f"{value}:{port}"
