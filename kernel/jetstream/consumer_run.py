"""A delivery round's common case in one loop: new messages, in stream order, to one socket.

:meth:`DeliveryMixin._step_pull` serves waiting pull requests a message at a time
(redeliveries first, round-robin over requests, byte budgets, priority groups, ...), and
:meth:`DeliveryMixin._push_round` a push consumer's deliver subject the same way.
Most rounds are simpler: one pull request waits (or the deliver subject is listened to),
its subject has one plain socket subscriber, and the next messages are new ones the
store holds without I/O.  :func:`deliver_run` delivers such a run with what
:meth:`~DeliveryMixin._deliver` does per message — the same frames, ack subjects,
counters and state records — but with the route, the ack-subject prefix, the clock and
the session's queue taken once per run.  :func:`pull_run` is the pull request's run; a
push round calls :func:`deliver_run` with a byte budget that stops the run where the
next flow-control request is due.

The differential pull and push tests (``tests/jetstream/test_consumer_pull_diff.py``,
``test_consumer_push_diff.py``) compare its frames with nats-server;
``tests/jetstream/test_consumer_run.py`` compares it with the message-at-a-time path.
"""

from __future__ import annotations

import time
from typing import Any

from natskern.kernel.core.session import queue_frames
from natskern.kernel.protocol.encode import hmsg_frame

__all__ = ["deliver_run", "pull_run", "push_target", "run_target"]

_mono = time.monotonic_ns


def _runs_possible(consumer: Any) -> bool:
    """Whether the consumer's next messages may go out as a run at all.

    A run needs: new messages only (no redelivery queue, no last-per-subject list, at most
    one filter, a store that reads without I/O), no rewriting (no ``headers_only``) and no
    interest-retention check per delivery.
    """
    return not (
        consumer.rdq
        or consumer.lss
        or consumer._peek is None
        or len(consumer.filters) > 1
        or consumer.config.headers_only
        or (consumer.ack_none and consumer.stream.config.retention == "interest")
    )


def _single_socket(consumer: Any, subject: bytes) -> Any:
    """The one plain socket subscription of ``subject``, or None.

    Exactly one socket session subscribes (no queue group, no callback, no ``UNSUB``
    count, no allow-responses record); the sublist match is cached by generation.
    """
    route = consumer._route
    sublist = consumer.client.account.sublist
    if route is None or route[0] != subject or route[1] != sublist.generation:
        route = consumer._route = (subject, sublist.generation, sublist.match(subject))
    result = route[2]
    if len(result.psubs) != 1 or result.qsubs:
        return None
    sub = result.psubs[0]
    if sub.callback is not None or sub.max_msgs or sub.client.replies is not None:
        return None
    return sub


def run_target(consumer: Any, req: Any) -> Any:
    """The one subscription a run for pull request ``req`` may go to, or None (then go
    message by message): see :func:`_runs_possible`, plus no per-request byte budget
    (``max_bytes``) and no overflow-group condition."""
    if req.max_bytes > 0 or req.min_pending > 0 or req.min_ack_pending > 0:
        return None
    if not _runs_possible(consumer):
        return None
    return _single_socket(consumer, req.reply)


def push_target(consumer: Any) -> Any:
    """The one subscription a push run may go to, or None (then go message by message):
    see :func:`_runs_possible`, plus instant replay and no ``rate_limit_bps`` (both pace
    each message)."""
    cfg = consumer.config
    if cfg.replay_policy != "instant" or cfg.rate_limit_bps or not _runs_possible(consumer):
        return None
    return _single_socket(consumer, consumer.deliver)


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
    """Deliver up to ``limit`` new messages to pull request ``req`` through ``sub``
    (from :func:`run_target`; ``limit`` at most the request's batch); return how many."""
    n, _size = deliver_run(consumer, sub, limit)
    req.delivered += n
    req.batch -= n
    return n


def deliver_run(consumer: Any, sub: Any, limit: int, budget: int = 0) -> tuple[int, int]:
    """Deliver up to ``limit`` new messages through ``sub``; return how many and their size.

    The size of a message is what flow control counts (:meth:`DeliveryMixin._deliver`'s
    return: subject, ack subject, headers and payload).  With a ``budget`` the run stops
    after the message that brings the size to it.  Stops early when the store has no
    further message at hand (its ``peek_run``, or ``peek_next_msg`` one at a time: the
    caller's next step takes the general path, which waits for the I/O).
    """
    c = consumer
    if c.maxp > 0 and not c.ack_none:
        limit = min(limit, c.maxp - len(c.pending))
    if limit <= 0:
        return 0, 0
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
    nbytes = size = n = fc = 0
    last_subject = ""
    head = b""  # b"MSG <subject> <sid> <ack prefix>" of the last subject
    # The ack subject's length in a MSG line: len(line) - fixed - digits of the size.
    fixed = 0
    peek_run = getattr(c.store, "peek_run", None)
    if peek_run is None:
        run = _one_by_one(peek, flt, sseq, limit)
    elif budget:  # (no message read past the budget: a large one would be read again)
        run = peek_run(flt, sseq, limit, budget)
    else:
        run = peek_run(flt, sseq, limit)
    for msg in run:
        seq = msg.seq
        dseq += 1
        sseq = seq + 1
        npc = npc - 1 if npc > 0 else 0
        hdr, payload = msg.headers, msg.payload
        if hdr is None or plain:
            if msg.subject != last_subject:
                last_subject = msg.subject
                subject = last_subject.encode()
                head = b"MSG %b %b %b" % (subject, sid, prefix)
                fixed = len(head) - len(prefix) - len(subject) + 3
            plen = len(payload)
            line = b"%b%d.%d.%d.%d %d\r\n" % (head, seq, dseq, msg.ts, npc, plen)
            add(line)
            add(payload)
            add(b"\r\n")
            nbytes += len(line) + plen + 2
            size += plen
            if budget:
                fc += len(line) - fixed - len(str(plen)) + plen + (len(hdr) if hdr else 0)
        else:
            reply = prefix + b"%d.%d.%d.%d" % (seq, dseq, msg.ts, npc)
            frame = hmsg_frame(msg.subject.encode(), sid, reply, hdr, payload)
            add(frame)
            nbytes += len(frame)
            size += len(payload) + len(hdr)
            if budget:
                fc += len(msg.subject) + len(reply) + len(payload) + len(hdr)
        seqs.append(seq)
        n += 1
        if n >= limit or (budget and fc >= budget):
            break
    if not n:
        return 0, 0
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
        if c._defer_none:  # a push round writes its "N" op at its end
            c._none_deferred = True
        elif not c._none_dirty:
            c._none_dirty = True
            c._op("N")
    else:
        c._ops_ready.set()
        due = now + c._ack_wait(1)
        if not c._expiry_at or due < c._expiry_at:
            c._expiry_at = due
    c._last_delivery = c._last_active = _mono()
    return n, fc
