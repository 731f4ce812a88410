"""Host identity, host patterns and the domain rules built on them. Pure: no I/O, no clock.

Every host is compared in one canonical form (:func:`canonical_host`): an
internationalised name as its IDNA A-label (``bücher.example`` is
``xn--bcher-kva.example``, encoded as urllib3 encodes it to connect), lower
case, without a trailing dot; an IP address in its standard text form,
without brackets (``[0:0::1]`` is ``::1``). A host that some resolver would
read as an IPv4 address but that is not written as one (``127.1``,
``0x7f.0.0.1``, ``2130706433``, ``127.000.0.1``, ``127.0.0.1.``) has no canonical form: it
is refused, since what it reaches depends on who resolves it.

A pattern is an exact host name (``"example.com"``, ``"127.0.0.2"``,
``"::1"``) or ``"*.suffix"``, which matches every name *below* the suffix at
any depth (``"*.example.com"`` matches ``"a.example.com"`` and
``"a.b.example.com"``, not ``"example.com"`` itself: list both when both are
meant). Patterns and hosts are both put in the canonical form, so either
spelling of a name matches either spelling of a pattern. Matching costs one
set lookup per label of the host.

:class:`HostRules` is ``Scheduler(allowed_hosts=..., blocked_hosts=...)``: a
host is allowed when it matches no blocked pattern and, if ``allowed_hosts``
is given (even empty), matches one of them. Blocked wins.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Final, Generic, TypeVar

from netstack.errors import HttpError
from netstack.extras import available, install_hint

__all__ = ["HostPatterns", "HostRules", "canonical_host"]

V = TypeVar("V")

#: Labels that inet_aton (hence the system resolver) reads as numbers: 127.1, 0x7f, 017.
_NUMERIC: Final = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")
#: Never part of a host name; some parsers decode or split on them, others do not.
_AMBIGUOUS: Final = re.compile(r"[\x00-\x20\x7f%\\/@?#\[\]:]")


@functools.lru_cache(maxsize=4096)
def canonical_host(host: str) -> str:
    """``host`` in the one form hosts compare in (see the module docstring).

    Raises ValueError for something that is not a host name or an IP
    address, or whose meaning is ambiguous.
    """
    text = host.lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text.replace("%25", "%")).compressed
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    dotted = text.endswith(".")
    text = text[:-1] if dotted else text
    if not text:
        raise ValueError("the host is empty")
    if _NUMERIC.fullmatch(text):
        try:
            if dotted:  # a name to the resolver, an address to the rules
                raise ValueError
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise ValueError(
                f"{host!r} is an ambiguous IPv4 address; write it as four decimal numbers"
            ) from None
    return _name(host, text)


def _name(host: str, text: str) -> str:
    """A lower-case name (or name suffix) as its IDNA A-labels; ValueError if it is none."""
    if not text.isascii():
        if not available("idna"):
            raise ValueError(f"{host!r}: {install_hint('idna')}")
        import idna  # an optional extra, as for urllib3

        try:  # as urllib3 encodes it to connect (IDNA 2008, per label)
            text = ".".join(
                idna.encode(label, strict=True, std3_rules=True).decode("ascii")
                if not label.isascii()
                else label
                for label in text.split(".")
            )
        except idna.IDNAError as exc:
            raise ValueError(f"{host!r} is not a valid international name: {exc}") from None
    if _AMBIGUOUS.search(text):
        raise ValueError(f"{host!r} has characters a host name cannot have")
    return text


def _pattern(field: str, pattern: object) -> tuple[bool, str]:
    """``(is_suffix, key)``; a suffix key keeps its leading dot: ``".example.com"``."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise HttpError.parameter(f"{field}: each pattern must be a non-empty str, got {pattern!r}")
    text = pattern.strip()
    is_suffix = text.startswith("*.")
    name = text[2:] if is_suffix else text
    if "*" not in name:
        try:
            key = _name(name, name.lower().rstrip(".")) if is_suffix else canonical_host(name)
            if not key:
                raise ValueError("the suffix is empty")
        except ValueError as exc:
            raise HttpError.parameter(f"{field}: {exc}, got {pattern!r}") from None
        return is_suffix, "." + key if is_suffix else key
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
        """The value of the most specific pattern matching ``host``, else None.

        ``host`` with no canonical form matches nothing.
        """
        try:
            host = canonical_host(host)
        except ValueError:
            return None
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

    __slots__ = ("_allowed", "_blocked", "_given", "_restricted")

    def __init__(self, allowed: Iterable[str] | None, blocked: Iterable[str] | None) -> None:
        self._restricted = allowed is not None
        allowed_list, blocked_list = _patterns(allowed), _patterns(blocked)
        self._allowed = HostPatterns("allowed_hosts", dict.fromkeys(allowed_list, True))
        self._blocked = HostPatterns("blocked_hosts", dict.fromkeys(blocked_list, True))
        self._given = (allowed_list if self._restricted else None, blocked_list)

    @property
    def patterns(self) -> tuple[list[str] | None, list[str]]:
        """``(allowed patterns or None for any host, blocked patterns)``, as given."""
        return (None if self._given[0] is None else list(self._given[0]), list(self._given[1]))

    @classmethod
    def build(
        cls, allowed: Iterable[str] | None, blocked: Iterable[str] | None
    ) -> HostRules | None:
        """The rules, or None when there are none (no cost per request then)."""
        rules = cls(allowed, blocked)
        return rules if rules._restricted or rules._blocked else None

    def allows(self, host: str) -> bool:
        """True when requests (and redirects) may go to ``host`` (never when it is ambiguous)."""
        try:
            host = canonical_host(host)
        except ValueError:
            return False
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
