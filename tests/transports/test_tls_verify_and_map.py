"""``tls { verify_and_map }``: a verified client certificate names the user.

The same nats-server configuration runs on nats-server 2.9 and, translated, on
natskern; every client must see the same bytes.  The certificate's email SANs,
DNS SANs, then its RFC 2253 subject are tried in that order; the user's
permissions and account apply; no matching user (or a user named in CONNECT)
is an ``Authorization Violation``.  Every async test runs on asyncio and uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from natskern.kernel.errors import ConfigError
from natskern.plugins.auth.certmap import candidate_names, rfc2253

from natskern import Broker
from natskern.natsconf import parse_text, translate
from tests.support.servers import NATS_SERVER, nats_server, natskern, raw_connect
from tests.transports.conftest import _ca, _key_pem, _leaf, _name, _write

KINDS = pytest.mark.parametrize("kind", ["natskern", "nats-server"])
DEADLINE = 10.0  # only stops a broken run from hanging

DN_USER = r"CN=dn user,O=Acme\, Inc,C=US"
USERS = (
    "authorization { users = [\n"
    '  {user: "CN=natskern test client", permissions: {publish: "allowed"}}\n'
    '  {user: "mail@example.com"}\n'
    f'  {{user: "{DN_USER.replace(chr(92), chr(92) * 2)}", permissions: {{publish: "dn.>"}}}}\n'
    '  {user: "alice", password: "pw"}\n'
    "] }\n"
    'accounts { A { users = [ {user: "svc.example.com"} ] } }\n'
)


@dataclass(frozen=True)
class MapPki:
    """A CA, a server certificate and client certificates with various subjects."""

    dir: Path

    def path(self, name: str) -> str:
        return str(self.dir / name)

    def context(self, client: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.path("ca.pem"))
        if client:
            ctx.load_cert_chain(self.path(f"{client}.pem"), self.path(f"{client}-key.pem"))
        return ctx

    def tls_block(self) -> str:
        return (
            f'tls {{ cert_file: "{self.path("server.pem")}", '
            f'key_file: "{self.path("server-key.pem")}", '
            f'ca_file: "{self.path("ca.pem")}", verify_and_map: true }}\n'
        )


@pytest.fixture(scope="module")
def map_pki(tmp_path_factory: pytest.TempPathFactory) -> MapPki:
    d = tmp_path_factory.mktemp("mappki")
    now = datetime.datetime.now(datetime.UTC)
    pem = serialization.Encoding.PEM
    ca_key, ca = _ca(now, "map CA")
    _write(d / "ca.pem", ca.public_bytes(pem))
    key, cert = _leaf(now, ca_key, ca, "natskern test server", server=True)
    _write(d / "server.pem", cert.public_bytes(pem))
    _write(d / "server-key.pem", _key_pem(key))

    def client(fname: str, name: x509.Name, sans: Sequence[x509.GeneralName] = ()) -> None:
        ckey = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(ca.subject)
            .public_key(ckey.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), False)
        ccert = builder.sign(ca_key, hashes.SHA256())
        _write(d / f"{fname}.pem", ccert.public_bytes(pem))
        _write(d / f"{fname}-key.pem", _key_pem(ckey))

    client("client", _name("natskern test client"))
    client("stranger", _name("stranger"))
    client(
        "mailer",
        _name("mailer"),
        [x509.RFC822Name("mail@example.com"), x509.DNSName("svc.example.com")],
    )
    client("service", _name("service"), [x509.DNSName("svc.example.com")])
    dn = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc"),
            x509.NameAttribute(NameOID.COMMON_NAME, "dn user"),
        ]
    )
    client("dn", dn)
    return MapPki(d)


@contextlib.asynccontextmanager
async def server(kind: str, conf: str) -> AsyncIterator[str]:
    if kind == "natskern":
        model = translate(parse_text(conf, "map.conf"), source="map.conf")
        model["tcp"].update(host="127.0.0.1", port=0)
        async with natskern(model) as broker:
            yield broker.listen_urls[0]
    else:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed")
        with nats_server(conf) as url:
            yield url


async def exchange(
    url: str, context: ssl.SSLContext, connect: bytes = b'{"verbose":false}'
) -> bytes:
    """INFO, TLS, CONNECT, two PUBs and a PING; every byte until PONG or the end."""
    reader, writer = await raw_connect(url)
    try:
        info = json.loads((await asyncio.wait_for(reader.readline(), DEADLINE))[5:])
        assert info["tls_required"] and info["tls_verify"]
        await writer.start_tls(context, server_hostname="127.0.0.1")
        writer.write(
            b"CONNECT " + connect + b"\r\nPUB allowed 1\r\nx\r\nPUB dn.x 1\r\nx\r\nPING\r\n"
        )
        out = b""
        while not out.endswith((b"PONG\r\n", b"'Authorization Violation'\r\n")):
            chunk = await asyncio.wait_for(reader.read(65536), DEADLINE)
            if not chunk:
                break
            out += chunk
        return out
    except (ssl.SSLError, ConnectionError):
        return b""
    finally:
        writer.close()


VIOLATION = b"-ERR 'Authorization Violation'\r\n"


@KINDS
async def test_the_certificate_subject_is_the_user(kind: str, map_pki: MapPki) -> None:
    async with server(kind, map_pki.tls_block() + USERS) as url:
        # CN user: its permissions apply (publish "allowed" only).
        assert await exchange(url, map_pki.context("client")) == (
            b"-ERR 'Permissions Violation for Publish to \"dn.x\"'\r\nPONG\r\n"
        )
        # The email SAN comes before the DNS SAN (which is a user of account A).
        assert await exchange(url, map_pki.context("mailer")) == b"PONG\r\n"
        # The RFC 2253 subject, escaped comma and all.
        assert await exchange(url, map_pki.context("dn")) == (
            b"-ERR 'Permissions Violation for Publish to \"allowed\"'\r\nPONG\r\n"
        )
        assert await exchange(url, map_pki.context("stranger")) == VIOLATION
        # The user comes from the certificate, not from CONNECT.
        alice = b'{"verbose":false,"user":"alice","pass":"pw"}'
        assert await exchange(url, map_pki.context("client"), alice) == VIOLATION


@KINDS
async def test_without_users_a_verified_certificate_is_enough(kind: str, map_pki: MapPki) -> None:
    async with server(kind, map_pki.tls_block()) as url:
        assert await exchange(url, map_pki.context("stranger")) == b"PONG\r\n"


async def test_the_mapped_users_account_applies(map_pki: MapPki) -> None:
    model = translate(parse_text(map_pki.tls_block() + USERS, "m.conf"), source="m.conf")
    model["tcp"].update(host="127.0.0.1", port=0)
    async with natskern(model) as broker:
        url = broker.listen_urls[0]
        reader, writer = await raw_connect(url)
        info = json.loads((await asyncio.wait_for(reader.readline(), DEADLINE))[5:])
        await writer.start_tls(map_pki.context("service"), server_hostname="127.0.0.1")
        writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert await asyncio.wait_for(reader.readline(), DEADLINE) == b"PONG\r\n"
        session = broker.clients[info["client_id"]]
        assert session.account.name == "A"
        writer.close()


def test_rfc2253_names_and_order() -> None:
    subject = (
        (("countryName", "US"),),
        (("organizationName", "Acme, Inc"),),
        (("commonName", " lead#"),),
    )
    assert rfc2253(subject) == r"CN=\ lead#,O=Acme\, Inc,C=US"
    cert = {
        "subject": ((("commonName", "x"),),),
        "subjectAltName": (("DNS", "d.example"), ("email", "e@example"), ("URI", "u:x")),
    }
    assert candidate_names(cert) == ["e@example", "d.example", "u:x", "CN=x"]


def test_options_nats_server_refuses_on_the_client_port(map_pki: MapPki) -> None:
    tls = {
        "cert_file": map_pki.path("server.pem"),
        "key_file": map_pki.path("server-key.pem"),
    }
    with pytest.raises(ConfigError, match="verify_cert_and_check_known_urls not supported"):
        Broker({"tls": {**tls, "verify_cert_and_check_known_urls": True}})
    for key in ("cert_store", "cert_match"):
        with pytest.raises(ConfigError, match=f"{key} not compatible with current operating"):
            Broker({"tls": {**tls, key: "WindowsCurrentUser"}})
