"""Option validation: every bad field is a 401 naming it; both key spellings work."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack import (
    CertificatePinning,
    ClientCert,
    HttpDataType,
    HttpError,
    HttpProtocol,
    HttpProxy,
    HttpRequestOptions,
    RequestMethod,
)
from netstack.options import DEFAULT_OPTIONS, OPTION_KEYS
from netstack.retry import RetryPolicy
from netstack.validation import resolve_options, shared_options


def _code_and_message(options: object) -> tuple[int, str]:
    with pytest.raises(HttpError) as info:
        resolve_options(options)  # type: ignore[arg-type]
    return info.value.code, info.value.message


def test_no_options_gives_the_documented_defaults() -> None:
    options = resolve_options(None)
    assert options is DEFAULT_OPTIONS
    assert options.method is RequestMethod.GET
    assert options.priority == 1
    assert options.read_timeout == 60000
    assert options.connect_timeout == 60000
    assert options.using_cache is True
    assert options.max_limit == 5 * 1024 * 1024
    assert options.max_redirects == 30
    assert options.using_proxy is False


def test_camel_case_and_snake_case_keys_mean_the_same() -> None:
    camel = resolve_options(
        {"method": "POST", "extraData": "x", "readTimeout": 5000, "expectDataType": 1}
    )
    snake = resolve_options(
        {"method": "POST", "extra_data": "x", "read_timeout": 5000, "expect_data_type": 1}
    )
    assert camel == snake
    assert camel.method is RequestMethod.POST
    assert camel.expect_data_type is HttpDataType.OBJECT
    assert camel.read_timeout == 5000


def test_every_field_has_a_camel_case_key() -> None:
    assert OPTION_KEYS["multiFormDataList"] == "multi_form_data_list"
    assert OPTION_KEYS["certificatePinning"] == "certificate_pinning"
    assert OPTION_KEYS["dnsOverHttps"] == "dns_over_https"
    assert OPTION_KEYS["maxLimit"] == "max_limit"
    assert OPTION_KEYS["usingProtocol"] == "using_protocol"


def test_unknown_key_is_a_parameter_error_naming_it() -> None:
    code, message = _code_and_message({"readTimeOut": 1})
    assert code == 401
    assert "readTimeOut" in message


def test_options_of_the_wrong_type_are_refused() -> None:
    assert _code_and_message(["GET"])[0] == 401


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"priority": 0}, "priority"),
        ({"priority": 1001}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": "5"}, "priority"),
        ({"method": "FE TCH"}, "method"),
        ({"max_limit": 100 * 1024 * 1024 + 1}, "max_limit"),
        ({"read_timeout": -1}, "read_timeout"),
        ({"connect_timeout": 1.5}, "connect_timeout"),
        ({"header": {"X-A": "a\r\nInjected: 1"}}, "header"),
        ({"header": {"Bad Name": "v"}}, "header"),
        ({"header": {"X-A": "a\nb"}}, "header"),
        ({"header": "X-A: 1"}, "header"),
        ({"using_cache": "yes"}, "using_cache"),
        ({"expect_data_type": 7}, "expect_data_type"),
        ({"using_protocol": 9}, "using_protocol"),
        ({"dns_servers": ["not-an-ip"]}, "dns_servers"),
        ({"dns_over_https": "http://doh.example/dns-query"}, "dns_over_https"),
        ({"certificate_pinning": {"publicKeyHash": "x", "hashAlgorithm": "MD5"}}, "hash_algorithm"),
        ({"using_proxy": {"host": "proxy", "port": 0}}, "using_proxy.port"),
        ({"client_cert": {"certPath": ""}}, "client_cert"),
        ({"extra_data": 3.5}, "extra_data"),
        ({"max_redirects": -1}, "max_redirects"),
    ],
)
def test_invalid_values_are_401_naming_the_field(options: dict[str, object], field: str) -> None:
    code, message = _code_and_message(options)
    assert code == 401
    assert message.startswith("Parameter error.")
    assert field in message


def test_resume_range_out_of_bounds_is_ignored_as_the_seed_says() -> None:
    options = resolve_options({"resumeFrom": 0, "resumeTo": 4294967297})
    assert options.resume_from is None
    assert options.resume_to is None
    assert resolve_options({"resumeFrom": 1, "resumeTo": 4294967296}).resume_to == 4294967296


def test_seed_objects_from_camel_case_mappings() -> None:
    options = resolve_options(
        {
            "clientCert": {"certPath": "/c.pem", "keyPath": "/k.pem", "certType": "P12"},
            "certificatePinning": [{"publicKeyHash": "abc=", "hashAlgorithm": "SHA-256"}],
            "usingProxy": {"host": "127.0.0.1", "port": 3128, "exclusionList": ["*.local"]},
            "usingProtocol": HttpProtocol.HTTP2,
            "dnsServers": ["127.0.0.1", "::1", "127.0.0.2", "127.0.0.3"],
        }
    )
    assert options.client_cert == ClientCert(
        cert_path="/c.pem",
        key_path="/k.pem",
        cert_type="P12",  # type: ignore[arg-type]
    )
    assert options.certificate_pinning == (CertificatePinning("abc="),)
    assert options.using_proxy == HttpProxy("127.0.0.1", 3128, ("*.local",))
    assert options.dns_servers == ("127.0.0.1", "::1", "127.0.0.2")  # first three only


def test_header_numbers_become_strings() -> None:
    assert resolve_options({"header": {"X-Count": 3}}).header == {"X-Count": "3"}


def test_dataclass_input_is_validated_too() -> None:
    with pytest.raises(HttpError) as info:
        resolve_options(HttpRequestOptions(priority=2000))
    assert info.value.code == 401
    assert "priority" in info.value.message


@given(st.integers(min_value=-10_000, max_value=10_000))
def test_priority_is_accepted_exactly_in_1_to_1000(priority: int) -> None:
    if 1 <= priority <= 1000:
        assert resolve_options({"priority": priority}).priority == priority
    else:
        assert _code_and_message({"priority": priority})[0] == 401


@given(st.text(max_size=20))
def test_header_values_with_cr_lf_or_nul_are_always_refused(value: str) -> None:
    if any(c in value for c in "\r\n\x00"):
        assert _code_and_message({"header": {"X-Test": value}})[0] == 401
    else:
        assert resolve_options({"header": {"X-Test": value}}).header == {"X-Test": value}


@given(st.text(min_size=1, max_size=12))
def test_method_names_are_members_tokens_kept_as_given_else_401(name: str) -> None:
    if name.upper() in RequestMethod.__members__:
        assert resolve_options({"method": name}).method is RequestMethod[name.upper()]
    elif re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
        assert resolve_options({"method": name}).method == name
    else:
        assert _code_and_message({"method": name})[0] == 401


def test_requests_with_equal_plain_options_share_one_validated_object() -> None:
    """A queue of a million ``{"priority": 5}`` requests holds one options object."""
    first = shared_options({"priority": 5, "header": {"x-a": "1"}, "retry": RetryPolicy()})
    again = shared_options({"priority": 5, "header": {"x-a": 1}, "retry": RetryPolicy()})
    assert again is first
    assert first == resolve_options({"priority": 5, "header": {"x-a": "1"}, "retry": RetryPolicy()})
    assert shared_options({"priority": 6}) is not shared_options({"priority": 5})
    assert shared_options({"header": {"x-a": "2"}}) is not shared_options({"header": {"x-a": "1"}})
    assert shared_options(None) is DEFAULT_OPTIONS


def test_shared_options_never_hold_what_the_caller_may_change() -> None:
    header = {"x-a": "1"}
    shared = shared_options({"header": header})
    header["x-a"] = "2"
    assert shared.header == {"x-a": "1"}  # validation copied it
    body = {"k": "v"}
    assert shared_options({"extra_data": body}) is not shared_options({"extra_data": body})
    assert shared_options({"extra_data": "text"}) is not shared_options({"extra_data": "text"})


def test_resolve_options_still_gives_a_new_object_each_time() -> None:
    """What a caller may keep and change (``Scheduler.default_options``) is never shared."""
    assert resolve_options({"priority": 5}) is not resolve_options({"priority": 5})


def test_shared_options_table_stays_bounded() -> None:
    from netstack import validation

    for priority in range(1, 1001):
        shared_options({"priority": priority, "tag": "bounded"})
    assert len(validation._shared) <= validation._SHARED_MAX
