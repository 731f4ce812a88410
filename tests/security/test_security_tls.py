"""TLS: verification cannot be turned off, and pins hold on every new connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from tests.security.security_helpers import ca_file, recording_server, server_context
from tests.servers.raw import response

import netstack
from netstack import HttpError, HttpRequestOptions, Scheduler, errors
from netstack.options import OPTION_KEYS

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=2, name="security-tls") as s:
        yield s


def _error(scheduler: Scheduler, url: str, options: object = None) -> HttpError:
    error = netstack.create_http(scheduler).request(url, options).exception(timeout=30)  # type: ignore[arg-type]
    assert isinstance(error, HttpError), repr(error)
    return error


# -- verification ------------------------------------------------------------------------

_DISABLING_WORDS = ("verify", "insecure", "check", "trust", "validate", "ssl", "tls", "unsafe")


def test_no_option_turns_verification_off(scheduler: Scheduler) -> None:
    """No field or key reads like a switch, and the usual ones are unknown keys (401)."""
    names = {f.name for f in dataclasses.fields(HttpRequestOptions)} | set(OPTION_KEYS)
    assert not [n for n in names if any(w in n.lower() for w in _DISABLING_WORDS)]
    for key in ("verify", "insecure", "sslVerify", "verify_ssl", "rejectUnauthorized"):
        with pytest.raises(HttpError) as info:
            netstack.create_http(scheduler).request("https://x.test/", {key: False})
        assert info.value.code == errors.PARAMETER_ERROR


@pytest.mark.parametrize(
    "options",
    [
        None,
        {"usingProtocol": "HTTP2"},
        {"usingProtocol": "HTTP3"},
        {"usingCache": False, "maxRedirects": 0},
        {"caPath": None},
    ],
    ids=["defaults", "http2", "http3", "no-cache", "ca-none"],
)
def test_a_self_signed_server_fails_with_2300060(
    scheduler: Scheduler, options: dict[str, object] | None
) -> None:
    context, _ = server_context(trustme.CA())
    with recording_server(tls=context) as (server, heads):
        error = _error(scheduler, server.url("/", "https"), options)
    assert error.code == errors.PEER_CERT
    assert heads == []  # not one request byte went to the unverified peer


def test_environment_variables_do_not_turn_verification_off(
    scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "PYTHONHTTPSVERIFY": "0",
        "CURL_CA_BUNDLE": "",
        "REQUESTS_CA_BUNDLE": "",
        "SSL_CERT_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    context, _ = server_context(trustme.CA())
    with recording_server(tls=context) as (server, heads):
        error = _error(scheduler, server.url("/", "https"))
    assert error.code == errors.PEER_CERT
    assert heads == []


def test_an_unreadable_ca_path_fails_rather_than_falling_back(
    scheduler: Scheduler, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    for ca_path in (str(tmp_path / "missing.pem"), str(garbage)):
        error = _error(scheduler, "https://127.0.0.1:9/", {"caPath": ca_path})
        assert error.code == errors.CA_FILE


# -- pinning ------------------------------------------------------------------------------


def test_pins_are_checked_on_every_new_connection(
    ca: trustme.CA, tmp_path: Path, scheduler: Scheduler
) -> None:
    """Same CA, two keys: the pin of the first opens only the first."""
    good, good_pin = server_context(ca)
    other, _ = server_context(ca)
    options = {"caPath": ca_file(ca, tmp_path), "certificatePinning": {"publicKeyHash": good_pin}}
    with recording_server(tls=good) as (a, a_heads), recording_server(tls=other) as (b, b_heads):
        first = netstack.create_http(scheduler).request(a.url("/", "https"), options)
        assert first.result(timeout=30).response_code == 200
        error = _error(scheduler, b.url("/", "https"), options)
        again = netstack.create_http(scheduler).request(a.url("/again", "https"), options)
        assert again.result(timeout=30).response_code == 200
    assert error.code == errors.PEER_CERT
    assert len(a_heads) == 2
    assert b_heads == []


def test_pins_hold_on_a_redirect_to_another_server(
    ca: trustme.CA, tmp_path: Path, scheduler: Scheduler
) -> None:
    """A pinned request redirected to a host with another key fails before sending."""
    good, good_pin = server_context(ca)
    other, _ = server_context(ca)
    options = {"caPath": ca_file(ca, tmp_path), "certificatePinning": [{"publicKeyHash": good_pin}]}
    with recording_server(tls=other) as (b, b_heads):
        hop = response(b"", status="302 Found", headers=f"Location: {b.url('/x', 'https')}\r\n")
        with recording_server(hop, tls=good) as (a, a_heads):
            error = _error(scheduler, a.url("/", "https"), options)
    assert error.code == errors.PEER_CERT
    assert len(a_heads) == 1
    assert b_heads == []


def test_a_pinned_request_redirected_to_plain_http_is_not_sent_unpinned(
    ca: trustme.CA, tmp_path: Path, scheduler: Scheduler
) -> None:
    """https → http is followed as a cross-origin hop; pins cannot apply to
    a plaintext hop, so credentials at least are dropped (see the redirect tests)."""
    good, good_pin = server_context(ca)
    options = {
        "caPath": ca_file(ca, tmp_path),
        "certificatePinning": {"publicKeyHash": good_pin},
        "header": {"Authorization": "Bearer pinned"},
    }
    with recording_server() as (plain, plain_heads):
        hop = response(b"", status="302 Found", headers=f"Location: {plain.url('/p')}\r\n")
        with recording_server(hop, tls=good) as (a, _):
            netstack.create_http(scheduler).request(a.url("/", "https"), options).result(30)
    assert len(plain_heads) == 1
    assert b"authorization" not in plain_heads[0].lower()
