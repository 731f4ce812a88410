"""``HttpRequestOptionsDict``: the options mapping as a TypedDict, both spellings of every key.

``request(url, {"method": "POST", "readTimeout": 5000})`` is checked by mypy
against it: a misspelt key (``"readTimeOut"``) or a value of the wrong type is
an error in the caller's code, not only a 401 at run time. Each option has its
camelCase name (as in @ohos.net.http) and its snake_case field name; give one
of the two. Values are what ``resolve_options`` accepts (enums also by name or
value, nested value types also as mappings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, TypedDict

from netstack.options import (
    CertificatePinning,
    ClientCert,
    ExtraData,
    HttpDataType,
    HttpProtocol,
    HttpProxy,
    MultiFormData,
    RequestMethod,
)
from netstack.retry import RetryPolicy

__all__ = ["HttpRequestOptionsDict"]

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
