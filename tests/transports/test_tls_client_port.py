"""TLS on the client port: INFO in clear then TLS, handshake first, client certificates.

Byte-level cases run against natskern and, where it is installed, the real
nats-server with the same certificates, and must see the same thing.  Every
async test runs on the default loop and on uvloop (see conftest).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl

from natskern import Broker
from natskern.natsconf import parse_text, translate
from tests.support.servers import NATS_SERVER, nats_server, natskern, raw_connect

KINDS = pytest.mark.parametrize("kind", ["natskern", "nats-server"])
DEADLINE = 10.0  # only stops a broken run from hanging; no assertion depends on it


async def connect_nats(url: str, **options: Any) -> nats.aio.client.Client:
    """nats-py, failing at once instead of retrying when the first connect fails."""
    options.setdefault("allow_reconnect", False)
    options.setdefault("connect_timeout", 5)
    return await nats.connect(url, **options)


def gnatsd_conf(pki: Any, *, verify: bool = False, timeout: float = 2.0) -> str:
    """nats-server's ``tls {}`` block for the same certificates."""
    return (
        f'tls {{ cert_file: "{pki.server_cert}", key_file: "{pki.server_key}", '
        f'ca_file: "{pki.ca}", verify: {str(verify).lower()}, timeout: {timeout} }}'
    )


@contextlib.asynccontextmanager
async def tls_server(kind: str, pki: Any, **tls: Any) -> AsyncIterator[str]:
    """A TLS-enabled server of ``kind``; yields its client URL."""
    if kind == "natskern":
        async with natskern({"tls": pki.server_tls(ca_file=pki.ca, **tls)}) as broker:
            yield broker.listen_urls[0]
    else:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed")
        with nats_server(gnatsd_conf(pki, **tls)) as url:
            yield url


async def read_line(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readline(), DEADLINE)


async def read_info(reader: asyncio.StreamReader) -> dict[str, Any]:
    line = await read_line(reader)
    assert line.startswith(b"INFO ") and line.endswith(b"\r\n")
    return json.loads(line[5:])


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the server closes (a TLS alert or reset counts as the end)."""
    chunks = []
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), DEADLINE):
            chunks.append(chunk)
    except (ssl.SSLError, ConnectionError):
        pass
    return b"".join(chunks)


async def upgraded_exchange(url: str, context: ssl.SSLContext) -> bytes:
    """Read INFO, start TLS, send CONNECT+PING; what comes back until PONG or the end."""
    reader, writer = await raw_connect(url)
    try:
        await read_info(reader)
        try:
            await writer.start_tls(context, server_hostname="127.0.0.1")
            writer.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
            await writer.drain()
            return await read_line(reader)
        except (ssl.SSLError, ConnectionError):
            return b""
    finally:
        writer.close()


@KINDS
async def test_info_goes_out_in_clear_then_tls_starts_on_the_same_socket(
    kind: str, pki: Any
) -> None:
    async with tls_server(kind, pki) as url:
        reader, writer = await raw_connect(url)
        info = await read_info(reader)
        assert info["tls_required"] is True
        assert "tls_verify" not in info
        await writer.start_tls(pki.client_context(), server_hostname="127.0.0.1")
        assert writer.get_extra_info("ssl_object").version().startswith("TLSv1.")
        writer.write(b"CONNECT {}\r\nPING\r\n")
        assert await read_line(reader) == b"+OK\r\n"
        assert await read_line(reader) == b"PONG\r\n"
        writer.close()


@KINDS
async def test_a_plain_text_client_is_dropped_without_a_word(kind: str, pki: Any) -> None:
    async with tls_server(kind, pki) as url:
        reader, writer = await raw_connect(url)
        await read_info(reader)
        writer.write(b"CONNECT {}\r\nPING\r\n")
        assert await read_to_eof(reader) == b""
        writer.close()


@KINDS
async def test_a_client_that_never_starts_tls_is_closed_at_the_tls_timeout(
    kind: str, pki: Any
) -> None:
    async with tls_server(kind, pki, timeout=0.25) as url:
        reader, writer = await raw_connect(url)
        await read_info(reader)
        assert await read_to_eof(reader) == b""
        writer.close()


@KINDS
async def test_verify_demands_a_certificate_from_the_ca(kind: str, pki: Any) -> None:
    async with tls_server(kind, pki, verify=True) as url:
        reader, writer = await raw_connect(url)
        info = await read_info(reader)
        writer.close()
        assert info["tls_required"] is True and info["tls_verify"] is True
        assert await upgraded_exchange(url, pki.client_context(cert=True)) == b"PONG\r\n"
        # Without a certificate nats-server sends a TLS alert; natskern finishes the
        # handshake and says why it refuses the client (see test_tls_errors.py).
        refused = b"-ERR 'TLS Handshake Error: client certificate required'\r\n"
        expected = refused if kind == "natskern" else b""
        assert await upgraded_exchange(url, pki.client_context()) == expected
        assert await upgraded_exchange(url, pki.client_context(other=True)) == b""


async def test_nats_py_publishes_and_requests_over_tls(pki: Any) -> None:
    async with natskern({"tls": pki.server_tls()}) as broker:
        url = broker.listen_urls[0]
        nc = await connect_nats(url, tls=pki.client_context())
        responder = await connect_nats(url, tls=pki.client_context())
        try:

            async def echo(msg: Any) -> None:
                await msg.respond(msg.data.upper())

            await responder.subscribe("svc", cb=echo)
            await responder.flush()
            sub = await nc.subscribe("big")
            payload = bytes(range(256)) * 2000
            await nc.publish("big", payload)
            assert (await sub.next_msg(DEADLINE)).data == payload
            assert (await nc.request("svc", b"hi", timeout=DEADLINE)).data == b"HI"
            session = broker.clients[nc._client_id]
            assert session.transport.get_extra_info("ssl_object") is not None
        finally:
            await nc.close()
            await responder.close()


async def test_nats_py_with_a_client_certificate_under_verify(pki: Any) -> None:
    async with natskern({"tls": pki.server_tls(ca_file=pki.ca, verify=True)}) as broker:
        url = broker.listen_urls[0]
        nc = await connect_nats(url, tls=pki.client_context(cert=True))
        sub = await nc.subscribe("x")
        await nc.publish("x", b"1")
        assert (await sub.next_msg(DEADLINE)).data == b"1"
        await nc.close()


async def test_handshake_first_serves_nats_py_and_info_comes_through_tls(pki: Any) -> None:
    async with natskern({"tls": pki.server_tls(handshake_first=True, timeout=0.25)}) as broker:
        url = broker.listen_urls[0]
        nc = await connect_nats(url, tls=pki.client_context(), tls_handshake_first=True)
        sub = await nc.subscribe("hf")
        await nc.publish("hf", b"ok")
        assert (await sub.next_msg(DEADLINE)).data == b"ok"
        await nc.close()

        host, port = url.removeprefix("nats://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(
            host, int(port), ssl=pki.client_context(), server_hostname="127.0.0.1"
        )
        info = await read_info(reader)
        assert info["tls_required"] is True
        writer.close()

        # A client waiting for INFO in clear gets nothing and is closed at the TLS timeout.
        reader, writer = await raw_connect(url)
        assert await read_to_eof(reader) == b""
        writer.close()


async def test_output_queued_during_the_handshake_is_sent_through_tls(pki: Any) -> None:
    async with natskern({"tls": pki.server_tls()}) as broker:
        broker.first_ping_delay = 0.0  # the session PINGs while its handshake is pending
        reader, writer = await raw_connect(broker.listen_urls[0])
        info = await read_info(reader)
        session = broker.clients[info["client_id"]]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while session.pings_out == 0 and loop.time() < deadline:
            await asyncio.sleep(0.005)
        assert session.pings_out == 1
        await writer.start_tls(pki.client_context(), server_hostname="127.0.0.1")
        assert await read_line(reader) == b"PING\r\n"
        writer.write(b'CONNECT {"verbose":false}\r\nPONG\r\nPING\r\n')
        assert await read_line(reader) == b"PONG\r\n"
        assert session.pings_out == 0
        writer.close()


class CloseRecorder:
    """A plugin that remembers why sessions closed."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.closed = asyncio.Event()

    @hookimpl
    def on_session_closed(self, client: Any, reason: str) -> None:
        self.reasons.append(reason)
        self.closed.set()


