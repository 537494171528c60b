"""Server->client frames, checked byte for byte and through nats-py's own client parser."""

from __future__ import annotations

import json

import pytest
from nats.protocol.parser import Parser as ClientParser
from natskern.kernel.protocol import encode
from natskern.kernel.protocol.encode import (
    err_line,
    hmsg_frame,
    hmsg_head,
    info_line,
    msg_frame,
    msg_head,
)


class ClientSide:
    """Stands in for nats-py's connection object: records what its parser dispatches."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    async def _process_msg(self, sid, subject, reply, payload, hdr) -> None:
        self.events.append(("msg", sid, bytes(subject), bytes(reply), payload, hdr))

    async def _process_err(self, text: str) -> None:
        self.events.append(("err", text))

    async def _process_ping(self) -> None:
        self.events.append(("ping",))

    async def _process_pong(self) -> None:
        self.events.append(("pong",))

    async def _process_info(self, info: dict) -> None:
        self.events.append(("info", info))


async def client_sees(*frames: bytes) -> list[tuple]:
    side = ClientSide()
    parser = ClientParser(side)
    await parser.parse(b"".join(frames))
    assert not parser.buf, "nats-py left bytes unparsed"
    return side.events


def test_exact_bytes() -> None:
    assert msg_frame(b"foo", b"1", b"", b"hello") == b"MSG foo 1 5\r\nhello\r\n"
    assert msg_frame(b"foo", b"1", b"_INBOX.a", b"") == b"MSG foo 1 _INBOX.a 0\r\n\r\n"
    hdr = b"NATS/1.0\r\nX-A: 1\r\n\r\n"
    assert hmsg_frame(b"a.b", b"8", b"r", hdr, b"hello") == (
        b"HMSG a.b 8 r 20 25\r\nNATS/1.0\r\nX-A: 1\r\n\r\nhello\r\n"
    )
    assert hmsg_frame(b"_INBOX.x", b"7", b"", b"NATS/1.0 503\r\n\r\n", b"") == (
        b"HMSG _INBOX.x 7 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
    )
    assert msg_head(b"foo", b"1", b"", 5) == b"MSG foo 1 5\r\n"
    assert msg_head(b"foo", b"1", b"r", 5) == b"MSG foo 1 r 5\r\n"
    assert hmsg_head(b"foo", b"1", b"", 16, 20) == b"HMSG foo 1 16 20\r\n"
    assert hmsg_head(b"foo", b"1", b"r", 16, 20) == b"HMSG foo 1 r 16 20\r\n"
    assert err_line("Unknown Protocol Operation") == b"-ERR 'Unknown Protocol Operation'\r\n"
    assert (encode.PING, encode.PONG, encode.OK) == (b"PING\r\n", b"PONG\r\n", b"+OK\r\n")


def test_info_line_is_compact_json_with_trailing_space() -> None:
    info = {"server_id": "NABC", "version": "2.9.10", "proto": 1, "headers": True, "port": 4222}
    line = info_line(info)
    assert line.startswith(b"INFO {") and line.endswith(b"} \r\n")
    assert b", " not in line and b": " not in line
    assert json.loads(line[5:-3]) == info


async def test_frames_as_nats_py_parses_them() -> None:
    hdr = b"NATS/1.0\r\nNats-Msg-Id: 1\r\n\r\n"
    events = await client_sees(
        info_line({"server_id": "N", "headers": True, "max_payload": 1048576}),
        msg_frame(b"foo.bar", b"1", b"", b"0123456789abcdef"),
        msg_frame(b"foo", b"22", b"_INBOX.abc.1", b"a\r\nb"),
        msg_frame(b"foo", b"3", b"", b""),
        hmsg_frame(b"foo", b"4", b"", hdr, b"data"),
        hmsg_frame(b"foo", b"5", b"r", hdr, b""),
        msg_head(b"big", b"6", b"", 3) + b"xyz\r\n",
        encode.PING,
        encode.PONG,
        encode.OK,
        err_line('Permissions Violation for Publish to "x"'),
    )
    assert events == [
        ("info", {"server_id": "N", "headers": True, "max_payload": 1048576}),
        ("msg", 1, b"foo.bar", b"", b"0123456789abcdef", None),
        ("msg", 22, b"foo", b"_INBOX.abc.1", b"a\r\nb", None),
        ("msg", 3, b"foo", b"", b"", None),
        ("msg", 4, b"foo", b"", b"data", hdr),
        ("msg", 5, b"foo", b"r", b"", hdr),
        ("msg", 6, b"big", b"", b"xyz", None),
        ("ping",),
        ("pong",),
        ("err", "'permissions violation for publish to \"x\"'"),
    ]


@pytest.mark.parametrize("reply", [b"", b"r.1"])
def test_head_plus_payload_equals_frame(reply: bytes) -> None:
    hdr = b"NATS/1.0\r\n\r\n"
    assert msg_head(b"s", b"1", reply, 3) + b"abc\r\n" == msg_frame(b"s", b"1", reply, b"abc")
    assert hmsg_head(b"s", b"1", reply, 12, 15) + hdr + b"abc\r\n" == hmsg_frame(
        b"s", b"1", reply, hdr, b"abc"
    )
