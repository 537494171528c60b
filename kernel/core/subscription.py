"""A subscription: what the routing trie stores and the router delivers to."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from natskern.kernel.subjects.tokens import is_literal

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.session import DeliverResult

#: ``callback(subject, reply, headers, payload)`` for subscriptions served in-process; what
#: it returns is a ``DeliverResult`` (``natskern.kernel.core.session``).
DeliverCallback = Callable[[bytes, bytes, bytes | None, bytes], "DeliverResult"]
#: ``many(messages)``: a callback subscription's form for consecutive messages, each
#: ``(subject, reply, headers, payload)``; the same as the callback for each in order, one
#: ``DeliverResult`` for all (False: none was taken, and the router delivers them again one
#: by one).
DeliverMany = Callable[[list[tuple[bytes, bytes, "bytes | None", bytes]]], "DeliverResult"]


class Subscription:
    """One SUB of one client, or an in-process subscription with a callback.

    ``client`` is the owning session (a ``Session``, and a ``FrameSession`` when there is no
    ``callback``: ``natskern.kernel.core.session``); ``queue`` is None for plain subscriptions.
    ``callback`` is None for socket clients (the router writes MSG frames to
    ``client`` directly) and a function for in-process and internal
    subscriptions, and for socket subscriptions that need a delivery filter.
    ``max_msgs`` (0 = unlimited) and ``delivered`` implement ``UNSUB <sid> <max>``.
    ``many`` (None unless set by its owner) takes runs of messages for a callback
    subscription (see :data:`DeliverMany`).
    """

    __slots__ = (
        "callback",
        "client",
        "delivered",
        "many",
        "max_msgs",
        "prefix",
        "queue",
        "sid",
        "subject",
    )

    def __init__(
        self,
        client: Any,
        subject: bytes,
        queue: bytes | None,
        sid: bytes,
        callback: DeliverCallback | None = None,
    ) -> None:
        self.client = client
        self.subject = subject
        self.queue = queue
        self.sid = sid
        self.callback = callback
        self.many: DeliverMany | None = None
        self.max_msgs = 0
        self.delivered = 0
        #: ``MSG <subject> <sid>`` prebuilt for literal subscriptions (the subject never varies).
        self.prefix: bytes | None = (
            b"MSG " + subject + b" " + sid if callback is None and is_literal(subject) else None
        )

    def __repr__(self) -> str:
        queue = f" queue={self.queue!r}" if self.queue else ""
        return f"<Subscription {self.subject!r}{queue} sid={self.sid!r}>"
