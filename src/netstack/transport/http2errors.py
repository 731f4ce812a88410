"""The two HTTP/2 failures the rest of the transport names (no ``h2`` import here)."""

from __future__ import annotations

__all__ = ["Http2Error", "StreamRefused"]


class Http2Error(ConnectionError):
    """The peer broke the HTTP/2 protocol or reset our stream; mapped to 2300016."""


class StreamRefused(Http2Error):
    """The server did not process the stream (REFUSED_STREAM, GOAWAY): safe to send again."""
