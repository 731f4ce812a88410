"""Tag values: the option ``tag`` names a group of requests.

``Scheduler.cancel_all(tag)``, ``Scheduler.set_priority_all(tag, p)`` and
``stats().tags`` act on a tag's members; the dispatcher keeps the index of
live members (``netstack.dispatch.tags``). This module only says what a tag
is, so the option validation and the dispatcher check it the same way.
"""

from __future__ import annotations

from typing import Final

from netstack.errors import HttpError

__all__ = ["MAX_TAG", "check_tag"]

#: Longest tag accepted, characters.
MAX_TAG: Final = 256


def check_tag(tag: object, field: str = "tag") -> str:
    """A tag is a non-empty str of at most 256 characters (else HttpError 401)."""
    if isinstance(tag, str) and 0 < len(tag) <= MAX_TAG:
        return tag
    raise HttpError.parameter(f"{field}: must be a non-empty str of at most {MAX_TAG}, got {tag!r}")
