"""PubAcks of pipelined publishes, byte for byte: natskern vs nats-server 2.15.1.

One raw socket writes a burst of publishes in one write (runs to one reply inbox, unique
reply inboxes, messages with headers, a duplicate ``Nats-Msg-Id``, publishes without a
reply, on two subjects of the stream) and reads the acknowledgements as MSG frames.  The
frames (subjects, sids, sizes, payloads, their order) must be the same bytes on both
servers: natskern answers such a burst in batches (one buffer for the acks to one inbox,
staged at once while the stream is idle), which must not show on the wire.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats

from tests.jetstream.test_api_e2e import jetstream_broker

HANG = 10.0
CONNECT = b'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n'


def burst(round_: int) -> tuple[bytes, int]:
    """The publishes of one write, and how many of them want an ack."""
    out = []
    acks = 0
    for i in range(40):  # a run: one subject, one reply
        out.append(b"PUB ack.a _INBOX.t.r 5\r\nr%04d\r\n" % i)
        acks += 1
    for i in range(30):  # unique replies, alternating subjects
        subject = b"ack.b" if i % 2 else b"ack.a"
        out.append(b"PUB %s _INBOX.t.%d.%d 4\r\nu%03d\r\n" % (subject, round_, i, i))
        acks += 1
    out.append(b"PUB ack.a 2\r\nno\r\n")  # no reply: no ack
    hdr = b"NATS/1.0\r\nNats-Msg-Id: id-%d\r\n\r\n" % round_
    for _ in range(2):  # the second is a duplicate of the first
        out.append(b"HPUB ack.b _INBOX.t.h %d %d\r\n%sdup\r\n" % (len(hdr), len(hdr) + 3, hdr))
        acks += 1
    for i in range(10):
        out.append(b"PUB ack.b _INBOX.t.r 5\r\ns%04d\r\n" % i)
        acks += 1
    return b"".join(out), acks


async def read_frames(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    """``count`` MSG frames, each as its bytes (control line and payload)."""
    frames = []
    while len(frames) < count:
        line = await asyncio.wait_for(reader.readline(), HANG)
        if line in (b"PING\r\n", b"PONG\r\n"):
            continue
        assert line.startswith(b"MSG "), line
        size = int(line.split()[-1])
        payload = await asyncio.wait_for(reader.readexactly(size + 2), HANG)
        frames.append(line + payload)
    return frames


async def acks_of(url: str, stream: str) -> list[bytes]:
    nc = await nats.connect(url)
    try:
        body = {"name": stream, "subjects": ["ack.a", "ack.b"], "duplicate_window": 60_000_000_000}
        msg = await nc.request(f"$JS.API.STREAM.CREATE.{stream}", json.dumps(body).encode())
        assert "error" not in json.loads(msg.data)
        host, port = url.removeprefix("nats://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await reader.readline()  # INFO
            writer.write(CONNECT + b"SUB _INBOX.t.> 1\r\nPING\r\n")
            assert await asyncio.wait_for(reader.readline(), HANG) == b"PONG\r\n"
            frames = []
            for round_ in range(3):
                data, count = burst(round_)
                writer.write(data)
                frames += await read_frames(reader, count)
            return frames
        finally:
            writer.close()
            await nc.request(f"$JS.API.STREAM.DELETE.{stream}", b"")
    finally:
        await nc.close()


async def test_pipelined_acks_are_the_bytes_nats_server_sends(
    js_server_url: str, tmp_path: Path
) -> None:
    theirs = await acks_of(js_server_url, "ACKS")
    async with jetstream_broker(tmp_path) as (broker, _):
        ours = await acks_of(broker.listen_urls[0], "ACKS")
    assert len(ours) == len(theirs) == 3 * 82
    assert b'"duplicate": true' in b"".join(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"ack {i}"
