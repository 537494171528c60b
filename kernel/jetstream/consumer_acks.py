"""Acknowledgements of a consumer (nats-server's ``processAck``): the reply subject, its payloads.

Delivered messages carry the 9-token ack subject
``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>``; the 12-token form
(``$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>``
``.<pending>.<token>``) is accepted too.  :func:`parse_ack_subject` reads the sequences,
:func:`parse_ack_body` the payload: ``+ACK`` (or nothing, ``+OK``), ``-NAK``
(optionally ``{"delay": ns}`` or a Go duration), ``+WPI``, ``+NXT`` (optionally a batch
or a pull request), ``+TERM`` (with a reason).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Final

from natskern.kernel.durations import parse_duration_ns
from natskern.kernel.jetstream.consumer_pull import BadPullRequest, PullRequest, parse_request

__all__ = [
    "ACK",
    "NAK",
    "NEXT",
    "PROGRESS",
    "TERM",
    "AckMixin",
    "parse_ack_body",
    "parse_ack_subject",
]

ACK: Final = "ack"
NAK: Final = "nak"
PROGRESS: Final = "wpi"
NEXT: Final = "nxt"
TERM: Final = "term"


def parse_ack_subject(subject: bytes) -> tuple[int, int, int] | None:
    """``(delivery count, stream seq, consumer seq)`` of an ack subject, or None."""
    tokens = subject.split(b".")
    n = len(tokens)
    try:
        if n == 9:
            return int(tokens[4]), int(tokens[5]), int(tokens[6])
        if n >= 11:
            return int(tokens[6]), int(tokens[7]), int(tokens[8])
    except ValueError:
        return None
    return None


def parse_ack_body(payload: bytes) -> tuple[str, bytes]:
    """``(kind, rest)`` of an ack payload; ``rest`` is what follows the keyword."""
    body = payload.strip()
    if not body or body in (b"+ACK", b"+OK"):
        return ACK, b""
    for word, kind in ((b"-NAK", NAK), (b"+WPI", PROGRESS), (b"+NXT", NEXT), (b"+TERM", TERM)):
        if body.startswith(word):
            return kind, body[len(word) :].strip()
    return ACK, b""


def nak_delay(rest: bytes) -> int:
    """The delay of ``-NAK <rest>`` in ns (0: redeliver now)."""
    if not rest:
        return 0
    if rest[:1] == b"{":
        try:
            doc = json.loads(rest)
        except ValueError:
            return 0
        delay = doc.get("delay", 0) if isinstance(doc, dict) else 0
        return delay if isinstance(delay, int) and delay > 0 else 0
    try:
        return max(parse_duration_ns(rest.decode(errors="replace")), 0)
    except ValueError:
        return 0


_mono = time.monotonic_ns
A_ACK, A_NAK, A_PROGRESS, A_NEXT, A_TERM = ACK, NAK, PROGRESS, NEXT, TERM


class AckMixin:
    """The ack side of :class:`~natskern.kernel.jetstream.consumer.Consumer`."""

    #: Plain ``+ACK``s take :meth:`_on_ack`'s short path (ack policy explicit, no sampling).
    _ack_fast = False
    #: A :meth:`_kick` is scheduled (acks of this loop iteration wake the tasks once).
    _kicked = False
    #: ``$JS.ACK.<stream>.<consumer>``: what a 9-token ack subject holds before its last
    #: five tokens.
    _ack_head = b""

    # -- acks ------------------------------------------------------------------------------

    def _on_ack(self: Any, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> None:
        if (
            self._ack_fast
            and not reply
            and (not payload or payload == b"+ACK")
            and not self._closed
        ):
            # The common ack: a plain +ACK of the 9-token subject, ack policy explicit.
            parts = subject.rsplit(b".", 5)
            if parts[0] == self._ack_head and len(parts) == 6:
                try:
                    sseq, dseq = int(parts[2]), int(parts[3])
                except ValueError:
                    return
                self._ack_explicit(sseq, dseq)
                self._last_active = _mono()
                return
        seqs = parse_ack_subject(subject)
        if seqs is None or self._closed:
            return
        _dc, sseq, dseq = seqs
        kind, rest = parse_ack_body(payload)
        if self.sample and kind in (ACK, NEXT):
            self.sample_ack(sseq, dseq, _dc)
        if kind == ACK:
            self._ack(sseq, dseq)
        elif kind == NAK:
            if sseq in self.pending:
                fields = {"consumer_seq": dseq, "stream_seq": sseq, "deliveries": _dc}
                self.advise("MSG_NAKED", "nak", **fields)
            self._nak(sseq, nak_delay(rest))
        elif kind == PROGRESS:
            p = self.pending.get(sseq)
            if p is not None:
                p[1] = time.time_ns()
        elif kind == TERM:
            if sseq in self.pending:
                reason = rest.decode(errors="replace")
                fields = {"consumer_seq": dseq, "stream_seq": sseq, "deliveries": _dc}
                self.advise(
                    "MSG_TERMINATED",
                    "terminated",
                    **fields,
                    **({"reason": reason} if reason else {}),
                )
            self._ack(sseq, dseq, term=True)
        elif kind == NEXT:
            self._ack(sseq, dseq)
            if reply and self.is_pull:
                try:
                    req = parse_request(rest, reply)
                except BadPullRequest:
                    req = PullRequest(reply, received=_mono())
                self._add_request(req)
            return
        if reply:
            self._op("R", reply)
        self._last_active = _mono()

    def _ack(self: Any, sseq: int, dseq: int, *, term: bool = False) -> None:
        """``processAckMsg``: explicit acks move the floor as nats-server's ``moveAckFloor``."""
        if self.ack_none:
            return
        if self.config.ack_policy != "all":
            self._ack_explicit(sseq, dseq)
            return
        if sseq >= self.sseq or dseq <= self.adflr or sseq <= self.asflr:
            return
        done = [s for s in self.pending if s <= sseq]
        self.adflr, self.asflr = dseq, sseq
        self.last_acked = time.time_ns()
        ops = self._ops
        for s in done:
            p = self.pending.pop(s)
            self.rdc.pop(s, None)
            self._rdq_set.discard(s)
            ops.append(("A", p[0], s))
        if not self.pending:
            self.adflr, self.asflr = self.dseq, self.sseq - 1
        if self.stream.config.retention != "limits":
            for s in done or [sseq]:
                if self._acked_by_all(s):
                    ops.append(("W", s))
        self._kick_soon()

    def _ack_explicit(self: Any, sseq: int, dseq: int) -> None:
        """The ack of one message (ack policy explicit): it leaves the pending set and the
        ack floor moves as nats-server's ``moveAckFloor`` (:meth:`_move_floor`, inlined
        with the next pending entry :meth:`PendingSet.pop_floor` found)."""
        if sseq >= self.sseq:
            return
        if self.rdc:
            self.rdc.pop(sseq, None)
        pending = self.pending
        first, nseq, ndseq = pending.pop_floor(sseq, self.adflr)
        if not first:
            return
        if self._rdq_set:
            self._rdq_set.discard(sseq)
        self._ops.append(("A", first, sseq))
        if not pending:
            self.adflr, self.asflr = self.dseq, self.sseq - 1
        elif first == self.adflr + 1:
            if nseq:
                self.adflr, self.asflr = ndseq - 1, nseq - 1
            else:
                self.adflr, self.asflr = first, sseq
        self.last_acked = time.time_ns()
        if self.stream.config.retention != "limits" and self._acked_by_all(sseq):
            self._ops.append(("W", sseq))
        if not self._kicked:
            self._kick_soon()

    def _kick_soon(self: Any) -> None:
        """One wake-up of the writer and the delivery task per loop iteration, not per ack."""
        if not self._kicked:
            self._kicked = True
            asyncio.get_running_loop().call_soon(self._kick)

    def _kick(self: Any) -> None:
        """Wake the state writer and the delivery task after a run of acks."""
        self._kicked = False
        self._ops_ready.set()
        self._wake.set()

    def _move_floor(self: Any, dseq: int, sseq: int) -> None:
        """nats-server's ``moveAckFloor`` after ``sseq`` (first delivered as ``dseq``) left
        the pending set (:meth:`_ack_explicit` has this inlined)."""
        if not self.pending:
            self.adflr, self.asflr = self.dseq, self.sseq - 1
        elif dseq == self.adflr + 1:
            self.adflr, self.asflr = dseq, sseq
            s, d = self.pending.first_after(sseq)
            if s:
                self.adflr, self.asflr = d - 1, s - 1

    def _acked_by_all(self: Any, seq: int) -> bool:
        if self.stream.config.retention == "workqueue":
            return True
        consumers = getattr(self.stream, "consumers", {})
        return all(c is self or c.acked(seq) for c in consumers.values())

    def acked(self: Any, seq: int) -> bool:
        """Interest retention: this consumer no longer needs ``seq``."""
        return seq < self.sseq and seq not in self.pending

    def _nak(self: Any, sseq: int, delay: int) -> None:
        if sseq not in self.pending:
            return
        if delay > 0:
            old = self._delayed.pop(sseq, None)
            if old is not None:
                old.cancel()
            loop = asyncio.get_running_loop()
            self._delayed[sseq] = loop.call_later(delay / 1e9, self._redeliver, sseq)
        else:
            self._redeliver(sseq)

    def _redeliver(self: Any, sseq: int) -> None:
        self._delayed.pop(sseq, None)
        if sseq in self.pending and sseq not in self._rdq_set:
            self._rdq_set.add(sseq)
            self.rdq.append(sseq)
            self._wake.set()

    def _ack_wait(self: Any, dc: int) -> int:
        backoff = self.config.backoff
        if backoff:
            return backoff[min(dc - 1, len(backoff) - 1)]
        return self.config.ack_wait

    def _check_pending(self: Any, now_wall: int) -> int:
        """Queue expired pending messages for redelivery; return ns until the next expiry.

        The pending set is only scanned once its earliest deadline has passed.
        """
        if not self.pending:
            self._expiry_at = 0
            return 0
        if self._expiry_at and now_wall < self._expiry_at:
            return self._expiry_at - now_wall
        nxt = 0
        expired: list[int] = []
        for s, p in self.pending.items():
            if s in self._rdq_set or s in self._delayed:
                continue
            dc = self.rdc.get(s, 1)
            due = p[1] + self._ack_wait(dc)
            if due <= now_wall:
                expired.append(s)
            elif not nxt or due - now_wall < nxt:
                nxt = due - now_wall
        for s in expired:
            self._rdq_set.add(s)
            self.rdq.append(s)
        self._expiry_at = now_wall + nxt if nxt else 0
        return nxt
