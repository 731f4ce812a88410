"""HttpRequestOptions, its value types and enums, and their validation.

Options come as an :class:`HttpRequestOptions`, or as a mapping keyed by the
camelCase names of @ohos.net.http (``extraData``, ``readTimeout`` ...) or the snake_case
field names. ``netstack.validation.resolve_options`` turns any of them into
one validated ``HttpRequestOptions``; anything wrong raises ``HttpError`` 401
naming the field, before a request is queued.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypedDict

from netstack.retry import RetryPolicy

MIB: Final = 1024 * 1024
MAX_LIMIT_CEILING: Final = 100 * MIB
RANGE_MIN: Final = 1
RANGE_MAX: Final = 4294967296


class RequestMethod(str, enum.Enum):
    """HTTP request methods by name; any other RFC 9110 token may be given as a str."""

    OPTIONS = "OPTIONS"
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    TRACE = "TRACE"
    CONNECT = "CONNECT"
    #: Beyond ``@ohos.net.http`` (RFC 5789): not idempotent, so never retried by default.
    PATCH = "PATCH"

    def __str__(self) -> str:
        return self.value


class ResponseCode(enum.IntEnum):
    """HTTP status codes named by @ohos.net.http."""

    OK = 200
    CREATED = 201
    ACCEPTED = 202
    NOT_AUTHORITATIVE = 203
    NO_CONTENT = 204
    RESET = 205
    PARTIAL = 206
    MULT_CHOICE = 300
    MOVED_PERM = 301
    MOVED_TEMP = 302
    SEE_OTHER = 303
    NOT_MODIFIED = 304
    USE_PROXY = 305
    BAD_REQUEST = 400
    UNAUTHORIZED = 401
    PAYMENT_REQUIRED = 402
    FORBIDDEN = 403
    NOT_FOUND = 404
    BAD_METHOD = 405
    NOT_ACCEPTABLE = 406
    PROXY_AUTH = 407
    CLIENT_TIMEOUT = 408
    CONFLICT = 409
    GONE = 410
    LENGTH_REQUIRED = 411
    PRECON_FAILED = 412
    ENTITY_TOO_LARGE = 413
    REQ_TOO_LONG = 414
    UNSUPPORTED_TYPE = 415
    RANGE_NOT_SATISFIABLE = 416
    INTERNAL_ERROR = 500
    NOT_IMPLEMENTED = 501
    BAD_GATEWAY = 502
    UNAVAILABLE = 503
    GATEWAY_TIMEOUT = 504
    VERSION = 505


class HttpDataType(enum.IntEnum):
    """The type of ``HttpResponse.result``."""

    STRING = 0
    OBJECT = 1
    ARRAY_BUFFER = 2


class HttpProtocol(enum.IntEnum):
    """The HTTP version to ask for."""

    HTTP1_1 = 0
    HTTP2 = 1
    HTTP3 = 2


class CertType(str, enum.Enum):
    """Client certificate file formats."""

    PEM = "PEM"
    DER = "DER"
    P12 = "P12"


@dataclass(frozen=True, kw_only=True)
class ClientCert:
    """A client certificate and its key (@ohos.net.http: ClientCert)."""

    cert_path: str
    key_path: str = ""
    cert_type: CertType = CertType.PEM
    key_password: str | None = None


@dataclass(frozen=True)
class CertificatePinning:
    """A pin: base64 SHA-256 of the peer's SPKI (@ohos.net.http's CertificatePinning)."""

    public_key_hash: str
    hash_algorithm: str = "SHA-256"


@dataclass(frozen=True)
class HttpProxy:
    """An explicit proxy, bypassed for hosts in ``exclusion_list`` (exact or ``*.suffix``)."""

    host: str
    port: int
    exclusion_list: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class MultiFormData:
    """One part of a multipart/form-data body; ``data`` wins over ``file_path``."""

    name: str
    content_type: str
    remote_file_name: str | None = None
    data: str | bytes | Mapping[str, Any] | None = None
    file_path: str | None = None


ExtraData: TypeAlias = str | bytes | Mapping[str, Any] | None
"""A request body or query addition: str (UTF-8), mapping (JSON or form), bytes (raw)."""


@dataclass(kw_only=True)
class HttpRequestOptions:
    """Options of one request; every field is optional (@ohos.net.http: HttpRequestOptions)."""

    #: A RequestMethod, or any other RFC 9110 method token as a str (``"PURGE"``).
    method: RequestMethod | str = RequestMethod.GET
    extra_data: ExtraData = None
    expect_data_type: HttpDataType | None = None
    using_cache: bool = True
    priority: int = 1
    header: Mapping[str, str] | None = None
    read_timeout: int = 60000
    connect_timeout: int = 60000
    #: Beyond @ohos.net.http: ms from submit to the end of the request, whatever it is doing
    #: (queued, retrying, redirected, transferring); then it ends with 2300028. 0: none.
    total_timeout: int = 0
    using_protocol: HttpProtocol | None = None
    using_proxy: bool | HttpProxy = False
    ca_path: str | None = None
    resume_from: int | None = None
    resume_to: int | None = None
    client_cert: ClientCert | None = None
    dns_over_https: str | None = None
    dns_servers: Sequence[str] | None = None
    max_limit: int = 5 * MIB
    multi_form_data_list: Sequence[MultiFormData] | None = None
    certificate_pinning: CertificatePinning | Sequence[CertificatePinning] | None = None
    max_redirects: int = 30
    #: Beyond @ohos.net.http: a RetryPolicy, 0 for no retries, None for the scheduler's policy.
    retry: RetryPolicy | int | None = None
    #: Beyond @ohos.net.http: a group name for ``Scheduler.cancel_all`` and ``set_priority_all``.
    tag: str | None = None


# The options mapping as a TypedDict: ``request(url, {"method": "POST", "readTimeout": 5000})``
# is checked by mypy, so a misspelt key or a value of the wrong type is an error in the
# caller's code. Both spellings of every key; values as resolve_options accepts them
# (enums also by name or value, nested value types also as mappings).

_Method: TypeAlias = RequestMethod | str
_DataType: TypeAlias = HttpDataType | int | str | None
_Protocol: TypeAlias = HttpProtocol | int | str | None
_Proxy: TypeAlias = bool | HttpProxy | Mapping[str, Any]
_Cert: TypeAlias = ClientCert | Mapping[str, Any] | None
_Form: TypeAlias = Sequence[MultiFormData | Mapping[str, Any]] | None
_Pin: TypeAlias = CertificatePinning | Mapping[str, str]
_Pins: TypeAlias = _Pin | Sequence[_Pin] | None
_Retry: TypeAlias = RetryPolicy | int | Mapping[str, Any] | None


class HttpRequestOptionsDict(TypedDict, total=False):
    """The options of one request as a mapping (every key optional; see HttpRequestOptions)."""

    method: _Method
    extraData: ExtraData
    extra_data: ExtraData
    expectDataType: _DataType
    expect_data_type: _DataType
    usingCache: bool
    using_cache: bool
    priority: int
    header: Mapping[str, str] | None
    readTimeout: int
    read_timeout: int
    connectTimeout: int
    connect_timeout: int
    totalTimeout: int
    total_timeout: int
    usingProtocol: _Protocol
    using_protocol: _Protocol
    usingProxy: _Proxy
    using_proxy: _Proxy
    caPath: str | None
    ca_path: str | None
    resumeFrom: int | None
    resume_from: int | None
    resumeTo: int | None
    resume_to: int | None
    clientCert: _Cert
    client_cert: _Cert
    dnsOverHttps: str | None
    dns_over_https: str | None
    dnsServers: Sequence[str] | None
    dns_servers: Sequence[str] | None
    maxLimit: int
    max_limit: int
    multiFormDataList: _Form
    multi_form_data_list: _Form
    certificatePinning: _Pins
    certificate_pinning: _Pins
    maxRedirects: int
    max_redirects: int
    retry: _Retry
    tag: str | None


OptionsInput: TypeAlias = HttpRequestOptions | HttpRequestOptionsDict | None
"""What ``request()`` accepts as options: mypy checks a mapping's keys and values."""

#: The field names of HttpRequestOptions, in declaration order.
OPTION_FIELDS: Final = tuple(f.name for f in dataclasses.fields(HttpRequestOptions))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


#: Both spellings of every option: ``{"extraData": "extra_data", "extra_data": "extra_data"}``.
OPTION_KEYS: Final[dict[str, str]] = {
    **{name: name for name in OPTION_FIELDS},
    **{_camel(name): name for name in OPTION_FIELDS},
}

#: The validated defaults, shared by every request made without options.
DEFAULT_OPTIONS: Final = HttpRequestOptions()
