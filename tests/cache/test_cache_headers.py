"""Directive and date parsing: RFC 9111 §5.2, §1.2.2 and RFC 9110 §5.6.7.

https://www.rfc-editor.org/rfc/rfc9111#section-5.2
"""

from __future__ import annotations

from cache_helpers import T0, http_date
from hypothesis import given
from hypothesis import strategies as st

from netstack.cache.headers import (
    MAX_DELTA_SECONDS,
    normalise_value,
    parse_cache_control,
    parse_delta_seconds,
    parse_http_date,
)

WITH_VALUE = ("max-age", "max-stale")
directive_names = st.sampled_from(
    ["max-age", "no-cache", "no-store", "must-revalidate", "public", "private", "max-stale"]
)


def test_directives_are_case_insensitive_and_unquoted() -> None:
    cc = parse_cache_control(['Max-Age="60", NO-CACHE, private="Set-Cookie"'])
    assert dict(cc.directives) == {"max-age": "60", "no-cache": None, "private": "Set-Cookie"}
    assert cc.seconds("max-age") == 60


def test_several_field_lines_form_one_list() -> None:
    cc = parse_cache_control(["max-age=5", "no-store"])
    assert {"max-age", "no-store"} == set(cc.directives)


def test_first_duplicate_wins() -> None:
    """§4.2.1: with duplicated directives a cache may use the first."""
    assert parse_cache_control(["max-age=10, max-age=99"]).seconds("max-age") == 10


def test_invalid_delta_seconds_read_as_zero() -> None:
    """§4.2.1: invalid freshness information means stale."""
    for bad in ("-1", "abc", "1.5", "", "١٢"):
        assert parse_cache_control([f"max-age={bad}"]).seconds("max-age") == 0, bad


def test_huge_delta_seconds_saturate() -> None:
    """§1.2.2: an unrepresentable delta-seconds counts as 2**31."""
    assert parse_cache_control(["max-age=99999999999999"]).seconds("max-age") == MAX_DELTA_SECONDS
    assert parse_delta_seconds("99999999999999999999") == MAX_DELTA_SECONDS


def test_junk_between_directives_is_skipped() -> None:
    cc = parse_cache_control(['no-store, ,, "junk", max-age=3'])
    assert "no-store" in cc
    assert cc.seconds("max-age") == 3


def test_quoted_commas_do_not_split() -> None:
    cc = parse_cache_control(['no-cache="a, b", max-age=7'])
    assert cc.directives["no-cache"] == "a, b"
    assert cc.seconds("max-age") == 7


@given(st.lists(st.tuples(directive_names, st.integers(0, 10**6), st.booleans()), max_size=8))
def test_parse_finds_every_directive_whatever_the_case(
    items: list[tuple[str, int, bool]],
) -> None:
    line = ", ".join(
        (name.upper() if upper else name) + (f"={value}" if name in WITH_VALUE else "")
        for name, value, upper in items
    )
    cc = parse_cache_control([line])
    assert {name for name, _, _ in items} == set(cc.directives)
    for name, value, _ in items:
        if name in ("max-age", "max-stale"):
            first = next(v for n, v, _ in items if n == name)
            assert min(first, MAX_DELTA_SECONDS) == cc.seconds(name)
            assert value >= 0


@given(st.text(max_size=60))
def test_parse_never_raises(text: str) -> None:
    parse_cache_control([text])


def test_http_date_formats() -> None:
    """RFC 9110 §5.6.7: IMF-fixdate, obsolete RFC 850 and asctime."""
    expected = 784111777.0
    assert expected == parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")
    assert expected == parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT")
    assert expected == parse_http_date("Sun Nov  6 08:49:37 1994")
    assert parse_http_date(http_date(T0)) == T0


def test_invalid_dates_are_none() -> None:
    for bad in ("0", "", "yesterday", "Sun, 99 Nov 1994 08:49:37 GMT"):
        assert parse_http_date(bad) is None, bad


@given(st.text(max_size=40))
def test_date_parsing_never_raises(text: str) -> None:
    parse_http_date(text)


def test_vary_normalisation_collapses_whitespace() -> None:
    """§4.1: values may be normalised in ways that keep their meaning."""
    assert normalise_value("  gzip ,   br ") == "gzip,br"
    assert normalise_value("a \t b") == "a b"
    assert normalise_value(None) is None
