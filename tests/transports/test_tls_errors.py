"""TLS errors say what happened: in the server log and to the client.

A client that must present a certificate and does not is told so through TLS
(``-ERR 'TLS Handshake Error: client certificate required'``) and the log line
names the reason, never ``TLS handshake error: `` with nothing after it.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import nats
import pytest
from natskern.plugins.transports._protocol import CERTIFICATE_REQUIRED, describe_handshake_error

from tests.support.servers import natskern, raw_connect
from tests.transports.test_tls_client_port import read_info, read_to_eof


async def test_nats_py_without_a_certificate_is_told_one_is_required(
    pki: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "natskern.tls")
    async with natskern({"tls": pki.server_tls(ca_file=pki.ca, verify=True)}) as broker:
        with pytest.raises(nats.errors.Error, match="client certificate required"):
            await nats.connect(
                broker.listen_urls[0],
                tls=pki.client_context(),
                allow_reconnect=False,
                max_reconnect_attempts=0,
            )
    assert any(
        "TLS handshake error: client didn't provide a certificate" in r.getMessage()
        for r in caplog.records
    )


async def test_what_a_refused_client_sent_with_its_handshake_is_never_served(pki: Any) -> None:
    async with natskern({"tls": pki.server_tls(ca_file=pki.ca, verify=True)}) as broker:
        reader, writer = await raw_connect(broker.listen_urls[0])
        await read_info(reader)
        await writer.start_tls(pki.client_context(), server_hostname="127.0.0.1")
        writer.write(b'CONNECT {"verbose":true}\r\nSUB a 1\r\nPING\r\n')
        reply = await read_to_eof(reader)
        assert reply == f"-ERR '{CERTIFICATE_REQUIRED}'\r\n".encode()
        assert broker.clients == {}
        writer.close()


async def test_a_handshake_the_client_breaks_off_is_logged_with_a_reason(
    pki: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "natskern.tls")
    async with natskern({"tls": pki.server_tls()}) as broker:
        reader, writer = await raw_connect(broker.listen_urls[0])
        await read_info(reader)
        writer.write(b"\x16\x03\x01\x00\x05hello")  # a cut-off ClientHello, then EOF
        writer.close()
        await read_to_eof(reader)
    lines = [r.getMessage() for r in caplog.records if "TLS handshake error" in r.getMessage()]
    for line in lines:
        assert not line.rstrip().endswith("TLS handshake error:")


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (ConnectionResetError(), "connection closed by the client (ConnectionResetError)"),
        (TimeoutError(), "handshake timeout"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "wrong version"),
        (OSError(), "connection closed by the client (OSError)"),
    ],
)
def test_every_handshake_error_has_a_description(exc: BaseException, text: str) -> None:
    description = describe_handshake_error(exc)
    assert description
    assert text in description
