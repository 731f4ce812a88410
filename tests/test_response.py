"""The seed's result-decoding rules and the shape of HttpResponse."""

from __future__ import annotations

import dataclasses

import pytest
from urllib3 import HTTPHeaderDict

from netstack import HttpDataType, HttpResponse, PerformanceTiming, ResponseCode
from netstack.response import decode_result, response_code, response_of, timing_of


@pytest.mark.parametrize(
    ("content_type", "expected_type"),
    [
        ("application/json", HttpDataType.STRING),
        ("application/json; charset=utf-8", HttpDataType.STRING),
        ("application/octet-stream", HttpDataType.ARRAY_BUFFER),
        ("image/png", HttpDataType.ARRAY_BUFFER),
        ("IMAGE/JPEG", HttpDataType.ARRAY_BUFFER),
        ("text/html", HttpDataType.STRING),
        (None, HttpDataType.STRING),
    ],
)
def test_result_type_without_expect_data_type(
    content_type: str | None, expected_type: HttpDataType
) -> None:
    result, result_type = decode_result(b'{"a": 1}', content_type, None)
    assert result_type is expected_type
    assert isinstance(result, bytes if expected_type is HttpDataType.ARRAY_BUFFER else str)


def test_json_without_expect_is_the_json_text() -> None:
    assert decode_result(b'{"a": 1}', "application/json", None) == ('{"a": 1}', HttpDataType.STRING)


def test_charset_from_content_type_is_used() -> None:
    body = "caf\u00e9".encode("latin-1")
    assert decode_result(body, "text/plain; charset=latin-1", None)[0] == "caf\u00e9"


def test_unknown_charset_falls_back_to_utf8() -> None:
    assert decode_result(b"ok", "text/plain; charset=klingon", None)[0] == "ok"


def test_expect_object_parses_json() -> None:
    assert decode_result(b'{"a": [1, 2]}', "text/plain", HttpDataType.OBJECT) == (
        {"a": [1, 2]},
        HttpDataType.OBJECT,
    )


def test_expect_object_on_non_json_gives_the_text_as_string() -> None:
    assert decode_result(b"<html>", "text/html", HttpDataType.OBJECT) == (
        "<html>",
        HttpDataType.STRING,
    )


def test_expect_array_buffer_gives_bytes_and_expect_string_gives_text() -> None:
    assert decode_result(b"\x00\x01", "text/plain", HttpDataType.ARRAY_BUFFER) == (
        b"\x00\x01",
        HttpDataType.ARRAY_BUFFER,
    )
    assert decode_result(b"abc", "image/png", HttpDataType.STRING) == ("abc", HttpDataType.STRING)


def test_fast_builders_make_the_same_frozen_objects() -> None:
    """response_of / timing_of skip the dataclass __init__; the objects must not differ."""
    timing = timing_of(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0)
    assert timing == PerformanceTiming(
        dns_timing=1.0,
        tcp_timing=2.0,
        tls_timing=3.0,
        first_send_timing=4.0,
        first_receive_timing=5.0,
        total_finish_timing=6.0,
        redirect_timing=7.0,
        response_header_timing=8.0,
        response_body_timing=9.0,
        total_timing=10.0,
        queue_timing=11.0,
    )
    header = HTTPHeaderDict({"Content-Type": "text/plain"})
    fast = response_of("x", HttpDataType.STRING, 404, header, "c=1", timing, "http://h/", True, 2)
    slow = HttpResponse(
        result="x",
        result_type=HttpDataType.STRING,
        response_code=ResponseCode.NOT_FOUND,
        header=header,
        cookies="c=1",
        performance_timing=timing,
        url="http://h/",
        from_cache=True,
        attempts=2,
    )
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.url = "elsewhere"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        timing.dns_timing = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("status", "member"), [(200, True), (404, True), (418, False), (599, False)]
)
def test_response_code_is_a_member_where_one_exists(status: int, member: bool) -> None:
    code = response_code(status)
    assert code == status
    assert isinstance(code, ResponseCode) is member
    timing = PerformanceTiming()
    response = response_of(b"", HttpDataType.ARRAY_BUFFER, status, {}, "", timing, "", False, 1)
    assert isinstance(response.response_code, ResponseCode) is member
