"""Header parsing the cache policy needs: Cache-Control, HTTP dates, field lookup.

Pure functions over ``(name, value)`` pairs; no I/O and no clock.
Directive grammar: `RFC 9111 §5.2 <https://www.rfc-editor.org/rfc/rfc9111#section-5.2>`_;
delta-seconds: `§1.2.2 <https://www.rfc-editor.org/rfc/rfc9111#section-1.2.2>`_;
dates: `RFC 9110 §5.6.7 <https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7>`_.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final, TypeAlias

HeaderList: TypeAlias = Sequence[tuple[str, str]]
"""Response header fields in wire order; a name may repeat (``Set-Cookie``)."""

#: RFC 9111 §1.2.2: a delta-seconds too large to represent counts as 2**31.
MAX_DELTA_SECONDS: Final = 2_147_483_648

_DIRECTIVE: Final = re.compile(
    r"""\s*([^\s,=]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*))?\s*(?:,|$)""",
)
_QUOTED_PAIR: Final = re.compile(r"\\(.)")
_WHITESPACE: Final = re.compile(r"\s+")
_COMMA: Final = re.compile(r"\s*,\s*")


@dataclass(frozen=True)
class CacheControl:
    """Parsed Cache-Control directives: lower-cased names, first occurrence wins.

    A value is ``None`` for a directive given without ``=``. Quoted values are
    unquoted. `RFC 9111 §4.2.1 <https://www.rfc-editor.org/rfc/rfc9111#section-4.2.1>`_
    lets a cache use the first of duplicated directives.
    """

    directives: Mapping[str, str | None]

    def __contains__(self, name: object) -> bool:
        return name in self.directives

    def seconds(self, name: str) -> int | None:
        """The directive's delta-seconds; ``None`` when absent or given without a value.

        An invalid value (negative, not a number) reads as 0, which is the
        conservative reading for every directive the cache honours: a zero
        ``max-age`` is stale, a zero ``max-stale`` or ``min-fresh`` changes nothing.
        """
        if name not in self.directives:
            return None
        value = self.directives[name]
        if value is None:
            return None
        if not value.isdigit() or not value.isascii():
            return 0
        return min(int(value), MAX_DELTA_SECONDS)


def parse_cache_control(values: Iterable[str]) -> CacheControl:
    """Parse every Cache-Control field line, as one comma-separated list."""
    directives: dict[str, str | None] = {}
    for line in values:
        pos = 0
        while pos < len(line):
            match = _DIRECTIVE.match(line, pos)
            if match is None or match.end() == pos:
                # Skip junk up to the next comma and carry on.
                comma = line.find(",", pos)
                if comma < 0:
                    break
                pos = comma + 1
                continue
            pos = match.end()
            name, raw = match.group(1).lower(), match.group(2)
            value: str | None = raw
            if raw is not None and raw.startswith('"'):
                value = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
            directives.setdefault(name, value)
    return CacheControl(directives)


def get_all(headers: HeaderList, name: str) -> list[str]:
    """Every value of ``name`` (case-insensitive), in order."""
    name = name.lower()
    return [value for key, value in headers if key.lower() == name]


def get_first(headers: HeaderList, name: str) -> str | None:
    """The first value of ``name`` (case-insensitive), or ``None``."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def request_header(headers: Mapping[str, str], name: str) -> str | None:
    """``name`` from a request mapping whose keys may have any case."""
    value = headers.get(name)
    if value is not None:
        return value
    name = name.lower()
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def split_list(values: Iterable[str]) -> list[str]:
    """The members of comma-separated list fields, stripped, empties dropped."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def normalise_value(value: str | None) -> str | None:
    """A request field value as Vary compares it: whitespace trimmed and collapsed.

    `RFC 9111 §4.1 <https://www.rfc-editor.org/rfc/rfc9111#section-4.1>`_
    allows normalising values in ways known to keep their meaning; spaces
    around list commas and runs of whitespace are such a way. Case is kept.
    """
    if value is None:
        return None
    return _COMMA.sub(",", _WHITESPACE.sub(" ", value.strip()))


def parse_http_date(value: str | None) -> float | None:
    """An HTTP date (IMF-fixdate, RFC 850 or asctime) as epoch seconds, or ``None``."""
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_tz(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    try:  # datetime() refuses out-of-range fields that mktime_tz would roll over
        when = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except (OverflowError, ValueError):
        return None
    return when.timestamp() - (parsed[9] or 0)


def parse_delta_seconds(value: str | None) -> int | None:
    """A delta-seconds field such as ``Age``; ``None`` when absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or not value.isascii():
        return None
    return min(int(value), MAX_DELTA_SECONDS)
