"""Host patterns and the domain rules built on them. Pure: no I/O, no clock.

A pattern is an exact host name (``"example.com"``, ``"127.0.0.2"``,
``"::1"``) or ``"*.suffix"``, which matches every name *below* the suffix at
any depth (``"*.example.com"`` matches ``"a.example.com"`` and
``"a.b.example.com"``, not ``"example.com"`` itself: list both when both are
meant). Names compare case-insensitively, without a trailing dot or IPv6
brackets. Matching costs one set lookup per label of the host.

:class:`HostRules` is ``Scheduler(allowed_hosts=..., blocked_hosts=...)``: a
host is allowed when it matches no blocked pattern and, if ``allowed_hosts``
is given (even empty), matches one of them. Blocked wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from netstack.errors import HttpError

__all__ = ["HostPatterns", "HostRules", "normalise_host"]

V = TypeVar("V")


def normalise_host(host: str) -> str:
    """The form patterns are matched against: lower case, no trailing dot or brackets."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


def _pattern(field: str, pattern: object) -> tuple[bool, str]:
    """``(is_suffix, key)``; a suffix key keeps its leading dot: ``".example.com"``."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise HttpError.parameter(f"{field}: each pattern must be a non-empty str, got {pattern!r}")
    text = normalise_host(pattern)
    if text.startswith("*."):
        rest = text[1:]
        if len(rest) > 1 and "*" not in rest:
            return True, rest
    elif text and "*" not in text:
        return False, text
    raise HttpError.parameter(
        f"{field}: patterns are exact host names or '*.suffix', got {pattern!r}"
    )


class HostPatterns(Generic[V]):
    """Patterns mapped to values; :meth:`lookup` returns the most specific match.

    An exact name beats any suffix; a longer suffix beats a shorter one.
    """

    __slots__ = ("_exact", "_suffixes")

    def __init__(self, field: str, patterns: Mapping[str, V]) -> None:
        self._exact: dict[str, V] = {}
        self._suffixes: dict[str, V] = {}
        for pattern, value in patterns.items():
            is_suffix, key = _pattern(field, pattern)
            (self._suffixes if is_suffix else self._exact)[key] = value

    def __bool__(self) -> bool:
        return bool(self._exact or self._suffixes)

    def lookup(self, host: str) -> V | None:
        """The value of the most specific pattern matching ``host``, else None."""
        host = normalise_host(host)
        value = self._exact.get(host)
        if value is not None or not self._suffixes:
            return value
        suffixes = self._suffixes
        i = host.find(".")
        while i >= 0:
            value = suffixes.get(host[i:])
            if value is not None:
                return value
            i = host.find(".", i + 1)
        return None


class HostRules:
    """Allowed and blocked host patterns: :meth:`allows` answers for one host."""

    __slots__ = ("_allowed", "_blocked", "_restricted")

    def __init__(self, allowed: Iterable[str] | None, blocked: Iterable[str] | None) -> None:
        self._restricted = allowed is not None
        self._allowed = HostPatterns("allowed_hosts", dict.fromkeys(_patterns(allowed), True))
        self._blocked = HostPatterns("blocked_hosts", dict.fromkeys(_patterns(blocked), True))

    @classmethod
    def build(
        cls, allowed: Iterable[str] | None, blocked: Iterable[str] | None
    ) -> HostRules | None:
        """The rules, or None when there are none (no cost per request then)."""
        rules = cls(allowed, blocked)
        return rules if rules._restricted or rules._blocked else None

    def allows(self, host: str) -> bool:
        """True when requests (and redirects) may go to ``host``."""
        if self._blocked.lookup(host):
            return False
        return not self._restricted or bool(self._allowed.lookup(host))

    def __repr__(self) -> str:
        allowed = "any" if not self._restricted else "listed"
        return f"<HostRules allowed={allowed} blocked={bool(self._blocked)}>"


def _patterns(patterns: Iterable[str] | None) -> list[str]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        return [patterns]  # one pattern given bare: the obvious meaning
    try:
        return list(patterns)
    except TypeError:
        raise HttpError.parameter(
            f"host patterns: expected a list of str, got {patterns!r}"
        ) from None
