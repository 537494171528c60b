"""A pull round's common case in one loop: new messages, in stream order, to one socket.

:meth:`DeliveryMixin._step_pull` serves waiting pull requests a message at a time
(redeliveries first, round-robin over requests, byte budgets, priority groups, ...).
Most rounds are simpler: one request waits, its inbox has one plain socket subscriber,
and the next messages are new ones the store holds without I/O.  :func:`pull_run`
delivers such a run with what :meth:`~DeliveryMixin._deliver` does per message —
the same frames, ack subjects, counters and state records — but with the request, the
route, the ack-subject prefix, the clock and the session's queue taken once per run.

The differential pull tests (``tests/jetstream/test_consumer_pull_diff.py``) compare its
frames with nats-server byte for byte; ``tests/jetstream/test_consumer_run.py`` compares
it with the message-at-a-time path.
"""

from __future__ import annotations

import time
from typing import Any

from natskern.kernel.core.session import queue_frames
from natskern.kernel.protocol.encode import hmsg_frame

__all__ = ["pull_run", "run_target"]

_mono = time.monotonic_ns


def run_target(consumer: Any, req: Any) -> Any:
    """The one subscription a run for ``req`` may go to, or None (then go message by message).

    A run needs: new messages only (no redelivery queue, no last-per-subject list, at most
    one filter, a store that reads without I/O), no per-message budget or rewriting (no
    ``max_bytes``, no ``headers_only``), no overflow-group condition, no interest-retention
    check per delivery, and an
    inbox subscribed by exactly one socket session (no queue group, no callback, no
    ``UNSUB`` count, no allow-responses record).
    """
    if (
        consumer.rdq
        or consumer.lss
        or consumer._peek is None
        or len(consumer.filters) > 1
        or req.max_bytes > 0
        or req.min_pending > 0
        or req.min_ack_pending > 0
        or consumer.config.headers_only
        or (consumer.ack_none and consumer.stream.config.retention == "interest")
    ):
        return None
    route = consumer._route
    sublist = consumer.client.account.sublist
    if route is None or route[0] != req.reply or route[1] != sublist.generation:
        route = consumer._route = (req.reply, sublist.generation, sublist.match(req.reply))
    result = route[2]
    if len(result.psubs) != 1 or result.qsubs:
        return None
    sub = result.psubs[0]
    if sub.callback is not None or sub.max_msgs or sub.client.replies is not None:
        return None
    return sub


def _one_by_one(peek: Any, flt: str, seq: int, limit: int) -> Any:
    """The messages ``peek_next_msg`` has at hand from ``seq`` on (a store without
    ``peek_run``)."""
    for _ in range(limit):
        msg = peek(flt, seq)
        if msg is None or msg is False:
            return
        yield msg
        seq = msg.seq + 1


def pull_run(consumer: Any, req: Any, sub: Any, limit: int) -> int:
    """Deliver up to ``limit`` new messages to ``req`` through ``sub``; return how many.

    ``sub`` comes from :func:`run_target`; ``limit`` is at most the request's batch.
    Stops early when the store has no further message at hand (its ``peek_run``, or
    ``peek_next_msg`` one at a time: the caller's next step takes the general path, which
    waits for the I/O).
    """
    c = consumer
    if c.maxp > 0 and not c.ack_none:
        limit = min(limit, c.maxp - len(c.pending))
    if limit <= 0:
        return 0
    peek, flt = c._peek, (c.filters[0] if c.filters else "")
    session = sub.client
    sid = sub.sid
    plain = not session.headers
    prefix = b"$JS.ACK.%s.%s.1." % (c._stream_prefix.encode(), c.name.encode())
    npc = c.pending_count()
    dseq0 = dseq = c.dseq
    sseq = c.sseq
    now = time.time_ns()
    ack_none = c.ack_none
    seqs: list[int] = []
    out: list[bytes] = []
    add = out.append
    nbytes = size = n = 0
    last_subject = ""
    head = b""  # b"MSG <subject> <sid> <ack prefix>" of the last subject
    peek_run = getattr(c.store, "peek_run", None)
    run = peek_run(flt, sseq, limit) if peek_run else _one_by_one(peek, flt, sseq, limit)
    for msg in run:
        seq = msg.seq
        dseq += 1
        sseq = seq + 1
        npc = npc - 1 if npc > 0 else 0
        hdr, payload = msg.headers, msg.payload
        if hdr is None or plain:
            if msg.subject != last_subject:
                last_subject = msg.subject
                head = b"MSG %b %b %b" % (last_subject.encode(), sid, prefix)
            line = b"%b%d.%d.%d.%d %d\r\n" % (head, seq, dseq, msg.ts, npc, len(payload))
            add(line)
            add(payload)
            add(b"\r\n")
            nbytes += len(line) + len(payload) + 2
            size += len(payload)
        else:
            reply = prefix + b"%d.%d.%d.%d" % (seq, dseq, msg.ts, npc)
            frame = hmsg_frame(msg.subject.encode(), sid, reply, hdr, payload)
            add(frame)
            nbytes += len(frame)
            size += len(payload) + len(hdr)
        seqs.append(seq)
        n += 1
        if n >= limit:
            break
    if not n:
        return 0
    if not ack_none:
        c._ops.append(("DR", dseq0 + 1, seqs, now))
        c.pending.extend_run(seqs, dseq0 + 1, now)
    c.dseq, c.sseq = dseq, sseq
    if c._npc is not None:
        c._npc = npc
    sub.delivered += n
    queue_frames(session, out, nbytes, n, size, b"", c.client)
    c.last_delivered = now
    if ack_none:
        c.adflr, c.asflr = dseq, sseq - 1
        if not c._none_dirty:
            c._none_dirty = True
            c._op("N")
    else:
        c._ops_ready.set()
        due = now + c._ack_wait(1)
        if not c._expiry_at or due < c._expiry_at:
            c._expiry_at = due
    c._last_delivery = c._last_active = _mono()
    req.delivered += n
    req.batch -= n
    return n
