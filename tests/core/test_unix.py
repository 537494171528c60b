"""The Unix-socket transport, reached with nats-py through a Unix-socket transport class."""

from __future__ import annotations

import os
import stat

import nats

from natskern.cli.unix_transport import connect_unix
from tests.support.servers import natskern


async def test_unix_and_tcp_at_once(tmp_path) -> None:
    path = str(tmp_path / "nats.sock")
    async with natskern({"unix": {"path": path, "mode": "0660"}}) as broker:
        assert f"unix://{path}" in broker.listen_urls
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
        local = await connect_unix(path)
        remote = await nats.connect(broker.listen_urls[0])
        sub = await local.subscribe("bridge.>")
        await local.flush()
        await remote.publish("bridge.x", b"tcp to unix")
        msg = await sub.next_msg(timeout=2)
        assert (msg.subject, msg.data) == ("bridge.x", b"tcp to unix")
        reply_sub = await remote.subscribe("svc")

        async def respond() -> None:
            m = await reply_sub.next_msg(timeout=2)
            await m.respond(b"pong")

        import asyncio

        task = asyncio.create_task(respond())
        await remote.flush()
        assert (await local.request("svc", b"ping", timeout=2)).data == b"pong"
        await task
        await local.close()
        await remote.close()
    assert not os.path.exists(path)


async def test_unix_only_with_auth(tmp_path) -> None:
    path = str(tmp_path / "auth.sock")
    config = {"tcp": {"enabled": False}, "unix": {"path": path}, "auth": {"token": "t0k"}}
    async with natskern(config) as broker:
        assert broker.listen_urls == [f"unix://{path}"]
        nc = await connect_unix(path, token="t0k")
        sub = await nc.subscribe("a")
        await nc.publish("a", b"1")
        assert (await sub.next_msg(timeout=2)).data == b"1"
        await nc.close()


async def test_stale_socket_file_is_replaced(tmp_path) -> None:
    path = str(tmp_path / "stale.sock")
    async with natskern({"unix": {"path": path}}):
        pass
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(path)  # a leftover socket file from a crashed server
    s.close()
    async with natskern({"unix": {"path": path}}):
        nc = await connect_unix(path)
        await nc.flush()
        await nc.close()
