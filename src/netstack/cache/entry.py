"""``CacheEntry``: one stored response, and its self-describing byte format.

Format (version 1)::

    b"netstack-cache-entry 1\\n" + <one line of JSON> + b"\\n" + <body bytes>

The JSON object holds everything but the body, plus ``body_length`` and
``body_crc32`` so a truncated or damaged entry is detected on load. Never
pickle: storage may be shared, and unpickling runs code.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final

from netstack.cache import freshness
from netstack.cache.freshness import VarySnapshot
from netstack.cache.headers import CacheControl, parse_cache_control, parse_http_date

_MAGIC: Final = b"netstack-cache-entry 1\n"
_PAIR_OVERHEAD: Final = 4  # ": " and CRLF, as on the wire


@dataclass(frozen=True, kw_only=True)
class CacheEntry:
    """A stored response to ``GET url``, as the cache keeps and persists it.

    ``vary`` is the vary snapshot: for each field the response's ``Vary``
    names (lower-cased), the normalised value the original request carried,
    or ``None`` when it carried none. ``headers`` keep wire order and
    duplicates (``Set-Cookie``); the body is content-decoded, so they hold no
    ``Content-Encoding`` and a ``Content-Length`` matching ``body``.
    ``request_time`` and ``response_time`` are epoch seconds.

    The cached properties (``header_index``, ``cache_control``, ``date`` ...) are
    parsed once per entry, on first use: an entry is immutable, and a fresh
    hit reads them on every lookup.
    """

    key: str
    url: str
    method: str = "GET"
    vary: VarySnapshot = ()
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)
    request_time: float
    response_time: float

    @cached_property
    def size(self) -> int:
        """Bytes charged against ``cache_size``: body, header fields, key, vary snapshot."""
        header_bytes = sum(len(n) + len(v) + _PAIR_OVERHEAD for n, v in self.headers)
        vary_bytes = sum(len(n) + len(v or "") + _PAIR_OVERHEAD for n, v in self.vary)
        return len(self.body) + header_bytes + vary_bytes + len(self.key)

    @cached_property
    def storage_key(self) -> str:
        """Where this variant is kept: ``key``, plus the vary snapshot when it varies."""
        return freshness.variant_key(self.key, self.vary)

    @cached_property
    def vary_names(self) -> tuple[str, ...]:
        """The lower-cased, sorted field names this variant was selected by."""
        return tuple(name for name, _ in self.vary)

    @cached_property
    def header_index(self) -> dict[str, tuple[str, ...]]:
        """Header values by lower-cased field name, in wire order."""
        index: dict[str, list[str]] = {}
        for name, value in self.headers:
            index.setdefault(name.lower(), []).append(value)
        return {name: tuple(values) for name, values in index.items()}

    def first(self, name: str) -> str | None:
        """The first value of the lower-cased field ``name``, or ``None``."""
        values = self.header_index.get(name)
        return values[0] if values else None

    @cached_property
    def cache_control(self) -> CacheControl:
        """The response's Cache-Control directives."""
        return parse_cache_control(self.header_index.get("cache-control", ()))

    @cached_property
    def date(self) -> float | None:
        """The response's ``Date`` as epoch seconds; ``None`` when missing or invalid."""
        return parse_http_date(self.first("date"))

    @cached_property
    def lifetime(self) -> float:
        """Seconds it stays fresh: :func:`~netstack.cache.freshness.freshness_lifetime`."""
        return freshness.freshness_lifetime(self)

    @cached_property
    def initial_age(self) -> float:
        """Its age on arrival: :func:`~netstack.cache.freshness.corrected_initial_age`."""
        return freshness.corrected_initial_age(self)

    @cached_property
    def plain(self) -> bool:
        """No ``Vary`` and no ``no-cache``: fresh means servable to any plain GET."""
        return (
            not self.vary
            and "vary" not in self.header_index
            and "no-cache" not in self.cache_control
        )

    @cached_property
    def memo(self) -> dict[object, object]:
        """Scratch space for what the serving layer derives once per entry (headers, result)."""
        return {}

    @cached_property
    def headers_without_age(self) -> tuple[tuple[str, str], ...]:
        """``headers`` less ``Age``, which the cache sets anew on every serve."""
        return tuple((n, v) for n, v in self.headers if n.lower() != "age")

    def to_bytes(self) -> bytes:
        """The entry in the version 1 format."""
        meta = {
            "key": self.key,
            "url": self.url,
            "method": self.method,
            "vary": [list(pair) for pair in self.vary],
            "status": self.status,
            "headers": [list(pair) for pair in self.headers],
            "request_time": self.request_time,
            "response_time": self.response_time,
            "body_length": len(self.body),
            "body_crc32": zlib.crc32(self.body),
        }
        line = json.dumps(meta, separators=(",", ":")).encode("ascii")
        return b"".join((_MAGIC, line, b"\n", self.body))

    @classmethod
    def from_bytes(cls, data: bytes) -> CacheEntry:
        """Parse :meth:`to_bytes` output; ``ValueError`` when it is not a whole entry."""
        if not data.startswith(_MAGIC):
            raise ValueError("not a netstack cache entry (bad magic or version)")
        end = data.find(b"\n", len(_MAGIC))
        if end < 0:
            raise ValueError("truncated entry: no end of metadata")
        try:
            meta = json.loads(data[len(_MAGIC) : end])
            body = data[end + 1 :]
            if len(body) != meta["body_length"] or zlib.crc32(body) != meta["body_crc32"]:
                raise ValueError("truncated or damaged entry: body does not match its checksum")
            entry = cls(
                key=_str(meta["key"]),
                url=_str(meta["url"]),
                method=_str(meta["method"]),
                vary=tuple((_str(n), None if v is None else _str(v)) for n, v in meta["vary"]),
                status=_int(meta["status"]),
                headers=tuple((_str(n), _str(v)) for n, v in meta["headers"]),
                body=body,
                request_time=_float(meta["request_time"]),
                response_time=_float(meta["response_time"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed entry metadata: {exc}") from exc
        return entry


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _float(value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)
