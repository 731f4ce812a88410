"""How an answer changes what is stored: the fields kept, a 304's merge, what is invalidated.

Pure functions over ``(name, value)`` pairs, used by :mod:`netstack.cache.policy`.
Sections of `RFC 9111 <https://www.rfc-editor.org/rfc/rfc9111>`_: storing
header fields §3.1, updating stored header fields §3.2, invalidation §4.4;
`RFC 9110 §6.6.1 <https://www.rfc-editor.org/rfc/rfc9110#section-6.6.1>`_ for
the ``Date`` a recipient adds.
"""

from __future__ import annotations

import contextlib
from email.utils import formatdate
from typing import Final

from netstack.cache.freshness import cache_key, origin
from netstack.cache.headers import HeaderList, get_all, get_first, parse_http_date, split_list
from netstack.references import resolve

#: Never stored (hop-by-hop, RFC 9110 §7.6.1) or no longer true of the stored,
#: content-decoded body (its encoding and length; Content-Length is recomputed).
_NOT_STORED: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "content-encoding",
        "content-length",
    }
)
#: Fields a 304 may not overwrite in the stored response (RFC 9111 §3.2).
_NOT_UPDATED: Final = _NOT_STORED | {"content-range", "content-type"}
_NO_BODY_STATUSES: Final = frozenset({204, 304})


def headers_to_store(
    status: int, headers: HeaderList, body: bytes, response_time: float | None = None
) -> tuple[tuple[str, str], ...]:
    """Response fields as stored: hop-by-hop and encoding fields dropped, length recomputed.

    A response without a valid ``Date`` gets one, the time it arrived
    (``response_time``; RFC 9110 §6.6.1), which it is then served with.
    """
    listed = {n.lower() for n in split_list(get_all(headers, "Connection"))}
    kept = [(n, v) for n, v in headers if n.lower() not in _NOT_STORED and n.lower() not in listed]
    if response_time is not None and parse_http_date(get_first(kept, "Date")) is None:
        kept = [(n, v) for n, v in kept if n.lower() != "date"]
        kept.append(("Date", formatdate(response_time, usegmt=True)))
    if status not in _NO_BODY_STATUSES:
        kept.append(("Content-Length", str(len(body))))
    return tuple(kept)


def merge_headers(stored: HeaderList, update: HeaderList) -> tuple[tuple[str, str], ...]:
    """Stored fields updated by a 304's fields of the same name (RFC 9111 §3.2)."""
    listed = {n.lower() for n in split_list(get_all(update, "Connection"))}
    new: dict[str, list[tuple[str, str]]] = {}
    for name, value in update:
        lower = name.lower()
        if lower not in _NOT_UPDATED and lower not in listed:
            new.setdefault(lower, []).append((name, value))
    merged: list[tuple[str, str]] = []
    for name, value in stored:
        lower = name.lower()
        if lower not in new:
            merged.append((name, value))
        elif new[lower]:
            merged.extend(new[lower])
            new[lower] = []  # later stored lines of this name are replaced too
    for pairs in new.values():
        merged.extend(pairs)
    return tuple(merged)


def invalidation_keys(
    url: str, status: int, headers: HeaderList, final_url: str | None = None
) -> tuple[str, ...]:
    """Keys an unsafe request's answer invalidates (RFC 9111 §4.4).

    A non-error answer invalidates the target URI and the same-origin URIs
    in its ``Location`` and ``Content-Location``. When redirects were
    followed (``final_url`` differs from ``url``), the first answer was a
    redirect, a non-error status: the target and the URI it led to (the
    last hop's, same origin) are invalidated whatever the final status.
    """
    redirected = final_url is not None and final_url != url
    if not redirected and not 200 <= status < 400:
        return ()
    keys = [cache_key(url)]
    here = origin(url)
    targets: list[str] = []
    if redirected:
        assert final_url is not None
        targets.append(final_url)
    if 200 <= status < 400:
        base = final_url if redirected and final_url is not None else url
        for name in ("Location", "Content-Location"):
            value = get_first(headers, name)
            if value is not None:
                with contextlib.suppress(ValueError):  # not a URL: it names nothing to drop
                    targets.append(resolve(base, value.strip()))
    for target in targets:
        if here is not None and origin(target) == here:
            keys.append(cache_key(target))
    return tuple(dict.fromkeys(keys))


def strong_etag_mismatch(stored: HeaderList, update: HeaderList) -> bool:
    old, new = get_first(stored, "ETag"), get_first(update, "ETag")
    if old is None or new is None:
        return False
    return old.strip().removeprefix("W/") != new.strip().removeprefix("W/")
