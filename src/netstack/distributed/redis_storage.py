"""RedisStorage: a ``CacheStorage`` in Redis, so every worker shares one response cache.

One Redis string per entry, under ``<prefix>:<cache key>``; ``items()`` and
``clear()`` walk them with SCAN (never KEYS), so a large cache never blocks
the server. A SET is atomic: a reader sees the old or the new entry. With
``ttl``, entries expire on their own (a bound on what the shared cache
keeps beyond the policy's freshness; Redis' ``maxmemory-policy`` can evict
too, since every entry is its own key).

``HttpResponseCache(storage=RedisStorage(url))`` keeps its meaning:
``flush()`` writes the memory tier to Redis, ``delete()`` clears it, and
creation loads what is there. For workers that should see each other's
responses at once, ``HttpResponseCache(storage=..., write_through=True)``
reads through to the storage on a miss and writes each stored response through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from netstack.distributed.connect import connect, safe_url
from netstack.errors import HttpError

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStorage"]

_BATCH = 500


class RedisStorage:
    """A :class:`~netstack.CacheStorage` on Redis at ``url``, keys under ``prefix``.

    Connects at once: HttpError 2300007 naming ``url`` when Redis does not
    answer, 401 when the ``redis`` extra is missing. Later failures raise the
    client's exceptions, which the cache turns into HttpError (2300023 for
    ``flush()``/``delete()``).
    """

    def __init__(self, url: str, prefix: str = "netstack:cache", *, ttl: int | None = None) -> None:
        if not isinstance(prefix, str) or not prefix:
            raise HttpError.parameter(f"prefix: a non-empty str, got {prefix!r}")
        if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1):
            raise HttpError.parameter(f"ttl: seconds, an int >= 1, got {ttl!r}")
        self._url = url
        self._prefix = prefix + ":"
        self._ttl = ttl
        self._client: redis.Redis = connect(url)

    @property
    def url(self) -> str:
        """The Redis URL, its password masked."""
        return safe_url(self._url)

    @property
    def prefix(self) -> str:
        return self._prefix[:-1]

    def _key(self, key: str) -> bytes:
        return (self._prefix + key).encode("utf-8", "surrogatepass")

    def get(self, key: str) -> bytes | None:
        value = self._client.get(self._key(key))
        return None if value is None else _as_bytes(value)

    def put(self, key: str, data: bytes) -> None:
        self._client.set(self._key(key), bytes(data), ex=self._ttl)

    def put_many(self, pairs: Iterable[tuple[str, bytes]]) -> None:
        """Store every pair, pipelined (each SET atomic on its own)."""
        pipe = self._client.pipeline(transaction=False)
        count = 0
        for key, data in pairs:
            pipe.set(self._key(key), bytes(data), ex=self._ttl)
            count += 1
            if count % _BATCH == 0:
                pipe.execute()
        if count % _BATCH:
            pipe.execute()

    def delete(self, key: str) -> None:
        self._client.delete(self._key(key))

    def delete_many(self, keys: Iterable[str]) -> None:
        batch = [self._key(k) for k in keys]
        for start in range(0, len(batch), _BATCH):
            self._client.unlink(*batch[start : start + _BATCH])

    def _scan(self) -> Iterator[bytes]:
        pattern = _glob_escape(self._prefix).encode("utf-8", "surrogatepass") + b"*"
        yield from self._client.scan_iter(match=pattern, count=_BATCH)

    def items(self) -> Iterator[tuple[str, bytes]]:
        skip = len(self._prefix.encode("utf-8", "surrogatepass"))
        keys: list[bytes] = []

        def fetch(batch: list[bytes]) -> Iterator[tuple[str, bytes]]:
            for name, value in zip(batch, self._client.mget(batch), strict=True):
                if value is not None:  # deleted meanwhile
                    yield name[skip:].decode("utf-8", "surrogatepass"), _as_bytes(value)

        for name in self._scan():
            keys.append(name)
            if len(keys) == _BATCH:
                yield from fetch(keys)
                keys = []
        if keys:
            yield from fetch(keys)

    def clear(self) -> None:
        batch: list[bytes] = []
        for name in self._scan():
            batch.append(name)
            if len(batch) == _BATCH:
                self._client.unlink(*batch)
                batch = []
        if batch:
            self._client.unlink(*batch)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<RedisStorage {self.prefix!r} at {self.url}>"


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
