"""The session contract: what the router needs from any session, and the one delivery helper.

A **session** is whatever owns subscriptions and publishes: a socket client
(:class:`natskern.kernel.core.client.Client`), an in-process client
(:class:`natskern.kernel.core.inprocess.InProcessClient`) or an internal session of the
kernel (:class:`natskern.kernel.core.internal.InternalClient`: imports, ``$JS.API``,
``$SYS``, stream ingest).  The router (``natskern.kernel.core.router``) talks to them only
through the members declared here:

* :class:`Session`, every session: identity (``cid``, ``kind``, ``name``, ``account``),
  the CONNECT options the router obeys (``echo``, ``headers``, ``no_responders``),
  ``closed``, the statistics counters, ``remove_subscription`` (auto-unsubscribe) and the
  back-pressure hooks below.
* :class:`FrameSession`, a session the router writes MSG/HMSG frames into (a subscription
  of it has no ``callback``): its outbound buffer (``out``, ``pending``,
  ``flush_scheduled``), its marks (``stall_at``, ``max_pending``), ``flush`` and the
  allow-responses book (``replies``, ``record_reply``).

**Delivery** has two entry points.  A subscription with a ``callback`` (in-process,
internal, permission-filtered) is called as ``callback(subject, reply, headers, payload)``
and answers per :data:`DeliverResult`.  Any other subscription belongs to a
:class:`FrameSession`, and every path that queues frames for one (per message, runs,
batches, filtered deliveries) calls :func:`queue_frames`: the buffer append, the
statistics, the flush scheduling, the slow-consumer check and the allow-responses record
are written once, here.  Callers prebuild the frame pieces (the router caches the
``MSG <subject> <sid>`` and `` <size>\\r\\n`` parts); nothing is copied or allocated per
message beyond the tuple of pieces.

**Back-pressure** works two ways, both at read granularity: what a session has already
sent and the parser has cut into messages is always routed to everyone; only the *next*
read waits.

* When :func:`queue_frames` takes a frame session's buffer past ``stall_at``, it calls the
  publisher's ``stall_on(receiver)``: a socket publisher stops reading for a few
  milliseconds at a time until the receiver's socket has taken the bytes (or the receiver
  is cut as a slow consumer).
* A :class:`Holder` (an internal subscriber with a bounded queue, see
  ``natskern.kernel.core.internal``) returns itself from its callback when it is over its
  high-water mark; the router then calls ``holder.hold(publisher)``, which calls the
  publisher's ``pause_input(holder)``, and later ``resume_input(holder)`` when it has drained
  below its low-water mark (or is closed).  A socket publisher stops reading its transport
  meanwhile; an in-process publisher's ``publish`` awaits; internal publishers are never
  paused (they publish from inside another delivery).

**The reserved-reply rule**: a client may not publish with a reply subject on the server's
own prefixes (:data:`RESERVED_REPLY_PREFIXES`: service-import response routes and
JetStream acks); :func:`is_reserved_reply` is the test, and ``Client`` applies it in its
one checked path and the router in batches, both refusing through :func:`refuse_reply`
(nats-server's "Permissions Violation for Publish with Reply of").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias

from natskern.kernel.protocol.encode import err_line, go_quote

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.accounts import Account
    from natskern.kernel.core.subscription import Subscription

__all__ = [
    "RESERVED_REPLY_PREFIXES",
    "DeliverResult",
    "FrameSession",
    "Holder",
    "Session",
    "is_reserved_reply",
    "overfed",
    "queue_frames",
    "refuse_reply",
]

#: Reply subjects clients may not use: the server's own response and ack subjects.
RESERVED_REPLY_PREFIXES = (b"_R_.", b"$JS.ACK.")


def is_reserved_reply(reply: bytes) -> bool:
    """True when ``reply`` is on a prefix only the server may use (clients are refused)."""
    return reply.startswith(RESERVED_REPLY_PREFIXES)


def refuse_reply(session: FrameSession, reply: bytes) -> None:
    """Refuse a client's publish whose reply is reserved, with nats-server's ``-ERR``."""
    session.send(err_line(f"Permissions Violation for Publish with Reply of {go_quote(reply)}"))


class Holder(Protocol):
    """A receiver that can hold back the sessions publishing to it until it has caught up."""

    def hold(self, session: Session) -> None:
        """Pause ``session`` (its ``pause_input(self)``) and resume it once drained."""


#: What a delivery callback returns: ``None`` or ``True``, delivered; ``False``, nobody
#: behind the callback took it (the router does not count it, so a request may get its 503);
#: a :class:`Holder`, delivered, and the publisher should be paused until the holder drains.
DeliverResult: TypeAlias = "bool | Holder | None"


class Session(Protocol):
    """What the router needs from every session (socket, in-process or internal).

    The statistics counters are nats-server's: ``in_*`` count what the session published,
    ``out_*`` what was delivered to it; ``*_bytes`` are payload plus header bytes.
    """

    #: Connection id (0 for internal sessions).
    cid: int
    #: "Client", "InProcess", "Account", ... (monitoring's ``kind``).
    kind: str
    name: str
    #: The account the session publishes and subscribes in.
    account: Account
    #: False: the session never receives its own messages.
    echo: bool
    #: Whether HMSG frames (and header blocks given to callbacks) may be sent.
    headers: bool
    #: True: a request nobody received is answered with a 503 status.
    no_responders: bool
    closed: bool
    in_msgs: int
    in_bytes: int
    out_msgs: int
    out_bytes: int

    def remove_subscription(self, sub: Subscription) -> None:
        """Forget ``sub`` (its auto-unsubscribe limit was reached, or it was removed)."""

    def stall_on(self, consumer: FrameSession) -> None:
        """A frame session this one just fed is past its stall mark: slow down briefly."""

    def pause_input(self, holder: Holder) -> None:
        """Stop publishing (after what was already read) until ``resume_input(holder)``."""

    def resume_input(self, holder: Holder) -> None:
        """``holder`` has caught up; publish again unless another holder still holds."""


class FrameSession(Session, Protocol):
    """A session the router writes MSG/HMSG frames into (socket clients, WebSocket, ...).

    ``out`` is a list of byte chunks joined once per flush; ``pending`` counts them plus
    what the transport still buffers; the broker calls ``flush`` once per loop iteration for
    every session that ``schedule_flush`` reported (``flush_scheduled`` is set meanwhile).
    """

    out: list[bytes]
    pending: int
    flush_scheduled: bool
    #: Above this many pending bytes the publishers feeding this session are slowed down.
    stall_at: int
    #: Above this many pending bytes after a flush the session is cut as a slow consumer.
    max_pending: int
    #: Reply subjects this responder may answer (allow_responses), or None.
    replies: dict[bytes, list[float]] | None

    def schedule_flush(self) -> None:
        """Have the broker call ``flush`` at the end of this loop iteration (sets the flag)."""

    def flush(self) -> None:
        """Write what is queued to the transport (and cut the session if it cannot take it)."""

    def refresh_pending(self) -> None:
        """Re-read ``pending`` from the transport (a stalled publisher polls this)."""

    def send(self, data: bytes) -> None:
        """Queue one protocol frame (not a delivery: no statistics)."""

    def record_reply(self, reply: bytes) -> None:
        """Remember a reply subject this responder may now publish to."""


def queue_frames(
    c: FrameSession,
    pieces: Sequence[bytes],
    nbytes: int,
    msgs: int,
    size: int,
    reply: bytes,
    producer: Session | None,
) -> None:
    """Queue ``msgs`` prebuilt MSG/HMSG frames for ``c``: the one place deliveries are booked.

    ``pieces`` are joined by the next flush (``nbytes`` in all); ``size`` is their payload
    plus header bytes (``out_bytes``); ``reply`` is the messages' reply subject (recorded
    for an allow-responses responder); ``producer`` is the publishing session, slowed down
    when ``c`` is past its stall mark (a receiver past ``max_pending`` is cut instead).
    """
    c.out += pieces
    pending = c.pending = c.pending + nbytes
    c.out_msgs += msgs
    c.out_bytes += size
    if not c.flush_scheduled:
        c.schedule_flush()
    if pending > c.stall_at:
        overfed(c, producer)
    if reply and c.replies is not None:
        c.record_reply(reply)


def overfed(consumer: FrameSession, producer: Session | None) -> None:
    """A receiver's buffer is past its stall mark: cut it, or slow its producer down."""
    if consumer.pending > consumer.max_pending:
        # Hand the queue to the socket first: only what it cannot take counts (nats-server's
        # pending bytes), and flush() cuts the session if that is still over max_pending.
        consumer.flush()
        if consumer.closed:
            return
    if producer is not None and producer is not consumer:
        producer.stall_on(consumer)
