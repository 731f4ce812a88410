"""orjson for the JSON a worker writes and reads once per request, when it is installed.

The ``redis`` extra brings orjson: it encodes an outcome about twice as fast
as the standard library and parses a payload four times as fast, and one
worker process is bound by its Python. Only where orjson gives what the
standard library gives: :func:`loads` answers None when orjson is missing
or refuses the text (the caller then parses with the standard library,
whose reading stays the reference for anything unusual), and callers use it
only for text without the numbers orjson reads differently (integers beyond
64 bits become floats there). :func:`dumps` answers None when orjson is
missing or cannot write the value (an integer beyond 64 bits, a lone
surrogate); the caller then writes it with the standard library.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

_orjson: ModuleType | None
try:
    import orjson

    _orjson = orjson
except ImportError:  # pragma: no cover - the redis extra installs it
    _orjson = None

__all__ = ["available", "dumps", "loads"]


def available() -> bool:
    """True when orjson is installed."""
    return _orjson is not None


def loads(text: str | bytes) -> Any | None:
    """``text`` parsed by orjson; None if orjson is missing or refuses it."""
    if _orjson is None:
        return None
    try:
        return _orjson.loads(text)
    except _orjson.JSONDecodeError:
        return None


def dumps(value: object) -> str | None:
    """``value`` as compact JSON text by orjson; None if orjson is missing or cannot."""
    if _orjson is None:
        return None
    try:
        text: str = _orjson.dumps(value).decode("utf-8")
    except TypeError:  # an integer beyond 64 bits, a lone surrogate, an unknown type
        return None
    return text
