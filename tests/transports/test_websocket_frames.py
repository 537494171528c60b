"""The sans-IO WebSocket pieces: frame reader, frame writer, deflate, upgrade checks.

Every fixture stream is also fed split at every byte boundary (DESIGN §7).
"""

from __future__ import annotations

import os
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from natskern.plugins.transports import wsframes as wf
from natskern.plugins.transports.wshandshake import (
    HandshakeError,
    accept_key,
    parse_request,
    upgrade,
)


def client_frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False, mask: bool = True
) -> bytes:
    """A frame as a client sends it: masked with a random key."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, bit | n])
    elif n < 65536:
        head = bytes([b0, bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + wf.apply_mask(payload, key)


def deflate(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


class Sink:
    """Collects what a FrameReader hands out."""

    def __init__(self, require_mask: bool = True) -> None:
        self.data = bytearray()
        self.controls: list[tuple[int, bytes]] = []
        self.reader = wf.FrameReader(
            self.data.extend, lambda op, p: self.controls.append((op, p)), require_mask=require_mask
        )


def feed_split(stream: bytes, at: int, require_mask: bool = True) -> Sink:
    sink = Sink(require_mask)
    sink.reader.feed(stream[:at])
    sink.reader.feed(stream[at:])
    return sink


CONNECT = b'CONNECT {"verbose":false}\r\n'
COMPRESSED = deflate(b"PUB a 11\r\nhello world\r\n" * 3)

STREAM = b"".join(
    [
        client_frame(wf.OP_TEXT, CONNECT),
        client_frame(wf.OP_BINARY, b"SUB a ", fin=False),
        client_frame(wf.OP_PING, b"p1"),
        client_frame(wf.OP_CONTINUATION, b"1\r\n", fin=False),
        client_frame(wf.OP_CONTINUATION, b"", fin=True),
        client_frame(wf.OP_BINARY, COMPRESSED[:7], rsv1=True, fin=False),
        client_frame(wf.OP_PONG, b""),
        client_frame(wf.OP_CONTINUATION, COMPRESSED[7:]),
        client_frame(wf.OP_BINARY, b"x" * 300),  # a 16-bit length
        client_frame(wf.OP_CLOSE, struct.pack("!H", 1000) + b"bye"),
        client_frame(wf.OP_BINARY, b"after close is ignored"),
    ]
)
EXPECTED_DATA = CONNECT + b"SUB a 1\r\n" + b"PUB a 11\r\nhello world\r\n" * 3 + b"x" * 300
EXPECTED_CONTROLS = [
    (wf.OP_PING, b"p1"),
    (wf.OP_PONG, b""),
    (wf.OP_CLOSE, struct.pack("!H", 1000) + b"bye"),
]


def test_a_stream_split_at_every_byte_boundary_decodes_the_same() -> None:
    for at in range(len(STREAM) + 1):
        sink = feed_split(STREAM, at)
        assert bytes(sink.data) == EXPECTED_DATA, at
        assert sink.controls == EXPECTED_CONTROLS, at
        assert sink.reader.closed


@settings(max_examples=50, deadline=None)
@given(
    payload=st.binary(min_size=0, max_size=70_000),
    cuts=st.lists(st.integers(min_value=1, max_value=9000), max_size=20),
)
def test_large_frames_arrive_whole_however_the_reads_fall(payload: bytes, cuts: list[int]) -> None:
    stream = client_frame(wf.OP_BINARY, payload) + client_frame(wf.OP_PING, b"!")
    sink = Sink()
    pos = 0
    for cut in cuts:
        sink.reader.feed(stream[pos : pos + cut])
        pos += cut
    sink.reader.feed(stream[pos:])
    assert bytes(sink.data) == payload
    assert sink.controls == [(wf.OP_PING, b"!")]


@settings(max_examples=50, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=20_000),
    compress=st.booleans(),
    max_frame=st.sampled_from([0, wf.BROWSER_FRAME_SIZE, 7]),
)
def test_server_frames_decode_back_to_the_flushed_bytes(
    data: bytes, compress: bool, max_frame: int
) -> None:
    deflater = wf.Deflater() if compress else None
    frames = b"".join(wf.data_frames(data, max_frame=max_frame, deflater=deflater))
    sink = Sink(require_mask=False)  # server frames are unmasked
    sink.reader.feed(frames)
    assert bytes(sink.data) == data
    if max_frame and not compress:
        assert all(len(frame) <= max_frame for frame in wf.data_frames(data, max_frame=max_frame))


def test_compressed_messages_do_not_refer_to_earlier_ones() -> None:
    deflater = wf.Deflater()
    first = deflater.compress(b"a repeated phrase, a repeated phrase")
    second = deflater.compress(b"a repeated phrase, a repeated phrase")
    assert first == second  # no context carried over
    fresh = zlib.decompressobj(-15)
    assert fresh.decompress(second + wf.DEFLATE_TAIL) == b"a repeated phrase, a repeated phrase"


def test_a_zip_bomb_is_inflated_in_bounded_pieces() -> None:
    bomb = deflate(b"\0" * (8 * wf.INFLATE_CHUNK))
    pieces: list[int] = []
    reader = wf.FrameReader(lambda b: pieces.append(len(b)), lambda op, p: None)
    reader.feed(client_frame(wf.OP_BINARY, bomb, rsv1=True))
    assert sum(pieces) == 8 * wf.INFLATE_CHUNK
    assert max(pieces) <= wf.INFLATE_CHUNK


@pytest.mark.parametrize(
    ("stream", "message", "status"),
    [
        (client_frame(2, b"x", mask=False), "mask bit missing", 1002),
        (client_frame(9, b"x" * 126), "control frame length bigger than maximum", 1002),
        (client_frame(8, b"", fin=False), "control frame does not have final bit set", 1002),
        (client_frame(0, b"x"), "invalid continuation frame", 1002),
        (
            client_frame(2, b"x", fin=False) + client_frame(0, b"y", rsv1=True),
            "invalid continuation frame",
            1002,
        ),
        (
            client_frame(2, b"x", fin=False) + client_frame(1, b"y"),
            "new message started before final frame",
            1002,
        ),
        (client_frame(3, b""), "unknown opcode 3", 1002),
        (client_frame(11, b""), "unknown opcode 11", 1002),
        (bytes([0x82, 0xFF]) + b"\xff" * 8 + os.urandom(4), "invalid frame length", 1002),
        (client_frame(2, b"\xff\xff\xff garbage", rsv1=True), "invalid compressed payload", 1007),
    ],
    # Named by the error, not by the (randomly masked) bytes: pytest-xdist workers must
    # collect the same test IDs.
    ids=lambda value: "stream" if isinstance(value, bytes) else None,
)
def test_broken_streams(stream: bytes, message: str, status: int) -> None:
    sink = Sink()
    with pytest.raises(wf.WsProtocolError, match=message) as err:
        sink.reader.feed(stream)
    assert err.value.status == status


def test_close_payloads_fit_a_control_frame() -> None:
    assert wf.close_payload(1000, "bye") == b"\x03\xe8bye"
    long = wf.close_payload(1008, "x" * 300)
    assert len(long) == 125 and long.endswith(b"x...")
    assert wf.control_frame(wf.OP_CLOSE, long)[:2] == b"\x88\x7d"


def test_frame_headers_pick_the_shortest_length_encoding() -> None:
    assert wf.frame_header(wf.OP_BINARY, 125) == b"\x82\x7d"
    assert wf.frame_header(wf.OP_BINARY, 126) == b"\x82\x7e\x00\x7e"
    assert wf.frame_header(wf.OP_BINARY, 65536) == b"\x82\x7f" + (65536).to_bytes(8, "big")
    assert wf.frame_header(wf.OP_CONTINUATION, 1, fin=False) == b"\x00\x01"
    assert wf.frame_header(wf.OP_BINARY, 1, rsv1=True) == b"\xc2\x01"


@given(st.binary(max_size=200), st.binary(min_size=4, max_size=4))
def test_masking_twice_is_the_identity(data: bytes, key: bytes) -> None:
    masked = wf.apply_mask(data, key)
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert wf.apply_mask(masked, key) == data


# -- the upgrade request -------------------------------------------------------------------


def head(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


GOOD = (
    "GET /any/path HTTP/1.1",
    "Host: 127.0.0.1:8080",
    "Upgrade: WebSocket",
    "Connection: keep-alive, Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
)


def test_the_rfc_example_key() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_a_good_request_is_upgraded() -> None:
    result = upgrade(parse_request(head(*GOOD)), compression=False)
    assert result.response == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    assert not result.compress and not result.no_masking and not result.browser


def test_compression_browsers_and_no_masking_are_noticed() -> None:
    request = parse_request(
        head(
            *GOOD,
            "Sec-WebSocket-Extensions: x-other, permessage-deflate; client_max_window_bits",
            "User-Agent: Mozilla/5.0 (X11)",
            "Nats-No-Masking: true",
        )
    )
    result = upgrade(request, compression=True)
    assert result.compress and result.browser and result.no_masking
    assert (
        b"\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
        b"client_no_context_takeover\r\n"
    ) in result.response
    assert b"\r\nNats-No-Masking: true\r\n" in result.response
    assert not upgrade(request, compression=False).compress


@pytest.mark.parametrize(
    ("lines", "status", "reason"),
    [
        (("POST / HTTP/1.1", *GOOD[1:]), 405, "request method must be GET"),
        ((GOOD[0], *GOOD[2:]), 400, "'Host' missing"),
        ((*GOOD[:2], *GOOD[3:]), 400, "header 'Upgrade'"),
        ((*GOOD[:3], "Connection: close", *GOOD[4:]), 400, "header 'Connection'"),
        ((*GOOD[:4], GOOD[5]), 400, "key missing"),
        ((*GOOD[:5], "Sec-WebSocket-Version: 8"), 400, "invalid version"),
        (("GET /",), 400, "malformed request line"),
        ((*GOOD, "no colon here"), 400, "malformed header line"),
    ],
)
def test_bad_requests(lines: tuple[str, ...], status: int, reason: str) -> None:
    with pytest.raises(HandshakeError, match=reason) as err:
        upgrade(parse_request(head(*lines)), compression=False)
    assert err.value.status == status
    assert err.value.response.startswith(f"HTTP/1.1 {status} ".encode())
