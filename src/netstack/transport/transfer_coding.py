"""A response body sent with a transfer coding besides chunked (``gzip, chunked``).

netstack never asks for one (it sends no ``TE`` header), but some servers
compress at the transfer layer anyway. http.client undoes the chunking;
:class:`TransferDecoded` undoes the coding under it, at most ``amt``
decoded bytes per read, so ``max_limit`` still stops a bomb early. Only one
coding (``gzip``, ``x-gzip`` or ``deflate``) is understood; anything else is
a ``DecodeError`` (2300061). The response's ``Content-Encoding``, if any, is
then decoded by urllib3 as usual.
"""

from __future__ import annotations

import http.client
import zlib
from typing import Final

from urllib3.exceptions import DecodeError

__all__ = ["TransferDecoded"]

_READ: Final = 64 * 1024
_WBITS: Final = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


class TransferDecoded:
    """The file-like body urllib3 reads, with the transfer coding removed."""

    def __init__(self, raw: http.client.HTTPResponse, codings: list[str]) -> None:
        if len(codings) != 1 or codings[0] not in _WBITS:
            raise DecodeError(f"unsupported Transfer-Encoding: {', '.join(codings)}")
        self._raw = raw
        self._coding = codings[0]
        self._z = zlib.decompressobj(_WBITS[self._coding])
        self._first = True

    def read(self, amt: int | None = None) -> bytes:
        """Up to ``amt`` decoded bytes (all of them for None); b"" at the end."""
        if amt is None:
            parts = []
            while chunk := self.read(_READ):
                parts.append(chunk)
            return b"".join(parts)
        while True:
            source = self._z.unconsumed_tail
            if not source:
                source = self._raw.read(
                    _READ
                )  # at the end: the last chunk, so the connection is clean
                if self._z.eof:
                    if source:
                        raise DecodeError(f"data after the end of the {self._coding} stream")
                    return b""
                if not source:
                    if not self._first:
                        raise DecodeError(f"truncated {self._coding} transfer coding")
                    return b""  # an empty body
            try:
                out = self._decompress(source, amt)
            except zlib.error as exc:
                raise DecodeError(f"bad {self._coding} transfer coding: {exc}") from exc
            if out:
                return out

    def _decompress(self, source: bytes, amt: int) -> bytes:
        if self._first and self._coding == "deflate":
            self._first = False
            try:  # zlib-wrapped, as RFC 9110 says; some servers send raw deflate
                return self._z.decompress(source, amt)
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self._first = False
        return self._z.decompress(source, amt)

    def isclosed(self) -> bool:
        return self._raw.isclosed()

    def close(self) -> None:
        self._raw.close()

    def flush(self) -> None:
        self._raw.flush()

    def fileno(self) -> int:
        return self._raw.fileno()
