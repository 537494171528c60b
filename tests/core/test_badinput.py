"""Bad input on the wire (issue #2 item 5): garbage, half-sent and over-long messages,
clients that vanish mid-message, giant control lines.

For each case the bad client gets exactly what nats-server sends it (the same
``-ERR``, or a silent close, or nothing while it is still mid-message), nothing
partial reaches a subscriber, the session is cleaned up, and clients connected
at the same time keep working.  The event loop's exception handler must never
be called: a parse error is handled, not raised into the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from natskern import Broker
from tests.support.servers import NATS_SERVER, nats_server, natskern, raw_connect
from tests.support.servers import serve as serve_either
from tests.support.sync import settle

HANG = 5.0
CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'
UNKNOWN = b"-ERR 'Unknown Protocol Operation'\r\n"
CONTROL_LINE = b"-ERR 'maximum control line exceeded'\r\n"


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything that reaches the running loop's exception handler during the test."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


def serve(kind: str) -> contextlib.AbstractAsyncContextManager[tuple[str, Broker | None]]:
    """A default natskern or nats-server: (url, broker or None)."""
    return serve_either(kind, {}, None)


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection on its own."""
    out = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(1 << 16), HANG)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


async def wait_for(condition: Any) -> None:
    """Poll ``condition()`` until true; the timeout only turns a hang into a failure."""
    deadline = asyncio.get_running_loop().time() + HANG
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition never became true")
        await asyncio.sleep(0.01)


class Watcher:
    """Two nats-py clients connected before the bad one: a subscriber to ``foo`` (the
    subject every bad input publishes to) that also makes requests, and a responder."""

    def __init__(self, nc: nats.NATS, sub: Any, responder: nats.NATS) -> None:
        self.nc = nc
        self.sub = sub
        self.responder = responder

    @classmethod
    async def start(cls, url: str) -> Watcher:
        """Connect both and subscribe."""
        responder = await nats.connect(url, allow_reconnect=False)

        async def answer(msg: Any) -> None:
            await msg.respond(b"pong:" + msg.data)

        await responder.subscribe("svc", cb=answer)
        nc = await nats.connect(url, allow_reconnect=False)
        sub = await nc.subscribe("foo")
        await settle(responder, nc)  # (nats-py's flush() is no barrier for a SUB)
        return cls(nc, sub, responder)

    async def received_before_marker(self) -> list[bytes]:
        """Payloads that reached ``foo`` before a marker published now (order is kept)."""
        await self.nc.publish("foo", b"marker")
        got = []
        while True:
            data = (await self.sub.next_msg(timeout=HANG)).data
            if data == b"marker":
                return got
            got.append(data)

    async def round_trip(self) -> None:
        """A request from one connection answered on the other."""
        reply = await self.nc.request("svc", b"ping", timeout=HANG)
        assert reply.data == b"pong:ping"

    async def close(self) -> None:
        """Disconnect both."""
        await self.nc.close()
        await self.responder.close()


# (name, bytes after INFO, what the server answers, whether it then closes,
#  payloads a subscriber to "foo" sees)
CLOSING_CASES: list[tuple[str, bytes, bytes, list[bytes]]] = [
    ("garbage", b"\x00\x01\x02\xff\r\n", UNKNOWN, []),
    ("garbage_no_newline", b"\xde\xad\xbe\xef", UNKNOWN, []),
    ("http_request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", UNKNOWN, []),
    ("tls_client_hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", UNKNOWN, []),
    ("garbage_after_good", CONNECT + b"PUB foo 2\r\nok\r\n\x7f\x7f\r\n", UNKNOWN, [b"ok"]),
    ("payload_longer_than_declared", CONNECT + b"PUB foo 2\r\nhello\r\n", UNKNOWN, []),
    ("payload_without_crlf", CONNECT + b"PUB foo 2\r\nhiXY", UNKNOWN, []),
    (
        "hpub_longer_than_declared",
        CONNECT + b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhello\r\n",
        UNKNOWN,
        [],
    ),
    ("msg_from_client", CONNECT + b"MSG foo 1 2\r\nhi\r\n", UNKNOWN, []),
    ("giant_control_line", CONNECT + b"PUB " + b"a" * 5000, CONTROL_LINE, []),
    ("giant_control_line_complete", CONNECT + b"SUB " + b"b" * 5000 + b" 1\r\n", CONTROL_LINE, []),
    ("giant_connect", b'CONNECT {"name":"' + b"n" * 5000 + b'"}\r\n', CONTROL_LINE, []),
    (
        "giant_after_good",
        CONNECT + b"PUB foo 1\r\n1\r\nPUB foo 1 " + b" " * 5000 + b"x",
        CONTROL_LINE,
        [b"1"],
    ),
    ("pub_size_not_a_number", CONNECT + b"PUB foo 1x\r\nz\r\n", b"", []),
    ("pub_size_ten_digits", CONNECT + b"PUB foo 1000000000\r\n", b"", []),
    ("pub_no_size", CONNECT + b"PUB foo\r\n", b"", []),
    ("hpub_header_bigger_than_total", CONNECT + b"HPUB foo 20 10\r\n", b"", []),
    ("sub_no_sid", CONNECT + b"SUB foo\r\n", b"", []),
    ("connect_not_json", b"CONNECT {{{\r\n", b"", []),
    ("connect_json_array", b"CONNECT [1,2]\r\n", b"", []),
    ("client_err", CONNECT + b"-ERR 'boom'\r\n", b"", []),
    ("info_not_an_object", CONNECT + b"INFO 42\r\n", b"", []),
]


