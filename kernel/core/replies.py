"""Answers to many requests at once: a server session's replies, in order (a stream's acks).

:func:`publish_replies` is :func:`~natskern.kernel.core.router.publish` for each of a list of
``(subject, payload)`` answers, with the common case built in bulk: consecutive answers to a
subject whose one receiver is a plain socket subscription are booked with one
:func:`~natskern.kernel.core.session.queue_frames` call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from natskern.kernel.core.router import _SIZE_LINES, CRLF, _new_size_line, publish
from natskern.kernel.core.session import Session, queue_frames

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.accounts import Account
    from natskern.kernel.core.subscription import Subscription

__all__ = ["publish_replies"]


def publish_replies(
    client: Session,
    account: Account,
    subjects: list[bytes],
    payloads: list[bytes],
    _size_line: Callable[[int], bytes | None] = _SIZE_LINES.get,
    _queue: Callable[..., None] = queue_frames,
) -> None:
    """Deliver one message without headers or reply to each subject, in order (answers).

    The same as :func:`publish` for each ``(subject, payload)`` pair (an empty subject is
    skipped), for a server session answering many requests at once (a stream's
    acknowledgements).  Consecutive answers to a subject with exactly one receiver, a plain
    socket subscription (no queue group, callback or ``UNSUB`` count), are built into one
    list of frame pieces booked with one :func:`queue_frames` call (answers all to one
    subject whose match is cached: into one chunk); the match of the last subject is reused
    while it repeats.  Anything else goes through :func:`publish`.
    """
    if account.mapper is not None:
        for subject, payload in zip(subjects, payloads, strict=True):
            if subject:
                publish(client, account, subject, b"", None, payload)
        return
    sublist = account.sublist
    match = sublist.match
    skip = None if client.echo else client
    count = len(subjects)
    if count > 1 and subjects[0] and subjects.count(subjects[0]) == count:
        # All to one subject (one inbox answered many times), its match cached: one chunk.
        subject = subjects[0]
        result = sublist.peek(subject)
        if result is not None and len(result.psubs) == 1 and not result.qsubs:
            sub = result.psubs[0]
            if sub.callback is None and not sub.max_msgs and sub.client is not skip:
                head = (sub.prefix or b"MSG " + subject + b" " + sub.sid).replace(b"%", b"%%")
                form = head + b" %d\r\n%b\r\n"
                chunk = b"".join([form % (len(p), p) for p in payloads])
                size = sum(map(len, payloads))
                _queue(sub.client, (chunk,), len(chunk), count, size, b"", client)
                sub.delivered += count
                sublist.count_matches(count)
                return
    last = b""
    target: Subscription | None = None  # the one plain receiver of ``last``
    current: Subscription | None = None  # whose frames ``pieces`` holds
    pieces: list[bytes] = []
    head = b""
    nbytes = size = count = repeats = 0
    for subject, payload in zip(subjects, payloads, strict=True):
        if not subject:
            continue
        if subject == last:
            repeats += 1
        else:
            result = match(subject)
            last = subject
            target = None
            if len(result.psubs) == 1 and not result.qsubs:
                sub = result.psubs[0]
                if sub.callback is None and not sub.max_msgs and sub.client is not skip:
                    target = sub
                    head = sub.prefix or b"MSG " + subject + b" " + sub.sid
        if target is None:
            if current is not None:
                _queue(current.client, pieces, nbytes, count, size, b"", client)
                current.delivered += count
                current, pieces, nbytes, size, count = None, [], 0, 0, 0
            publish(client, account, subject, b"", None, payload, result)
            last = b""  # (an auto-unsubscribe may have changed the receivers)
            continue
        if target is not current:
            if current is not None:
                _queue(current.client, pieces, nbytes, count, size, b"", client)
                current.delivered += count
                pieces, nbytes, size, count = [], 0, 0, 0
            current = target
        n = len(payload)
        line = _size_line(n) or _new_size_line(n)
        pieces += (head, line, payload, CRLF)
        nbytes += len(head) + len(line) + n + 2
        size += n
        count += 1
    if current is not None:
        _queue(current.client, pieces, nbytes, count, size, b"", client)
        current.delivered += count
    if repeats:
        sublist.count_matches(repeats)
