"""Limits and liveness (issue #2 item 5), through nats-py and raw sockets.

Every test runs against natskern and, when installed, against the real
nats-server with the equivalent configuration: both must show the client the
same thing, error texts included.  Nothing here waits a fixed time to decide an
outcome: a test reads until the server answers or closes, and a timeout only
turns a hang into a failure.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.errors import MaxPayloadError

from tests.support.fixtures import over_pipe_too
from tests.support.servers import connect as connect_to
from tests.support.servers import raw_connect, serve
from tests.support.sync import settle

#: Upper bound for any single wait; reaching it means the server hung (a failure).
HANG = 5.0
QUIET_CONNECT = b'CONNECT {"verbose":false,"pedantic":false}\r\n'


async def open_raw(
    url: str, hello: bytes = b"", *, rcvbuf: int = 0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
    """A raw connection: INFO read and decoded, ``hello`` sent (and answered if it has PING)."""
    if rcvbuf and not url.startswith("pipe://"):  # the pipe's reader pauses at 128 KiB
        host, port = url.removeprefix("nats://").rsplit(":", 1)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect((host, int(port)))
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
    else:
        reader, writer = await raw_connect(url)
    line = await asyncio.wait_for(reader.readline(), HANG)
    assert line.startswith(b"INFO {") and line.endswith(b" \r\n")
    info = json.loads(line[5:])
    if hello:
        writer.write(hello)
        if b"PING" in hello:
            await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG)
    return reader, writer, info


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection on its own."""
    out = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(1 << 20), HANG)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    """Send ``data`` plus PING; return what came back up to and including the PONG."""
    writer.write(data + b"PING\r\n")
    return await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG)


async def connect(url: str, **kwargs: Any) -> nats.NATS:
    """nats-py without reconnects and with a silent error callback unless one is given."""

    async def ignore(_: Exception) -> None:
        return None

    kwargs.setdefault("error_cb", ignore)
    return await connect_to(url, allow_reconnect=False, connect_timeout=HANG, **kwargs)


async def round_trip(nc: nats.NATS, subject: str = "check.round.trip") -> None:
    """Assert a publish/subscribe round trip through ``nc`` works."""
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"still here")
    msg = await sub.next_msg(timeout=HANG)
    assert msg.data == b"still here"
    await sub.unsubscribe()


# -- max_payload -------------------------------------------------------------------------------


@over_pipe_too
async def test_custom_max_payload_is_advertised_and_enforced_by_the_client(kind: str) -> None:
    async with serve(kind, {"server": {"max_payload": 512}}, "max_payload: 512\n") as (url, _):
        _, writer, info = await open_raw(url)
        writer.close()
        assert info["max_payload"] == 512
        nc = await connect(url)
        assert nc.max_payload == 512
        sub = await nc.subscribe("p")
        await nc.publish("p", b"x" * 512)
        assert (await sub.next_msg(timeout=HANG)).data == b"x" * 512
        with pytest.raises(MaxPayloadError):
            await nc.publish("p", b"x" * 513)
        await nc.close()


@pytest.mark.parametrize(
    "op",
    [
        b"PUB big 513\r\n",  # payload over the limit
        b"PUB big reply 513\r\n",
        b"HPUB big 20 513\r\n",  # headers + payload over the limit
    ],
)
@over_pipe_too
async def test_max_payload_violation_closes_the_connection(kind: str, op: bytes) -> None:
    async with serve(kind, {"server": {"max_payload": 512}}, "max_payload: 512\n") as (url, _):
        other = await connect(url)
        reader, writer, _ = await open_raw(
            url, b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\nPING\r\n'
        )
        writer.write(op)  # the verdict comes on the control line, before any payload
        assert await read_until_closed(reader) == b"-ERR 'Maximum Payload Violation'\r\n"
        writer.close()
        await round_trip(other)
        await other.close()


@over_pipe_too
async def test_payload_exactly_at_the_limit_is_delivered(kind: str) -> None:
    async with serve(kind, {"server": {"max_payload": 512}}, "max_payload: 512\n") as (url, _):
        reader, writer, _ = await open_raw(url, QUIET_CONNECT + b"SUB big 1\r\nPING\r\n")
        got = await ask(reader, writer, b"PUB big 512\r\n" + b"y" * 512 + b"\r\n")
        assert got == b"MSG big 1 512\r\n" + b"y" * 512 + b"\r\nPONG\r\n"
        writer.close()


# -- max_control_line --------------------------------------------------------------------------


