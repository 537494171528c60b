"""Fixtures for the TLS, WebSocket and nkeys tests.

``pki`` makes a throw-away CA with a server certificate (for 127.0.0.1 and
localhost) and a client certificate at test time, so nothing committed can
expire.  Every async test of this directory runs on both the default asyncio
loop and uvloop (TLS upgrades differ between the two).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


@dataclass(frozen=True)
class Pki:
    """Paths of a CA, a server certificate and a client certificate (PEM files)."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_client_cert: str
    other_client_key: str

    def server_tls(self, **extra: object) -> dict[str, object]:
        """A ``[tls]`` section for natskern with this server certificate."""
        return {"cert_file": self.server_cert, "key_file": self.server_key, **extra}

    def client_context(self, *, cert: bool = False, other: bool = False) -> ssl.SSLContext:
        """A client context that trusts the CA (optionally presenting a client certificate)."""
        ctx = ssl.create_default_context(cafile=self.ca)
        if cert:
            ctx.load_cert_chain(self.client_cert, self.client_key)
        elif other:
            ctx.load_cert_chain(self.other_client_cert, self.other_client_key)
        return ctx


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ca(now: datetime.datetime, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    now: datetime.datetime,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    name: str,
    *,
    server: bool,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, a server certificate, a client certificate and one from an unrelated CA."""
    d = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca_cert = _ca(now, "natskern test CA")
    other_key, other_ca = _ca(now, "some other CA")
    pem = serialization.Encoding.PEM
    s_key, s_cert = _leaf(now, ca_key, ca_cert, "natskern test server", server=True)
    c_key, c_cert = _leaf(now, ca_key, ca_cert, "natskern test client", server=False)
    o_key, o_cert = _leaf(now, other_key, other_ca, "stranger", server=False)
    return Pki(
        ca=_write(d / "ca.pem", ca_cert.public_bytes(pem)),
        server_cert=_write(d / "server.pem", s_cert.public_bytes(pem)),
        server_key=_write(d / "server-key.pem", _key_pem(s_key)),
        client_cert=_write(d / "client.pem", c_cert.public_bytes(pem)),
        client_key=_write(d / "client-key.pem", _key_pem(c_key)),
        other_client_cert=_write(d / "other.pem", o_cert.public_bytes(pem)),
        other_client_key=_write(d / "other-key.pem", _key_pem(o_key)),
    )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test here runs on the default loop and on uvloop."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    if uvloop is not None:
        factories["uvloop"] = uvloop.new_event_loop
    return factories
