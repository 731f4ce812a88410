"""Properties of the cache policy and the memory tier, checked with hypothesis.

Freshness and age: RFC 9111 §4.2 https://www.rfc-editor.org/rfc/rfc9111#section-4.2;
storing §3; Vary §4.1; the memory tier's byte bound.
"""

from __future__ import annotations

from cache_helpers import T0, URL, http_date
from hypothesis import assume, given
from hypothesis import strategies as st

from netstack.cache import CacheEntry, HttpResponseCache, MemoryStorage, driver_of
from netstack.cache.freshness import cache_key, current_age, freshness_lifetime
from netstack.cache.headers import normalise_value
from netstack.cache.memory import MemoryTier
from netstack.cache.policy import complete, lookup

offsets = st.integers(-100_000, 100_000)


@st.composite
def response_headers(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Response fields that bear on freshness, in random combinations."""
    headers: list[tuple[str, str]] = []
    directives = draw(
        st.lists(
            st.sampled_from(
                ["public", "private", "must-revalidate", "no-cache", "s-maxage=99", "no-transform"]
            ),
            unique=True,
            max_size=3,
        )
    )
    max_age = draw(st.one_of(st.none(), st.integers(0, 10_000), st.just("bogus")))
    if max_age is not None:
        directives.append(f"max-age={max_age}")
    if directives:
        headers.append(("Cache-Control", ", ".join(directives)))
    for name in ("Date", "Expires", "Last-Modified"):
        offset = draw(st.one_of(st.none(), offsets))
        if offset is not None:
            headers.append((name, http_date(T0 + offset)))
    age = draw(st.one_of(st.none(), st.integers(0, 5_000)))
    if age is not None:
        headers.append(("Age", str(age)))
    if draw(st.booleans()):
        headers.append(("ETag", '"e"'))
    return headers


@st.composite
def request_cache_control(draw: st.DrawFn) -> dict[str, str]:
    parts = draw(
        st.lists(
            st.sampled_from(
                [
                    "no-cache",
                    "max-age=0",
                    "max-age=60",
                    "max-stale",
                    "max-stale=30",
                    "min-fresh=20",
                    "only-if-cached",
                ]
            ),
            unique=True,
            max_size=3,
        )
    )
    return {"Cache-Control": ", ".join(parts)} if parts else {}


statuses = st.sampled_from([200, 203, 204, 301, 302, 404, 410, 500])


def make_entry(headers: list[tuple[str, str]], status: int = 200, delay: float = 0.0) -> CacheEntry:
    return CacheEntry(
        key=cache_key(URL),
        url=URL,
        status=status,
        headers=tuple(headers),
        body=b"b",
        request_time=T0 - delay,
        response_time=T0,
    )


@given(response_headers(), request_cache_control(), st.floats(0, 10**6), st.floats(0, 10**6))
def test_a_fresh_answer_was_fresh_earlier_too(
    headers: list[tuple[str, str]], request: dict[str, str], t1: float, t2: float
) -> None:
    """Freshness only decays: "fresh" at a later time implies "fresh" at an earlier one."""
    early, late = sorted((T0 + t1, T0 + t2))
    stored = make_entry(headers)
    if lookup(stored, "GET", URL, request, late).action == "fresh":
        assert lookup(stored, "GET", URL, request, early).action == "fresh"


@given(response_headers(), st.floats(0, 10**6), st.floats(0, 10**6), st.floats(0, 100))
def test_age_grows_with_time_and_is_never_below_residence(
    headers: list[tuple[str, str]], t1: float, t2: float, delay: float
) -> None:
    """§4.2.3: current_age = corrected_initial_age + resident_time, monotone in now."""
    stored = make_entry(headers, delay=delay)
    early, late = sorted((T0 + t1, T0 + t2))
    assert current_age(stored, early) <= current_age(stored, late)
    assert current_age(stored, late) >= late - T0


@given(response_headers(), request_cache_control(), st.floats(0, 10**6))
def test_stale_is_never_fresh_without_max_stale(
    headers: list[tuple[str, str]], request: dict[str, str], elapsed: float
) -> None:
    """§4.2.4: a stale response is not served unless the client allows it (max-stale)."""
    assume("max-stale" not in request.get("Cache-Control", ""))
    stored = make_entry(headers)
    now = T0 + elapsed
    if current_age(stored, now) >= freshness_lifetime(stored):
        assert lookup(stored, "GET", URL, request, now).action != "fresh"


@given(st.integers(0, 10**6), st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_max_age_wins_over_expires(max_age: int, expires: int, date: int) -> None:
    """§4.2.1: max-age takes precedence over Expires."""
    headers = [
        ("Expires", http_date(T0 + expires)),
        ("Date", http_date(T0 + date)),
        ("Cache-Control", f"max-age={max_age}"),
    ]
    assert freshness_lifetime(make_entry(headers)) == max_age


@given(response_headers(), statuses, st.booleans(), st.booleans())
def test_no_store_is_never_stored(
    headers: list[tuple[str, str]], status: int, in_request: bool, in_response: bool
) -> None:
    """§5.2.1.5, §5.2.2.5: no-store in the request or the response stores nothing."""
    assume(in_request or in_response)
    request = {"Cache-Control": "no-store"} if in_request else {}
    if in_response:
        headers = [*headers, ("Cache-Control", "no-store")]
    decision = lookup(None, "GET", URL, request, T0)
    outcome = complete(decision, status, headers, b"x", request_time=T0, response_time=T0)
    assert outcome.store is None


header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


@given(
    header_values,
    header_values,
    st.floats(0, 99),
)
def test_vary_mismatch_is_never_served(first: str, second: str, elapsed: float) -> None:
    """§4.1: a stored response is used only when the selecting fields match."""
    cache = HttpResponseCache(storage=MemoryStorage())
    decision = driver_of(cache).lookup("GET", URL, {"Accept-Language": first}, T0)
    driver_of(cache).complete(
        decision, 200, [("Cache-Control", "max-age=100"), ("Vary", "accept-language")], b"x", T0, T0
    )
    action = driver_of(cache).lookup("GET", URL, {"Accept-Language": second}, T0 + elapsed).action
    if normalise_value(first) != normalise_value(second):
        assert action == "miss"


@given(response_headers(), statuses, request_cache_control(), st.floats(0, 10**5))
def test_served_response_is_the_stored_one_with_a_true_age(
    headers: list[tuple[str, str]], status: int, request: dict[str, str], elapsed: float
) -> None:
    """§4: whatever is served is the stored status and body, with Age = current age."""
    cache = HttpResponseCache(storage=MemoryStorage())
    first = driver_of(cache).lookup("GET", URL, {}, T0)
    driver_of(cache).complete(first, status, headers, b"stored body", T0, T0)
    again = driver_of(cache).lookup("GET", URL, request, T0 + elapsed)
    if again.action == "fresh":
        assert again.response is not None
        assert (again.response.status, again.response.body) == (status, b"stored body")
        ages = [v for n, v in again.response.headers if n == "Age"]
        assert len(ages) == 1
        assert int(ages[0]) >= int(elapsed)


@given(
    st.integers(0, 4096),
    st.lists(st.tuples(st.integers(0, 30), st.binary(max_size=2048)), max_size=60),
)
def test_memory_tier_never_exceeds_its_size(
    max_bytes: int, inserts: list[tuple[int, bytes]]
) -> None:
    """The LRU is bounded by bytes; an entry larger than the tier is not stored."""
    tier = MemoryTier(max_bytes)
    for n, body in inserts:
        entry = CacheEntry(
            key=f"GET https://h/{n}",
            url=f"https://h/{n}",
            status=200,
            headers=(("Content-Length", str(len(body))),),
            body=body,
            request_time=T0,
            response_time=T0,
        )
        evicted = tier.put(entry)
        assert tier.current_bytes <= max_bytes
        assert sum(e.size for e in tier.snapshot().values()) == tier.current_bytes
        if entry.size > max_bytes:
            assert evicted == [entry]
            assert tier.get(entry.key) is None
        else:
            assert tier.get(entry.key) is entry
