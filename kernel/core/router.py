"""The publish path: map → match → deliver, with queue groups and no-responders.

This is the hot path.  A MSG frame for a socket session is queued as pieces
(``MSG <subject> <sid>``, prebuilt per literal subscription; `` [reply] <size>``,
built once per message; the payload; CRLF) that the session joins once per
flush, so nothing is copied per receiver; a run of messages on one subject is
built into one chunk per receiver, and a batch of messages on varying subjects is
routed in one call.  Every path books its frames through
:func:`natskern.kernel.core.session.queue_frames`; subscriptions with a callback
(in-process, internal, filtered) are called, and what they answer is a
:data:`~natskern.kernel.core.session.DeliverResult`.  The router knows sessions only
through the :class:`~natskern.kernel.core.session.Session` protocol.
Nothing on this path calls a plugin hook.
"""

from __future__ import annotations

from collections.abc import Callable
from random import random
from typing import TYPE_CHECKING

from natskern.kernel.core.session import (
    RESERVED_REPLY_PREFIXES,
    FrameSession,
    Session,
    queue_frames,
    refuse_reply,
)
from natskern.kernel.protocol.encode import hmsg_frame
from natskern.kernel.protocol.headers import NO_RESPONDERS_HDR
from natskern.kernel.subjects.sublist import EMPTY_RESULT, Sublist, SublistResult

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.accounts import Account
    from natskern.kernel.core.subscription import Subscription

__all__ = ["RESERVED_REPLY_PREFIXES", "publish", "publish_batch", "publish_run"]

CRLF = b"\r\n"
#: ``b" <size>\r\n"`` for the payload sizes seen so far (bounded).
_SIZE_LINES: dict[int, bytes] = {}
_SIZE_LINES_LIMIT = 65536


def _new_size_line(size: int) -> bytes:
    line = b" %d\r\n" % size
    if len(_SIZE_LINES) < _SIZE_LINES_LIMIT:
        _SIZE_LINES[size] = line
    return line


