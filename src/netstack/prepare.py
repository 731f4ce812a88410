"""From ``request(url, options)`` to what goes on the wire: URL, headers, body.

Rules from ``@ohos.net.http``: ``extra_data`` is the body of POST and PUT (str
as UTF-8, a mapping as JSON or urlencoded per content-type, bytes raw); for
GET, HEAD, OPTIONS, DELETE, TRACE and CONNECT a str or mapping is appended to
the query and bytes are ignored. PATCH and any other method token carry
``extra_data`` as their body, as POST does. The default content-type is
``application/json`` for POST, PUT, PATCH and DELETE, else
``application/x-www-form-urlencoded``. ``resume_from`` /
``resume_to`` become ``Range: bytes=from-to`` on GET.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import SplitResult, urlencode, urlsplit

from urllib3.util.request import ACCEPT_ENCODING

from netstack import errors
from netstack.errors import HttpError
from netstack.multipart import MultipartBody, multipart_body
from netstack.options import HttpRequestOptions, RequestMethod
from netstack.transport.urls import origin_key

USER_AGENT: Final = "netstack/0.1"
#: Methods whose ``extra_data`` goes into the query; every other method sends it as the body.
QUERY_METHODS: Final = frozenset(
    {
        RequestMethod.GET,
        RequestMethod.HEAD,
        RequestMethod.OPTIONS,
        RequestMethod.DELETE,
        RequestMethod.TRACE,
        RequestMethod.CONNECT,
    }
)
_JSON_DEFAULT_METHODS: Final = frozenset(
    {RequestMethod.POST, RequestMethod.PUT, RequestMethod.PATCH, RequestMethod.DELETE}
)
_SCHEMES: Final = frozenset({"http", "https"})


def check_url(url: object) -> str:
    """A URL must be a str without CR, LF or NUL (401); anything else is checked later."""
    if not isinstance(url, str):
        raise HttpError.parameter(f"url: must be a str, got {type(url).__name__}")
    if "\r" in url or "\n" in url or "\x00" in url:
        raise HttpError.parameter(f"url: must not contain CR, LF or NUL, got {url!r}")
    return url


#: parse_target's answers for the URLs seen last (a cache hit repeats URLs). Small on purpose:
#: a crawl of distinct URLs only churns it, and 4,096 entries cost the 20,000-request soak ~4 MiB.
_TARGETS: dict[str, tuple[str, str]] = {}
_TARGETS_MAX: Final = 256


def parse_target(url: str) -> tuple[str, str]:
    """``(URL to send, host key)`` of ``url``: the URL without its fragment, and the host
    the transport will connect to, in the canonical form host rules compare (IDNA, lower
    case, no trailing dot). 2300003 when malformed or ambiguous, 2300001 for a scheme
    other than http(s)."""
    known = _TARGETS.get(url)
    if known is not None:
        return known
    target = _parse_target(url)
    if len(_TARGETS) >= _TARGETS_MAX:  # bounded: a crawl of distinct URLs starts over
        _TARGETS.clear()
    _TARGETS[url] = target
    return target


def _parse_target(url: str) -> tuple[str, str]:
    url = url.strip()
    if not url:
        raise HttpError.of(errors.BAD_URL, "the URL is empty")
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        raise HttpError.of(errors.BAD_URL, f"{url!r}: the URL needs http:// or https://")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise HttpError.of(errors.UNSUPPORTED_PROTOCOL, f"{url!r}: scheme {scheme!r}")
    host = origin_key(scheme, rest)[1]
    if "#" in url:
        url = url.partition("#")[0]
    return url, host


def _with_query(url: str, extra: object) -> str:
    if isinstance(extra, str):
        query = extra
    elif isinstance(extra, Mapping):
        query = urlencode({str(k): _query_value(v) for k, v in extra.items()}, doseq=True)
    else:
        return url  # bytes (and lists) are not appended, as @ohos.net.http says
    if not query:
        return url
    parts: SplitResult = urlsplit(url)
    joined = f"{parts.query}&{query}" if parts.query else query
    return parts._replace(query=joined).geturl()


def _query_value(value: object) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_query_value(v) for v in value]
    return value


def _find(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def build_headers(options: HttpRequestOptions) -> dict[str, str]:
    """The request headers: the caller's, plus defaults the caller did not set."""
    if not options.header and options.resume_from is None and options.resume_to is None:
        return dict(_default_headers(options.method))  # the common case, precomputed
    headers = dict(options.header) if options.header else {}
    if _find(headers, "content-type") is None:
        json_default = options.method in _JSON_DEFAULT_METHODS
        headers["Content-Type"] = (
            "application/json" if json_default else "application/x-www-form-urlencoded"
        )
    if _find(headers, "accept-encoding") is None:
        headers["Accept-Encoding"] = ACCEPT_ENCODING
    if _find(headers, "user-agent") is None:
        headers["User-Agent"] = USER_AGENT
    if options.method is RequestMethod.GET and (
        options.resume_from is not None or options.resume_to is not None
    ):
        start = "" if options.resume_from is None else str(options.resume_from)
        end = "" if options.resume_to is None else str(options.resume_to)
        headers["Range"] = f"bytes={start}-{end}"
    return headers


@functools.cache
def _default_headers(method: RequestMethod | str) -> dict[str, str]:
    """The headers of a request that sets none (copied by the caller, never mutated)."""
    json_default = method in _JSON_DEFAULT_METHODS
    return {
        "Content-Type": "application/json" if json_default else "application/x-www-form-urlencoded",
        "Accept-Encoding": ACCEPT_ENCODING,
        "User-Agent": USER_AGENT,
    }


def request_url(url: str, options: HttpRequestOptions) -> str:
    """The URL to send: ``extra_data`` goes into the query for non-body methods."""
    if options.extra_data is None or options.method not in QUERY_METHODS:
        return url
    return _with_query(url, options.extra_data)


def encode_body(
    options: HttpRequestOptions, headers: dict[str, str]
) -> bytes | MultipartBody | None:
    """The request body for POST, PUT, PATCH and other methods outside QUERY_METHODS.

    May rewrite Content-Type (multipart boundary).

    Opens ``multi_form_data_list`` files (they are streamed later, not read
    here), so it runs on the worker thread; an unreadable file is 2300026.
    """
    if options.method in QUERY_METHODS:
        return None
    content_type = (_find(headers, "content-type") or "").lower()
    if content_type.startswith("multipart/form-data") and options.multi_form_data_list:
        body = multipart_body(options.multi_form_data_list)
        for key in [k for k in headers if k.lower() == "content-type"]:
            del headers[key]
        headers["Content-Type"] = body.content_type
        return body
    data = options.extra_data
    if data is None:
        return None
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if content_type.startswith("application/x-www-form-urlencoded") and isinstance(data, Mapping):
        return urlencode({str(k): _query_value(v) for k, v in data.items()}, doseq=True).encode()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
