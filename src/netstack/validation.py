"""Validation of request options: :func:`resolve_options`, field by field (401 naming the field).

Each validator takes the raw value and returns the normalised one: enums from
their names or values, nested @ohos.net.http objects from camelCase mappings, header
values as str. Out-of-range ``resume_from``/``resume_to`` are ignored, as
@ohos.net.http says; everything else out of range is an error.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from netstack.errors import HttpError
from netstack.extras import require
from netstack.limits import MAX_MILLISECONDS
from netstack.options import (
    DEFAULT_OPTIONS,
    MAX_LIMIT_CEILING,
    OPTION_FIELDS,
    OPTION_KEYS,
    RANGE_MAX,
    RANGE_MIN,
    CertificatePinning,
    CertType,
    ClientCert,
    HttpDataType,
    HttpProtocol,
    HttpProxy,
    HttpRequestOptions,
    MultiFormData,
    OptionsInput,
    RequestMethod,
)
from netstack.retry import RetryPolicy
from netstack.tags import check_tag

_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FORBIDDEN_VALUE_CHARS: Final = re.compile(r"[\r\n\x00]")
E = TypeVar("E")


def _fail(field: str, what: str, value: object) -> HttpError:
    return HttpError.parameter(f"{field}: {what}, got {value!r}")


def _int(field: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, "must be an int", value)
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise _fail(field, f"must be in {bound}", value)
    return value


def _enum(field: str, value: object, enum_type: type[E]) -> E:
    if isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)  # type: ignore[call-arg]
    except ValueError:
        pass
    if isinstance(value, str):
        member = enum_type.__members__.get(value.upper())  # type: ignore[attr-defined]
        if member is not None:
            return member  # type: ignore[no-any-return]
    names = ", ".join(enum_type.__members__)  # type: ignore[attr-defined]
    raise _fail(field, f"must be one of {names}", value)


def _method(value: object) -> RequestMethod | str:
    """A RequestMethod by name or value (any case), else any RFC 9110 token, kept as given."""
    if isinstance(value, RequestMethod):
        return value
    if not isinstance(value, str):
        raise _fail("method", "must be a RequestMethod or a str", value)
    member = RequestMethod.__members__.get(value.upper())
    if member is not None:
        return member
    if not _TOKEN.fullmatch(value):
        what = "must be an HTTP method token (RFC 9110: letters, digits and !#$%&'*+-.^_`|~)"
        raise _fail("method", what, value)
    return value


def _seed_object(field: str, value: object, cls: type[E], keys: Mapping[str, str]) -> E:
    """Build a value type from itself or from a mapping with camelCase or snake_case keys."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise _fail(field, f"must be a {cls.__name__} or a mapping", value)
    kwargs: dict[str, Any] = {}
    for key, item in value.items():
        name = keys.get(key)
        if name is None:
            raise _fail(field, f"unknown key {key!r} (expected {', '.join(keys)})", value)
        kwargs[name] = item
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise _fail(field, f"incomplete: {exc}", value) from None


def _keys(*names: str) -> dict[str, str]:
    out = {}
    for name in names:
        head, *rest = name.split("_")
        out[name] = name
        out[head + "".join(part.title() for part in rest)] = name
    return out


def check_header_name(field: str, name: object) -> str:
    """A header name must be a non-empty HTTP token (no CR/LF, spaces or colons)."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):  # "$" would let "X\n" pass
        raise _fail(field, "header names must be non-empty HTTP tokens", name)
    return name


def check_header_value(field: str, value: object) -> str:
    """A header value is a str (numbers are converted) without CR, LF or NUL."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(field, "header values must be str (or numbers)", value)
    text = value if isinstance(value, str) else str(value)
    if _FORBIDDEN_VALUE_CHARS.search(text):
        raise _fail(field, "header values must not contain CR, LF or NUL", value)
    return text


def _header(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail("header", "must be a mapping of header names to values", value)
    return {
        check_header_name("header", name): check_header_value(f"header[{name!r}]", item)
        for name, item in value.items()
    }


def _extra_data(value: object) -> object:
    if value is None or isinstance(value, str | bytes | Mapping | list):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise _fail("extra_data", "must be str, bytes, a mapping or a list", value)


def _bool(field: str) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise _fail(field, "must be a bool", value)
        return value

    return check


def _optional_str(field: str) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise _fail(field, "must be a str", value)

    return check


def _timeout(field: str) -> Callable[[object], int]:
    def check(value: object) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not 0 <= value <= MAX_MILLISECONDS
        ):
            raise _fail(
                field,
                f"must be an int of milliseconds in [0, {MAX_MILLISECONDS}] (0: no limit)",
                value,
            )
        return value

    return check


