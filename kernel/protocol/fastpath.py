"""The parser's fast path: canonical PUB/HPUB/PING/PONG from one ``split(b"\\r\\n")``.

Per read, one ``split(b"\\r\\n")`` (or, for large payloads, a cut by declared sizes); per
message a lookup of the control line in a cache of PUB lines already decoded, else one
``split(b" ")`` of it with the size tokens looked up in a cache of already validated ones;
the payload is taken from the pieces.  Consecutive PUBs with one subject and reply go to the
handler as one run (``proto_pub_run``), consecutive single PUBs on varying subjects as one
batch (``proto_pub_batch``), so the handler pays its per-call costs once.  Any other line
is handed to the exact path (``natskern.kernel.protocol.exact``), which decodes it as
nats-server does; the fast path only takes what the exact path would decode the same way.
"""

from __future__ import annotations

from typing import Any

from natskern.kernel.protocol import ops
from natskern.kernel.subjects.tokens import is_valid_pub_subject as _valid

__all__ = ["FastPath", "line_cache", "size_cache"]

# Size tokens already validated by the exact path, shared by all parsers with the same
# max_payload: {max_payload: {b"16": 16}}; only sizes <= max_payload are entered.
_size_caches: dict[int, dict[bytes, int]] = {}

#: Canonical PUB control lines already decoded by the fast path, shared by all parsers with
#: the same limits: {(max_payload, max_control_line): {b"PUB a 5": (b"a", b"", 5, 12)}},
#: the last item being the bytes the message takes (line, payload, two CRLFs).  Emptied
#: when full, so unique lines (inbox replies) cost a dict insert and keep it bounded.
_line_caches: dict[tuple[int, int], dict[bytes, tuple[bytes, bytes, int, int]]] = {}
_LINE_CACHE_LIMIT = 4096
#: What ``FastPath._uncommon`` returns for the lines it does not decode itself.
_NOT_CANONICAL: tuple[int] = (ops.OTHER,)
_PING_LINE: tuple[int] = (ops.PING,)
_PONG_LINE: tuple[int] = (ops.PONG,)
#: From this payload size on, a read that starts with a known PUB line is cut by the sizes
#: its lines declare instead of searched for CRLF from end to end.
_LARGE_PAYLOAD = 512


def size_cache(max_payload: int) -> dict[bytes, int]:
    """The size-token cache shared by parsers with this ``max_payload``."""
    return _size_caches.setdefault(max_payload, {})


def line_cache(max_payload: int, max_control_line: int) -> dict[bytes, Any]:
    """The PUB-line cache shared by parsers with these limits."""
    return _line_caches.setdefault((max_payload, max_control_line), {})


