"""The wire format: requests and outcomes round-trip through JSON; what cannot travel is a 401."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from hypothesis import given
from hypothesis import strategies as st
from urllib3 import HTTPHeaderDict

from netstack import (
    HttpDataType,
    HttpError,
    HttpProxy,
    HttpRequestOptions,
    HttpResponse,
    PerformanceTiming,
    RequestMethod,
    RetryPolicy,
    codec,
)
from netstack.distributed import fastjson
from netstack.distributed.wire import (
    decode_outcome,
    decode_request,
    encode_error,
    encode_request,
    encode_response,
)
from netstack.errors import HttpTimeoutError
from netstack.response import timing_of
from netstack.validation import resolve_options


@pytest.fixture(autouse=True, params=["orjson", "stdlib"])
def json_writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with orjson (the redis extra) and without it (the standard library)."""
    if request.param == "stdlib":
        monkeypatch.setattr(fastjson, "_orjson", None)
    else:
        assert fastjson.available()
    return str(request.param)


def test_request_options_survive_the_round_trip() -> None:
    options = resolve_options(
        {
            "method": "POST",
            "extraData": b"\x00\xffraw",
            "header": {"X-A": "1"},
            "readTimeout": 5000,
            "usingProxy": HttpProxy("proxy", 3128, ("*.local",)),
            "retry": RetryPolicy(attempts=3, statuses={503}),
            "priority": 7,
            "tag": "crawl",
        }
    )
    payload = encode_request("http://h/a", options, reply="tok")
    request = decode_request(payload, priority=9)
    assert request.url == "http://h/a"
    assert request.reply == "tok"
    again = resolve_options(request.options)
    expected = HttpRequestOptions(**{**vars(options), "priority": 9})
    assert expected == again


def test_defaults_are_not_sent() -> None:
    payload = json.loads(encode_request("http://h/", resolve_options(None), reply=None))
    assert payload["options"] == {}
    assert payload["reply"] is None


@pytest.mark.parametrize(
    ("url", "options", "reply", "hosts", "breaker"),
    [
        ("http://h/", None, None, None, None),
        ('http://h/é?q="x"', {"tag": "crawl ✓", "header": {"X": "1"}}, "tok", None, None),
        (
            "http://h/b",
            {"method": "POST", "extraData": b"\x00\xff"},
            "tok",
            {"allowed": None, "blocked": ["ads.*"]},
            [5, 30.0],
        ),
    ],
)
def test_the_payload_is_the_plain_json_document(
    url: str,
    options: dict[str, object] | None,
    reply: str | None,
    hosts: dict[str, object] | None,
    breaker: list[float] | None,
) -> None:
    """encode_request writes its JSON piece by piece: the text is what dumps makes of it."""
    resolved = resolve_options(options)
    for _ in range(2):  # the second call reuses the options' JSON
        payload = encode_request(url, resolved, reply=reply, hosts=hosts, breaker=breaker)
        document = json.loads(payload)
        expected = {
            "v": 1,
            **codec.encode_request(url, resolved, priority=None, tag=resolved.tag),
            "reply": reply,
            "submitted": document["submitted"],
        }
        if hosts is not None:
            expected["hosts"] = hosts
        if breaker is not None:
            expected["breaker"] = breaker
        assert payload == codec.dumps(expected).decode("utf-8")


def test_an_option_that_cannot_travel_is_a_401_naming_it() -> None:
    options = resolve_options({"method": "POST", "extraData": {"when": object()}})
    with pytest.raises(HttpError) as caught:
        encode_request("http://h/", options, reply=None)
    assert caught.value.code == 401
    assert "extra_data.when" in str(caught.value)
    assert "cannot travel" in str(caught.value)


def test_a_foreign_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="not a netstack request"):
        decode_request(b'{"v": 99, "url": "http://h/"}', 1)


