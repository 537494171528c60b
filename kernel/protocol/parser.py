"""Sans-IO parser for the NATS client protocol (what a client sends to the server).

Mirrors nats-server's ``parser.go`` for client connections.  ``Parser.feed`` takes bytes in
any split and calls the handler (the broker's client session, see ``ProtocolHandler``) in
stream order.  Behaviour follows nats-server 2.9.10, traced on loopback (see the tests):

* op names are case-insensitive; arguments are separated by runs of spaces/tabs; a line
  ends at ``\\n`` (the ``\\r`` before it is optional); after a payload exactly ``\\r\\n``
  must follow, else ``Unknown Protocol Operation``; ``PING``/``PONG``/``+OK`` ignore the
  rest of their line;
* an argument longer than ``max_control_line`` (complete or still partial) is
  ``maximum control line exceeded``; a size above ``max_payload`` is
  ``Maximum Payload Violation``, decided on the control line;
* a wrong argument count or a bad size closes silently (``proto_error(None)``), as do a
  client-sent ``-ERR``, an ``INFO`` that is not a JSON object, and ``HPUB`` while
  ``headers`` is False; ``MSG``/``HMSG`` from a client are unknown operations;
* an unknown op is reported as soon as its first impossible byte arrives.

Hot path: one ``split(b"\\r\\n")`` per read; per message a lookup of the control line in a
cache of PUB lines already decoded, else one ``split(b" ")`` of it with the size tokens
looked up in a cache of already validated ones; the payload is taken from the
pieces; consecutive PUBs with one subject and reply go to the handler as one run
(``proto_pub_run``), and consecutive single PUBs on varying subjects as one batch
(``proto_pub_batch``), so the handler pays its per-call costs once.  Anything unusual is
decoded by the general per-line path.  Nothing is deleted from a buffer per message; a
payload spanning reads is collected in a list and joined once.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

__all__ = [
    "ERR_MAX_CONTROL_LINE",
    "ERR_MAX_PAYLOAD",
    "ERR_UNKNOWN_OP",
    "Parser",
    "ProtocolHandler",
]

ERR_UNKNOWN_OP = "Unknown Protocol Operation"
ERR_MAX_PAYLOAD = "Maximum Payload Violation"
ERR_MAX_CONTROL_LINE = "maximum control line exceeded"


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

    def proto_error(self, text: str | None) -> None:
        """Fatal protocol error: send ``-ERR '<text>'`` (nothing if None) and close."""


# Op codes: what _classify() recognised (_OTHER: not decoded by the fast path).
_UNKNOWN, _NEED, _PUB, _HPUB, _SUB, _UNSUB, _CONNECT, _INFO = range(8)
_PING, _PONG, _OK, _ERR, _HMSG, _OTHER = range(8, 14)
# How an op word continues: ignore the rest of the line / 1+ blanks then an argument /
# optional blanks then an argument.
_REST, _ARG_WS, _ARG_OPT = range(3)
_OPS = (
    (b"PUB", _ARG_WS, _PUB),
    (b"PING", _REST, _PING),
    (b"PONG", _REST, _PONG),
    (b"HPUB", _ARG_WS, _HPUB),
    (b"SUB", _ARG_WS, _SUB),
    (b"UNSUB", _ARG_WS, _UNSUB),
    (b"CONNECT", _ARG_OPT, _CONNECT),
    (b"INFO", _ARG_OPT, _INFO),
    (b"+OK", _REST, _OK),
    (b"-ERR", _ARG_WS, _ERR),
    (b"HMSG", _ARG_WS, _HMSG),
)
_BLANKS = b" \t"
_TAB_TO_SPACE = bytes.maketrans(b"\t", b" ")
_TAB_CR_TO_SPACE = bytes.maketrans(b"\t\r", b"  ")
_MAX_SIZE_DIGITS = 9  # nats-server parseSize: at most 9 decimal digits
_SIZE_CACHE_LIMIT = 65536

# Size tokens already validated by the slow path, shared by all parsers with the same
# max_payload: {max_payload: {b"16": 16}}; only sizes <= max_payload are entered.
_size_caches: dict[int, dict[bytes, int]] = {}

#: Canonical PUB control lines already decoded by the fast path, shared by all parsers with
#: the same limits: {(max_payload, max_control_line): {b"PUB a 5": (b"a", b"", 5, 12)}},
#: the last item being the bytes the message takes (line, payload, two CRLFs).  Emptied
#: when full, so unique lines (inbox replies) cost a dict insert and keep it bounded.
_line_caches: dict[tuple[int, int], dict[bytes, tuple[bytes, bytes, int, int]]] = {}
_LINE_CACHE_LIMIT = 4096
#: What ``Parser._uncommon`` returns for the lines it does not decode itself.
_NOT_CANONICAL: tuple[int] = (_OTHER,)
_PING_LINE: tuple[int] = (_PING,)
_PONG_LINE: tuple[int] = (_PONG,)
#: From this payload size on, a read that starts with a known PUB line is cut by the sizes
#: its lines declare instead of searched for CRLF from end to end.
_LARGE_PAYLOAD = 512

#: What ``Parser._line`` decodes a complete line to: (offset after the operation,
#: handler method to call or None, its arguments).
_Step = tuple[int, Any, tuple[Any, ...]]


def _split_by_size(buf: bytes, known: Any) -> list[bytes]:
    """``buf.split(b"\\r\\n")``, but each payload of a known PUB line taken whole by its size.

    Splitting scans every payload byte, which dominates for large payloads; here only the
    control lines are searched.  A payload stays one piece even when it contains CRLF (the
    bulk loop accepts a piece of exactly the declared size).  At the first line that is not
    a known PUB line with its payload and CRLF all here, the rest is split as usual.
    """
    pieces: list[bytes] = []
    append = pieces.append
    find = buf.find
    n = len(buf)
    pos = 0
    while True:
        e = find(b"\r\n", pos)
        if e < 0:
            break
        line = known(buf[pos:e])
        if line is None:
            break
        end = e + 2 + line[2]
        if end + 2 > n or buf[end] != 13 or buf[end + 1] != 10:
            break
        append(buf[pos:e])
        append(buf[e + 2 : end])
        pos = end + 2
    if pos:
        pieces.extend(buf[pos:].split(b"\r\n"))
        return pieces
    return buf.split(b"\r\n")


def _classify(seg: bytes, complete: bool) -> tuple[int, int, int]:
    """Identify the op at the start of ``seg`` like nats-server's byte state machine.

    Returns ``(code, word_len, arg_offset)``; ``code`` is ``_UNKNOWN`` for bytes no op starts
    with and ``_NEED`` when ``seg`` is an incomplete (not ``complete``) prefix of an op word.
    """
    head = seg[:8].upper()
    size = len(seg)
    for word, kind, code in _OPS:
        k = len(word)
        if head[:k] != word:
            if size < k and word.startswith(head):
                return (_UNKNOWN if complete else _NEED), 0, 0
            continue
        if kind == _REST:
            return code, k, k
        if kind == _ARG_WS:
            if size == k:
                return (_UNKNOWN if complete else _NEED), 0, 0
            if seg[k] not in _BLANKS:
                return _UNKNOWN, 0, 0
        return code, k, size - len(seg[k:].lstrip(_BLANKS))
    return _UNKNOWN, 0, 0


def _parse_size(token: bytes) -> int:
    """nats-server ``parseSize``: 1-9 ASCII digits, else -1."""
    if 0 < len(token) <= _MAX_SIZE_DIGITS and token.isdigit():
        return int(token)
    return -1


def _words(arg: bytes) -> list[bytes]:
    """Split a PUB/HPUB argument on runs of spaces and tabs."""
    return [w for w in arg.translate(_TAB_TO_SPACE).split(b" ") if w]


def _sub_words(arg: bytes) -> list[bytes]:
    """Split a SUB/UNSUB argument like nats-server ``splitArg`` (spaces, tabs, CR)."""
    return [w for w in arg.translate(_TAB_CR_TO_SPACE).split(b" ") if w]


class Parser:
    """Incremental parser of the client->server NATS protocol; see the module docstring.

    ``closed`` becomes True after a fatal protocol error (or when the handler sets it during
    a callback); ``feed`` then ignores input.  ``headers`` says whether HPUB is accepted:
    the session sets it to False when the client did not negotiate headers, and HPUB then
    closes the connection silently at its control line, as nats-server does.

    If a handler method raises, the exception propagates out of ``feed``; the messages of
    the call that raised count as consumed and the unprocessed bytes are kept for the next
    ``feed``.
    The parser itself never raises on any input.
    """

    __slots__ = (
        *("closed", "handler", "headers", "_buf", "_chunks", "_need", "_pend", "_fast"),
        *("_mcl", "_maxp", "_sizes", "_pub", "_pub_run", "_pub_batch", "_hpub", "_sub"),
        *("_unsub", "_connect"),
        *("_ping", "_pong", "_error", "_lines"),
    )

    def __init__(
        self, handler: Any, *, max_control_line: int = 4096, max_payload: int = 1048576
    ) -> None:
        self.handler = handler
        self.closed = False
        self.headers = True
        self._mcl = max_control_line
        self._maxp = max_payload
        self._buf = b""  # unparsed bytes: an incomplete control line (or op word)
        self._need = 0  # > 0 while collecting a payload: bytes still missing (incl. CRLF)
        self._chunks: list[bytes] = []
        self._pend: tuple[bytes, bytes, int] | None = None  # subject, reply, hdr (-1: PUB)
        self._sizes = _size_caches.setdefault(max_payload, {})
        self._lines = _line_caches.setdefault((max_payload, max_control_line), {})
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

    def feed(self, data: bytes) -> None:
        """Parse ``data``, the next bytes of the stream, calling the handler per operation."""
        if self.closed or not data:
            return
        if type(data) is not bytes:
            data = bytes(data)
        if self._need:
            rest = self._collect(data)
            if not rest:
                return
            data = rest
        if self._buf:
            data = self._buf + data
            self._buf = b""
        self._run(data)

    # -- main loop ---------------------------------------------------------------------------

    def _run(self, buf: bytes) -> None:
        """Dispatch every complete operation in ``buf``; keep or collect the remainder."""
        pos = self._bulk(buf) if self._fast else 0
        if pos < 0:
            return
        n = len(buf)
        find = buf.find
        try:
            while pos < n:
                e = find(b"\n", pos)
                if e < 0:
                    break
                step = self._line(buf, pos, e, n)
                if step is None:
                    return
                pos, call, args = step
                if call is not None:
                    call(*args)
                    if self.closed:
                        return
            if pos < n:
                self._partial(buf[pos:])
        except BaseException:
            if not self.closed and not self._need and pos < n:
                self._buf = buf[pos:]
            raise

    def _bulk(self, buf: bytes) -> int:
        """Fast path: dispatch canonical operations from one ``split(b"\\r\\n")`` of ``buf``.

        Canonical means upper-case ``PUB``/``HPUB``/``PING``/``PONG`` with single spaces
        (or the empty reply token nats-py writes: ``PUB s  5``), a cached size token and the
        payload followed by CRLF; a PUB line seen before (by any parser with the same limits)
        is looked up instead of decoded again.
        Consecutive PUBs with the same subject and reply are collected into a *run* and
        handed over in one ``proto_pub_run`` call (one match, one frame build per receiver);
        single PUBs in a row (varying subjects or replies) are handed over as one
        ``proto_pub_batch``.  Runs
        and batches are dispatched in stream order and always before the next other
        operation, so the order of operations is the stream's.  Every other complete line
        goes through ``_line`` (exact nats-server semantics) and the loop resumes at the next
        piece boundary.
        Returns the offset where the general loop must continue (the incomplete tail, or a
        line that did not end on CRLF), or -1 once parsing stopped.
        """
        known = self._lines.get
        e = buf.find(b"\r\n", 0, self._mcl + 2)
        first = known(buf[:e]) if e > 0 else None
        if first is not None and first[2] >= _LARGE_PAYLOAD:
            pieces = _split_by_size(buf, known)
        else:
            pieces = buf.split(b"\r\n")
        last = len(pieces) - 1  # pieces[last] is not followed by CRLF: never complete here
        tabs = 9 in buf  # a tab separates arguments too: check control lines only if present
        n = len(buf)
        pos = 0
        i = 0
        prev = b"\r\n"  # the last control line looked up (never equal to a piece at first)
        pline = None  # its decoding
        misses = 0  # lines not found in the cache (see _pub_line)
        # The run being collected: payloads of consecutive PUBs on rsubj with reply rreply;
        # and before it, the batch: earlier single PUBs not yet dispatched (it only grows
        # when a new run starts, so it is empty whenever run is None).
        run: list[bytes] | None = None
        rsubj = rreply = b""
        batch: list[tuple[bytes, bytes, bytes]] = []
        nb = 0  # payload bytes in the batch
        try:
            while i < last:
                ctl = pieces[i]
                line = pline if ctl == prev else known(ctl)
                if line is None:
                    # Not in the cache: a plain PUB line is decoded (out of line) to the
                    # same form; anything else stays None.
                    line = self._pub_line(ctl, tabs, misses)
                    misses += 1
                if line is not None and len(pieces[i + 1]) == line[2] and i + 1 < last:
                    # A PUB line, and its payload fits.
                    data = pieces[i + 1]
                    prev = ctl
                    pline = line
                    pos += line[3]
                    i += 2
                    subj = line[0]
                    reply = line[1]
                else:
                    # Anything else: a PUB whose payload holds CRLFs, HPUB, PING, PONG...
                    miss = self._uncommon(buf, pieces, i, last, pos, tabs)
                    kind = miss[0]
                    if kind == _PUB:
                        kind, subj, reply, data, pos, i = miss
                    else:
                        if run is not None:  # what came before goes first
                            self._dispatch(rsubj, rreply, run, batch, nb)
                            run = None
                            batch = []
                            nb = 0
                            if self.closed:
                                return -1
                        if kind == _HPUB:
                            kind, subj, reply, hdr, data, pos, i = miss
                            self._hpub(subj, reply, hdr, data)
                        elif kind == _PING:
                            pos += 6
                            i += 1
                            self._ping()
                        elif kind == _PONG:
                            pos += 6
                            i += 1
                            self._pong()
                        else:
                            # Anything else: decode this line exactly, then re-align with
                            # the pieces.
                            end, i, call, args = self._exact(buf, pos, n, pieces, i, last)
                            if end < 0:
                                return -1
                            pos = end
                            if call is not None:
                                call(*args)
                                if self.closed:
                                    return -1
                            if i < 0:
                                return pos
                            continue
                        if self.closed:
                            return -1
                        continue
                # A PUB (subj, reply, data): extend the run, or end it and start another.
                if run is not None:
                    if subj == rsubj and reply == rreply:
                        run.append(data)
                        continue
                    if len(run) == 1:  # (inlined _dispatch)
                        single = run[0]
                        batch.append((rsubj, rreply, single))
                        nb += len(single)
                    else:
                        self._dispatch(rsubj, rreply, run, batch, nb)
                        batch = []
                        nb = 0
                        if self.closed:
                            return -1
                run = [data]
                rsubj = subj
                rreply = reply
            if run is not None:
                self._dispatch(rsubj, rreply, run, batch, nb)
                if self.closed:
                    return -1
            return pos
        except BaseException:
            if not self.closed and not self._need and pos < n:
                self._buf = buf[pos:]
            raise

    def _pub_line(
        self, ctl: bytes, tabs: bool, misses: int
    ) -> tuple[bytes, bytes, int, int] | None:
        """Decode ``ctl`` like a line-cache entry when it is a canonical PUB line, else None.

        ``(subject, reply, size, bytes the message takes)``; ``tabs`` says whether the read
        holds a tab; ``misses`` counts the lines of this read decoded so far, less one: one
        in eight enters the cache, so a line that recurs soon gets in and a stream of unique
        ones costs little.  Lines with a reply (requests) carry unique inboxes and stay out.
        """
        lc = len(ctl)
        if lc > self._mcl or 10 in ctl or (tabs and 9 in ctl):
            return None
        parts = ctl.split(b" ")
        np = len(parts)
        if parts[0] != b"PUB" or not (np == 3 or np == 4):  # 4: reply, or b"PUB s  5"
            return None
        size = self._sizes.get(parts[-1], -1)
        subj = parts[1]
        if size < 0 or not subj:
            return None
        reply = parts[2] if np == 4 else b""
        line = (subj, reply, size, lc + size + 4)
        if not misses & 7 and not reply:
            lines = self._lines
            if len(lines) >= _LINE_CACHE_LIMIT:
                lines.clear()
            lines[ctl] = line
        return line

    def _uncommon(
        self,
        buf: bytes,
        pieces: list[bytes],
        i: int,
        last: int,
        pos: int,
        tabs: bool,
    ) -> tuple[Any, ...]:
        """For ``_bulk``: decode ``pieces[i]``, a line that is no PUB with its payload in one piece.

        ``pos`` is its offset in ``buf``; ``tabs`` whether ``buf`` holds a tab.  Returns
        ``(_PUB, subject, reply, payload, next_pos, next_piece)`` (a payload with CRLFs in
        it), ``(_HPUB, subject, reply, header_size, data, next_pos, next_piece)``,
        ``(_PING,)``, ``(_PONG,)`` or ``(_OTHER,)`` (anything else: ``_exact`` decodes it).
        A PUB or HPUB is only returned with its whole payload and CRLF in ``pieces``.
        """
        ctl = pieces[i]
        lc = len(ctl)
        if lc > self._mcl or 10 in ctl or (tabs and 9 in ctl):
            return _NOT_CANONICAL
        parts = ctl.split(b" ")
        np = len(parts)
        op = parts[0]
        hdr = -1
        if op == b"PUB" and (np == 3 or np == 4):  # 4: reply, or b"PUB s  5"
            subj = parts[1]
            reply = parts[2] if np == 4 else b""
            size = self._sizes.get(parts[-1], -1)
        elif op == b"HPUB" and (np == 4 or np == 5) and self.headers:
            subj = parts[1]
            reply = parts[2] if np == 5 else b""
            sizes = self._sizes
            hdr = sizes.get(parts[-2], -1)
            size = sizes.get(parts[-1], -1) if hdr >= 0 else -1
        elif np == 1 and op == b"PING":
            return _PING_LINE
        elif np == 1 and op == b"PONG":
            return _PONG_LINE
        else:
            return _NOT_CANONICAL
        if size < 0 or not subj or hdr > size:
            return _NOT_CANONICAL
        j = i + 1
        data = pieces[j]
        if len(data) != size:
            # The payload contains CRLFs (always so with headers): find the piece it ends
            # with; it must end on a piece boundary.
            acc = len(data)
            while acc < size and j < last:
                j += 1
                acc += 2 + len(pieces[j])
            if acc != size or j >= last:
                return _NOT_CANONICAL
            start = pos + lc + 2
            data = buf[start : start + size]
        elif j >= last:
            return _NOT_CANONICAL
        end = pos + lc + size + 4
        if hdr >= 0:
            return _HPUB, subj, reply, hdr, data, end, j + 1
        return _PUB, subj, reply, data, end, j + 1

    def _exact(
        self, buf: bytes, pos: int, n: int, pieces: list[bytes], i: int, last: int
    ) -> tuple[int, int, Any, tuple[Any, ...]]:
        """For ``_bulk``: decode the line at ``pos`` exactly and find the piece after it.

        Returns ``(next_pos, next_piece, handler_method_or_None, args)``; ``next_pos`` is
        -1 when parsing stopped (see ``_line``), ``next_piece`` -1 when the line did not
        end on a piece boundary (the general loop continues at ``next_pos``).
        """
        step = self._line(buf, pos, buf.find(b"\n", pos), n)
        if step is None:
            return -1, -1, None, ()
        end, call, args = step
        p = pos
        while p < end and i < last:
            p += len(pieces[i]) + 2
            i += 1
        return end, (i if p == end else -1), call, args

    def _dispatch(
        self,
        subject: bytes,
        reply: bytes,
        run: list[bytes],
        batch: list[tuple[bytes, bytes, bytes]],
        size: int,
    ) -> None:
        """Hand the pending batch, then the run, to the handler (in stream order).

        A run of one message joins the batch; a batch of one message is a plain
        ``proto_pub``.
        """
        if len(run) == 1:
            batch.append((subject, reply, run[0]))
            size += len(run[0])
            run = []
        if batch:
            if len(batch) == 1:
                self._pub(*batch[0])
            else:
                self._pub_batch(batch, size)
            if self.closed:
                return
        if run:
            self._pub_run(subject, reply, run)

    def _pub_each(self, subject: bytes, reply: bytes, payloads: list[bytes]) -> None:
        """``proto_pub_run`` for handlers without one: ``proto_pub`` per message."""
        pub = self._pub
        for payload in payloads:
            pub(subject, reply, payload)
            if self.closed:
                return

    def _pub_batch_each(self, messages: list[tuple[bytes, bytes, bytes]], size: int) -> None:
        """``proto_pub_batch`` for handlers without one: ``proto_pub`` per message."""
        pub = self._pub
        for subject, reply, payload in messages:
            pub(subject, reply, payload)
            if self.closed:
                return

    # -- slow path: any complete control line ------------------------------------------------

    def _line(self, buf: bytes, pos: int, e: int, n: int) -> _Step | None:
        """Decode the complete control line ``buf[pos:e]`` (``e`` indexes its ``\\n``).

        Returns ``(next_pos, handler_method_or_None, args)``, or None when parsing stops
        here (fatal error, or the payload is incomplete and is now being collected).
        """
        seg = buf[pos:e]
        code, _, off = _classify(seg, True)
        if code == _PING:
            return e + 1, self._ping, ()
        if code == _PONG:
            return e + 1, self._pong, ()
        if code == _OK:
            return e + 1, None, ()
        if code == _UNKNOWN:
            return self._fail(ERR_UNKNOWN_OP)
        arg = seg[off:]
        if 13 in arg[1:]:
            # nats-server drops one trailing byte once it has seen a CR in the argument.
            arg = arg[:-1]
        if len(arg) > self._mcl:
            return self._fail(ERR_MAX_CONTROL_LINE)
        if code in (_PUB, _HPUB):
            return self._msg_line(code, arg, buf, e + 1, n)
        if code == _SUB:
            words = _sub_words(arg)
            if len(words) == 2:
                return e + 1, self._sub, (words[0], b"", words[1])
            if len(words) == 3:
                return e + 1, self._sub, (words[0], words[1], words[2])
            return self._fail(None)
        if code == _UNSUB:
            words = _sub_words(arg)
            if len(words) == 1:
                return e + 1, self._unsub, (words[0], 0)
            if len(words) == 2:
                return e + 1, self._unsub, (words[0], max(_parse_size(words[1]), 0))
            return self._fail(None)
        if code == _CONNECT:
            return e + 1, self._connect, (arg,)
        if code == _INFO:
            # A client's INFO is decoded and ignored; invalid JSON or a non-object closes.
            try:
                info = json.loads(arg)
            except (ValueError, RecursionError):
                info = 0
            if info is None or type(info) is dict:
                return e + 1, None, ()
            return self._fail(None)
        if code == _ERR:
            return self._fail(None)
        return self._fail(ERR_UNKNOWN_OP)  # HMSG from a client

    def _msg_line(self, code: int, arg: bytes, buf: bytes, start: int, n: int) -> _Step | None:
        """Validate a PUB/HPUB argument, then dispatch or start collecting its payload."""
        if code == _HPUB and not self.headers:
            return self._fail(None)
        words = _words(arg)
        hdr = -1
        reply = b""
        if code == _PUB:
            if len(words) == 3:
                reply = words[1]
            elif len(words) != 2:
                return self._fail(None)
        else:
            if len(words) == 4:
                reply = words[1]
            elif len(words) != 3:
                return self._fail(None)
            hdr = _parse_size(words[-2])
            if hdr < 0:
                return self._fail(None)
        size = _parse_size(words[-1])
        if size < 0 or hdr > size:
            return self._fail(None)
        if size > self._maxp:
            return self._fail(ERR_MAX_PAYLOAD)
        sizes = self._sizes
        if len(sizes) < _SIZE_CACHE_LIMIT:
            sizes[words[-1]] = size
            if hdr >= 0:
                sizes[words[-2]] = hdr
        subject = words[0]
        end = start + size
        if end + 2 <= n:
            if buf[end] != 13 or buf[end + 1] != 10:
                return self._fail(ERR_UNKNOWN_OP)
            if hdr < 0:
                return end + 2, self._pub, (subject, reply, buf[start:end])
            return end + 2, self._hpub, (subject, reply, hdr, buf[start:end])
        # The payload is not all here: collect it across feeds.
        if end + 1 == n and buf[end] != 13:
            return self._fail(ERR_UNKNOWN_OP)
        self._pend = (subject, reply, hdr)
        self._chunks = [buf[start:]] if start < n else []
        self._need = end + 2 - n
        return None

    def _collect(self, data: bytes) -> bytes:
        """Add ``data`` to a payload being collected; return the bytes after it, if any."""
        need = self._need
        chunks = self._chunks
        size = len(data)
        if size < need:
            chunks.append(data)
            self._need = need - size
            if self._need == 1 and data[-1] != 13:
                self._fail(ERR_UNKNOWN_OP)
            return b""
        if need >= 2:
            ok = data[need - 2] == 13 and data[need - 1] == 10
            if need > 2:
                chunks.append(data[: need - 2])
        else:  # the CR is already the last collected byte
            ok = data[0] == 10
            chunks[-1] = chunks[-1][:-1]
        if not ok:
            self._fail(ERR_UNKNOWN_OP)
            return b""
        payload = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        subject, reply, hdr = self._pend  # type: ignore[misc]
        self._pend = None
        self._chunks = []
        self._need = 0
        rest = data[need:] if need < size else b""
        self._buf = rest  # kept for the next feed if the handler raises
        if hdr < 0:
            self._pub(subject, reply, payload)
        else:
            self._hpub(subject, reply, hdr, payload)
        self._buf = b""
        return b"" if self.closed else rest

    def _partial(self, seg: bytes) -> None:
        """Keep an incomplete control line, failing early where nats-server would."""
        code, word_len, off = _classify(seg, False)
        if code == _UNKNOWN:
            self._fail(ERR_UNKNOWN_OP)
            return
        if code == _NEED:
            self._buf = seg
            return
        if code in (_PING, _PONG, _OK):
            self._buf = seg[:word_len]  # the rest of the line is ignored anyway
            return
        arg = seg[off:]
        length = len(arg) - (1 if 13 in arg[1:] else 0)
        if length > self._mcl:
            self._fail(ERR_MAX_CONTROL_LINE)
            return
        if off > word_len + 1:
            # Collapse the blanks after the op word so the kept bytes stay bounded.
            seg = seg[:word_len] + b" " + arg
        self._buf = seg

    def _fail(self, text: str | None) -> _Step | None:
        """Report a fatal protocol error to the handler and stop parsing for good.

        Returns None, the "parsing stops here" result of ``_line``, so that a decoder
        can ``return self._fail(...)``.
        """
        self._buf = b""
        self._chunks = []
        self._need = 0
        self._pend = None
        try:
            self._error(text)
        finally:
            self.closed = True
        return None