@over_pipe_too
async def test_max_control_line(kind: str) -> None:
    limit = 64
    config = {"server": {"max_control_line": limit}}
    async with serve(kind, config, f"max_control_line: {limit}\n") as (url, _):
        reader, writer, _ = await open_raw(url, QUIET_CONNECT + b"PING\r\n")
        # An argument of exactly the limit is fine ...
        subject = b"s" * (limit - 2)
        got = await ask(reader, writer, b"SUB " + subject + b" 1\r\n")
        assert got == b"PONG\r\n"
        # ... one byte more is not, and the connection closes.
        writer.write(b"SUB " + subject + b"x 2\r\n")
        assert await read_until_closed(reader) == b"-ERR 'maximum control line exceeded'\r\n"
        writer.close()


# -- max_subscriptions -------------------------------------------------------------------------


@over_pipe_too
async def test_max_subscriptions(kind: str) -> None:
    config = {"server": {"max_subscriptions": 2}}
    async with serve(kind, config, "max_subscriptions: 2\n") as (url, _):
        reader, writer, _ = await open_raw(url, QUIET_CONNECT + b"PING\r\n")
        got = await ask(reader, writer, b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n")
        assert got == b"-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n"
        # The connection stays open and the two subscriptions it has still work.
        got = await ask(reader, writer, b"PUB a 1\r\n1\r\nPUB b 1\r\n2\r\nPUB c 1\r\n3\r\n")
        assert got == b"MSG a 1 1\r\n1\r\nMSG b 2 1\r\n2\r\nPONG\r\n"
        # Unsubscribing frees a slot.
        got = await ask(reader, writer, b"UNSUB 1\r\nSUB c 3\r\nPUB c 1\r\n3\r\n")
        assert got == b"MSG c 3 1\r\n3\r\nPONG\r\n"
        writer.close()


# -- max_connections ---------------------------------------------------------------------------


@over_pipe_too
async def test_max_connections(kind: str) -> None:
    async with serve(kind, {"server": {"max_connections": 1}}, "max_connections: 1\n") as (
        url,
        broker,
    ):
        # (nats_server() probed the port with a connection nats-server frees asynchronously)
        first = await connect_when_free(url)
        # A raw client sees INFO, then the error, then the close.
        reader, writer, _ = await open_raw(url)
        assert await read_until_closed(reader) == b"-ERR 'maximum connections exceeded'\r\n"
        writer.close()
        # nats-py is refused too: with the server's text, or with a reset when the
        # server's close beats the client's CONNECT.
        with pytest.raises((nats.errors.Error, OSError)) as refused:
            await connect(url)
        if isinstance(refused.value, nats.errors.Error):
            assert "maximum connections exceeded" in str(refused.value)
        await round_trip(first)
        await first.close()
        if broker is not None:
            await wait_for(lambda: not broker.clients)
        # Once the slot is free a client gets in.
        second = await connect_when_free(url)
        await round_trip(second)
        await second.close()


async def connect_when_free(url: str) -> nats.NATS:
    """Connect, retrying while the server has not yet released a closed connection's slot."""
    for _ in range(100):
        try:
            return await connect(url)
        except (nats.errors.Error, OSError):
            await asyncio.sleep(0.05)
    pytest.fail("a freed connection slot was never given out again")


# -- auth timeout ------------------------------------------------------------------------------


@over_pipe_too
async def test_authentication_timeout(kind: str) -> None:
    config = {"auth": {"user": "a", "password": "b", "timeout": 0.2}}
    conf = "authorization { user: a, password: b, timeout: 0.2 }\n"
    async with serve(kind, config, conf) as (url, broker):
        # A client that authenticates in time is not affected by the timer ...
        authed = await connect(url, user="a", password="b")
        # ... while one that says nothing is cut once it runs out (the authed client's
        # timer would have fired before this one's).
        reader, writer, info = await open_raw(url)
        assert info["auth_required"] is True
        assert await read_until_closed(reader) == b"-ERR 'Authentication Timeout'\r\n"
        writer.close()
        assert authed.is_connected
        await round_trip(authed)
        await authed.close()
        if broker is not None:
            await wait_for(lambda: not broker.clients)


# -- ping_interval / ping_max ------------------------------------------------------------------


@over_pipe_too
async def test_stale_connection(kind: str) -> None:
    config = {"server": {"ping_interval": 0.1, "ping_max": 2}}
    conf = 'ping_interval: "100ms"\nping_max: 2\n'
    async with serve(kind, config, conf) as (url, broker):
        live = await connect(url)  # nats-py answers the server's PINGs
        reader, writer, _ = await open_raw(url, QUIET_CONNECT)
        # Two PINGs go unanswered; the third due one is the end.
        got = await read_until_closed(reader)
        assert got == b"PING\r\nPING\r\n-ERR 'Stale Connection'\r\n"
        writer.close()
        assert live.is_connected
        await round_trip(live)
        if broker is not None:
            (session,) = broker.clients.values()
            assert session.lang == "python3"
            assert session.pings_out <= 1  # it answers
        await live.close()


@over_pipe_too
async def test_answered_pings_keep_a_raw_client_alive(kind: str) -> None:
    config = {"server": {"ping_interval": 0.05, "ping_max": 1}}
    conf = 'ping_interval: "50ms"\nping_max: 1\n'
    async with serve(kind, config, conf) as (url, _):
        reader, writer, _ = await open_raw(url, QUIET_CONNECT + b"SUB a 1\r\n")
        # Answer ten PINGs, more than ping_max allows unanswered.
        for _ in range(10):
            assert await asyncio.wait_for(reader.readline(), HANG) == b"PING\r\n"
            writer.write(b"PONG\r\n")
        got = await ask(reader, writer, b"PUB a 2\r\nok\r\n")
        assert got.endswith(b"MSG a 1 2\r\nok\r\nPONG\r\n")
        writer.close()


# -- max_pending / slow consumer ---------------------------------------------------------------

MAX_PENDING = 256 * 1024
MSG_SIZE = 16 * 1024


def _flood_bytes() -> int:
    """Enough to fill the stuck socket's kernel buffers several times over, then some."""
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 * 1024 * 1024
    return 2 * wmem_max + 16 * MAX_PENDING


@over_pipe_too
async def test_slow_consumer_is_cut_while_everyone_else_flows(kind: str) -> None:
    config = {
        "server": {"max_pending": MAX_PENDING, "max_payload": MSG_SIZE, "write_deadline": 0.5}
    }
    conf = f'max_pending: {MAX_PENDING}\nmax_payload: {MSG_SIZE}\nwrite_deadline: "500ms"\n'
    async with serve(kind, config, conf) as (url, broker):
        # A raw subscriber with a tiny receive window that never reads.
        stuck_reader, stuck_writer, _ = await open_raw(
            url,
            b'CONNECT {"verbose":false,"name":"stuck"}\r\nSUB data 1\r\nPING\r\n',
            rcvbuf=4096,
        )
        stuck = None
        if broker is not None:
            (stuck,) = (c for c in broker.clients.values() if c.name == "stuck")
        healthy = await connect(url, name="healthy")
        sub = await healthy.subscribe("data")
        await settle(healthy)
        publisher = await connect(url, name="publisher")

        count = _flood_bytes() // MSG_SIZE
        body = b"x" * (MSG_SIZE - 8)
        received: list[bytes] = []
        peak = 0
        for i in range(count):
            await publisher.publish("data", b"%08d" % i + body)
            if i % 16 == 15:
                await publisher.flush(timeout=HANG)
                # Drain the healthy subscriber as we go (it must never fall far behind).
                while sub.pending_msgs:
                    received.append((await sub.next_msg(timeout=HANG)).data[:8])
                if broker is not None:
                    peak = max(peak, *(c.pending for c in broker.clients.values()))
        await publisher.flush(timeout=HANG)
        while len(received) < count:
            received.append((await sub.next_msg(timeout=HANG)).data[:8])

        # The healthy subscriber got every message, in order; the publisher is still fine.
        assert received == [b"%08d" % i for i in range(count)]
        assert publisher.is_connected and healthy.is_connected
        await round_trip(publisher)

        # The stuck one was cut: after what the kernel buffered, the stream simply ends.
        tail = await read_until_closed(stuck_reader)
        assert tail.startswith(b"MSG data 1 %d\r\n00000000" % MSG_SIZE)
        assert len(tail) < count * MSG_SIZE // 2
        assert b"-ERR" not in tail  # nats-server sends no -ERR for a slow consumer
        stuck_writer.close()

        if broker is not None:
            assert stuck is not None and stuck.closed
            assert stuck.close_reason.startswith("Slow Consumer")
            assert stuck.out == []  # the queued frames were dropped, not kept
            assert broker.stats_slow_consumers == 1
            # Memory stayed bounded: no session ever held more than max_pending (plus one
            # read's worth of frames queued before the flush that cuts it).
            assert peak <= MAX_PENDING + 256 * 1024
            assert {c.name for c in broker.clients.values()} == {"healthy", "publisher"}
        await publisher.close()
        await healthy.close()


async def wait_for(condition: Any, timeout: float = HANG) -> None:
    """Poll ``condition()`` until true (the broker finishes closes asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition never became true")
        await asyncio.sleep(0.01)