@pytest.mark.parametrize(
    ("result", "result_type"),
    [
        ("text é", HttpDataType.STRING),
        (b"\x00\x01bytes", HttpDataType.ARRAY_BUFFER),
        ({"a": [1, 2]}, HttpDataType.OBJECT),
    ],
)
def test_a_response_survives_the_round_trip(result: object, result_type: HttpDataType) -> None:
    header = HTTPHeaderDict([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X", "y")])
    response = HttpResponse(
        result=result,
        result_type=result_type,
        response_code=203,
        header=header,
        cookies="a=1\nb=2",
        performance_timing=PerformanceTiming(total_timing=12.5, dns_timing=1.0),
        url="http://h/final",
        from_cache=True,
        attempts=2,
    )
    request_id, decoded, error = decode_outcome(encode_response(42, response))
    assert (request_id, error) == (42, None)
    assert decoded is not None
    assert response.result == decoded.result
    assert response.result_type == decoded.result_type
    assert decoded.header.getlist("set-cookie") == ["a=1", "b=2"]  # type: ignore[attr-defined]
    assert decoded.header["x"] == "y"
    assert (
        decoded.response_code,
        decoded.cookies,
        decoded.url,
        decoded.from_cache,
        decoded.attempts,
    ) == (203, "a=1\nb=2", "http://h/final", True, 2)
    assert response.performance_timing == decoded.performance_timing


def test_an_error_keeps_its_code_message_and_leaf_class() -> None:
    _, _, timeout = decode_outcome(encode_error(1, HttpError.of(2300028, "read timed out")))
    assert isinstance(timeout, HttpTimeoutError)
    assert (timeout.code, timeout.detail) == (2300028, "read timed out")
    _, _, parameter = decode_outcome(encode_error(2, HttpError.parameter("url: bad")))
    assert parameter is not None
    assert parameter.code == 401
    assert parameter.message.endswith("url: bad")
    _, _, other = decode_outcome(encode_error(3, RuntimeError("boom")))
    assert other is not None
    assert other.code == 2300999
    assert "boom" in str(other)


def test_methods_travel_by_value() -> None:
    options = resolve_options({"method": RequestMethod.PUT})
    request = decode_request(encode_request("http://h/", options, reply=None), 1)
    assert request.options["method"] == "PUT"


@given(st.lists(st.floats(0, 1e7, allow_nan=False), min_size=11, max_size=11))
def test_timings_travel_to_the_nanosecond(values: list[float]) -> None:
    """Timings travel as integer nanoseconds: each comes back within a nanosecond."""
    response = HttpResponse(
        result="",
        result_type=HttpDataType.STRING,
        response_code=200,
        header={},
        performance_timing=timing_of(*values),
    )
    _, decoded, _ = decode_outcome(encode_response(1, response))
    assert decoded is not None
    back = [getattr(decoded.performance_timing, f.name) for f in fields(PerformanceTiming)]
    assert back == pytest.approx(values, abs=1e-6)


def test_an_outcome_with_timings_by_name_still_decodes() -> None:
    """Outcomes written before timings travelled as nanoseconds (``timing``, ms by name)."""
    text = (
        '{"id":3,"response":{"code":200,"result_type":0,"body":{"text":"ok"},"header":[],'
        '"cookies":"","timing":{"total_timing":12.5,"dns_timing":1.25},"url":"http://h/"}}'
    )
    _, decoded, _ = decode_outcome(text)
    assert decoded is not None
    assert decoded.performance_timing == PerformanceTiming(total_timing=12.5, dns_timing=1.25)


@pytest.mark.parametrize(
    "timing", ["[1, 2]", '["1",2,3,4,5,6,7,8,9,10,11]', "[1.5,2,3,4,5,6,7,8,9,10,11]"]
)
def test_malformed_timings_are_refused(timing: str) -> None:
    text = (
        '{"id":3,"response":{"code":200,"result_type":0,"body":{"text":"ok"},"header":[],'
        f'"timing_ns":{timing}}}}}'
    )
    with pytest.raises(ValueError, match="timing_ns"):
        decode_outcome(text)


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [("A", "")],
        [("Date", "Sun, 06 Dec 2026 19:49:58 GMT"), ("X", "a:b: c"), ("x", "again")],
        [("X-Folded", "one\r\n two"), ("Y", "y")],  # an obs-fold kept by http.client
        [("X", "line\nbreak")],
        [("X", "carriage\rreturn"), ("Y\r", "y")],
    ],
)
def test_headers_travel_exactly(pairs: list[tuple[str, str]]) -> None:
    _assert_headers_travel(pairs)