def publish(
    client: Session | None,
    account: Account,
    subject: bytes,
    reply: bytes,
    hdr: bytes | None,
    payload: bytes,
    result: SublistResult | None = None,
    tokens: tuple[bytes, bytes] | None = None,
    _empty: SublistResult = EMPTY_RESULT,
    _random: Callable[[], float] = random,
    _size_line: Callable[[int], bytes | None] = _SIZE_LINES.get,
    _queue: Callable[..., None] = queue_frames,
) -> int:
    """Deliver one message inside ``account``; return how many subscriptions got it.

    ``client`` is the publishing session (for echo, no-responders and back-pressure); it
    may be None for internal publishes.  ``hdr`` is the raw header block or None.
    ``result`` is the subject's match when the caller already has it (``subject`` is
    then the routed subject: no mapping is applied).  ``tokens`` are the publisher's size
    tokens (header, total) when it sent them with leading zeros: nats-server repeats them
    as sent in MSG/HMSG (a MSG stripped of its headers gets a computed size).
    (The underscored parameters bind module globals as fast locals; never pass them.)
    """
    if result is None:
        mapper = account.mapper
        if mapper is not None:
            subject = mapper(subject)
            if not subject:  # the mapping dropped the message (nats-server drops it)
                return 0
        result = account.sublist.match(subject)
    if result is _empty:
        if reply and client is not None and client.no_responders:
            _no_responders(client, account.sublist, reply)
        return 0

    # A publisher that asked for no echo never gets its own messages back.
    skip = client if client is not None and not client.echo else None
    size = len(payload)
    targets: tuple[Subscription, ...] | list[Subscription] = result.psubs
    qsubs = result.qsubs
    if qsubs and not targets and len(qsubs) == 1:
        # The common case: one queue group and no plain subscriber.
        group = qsubs[0]
        sub = group[int(_random() * len(group))]
        if sub.client is not skip:
            targets = (sub,)
            qsubs = ()
    if qsubs:
        picks = []
        for group in qsubs:
            sub = group[int(_random() * len(group))]
            if sub.client is skip:
                # Pick another member rather than bouncing the message back.
                others = [s for s in group if s.client is not skip]
                if not others:
                    continue
                sub = others[int(_random() * len(others))]
            picks.append(sub)
        targets = (*targets, *picks) if targets else picks
    delivered = 0
    line = None  # b"[ reply] <size>\r\n", built on the first socket delivery
    rest = 0
    for sub in targets:
        c: FrameSession = sub.client
        if c is skip:
            continue
        cb = sub.callback
        if cb is not None:
            answer = cb(subject, reply, hdr, payload)
            if answer is not None and answer is not True:
                if answer is False:
                    continue  # nobody behind the callback took it (an import, a filter)
                if client is not None:
                    answer.hold(client)  # a holder over its high-water mark
        elif hdr is None or not c.headers:
            # The frame goes out as pieces, joined once per flush: nothing is copied here.
            if line is None:
                if tokens is not None and hdr is None:
                    line = b" " + tokens[1] + b"\r\n"
                else:
                    line = _size_line(size) or _new_size_line(size)
                if reply:
                    line = b" " + reply + line
                rest = len(line) + size + 2
            prefix = sub.prefix
            if prefix is not None:
                _queue(c, (prefix, line, payload, CRLF), len(prefix) + rest, 1, size, reply, client)
            else:
                sid = sub.sid
                _queue(
                    c,
                    (b"MSG ", subject, b" ", sid, line, payload, CRLF),
                    len(subject) + len(sid) + 5 + rest,
                    1,
                    size,
                    reply,
                    client,
                )
        else:
            if tokens is None:
                frame = hmsg_frame(subject, sub.sid, reply, hdr, payload)
            else:
                frame = b"HMSG %b %b%b %b %b\r\n%b%b\r\n" % (
                    *(subject, sub.sid, b" " + reply if reply else b"", *tokens, hdr, payload),
                )
            # nats-server counts header bytes too
            _queue(c, (frame,), len(frame), 1, size + len(hdr), reply, client)
        delivered += 1
        sub.delivered += 1
        if sub.max_msgs and sub.delivered >= sub.max_msgs:
            c.remove_subscription(sub)

    if delivered == 0 and reply and client is not None and client.no_responders:
        _no_responders(client, account.sublist, reply)
    return delivered


