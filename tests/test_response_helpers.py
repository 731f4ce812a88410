"""HttpResponse.json(), .text, .ok and .raise_for_status(), against a real httpbin."""

from __future__ import annotations

import json
from typing import Any

import pytest

import netstack
from netstack import HttpDataType, HttpError


def _get(url: str, options: dict[str, Any] | None = None) -> netstack.HttpResponse:
    return netstack.create_http().request(url, options).result(timeout=10)


@pytest.mark.parametrize("expect", [None, "STRING", "OBJECT", "ARRAY_BUFFER"])
def test_json_parses_the_body_whatever_expect_data_type_was(httpbin: Any, expect: str) -> None:
    options = None if expect is None else {"expectDataType": expect}
    response = _get(f"{httpbin.url}/json", options)
    parsed = response.json()
    assert parsed["slideshow"]["author"] == "Yours Truly"
    assert json.loads(response.text) == parsed


def test_json_of_a_body_that_is_not_json_raises_json_decode_error(httpbin: Any) -> None:
    response = _get(f"{httpbin.url}/html")
    with pytest.raises(json.JSONDecodeError):
        response.json()
    with pytest.raises(ValueError, match="Expecting value"):
        _get(f"{httpbin.url}/html", {"expectDataType": HttpDataType.OBJECT}).json()


def test_text_decodes_bytes_with_the_response_charset(httpbin: Any) -> None:
    url = f"{httpbin.url}/response-headers?Content-Type=text/plain;%20charset=latin-1"
    response = _get(url, {"expectDataType": HttpDataType.ARRAY_BUFFER})
    assert isinstance(response.result, bytes)
    assert response.text == response.result.decode("latin-1")
    png = _get(f"{httpbin.url}/image/png")
    assert png.result_type is HttpDataType.ARRAY_BUFFER
    assert png.text == png.result.decode("utf-8", "replace")


def test_text_of_a_string_result_is_the_result(httpbin: Any) -> None:
    response = _get(f"{httpbin.url}/html")
    assert response.text is response.result
    assert response.text.startswith("<!DOCTYPE html>")


_OK = [(200, True), (204, True), (304, True), (399, True)]
_NOT_OK = [(400, False), (404, False), (500, False), (503, False)]


@pytest.mark.parametrize(("status", "ok"), _OK + _NOT_OK)
def test_ok_is_status_below_400(httpbin: Any, status: int, ok: bool) -> None:
    response = _get(f"{httpbin.url}/status/{status}", {"maxRedirects": 0})
    assert response.response_code == status
    assert response.ok is ok


@pytest.mark.parametrize("status", [400, 404, 418, 500, 503])
def test_raise_for_status_raises_2300022_with_status_and_url(httpbin: Any, status: int) -> None:
    url = f"{httpbin.url}/status/{status}"
    response = _get(url)
    with pytest.raises(HttpError) as caught:
        response.raise_for_status()
    error = caught.value
    assert error.code == 2300022
    assert str(status) in error.message
    assert url in error.message
    assert error.message.startswith("HTTP response code said error.")
    assert ("Client" if status < 500 else "Server") in error.message


@pytest.mark.parametrize("status", [200, 201, 302])
def test_raise_for_status_returns_the_response_below_400(httpbin: Any, status: int) -> None:
    response = _get(f"{httpbin.url}/status/{status}", {"maxRedirects": 0})
    assert response.raise_for_status() is response
