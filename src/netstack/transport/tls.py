"""TLS for the pools: verifying contexts, client certificates, SPKI pinning.

:func:`build_context` makes the one :class:`PoolContext` of a pool manager:
verification always on, trust from certifi's bundle or ``ca_path`` (2300077
when unreadable), the client certificate loaded (2300058 naming the cert, the
key or the password), the ALPN list fixed per pool, and the pins carried along
so :func:`check_pins` can refuse a peer right after the handshake, before a
byte of the request is written (2300060).

Client certificates in DER or P12 (and PEM, for uniform error messages) are
parsed with ``cryptography`` and handed to ``load_cert_chain`` through a
temporary 0600 file whose key is re-encrypted with a random one-time password;
the file is removed as soon as OpenSSL has read it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Final

import certifi

from netstack.errors import CA_FILE, LOCAL_CERT, HttpError
from netstack.options import CertificatePinning, CertType, ClientCert

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["ALPN_H1", "ALPN_H2", "PinMismatch", "PoolContext", "build_context", "check_pins"]

ALPN_H1: Final = ("http/1.1",)
#: Offered by HTTP/2 pools; the server's choice decides the connection's protocol.
ALPN_H2: Final = ("h2", "http/1.1")


class PinMismatch(ssl.SSLCertVerificationError):
    """The peer's public key matches no pin; mapped to 2300060 like any bad peer cert."""


class PoolContext(ssl.SSLContext):
    """An SSLContext that keeps its pool's ALPN list and carries the pool's pins.

    urllib3 calls ``set_alpn_protocols`` with its process-wide list on every
    wrap; this context answers with its own, so HTTP/2 is offered per pool and
    never leaks into another pool.
    """

    alpn: tuple[str, ...] = ALPN_H1
    #: Accepted SHA-256 digests of the peer's SubjectPublicKeyInfo; empty: no pinning.
    pins: frozenset[bytes] = frozenset()

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        del alpn_protocols
        super().set_alpn_protocols(list(self.alpn))


def build_context(
    *,
    ca_path: str | None,
    client_cert: ClientCert | None,
    pins: Sequence[CertificatePinning] = (),
    alpn: tuple[str, ...] = ALPN_H1,
    sslsocket_class: type[ssl.SSLSocket] | None = None,
) -> PoolContext:
    """A verifying context for one pool configuration; raises HttpError 2300077/2300058."""
    context = PoolContext(ssl.PROTOCOL_TLS_CLIENT)
    # The hardening of urllib3's create_urllib3_context, applied to our subclass.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
    if sys.version_info >= (3, 13):
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
    context.post_handshake_auth = True
    context.verify_mode = ssl.CERT_REQUIRED  # no option turns verification off
    context.check_hostname = True
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog:
        context.keylog_filename = keylog
    context.alpn = alpn
    context.pins = frozenset(_pin_digest(pin) for pin in pins)
    cafile = ca_path or certifi.where()
    try:
        context.load_verify_locations(cafile=cafile)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise HttpError.of(CA_FILE, f"{cafile}: {exc}") from exc
    if client_cert is not None:
        load_client_cert(context, client_cert)
    if sslsocket_class is not None:
        context.sslsocket_class = sslsocket_class
    return context


def _pin_digest(pin: CertificatePinning) -> bytes:
    try:
        digest = base64.b64decode(pin.public_key_hash.strip(), validate=True)
    except ValueError:
        return b""  # cannot match anything; validation reports malformed pins as 401
    return digest


def check_pins(sock: object, pins: frozenset[bytes]) -> None:
    """Raise :class:`PinMismatch` unless the peer's SPKI SHA-256 is one of ``pins``."""
    if not pins:
        return
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    if not der:
        raise PinMismatch("certificate pinning: the peer sent no certificate")
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    digest = hashlib.sha256(spki).digest()
    if digest not in pins:
        seen = base64.b64encode(digest).decode()
        raise PinMismatch(f"certificate pinning: public key sha256/{seen} matches no pin")


