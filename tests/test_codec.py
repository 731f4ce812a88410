"""The one JSON request codec: what persist files and the Redis wire both carry.

Writing round-trips every option form; reading hostile input (damaged files,
absurd nesting, bytes that are not base64, wrong types) ends in HttpError 401
and nothing else, also through ``Scheduler.resume`` and the worker's decoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstack import (
    ClientCert,
    HttpError,
    HttpProxy,
    HttpRequestOptions,
    MultiFormData,
    RequestFuture,
    RequestMethod,
    RetryPolicy,
    Scheduler,
)
from netstack.codec import DecodedRequest, decode_request, dumps, encode_request, loads
from netstack.distributed import wire
from netstack.options import OPTION_KEYS
from netstack.scheduler.persist import FORMAT, VERSION, read_queue, record, write_queue
from netstack.validation import resolve_options

OPTIONS = [
    HttpRequestOptions(),
    HttpRequestOptions(
        method=RequestMethod.POST,
        extra_data=b"\x00\xffbinary",
        header={"Authorization": "Bearer t"},
        priority=7,
        tag="crawl",
        retry=RetryPolicy(attempts=5, statuses=frozenset({503}), methods=frozenset({"POST"})),
    ),
    HttpRequestOptions(
        extra_data={"q": "x", "n": [1, 2], "raw": "é"},
        using_proxy=HttpProxy("proxy.test", 3128, ("*.local",)),
        client_cert=ClientCert(cert_path="/c.pem", key_password="pw"),
        multi_form_data_list=(
            MultiFormData(name="f", content_type="application/octet-stream", data=b"\x01"),
        ),
        retry=0,
    ),
]


def _round_trip(request: dict[str, object]) -> DecodedRequest:
    return decode_request(loads(dumps(request), "test"), "test")


@pytest.mark.parametrize("options", OPTIONS)
def test_every_option_form_survives_the_round_trip(options: HttpRequestOptions) -> None:
    resolved = resolve_options(options)
    request = encode_request("http://h/x", resolved, priority=3, tag=resolved.tag, attempts=2)
    decoded = _round_trip(request)
    assert (decoded.url, decoded.attempts) == ("http://h/x", 2)
    assert decoded.options["priority"] == 3
    assert resolve_options(decoded.options) == resolve_options({**_fields(resolved), "priority": 3})


def _fields(options: HttpRequestOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in set(OPTION_KEYS.values())}


def test_only_options_that_differ_from_the_defaults_are_written() -> None:
    options = resolve_options({"readTimeout": 5, "priority": 9, "tag": "t"})
    request = encode_request("http://h/", options, priority=9, tag="t")
    expected = {"url": "http://h/", "options": {"read_timeout": 5}, "priority": 9, "tag": "t"}
    assert request == expected
    # a carrier that keeps the priority elsewhere (Redis) leaves it out
    assert "priority" not in encode_request("http://h/", options, priority=None, tag="t")


def test_persist_files_and_the_redis_wire_carry_the_same_request() -> None:
    options = resolve_options(OPTIONS[1])
    persisted = record("http://h/x", options, options.priority, options.tag)
    payload = json.loads(wire.encode_request("http://h/x", options, reply="tok"))
    carried = {k: v for k, v in payload.items() if k not in ("v", "reply", "submitted")}
    assert carried == {k: v for k, v in persisted.items() if k != "priority"}


HOSTILE: list[tuple[str, str]] = [
    (
        "bytes that are not base64",
        '{"url":"http://h/","options":{"extra_data":{"__bytes__":"%%%"}}}',
    ),
    ("bytes with bad padding", '{"url":"http://h/","options":{"extra_data":{"__bytes__":"abc"}}}'),
    ("bytes that are a number", '{"url":"http://h/","options":{"extra_data":{"__bytes__":5}}}'),
    ("a 100k-deep array", "[" * 100_000 + "]" * 100_000),
    ("a 100k-deep object", '{"a":' * 100_000 + "1" + "}" * 100_000),
    ("truncated JSON", '{"url":"http://h/","opt'),
    ("not UTF-8", '{"url":"\udcff"}'),
    ("a list", "[1, 2]"),
    ("no url", '{"options":{}}'),
    ("a url that is a number", '{"url":5}'),
    ("options that are a list", '{"url":"http://h/","options":[1]}'),
    ("a negative attempts count", '{"url":"http://h/","attempts":-1}'),
    ("an attempts count that is a bool", '{"url":"http://h/","attempts":true}'),
]


@pytest.mark.parametrize(("what", "text"), HOSTILE, ids=[w for w, _ in HOSTILE])
def test_hostile_input_is_a_401(what: str, text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    with pytest.raises(HttpError) as caught:
        decode_request(loads(data, "request"), "request")
    assert caught.value.code == 401, what


@pytest.fixture(scope="module")
def closed_scheduler() -> Iterator[Scheduler]:
    """A scheduler that allows no host: whatever resume submits never connects."""
    with Scheduler(max_workers=1, allowed_hosts=[]) as scheduler:
        yield scheduler


def _resume_gives_only_401s(scheduler: Scheduler, path: Path) -> None:
    futures: list[RequestFuture] = []
    try:
        futures = scheduler.resume(path)
    except HttpError as exc:
        code = exc.code
    else:
        code = 401
    assert code == 401
    for future in futures:  # submitted: each ends (2300998: no host is allowed)
        future.exception(timeout=10)


@pytest.mark.parametrize(("what", "text"), HOSTILE, ids=[w for w, _ in HOSTILE])
def test_resume_of_a_hostile_file_is_a_401(
    tmp_path: Path, closed_scheduler: Scheduler, what: str, text: str
) -> None:
    path = tmp_path / "q.json"
    path.write_bytes(
        b'{"format":"netstack-queue","version":1,"requests":['
        + text.encode("utf-8", "surrogateescape")
        + b"]}"
    )
    with pytest.raises(HttpError) as caught:
        closed_scheduler.resume(path)
    assert caught.value.code == 401, what


def test_the_worker_refuses_a_hostile_payload_with_a_value_error() -> None:
    for what, text in HOSTILE:
        payload = text.replace('{"url"', '{"v":1,"url"', 1)  # past the version check
        with pytest.raises(ValueError, match=r"\S"):
            wire.decode_request(payload.encode("utf-8", "surrogateescape"), 1)
        assert what


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_value = st.recursive(
    json_leaf | st.fixed_dictionaries({"__bytes__": st.text(max_size=8) | st.integers()}),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
option_key = st.sampled_from(sorted(OPTION_KEYS)) | st.text(max_size=8)
request_object = st.fixed_dictionaries(
    {"url": st.just("http://127.0.0.1:9/x") | json_value},
    optional={
        "options": st.dictionaries(option_key, json_value, max_size=4) | json_value,
        "priority": st.integers(-2, 2000) | json_value,
        "tag": st.text(max_size=300) | json_value,
        "attempts": st.integers(-2, 5) | json_value,
    },
)
document = st.fixed_dictionaries(
    {
        "format": st.just(FORMAT) | json_value,
        "version": st.just(VERSION) | json_value,
        "requests": st.lists(request_object | json_value, max_size=4) | json_value,
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=document)
def test_resume_of_a_fuzzed_file_raises_only_401(
    tmp_path_factory: pytest.TempPathFactory, closed_scheduler: Scheduler, document: object
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "q.json"
    path.write_text(json.dumps(document))
    _resume_gives_only_401s(closed_scheduler, path)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=64), cut=st.integers(0, 400))
def test_resume_of_damaged_bytes_raises_only_401(
    tmp_path_factory: pytest.TempPathFactory,
    closed_scheduler: Scheduler,
    data: bytes,
    cut: int,
) -> None:
    options = resolve_options(OPTIONS[1])
    valid = dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "requests": [record("http://127.0.0.1:9/x", options, 5, "t")],
        }
    )
    path = tmp_path_factory.mktemp("damaged") / "q.json"
    path.write_bytes(valid[:cut] + data + valid[cut:])
    _resume_gives_only_401s(closed_scheduler, path)


def test_a_written_queue_reads_back_with_its_attempts(tmp_path: Path) -> None:
    options = resolve_options({"tag": "t"})
    path = tmp_path / "q.json"
    write_queue(path, [record("http://h/a", options, 4, "t", attempts=2)])
    assert read_queue(path) == [("http://h/a", {"priority": 4, "tag": "t"})]
    raw = json.loads(path.read_text())["requests"][0]
    assert raw["attempts"] == 2