def publish_batch(
    client: FrameSession,
    account: Account,
    messages: list[tuple[bytes, bytes, bytes]],
    _empty: SublistResult = EMPTY_RESULT,
    _size_line: Callable[[int], bytes | None] = _SIZE_LINES.get,
    _queue: Callable[..., None] = queue_frames,
) -> None:
    """Deliver consecutive messages without headers from one session: ``(subject, reply,
    payload)`` triples.

    The same as :func:`publish` for each message in order, with the per-call setup done once
    and the common case delivered inline: only socket subscriptions without an
    auto-unsubscribe limit and no queue group.  Any other message (queue groups, callbacks,
    ``UNSUB <max>``, the publisher's own subscription when it asked for no echo) goes
    through :func:`publish`, with the match already made.  A reply on the server's reserved
    prefixes is refused (:func:`~natskern.kernel.core.session.refuse_reply`), as a single PUB
    would be.  If the publisher is cut while a message is routed, the batch stops after that
    message.
    """
    mapper = account.mapper  # applied per message, so weighted mappings draw per message
    skip = None if client.echo else client
    sublist = account.sublist
    match = sublist.match
    peek = sublist.peek
    hits = 0
    last_size = -1  # the size line of the last message (payload sizes tend to repeat)
    size_line = b""
    # Consecutive messages for one subscription taking runs (``many``: a stream's ingest).
    run_sub: Subscription | None = None
    run: list[tuple[bytes, bytes, bytes | None, bytes]] = []
    for subject, reply, payload in messages:
        if reply and reply.startswith(RESERVED_REPLY_PREFIXES):
            refuse_reply(client, reply)
            continue
        routed = subject
        if mapper is not None:
            routed = mapper(subject)
            if not routed:
                continue
        result = peek(routed)
        if result is None:
            result = match(routed)
        else:
            hits += 1
        if result is _empty:
            if reply and client.no_responders:
                _no_responders(client, sublist, reply)
            continue
        psubs = result.psubs
        if not result.qsubs:
            for sub in psubs:
                if sub.callback is not None or sub.max_msgs or sub.client is skip:
                    break
            else:
                # Every receiver is a plain socket subscription: as in publish(), inline.
                size = len(payload)
                if size != last_size:
                    size_line = _size_line(size) or _new_size_line(size)
                    last_size = size
                line = b" " + reply + size_line if reply else size_line
                rest = len(line) + size + 2
                for sub in psubs:
                    prefix = sub.prefix
                    if prefix is not None:
                        pieces: tuple[bytes, ...] = (prefix, line, payload, CRLF)
                        nbytes = len(prefix) + rest
                    else:
                        sid = sub.sid
                        pieces = (b"MSG ", routed, b" ", sid, line, payload, CRLF)
                        nbytes = len(routed) + len(sid) + 5 + rest
                    _queue(sub.client, pieces, nbytes, 1, size, reply, client)
                    sub.delivered += 1
                if client.closed:
                    break  # cut as a slow consumer of its own messages: as its parser stops
                continue
            # (``sub`` is the receiver that is not a plain socket subscription)
            if (
                sub.many is not None
                and len(psubs) == 1
                and not sub.max_msgs
                and sub.client is not skip
            ):
                if sub is not run_sub:
                    if run_sub is not None:
                        _hand_run(client, account, run_sub, run)
                    run_sub, run = sub, []
                run.append((routed, reply, None, payload))
                continue
        if run_sub is not None:  # (this message may go to it too: after its run)
            _hand_run(client, account, run_sub, run)
            run_sub, run = None, []
        publish(client, account, routed, reply, None, payload, result)
        if client.closed:
            break
    if run_sub is not None:
        _hand_run(client, account, run_sub, run)
    sublist.count_matches(hits)


def _hand_run(
    client: Session | None,
    account: Account,
    sub: Subscription,
    run: list[tuple[bytes, bytes, bytes | None, bytes]],
) -> None:
    """Deliver routed messages to ``sub``'s ``many``, as :func:`publish` would one by one.

    When it takes none (it was closed meanwhile) each is routed again on its own.
    """
    assert sub.many is not None
    answer = sub.many(run)
    if answer is False:
        match = account.sublist.match
        for subject, reply, hdr, payload in run:
            publish(client, account, subject, reply, hdr, payload, match(subject))
        return
    if answer is not None and answer is not True and client is not None:
        answer.hold(client)  # a holder over its high-water mark
    sub.delivered += len(run)


