"""Option values as JSON: the one form of the persisted queue, the Redis wire and batch state.

Enums go by value, bytes as ``{"__bytes__": "<base64>"}``, value dataclasses
(``ClientCert``, ``HttpProxy``, ``RetryPolicy`` ...) as mappings of their
fields that differ from the defaults, sets as sorted lists; ``resolve_options``
accepts the result back once ``codec.loads`` has restored the bytes.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from collections.abc import Mapping

__all__ = ["UnencodableValue", "encode"]


class UnencodableValue(TypeError):
    """A value with no JSON form (a callback, an open file ...); the message says where."""


def encode(value: object, where: str = "value") -> object:
    """A JSON-safe form of ``value``; :class:`UnencodableValue` naming ``where`` if none."""
    if isinstance(value, enum.Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: encode(getattr(value, f.name), f"{where}.{f.name}")
            for f in dataclasses.fields(value)
            if getattr(value, f.name) != f.default
        }
    if isinstance(value, Mapping):
        return {str(k): encode(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted((encode(v, where) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise UnencodableValue(f"{where}: a {type(value).__name__} has no JSON form")
