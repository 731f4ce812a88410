"""HttpError, the one root of every failure netstack reports, and its code table.

Codes follow @ohos.net.http: ``401`` is a parameter error (raised by ``request()``
itself, before anything is queued); transfer errors are ``2300000 + the curl
error number``. ``message`` is @ohos.net.http's English message; for ``401`` it goes
on to name the field and what to fix. ``detail`` carries the specifics of a
transfer error (the peer, the underlying exception) and shows in ``str()``.

Leaves also derive from builtins (``TimeoutError``, ``ConnectionError``,
``ValueError``) so idiomatic ``except`` clauses work; every one pickles.
"""

from __future__ import annotations

from typing import Final

PARAMETER_ERROR: Final = 401
UNSUPPORTED_PROTOCOL: Final = 2300001
BAD_URL: Final = 2300003
PROXY_RESOLVE: Final = 2300005
HOST_RESOLVE: Final = 2300006
CONNECT_FAILED: Final = 2300007
BAD_SERVER_RESPONSE: Final = 2300008
ACCESS_DENIED: Final = 2300009
HTTP2_FRAMING: Final = 2300016
PARTIAL_FILE: Final = 2300018
HTTP_RETURNED_ERROR: Final = 2300022
WRITE_ERROR: Final = 2300023
UPLOAD_FAILED: Final = 2300025
READ_LOCAL_FILE: Final = 2300026
OUT_OF_MEMORY: Final = 2300027
TIMEOUT: Final = 2300028
ABORTED: Final = 2300042
TOO_MANY_REDIRECTS: Final = 2300047
EMPTY_REPLY: Final = 2300052
SEND_FAILED: Final = 2300055
RECEIVE_FAILED: Final = 2300056
LOCAL_CERT: Final = 2300058
BAD_CIPHER: Final = 2300059
PEER_CERT: Final = 2300060
BAD_ENCODING: Final = 2300061
MAX_SIZE_EXCEEDED: Final = 2300063
CA_FILE: Final = 2300077
AUTHENTICATION: Final = 2300094
HOST_NOT_ALLOWED: Final = 2300998
UNKNOWN: Final = 2300999

#: @ohos.net.http's English message for each documented code.
MESSAGES: Final[dict[int, str]] = {
    PARAMETER_ERROR: "Parameter error.",
    UNSUPPORTED_PROTOCOL: "Unsupported protocol.",
    BAD_URL: "Invalid URL format or missing URL.",
    PROXY_RESOLVE: "Failed to resolve the proxy name.",
    HOST_RESOLVE: "Failed to resolve the host name.",
    CONNECT_FAILED: "Failed to connect to the server.",
    BAD_SERVER_RESPONSE: "Invalid server response.",
    ACCESS_DENIED: "Access to the remote resource denied.",
    HTTP2_FRAMING: "Error in the HTTP2 framing layer.",
    PARTIAL_FILE: "Transferred a partial file.",
    HTTP_RETURNED_ERROR: "HTTP response code said error.",
    WRITE_ERROR: "Failed to write the received data to the disk or application.",
    UPLOAD_FAILED: "Upload failed.",
    READ_LOCAL_FILE: "Failed to open or read local data from the file or application.",
    OUT_OF_MEMORY: "Out of memory.",
    TIMEOUT: "Operation timeout.",
    ABORTED: "Operation aborted.",
    TOO_MANY_REDIRECTS: "The number of redirections reaches the maximum allowed.",
    EMPTY_REPLY: "The server returned nothing (no header or data).",
    SEND_FAILED: "Failed to send data to the peer.",
    RECEIVE_FAILED: "Failed to receive data from the peer.",
    LOCAL_CERT: "Local SSL certificate error.",
    BAD_CIPHER: "The specified SSL cipher cannot be used.",
    PEER_CERT: "Invalid SSL peer certificate or SSH remote key.",
    BAD_ENCODING: "Invalid HTTP encoding format.",
    MAX_SIZE_EXCEEDED: "Maximum file size exceeded.",
    CA_FILE: "The SSL CA certificate does not exist or is inaccessible.",
    AUTHENTICATION: "Authentication error.",
    HOST_NOT_ALLOWED: "It is not allowed to access this domain.",
    UNKNOWN: "Unknown error.",
}


class HttpError(Exception):
    """A failed request: ``code`` from @ohos.net.http's table and its ``message``.

    Build one with :meth:`HttpError.of`, which picks the leaf class that also
    derives from the matching builtin exception.
    """

    code: int
    message: str
    detail: str
    #: Attempts sent before this error ended the request, the failed one included
    #: (see ``RetryPolicy``); 0 when it ended before anything was sent.
    attempts: int = 0

    def __init__(self, code: int, message: str | None = None, detail: str = "") -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES.get(code, MESSAGES[UNKNOWN])
        self.detail = detail
        super().__init__(code, self.message, detail)

    @staticmethod
    def of(code: int, detail: str = "") -> HttpError:
        """The error for ``code`` with @ohos.net.http's message, as its leaf class."""
        return _LEAVES.get(code, HttpError)(code, None, detail)

    @staticmethod
    def parameter(detail: str) -> HttpError:
        """A 401 whose message names what to fix, e.g. ``"priority: ..."``."""
        return ParameterError(PARAMETER_ERROR, f"{MESSAGES[PARAMETER_ERROR]} {detail}", detail)

    def __reduce__(self) -> tuple[type[HttpError], tuple[int, str, str]]:
        return (type(self), (self.code, self.message, self.detail))

    def __str__(self) -> str:
        if self.detail and self.detail not in self.message:
            return f"[{self.code}] {self.message} ({self.detail})"
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"


class ParameterError(HttpError, ValueError):
    """401: the caller's input is invalid; nothing was sent."""


class HttpTimeoutError(HttpError, TimeoutError):
    """2300028: connect or read took longer than allowed."""


class HttpConnectionError(HttpError, ConnectionError):
    """Connecting, sending or receiving failed at the socket level."""


class AbortedError(HttpError):
    """2300042: ``destroy()`` interrupted the request."""


_LEAVES: Final[dict[int, type[HttpError]]] = {
    PARAMETER_ERROR: ParameterError,
    TIMEOUT: HttpTimeoutError,
    CONNECT_FAILED: HttpConnectionError,
    SEND_FAILED: HttpConnectionError,
    RECEIVE_FAILED: HttpConnectionError,
    EMPTY_REPLY: HttpConnectionError,
    PARTIAL_FILE: HttpConnectionError,
    ABORTED: AbortedError,
}
