"""RFC 6455 WebSocket framing for the server side, sans-IO (nats-server's websocket.go).

NATS over WebSocket is a byte stream carried in binary (or text) messages:
message boundaries mean nothing to the protocol parser.  So the
:class:`FrameReader` never reassembles messages; it hands every piece of
payload to ``on_data`` as soon as it has unmasked it, whatever frame or
fragment it came in, and answers control frames through ``on_control``.
Outgoing data is framed by :func:`data_frames`: one unmasked binary message
per flush, like nats-server (split into 4 KiB messages for browsers, which
cope better with small frames).

``permessage-deflate`` (RFC 7692) is supported the way nats-server negotiates
it: no context takeover in either direction, so every message is compressed
and decompressed on its own.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

try:  # the C routine of the ``websockets`` package, ~100x faster on large payloads
    from websockets.speedups import apply_mask as _c_apply_mask
except ImportError:  # pragma: no cover - websockets is optional
    _c_apply_mask = None

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

FIN = 0x80
RSV1 = 0x40
MASK = 0x80

#: Longest payload a control frame may carry.
MAX_CONTROL_PAYLOAD = 125
#: Frame size nats-server uses towards browsers.
BROWSER_FRAME_SIZE = 4096

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

#: The bytes a sender strips from the end of every compressed message (RFC 7692 §7.2.1).
DEFLATE_TAIL = b"\x00\x00\xff\xff"
#: Largest piece of decompressed output produced at once (bounds memory per read).
INFLATE_CHUNK = 256 * 1024

_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")


class WsProtocolError(Exception):
    """The client broke RFC 6455; ``status`` goes into the close frame with the message."""

    def __init__(self, message: str, status: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.status = status


def apply_mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte masking ``key`` repeated (masking and unmasking alike)."""
    if _c_apply_mask is not None:
        return _c_apply_mask(data, key)
    n = len(data)
    if not n:
        return b""
    stream = (key * ((n + 3) >> 2))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """The header of an unmasked (server) frame carrying ``length`` payload bytes."""
    b0 = opcode | (FIN if fin else 0) | (RSV1 if rsv1 else 0)
    if length < 126:
        return bytes((b0, length))
    if length < 65536:
        return bytes((b0, 126)) + _U16.pack(length)
    return bytes((b0, 127)) + _U64.pack(length)


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A complete control frame (close, ping, pong); the payload is cut to 125 bytes."""
    payload = payload[:MAX_CONTROL_PAYLOAD]
    return bytes((FIN | opcode, len(payload))) + payload


def close_payload(status: int, reason: str = "") -> bytes:
    """A close frame's payload: the status code and a reason cut with '...' to fit 125 bytes."""
    body = reason.encode("utf-8", "replace")
    if len(body) > MAX_CONTROL_PAYLOAD - 2:
        body = body[: MAX_CONTROL_PAYLOAD - 5] + b"..."
    return _U16.pack(status) + body


def data_frames(
    data: bytes, *, max_frame: int = 0, deflater: Deflater | None = None
) -> list[bytes]:
    """Frame one flush of output: one binary message, or 4 KiB pieces for browsers.

    With a ``deflater`` the whole flush is one compressed message (RSV1 set on
    its first frame), fragmented into continuation frames when ``max_frame``
    is set; uncompressed output is cut into separate messages instead, as
    nats-server does.
    """
    if deflater is not None:
        payload = deflater.compress(data)
        if not max_frame or len(payload) <= max_frame:
            return [frame_header(OP_BINARY, len(payload), rsv1=True), payload]
        frames: list[bytes] = []
        last = len(payload) - max_frame
        for start in range(0, len(payload), max_frame):
            piece = payload[start : start + max_frame]
            opcode = OP_BINARY if start == 0 else OP_CONTINUATION
            frames += (
                frame_header(opcode, len(piece), fin=start >= last, rsv1=start == 0),
                piece,
            )
        return frames
    if not max_frame or len(data) <= max_frame:
        return [frame_header(OP_BINARY, len(data)), data]
    frames = []
    for start in range(0, len(data), max_frame):
        piece = data[start : start + max_frame]
        frames += (frame_header(OP_BINARY, len(piece)), piece)
    return frames


class Deflater:
    """permessage-deflate for outgoing messages, without context takeover."""

    def __init__(self, level: int = 1) -> None:
        # Level 1 is Go's flate.BestSpeed, what nats-server compresses with.
        self._z = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        """One message's compressed payload (the trailing 00 00 ff ff removed).

        A full flush ends every message on a byte boundary with a reset
        dictionary, so no message refers back to an earlier one.
        """
        out = self._z.compress(data) + self._z.flush(zlib.Z_FULL_FLUSH)
        return out[:-4] if out.endswith(DEFLATE_TAIL) else out