@pytest.mark.parametrize(
    ("data", "answer", "delivered"),
    [pytest.param(d, a, v, id=n) for n, d, a, v in CLOSING_CASES],
)
async def test_bad_input_closes_only_that_client(
    kind: str, loop_errors: list, data: bytes, answer: bytes, delivered: list[bytes]
) -> None:
    async with serve(kind) as (url, broker):
        watcher = await Watcher.start(url)
        reader, writer = await raw_connect(url)
        await reader.readline()
        writer.write(data)
        assert await read_until_closed(reader) == answer
        writer.close()
        assert await watcher.received_before_marker() == delivered
        await watcher.round_trip()
        if broker is not None:
            await wait_for(lambda: len(broker.clients) == 2)
        await watcher.close()
    assert loop_errors == []


# Streams cut off while the server still waits for more: it answers nothing, and
# what was cut off is never delivered.
HALF_SENT: list[tuple[str, bytes]] = [
    ("half_payload", CONNECT + b"PUB foo 10\r\nhello"),
    ("payload_missing_lf", CONNECT + b"PUB foo 5\r\nhello\r"),
    ("half_control_line", CONNECT + b"PUB foo 1"),
    ("half_op", CONNECT + b"PU"),
    ("half_headers", CONNECT + b"HPUB foo 22 27\r\nNATS/1.0\r\nX-A: 1"),
    ("half_connect", b'CONNECT {"verbose":'),
    ("big_payload_cut", CONNECT + b"PUB foo 1000000\r\n" + b"z" * 300000),
]


@pytest.mark.parametrize("vanish", ["close", "reset"])
@pytest.mark.parametrize("data", [pytest.param(d, id=n) for n, d in HALF_SENT])
async def test_client_gone_mid_message(
    kind: str, loop_errors: list, data: bytes, vanish: str
) -> None:
    async with serve(kind) as (url, broker):
        watcher = await Watcher.start(url)
        reader, writer = await raw_connect(url)
        assert (await reader.readline()).startswith(b"INFO {")
        writer.write(data)
        await writer.drain()
        await watcher.round_trip()
        if broker is not None:
            # Make sure natskern has read the bytes (a RST could drop unread ones).
            await wait_for(lambda: len(broker.clients) == 3)
            (session,) = (c for c in broker.clients.values() if c.lang != "python3")
            if data.startswith(CONNECT):
                await wait_for(lambda: session.connect_received)
        if vanish == "reset":  # gone with a RST, no FIN
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()
        if broker is not None:
            await wait_for(lambda: len(broker.clients) == 2)
        assert await watcher.received_before_marker() == []
        await watcher.round_trip()
        await watcher.close()
    assert loop_errors == []


async def test_payload_split_across_many_writes_is_delivered_whole(
    kind: str, loop_errors: list
) -> None:
    payload = bytes(range(256)) * 64 + b"\r\n\r\nPUB x 1\r\n"  # bytes that look like protocol
    frame = CONNECT + b"PUB foo %d\r\n" % len(payload) + payload + b"\r\nPING\r\n"
    async with serve(kind) as (url, _):
        watcher = await Watcher.start(url)
        reader, writer = await raw_connect(url)
        await reader.readline()
        for i in range(0, len(frame), 7):
            writer.write(frame[i : i + 7])
            await writer.drain()
        assert await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG) == b"PONG\r\n"
        assert await watcher.received_before_marker() == [payload]
        writer.close()
        await watcher.close()
    assert loop_errors == []


