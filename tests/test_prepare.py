"""Turning request()'s arguments into URL, headers and body (the seed's rules)."""

from __future__ import annotations

import json

import pytest

from netstack import HttpError
from netstack.prepare import build_headers, check_url, encode_body, parse_target, request_url
from netstack.validation import resolve_options


def _url(url: str, **options: object) -> str:
    return request_url(parse_target(url)[0], resolve_options(options))


def test_default_content_type_depends_on_method() -> None:
    for method in ("POST", "PUT", "DELETE"):
        assert build_headers(resolve_options({"method": method}))["Content-Type"] == (
            "application/json"
        )
    for method in ("GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"):
        assert build_headers(resolve_options({"method": method}))["Content-Type"] == (
            "application/x-www-form-urlencoded"
        )


def test_caller_content_type_wins_case_insensitively() -> None:
    headers = build_headers(resolve_options({"header": {"content-type": "text/xml"}}))
    assert headers["content-type"] == "text/xml"
    assert "Content-Type" not in headers


def test_resume_range_header_on_get_only() -> None:
    assert build_headers(resolve_options({"resumeFrom": 10, "resumeTo": 20}))["Range"] == (
        "bytes=10-20"
    )
    assert build_headers(resolve_options({"resumeFrom": 10}))["Range"] == "bytes=10-"
    assert build_headers(resolve_options({"resumeTo": 20}))["Range"] == "bytes=-20"
    assert "Range" not in build_headers(resolve_options({"method": "POST", "resumeFrom": 1}))


def test_extra_data_goes_to_the_query_for_get_like_methods() -> None:
    assert _url("http://h/p", extra_data={"a": 1, "b": "x y"}) == "http://h/p?a=1&b=x+y"
    assert _url("http://h/p?z=0", extra_data="a=1") == "http://h/p?z=0&a=1"
    assert _url("http://h/p", method="DELETE", extra_data={"a": 1}) == "http://h/p?a=1"
    assert _url("http://h/p", extra_data=b"raw") == "http://h/p"  # bytes are ignored
    assert _url("http://h/p", method="POST", extra_data={"a": 1}) == "http://h/p"


def test_body_encoding_for_post_and_put() -> None:
    def body(**options: object) -> bytes | None:
        resolved = resolve_options(options)
        return encode_body(resolved, build_headers(resolved))

    assert body(method="POST", extra_data="h\u00e9") == "h\u00e9".encode()
    assert json.loads(body(method="PUT", extra_data={"a": [1]}) or b"") == {"a": [1]}
    assert body(method="POST", extra_data=b"\x00") == b"\x00"
    form = body(
        method="POST",
        extra_data={"a": "1", "b": "x y"},
        header={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form == b"a=1&b=x+y"
    assert body(method="GET", extra_data="x") is None


def test_multipart_body_carries_every_part_and_the_boundary() -> None:
    resolved = resolve_options(
        {
            "method": "POST",
            "header": {"Content-Type": "multipart/form-data"},
            "multiFormDataList": [
                {"name": "a", "contentType": "text/plain", "data": "hello"},
                {
                    "name": "f",
                    "contentType": "text/plain",
                    "data": b"xyz",
                    "remoteFileName": "f.txt",
                },
            ],
        }
    )
    headers = build_headers(resolved)
    encoded = encode_body(resolved, headers)
    assert encoded is not None
    assert not isinstance(encoded, bytes)  # a MultipartBody: streamed, its size known
    body = b"".join(encoded)
    assert len(body) == len(encoded)
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="a"' in body
    assert b"hello" in body
    assert b'filename="f.txt"' in body
    assert b"xyz" in body


def test_multipart_unreadable_file_is_2300026(tmp_path: object) -> None:
    resolved = resolve_options(
        {
            "method": "POST",
            "header": {"Content-Type": "multipart/form-data"},
            "multiFormDataList": [
                {"name": "f", "contentType": "text/plain", "filePath": "/nonexistent/x"}
            ],
        }
    )
    with pytest.raises(HttpError) as info:
        encode_body(resolved, build_headers(resolved))
    assert info.value.code == 2300026


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", 2300003),
        ("example.com/path", 2300003),
        ("http://", 2300003),
        ("http://host:99999/", 2300003),
        ("ftp://host/", 2300001),
        ("file:///etc/passwd", 2300001),
    ],
)
def test_malformed_or_unsupported_urls(url: str, code: int) -> None:
    with pytest.raises(HttpError) as info:
        parse_target(url)
    assert info.value.code == code


@pytest.mark.parametrize("url", ["http://h/\r\nX: y", "http://h/\n", 42, None])
def test_urls_with_line_breaks_or_of_the_wrong_type_are_401(url: object) -> None:
    with pytest.raises(HttpError) as info:
        check_url(url)
    assert info.value.code == 401


def test_host_key_is_the_lowercased_host_and_fragments_are_dropped() -> None:
    url, host = parse_target("http://API.Example.test:8080/a#frag")
    assert host == "api.example.test"
    assert url == "http://API.Example.test:8080/a"
