"""The publish path: map → match → deliver, with queue groups and no-responders.

This is the hot path.  Frames for socket sessions are built here directly as
bytes (the part before the sid and the part after it are built once per
message and shared by every receiver); in-process subscriptions get a
callback.  Nothing on this path calls a plugin hook.
"""

from __future__ import annotations

from random import random
from typing import TYPE_CHECKING

from kernel.subjects.sublist import Sublist

if TYPE_CHECKING:  # pragma: no cover
    from kernel.core.accounts import Account

#: The 503 header block nats-server (<= 2.11) sends for a request nobody receives.
NO_RESPONDERS = b"NATS/1.0 503\r\n\r\n"
_CRLF = b"\r\n"


def publish(
    client, account: Account, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes
) -> int:
    """Deliver one message inside ``account``; return how many subscriptions got it.

    ``client`` is the publishing session (for echo and no-responders); it may
    be None for internal publishes.  ``hdr`` is the raw header block or None.
    """
    mapper = account.mapper
    if mapper is not None:
        subject = mapper(subject)
    result = account.sublist.match(subject)
    psubs = result.psubs
    qsubs = result.qsubs
    if not psubs and not qsubs:
        if reply and client is not None and client.no_responders:
            _no_responders(client, account.sublist, reply)
        return 0

    size = len(payload)
    # Frames: b"MSG <subject> " + sid + tail  /  b"HMSG <subject> " + sid + htail
    tail = None
    htail = None
    delivered = 0
    broker = None
    for sub in psubs:
        c = sub.client
        if c is client and not client.echo:
            continue
        cb = sub.callback
        if cb is not None:
            cb(subject, reply, hdr, payload)
        else:
            if c.deliver_deny is not None and c.deliver_deny.denies_delivery(subject):
                continue
            if hdr is not None and c.headers:
                if htail is None:
                    hlen = len(hdr)
                    htail = b"%s%d %d\r\n%s%s\r\n" % (
                        b" " + reply + b" " if reply else b" ",
                        hlen,
                        hlen + size,
                        hdr,
                        payload,
                    )
                frame = b"HMSG " + subject + b" " + sub.sid + htail
            else:
                if tail is None:
                    if reply:
                        tail = b" %s %d\r\n%s\r\n" % (reply, size, payload)
                    else:
                        tail = b" %d\r\n%s\r\n" % (size, payload)
                frame = b"MSG " + subject + b" " + sub.sid + tail
            c.out.append(frame)
            flen = len(frame)
            c.pending += flen
            c.out_msgs += 1
            c.out_bytes += size
            if not c.flush_scheduled:
                c.flush_scheduled = True
                if broker is None:
                    broker = c.broker
                broker.mark_dirty(c)
            if c.pending > c.max_pending:
                c.slow_consumer()
            if reply and c.replies is not None:
                c.record_reply(reply)
        delivered += 1
        if sub.max_msgs:
            sub.delivered += 1
            if sub.delivered >= sub.max_msgs:
                c.remove_subscription(sub)
        else:
            sub.delivered += 1

    for group in qsubs:
        n = len(group)
        sub = group[int(random() * n)] if n > 1 else group[0]
        c = sub.client
        if c is client and not client.echo and n > 1:
            # Pick another member rather than bouncing the message back.
            others = [s for s in group if s.client is not client]
            if not others:
                continue
            sub = others[int(random() * len(others))]
            c = sub.client
        elif c is client and not client.echo:
            continue
        cb = sub.callback
        if cb is not None:
            cb(subject, reply, hdr, payload)
        else:
            if hdr is not None and c.headers:
                hlen = len(hdr)
                frame = b"HMSG %s %s%s%d %d\r\n%s%s\r\n" % (
                    subject,
                    sub.sid,
                    b" " + reply + b" " if reply else b" ",
                    hlen,
                    hlen + size,
                    hdr,
                    payload,
                )
            elif reply:
                frame = b"MSG %s %s %s %d\r\n%s\r\n" % (subject, sub.sid, reply, size, payload)
            else:
                frame = b"MSG %s %s %d\r\n%s\r\n" % (subject, sub.sid, size, payload)
            c.out.append(frame)
            c.pending += len(frame)
            c.out_msgs += 1
            c.out_bytes += size
            if not c.flush_scheduled:
                c.flush_scheduled = True
                c.broker.mark_dirty(c)
            if c.pending > c.max_pending:
                c.slow_consumer()
            if reply and c.replies is not None:
                c.record_reply(reply)
        delivered += 1
        sub.delivered += 1
        if sub.max_msgs and sub.delivered >= sub.max_msgs:
            c.remove_subscription(sub)

    if delivered == 0 and reply and client is not None and client.no_responders:
        _no_responders(client, account.sublist, reply)
    return delivered


def _no_responders(client, sublist: Sublist, reply: bytes) -> None:
    """Send the 503 status to the publisher's own subscription matching ``reply``."""
    if not client.headers or client.closed:
        return
    result = sublist.match(reply)
    for sub in result.psubs:
        if sub.client is client:
            _send_status(client, sub, reply)
            return
    for group in result.qsubs:
        for sub in group:
            if sub.client is client:
                _send_status(client, sub, reply)
                return


def _send_status(client, sub, reply: bytes) -> None:
    n = len(NO_RESPONDERS)
    if sub.callback is not None:
        sub.callback(reply, b"", NO_RESPONDERS, b"")
        return
    client.send(b"HMSG %s %s %d %d\r\n%s\r\n" % (reply, sub.sid, n, n, NO_RESPONDERS))