async def test_a_second_connect_changes_only_what_it_names(kind: str, loop_errors: list) -> None:
    """Found by the fuzzer: options left out of a later CONNECT keep their values."""
    data = (
        CONNECT  # verbose off
        + b"CONNECT {}\r\nSUB foo 1\r\n"  # still off: no +OK
        + b'CONNECT {"verbose":true}\r\nSUB bar 2\r\n'  # on: +OK, +OK
        + b'CONNECT {"name":"x"}\r\nPING\r\n'  # still on
    )
    async with serve(kind) as (url, _):
        reader, writer = await raw_connect(url)
        await reader.readline()
        writer.write(data)
        got = await asyncio.wait_for(reader.readuntil(b"PONG\r\n"), HANG)
        assert got == b"+OK\r\n+OK\r\n+OK\r\nPONG\r\n"
        writer.close()
    assert loop_errors == []


def fuzz_streams(count: int, seed: int) -> list[bytes]:
    """Streams stitched from protocol fragments, valid and broken, in random order."""
    rng = random.Random(seed)
    fragments = [
        b"PUB foo 3\r\nabc\r\n",
        b"pub foo 3\r\nabc\r\n",
        b"PUB foo r 0\r\n\r\n",
        b"HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n",
        b"SUB foo 1\r\n",
        b"SUB foo q 2\r\n",
        b"UNSUB 1\r\n",
        b"UNSUB 2 5\r\n",
        b"PING\r\n",
        b"PONG\r\n",
        b"+OK\r\n",
        b"SUB foo..bar 3\r\n",
        b"PUB foo 1\r\n",
        b"\r\n",
        b" ",
        b"\t",
        b"PUB",
        b"X",
        b"\x00",
        b"\xff\xfe",
        b"9999999999",
        b"HPUB foo 5 3\r\n",
        b"CONNECT {}\r\n",
        b'CONNECT {"protocol":5}\r\n',
    ]
    streams = []
    for _ in range(count):
        parts = [CONNECT]
        for _ in range(rng.randint(1, 12)):
            parts.append(rng.choice(fragments))
        if rng.random() < 0.3:
            parts.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
        streams.append(b"".join(parts))
    return streams


async def test_fuzzed_streams_never_reach_the_event_loop(loop_errors: list) -> None:
    """Many broken sessions, some at once, some cut off: the broker stays healthy."""
    async with natskern() as broker:
        url = broker.listen_urls[0]
        watcher = await Watcher.start(url)

        async def one(data: bytes, cut: bool) -> None:
            reader, writer = await raw_connect(url)
            await reader.readline()
            writer.write(data)
            if cut:
                writer.transport.abort()
            else:
                writer.write_eof()
                await read_until_closed(reader)
                writer.close()

        streams = fuzz_streams(300, seed=2)
        for start in range(0, len(streams), 30):
            batch = streams[start : start + 30]
            await asyncio.gather(*(one(d, i % 3 == 0) for i, d in enumerate(batch)))
        await wait_for(lambda: len(broker.clients) == 2)
        # Every subscription of those sessions is gone from the trie.
        result = broker.global_account.sublist.match(b"foo")
        (owner,) = (sub.client for sub in result.psubs)  # the watcher's, nobody else's
        assert owner in broker.clients.values() and not owner.closed
        assert not result.qsubs
        await watcher.round_trip()
        await watcher.close()
    assert loop_errors == []


@pytest.mark.parametrize("seed", range(12))
async def test_fuzzed_stream_same_answer_as_nats_server(seed: int, loop_errors: list) -> None:
    """A broken stream, half-closed after sending: the whole answer matches nats-server's."""
    if NATS_SERVER is None:
        pytest.skip("nats-server is not installed")
    (data,) = fuzz_streams(1, seed=1000 + seed)

    async def answer(url: str) -> bytes:
        reader, writer = await raw_connect(url)
        await reader.readline()
        writer.write(data)
        writer.write_eof()  # the server closes after handling everything sent
        out = await read_until_closed(reader)
        writer.close()
        return out

    async with natskern() as broker:
        ours = await answer(broker.listen_urls[0])
    with nats_server() as url:
        theirs = await answer(url)
    assert ours == theirs, data
    assert loop_errors == []
