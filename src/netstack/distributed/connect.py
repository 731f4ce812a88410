"""Connecting to Redis: the optional ``redis`` client, imported lazily, and its errors.

``redis`` is the extra ``netstack[redis]``; without it every entry point
raises HttpError 401 naming the extra. Connection trouble becomes HttpError
2300007 naming the URL (its password masked): at start, when the server
cannot be reached, and later, when a submit finds it gone.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from netstack.errors import CONNECT_FAILED, HttpError

if TYPE_CHECKING:
    import redis

__all__ = [
    "Backoff",
    "connect",
    "connect_to",
    "describe",
    "is_redis_error",
    "redis_error",
    "require_redis",
    "safe_url",
]

#: The URL scheme of a primary found through Redis Sentinel.
SENTINEL_SCHEME: Final = "redis+sentinel://"

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
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    credentials, at, hosts = netloc.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{hosts}{slash}{path}"


def connect(url: str, *, max_connections: int | None = None, check: bool = True) -> redis.Redis:
    """A client for ``url``; pinged when ``check``.

    ``redis://``, ``rediss://`` and ``unix://`` as redis-py reads them, and
    ``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``:
    the Sentinels at those addresses name the current primary of
    ``service`` (the password is the primary's), and the client follows a
    failover. Anything else (Sentinel authentication, TLS to Sentinels, a
    managed service's own client) can be passed as a ``redis.Redis``.

    HttpError 401 for a URL redis cannot parse, 2300007 when the server does
    not answer.
    """
    module = require_redis()
    if not isinstance(url, str) or not url:
        raise HttpError.parameter(f"url: a redis:// URL is required, got {url!r}")
    try:
        if url.startswith(SENTINEL_SCHEME):
            client: redis.Redis = _sentinel_client(url, max_connections)
        else:
            client = module.Redis.from_url(
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


def _sentinel_client(url: str, max_connections: int | None) -> redis.Redis:
    """The primary named by a ``redis+sentinel://`` URL, followed across failovers."""
    from redis.sentinel import Sentinel

    rest = url[len(SENTINEL_SCHEME) :]
    netloc, _, path = rest.partition("/")
    credentials, _, hosts = netloc.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    addresses = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{item!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError("the path must name the Sentinel service: /service[/db]")
    sentinel = Sentinel(
        addresses,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
    )
    client: redis.Redis = sentinel.master_for(
        unquote(service),
        db=int(db or 0),
        username=unquote(username) or None,
        password=unquote(password) or None,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
        max_connections=max_connections,
    )
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


def connect_to(target: str | redis.Redis) -> tuple[redis.Redis, str]:
    """A client for a URL or a ``redis.Redis`` given by the user, and how to name it.

    A client passed in is used as is (its connection pool, Sentinel or
    managed-service setup included), after a ping: 2300007 if it does not
    answer. URLs go through :func:`connect`.
    """
    if isinstance(target, str):
        return connect(target), safe_url(target)
    module = require_redis()
    if not isinstance(target, module.Redis):
        raise HttpError.parameter(
            f"url: a redis:// URL or a redis.Redis client, got {type(target).__name__}"
        )
    name = describe(target)
    try:
        target.ping()
    except Exception as exc:
        if is_redis_error(exc):
            raise redis_error(name, "cannot connect", exc) from exc
        raise
    return target, name


def describe(client: redis.Redis) -> str:
    """A password-free name for a client: its URL-like address."""
    kwargs = getattr(client.connection_pool, "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    host, port = kwargs.get("host", "?"), kwargs.get("port", "?")
    service = getattr(client.connection_pool, "service_name", None)
    if service:
        return f"redis+sentinel://{service}"
    return f"redis://{host}:{port}/{kwargs.get('db', 0)}"