def _split_by_size(buf: bytes, known: Any) -> list[bytes]:
    """``buf.split(b"\\r\\n")``, but each payload of a known PUB line taken whole by its size.

    Splitting scans every payload byte, which dominates for large payloads; here only the
    control lines are searched.  A payload stays one piece even when it contains CRLF (the
    bulk loop accepts a piece of exactly the declared size).  At the first line that is not
    a known PUB line with its payload and CRLF all here, the rest is split as usual, unless
    that line's payload has not all arrived: then the last piece is an empty placeholder
    (the rest stays in ``buf`` for the exact path).
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
        if end + 2 > n:
            # Its payload is still to come: the rest is left to the exact path, which
            # collects the payload (a split would scan it).  The last piece is never read
            # (the bulk loop stops before it and the exact path continues from its offset
            # in ``buf``): an empty placeholder, not a copy of up to a payload's size.
            append(b"")
            return pieces
        if buf[end] != 13 or buf[end + 1] != 10:
            break
        append(buf[pos:e])
        append(buf[e + 2 : end])
        pos = end + 2
    if pos:
        pieces.extend(buf[pos:].split(b"\r\n"))
        return pieces
    return buf.split(b"\r\n")


class FastPath:
    """The bulk decoding of canonical operations (``_bulk``): methods ``Parser`` adopts."""

    # (attributes and handler methods of Parser; no __slots__: never instantiated, the
    # methods are adopted by Parser, whose __slots__ hold these)
    closed: bool
    headers: bool
    pedantic: bool
    _mcl: int
    _need: int
    _buf: bytes
    _sizes: dict[bytes, int]
    _lines: dict[bytes, Any]
    _pub: Any
    _pub_run: Any
    _pub_batch: Any
    _hpub: Any
    _ping: Any
    _pong: Any
    _op: Any  # ExactPath's

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
        # A tab separates arguments too: check control lines for one only if the read holds
        # one.  (A CR not followed by LF changes a line too: lines are checked for one when
        # decoded; the cached ones hold none.)
        tabs = 9 in buf
        e = buf.find(b"\r\n", 0, self._mcl + 2)
        first = None
        misses = 0  # lines not found in the cache (see _pub_line)
        if e > 0:
            first = known(buf[:e])
            if first is None:  # e.g. a PUB with a reply (never cached): a JetStream publish
                first = self._pub_line(buf[:e], tabs, 0)
                misses = 1
        if first is not None and first[2] >= _LARGE_PAYLOAD:
            decode = self._pub_line
            pieces = _split_by_size(buf, lambda ctl: known(ctl) or decode(ctl, tabs, 1))
        else:
            pieces = buf.split(b"\r\n")
        last = len(pieces) - 1  # pieces[last] is not followed by CRLF: never complete here
        # While pedantic, a PUB subject is checked once per distinct line; an invalid one
        # goes to the exact path, which reports it.
        pedantic = self.pedantic
        n = len(buf)
        pos = 0
        i = 0
        prev = b"\r\n"  # the last control line looked up (never equal to a piece at first)
        pline = None  # its decoding
        if first is not None and (not pedantic or _valid(first[0])):
            prev = buf[:e]  # (the first line is decoded already: not again)
            pline = first
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
                if ctl == prev:
                    line = pline
                else:
                    line = known(ctl)
                    if line is None:
                        # Not in the cache: a plain PUB line is decoded (out of line) to the
                        # same form; anything else stays None.
                        line = self._pub_line(ctl, tabs, misses)
                        misses += 1
                    if pedantic and line is not None and not _valid(line[0]):
                        line = None  # the exact path sends the error at the control line
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
                    if kind == ops.PUB:
                        kind, subj, reply, data, pos, i = miss
                    else:
                        if run is not None:  # what came before goes first
                            self._dispatch(rsubj, rreply, run, batch, nb)
                            run = None
                            batch = []
                            nb = 0
                            if self.closed:
                                return -1
                        if kind == ops.HPUB:
                            kind, subj, reply, hdr, data, pos, i = miss
                            self._hpub(subj, reply, hdr, data)
                        elif kind == ops.PING:
                            pos += 6
                            i += 1
                            self._ping()
                        elif kind == ops.PONG:
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
                                pedantic = self.pedantic  # (a CONNECT may change it)
                                prev = b"\r\n"
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
        if lc > self._mcl or 10 in ctl or 13 in ctl or (tabs and 9 in ctl):
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
        ``(ops.PUB, subject, reply, payload, next_pos, next_piece)`` (a payload with CRLFs in
        it), ``(ops.HPUB, subject, reply, header_size, data, next_pos, next_piece)``,
        ``(ops.PING,)``, ``(ops.PONG,)`` or ``(ops.OTHER,)`` (anything else: ``_exact`` decodes it).
        A PUB or HPUB is only returned with its whole payload and CRLF in ``pieces``.
        """
        ctl = pieces[i]
        lc = len(ctl)
        if lc > self._mcl or 10 in ctl or 13 in ctl or (tabs and 9 in ctl):
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
        if size < 0 or not subj or hdr > size or (self.pedantic and not _valid(subj)):
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
            return ops.HPUB, subj, reply, hdr, data, end, j + 1
        return ops.PUB, subj, reply, data, end, j + 1

    def _exact(
        self, buf: bytes, pos: int, n: int, pieces: list[bytes], i: int, last: int
    ) -> tuple[int, int, Any, tuple[Any, ...]]:
        """For ``_bulk``: decode the operation at ``pos`` exactly and find the piece after it.

        Returns ``(next_pos, next_piece, handler_method_or_None, args)``; ``next_pos`` is
        -1 when parsing stopped (see ``ExactPath._op``), ``next_piece`` -1 when the
        operation did not end on a piece boundary (the general loop continues at
        ``next_pos``).
        """
        step = self._op(buf, pos)
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
