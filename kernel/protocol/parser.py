"""Sans-IO parser for the NATS client protocol (what a client sends to the server).

Behaves as nats-server 2.9.10's ``parser.go`` does for client connections.
``Parser.feed`` takes bytes in any split and calls the handler (the broker's client
session, see ``ProtocolHandler``) in stream order.  Two paths share the work:

* the fast path (``natskern.kernel.protocol.fastpath``) takes the canonical operations of
  a read (upper-case ``PUB``/``HPUB``/``PING``/``PONG`` with single spaces and CRLF) in
  bulk, with caches of decoded lines, and hands PUBs over in runs and batches;
* the exact path (``natskern.kernel.protocol.exact``) is nats-server's state machine for
  everything else, kept across reads (an op word, blanks or an argument cut by the end of
  a read, a payload still arriving), with nats-server's rules down to what depends on
  where a read ends.

Errors, as nats-server: an unknown op is ``Unknown Protocol Operation`` at its first
impossible byte; an argument longer than ``max_control_line`` is ``maximum control line
exceeded``; a size above ``max_payload`` is ``Maximum Payload Violation``; a wrong argument
count or a bad size, a client-sent ``-ERR``, an ``INFO`` that does not decode and ``HPUB``
while ``headers`` is False close silently (``proto_error(None)``).  While ``pedantic`` is
set, an invalid PUB/HPUB subject is reported at its control line (``proto_warning``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from natskern.kernel.protocol.exact import S_ARG, S_BLANK, S_WORD, ExactPath, Step
from natskern.kernel.protocol.fastpath import FastPath, line_cache, size_cache
from natskern.kernel.protocol.ops import (
    ERR_AUTH_VIOLATION,
    ERR_INVALID_PUB_SUBJECT,
    ERR_MAX_CONTROL_LINE,
    ERR_MAX_PAYLOAD,
    ERR_UNKNOWN_OP,
)

__all__ = [
    "ERR_AUTH_VIOLATION",
    "ERR_INVALID_PUB_SUBJECT",
    "ERR_MAX_CONTROL_LINE",
    "ERR_MAX_PAYLOAD",
    "ERR_UNKNOWN_OP",
    "Parser",
    "ProtocolHandler",
]


class ProtocolHandler(Protocol):
    """What ``Parser`` calls; the broker's client session implements it."""

    def proto_connect(self, arg: bytes) -> None:
        """``CONNECT <arg>``: ``arg`` is the raw JSON text (not validated here)."""

    def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
        """``PUB``; ``reply`` is ``b""`` when absent."""

    def proto_pub_run(self, subject: bytes, reply: bytes, payloads: list[bytes]) -> None:
        """Two or more consecutive ``PUB``s with the same subject and reply, in order.

        Optional: without it the parser calls ``proto_pub`` once per message.
        """

    def proto_pub_batch(self, messages: list[tuple[bytes, bytes, bytes]], size: int) -> None:
        """Two or more consecutive ``PUB``s as ``(subject, reply, payload)``, in order.

        ``reply`` is ``b""`` when absent; ``size`` is the sum of the payload sizes.
        Optional: without it the parser calls ``proto_pub`` once per message.
        """

    def proto_hpub(self, subject: bytes, reply: bytes, header_size: int, data: bytes) -> None:
        """``HPUB``; ``data`` is the header block followed by the payload."""

    def proto_sub(self, subject: bytes, queue: bytes, sid: bytes) -> None:
        """``SUB``; ``queue`` is ``b""`` when absent."""

    def proto_unsub(self, sid: bytes, max_msgs: int) -> None:
        """``UNSUB``; ``max_msgs`` is 0 when absent or not a valid number."""

    def proto_ping(self) -> None:
        """``PING`` from the client."""

    def proto_pong(self) -> None:
        """``PONG`` from the client."""

    def proto_warning(self, text: str) -> None:
        """Non-fatal protocol error: send ``-ERR '<text>'`` and keep the connection.

        Pedantic's ``Invalid Publish Subject``, sent at the control line.  Optional:
        without it the parser says nothing.
        """

    def proto_pub_tokens(
        self,
        subject: bytes,
        reply: bytes,
        header_size: int,
        data: bytes,
        tokens: tuple[bytes, bytes],
    ) -> None:
        """A PUB (``header_size`` -1) or HPUB whose size tokens have leading zeros.

        ``tokens`` is (header size token or ``b""``, total size token) as sent: nats-server
        repeats them in the MSG/HMSG it delivers.  Optional: without it the parser calls
        ``proto_pub``/``proto_hpub``.
        """

    def proto_before_connect(self) -> bool:
        """An operation other than CONNECT starts while ``gated``: may it go on?

        nats-server lets it through when a ``no_auth_user`` is configured (the session is
        bound to that user); False refuses it.  Optional: without it, refused.
        """

    def proto_error(self, text: str | None) -> None:
        """Fatal protocol error: send ``-ERR '<text>'`` (nothing if None) and close."""


