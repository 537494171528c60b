"""nats-py over ``ws://`` and ``wss://``, and WebSocket sessions among the others.

nats-py's WebSocket transport needs aiohttp; without it those tests skip.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from typing import Any

import nats
import pytest
from natskern.kernel.errors import ConfigError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from natskern import Broker
from natskern.natsconf import parse_text, translate
from tests.support.servers import NATS_SERVER, free_port, nats_server, natskern

DEADLINE = 10.0  # only stops a broken run from hanging


async def connect_nats(url: str, **options: Any) -> nats.aio.client.Client:
    """nats-py, failing at once instead of retrying when the first connect fails."""
    options.setdefault("allow_reconnect", False)
    options.setdefault("connect_timeout", 5)
    return await nats.connect(url, **options)


needs_aiohttp = pytest.mark.skipif(
    importlib.util.find_spec("aiohttp") is None,
    reason="nats-py's WebSocket transport needs aiohttp",
)


def ws_config(**extra: Any) -> dict[str, Any]:
    return {"websocket": {"enabled": True, "port": 0, "no_tls": True, **extra}}


@needs_aiohttp
async def test_nats_py_over_ws_talks_to_tcp_clients() -> None:
    async with natskern(ws_config()) as broker:
        tcp_url, ws_url = broker.listen_urls
        assert ws_url.startswith("ws://")
        ws = await connect_nats(ws_url)
        tcp = await connect_nats(tcp_url)
        try:
            from_tcp = await ws.subscribe("to.ws")
            from_ws = await tcp.subscribe("to.tcp")

            async def echo(msg: Any) -> None:
                await msg.respond(b"ws:" + msg.data)

            await ws.subscribe("svc", cb=echo)
            await ws.flush()
            await tcp.flush()
            payload = bytes(range(256)) * 3000  # 768 KB: 64-bit frame lengths both ways
            await tcp.publish("to.ws", payload)
            await ws.publish("to.tcp", payload, headers={"K": "v"})
            got = await from_tcp.next_msg(DEADLINE)
            assert got.data == payload
            got = await from_ws.next_msg(DEADLINE)
            assert got.data == payload and got.headers == {"K": "v"}
            assert (await tcp.request("svc", b"1", timeout=DEADLINE)).data == b"ws:1"
            session = broker.clients[ws._client_id]
            assert session.conn_type == "WEBSOCKET"
            assert session.host == "127.0.0.1" and session.port > 0
        finally:
            await ws.close()
            await tcp.close()


@needs_aiohttp
async def test_nats_py_over_wss(pki: Any) -> None:
    config = {"websocket": {"enabled": True, "port": 0, "tls": pki.server_tls()}}
    async with natskern(config) as broker:
        url = broker.listen_urls[-1]
        assert url.startswith("wss://")
        nc = await connect_nats(url, tls=pki.client_context())
        try:
            sub = await nc.subscribe("s")
            await nc.publish("s", b"secure")
            assert (await sub.next_msg(DEADLINE)).data == b"secure"
            transport = broker.clients[nc._client_id].transport
            assert transport.get_extra_info("ssl_object") is not None
        finally:
            await nc.close()


async def test_wss_verify_requires_a_client_certificate(pki: Any) -> None:
    tls = pki.server_tls(ca_file=pki.ca, verify=True)
    async with natskern({"websocket": {"enabled": True, "port": 0, "tls": tls}}) as broker:
        url = broker.listen_urls[-1]
        async with connect(url, ssl=pki.client_context(cert=True)) as ws:
            assert (await asyncio.wait_for(ws.recv(), DEADLINE)).startswith(b"INFO ")
        with pytest.raises(Exception):  # noqa: B017 - an SSL error or a closed connection
            async with connect(url, ssl=pki.client_context(), open_timeout=DEADLINE) as ws:
                await asyncio.wait_for(ws.recv(), DEADLINE)


@pytest.mark.parametrize("kind", ["natskern", "nats-server"])
async def test_ws_info_carries_the_client_port_tls_fields(kind: str, pki: Any) -> None:
    if kind == "natskern":
        config = {**ws_config(), "tls": pki.server_tls()}
        async with natskern(config) as broker:
            info = await first_message(broker.listen_urls[-1])
    else:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed")
        port = free_port()
        conf = (
            f'tls {{ cert_file: "{pki.server_cert}", key_file: "{pki.server_key}" }}\n'
            f"websocket {{ host: 127.0.0.1, port: {port}, no_tls: true }}\n"
        )
        with nats_server(conf):
            info = await first_message(f"ws://127.0.0.1:{port}")
    assert info["tls_required"] is True


async def first_message(url: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        try:
            async with connect(url, compression=None) as ws:
                return json.loads((await asyncio.wait_for(ws.recv(), DEADLINE))[5:])
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.02)


async def test_browsers_get_messages_of_at_most_4k() -> None:
    async with natskern(ws_config()) as broker:
        url = broker.listen_urls[-1]
        async with connect(url, compression=None, user_agent_header="Mozilla/5.0") as ws:
            await asyncio.wait_for(ws.recv(), DEADLINE)
            payload = bytes(range(256)) * 40
            await ws.send(b'CONNECT {"verbose":false}\r\nSUB b 1\r\n')
            await ws.send(b"PUB b %d\r\n%s\r\nPING\r\n" % (len(payload), payload))
            data, sizes = b"", []
            while not data.endswith(b"PONG\r\n"):
                message = await asyncio.wait_for(ws.recv(), DEADLINE)
                sizes.append(len(message))
                data += message
            assert data == b"MSG b 1 %d\r\n%s\r\nPONG\r\n" % (len(payload), payload)
            assert max(sizes) <= 4096 and len(sizes) >= 3


async def test_allowed_connection_types_tell_websocket_from_tcp() -> None:
    config = {
        **ws_config(),
        "auth": {
            "users": [
                {"user": "web", "password": "p", "allowed_connection_types": ["WEBSOCKET"]},
                {"user": "std", "password": "p", "allowed_connection_types": ["STANDARD"]},
            ]
        },
    }
    async with natskern(config) as broker:
        tcp_url, ws_url = broker.listen_urls
        for url, user, expected in (
            (ws_url, "web", b"PONG\r\n"),
            (ws_url, "std", b"-ERR 'Authorization Violation'\r\n"),
        ):
            async with connect(url, compression=None) as ws:
                await asyncio.wait_for(ws.recv(), DEADLINE)
                connect_op = {"verbose": False, "user": user, "pass": "p"}
                await ws.send(b"CONNECT " + json.dumps(connect_op).encode() + b"\r\nPING\r\n")
                assert await asyncio.wait_for(ws.recv(), DEADLINE) == expected
        reader, writer = await asyncio.open_connection(*tcp_url[7:].rsplit(":", 1))
        await reader.readline()
        writer.write(b'CONNECT {"verbose":false,"user":"web","pass":"p"}\r\nPING\r\n')
        assert await reader.readline() == b"-ERR 'Authorization Violation'\r\n"
        writer.close()


async def test_shutdown_sends_going_away() -> None:
    async with natskern(ws_config()) as broker:
        ws = await connect(broker.listen_urls[-1], compression=None)
        await asyncio.wait_for(ws.recv(), DEADLINE)
        await ws.send(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert await asyncio.wait_for(ws.recv(), DEADLINE) == b"PONG\r\n"
    await asyncio.wait_for(ws.wait_closed(), DEADLINE)
    assert (ws.close_code, ws.close_reason) == (1001, "Server Shutdown")


async def test_a_refused_connection_gets_info_error_and_policy_violation() -> None:
    async with natskern({**ws_config(), "server": {"max_connections": 1}}) as broker:
        tcp = await connect_nats(broker.listen_urls[0])
        try:
            ws = await connect(broker.listen_urls[-1], compression=None)
            data = b""
            with pytest.raises(ConnectionClosed):
                while True:
                    data += await asyncio.wait_for(ws.recv(), DEADLINE)
            assert data.startswith(b"INFO ")
            assert data.endswith(b"\r\n-ERR 'maximum connections exceeded'\r\n")
            assert ws.close_code == 1008
        finally:
            await tcp.close()


async def test_a_slow_upgrade_is_dropped_at_the_handshake_timeout() -> None:
    async with natskern(ws_config(handshake_timeout=0.2)) as broker:
        host, port = broker.listen_urls[-1][5:].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
        writer.close()


async def test_a_nats_server_config_with_websocket_runs() -> None:
    model = translate(
        parse_text("websocket { port: 8080, no_tls: true, compression: true }", "t.conf"),
        source="t.conf",
    )
    model["tcp"].update(host="127.0.0.1", port=0)
    model["websocket"].update(host="127.0.0.1", port=0)
    async with natskern(model) as broker, connect(broker.listen_urls[-1]) as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        assert (await asyncio.wait_for(ws.recv(), DEADLINE)).startswith(b"INFO ")


def test_websocket_needs_tls_or_no_tls(pki: Any, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="websocket requires TLS"):
        Broker({"websocket": {"enabled": True}})
    with pytest.raises(ConfigError, match=r"websocket\.tls: cannot load cert_file"):
        bad = {"cert_file": str(tmp_path / "x.pem"), "key_file": pki.server_key}
        Broker({"websocket": {"enabled": True, "tls": bad}})
    broker = Broker({"websocket": {"enabled": False}})
    assert broker.config["websocket"]["port"] == 8080
