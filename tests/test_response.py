"""The seed's result-decoding rules and the shape of HttpResponse."""

from __future__ import annotations

import pytest

from netstack import HttpDataType
from netstack.response import decode_result


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
