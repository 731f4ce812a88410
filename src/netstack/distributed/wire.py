"""The wire format: requests and outcomes as JSON, never pickle.

A request travels as one JSON object::

    {"v": 1, "url": "https://host/a", "options": {...}, "tag": "crawl",
     "reply": "<producer token>" | null, "submitted": 1718000000.0}

``url``, ``options`` and ``tag`` are the one request form of
``netstack.codec`` (also what ``shutdown(persist=...)`` writes): the options
that differ from the defaults, in the form ``resolve_options`` accepts back.
Priority, request id and attempt live beside it in Redis, so that
``set_priority`` never rewrites it. Anything else (a callback, an open file,
a generator) cannot travel: :func:`encode_request` raises HttpError 401
saying so. Paths (``ca_path``, ``client_cert``, a multipart ``file_path``)
travel as text: they are opened on the worker's machine.

An outcome travels as ``{"id": 7, "response": {...}}`` or
``{"id": 7, "error": {"code": ..., "message": ..., "detail": ...}}``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import operator
import time
from typing import Any, Final

from urllib3 import HTTPHeaderDict

from netstack import codec
from netstack.distributed import fastjson
from netstack.errors import MESSAGES, UNKNOWN, HttpError
from netstack.jsonvalue import UnencodableValue
from netstack.options import HttpDataType, HttpRequestOptions
from netstack.response import HttpResponse, PerformanceTiming, response_of, timing_of

__all__ = [
    "VERSION",
    "WireRequest",
    "decode_outcome",
    "decode_request",
    "encode_error",
    "encode_request",
    "encode_response",
]

VERSION: Final = 1


def encode_request(
    url: str,
    options: HttpRequestOptions,
    *,
    reply: str | None,
    hosts: dict[str, Any] | None = None,
    breaker: list[float] | None = None,
) -> str:
    """The JSON payload of a validated request; HttpError 401 if an option cannot travel.

    ``reply`` is the producer's token (its results list), None to drop the result;
    ``hosts`` the producer's host rules (``{"allowed": [...] | None, "blocked": [...]}``);
    ``breaker`` its circuit breaker as ``[failures, reset_after]``.

    The text is what ``codec.dumps`` makes of ``{"v", "url", "options", "tag",
    "reply", "submitted", "hosts"?, "breaker"?}``, written piece by piece: a
    batch repeats one options object (the defaults, mostly), whose JSON is kept
    from the last call instead of comparing every field again.
    """
    global _last_options  # noqa: PLW0603 - a one-entry cache (swapped whole: thread-safe)
    last = _last_options
    if last is not None and last[0] is options:
        encoded = last[1]
    else:
        try:
            fields = codec.encode_request(url, options, priority=None, tag=None)["options"]
            encoded = _json(fields)
        except UnencodableValue as exc:
            raise HttpError.parameter(
                f"{exc}, so it cannot travel to a Redis queue: requests travel as JSON; "
                "give data (str, bytes, mappings), not objects"
            ) from None
        _last_options = (options, encoded)
    tag = options.tag
    extra = "" if hosts is None else ',"hosts":' + _json(hosts)
    if breaker is not None:
        extra += ',"breaker":' + _json(breaker)
    payload = (
        f'{{"v":{VERSION},"url":{_json(url)},"options":{encoded},'
        f'"tag":{"null" if tag is None else _json(tag)},'
        f'"reply":{"null" if reply is None else _json(reply)},'
        f'"submitted":{float.__repr__(time.time())}{extra}}}'
    )
    payload.encode("utf-8")  # a lone surrogate fails here, before anything is pushed
    return payload


#: ``codec.dumps`` without the per-call encoder construction and the UTF-8 round trip.
_json: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: The options object last encoded and its JSON (options are frozen, built per request
#: by ``resolve_options``; the shared defaults object is the one that repeats).
_last_options: tuple[HttpRequestOptions, str] | None = None


@dataclasses.dataclass(slots=True)
class WireRequest:
    """A request as a worker reads it back."""

    url: str
    #: An options mapping for ``resolve_options`` (priority and tag included).
    options: dict[str, Any]
    reply: str | None
    submitted: float
    #: The producer's host rules ``(allowed or None, blocked)``, checked on every hop.
    hosts: tuple[tuple[str, ...] | None, tuple[str, ...]] | None = None
    #: The producer's circuit breaker ``(failures, reset_after)``; its state is shared in Redis.
    breaker: tuple[int, float] | None = None


def decode_request(payload: str | bytes, priority: int) -> WireRequest:
    """Parse a payload; ValueError if it is not one (a foreign or newer writer, damage)."""
    try:
        data = None
        if (
            isinstance(payload, bytes)
            and b'"options":{}' in payload  # no option: no number orjson reads differently
            and b"__bytes__" not in payload  # nor bytes to restore
        ):
            data = fastjson.loads(payload)
        if data is None:
            data = codec.loads(payload, "payload")
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise ValueError(f"not a netstack request payload (version {VERSION})")
        request = codec.decode_request(data, "payload")
        submitted = data.get("submitted") or 0.0
        if isinstance(submitted, bool) or not isinstance(submitted, int | float):
            raise ValueError(f"payload has a malformed submitted time {submitted!r}")
    except HttpError as exc:
        raise ValueError(exc.message) from None
    options = request.options
    options["priority"] = priority
    reply = data.get("reply")
    return WireRequest(
        request.url,
        options,
        reply if isinstance(reply, str) and reply else None,
        float(submitted),
        _hosts(data.get("hosts")),
        _breaker(data.get("breaker")),
    )


def _breaker(value: object) -> tuple[int, float] | None:
    """``(failures, reset_after)`` of a payload's breaker; ValueError if malformed."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError("payload has a malformed breaker")
    return int(value[0]), float(value[1])