@given(st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=8))
def test_any_headers_travel_exactly(pairs: list[tuple[str, str]]) -> None:
    """Whatever a name or value holds (CR, LF, colons, NUL): the same pairs arrive."""
    _assert_headers_travel(pairs)


def _assert_headers_travel(pairs: list[tuple[str, str]]) -> None:
    header = HTTPHeaderDict(pairs)
    response = HttpResponse(
        result="", result_type=HttpDataType.STRING, response_code=200, header=header
    )
    _, decoded, _ = decode_outcome(encode_response(1, response))
    assert decoded is not None
    assert list(decoded.header.iteritems()) == list(header.iteritems())  # type: ignore[attr-defined]


@pytest.mark.parametrize("reader", ["orjson", "stdlib"])
@pytest.mark.parametrize(
    ("result", "result_type"),
    [
        ("text é \u2028", HttpDataType.STRING),
        (b"\x00\xffbytes", HttpDataType.ARRAY_BUFFER),
        ({"big": 2**70, "f": 0.1, "s": "é"}, HttpDataType.OBJECT),
    ],
)
def test_outcomes_read_the_same_whoever_wrote_them(
    json_writer: str,
    reader: str,
    result: object,
    result_type: HttpDataType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker with orjson and a producer without (or the other way) agree on every field;
    integers beyond 64 bits in an object body stay exact."""
    timing = timing_of(*(i * 1.2345678912345 for i in range(1, 12)))
    response = HttpResponse(
        result=result,
        result_type=result_type,
        response_code=201,
        header=HTTPHeaderDict([("A", "1"), ("a", "2")]),
        cookies="c=1",
        performance_timing=timing,
        url="http://h/é",
        attempts=3,
    )
    text = encode_response(9, response).encode()
    if reader == "stdlib":
        monkeypatch.setattr(fastjson, "_orjson", None)
    else:
        monkeypatch.undo()
    _, decoded, _ = decode_outcome(text)
    assert decoded is not None
    assert (decoded.result, decoded.result_type, decoded.response_code) == (
        result,
        result_type,
        201,
    )
    assert decoded.header.getlist("a") == ["1", "2"]  # type: ignore[attr-defined]
    assert (decoded.cookies, decoded.url, decoded.attempts) == ("c=1", "http://h/é", 3)
    back = [getattr(decoded.performance_timing, f.name) for f in fields(PerformanceTiming)]
    want = [getattr(timing, f.name) for f in fields(PerformanceTiming)]
    assert back == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"v":1,"url":"http://h/","options":{},"tag":null,"reply":"t","submitted":1.5}',
        b'{"v":1,"url":"http://h/\\u00e9","options":{},"tag":"x","reply":null,"submitted":2}',
        b'{"v":1,"url":"http://h/","options":{"extra_data":{"__bytes__":"AAE="}},"tag":null,'
        b'"reply":"t","submitted":1.5}',
        b'{"v":1,"url":"http://h/","options":{"read_timeout":18446744073709551616},"tag":null,'
        b'"reply":"t","submitted":1.5}',
    ],
)
def test_payloads_read_the_same_with_and_without_orjson(
    payload: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = decode_request(payload, 7)
    monkeypatch.setattr(fastjson, "_orjson", None)
    assert decode_request(payload, 7) == fast
