"""Domain rules: pattern matching (pure), and 2300998 before any connection, redirects included."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from policy_servers import origins

from netstack import HttpError, Scheduler, create_http
from netstack.errors import HOST_NOT_ALLOWED
from netstack.hosts import HostRules

LABEL = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)


def test_exact_and_suffix_patterns() -> None:
    rules = HostRules(["example.com", "*.example.org", "127.0.0.2", "[::1]"], ["bad.example.org"])
    assert rules.allows("example.com")
    assert rules.allows("EXAMPLE.com.")  # case and the trailing dot do not matter
    assert not rules.allows("www.example.com")  # exact means exact
    assert rules.allows("a.example.org")
    assert rules.allows("a.b.example.org")
    assert not rules.allows("example.org")  # *.suffix is strictly below the suffix
    assert not rules.allows("bad.example.org")  # blocked wins
    assert not rules.allows("notexample.org")
    assert rules.allows("127.0.0.2")
    assert rules.allows("::1")


def test_no_allowed_list_allows_all_but_the_blocked_and_an_empty_one_allows_none() -> None:
    assert HostRules.build(None, None) is None  # nothing to check per request
    only_blocked = HostRules(None, ["*.ads.test"])
    assert only_blocked.allows("anything.test")
    assert not only_blocked.allows("x.ads.test")
    assert not HostRules([], None).allows("example.com")


@given(labels=st.lists(LABEL, min_size=1, max_size=5), extra=st.lists(LABEL, max_size=3))
def test_a_suffix_pattern_matches_exactly_the_names_below_it(
    labels: list[str], extra: list[str]
) -> None:
    suffix = ".".join(labels)
    rules = HostRules([f"*.{suffix}"], None)
    assert not rules.allows(suffix)
    assert rules.allows(".".join([*extra, "x", suffix]))
    assert not rules.allows("x" + suffix)  # a longer label is not below the suffix


@pytest.mark.parametrize("bad", ["", "*", "a.*.com", "*example.com", 3])
def test_bad_patterns_raise_401(bad: object) -> None:
    with pytest.raises(HttpError) as info:
        Scheduler(allowed_hosts=[bad])  # type: ignore[list-item]
    assert info.value.code == 401
    with pytest.raises(HttpError):
        Scheduler(blocked_hosts=5)  # type: ignore[arg-type]


@pytest.mark.timeout(30)
def test_a_host_not_allowed_ends_with_2300998_and_is_never_contacted() -> None:
    with origins(2) as (allowed, other), Scheduler(allowed_hosts=[allowed.host]) as scheduler:
        assert scheduler.submit(f"{allowed.url}/ok").result(timeout=10).response_code == 200
        error = scheduler.submit(f"{other.url}/ok").exception(timeout=10)
        via_task = create_http(scheduler).request(f"{other.url}/ok").exception(timeout=10)
        assert not scheduler.host_allowed(other.host)
        stats = scheduler.stats()
        assert other.count() == 0
    for err in (error, via_task):
        assert isinstance(err, HttpError)
        assert err.code == HOST_NOT_ALLOWED
        assert err.message == "It is not allowed to access this domain."
    assert (stats.completed, stats.failed, stats.queued) == (1, 2, 0)


@pytest.mark.timeout(30)
def test_a_redirect_to_a_blocked_host_ends_with_2300998_before_connecting() -> None:
    with origins(2) as (start, target), Scheduler(blocked_hosts=[target.host]) as scheduler:
        to = quote(f"{target.url}/ok", safe="")
        error = scheduler.submit(f"{start.url}/redirect?to={to}").exception(timeout=10)
        allowed = quote(f"{start.url}/ok", safe="")
        followed = scheduler.submit(f"{start.url}/redirect?to={allowed}").result(timeout=10)
        assert target.count() == 0
    assert isinstance(error, HttpError)
    assert error.code == HOST_NOT_ALLOWED
    assert followed.url.endswith("/ok")