#: States in which an operation cut by the end of a read may be kept as raw bytes.
_RAW_STATES = (S_WORD, S_BLANK, S_ARG)


def _continues_plainly(data: bytes) -> bool:
    """Whether the line ``data`` continues holds no CR but, at most, the one before its LF."""
    e = data.find(b"\n")
    r = data.find(b"\r", 0, e if e >= 0 else len(data))
    return r < 0 or r == e - 1


def _refuse() -> bool:
    """``proto_before_connect`` for handlers without one."""
    return False


def _silent(text: str) -> None:
    """``proto_warning`` for handlers without one."""


if TYPE_CHECKING:  # what the type checker sees of _adopt (at run time: no base classes)

    class _Paths(FastPath, ExactPath):
        """The methods ``Parser`` adopts from its two paths."""

else:
    _Paths = object


class Parser(_Paths):
    """Incremental parser of the client->server NATS protocol; see the module docstring.

    ``closed`` becomes True after a fatal protocol error (or when the handler sets it during
    a callback); ``feed`` then ignores input.  ``headers`` says whether HPUB is accepted:
    the session sets it to False when the client did not negotiate headers, and HPUB then
    closes the connection silently at its control line, as nats-server does.
    ``pedantic`` says whether PUB subjects are checked at the control line (the session
    sets it from CONNECT).  ``gated`` says that the session awaits CONNECT (auth is
    required): an operation other than CONNECT is then refused with ``Authorization
    Violation`` at its first byte unless ``proto_before_connect`` lets it through.

    If a handler method raises, the exception propagates out of ``feed``; the messages of
    the call that raised count as consumed and the unprocessed bytes are kept for the next
    ``feed``.
    The parser itself never raises on any input.
    """

    __slots__ = (
        *("closed", "handler", "headers", "pedantic", "_buf", "_chunks", "_need", "_pend"),
        *("_fast", "_mcl", "_maxp", "_sizes", "_pub", "_pub_run", "_pub_batch", "_hpub"),
        *("_sub", "_unsub", "_connect", "_ping", "_pong", "_error", "_warn", "_lines"),
        *("_st", "_node", "_opc", "_arg", "_raw", "_tokens", "gated", "_gate"),
    )

    def __init__(
        self, handler: Any, *, max_control_line: int = 4096, max_payload: int = 1048576
    ) -> None:
        self.handler = handler
        self.closed = False
        self.headers = True
        self.pedantic = False
        self.gated = False
        self._mcl = max_control_line
        self._maxp = max_payload
        self._buf = b""  # bytes kept for the next feed (see _loop)
        self._raw = False  # whether _buf is the raw end of a read, else its unparsed rest
        self._need = 0  # > 0 while collecting a payload: bytes still missing (incl. CRLF)
        self._chunks: list[bytes | memoryview] = []
        # subject, reply, hdr (-1: PUB, -2: a client's HMSG), size tokens with leading zeros
        self._pend: tuple[bytes, bytes, int, tuple[bytes, bytes] | None] | None = None
        # The exact path's state between reads: where in an op word, what op, the argument.
        self._st = S_WORD
        self._node = 0
        self._opc = 0
        self._arg: bytearray | None = None
        self._sizes = size_cache(max_payload)
        self._lines = line_cache(max_payload, max_control_line)
        self._fast = True  # tests switch the fast path off to compare both paths
        self._pub = handler.proto_pub
        self._pub_run = getattr(handler, "proto_pub_run", None) or self._pub_each
        self._pub_batch = getattr(handler, "proto_pub_batch", None) or self._pub_batch_each
        self._hpub = handler.proto_hpub
        self._sub = handler.proto_sub
        self._unsub = handler.proto_unsub
        self._connect = handler.proto_connect
        self._ping = handler.proto_ping
        self._pong = handler.proto_pong
        self._error = handler.proto_error
        self._warn = getattr(handler, "proto_warning", None) or _silent
        self._tokens = getattr(handler, "proto_pub_tokens", None)
        self._gate = getattr(handler, "proto_before_connect", None) or _refuse

    def feed(self, data: bytes) -> None:
        """Parse ``data``, the next bytes of the stream, calling the handler per operation."""
        if self.closed or not data:
            return
        if type(data) is not bytes:
            data = bytes(data)
        if self._buf:
            held = self._buf
            self._buf = b""
            if self._raw and _continues_plainly(data):
                data = held + data  # nothing in the line depends on where the read ended
            else:
                self._read(held, False)  # the rest of an earlier read, as the read it was
                if self.closed:
                    return
            self._raw = False
        self._read(data)

    # -- main loop ---------------------------------------------------------------------------

    def _read(self, data: bytes, raw: bool = True) -> None:
        """One read: finish what the last one left open, then parse the rest.

        ``raw`` says whether an operation the read ends in may be kept as raw bytes.
        """
        if self._need:
            data = self._collect(data)
            if not data:
                return
        if self._st != S_WORD or self._node:
            data = self._resume(data)
            if not data:
                return
        self._run(data, raw)

    def _resume(self, data: bytes) -> bytes:
        """Finish an operation the last read ended in; the bytes after it."""
        step = self._op(data, 0)
        if step is None:
            return b""
        pos, call, args = step
        if call is not None:
            self._buf = data[pos:]  # kept for the next feed if the handler raises
            call(*args)
            self._buf = b""
            if self.closed:
                return b""
        return data[pos:]

    def _run(self, buf: bytes, raw: bool = True) -> None:
        """Dispatch every complete operation in ``buf``; keep or collect the remainder."""
        pos = self._bulk(buf) if self._fast and not self.gated else 0
        if pos >= 0:
            self._loop(buf, pos, raw)

    def _loop(self, buf: bytes, pos: int, raw: bool) -> None:
        """The exact path from ``pos`` (an operation's start) to the end of ``buf``.

        An operation the read ends in is kept as the state machine's state, or, when no
        CR is in it and it stopped in an op word or an argument, as the raw bytes
        (``_raw``): if the next read continues its line without a bare CR, the two are
        parsed as one buffer, which is what lets the fast path take the next read whole.
        """
        n = len(buf)
        op = self._op
        try:
            while pos < n:
                step: Step | None = op(buf, pos)
                if step is None:
                    if (
                        raw
                        and self._st in _RAW_STATES
                        and not self.closed
                        and not self._need
                        and buf.find(b"\r", pos) < 0
                    ):
                        self._st = S_WORD
                        self._node = 0
                        self._arg = None
                        self._buf = buf[pos:]
                        self._raw = True
                    return
                pos, call, args = step
                if call is not None:
                    call(*args)
                    if self.closed:
                        return
        except BaseException:
            if not self.closed and not self._need and pos < n and self._st == S_WORD:
                self._buf = buf[pos:]
            raise

    def _fail(self, text: str | None) -> None:
        """Report a fatal protocol error to the handler and stop parsing for good."""
        self._buf = b""
        self._chunks = []
        self._need = 0
        self._pend = None
        self._arg = None
        try:
            self._error(text)
        finally:
            self.closed = True


def _adopt(cls: type, *parts: type) -> None:
    """Give ``cls`` the methods of ``parts`` as its own (no base classes to look through).

    The two paths live in their own modules; as bases of ``Parser`` every attribute
    access on the hot path paid for the longer MRO (measured: 1-2% of the PUB path).
    """
    for part in parts:
        for name, value in vars(part).items():
            if callable(value) and not name.startswith("__") and name not in vars(cls):
                setattr(cls, name, value)


_adopt(Parser, FastPath, ExactPath)
