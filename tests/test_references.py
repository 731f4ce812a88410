"""RFC 3986 reference resolution, as a redirect's ``Location`` needs it.

The examples are RFC 3986 section 5.4 (normal and abnormal) verbatim; the
property checks agreement with ``urljoin`` where urljoin follows RFC 3986
(no ``;`` parameters, no empty segments, no dot segments after an authority).
"""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netstack.references import resolve

BASE = "http://a/b/c/d;p?q"

RFC_3986_EXAMPLES = [
    # 5.4.1 normal examples
    ("g:h", "g:h"),
    ("g", "http://a/b/c/g"),
    ("./g", "http://a/b/c/g"),
    ("g/", "http://a/b/c/g/"),
    ("/g", "http://a/g"),
    ("//g", "http://g"),
    ("?y", "http://a/b/c/d;p?y"),
    ("g?y", "http://a/b/c/g?y"),
    ("#s", "http://a/b/c/d;p?q#s"),
    ("g#s", "http://a/b/c/g#s"),
    ("g?y#s", "http://a/b/c/g?y#s"),
    (";x", "http://a/b/c/;x"),
    ("g;x", "http://a/b/c/g;x"),
    ("g;x?y#s", "http://a/b/c/g;x?y#s"),
    ("", "http://a/b/c/d;p?q"),
    (".", "http://a/b/c/"),
    ("./", "http://a/b/c/"),
    ("..", "http://a/b/"),
    ("../", "http://a/b/"),
    ("../g", "http://a/b/g"),
    ("../..", "http://a/"),
    ("../../", "http://a/"),
    ("../../g", "http://a/g"),
    # 5.4.2 abnormal examples
    ("../../../g", "http://a/g"),
    ("../../../../g", "http://a/g"),
    ("/./g", "http://a/g"),
    ("/../g", "http://a/g"),
    ("g.", "http://a/b/c/g."),
    (".g", "http://a/b/c/.g"),
    ("g..", "http://a/b/c/g.."),
    ("..g", "http://a/b/c/..g"),
    ("./../g", "http://a/b/g"),
    ("./g/.", "http://a/b/c/g/"),
    ("g/./h", "http://a/b/c/g/h"),
    ("g/../h", "http://a/b/c/h"),
    ("g;x=1/./y", "http://a/b/c/g;x=1/y"),
    ("g;x=1/../y", "http://a/b/c/y"),
    ("g?y/./x", "http://a/b/c/g?y/./x"),
    ("g?y/../x", "http://a/b/c/g?y/../x"),
    ("g#s/./x", "http://a/b/c/g#s/./x"),
    ("g#s/../x", "http://a/b/c/g#s/../x"),
    ("http:g", "http:g"),  # strict parsers
]


@pytest.mark.parametrize(("reference", "target"), RFC_3986_EXAMPLES)
def test_the_rfc_3986_examples_resolve_as_the_rfc_says(reference: str, target: str) -> None:
    assert resolve(BASE, reference) == target


@pytest.mark.parametrize(
    ("reference", "target"),
    [("/p/;", "http://h/p/;"), ("/p/a;", "http://h/p/a;"), ("a;", "http://h/s/a;")],
)
def test_a_trailing_semicolon_stays_where_urljoin_drops_it(reference: str, target: str) -> None:
    assert resolve("http://h/s/x", reference) == target
    assert urljoin("http://h/s/x", reference) != target


_segment = st.sampled_from(["a", "b", ".", "..", "x y", "%41"])
_paths = st.lists(_segment, min_size=1, max_size=5).map("/".join)


@given(
    base=st.sampled_from(["http://h/start/x", "http://h/", "http://h", "https://u@h:8/a/b/c?z"]),
    reference=st.tuples(
        st.sampled_from(["", "/"]), _paths, st.sampled_from(["", "?q", "?q=1&r", "#f", "?q#f"])
    ).map("".join),
)
def test_relative_references_resolve_as_urljoin_where_it_follows_rfc_3986(
    base: str, reference: str
) -> None:
    assert resolve(base, reference) == urljoin(base, reference)
