"""The option ``total_timeout``: one deadline for a request's whole life, in milliseconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack import HttpError, HttpRequestOptions
from netstack.validation import resolve_options


def test_defaults_to_none_and_takes_both_spellings() -> None:
    assert HttpRequestOptions().total_timeout == 0
    assert resolve_options({"totalTimeout": 1500}).total_timeout == 1500
    assert resolve_options({"total_timeout": 0}).total_timeout == 0


@given(st.integers(0, 2**40))
def test_any_non_negative_int_is_accepted(value: int) -> None:
    assert resolve_options({"totalTimeout": value}).total_timeout == value


@pytest.mark.parametrize("value", [-1, 1.5, "100", True, None])
@pytest.mark.parametrize("key", ["totalTimeout", "total_timeout"])
def test_invalid_values_are_401_naming_the_field_in_milliseconds(key: str, value: object) -> None:
    with pytest.raises(HttpError) as info:
        resolve_options({key: value})
    assert info.value.code == 401
    assert "total_timeout" in info.value.message
    assert "milliseconds" in info.value.message


@pytest.mark.parametrize("field", ["read_timeout", "connect_timeout"])
def test_the_other_timeouts_say_milliseconds_too(field: str) -> None:
    with pytest.raises(HttpError) as info:
        resolve_options({field: -5})
    assert field in info.value.message
    assert "milliseconds" in info.value.message