def publish_run(
    client: Session | None,
    account: Account,
    subject: bytes,
    reply: bytes,
    payloads: list[bytes],
    _empty: SublistResult = EMPTY_RESULT,
    _random: Callable[[], float] = random,
) -> None:
    """Deliver consecutive messages without headers that share ``subject`` and ``reply``.

    The same as calling :func:`publish` for each payload in order, but matched once and,
    for every socket receiver, built into one buffer chunk: a run of a thousand 16-byte
    messages costs about what a few single messages do.  Each receiver still gets the
    messages in order and each queue group member is still picked at random per message.
    Whatever the fast path does not cover (a mapping that is not a pure function of the
    subject, callbacks, auto-unsubscribe, no-echo publishers, no interest, a session with
    two matching subscriptions) takes the per-message path.
    """
    original = subject
    mapper = account.mapper
    if mapper is not None:
        if not account.mapper_pure:
            for payload in payloads:
                publish(client, account, subject, reply, None, payload)
            return
        subject = mapper(subject)
        if not subject:
            return
    sublist = account.sublist
    result = sublist.match(subject)
    if result is _empty and not (reply and client is not None and client.no_responders):
        sublist.count_matches(len(payloads) - 1)
        return  # nobody listens and nobody is owed a no-responders status
    psubs = result.psubs
    qsubs = result.qsubs
    if len(psubs) == 1 and not qsubs:
        sub = psubs[0]
        if (
            sub.many is not None
            and not sub.max_msgs
            and (client is None or client.echo or sub.client is not client)
        ):
            sublist.count_matches(len(payloads) - 1)
            _hand_run(client, account, sub, [(subject, reply, None, p) for p in payloads])
            return
    if result is _empty or (client is not None and not client.echo) or not _plain(psubs, qsubs):
        # Message by message: the first with this match, the others matched again (an
        # auto-unsubscribe may change the receivers on the way).
        publish(client, account, subject, reply, None, payloads[0], result)
        for payload in payloads[1:]:
            publish(client, account, original, reply, None, payload)  # (a pure mapping)
        return
    sublist.count_matches(len(payloads) - 1)
    lengths = set(map(len, payloads))
    size = lengths.pop() if len(lengths) == 1 else -1
    for sub in psubs:
        _deliver_run(sub, subject, reply, payloads, size, client)
    for group in qsubs:
        members = len(group)
        if members == 1:
            _deliver_run(group[0], subject, reply, payloads, size, client)
            continue
        shares: list[list[bytes]] = [[] for _ in group]
        for payload in payloads:
            shares[int(_random() * members)].append(payload)
        for sub, share in zip(group, shares, strict=True):
            if share:
                _deliver_run(sub, subject, reply, share, size, client)


def _plain(psubs: tuple[Subscription, ...], qsubs: tuple[tuple[Subscription, ...], ...]) -> bool:
    """True when a run can be delivered receiver by receiver.

    That is when every subscription is a socket one without an auto-unsubscribe limit, and
    no session holds two of them: a session with two matching subscriptions gets each
    message once per subscription, interleaved, as message-by-message routing sends them.
    """
    sessions = set()
    count = 0
    for sub in psubs:
        if sub.callback is not None or sub.max_msgs:
            return False
        sessions.add(sub.client)
        count += 1
    for group in qsubs:
        for sub in group:
            if sub.callback is not None or sub.max_msgs:
                return False
            sessions.add(sub.client)
            count += 1
    return len(sessions) == count


def _deliver_run(
    sub: Subscription,
    subject: bytes,
    reply: bytes,
    payloads: list[bytes],
    size: int,
    producer: Session | None,
) -> None:
    """Queue the MSG frames of ``payloads`` for one socket subscription as one chunk.

    ``size`` is the length of every payload, or -1 when they differ.
    """
    head = sub.prefix
    if head is None:
        head = b"MSG %s %s" % (subject, sub.sid)
    count = len(payloads)
    if size >= 0:
        line = head + (b" %s %d\r\n" % (reply, size) if reply else b" %d\r\n" % size)
        chunk = line + (b"\r\n" + line).join(payloads) + b"\r\n"
        total = size * count
    else:
        head += b" " + reply + b" " if reply else b" "
        chunk = b"".join([b"%s%d\r\n%s\r\n" % (head, len(p), p) for p in payloads])
        total = sum(map(len, payloads))
    queue_frames(sub.client, (chunk,), len(chunk), count, total, reply, producer)
    sub.delivered += count


def _no_responders(client: Session, sublist: Sublist, reply: bytes) -> None:
    """Send the 503 status to the publisher's own subscription matching ``reply``.

    Only plain subscriptions count: a queue subscription on the reply subject gets no
    status (nats-server's ``subForReply``).
    """
    if not client.headers or client.closed:
        return
    for sub in sublist.match(reply).psubs:
        if sub.client is client:
            _send_status(sub, reply)
            return


def _send_status(sub: Subscription, reply: bytes) -> None:
    if sub.callback is not None:
        sub.callback(reply, b"", NO_RESPONDERS_HDR, b"")
        return
    c: FrameSession = sub.client
    c.send(hmsg_frame(reply, sub.sid, b"", NO_RESPONDERS_HDR, b""))