def spki_pin(cert_pem: bytes) -> str:
    """The pin (base64 SHA-256 of the SubjectPublicKeyInfo) of a PEM certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    spki = (
        x509.load_pem_x509_certificate(cert_pem)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


# -- client certificates -------------------------------------------------------


def load_client_cert(context: ssl.SSLContext, cert: ClientCert) -> None:
    """Load ``cert`` (PEM, DER or P12) into ``context``; HttpError 2300058 says what failed."""
    from cryptography.hazmat.primitives.serialization import (
        BestAvailableEncryption,
        Encoding,
        PrivateFormat,
    )

    chain, key = _read_client_cert(cert)
    password = secrets.token_urlsafe(24)
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in chain)
    pem += key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(password.encode())
    )
    fd, path = tempfile.mkstemp(prefix="netstack-cert-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
        context.load_cert_chain(path, password=password)
    except ssl.SSLError as exc:
        raise HttpError.of(
            LOCAL_CERT, f"client cert {cert.cert_path}: key does not match certificate ({exc})"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _read(path: str, what: str) -> bytes:
    if not path:
        raise HttpError.of(LOCAL_CERT, f"client {what}: no file given")
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise HttpError.of(
            LOCAL_CERT, f"client {what} {path}: unreadable: {exc.strerror or exc}"
        ) from exc


def _read_client_cert(cert: ClientCert) -> tuple[list[x509.Certificate], PrivateKeyTypes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs12

    password = cert.key_password.encode() if cert.key_password is not None else None
    cert_data = _read(cert.cert_path, "certificate")
    if cert.cert_type is CertType.P12:
        source = cert.key_path or cert.cert_path  # the bundle holds cert and key
        data = cert_data if source == cert.cert_path else _read(source, "key")
        try:
            key, leaf, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError as exc:
            what = "key_password: wrong password for" if password else "certificate: invalid"
            raise HttpError.of(LOCAL_CERT, f"client {what} PKCS#12 {source}: {exc}") from exc
        except TypeError as exc:
            raise HttpError.of(LOCAL_CERT, f"client key_password for {source}: {exc}") from exc
        if leaf is None or key is None:
            raise HttpError.of(LOCAL_CERT, f"client certificate {source}: no certificate or key")
        return [leaf, *extra], key
    try:
        if cert.cert_type is CertType.DER:
            chain = [x509.load_der_x509_certificate(cert_data)]
        else:
            chain = x509.load_pem_x509_certificates(cert_data)
    except ValueError as exc:
        raise HttpError.of(
            LOCAL_CERT,
            f"client certificate {cert.cert_path}: not a {cert.cert_type.value} "
            f"certificate ({exc})",
        ) from exc
    key_path = cert.key_path or cert.cert_path
    key_data = cert_data if key_path == cert.cert_path else _read(key_path, "key")
    return chain, _load_key(key_data, key_path, password)


def _load_key(data: bytes, path: str, password: bytes | None) -> PrivateKeyTypes:
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    loader = load_pem_private_key if b"-----BEGIN" in data else load_der_private_key
    try:
        return loader(data, password)
    except TypeError as exc:
        if password is not None and "not encrypted" in str(exc):
            return loader(data, None)  # a password for a plain key does no harm
        raise HttpError.of(LOCAL_CERT, f"client key_password for {path}: {exc}") from exc
    except ValueError as exc:
        message = str(exc)
        if password is not None and (
            "decrypt" in message.lower() or "password" in message or _encrypted(loader, data)
        ):
            raise HttpError.of(
                LOCAL_CERT, f"client key_password: wrong password for key {path}"
            ) from exc
        raise HttpError.of(LOCAL_CERT, f"client key {path}: not a private key ({exc})") from exc


def _encrypted(loader: Callable[[bytes, bytes | None], PrivateKeyTypes], data: bytes) -> bool:
    """True if ``data`` is an encrypted key. A wrong password usually fails the decryption's
    padding check, but about one in 256 passes it and yields bytes that do not parse as a
    key: that is still a wrong password, not a file that holds no key."""
    try:
        loader(data, None)
    except TypeError:  # "Password was not given but private key is encrypted"
        return True
    except ValueError:
        return False
    return False
