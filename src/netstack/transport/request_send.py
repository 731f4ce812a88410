"""One request on a direct (no proxy) HTTP/1.1 pool, without urllib3's ``urlopen``.

``HTTPConnectionPool.urlopen`` serves every caller: it parses or encodes the
target, wraps retries and redirects, copies the headers for proxy headers,
records the body position for a rewind, clones the Timeout twice (once in
``urlopen``, once in ``_make_request``), then sends. The transport always
calls it the same way (no retries, no redirects, no proxy on a direct pool,
body unread, connection kept by the response), so :meth:`DirectSend.send_direct`
does just what those calls do: the same steps on the same pool methods, the
same exceptions wrapped the same way (``ProtocolError("Connection aborted.",
...)``, ``SSLError``, ``ReadTimeoutError``), the connection closed and its
slot given back on any failure, kept by the response on success.
"""

from __future__ import annotations

import errno
import http.client
import logging
import re
from typing import TYPE_CHECKING, Any, Final

from urllib3 import BaseHTTPResponse, HTTPConnectionPool
from urllib3.connection import BaseSSLError
from urllib3.exceptions import (
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry
from urllib3.util.ssl_match_hostname import CertificateError
from urllib3.util.timeout import Timeout
from urllib3.util.url import _encode_target

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection

__all__ = ["DirectSend"]

#: urllib3's logger for "GET /x HTTP/1.1" 200 lines, as urlopen logs them.
_log: Final = logging.getLogger("urllib3.connectionpool")
#: An origin-form target ``_encode_target`` returns unchanged: path and query
#: characters only, no percent sign (urllib3 normalises those), no fragment.
_PLAIN_TARGET: Final = re.compile(
    r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?"
).fullmatch
#: What urlopen catches around a request (then closes the connection and re-raises).
_FAILURES: Final = (
    Urllib3Timeout,
    http.client.HTTPException,
    OSError,
    ProtocolError,
    BaseSSLError,
    SSLError,
    CertificateError,
    ProxyError,
)
#: What _make_request turns into SSLError / lets through while validating the connection.
_CONNECT_FAILURES: Final = (
    OSError,
    NewConnectionError,
    Urllib3Timeout,
    BaseSSLError,
    CertificateError,
    SSLError,
)


class DirectSend(HTTPConnectionPool):
    """A pool that can send one request the way the transport's ``urlopen`` call would."""

    def send_direct(
        self,
        method: str,
        target: str,
        body: Any,
        headers: dict[str, str],
        timeout: Timeout,
        retries: Retry,
    ) -> BaseHTTPResponse:
        """``urlopen(method, target, body=body, headers=headers, retries=retries,
        redirect=False, assert_same_host=False, timeout=timeout,
        preload_content=False, decode_content=True, release_conn=False)`` on a
        pool without a proxy, for an origin-form ``target`` and a Timeout
        without ``total``."""
        url = target if _PLAIN_TARGET(target) else str(_encode_target(target))
        conn = None
        clean_exit = False
        try:
            conn = self._get_conn()
            response = self._make(conn, method, url, body, headers, timeout)
            response.retries = retries
            response._connection = conn  # type: ignore[attr-defined]
            response._pool = self  # type: ignore[attr-defined]
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug(
                    '%s://%s:%s "%s %s %s" %s %s',
                    self.scheme,
                    self.host,
                    self.port,
                    method,
                    url,
                    response.version_string,
                    response.status,
                    response.length_remaining,
                )
            clean_exit = True
            return response
        except _FAILURES as e:
            new_e: Exception = e
            if isinstance(e, (BaseSSLError, CertificateError)):
                new_e = SSLError(e)
            if isinstance(new_e, (OSError, http.client.HTTPException)):
                new_e = ProtocolError("Connection aborted.", new_e)
            # What Retry(False).increment does: the error raised again, with its traceback.
            raise new_e.with_traceback(e.__traceback__)  # noqa: B904
        finally:
            if not clean_exit:
                if conn:
                    conn.close()
                self._put_conn(None)

    def _make(
        self,
        conn: BaseHTTPConnection,
        method: str,
        url: str,
        body: Any,
        headers: dict[str, str],
        timeout: Timeout,
    ) -> BaseHTTPResponse:
        """What ``_make_request`` does for the transport's call."""
        self.num_requests += 1
        conn.timeout = Timeout.resolve_default_timeout(timeout.connect_timeout)
        self._validated(conn, url)
        try:
            conn.request(
                method,
                url,
                body=body,
                headers=headers,
                chunked=False,
                preload_content=False,
                decode_content=True,
                enforce_content_length=True,
            )
        except BrokenPipeError:
            pass  # the server may have answered before closing: read it
        except OSError as e:
            if e.errno not in (errno.EPROTOTYPE, errno.ECONNRESET):
                raise
        read_timeout = timeout.read_timeout
        if not conn.is_closed:
            if read_timeout == 0:
                raise ReadTimeoutError(self, url, f"Read timed out. (read timeout={read_timeout})")
            conn.timeout = read_timeout
        try:
            return conn.getresponse()
        except (BaseSSLError, OSError) as e:
            self._raise_timeout(err=e, url=url, timeout_value=read_timeout)
            raise

    def _validated(self, conn: BaseHTTPConnection, url: str) -> None:
        """``_validate_conn`` (TLS: connect, handshake); errors as urllib3 words them."""
        try:
            try:
                self._validate_conn(conn)
            except (TimeoutError, BaseSSLError) as e:  # builtin TimeoutError is socket.timeout
                self._raise_timeout(err=e, url=url, timeout_value=conn.timeout)
                raise
        except _CONNECT_FAILURES as e:
            if isinstance(e, (BaseSSLError, CertificateError)):
                raise SSLError(e) from e
            raise
