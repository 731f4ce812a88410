"""Connecting to Redis: the optional ``redis`` client, imported lazily, and its errors.

``redis`` is the extra ``netstack[redis]``; without it every entry point
raises HttpError 401 naming the extra. Connection trouble becomes HttpError
2300007 naming the URL (its password masked): at start, when the server
cannot be reached, and later, when a submit finds it gone.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from netstack.errors import CONNECT_FAILED, HttpError

if TYPE_CHECKING:
    import redis

__all__ = ["Backoff", "connect", "is_redis_error", "redis_error", "require_redis", "safe_url"]

#: Seconds a command may take before the connection counts as lost.
SOCKET_TIMEOUT: Final = 10.0

#: Private, so backoff never touches the global random state (other code seeds it).
_jitter = random.Random()  # noqa: S311 - jitter, not cryptography


def require_redis() -> Any:
    """The ``redis`` module, or HttpError 401 naming the extra to install."""
    try:
        import redis
    except ImportError:
        raise HttpError.parameter(
            "the Redis queue and storage need the 'redis' extra: pip install 'netstack[redis]'"
        ) from None
    return redis


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable redis URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def connect(url: str, *, max_connections: int | None = None, check: bool = True) -> redis.Redis:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``); pinged when ``check``.

    HttpError 401 for a URL redis cannot parse, 2300007 when the server does
    not answer.
    """
    module = require_redis()
    if not isinstance(url, str) or not url:
        raise HttpError.parameter(f"url: a redis:// URL is required, got {url!r}")
    try:
        client: redis.Redis = module.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
            max_connections=max_connections,
        )
    except ValueError as exc:
        raise HttpError.parameter(f"url: {safe_url(url)!r} is not a Redis URL: {exc}") from None
    if check:
        try:
            client.ping()
        except Exception as exc:
            client.close()
            if is_redis_error(exc):
                raise redis_error(url, "cannot connect", exc) from exc
            raise
    return client


def is_redis_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the client's (connection, timeout, server) error."""
    module = require_redis()
    return isinstance(exc, module.RedisError | OSError)


def redis_error(url: str, what: str, exc: BaseException) -> HttpError:
    """HttpError 2300007 ``redis URL: what: cause``."""
    error = HttpError.of(CONNECT_FAILED, f"redis {safe_url(url)}: {what}: {exc}")
    error.__cause__ = exc
    return error


class Backoff:
    """Exponential backoff with jitter for reconnecting: 0.1 s doubling up to ``cap``."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._first, self._cap = first, cap
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        delay = min(self._cap, self._first * 2.0 ** (self.failures - 1))
        return delay * (0.5 + _jitter.random() / 2)

    def reset(self) -> None:
        self.failures = 0
