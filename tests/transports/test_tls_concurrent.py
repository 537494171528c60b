"""TLS upgrades under load, and a ClientHello that arrives before natskern starts TLS.

nats-server sends INFO in clear and then reads the ClientHello; a client that
sends it early (or a loop, like uvloop, that reads the socket before the
handshake task runs) must not have those bytes parsed as NATS protocol.
Every async test runs on the default loop and on uvloop (see conftest).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import pytest

from tests.support.servers import natskern, raw_connect
from tests.transports.test_tls_client_port import KINDS, read_line, tls_server

DEADLINE = 30.0  # only stops a broken run from hanging


async def early_client_hello_exchange(url: str, context: ssl.SSLContext) -> bytes:
    """Send the ClientHello before reading INFO, then finish TLS and PING; the first reply."""
    reader, writer = await raw_connect(url)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")

    async def pump() -> None:
        if data := outgoing.read():
            writer.write(data)
            await writer.drain()

    try:
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        await pump()  # the ClientHello leaves before INFO is read
        info = await read_line(reader)
        assert info.startswith(b"INFO ")
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await pump()
                chunk = await asyncio.wait_for(reader.read(65536), DEADLINE)
                if not chunk:
                    return b""
                incoming.write(chunk)
        tls.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        await pump()
        replies = b""
        while True:
            try:
                replies += tls.read(65536)
                # The server's own first PING may come first on a loaded machine.
                if b"PONG\r\n" in replies:
                    return b"PONG\r\n"
                if replies.replace(b"PING\r\n", b""):
                    return replies
            except ssl.SSLWantReadError:
                await pump()
                chunk = await asyncio.wait_for(reader.read(65536), DEADLINE)
                if not chunk:
                    return b""
                incoming.write(chunk)
    except (ssl.SSLError, ConnectionError):
        return b""
    finally:
        writer.close()


@KINDS
async def test_a_client_hello_sent_before_info_is_read_goes_to_tls(kind: str, pki: Any) -> None:
    async with tls_server(kind, pki) as url:
        assert await early_client_hello_exchange(url, pki.client_context()) == b"PONG\r\n"


async def upgrade(url: str, context: ssl.SSLContext) -> bytes:
    reader, writer = await raw_connect(url)
    try:
        await read_line(reader)
        await writer.start_tls(context, server_hostname="127.0.0.1")
        writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        await writer.drain()
        while (line := await asyncio.wait_for(reader.readline(), DEADLINE)) == b"PING\r\n":
            pass  # the server's own first PING may come first on a loaded machine
        return line
    except (ssl.SSLError, ConnectionError) as exc:
        return repr(exc).encode()
    finally:
        writer.close()


@pytest.mark.parametrize("early", [False, True], ids=["after-info", "early-hello"])
async def test_a_few_hundred_concurrent_tls_upgrades_all_succeed(pki: Any, early: bool) -> None:
    # A long handshake timeout: on a loaded machine no handshake may be cut for slowness.
    async with natskern({"tls": pki.server_tls(timeout=DEADLINE)}) as broker:
        url = broker.listen_urls[0]
        one = early_client_hello_exchange if early else upgrade
        replies = await asyncio.gather(*(one(url, pki.client_context()) for _ in range(250)))
        assert [r for r in replies if r != b"PONG\r\n"] == []
