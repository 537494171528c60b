"""Protocol tracing in nats-server's form (``-V`` / ``trace: true``).

A session with tracing on hands every read to :meth:`Tracer.inbound` and every
write to :meth:`Tracer.outbound` (one check of a flag per read and per flush;
a session without tracing has ``tracer = None`` and never comes here).  The
lines logged look like nats-server 2.9's::

    127.0.0.1:45492 - cid:4 - "py:me" - <<- [PUB ok 40]
    127.0.0.1:45492 - cid:4 - "py:me" - <<- MSG_PAYLOAD: ["0123..."]
    127.0.0.1:45492 - cid:4 - "py:me" - ->> [MSG ok 2 40]

Payloads are quoted like Go's ``%q`` and cut after ``max_traced_msg_len``
bytes (0: never) with ``...`` appended, as nats-server does; outbound message
payloads are not traced (nats-server traces only the ``MSG`` line), and the
CONNECT password and token are shown as ``[REDACTED]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

__all__ = ["TRACE", "Tracer", "go_quote", "redact_connect"]

log = logging.getLogger("natskern.trace")

#: The logging level of trace lines (below DEBUG; shown as ``[TRC]``).
TRACE = 5

_REDACT = re.compile(rb'("(?:pass|auth_token)"\s*:\s*)"(?:[^"\\]|\\.)*"')
#: Operations followed by a payload: the size is the last argument.
_WITH_PAYLOAD = (b"PUB", b"HPUB", b"MSG", b"HMSG")


def redact_connect(line: bytes) -> bytes:
    """A CONNECT line with its password and token replaced by ``[REDACTED]``."""
    return _REDACT.sub(rb'\1"[REDACTED]"', line)


def go_quote(data: bytes) -> str:
    """``data`` quoted like Go's ``%q`` of a string."""
    out = ['"']
    text = data.decode("utf-8", "backslashreplace")
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class _Stream:
    """Splits one direction's bytes into protocol lines and payloads."""

    def __init__(self) -> None:
        self.buf = b""
        self.payload = -1  # bytes of payload (plus CRLF) still expected, -1: a line

    def feed(self, data: bytes) -> list[tuple[bool, bytes]]:
        """(is_payload, bytes) items completed by ``data``."""
        self.buf += data
        items: list[tuple[bool, bytes]] = []
        while self.buf:
            if self.payload >= 0:
                if len(self.buf) < self.payload + 2:
                    break
                items.append((True, self.buf[: self.payload]))
                self.buf = self.buf[self.payload + 2 :]
                self.payload = -1
                continue
            end = self.buf.find(b"\n")
            if end < 0:
                break
            line = self.buf[:end].rstrip(b"\r")
            self.buf = self.buf[end + 1 :]
            items.append((False, line))
            op, _, rest = line.partition(b" ")
            if op.upper() in _WITH_PAYLOAD:
                args = rest.split()
                try:
                    self.payload = int(args[-1]) if args else -1
                except ValueError:
                    self.payload = -1
        return items


class Tracer:
    """Logs one session's protocol lines; ``prefix()`` names the session."""

    def __init__(self, prefix: Callable[[], str], max_len: int = 0) -> None:
        self.prefix = prefix
        self.max_len = max_len
        self._in = _Stream()
        self._out = _Stream()

    def _cut(self, data: bytes) -> str:
        if self.max_len > 0 and len(data) > self.max_len:
            return go_quote(data[: self.max_len]) + "..."
        return go_quote(data)

    def inbound(self, data: bytes) -> None:
        """Trace what the client sent (``<<-``)."""
        for is_payload, item in self._in.feed(data):
            if is_payload:
                log.log(TRACE, "%s - <<- MSG_PAYLOAD: [%s]", self.prefix(), self._cut(item))
            elif item:
                if item[:7].upper() == b"CONNECT":
                    item = redact_connect(item)
                log.log(TRACE, "%s - <<- [%s]", self.prefix(), item.decode("utf-8", "replace"))

    def outbound(self, data: bytes) -> None:
        """Trace what the server writes (``->>``): the lines, not the message payloads."""
        for is_payload, item in self._out.feed(data):
            if is_payload or not item or item.startswith(b"INFO "):
                continue
            if item.startswith(b"-ERR "):
                item = b"-ERR " + item[5:].strip(b"'")
            log.log(TRACE, "%s - ->> [%s]", self.prefix(), item.decode("utf-8", "replace"))
