"""The one table from urllib3 / http.client / socket / ssl failures to HttpError.

:func:`to_http_error` is applied once, where the transport calls urllib3
(``raise to_http_error(exc, ctx) from exc``). urllib3 wraps low-level errors
(``ProtocolError("Connection aborted.", ConnectionResetError(...))``,
``SSLError(SSLCertVerificationError(...))``, ``ProxyError(msg, error)``);
those wrappers are peeled first and the innermost cause is looked up in
:data:`RULES`, first match wins. Whatever the exception, an aborted request
is 2300042.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Final

from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HeaderParsingError,
    IncompleteRead,
    InvalidChunkLength,
    InvalidHeader,
    LocationValueError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
    URLSchemeUnknown,
)
from urllib3.util.ssl_match_hostname import CertificateError

from netstack.errors import (
    ABORTED,
    BAD_ENCODING,
    BAD_SERVER_RESPONSE,
    BAD_URL,
    CONNECT_FAILED,
    EMPTY_REPLY,
    HOST_RESOLVE,
    HTTP2_FRAMING,
    PARTIAL_FILE,
    PEER_CERT,
    PROXY_RESOLVE,
    RECEIVE_FAILED,
    SEND_FAILED,
    TIMEOUT,
    UNKNOWN,
    UNSUPPORTED_PROTOCOL,
    HttpError,
)
from netstack.transport.context import RequestContext
from netstack.transport.http2errors import Http2Error
from netstack.transport.sockets import ExchangeAborted

__all__ = ["RULES", "classify", "to_http_error"]

#: (exception type, code, code when writing the request had already failed).
#: Order matters: subclasses before their bases.
RULES: Final[tuple[tuple[type[BaseException], int, int], ...]] = (
    (ExchangeAborted, ABORTED, ABORTED),
    (URLSchemeUnknown, UNSUPPORTED_PROTOCOL, UNSUPPORTED_PROTOCOL),
    (LocationValueError, BAD_URL, BAD_URL),  # LocationParseError, "No host specified."
    (NameResolutionError, HOST_RESOLVE, HOST_RESOLVE),
    (socket.gaierror, HOST_RESOLVE, HOST_RESOLVE),
    (NewConnectionError, CONNECT_FAILED, CONNECT_FAILED),  # a ConnectTimeoutError subclass
    (ConnectTimeoutError, TIMEOUT, TIMEOUT),
    (ReadTimeoutError, TIMEOUT, TIMEOUT),
    (TimeoutError, TIMEOUT, TIMEOUT),  # socket.timeout while sending or reading
    (ConnectionRefusedError, CONNECT_FAILED, CONNECT_FAILED),
    (ssl.SSLCertVerificationError, PEER_CERT, PEER_CERT),  # also ssl.CertificateError
    (CertificateError, PEER_CERT, PEER_CERT),  # urllib3's own hostname match
    (ssl.SSLZeroReturnError, RECEIVE_FAILED, SEND_FAILED),
    (ssl.SSLEOFError, RECEIVE_FAILED, SEND_FAILED),
    (ssl.SSLError, UNKNOWN, UNKNOWN),  # handshake failures curl reports as 35
    (DecodeError, BAD_ENCODING, BAD_ENCODING),
    (InvalidChunkLength, PARTIAL_FILE, PARTIAL_FILE),
    (IncompleteRead, PARTIAL_FILE, PARTIAL_FILE),
    (http.client.IncompleteRead, PARTIAL_FILE, PARTIAL_FILE),
    (http.client.RemoteDisconnected, EMPTY_REPLY, SEND_FAILED),  # before its bases
    (Http2Error, HTTP2_FRAMING, HTTP2_FRAMING),  # a ConnectionError: before it
    (ConnectionError, RECEIVE_FAILED, SEND_FAILED),  # reset, broken pipe, aborted
    (InvalidHeader, BAD_SERVER_RESPONSE, BAD_SERVER_RESPONSE),
    (HeaderParsingError, BAD_SERVER_RESPONSE, BAD_SERVER_RESPONSE),
    (http.client.HTTPException, BAD_SERVER_RESPONSE, BAD_SERVER_RESPONSE),  # BadStatusLine...
    (OSError, RECEIVE_FAILED, SEND_FAILED),
)


def _unwrap(exc: BaseException) -> tuple[BaseException, bool]:
    """The innermost cause of urllib3's wrappers, and whether a proxy wrapped it."""
    via_proxy = False
    for _ in range(8):  # wrappers nest a few levels at most
        if isinstance(exc, ProxyError):
            via_proxy = True
            inner: object = exc.original_error
        elif isinstance(exc, (ProtocolError, SSLError)):
            inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        else:
            break
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc, via_proxy


def classify(exc: BaseException, *, send_failed: bool = False) -> tuple[int, BaseException]:
    """The code for ``exc`` and the cause it was decided on."""
    cause, via_proxy = _unwrap(exc)
    for kind, code, sending_code in RULES:
        if isinstance(cause, kind):
            if via_proxy and code == HOST_RESOLVE:
                return PROXY_RESOLVE, cause
            return (sending_code if send_failed else code), cause
    return UNKNOWN, cause


def to_http_error(exc: BaseException, ctx: RequestContext) -> HttpError:
    """The HttpError for ``exc`` raised while ``ctx`` ran; its detail names the peer."""
    if isinstance(exc, HttpError):
        return exc
    if ctx.abort.aborted:
        return HttpError.of(ABORTED, f"{ctx.peer}: aborted")
    code, cause = classify(exc, send_failed=ctx.send_failed)
    if isinstance(cause, NewConnectionError) and isinstance(cause.__cause__, OSError):
        cause = cause.__cause__  # the socket's own words, not urllib3's connection repr
    reason = str(cause) or type(cause).__name__
    return HttpError.of(code, f"{ctx.peer}: {type(cause).__name__}: {reason}")
