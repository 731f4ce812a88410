"""Fuzzing options: any value for any field, as HttpRequestOptions or as a mapping,
either validates or raises HttpError 401, never another exception. What validates
also builds its headers and body without a bare exception."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstack import HttpError, HttpRequestOptions, errors
from netstack.options import OPTION_KEYS
from netstack.prepare import build_headers, encode_body
from netstack.validation import resolve_options

FIELDS = [f.name for f in dataclasses.fields(HttpRequestOptions)]


class _Weird:
    """An object nobody expects: no useful __eq__, __len__ or __iter__."""

    def __repr__(self) -> str:
        return "<weird>"


class _Color(enum.Enum):
    RED = 1


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(math.nan),
    st.text(max_size=20),
    st.sampled_from(
        [
            "GET",
            "post",
            "HTTP2",
            "PEM",
            "SHA-256",
            "https://d.test/q",
            "8.8.8.8",
            "::1",
            "",
            "\r\n",
            "STRING",
            "OBJECT",
            "ARRAY_BUFFER",
            "0",
            "1",
        ]
    ),
    st.binary(max_size=20),
    st.builds(bytearray, st.binary(max_size=8)),
    st.builds(_Weird),
    st.just(_Color.RED),
    st.just(object),
    st.complex_numbers(allow_nan=True),
)

#: Keys the nested seed objects accept, so mappings sometimes get past the key check.
NESTED_KEYS = st.sampled_from(
    [
        "host",
        "port",
        "exclusionList",
        "certPath",
        "keyPath",
        "certType",
        "keyPassword",
        "publicKeyHash",
        "hashAlgorithm",
        "name",
        "contentType",
        "remoteFileName",
        "data",
        "filePath",
        "cert_path",
        "public_key_hash",
        "exclusion_list",
    ]
)

values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.frozensets(st.integers() | st.text(max_size=5), max_size=3),
        st.dictionaries(NESTED_KEYS | st.text(max_size=6), children, max_size=4),
        st.dictionaries(st.integers() | st.none() | st.booleans(), children, max_size=2),
    ),
    max_leaves=10,
)

field_values = st.dictionaries(st.sampled_from(FIELDS), values, max_size=5)
mapping_keys = st.sampled_from(sorted(OPTION_KEYS)) | st.text(max_size=10) | st.integers()


def _check(options: Any) -> None:
    error: HttpError | None = None
    try:
        resolved = resolve_options(options)
    except HttpError as exc:
        error = exc
    if error is not None:
        assert error.code == errors.PARAMETER_ERROR, repr(error)
        assert error.message.startswith(errors.MESSAGES[errors.PARAMETER_ERROR])
        return
    assert isinstance(resolved, HttpRequestOptions)
    headers = build_headers(resolved)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    try:
        encode_body(resolved, headers)
    except HttpError as exc:  # a file part that cannot be read is a transfer error
        error = exc
    assert error is None or error.code == errors.READ_LOCAL_FILE, repr(error)


FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(values=field_values)
def test_any_field_values_as_a_dataclass(values: dict[str, Any]) -> None:
    _check(HttpRequestOptions(**values))


@FUZZ
@given(options=st.dictionaries(mapping_keys, values, max_size=5))
def test_any_mapping(options: dict[Any, Any]) -> None:
    _check(options)


@FUZZ
@given(options=values)
def test_any_value_as_the_options_themselves(options: Any) -> None:
    _check(options)
