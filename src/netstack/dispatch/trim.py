"""trim_traceback: what a failed future keeps of its exception.

A failed job's exception is kept by its future for as long as the caller
keeps the future (a crawler may keep millions for a report). Its
``__traceback__`` references every frame it went through, and each frame
its locals (sockets, buffers, parsers): about 10 KB per failure. The frames
say where the error arose, which the exception's type, code and message
already say for a caller; they are dropped. The chain (``__cause__`` /
``__context__``) is kept for :data:`MAX_CHAIN` links, without frames too.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_CHAIN", "trim_traceback"]

#: Chained exceptions kept behind the one raised.
MAX_CHAIN: Final = 3


def trim_traceback(error: BaseException) -> BaseException:
    """Drop the frames of ``error`` and of its chain, cut after MAX_CHAIN links; returns it.

    A context that is not shown (``raise ... from ...`` suppresses it) is dropped.
    """
    error.__traceback__ = None
    if error.__cause__ is None and error.__context__ is None:
        return error
    seen = {id(error)}
    stack: list[tuple[BaseException, int]] = [(error, 0)]
    while stack:
        current, depth = stack.pop()
        current.__traceback__ = None
        if current.__suppress_context__:
            current.__context__ = None
        if depth >= MAX_CHAIN:
            current.__cause__ = None
            current.__context__ = None
            continue
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None and id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append((nxt, depth + 1))
    return error