async def test_a_failed_handshake_ends_the_session_as_tls_handshake_failure(pki: Any) -> None:
    recorder = CloseRecorder()
    async with natskern({"tls": pki.server_tls()}, plugins=[recorder]) as broker:
        reader, writer = await raw_connect(broker.listen_urls[0])
        await read_info(reader)
        writer.write(b"CONNECT {}\r\n")
        await asyncio.wait_for(recorder.closed.wait(), DEADLINE)
        assert recorder.reasons == ["TLS Handshake Failure"]
        assert broker.clients == {}
        writer.close()


async def test_a_nats_server_config_with_tls_runs(pki: Any) -> None:
    text = (
        "port: 4222\n"
        f'tls {{ cert_file: "{pki.server_cert}", key_file: "{pki.server_key}", timeout: "1s" }}\n'
    )
    model = translate(parse_text(text, "t.conf"), source="t.conf")
    assert model["tls"]["timeout"] == 1.0
    model["tcp"].update(host="127.0.0.1", port=0)
    async with natskern(model) as broker:
        nc = await connect_nats(broker.listen_urls[0], tls=pki.client_context())
        await nc.flush()
        assert nc.is_connected
        await nc.close()


def test_bad_certificate_files_fail_at_start_up(pki: Any, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="cannot load cert_file"):
        Broker({"tls": {"cert_file": str(tmp_path / "missing.pem"), "key_file": pki.server_key}})
    with pytest.raises(ConfigError, match="cannot load cert_file"):
        Broker({"tls": {"cert_file": pki.server_cert, "key_file": pki.client_key}})
    with pytest.raises(ConfigError, match="cert_file and key_file are both required"):
        Broker({"tls": {"cert_file": pki.server_cert}})
    with pytest.raises(ConfigError, match="cannot load ca_file"):
        Broker({"tls": pki.server_tls(ca_file=str(tmp_path / "none.pem"))})


def test_auth_timeout_defaults_to_tls_timeout_plus_one(pki: Any) -> None:
    users = {"users": [{"user": "a", "password": "b"}]}
    assert Broker({"auth": users}).auth_timeout == 2.0
    assert Broker({"auth": users, "tls": pki.server_tls()}).auth_timeout == 3.0
    assert Broker({"auth": users, "tls": pki.server_tls(timeout=4)}).auth_timeout == 5.0
    explicit = {**users, "timeout": 1.5}
    assert Broker({"auth": explicit, "tls": pki.server_tls()}).auth_timeout == 1.5
