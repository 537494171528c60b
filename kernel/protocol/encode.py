"""Server->client frames of the NATS protocol, built directly as bytes.

``msg_frame``/``hmsg_frame`` return one complete frame (control line, payload, CRLF);
``msg_head``/``hmsg_head`` return only the control line, for writers that queue a large
payload as its own chunk instead of copying it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "OK",
    "PING",
    "PONG",
    "err_line",
    "go_quote",
    "hmsg_frame",
    "hmsg_head",
    "info_line",
    "msg_frame",
    "msg_head",
]

_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(data: bytes) -> str:
    """``data`` quoted like Go's ``%q`` of a byte string (``strconv.Quote``).

    nats-server words its permission errors with ``%q`` of the subject: printable runes as
    they are, ``\\n``-style escapes, ``\\xNN`` for other control bytes and for bytes that
    are not UTF-8, ``\\uNNNN``/``\\UNNNNNNNN`` for other non-printable runes.
    """
    text = data.decode("utf-8", "surrogateescape")
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


#: ``+OK``: acknowledgement sent to verbose clients.
OK = b"+OK\r\n"
#: ``PING``: liveness probe / flush request.
PING = b"PING\r\n"
#: ``PONG``: answer to a ``PING``.
PONG = b"PONG\r\n"


def info_line(info: dict[str, Any]) -> bytes:
    """``INFO {json} \\r\\n`` with compact JSON (nats-server puts a space before the CRLF)."""
    return b"INFO " + json.dumps(info, separators=(",", ":")).encode() + b" \r\n"


def err_line(text: str) -> bytes:
    """``-ERR '<text>'\\r\\n``: clients require the single quotes."""
    return b"-ERR '" + text.encode() + b"'\r\n"


def msg_frame(subject: bytes, sid: bytes, reply: bytes, payload: bytes) -> bytes:
    """``MSG <subject> <sid> [reply] <size>\\r\\n<payload>\\r\\n`` (no reply when empty)."""
    if reply:
        return b"MSG %b %b %b %d\r\n%b\r\n" % (subject, sid, reply, len(payload), payload)
    return b"MSG %b %b %d\r\n%b\r\n" % (subject, sid, len(payload), payload)


def hmsg_frame(subject: bytes, sid: bytes, reply: bytes, headers: bytes, payload: bytes) -> bytes:
    """``HMSG <subject> <sid> [reply] <hdr_len> <total_len>\\r\\n<headers><payload>\\r\\n``."""
    hlen = len(headers)
    total = hlen + len(payload)
    if reply:
        return b"HMSG %b %b %b %d %d\r\n%b%b\r\n" % (
            subject,
            sid,
            reply,
            hlen,
            total,
            headers,
            payload,
        )
    return b"HMSG %b %b %d %d\r\n%b%b\r\n" % (subject, sid, hlen, total, headers, payload)


def msg_head(subject: bytes, sid: bytes, reply: bytes, size: int) -> bytes:
    """The control line of a MSG frame; the writer appends the payload and ``\\r\\n``."""
    if reply:
        return b"MSG %b %b %b %d\r\n" % (subject, sid, reply, size)
    return b"MSG %b %b %d\r\n" % (subject, sid, size)


def hmsg_head(subject: bytes, sid: bytes, reply: bytes, header_size: int, total_size: int) -> bytes:
    """The control line of an HMSG frame; the writer appends headers, payload and ``\\r\\n``."""
    if reply:
        return b"HMSG %b %b %b %d %d\r\n" % (subject, sid, reply, header_size, total_size)
    return b"HMSG %b %b %d %d\r\n" % (subject, sid, header_size, total_size)
