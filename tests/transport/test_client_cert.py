"""Client certificates: PEM, DER and P12, with and without a key password (seed: ClientCert).

The peer is an ssl-module server on 127.0.0.1 with ``verify_mode=CERT_REQUIRED``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from tls_helpers import EchoServer, echo_server, server_context
from transport_helpers import send

from netstack.errors import LOCAL_CERT, HttpError
from netstack.options import CertType, ClientCert
from netstack.transport import Transport

PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every format of one client identity, plus the CA that signed the server."""
    tmp = tmp_path_factory.mktemp("client")
    leaf = ca.issue_cert("client.example.test")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    pem, der, pkcs8 = (
        serialization.Encoding.PEM,
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
    )
    plain, locked = (
        serialization.NoEncryption(),
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    blobs = {
        "ca.pem": ca.cert_pem.bytes(),
        "cert.pem": cert.public_bytes(pem),
        "key.pem": key.private_bytes(pem, pkcs8, plain),
        "key-locked.pem": key.private_bytes(pem, pkcs8, locked),
        "combined.pem": cert.public_bytes(pem) + key.private_bytes(pem, pkcs8, plain),
        "cert.der": cert.public_bytes(der),
        "key.der": key.private_bytes(der, pkcs8, plain),
        "key-locked.der": key.private_bytes(der, pkcs8, locked),
        "id.p12": pkcs12.serialize_key_and_certificates(b"id", key, cert, None, plain),  # type: ignore[arg-type]
        "id-locked.p12": pkcs12.serialize_key_and_certificates(b"id", key, cert, None, locked),  # type: ignore[arg-type]
        "other-key.pem": serialization.load_pem_private_key(
            ca.issue_cert("x.test").private_key_pem.bytes(), None
        ).private_bytes(pem, pkcs8, plain),
    }
    paths = {}
    for name, data in blobs.items():
        (tmp / name).write_bytes(data)
        paths[name] = str(tmp / name)
    return paths


@pytest.fixture(scope="module")
def server(ca: trustme.CA) -> Iterator[EchoServer]:
    context, _ = server_context(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)
    with echo_server(context) as record:
        yield record


CASES = {
    "pem": ("cert.pem", "key.pem", CertType.PEM, None),
    "pem-password": ("cert.pem", "key-locked.pem", CertType.PEM, PASSWORD),
    "pem-key-in-cert-file": ("combined.pem", "", CertType.PEM, None),
    "der": ("cert.der", "key.der", CertType.DER, None),
    "der-password": ("cert.der", "key-locked.der", CertType.DER, PASSWORD),
    "p12": ("id.p12", "", CertType.P12, None),
    "p12-password": ("id-locked.p12", "", CertType.P12, PASSWORD),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_server_requiring_a_client_cert_accepts_each_format(
    transport: Transport, server: EchoServer, files: dict[str, str], case: str
) -> None:
    cert, key, kind, password = CASES[case]
    client = ClientCert(
        cert_path=files[cert],
        key_path=files[key] if key else "",
        cert_type=kind,
        key_password=password,
    )
    resp = send(transport, server.url + "/echo", ca_path=files["ca.pem"], client_cert=client)
    assert resp.status == 200
    assert ("DNS", "client.example.test") in server.requests[-1].client_subject["subjectAltName"]


def test_without_a_client_cert_the_server_refuses(
    transport: Transport, server: EchoServer, files: dict[str, str]
) -> None:
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo", ca_path=files["ca.pem"])
    assert info.value.code != 200


@pytest.mark.parametrize(
    ("cert", "key", "kind", "password", "says"),
    [
        ("absent.pem", "key.pem", CertType.PEM, None, "client certificate"),
        ("cert.pem", "absent.pem", CertType.PEM, None, "client key"),
        ("key.pem", "key.pem", CertType.PEM, None, "client certificate"),
        ("cert.pem", "cert.pem", CertType.PEM, None, "client key"),
        ("cert.pem", "key-locked.pem", CertType.PEM, "wrong", "key_password"),
        ("cert.pem", "key-locked.pem", CertType.PEM, None, "key_password"),
        ("cert.der", "key-locked.der", CertType.DER, "wrong", "key_password"),
        ("id-locked.p12", "", CertType.P12, "wrong", "key_password"),
        ("cert.pem", "other-key.pem", CertType.PEM, None, "does not match"),
    ],
)
def test_bad_cert_key_or_password_is_2300058_saying_which(
    transport: Transport,
    server: EchoServer,
    files: dict[str, str],
    tmp_path: Path,
    cert: str,
    key: str,
    kind: CertType,
    password: str | None,
    says: str,
) -> None:
    def path(name: str) -> str:
        return files.get(name, str(tmp_path / name)) if name else ""

    client = ClientCert(
        cert_path=path(cert), key_path=path(key), cert_type=kind, key_password=password
    )
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo", ca_path=files["ca.pem"], client_cert=client)
    assert info.value.code == LOCAL_CERT
    assert says in info.value.detail
    assert says in str(info.value)
    assert not list(Path(tmp_path).glob("netstack-cert-*"))


def test_no_temporary_key_file_is_left_behind(
    transport: Transport, server: EchoServer, files: dict[str, str]
) -> None:
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("netstack-cert-*"))
    client = ClientCert(
        cert_path=files["id-locked.p12"], cert_type=CertType.P12, key_password=PASSWORD
    )
    assert (
        send(transport, server.url + "/echo", ca_path=files["ca.pem"], client_cert=client).status
        == 200
    )
    assert set(Path(tempfile.gettempdir()).glob("netstack-cert-*")) == before


@pytest.mark.parametrize("key", ["key-locked.der", "key-locked.pem"])
def test_a_wrong_password_that_decrypts_to_garbage_is_still_a_wrong_password(
    transport: Transport, server: EchoServer, files: dict[str, str], key: str
) -> None:
    """About one wrong password in 256 passes the decryption's padding check and yields
    bytes that are no key: cryptography then says the data cannot be deserialised, and
    that is still a wrong key_password, not a file holding no key."""
    data = Path(files[key]).read_bytes()
    loader = (
        serialization.load_pem_private_key
        if key.endswith(".pem")
        else serialization.load_der_private_key
    )
    for attempt in range(5000):
        password = f"wrong{attempt}"
        try:
            loader(data, password.encode())
        except ValueError as exc:
            if "decrypt" not in str(exc).lower() and "password" not in str(exc):
                break  # a garbage decryption
    else:  # pragma: no cover - (255/256) ** 5000: never
        pytest.skip("no wrong password decrypted to garbage in 5000 tries")
    kind = CertType.PEM if key.endswith(".pem") else CertType.DER
    cert = files["cert.pem" if kind is CertType.PEM else "cert.der"]
    client = ClientCert(cert_path=cert, key_path=files[key], cert_type=kind, key_password=password)
    with pytest.raises(HttpError) as info:
        send(transport, server.url + "/echo", ca_path=files["ca.pem"], client_cert=client)
    assert info.value.code == LOCAL_CERT
    assert "key_password: wrong password" in info.value.detail
