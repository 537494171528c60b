"""The transport seam, proven by a third-party transport (tests/plugins/pipe_transport.py).

The pipe plugin uses public names only and registers like any outside package.
The core protocol suites run over it too (``any_url``, ``@over_pipe_too`` and the
byte-for-byte comparison with nats-server in tests/core); this module checks
what only a transport can show: how it is registered and configured, that every
byte pipe the tree ships satisfies :class:`Connection`, and that the session's
flow control (publisher back-pressure, write flow control, the write deadline)
works through the seam alone.
"""

from __future__ import annotations

import ast
import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from natskern.kernel.core.transport import Connection, Listener, SessionProtocol
from natskern.plugins.transports._protocol import _HandshakeTransport
from natskern.plugins.transports.websocket import WebSocketTransport

from natskern import Broker, ConfigError
from tests.plugins import pipe_transport
from tests.support.servers import natskern, natskern_over_pipe
from tests.support.transport import RecordingTransport

HANG = 5.0
QUIET = b'CONNECT {"verbose":false,"pedantic":false,"name":"%s"}\r\n'
MSG = re.compile(rb"MSG (\S+) (\S+) (\d+)\r\n")


async def raw(url: str, name: bytes, lines: bytes = b"") -> tuple[Any, Any]:
    """A raw pipe client named ``name`` that has sent ``lines`` and had them processed."""
    reader, writer = await pipe_transport.open_pipe(url)
    assert (await asyncio.wait_for(reader.readline(), HANG)).startswith(b"INFO {")
    writer.write(QUIET % name + lines + b"PING\r\n")
    assert await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG) == b"PONG\r\n"
    return reader, writer


def session(broker: Broker, name: str) -> Any:
    """The broker's session of the client called ``name``."""
    (found,) = (c for c in broker.clients.values() if c.name == name)
    return found


async def until(condition: Any, what: str) -> None:
    """Poll ``condition()`` until true; fail after HANG seconds."""
    deadline = asyncio.get_running_loop().time() + HANG
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"never happened: {what}")
        await asyncio.sleep(0.002)


# -- registration and configuration -------------------------------------------------------------


async def test_registered_and_configured_like_any_third_party_transport() -> None:
    async with Broker(
        {"tcp": {"port": 0}, "pipe": {"name": "seam"}}, plugins=[pipe_transport]
    ) as broker:
        assert "pipe" in dict(broker.transports.items())
        assert "pipe" in broker.schema["properties"]
        assert broker.listen_urls[-1] == "pipe://seam"
        (listener,) = (t for t in broker.listeners if t.name == "pipe")
        assert isinstance(listener, pipe_transport.PipeListener)
        # The TCP listener and the pipe reach the same router.
        sub_reader, sub_writer = await raw("pipe://seam", b"sub", b"SUB both 1\r\n")
        tcp_reader, tcp_writer = await asyncio.open_connection(
            *broker.listen_urls[0].removeprefix("nats://").rsplit(":", 1)
        )
        await tcp_reader.readline()
        tcp_writer.write(QUIET % b"tcp" + b"PUB both 3\r\nhi!\r\nPING\r\n")
        await tcp_reader.readuntil(b"PONG\r\n")
        assert await asyncio.wait_for(sub_reader.readuntil(b"hi!\r\n"), HANG) == (
            b"MSG both 1 3\r\nhi!\r\n"
        )
        tcp_writer.close()
        sub_writer.close()
    with pytest.raises(ConfigError, match="pipe"):
        Broker({"pipe": {"bogus": 1}}, plugins=[pipe_transport])
    async with natskern({"pipe": {"enabled": False}}, plugins=[pipe_transport]) as broker:
        assert [t.name for t in broker.listeners] == ["tcp"]


async def test_a_closed_listener_refuses_new_connections_and_keeps_open_ones() -> None:
    async with natskern_over_pipe() as (url, broker):
        reader, writer = await raw(url, b"old", b"SUB x 1\r\n")
        (listener,) = broker.listeners
        await listener.close()
        with pytest.raises(ConnectionRefusedError):
            await pipe_transport.open_pipe(url)
        writer.write(b"PUB x 2\r\nok\r\nPING\r\n")
        assert await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG) == (
            b"MSG x 1 2\r\nok\r\nPONG\r\n"
        )


async def test_peername_becomes_the_session_address() -> None:
    async with natskern_over_pipe() as (url, broker):
        reader, writer = await pipe_transport.open_pipe(url)
        info = await asyncio.wait_for(reader.readline(), HANG)
        assert b'"client_ip":"pipe"' in info
        (client,) = broker.clients.values()
        assert (client.host, client.port) == ("pipe", 1)
        assert client.describe()["ip"] == "pipe"
        writer.close()
        await until(lambda: not broker.clients, "the session ends with its pipe")
        assert client.close_reason == "Client Closed"


def test_the_plugin_uses_public_names_only() -> None:
    tree = ast.parse(Path(pipe_transport.__file__).read_text())
    ours = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("natskern")
    }
    assert ours == {"natskern", "natskern.kernel.core.transport"}
    stdlib = set(sys.stdlib_module_names)
    others = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("natskern")
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert others - stdlib - {"__future__"} == {"nats"}  # the client side: nats-py


