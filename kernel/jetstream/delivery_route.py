"""Routing of a consumer's delivery: to the subscribers of its target, showing the
stored message's own subject (nats-server's push and pull deliveries), across a stream
import into the importing account."""

from __future__ import annotations

from random import random
from typing import Any

from natskern.kernel.core.imports import MAX_HOPS, StreamImport
from natskern.kernel.core.session import queue_frames
from natskern.kernel.protocol.encode import hmsg_frame
from natskern.kernel.subjects.sublist import EMPTY_RESULT

__all__ = ["deliver_as", "deliver_to"]


def deliver_as(
    client: Any, target: bytes, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes
) -> int:
    """Deliver to the subscribers of ``target`` a message that shows ``subject``.

    What nats-server does for consumers: routed on the deliver subject (or the pull
    request's inbox), the MSG/HMSG frame carries the stored message's own subject.
    One member of each queue group gets it.
    """
    match = client.account.sublist.match(target)
    return deliver_to(client, match, subject, reply, hdr, payload, target=target)


def deliver_to(
    client: Any,
    result: Any,
    subject: bytes,
    reply: bytes,
    hdr: bytes | None,
    payload: bytes,
    *,
    target: bytes = b"",
) -> int:
    """:func:`deliver_as` to the subscribers ``result`` of a sublist match already made
    (of ``target``: a stream import takes the delivery to its account on that subject)."""
    if result is EMPTY_RESULT:
        return 0
    subs = list(result.psubs)
    subs += [group[int(random() * len(group))] for group in result.qsubs]
    for sub in subs:
        cb = sub.callback
        if cb is not None:
            imp = getattr(cb, "__self__", None)
            if target and type(imp) is StreamImport:
                _forward(client, imp, target, subject, reply, hdr, payload)
            else:
                cb(subject, reply, hdr, payload)
        else:
            c = sub.client
            if hdr is None or not c.headers:
                line = (b" " + reply if reply else b"") + b" %d\r\n" % len(payload)
                pieces: tuple[bytes, ...] = (
                    b"MSG ",
                    subject,
                    b" ",
                    sub.sid,
                    line,
                    payload,
                    b"\r\n",
                )
                queue_frames(c, pieces, sum(map(len, pieces)), 1, len(payload), reply, client)
            else:
                frame = hmsg_frame(subject, sub.sid, reply, hdr, payload)
                queue_frames(c, (frame,), len(frame), 1, len(payload) + len(hdr), reply, client)
        sub.delivered += 1
        if sub.max_msgs and sub.delivered >= sub.max_msgs:
            sub.client.remove_subscription(sub)
    return len(subs)


def _forward(
    client: Any,
    imp: StreamImport,
    target: bytes,
    subject: bytes,
    reply: bytes,
    hdr: bytes | None,
    payload: bytes,
) -> None:
    """A delivery on ``target`` that a stream import exports: routed in the importing
    account on the (renamed) deliver subject, still showing the message's own subject, as
    nats-server delivers a push consumer's messages across accounts (one hop)."""
    imports = imp.imports
    if imports.in_stream or imports.hops >= MAX_HOPS:
        return
    if imp.transform is not None:
        target = imp.transform(target) or b""
        if not target:
            return
    imports.in_stream = True
    imports.hops += 1
    try:
        match = imp.importer.sublist.match(target)
        deliver_to(client, match, subject, reply, hdr, payload, target=target)
    finally:
        imports.hops -= 1
        imports.in_stream = False
