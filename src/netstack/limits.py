"""Numeric bounds of option and policy values: what a timer, a socket and a float can hold.

A time in milliseconds is at most ``2**31 - 1`` (about 24.8 days, curl's
limit for its ``long`` milliseconds); a time in seconds at most that over
1000. Anything larger would overflow a socket timeout, a timestamp or a
lock's wait somewhere below, so it is refused with HttpError 401 where the
value is given, naming the field and the range.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_MILLISECONDS", "MAX_SECONDS"]

#: Longest time in milliseconds an option may give: 2**31 - 1 (about 24.8 days).
MAX_MILLISECONDS: Final = 2**31 - 1
#: Longest time in seconds a policy may give (the same bound).
MAX_SECONDS: Final = MAX_MILLISECONDS / 1000