# -- the Connection protocol --------------------------------------------------------------------


async def test_every_byte_pipe_of_the_tree_is_a_connection() -> None:
    async with natskern_over_pipe() as (url, broker):
        _, writer = await raw(url, b"p")
        pipe_end = session(broker, "p").transport
        assert isinstance(pipe_end, pipe_transport.PipeEnd)
    async with natskern() as broker:
        reader, writer = await asyncio.open_connection(
            *broker.listen_urls[0].removeprefix("nats://").rsplit(":", 1)
        )
        await reader.readline()
        (client,) = broker.clients.values()
        socket_transport = client.transport
        writer.close()
    pipes = [
        pipe_end,
        socket_transport,  # asyncio's (or uvloop's) own transport
        WebSocketTransport(socket_transport, compress=False, browser=False),
        _HandshakeTransport(socket_transport),
        RecordingTransport(),
    ]
    for pipe in pipes:
        assert isinstance(pipe, Connection), type(pipe)
    assert not isinstance(object(), Connection)


def test_listener_and_adapter_are_importable_from_the_kernel() -> None:
    from natskern.kernel import server

    assert server.Transport is Listener  # the former name stays
    assert issubclass(SessionProtocol, asyncio.Protocol)
    listener: Listener = pipe_transport.PipeListener.__new__(pipe_transport.PipeListener)
    assert listener.name == "pipe"


# -- flow control through the seam --------------------------------------------------------------


def flood(subject: bytes, count: int, size: int) -> bytes:
    """``count`` PUBs of ``size`` bytes each, numbered in their first 8 bytes."""
    body = b"." * (size - 8)
    return b"".join(b"PUB %s %d\r\n%08d%s\r\n" % (subject, size, i, body) for i in range(count))


async def read_numbers(reader: asyncio.StreamReader, count: int) -> list[int]:
    """The numbers of the next ``count`` MSGs."""
    got = []
    while len(got) < count:
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), HANG)
        if line == b"PING\r\n":
            continue
        m = MSG.fullmatch(line)
        assert m, line
        got.append(int((await reader.readexactly(int(m.group(3)) + 2))[:8]))
    return got


async def test_a_publisher_is_paused_while_its_receiver_is_full_and_resumed_after() -> None:
    # stall_at = max_pending / 2 = 1 MiB: past it the publisher's reads stop, so nothing
    # reaches max_pending and nobody is cut; once the receiver reads, everything flows.
    config = {"server": {"max_pending": 2 * 1024 * 1024}}
    async with natskern_over_pipe(config) as (url, broker):
        # (keep the writers: a StreamWriter that is garbage-collected closes its transport)
        sub_reader, sub_writer = await raw(url, b"sub", b"SUB bp 1\r\n")
        _, pub_writer = await raw(url, b"pub")
        publisher, receiver = session(broker, "pub"), session(broker, "sub")
        count, size = 4000, 1024
        pub_writer.write(flood(b"bp", count, size))  # ~4 MiB; the sub reads nothing yet
        publisher_end = publisher.transport
        await until(lambda: publisher_end.reading_paused, "the publisher is paused")
        assert receiver.write_paused_at > 0  # the receiver's pipe is over its high-water mark
        assert publisher_end.pauses >= 1
        assert await read_numbers(sub_reader, count) == list(range(count))
        await until(lambda: not publisher_end.reading_paused, "the publisher is resumed")
        assert publisher_end.resumes == publisher_end.pauses
        await until(lambda: receiver.write_paused_at == 0, "the receiver's pipe drained")
        assert broker.stats_slow_consumers == 0
        assert not receiver.closed and not publisher.closed
        assert receiver.pending < receiver.max_pending
        sub_writer.close()
        pub_writer.close()


async def test_a_receiver_paused_past_the_write_deadline_is_cut() -> None:
    config = {"server": {"write_deadline": 0.2}}  # max_pending 64 MiB: stall_at 4 MiB
    async with natskern_over_pipe(config) as (url, broker):
        stuck_reader, stuck_writer = await raw(url, b"stuck", b"SUB wd 1\r\n")
        ok_reader, ok_writer = await raw(url, b"pub")
        stuck, publisher = session(broker, "stuck"), session(broker, "pub")
        ok_writer.write(flood(b"wd", 6000, 1024) + b"PING\r\n")  # ~6 MiB, never read by stuck
        await until(lambda: stuck.closed, "the stuck receiver is cut")
        assert stuck.close_reason == "Slow Consumer (Write Deadline)"
        assert broker.stats_slow_consumers == 1
        # The publisher carries on: its PING is answered once its reads resume.
        assert (await asyncio.wait_for(ok_reader.readuntil(b"PONG\r\n"), HANG)).endswith(
            b"PONG\r\n"
        )
        assert not publisher.closed
        # The stuck reader gets what was delivered before the cut, then the end of the stream.
        tail = await asyncio.wait_for(stuck_reader.read(), HANG)
        assert tail.startswith(b"MSG wd 1 1024\r\n00000000")
        assert b"-ERR" not in tail  # nats-server sends no -ERR for a slow consumer
        stuck_writer.close()
        ok_writer.close()