class FrameReader:
    """Decodes the frames a client sends and streams their payload out.

    ``on_data(bytes)`` receives unmasked (and inflated) payload in order;
    ``on_control(opcode, payload)`` receives each complete close, ping or
    pong frame.  :meth:`feed` raises :class:`WsProtocolError` on a broken
    stream; after a close frame, or once :attr:`closed` is set, the rest of
    the input is ignored.
    """

    def __init__(
        self,
        on_data: Callable[[bytes], None],
        on_control: Callable[[int, bytes], None],
        *,
        require_mask: bool = True,
    ) -> None:
        self.on_data = on_data
        self.on_control = on_control
        self.require_mask = require_mask
        self.closed = False
        self._tail = b""  # an incomplete header or control frame from the last read
        self._remaining = 0  # payload bytes still to come in the current data frame
        self._key = b""  # its masking key, rotated to the next byte's phase ('' = unmasked)
        self._fin = True  # whether the current data frame ends its message
        self._in_message = False  # a fragmented message is open
        self._inflater: zlib._Decompress | None = None  # the open message is compressed

    def feed(self, data: bytes) -> None:
        """Consume bytes read from the socket."""
        if self.closed:
            return
        if self._tail:
            data = self._tail + data
            self._tail = b""
        pos, end = 0, len(data)
        while pos < end and not self.closed:
            remaining = self._remaining
            if remaining:
                take = min(remaining, end - pos)
                chunk = data[pos : pos + take] if take < end or pos else data
                pos += take
                key = self._key
                if key:
                    chunk = apply_mask(chunk, key)
                    shift = take & 3
                    if shift:
                        self._key = key[shift:] + key[:shift]
                self._remaining = remaining - take
                self._deliver(chunk)
                if not self._remaining:
                    self._end_frame()
                continue
            consumed = self._header(data, pos, end)
            if not consumed:
                self._tail = data[pos:]
                return
            pos += consumed

    def _header(self, data: bytes, pos: int, end: int) -> int:
        """Parse one frame header at ``pos``; returns the bytes used (0: need more)."""
        if end - pos < 2:
            return 0
        b0, b1 = data[pos], data[pos + 1]
        opcode = b0 & 0x0F
        length = b1 & 0x7F
        masked = b1 & MASK
        if not masked and self.require_mask:
            raise WsProtocolError("mask bit missing")
        size = 2 + (4 if masked else 0)
        if length == 126:
            size += 2
        elif length == 127:
            size += 8
        if end - pos < size:
            return 0
        if length == 126:
            length = _U16.unpack_from(data, pos + 2)[0]
        elif length == 127:
            length = _U64.unpack_from(data, pos + 2)[0]
            if length >> 63:
                raise WsProtocolError("invalid frame length")
        key = data[pos + size - 4 : pos + size] if masked else b""
        fin = bool(b0 & FIN)
        if opcode >= OP_CLOSE:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise WsProtocolError(f"unknown opcode {opcode}")
            if length > MAX_CONTROL_PAYLOAD:
                raise WsProtocolError(
                    f"control frame length bigger than maximum allowed of "
                    f"{MAX_CONTROL_PAYLOAD} bytes"
                )
            if not fin:
                raise WsProtocolError("control frame does not have final bit set")
            if end - pos < size + length:
                return 0
            payload = data[pos + size : pos + size + length]
            if key:
                payload = apply_mask(payload, key)
            if opcode == OP_CLOSE:
                self.closed = True
            self.on_control(opcode, payload)
            return size + length
        compressed = bool(b0 & RSV1)
        if opcode in (OP_TEXT, OP_BINARY):
            if self._in_message:
                raise WsProtocolError(
                    "new message started before final frame for previous message was received"
                )
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if compressed else None
        elif opcode == OP_CONTINUATION:
            if not self._in_message or compressed:
                raise WsProtocolError("invalid continuation frame")
        else:
            raise WsProtocolError(f"unknown opcode {opcode}")
        self._in_message = not fin
        self._fin = fin
        self._key = key
        self._remaining = length
        if not length:
            self._end_frame()
        return size

    def _deliver(self, chunk: bytes) -> None:
        inflater = self._inflater
        if inflater is None:
            self.on_data(chunk)
        else:
            self._inflate(inflater, chunk)

    def _end_frame(self) -> None:
        if self._fin:
            inflater = self._inflater
            if inflater is not None:
                self._inflater = None
                self._inflate(inflater, DEFLATE_TAIL)

    def _inflate(self, inflater: zlib._Decompress, chunk: bytes) -> None:
        try:
            out = inflater.decompress(chunk, INFLATE_CHUNK)
            while True:
                if out:
                    self.on_data(out)
                tail = inflater.unconsumed_tail
                if not tail or self.closed or inflater.eof:
                    return
                out = inflater.decompress(tail, INFLATE_CHUNK)
        except zlib.error as exc:
            raise WsProtocolError(
                f"invalid compressed payload: {exc}", CLOSE_INVALID_PAYLOAD
            ) from None
