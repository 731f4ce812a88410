"""Certificate pinning: base64 SHA-256 of the peer's SubjectPublicKeyInfo (seed: pinning).

A mismatch is 2300060 before a byte of the request is written, on every new
connection, redirect hops included.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
import trustme
from tls_helpers import EchoServer, echo_server, server_context
from transport_helpers import send

from netstack.errors import PEER_CERT, HttpError
from netstack.options import CertificatePinning
from netstack.transport import Transport
from netstack.transport.tls import spki_pin


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def first(ca: trustme.CA) -> Iterator[tuple[EchoServer, str]]:
    context, leaf = server_context(ca)
    with echo_server(context) as record:
        yield record, spki_pin(leaf.cert_chain_pems[0].bytes())


@pytest.fixture(scope="module")
def second(ca: trustme.CA) -> Iterator[tuple[EchoServer, str]]:
    context, leaf = server_context(ca)
    with echo_server(context) as record:
        yield record, spki_pin(leaf.cert_chain_pems[0].bytes())


WRONG = CertificatePinning(base64.b64encode(hashlib.sha256(b"nope").digest()).decode())


def test_spki_pin_is_sha256_of_the_subject_public_key_info(ca: trustme.CA) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    leaf = ca.issue_cert("pin.test")
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    expected = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    assert expected == spki_pin(leaf.cert_chain_pems[0].bytes())


def test_matching_pin_passes(
    transport: Transport, first: tuple[EchoServer, str], ca_file: str
) -> None:
    server, pin = first
    resp = send(transport, server.url + "/echo", ca_path=ca_file, pins=(CertificatePinning(pin),))
    assert resp.status == 200


def test_any_matching_pin_of_a_list_passes(
    transport: Transport, first: tuple[EchoServer, str], ca_file: str
) -> None:
    server, pin = first
    pins = (WRONG, CertificatePinning(pin, "SHA-256"))
    assert send(transport, server.url + "/echo", ca_path=ca_file, pins=pins).status == 200


def test_no_matching_pin_is_2300060_before_any_request_byte(
    transport: Transport, first: tuple[EchoServer, str], ca_file: str
) -> None:
    server, _ = first
    before = len(server.requests)
    with pytest.raises(HttpError) as info:
        send(
            transport, server.url + "/echo", "POST", body=b"secret", ca_path=ca_file, pins=(WRONG,)
        )
    assert info.value.code == PEER_CERT
    assert "pin" in info.value.detail
    assert len(server.requests) == before


def test_pins_apply_to_every_redirect_hop(
    transport: Transport,
    first: tuple[EchoServer, str],
    second: tuple[EchoServer, str],
    ca_file: str,
) -> None:
    (one, pin_one), (two, pin_two) = first, second
    url = f"{one.url}/redirect?to={two.url}/echo"
    before = len(two.requests)
    with pytest.raises(HttpError) as info:
        send(transport, url, ca_path=ca_file, pins=(CertificatePinning(pin_one),))
    assert info.value.code == PEER_CERT
    assert len(two.requests) == before
    both = (CertificatePinning(pin_one), CertificatePinning(pin_two))
    resp = send(transport, url, ca_path=ca_file, pins=both)
    assert (resp.status, resp.redirects) == (200, 1)


def test_pinned_and_unpinned_requests_do_not_share_connections(
    transport: Transport, first: tuple[EchoServer, str], ca_file: str
) -> None:
    """A pooled connection verified without pins is never handed to a pinned request."""
    server, _ = first
    assert send(transport, server.url + "/echo", ca_path=ca_file).status == 200
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo", ca_path=ca_file, pins=(WRONG,))
    assert info.value.code == PEER_CERT
