"""Embedding: the broker in the application's own loop, the in-process client, the README example."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from natskern import Broker, NoRespondersError, RequestTimeoutError

ROOT = Path(__file__).resolve().parents[2]


async def test_in_process_and_tcp_clients_share_the_router() -> None:
    async with Broker({"tcp": {"port": 0}}) as broker:
        app = broker.connect(name="app")
        sub = await app.subscribe("events.>")
        nc = await nats.connect(broker.listen_urls[0])
        tcp_sub = await nc.subscribe("events.>")
        await nc.flush()

        await nc.publish("events.tcp", b"from tcp", headers={"X-From": "tcp"})
        msg = await sub.next_msg(timeout=2)
        assert (msg.subject, msg.data, msg.headers) == (
            "events.tcp",
            b"from tcp",
            {"X-From": "tcp"},
        )

        await app.publish("events.app", b"from app")
        assert (await tcp_sub.next_msg(timeout=2)).data == b"from tcp"
        got = await tcp_sub.next_msg(timeout=2)
        assert (got.subject, got.data) == ("events.app", b"from app")
        await nc.close()
        await app.close()


async def test_in_process_request_reply_and_errors() -> None:
    async with Broker({"tcp": {"enabled": False}}) as broker:
        assert broker.listen_urls == []
        app = broker.connect()

        async def serve() -> None:
            async for msg in await app.subscribe("math.double", queue="workers"):
                await msg.respond(str(int(msg.data) * 2).encode())

        task = asyncio.create_task(serve())
        await asyncio.sleep(0)
        assert (await app.request("math.double", b"21")).data == b"42"
        with pytest.raises(NoRespondersError):
            await app.request("nobody.listens", b"")
        silent = await app.subscribe("silent")
        with pytest.raises(RequestTimeoutError):
            await app.request("silent", b"", timeout=0.05)
        await silent.unsubscribe()
        task.cancel()
        await app.close()


async def test_in_process_max_msgs_ends_iteration() -> None:
    async with Broker({"tcp": {"enabled": False}}) as broker:
        app = broker.connect()
        sub = await app.subscribe("n", max_msgs=2)
        for i in range(5):
            await app.publish("n", str(i).encode())
        assert [m.data async for m in sub] == [b"0", b"1"]


async def test_shutdown_closes_tcp_clients_gracefully() -> None:
    broker = Broker({"tcp": {"port": 0}})
    await broker.start()
    closed = asyncio.Event()

    async def on_closed() -> None:
        closed.set()

    nc = await nats.connect(broker.listen_urls[0], allow_reconnect=False, closed_cb=on_closed)
    sub = await nc.subscribe("x")
    await nc.publish("x", b"last")
    await nc.flush()
    await broker.stop()
    assert (await sub.next_msg(timeout=2)).data == b"last"
    await asyncio.wait_for(closed.wait(), 5)
    assert broker.clients == {}


def test_readme_embedding_example_runs() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "embed.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.splitlines() == ["b'HELLO'", "b'IN-PROCESS'"]


def test_readme_example_is_the_same_code() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "embed.py").read_text()
    body = example.split('"""', 2)[2].strip()
    assert body in readme