def _resume(field: str) -> Callable[[object], int | None]:
    def check(value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(field, "must be an int", value)
        return value if RANGE_MIN <= value <= RANGE_MAX else None  # @ohos.net.http: ignored

    return check


def _proxy(value: object) -> bool | HttpProxy:
    if isinstance(value, bool):
        return value
    proxy = _seed_object("using_proxy", value, HttpProxy, _keys("host", "port", "exclusion_list"))
    if not isinstance(proxy.host, str) or not proxy.host:
        raise _fail("using_proxy.host", "must be a non-empty str", proxy.host)
    port = _int("using_proxy.port", proxy.port, 1, 65535)
    exclusions = proxy.exclusion_list
    if isinstance(exclusions, str) or not all(isinstance(e, str) for e in exclusions):
        raise _fail("using_proxy.exclusion_list", "must be a list of host names", exclusions)
    return HttpProxy(proxy.host, port, tuple(exclusions))


def _client_cert(value: object) -> ClientCert | None:
    if value is None:
        return None
    keys = _keys("cert_path", "key_path", "cert_type", "key_password")
    cert = _seed_object("client_cert", value, ClientCert, keys)
    if not isinstance(cert.cert_path, str) or not cert.cert_path:
        raise _fail("client_cert.cert_path", "must be a non-empty str", cert.cert_path)
    if not isinstance(cert.key_path, str):
        raise _fail("client_cert.key_path", "must be a str", cert.key_path)
    if cert.key_password is not None and not isinstance(cert.key_password, str):
        raise _fail("client_cert.key_password", "must be a str", cert.key_password)
    cert_type = _enum("client_cert.cert_type", cert.cert_type, CertType)
    return ClientCert(
        cert_path=cert.cert_path,
        key_path=cert.key_path,
        cert_type=cert_type,
        key_password=cert.key_password,
    )


def _pins(value: object) -> tuple[CertificatePinning, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    keys = _keys("public_key_hash", "hash_algorithm")
    pins = []
    for item in items:
        pin = _seed_object("certificate_pinning", item, CertificatePinning, keys)
        if not isinstance(pin.public_key_hash, str) or not pin.public_key_hash:
            raise _fail("certificate_pinning.public_key_hash", "must be a base64 str", pin)
        if pin.hash_algorithm != "SHA-256":
            raise _fail("certificate_pinning.hash_algorithm", "only 'SHA-256' is supported", pin)
        pins.append(pin)
    return tuple(pins)


def _dns_servers(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail("dns_servers", "must be a list of IP addresses", value)
    servers = []
    for server in list(value)[:3]:  # @ohos.net.http: at most three, extra ones ignored
        try:
            servers.append(str(ipaddress.ip_address(server)))
        except ValueError:
            raise _fail(
                "dns_servers", "each entry must be an IPv4 or IPv6 address", server
            ) from None
    return tuple(servers)


def _doh(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.lower().startswith("https://"):
        raise _fail("dns_over_https", "must be an https:// URL", value)
    return value


def _form(value: object) -> tuple[MultiFormData, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise _fail("multi_form_data_list", "must be a list of MultiFormData", value)
    keys = _keys("name", "content_type", "remote_file_name", "data", "file_path")
    parts = []
    for item in value:
        part = _seed_object("multi_form_data_list", item, MultiFormData, keys)
        if not isinstance(part.name, str) or not part.name:
            raise _fail("multi_form_data_list.name", "must be a non-empty str", part.name)
        if part.data is None and not part.file_path:
            raise _fail("multi_form_data_list", "each part needs data or file_path", part)
        parts.append(part)
    return tuple(parts)


def _retry(value: object) -> RetryPolicy | int | None:
    if value is None or isinstance(value, RetryPolicy):
        return value
    if value == 0 and isinstance(value, int) and not isinstance(value, bool):
        return 0
    if isinstance(value, Mapping):  # as persisted, or written by hand
        names = (
            "attempts", "backoff", "max_backoff", "jitter",
            "statuses", "errors", "methods", "max_retry_after",
        )  # fmt: skip
        return _seed_object("retry", value, RetryPolicy, _keys(*names))
    raise _fail("retry", "must be a RetryPolicy, 0 (no retries) or None", value)


def _protocol(value: object) -> HttpProtocol | None:
    if value is None:
        return None
    protocol = _enum("using_protocol", value, HttpProtocol)
    if protocol is HttpProtocol.HTTP2:  # HTTP3 falls back to the best available, quietly
        require("http2", "using_protocol")
    return protocol


def _needs(extra: str, field: str, validate: Callable[[Any], E]) -> Callable[[Any], E]:
    """``validate``, then 401 naming the extra when a value is set and ``extra`` is missing."""

    def check(value: object) -> E:
        result = validate(value)
        if result is not None:
            require(extra, field)
        return result

    return check


_VALIDATORS: Final[dict[str, Callable[[Any], Any]]] = {
    "method": _method,
    "extra_data": _extra_data,
    "expect_data_type": lambda v: None if v is None else _enum("expect_data_type", v, HttpDataType),
    "using_cache": _bool("using_cache"),
    "priority": lambda v: _int("priority", v, 1, 1000),
    "header": _header,
    "read_timeout": _timeout("read_timeout"),
    "connect_timeout": _timeout("connect_timeout"),
    "total_timeout": _timeout("total_timeout"),
    "using_protocol": _protocol,
    "using_proxy": _proxy,
    "ca_path": _optional_str("ca_path"),
    "resume_from": _resume("resume_from"),
    "resume_to": _resume("resume_to"),
    "client_cert": _needs("tls", "client_cert", _client_cert),
    "dns_over_https": _needs("dns", "dns_over_https", _doh),
    "dns_servers": _needs("dns", "dns_servers", _dns_servers),
    "max_limit": lambda v: _int("max_limit", v, 0, MAX_LIMIT_CEILING),
    "multi_form_data_list": _form,
    "certificate_pinning": _needs("tls", "certificate_pinning", _pins),
    "max_redirects": lambda v: _int("max_redirects", v, 0, MAX_MILLISECONDS),
    "retry": _retry,
    "tag": lambda v: None if v is None else check_tag(v),
}


def validate_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise option values keyed by snake_case field name."""
    return {name: _VALIDATORS[name](value) for name, value in values.items()}


def check_priority(priority: object) -> int:
    """Return ``priority`` if it is an int in [1, 1000], else raise HttpError 401."""
    if isinstance(priority, int) and not isinstance(priority, bool) and 1 <= priority <= 1000:
        return priority
    raise HttpError.parameter(f"priority: must be an int in [1, 1000], got {priority!r}")


def resolve_options(options: OptionsInput) -> HttpRequestOptions:
    """Validate ``options`` into a new HttpRequestOptions (401 on any bad field)."""
    if options is None:
        return DEFAULT_OPTIONS
    return HttpRequestOptions(**validate_fields(_values(options)))


#: Option values a shared HttpRequestOptions may hold: immutable, and small enough
#: to hash per request (a body, a form, a mapping the caller keeps are never shared).
_SHAREABLE: Final = frozenset(
    {type(None), bool, int, float, str, RequestMethod, HttpDataType, HttpProtocol, RetryPolicy}
)
#: Fields whose value is the request's own (a body, a form): given, never shared.
_OWN: Final = frozenset({"extra_data", "multi_form_data_list"})
#: Most distinct option sets kept for sharing; past it the table starts afresh.
_SHARED_MAX: Final = 256
_shared: dict[tuple[tuple[str, object], ...], HttpRequestOptions] = {}


def shared_options(options: OptionsInput) -> HttpRequestOptions:
    """:func:`resolve_options` for a request the client owns: equal options, one object.

    A million requests submitted with ``{"priority": 5}`` share one validated
    HttpRequestOptions instead of holding one each (280 bytes, a quarter of
    what a queued request may cost). Options holding a body, a form or
    anything mutable get their own object, as from ``resolve_options``. The
    result must never be mutated (as ``DEFAULT_OPTIONS``, also shared).
    """
    if options is None:
        return DEFAULT_OPTIONS
    fields = validate_fields(_values(options))
    key = _share_key(fields)
    if key is None:
        return HttpRequestOptions(**fields)
    try:
        return _shared[key]
    except KeyError:
        pass
    except TypeError:  # a value that cannot be hashed (a RetryPolicy holding a list)
        return HttpRequestOptions(**fields)
    resolved = HttpRequestOptions(**fields)
    if len(_shared) >= _SHARED_MAX:
        _shared.clear()  # a workload of ever new option sets: sharing would not pay
    _shared[key] = resolved
    return resolved


def _share_key(fields: dict[str, Any]) -> tuple[tuple[str, object], ...] | None:
    """The sharing key of validated ``fields`` (values in order), or None: not shareable."""
    key: list[tuple[str, object]] = []
    for name, value in fields.items():
        if name in _OWN and value is not None:
            return None
        if type(value) in _SHAREABLE:
            key.append((name, value))
        elif name == "header":
            key.append((name, tuple(value.items())))  # our own dict of str (see _header)
        else:
            return None
    return tuple(key)


def _values(options: object) -> dict[str, Any]:
    """``options`` as raw values keyed by field name (401 on an unknown key or type)."""
    values: dict[str, Any]
    if isinstance(options, HttpRequestOptions):
        values = {name: getattr(options, name) for name in OPTION_FIELDS}
    elif isinstance(options, Mapping):
        values = {}
        for key, value in options.items():
            name = OPTION_KEYS.get(key) if isinstance(key, str) else None
            if name is None:
                raise HttpError.parameter(
                    f"options: unknown key {key!r}; expected one of the HttpRequestOptions "
                    "fields (snake_case) or @ohos.net.http's camelCase names"
                )
            values[name] = value
    else:
        raise HttpError.parameter(
            f"options: expected HttpRequestOptions or a mapping, got {type(options).__name__}"
        )
    return values