def _hosts(value: object) -> tuple[tuple[str, ...] | None, tuple[str, ...]] | None:
    """``(allowed or None, blocked)`` host patterns of a payload; ValueError if malformed."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("payload has malformed host rules")
    allowed, blocked = value.get("allowed"), value.get("blocked") or []
    for patterns in (allowed or [], blocked):
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ValueError("payload has malformed host rules")
    return (None if allowed is None else tuple(allowed)), tuple(blocked)


# -- outcomes --------------------------------------------------------------------


def encode_response(request_id: int, response: HttpResponse) -> str:
    """An answered request as JSON: status, headers, cookies, timings, the body.

    A worker encodes one per request, so it is cheap: the headers travel as
    one string of ``name CR value`` lines joined by LF (``head``; as
    ``header`` pairs when a name or value holds a CR or LF itself), and orjson
    (:mod:`~netstack.distributed.fastjson`) writes it when installed, with
    the timings in milliseconds (``timing_ms``, in ``PerformanceTiming`` field
    order). Otherwise the fixed fields are formatted in place and the
    timings travel as integer nanoseconds (``timing_ns``), which format
    several times faster than floats in Python.
    """
    result = response.result
    header = response.header
    pairs = list(header.iteritems()) if isinstance(header, HTTPHeaderDict) else list(header.items())
    lines = "\n".join(map("\r".join, pairs))
    exact = lines.count("\r") == len(pairs) and lines.count("\n") == len(pairs) - 1
    head_key, head = ("head", lines) if exact else ("header", pairs)
    timing = _timing_values(response.performance_timing)
    if response.result_type is not HttpDataType.OBJECT:  # objects: the reference writer
        body = (
            {"base64": base64.b64encode(result).decode("ascii")}
            if isinstance(result, bytes | bytearray)
            else {"text": result}
        )
        text = fastjson.dumps(
            {
                "id": int(request_id),
                "response": {
                    "code": int(response.response_code),
                    "result_type": int(response.result_type),
                    "body": body,
                    head_key: head,
                    "cookies": response.cookies,
                    "timing_ms": timing,
                    "url": response.url,
                    "from_cache": bool(response.from_cache),
                    "attempts": int(response.attempts),
                },
            }
        )
        if text is not None:
            return text
    if isinstance(result, bytes | bytearray):
        body_json = '{"base64":"' + base64.b64encode(result).decode("ascii") + '"}'
    elif response.result_type is HttpDataType.OBJECT:
        body_json = '{"object":' + _json(result) + "}"
    else:
        body_json = '{"text":' + _json(result) + "}"
    timing_ns = _TIMING_NS % tuple([round(ms * 1e6) for ms in timing])
    return (
        f'{{"id":{int(request_id)},"response":{{"code":{int(response.response_code)},'
        f'"result_type":{int(response.result_type)},"body":{body_json},'
        f'"{head_key}":{_json(head)},'
        f'"cookies":{_json(response.cookies)},"timing_ns":[{timing_ns}],"url":{_json(response.url)},'
        f'"from_cache":{"true" if response.from_cache else "false"},'
        f'"attempts":{int(response.attempts)}}}}}'
    )


#: The fields of PerformanceTiming, in order (``dataclasses.asdict`` deep-copies: slow).
_TIMING_FIELDS: Final = tuple(f.name for f in dataclasses.fields(PerformanceTiming))
_timing_values: Final = operator.attrgetter(*_TIMING_FIELDS)
_TIMING_NS: Final = ",".join(["%d"] * len(_TIMING_FIELDS))


def _timing_of(r: dict[str, Any]) -> PerformanceTiming:
    """A PerformanceTiming from ``timing_ms`` (numbers), ``timing_ns`` (ints) or ``timing``."""
    for key, kinds, scale in (("timing_ms", (float, int), 1.0), ("timing_ns", (int,), 1e6)):
        if key in r:
            value = r[key]
            if (
                not isinstance(value, list)
                or len(value) != len(_TIMING_FIELDS)
                or not all(type(v) in kinds for v in value)
            ):
                raise ValueError(f"malformed {key}")
            return timing_of(*[v / scale for v in value])
    value = r.get("timing", {})
    if isinstance(value, dict) and tuple(value) == _TIMING_FIELDS:
        return timing_of(*map(float, value.values()))
    return PerformanceTiming(**value) if isinstance(value, dict) else PerformanceTiming()


def _headers(r: dict[str, Any]) -> HTTPHeaderDict:
    """The headers of an outcome: ``head`` (``name CR value`` lines) or ``header`` (pairs)."""
    headers = HTTPHeaderDict()
    add = headers.add
    if "head" in r:
        for line in r["head"].split("\n"):
            name, _, value = line.partition("\r")
            add(name, value)
    else:
        for name, value in r["header"]:
            add(name, value)
    return headers


def encode_error(request_id: int, error: BaseException) -> str:
    """A failed request as JSON (any exception becomes an HttpError)."""
    if not isinstance(error, HttpError):
        error = HttpError.of(UNKNOWN, repr(error))
    return json.dumps(
        {
            "id": request_id,
            "error": {"code": error.code, "message": error.message, "detail": error.detail},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_outcome(payload: str | bytes) -> tuple[int, HttpResponse | None, HttpError | None]:
    """``(request id, response, error)``; ValueError if malformed."""
    data = None
    if isinstance(payload, bytes) and b'"object":' not in payload:
        data = fastjson.loads(payload)  # an object body: the reference reader (big integers)
    if data is None:
        data = _JSON.decode(payload.decode("utf-8") if isinstance(payload, bytes) else payload)
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise ValueError("not a netstack outcome")
    request_id: int = data["id"]
    error = data.get("error")
    if isinstance(error, dict):
        code = int(error.get("code", UNKNOWN))
        detail = str(error.get("detail") or "")
        exc = HttpError.of(code, detail)
        message = error.get("message")
        if isinstance(message, str) and message != MESSAGES.get(code):
            exc.message = message  # a 401's message names the field
            exc.args = (code, message, detail)
        return request_id, None, exc
    r = data["response"]
    body = r["body"]
    result: Any
    if "base64" in body:
        result = base64.b64decode(body["base64"])
    elif "object" in body:
        result = body["object"]
    else:
        result = body["text"]
    result_type = _DATA_TYPES.get(r["result_type"])
    if result_type is None:
        result_type = HttpDataType(r["result_type"])  # ValueError naming it
    performance = _timing_of(r)
    return (
        request_id,
        response_of(
            result,
            result_type,
            int(r["code"]),
            _headers(r),
            r.get("cookies", ""),
            performance,
            r.get("url", ""),
            bool(r.get("from_cache")),
            int(r.get("attempts", 1)),
        ),
        None,
    )


#: One plain decoder for every outcome (``json.loads`` on bytes guesses their encoding first).
_JSON: Final = json.JSONDecoder()
#: ``HttpDataType`` by value: a dict lookup instead of the enum call per outcome.
_DATA_TYPES: Final[dict[object, HttpDataType]] = {t.value: t for t in HttpDataType}
