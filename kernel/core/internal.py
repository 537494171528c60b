"""Internal sessions: the kernel's own subscribers and publishers, and asynchronous ingest.

:class:`InternalClient` is the base of every session the kernel runs itself (nats-server's
``ACCOUNT``/``SYSTEM``/``JETSTREAM`` clients): the internal subscriptions of imports
(``natskern.kernel.core.imports``), and later ``$JS.API``, ``$SYS`` and stream ingest.  It
satisfies the :class:`~natskern.kernel.core.session.Session` protocol; its subscriptions are
served by callbacks, and it is never paused (it publishes from inside other deliveries).

:class:`InternalSubscriber` is an internal subscription that takes messages in without
running its consumer on the publisher's read path.  What the router delivers to it is
appended to a bounded queue as ``(subject, reply, headers, payload)`` tuples (``headers``
is the raw header block or None) and nothing else happens then; an asyncio task drains the
queue in batches::

    ingest = internal_client.capture(b"orders.>", high_water=4096)
    async for batch in ingest:          # or: batch = await ingest.next_batch(512)
        store.append_all(batch)         # e.g. one write and one fsync per batch
        await store.sync()

While the consumer is busy (an fsync, say) the next batch piles up, so the group commit
grows with the load.  When the queue passes its **high-water mark** (messages or bytes), the
subscriber holds back every session that publishes to it: a socket client stops reading its
transport (``pause_reading``) once the read being parsed has been routed, an in-process
publisher's ``publish`` awaits, and both resume when the consumer has taken the queue
below the **low-water mark** (half the high-water mark unless told), or when the subscriber
is closed.  Messages already read keep flowing to every subscriber meanwhile: a pause never
stops routing, only the publisher's next read.  A message the subscriber took counts as
delivered (a request to a captured subject gets no 503 no-responders status).  The queue
is bounded by ``max_msgs``/``max_bytes`` (four times the high-water marks by default); it
overflows only when publishers cannot be held (internal publishers, messages arriving
through an import) or one read carries more than the gap, and then the message is counted
in ``dropped`` and handed to ``on_overflow`` (a stream answers the publisher with an error).

One subscriber may capture several subjects into its one queue (a stream's subjects:
arrival order holds across them).  A run of messages the router has for it arrives in one
call (``Subscription.many``).  A consumer with a synchronous fast path sets ``direct``:
messages arriving while the queue is empty are offered to it first, on the publisher's
read path, and only what it declines is queued (a stream stages plain publishes this way
without waiting for its task's turn).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from natskern.kernel.core.replies import publish_replies
from natskern.kernel.core.router import publish
from natskern.kernel.core.subscription import DeliverCallback, Subscription

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.accounts import Account
    from natskern.kernel.core.session import DeliverResult, FrameSession, Holder, Session

__all__ = ["InternalClient", "InternalSubscriber", "QueuedMsg"]

#: A message waiting in an :class:`InternalSubscriber`: ``(subject, reply, headers, payload)``.
QueuedMsg = tuple[bytes, bytes, "bytes | None", bytes]
#: ``on_overflow(subject, reply, headers, payload)``: a message the full queue could not take.
OverflowCallback = Callable[[bytes, bytes, "bytes | None", bytes], None]
#: ``direct(messages)``: take messages at once, on the publisher's read path; False: queue them.
DirectConsumer = Callable[[list[QueuedMsg]], bool]


def _size(msg: QueuedMsg) -> int:
    subject, reply, hdr, payload = msg
    return len(subject) + len(reply) + len(payload) + (len(hdr) if hdr is not None else 0)


class InternalClient:
    """A session run by the kernel itself: owns internal subscriptions, publishes internally.

    The router sees it through the :class:`~natskern.kernel.core.session.Session` protocol:
    it compares a subscription's client with the publisher and calls
    ``remove_subscription`` for auto-unsubscribe; monitoring may read the other fields.
    Subclass it (or give it a ``name``/``kind``) for ``$JS.API``, ``$SYS`` or a stream.
    """

    kind = "Account"
    conn_type = "INTERNAL"
    echo = True
    headers = True
    no_responders = False
    closed = False
    replies = None
    cid = 0

    def __init__(self, account: Account, name: str = "", *, kind: str | None = None) -> None:
        self.account = account
        self.name = name or f"{account.name} internal"
        if kind is not None:
            self.kind = kind
        self.subs: dict[bytes, Subscription] = {}
        self._next_sid = 0
        self.in_msgs = 0
        self.in_bytes = 0
        self.out_msgs = 0
        self.out_bytes = 0

    def subscribe(
        self, subject: bytes, callback: DeliverCallback, queue: bytes | None = None
    ) -> Subscription:
        """Add an internal subscription delivering to ``callback`` in this account."""
        self._next_sid += 1
        sid = b"%d" % self._next_sid
        sub = Subscription(self, subject, queue, sid, callback)
        self.subs[sid] = sub
        self.account.sublist.insert(sub)
        return sub

    def capture(
        self,
        subject: bytes | Sequence[bytes],
        *,
        queue: bytes | None = None,
        high_water: int = 8192,
        high_water_bytes: int = 8 * 1024 * 1024,
        low_water: int | None = None,
        low_water_bytes: int | None = None,
        max_msgs: int | None = None,
        max_bytes: int | None = None,
        on_overflow: OverflowCallback | None = None,
    ) -> InternalSubscriber:
        """Subscribe to ``subject`` through a bounded queue drained by an async consumer.

        ``subject`` may be several subjects (patterns that do not overlap, as a stream's):
        one queue then takes the messages of all of them in arrival order.
        """
        return InternalSubscriber(
            self,
            subject,
            queue=queue,
            high_water=high_water,
            high_water_bytes=high_water_bytes,
            low_water=low_water,
            low_water_bytes=low_water_bytes,
            max_msgs=max_msgs,
            max_bytes=max_bytes,
            on_overflow=on_overflow,
        )

    def publish(
        self, subject: bytes, payload: bytes, reply: bytes = b"", hdr: bytes | None = None
    ) -> int:
        """Publish from this session into its account; return how many subscriptions got it."""
        self.in_msgs += 1
        self.in_bytes += len(payload) + (len(hdr) if hdr is not None else 0)
        return publish(self, self.account, subject, reply, hdr, payload)

    def publish_replies(self, subjects: list[bytes], payloads: list[bytes]) -> None:
        """Publish ``payloads[i]`` to ``subjects[i]`` (no headers, no reply; an empty subject
        is skipped), in order: answers to many requests at once (see
        :func:`~natskern.kernel.core.replies.publish_replies`)."""
        if len(subjects) == 1:  # (one answer: nothing to batch)
            if subjects[0]:
                self.publish(subjects[0], payloads[0])
            return
        n = len(subjects) - subjects.count(b"")
        if not n:
            return
        self.in_msgs += n
        self.in_bytes += (
            sum(map(len, payloads))
            if n == len(subjects)
            else sum(len(p) for s, p in zip(subjects, payloads, strict=True) if s)
        )
        publish_replies(self, self.account, subjects, payloads)

    def remove_subscription(self, sub: Subscription) -> None:
        """Forget ``sub``."""
        if self.subs.pop(sub.sid, None) is not None:
            self.account.sublist.remove(sub)

    def close(self) -> None:
        """Remove every internal subscription of this session."""
        for sub in list(self.subs.values()):
            self.remove_subscription(sub)

    # An internal publisher is never slowed down or paused: it publishes from inside another
    # delivery (an import, an API reply) or from a task that must not block on a reader.

    def stall_on(self, consumer: FrameSession) -> None:
        """Ignored: internal publishers are not slowed down."""

    def pause_input(self, holder: Holder) -> None:
        """Ignored: internal publishers are not paused."""

    def resume_input(self, holder: Holder) -> None:
        """Ignored: internal publishers are not paused."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} subs={len(self.subs)}>"


class InternalSubscriber:
    """An internal subscription whose messages wait in a bounded queue for an async consumer.

    Made by :meth:`InternalClient.capture`.  One task consumes it, with :meth:`next_batch`
    (or ``async for batch in subscriber``); :meth:`take` is the non-waiting form.  It is a
    :class:`~natskern.kernel.core.session.Holder`: over the high-water mark it holds the
    sessions publishing to it until the consumer has drained it below the low-water mark.
    ``dropped`` counts what overflowed ``max_msgs``/``max_bytes``.
    """

    def __init__(
        self,
        owner: InternalClient,
        subject: bytes | Sequence[bytes],
        *,
        queue: bytes | None = None,
        high_water: int = 8192,
        high_water_bytes: int = 8 * 1024 * 1024,
        low_water: int | None = None,
        low_water_bytes: int | None = None,
        max_msgs: int | None = None,
        max_bytes: int | None = None,
        on_overflow: OverflowCallback | None = None,
    ) -> None:
        if high_water < 1 or high_water_bytes < 1:
            raise ValueError("high-water marks must be positive")
        self.owner = owner
        self.high_water = high_water
        self.high_water_bytes = high_water_bytes
        self.low_water = high_water // 2 if low_water is None else low_water
        self.low_water_bytes = high_water_bytes // 2 if low_water_bytes is None else low_water_bytes
        self.max_msgs = 4 * high_water if max_msgs is None else max_msgs
        self.max_bytes = 4 * high_water_bytes if max_bytes is None else max_bytes
        if not (self.low_water < self.high_water <= self.max_msgs):
            raise ValueError("need low_water < high_water <= max_msgs")
        if not (self.low_water_bytes < self.high_water_bytes <= self.max_bytes):
            raise ValueError("need low_water_bytes < high_water_bytes <= max_bytes")
        self.on_overflow = on_overflow
        self.queue: deque[QueuedMsg] = deque()
        #: Bytes (subjects, replies, headers, payloads) waiting in ``queue``.
        self.pending_bytes = 0
        #: The sessions this subscriber holds back now.
        self.held: set[Session] = set()
        self.dropped = 0
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        #: When set, messages arriving while the queue is empty are offered to it first
        #: (the consumer's fast path, e.g. a stream staging plain publishes without a
        #: task's turn); what it declines is queued as usual.
        self.direct: DirectConsumer | None = None
        subjects = [subject] if isinstance(subject, bytes) else list(subject)
        #: One subscription per subject captured, all feeding :attr:`queue`.
        self.subs = [owner.subscribe(s, self._deliver, queue) for s in subjects]
        for sub in self.subs:
            sub.many = self._deliver_many
        self.sub = self.subs[0]

    @property
    def subject(self) -> bytes:
        """The (first) subject pattern captured."""
        return self.sub.subject

    @property
    def holding(self) -> bool:
        """Whether some publisher is held back by this subscriber now."""
        return bool(self.held)

    def __len__(self) -> int:
        return len(self.queue)

    # -- the router's side --------------------------------------------------------------------

    def _deliver(
        self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes
    ) -> DeliverResult:
        """Router callback: queue the message; answer ``self`` when over the high-water mark."""
        if self.closed:
            return False
        queue = self.queue
        if not queue and self.direct is not None and self.direct([(subject, reply, hdr, payload)]):
            owner = self.owner
            owner.out_msgs += 1
            owner.out_bytes += len(payload) + (len(hdr) if hdr is not None else 0)
            return True
        size = len(subject) + len(reply) + len(payload) + (len(hdr) if hdr is not None else 0)
        if len(queue) >= self.max_msgs or self.pending_bytes + size > self.max_bytes:
            self.dropped += 1
            if self.on_overflow is not None:
                self.on_overflow(subject, reply, hdr, payload)
            return self
        queue.append((subject, reply, hdr, payload))
        return self._queued(1, size, len(payload) + (len(hdr) if hdr is not None else 0))

    def _deliver_many(self, msgs: list[QueuedMsg]) -> DeliverResult:
        """Router callback for consecutive messages: :meth:`_deliver` for each, in one go."""
        if self.closed:
            return False
        queue = self.queue
        data = sum([len(p) + (len(h) if h is not None else 0) for _, _, h, p in msgs])
        if not queue and self.direct is not None and self.direct(msgs):
            owner = self.owner
            owner.out_msgs += len(msgs)
            owner.out_bytes += data
            return True
        size = data + sum([len(s) + len(r) for s, r, _, _ in msgs])
        if len(queue) + len(msgs) > self.max_msgs or self.pending_bytes + size > self.max_bytes:
            held = False
            for msg in msgs:
                held = self._deliver(*msg) is self or held
            return self if held else True
        queue.extend(msgs)
        return self._queued(len(msgs), size, data)

    def _queued(self, count: int, size: int, data: int) -> DeliverResult:
        """Book ``count`` messages just queued (``size`` bytes queued, ``data`` of headers and
        payload), wake the consumer; ``self`` when over the high-water mark."""
        self.pending_bytes += size
        owner = self.owner
        owner.out_msgs += count
        owner.out_bytes += data
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(self.queue) > self.high_water or self.pending_bytes > self.high_water_bytes:
            return self  # the router calls hold(publisher)
        return True

    def hold(self, session: Session) -> None:
        """Hold ``session`` back until this subscriber has drained (the router calls this)."""
        if session not in self.held and not self.closed:
            self.held.add(session)
            session.pause_input(self)

    # -- the consumer's side ------------------------------------------------------------------

    def take(self, max_msgs: int = 0) -> list[QueuedMsg]:
        """The queued messages, oldest first (at most ``max_msgs`` if > 0), without waiting."""
        queue = self.queue
        if max_msgs <= 0 or max_msgs >= len(queue):
            batch = list(queue)
            queue.clear()
            self.pending_bytes = 0
        else:
            popleft = queue.popleft
            batch = [popleft() for _ in range(max_msgs)]
            self.pending_bytes -= sum(map(_size, batch))
        if (
            self.held
            and len(queue) <= self.low_water
            and self.pending_bytes <= self.low_water_bytes
        ):
            self._release()
        return batch

    async def next_batch(self, max_msgs: int = 0) -> list[QueuedMsg]:
        """Wait for messages and take them (at most ``max_msgs`` if > 0).

        Returns an empty list once the subscriber is closed and its queue drained.
        """
        while not self.queue:
            if self.closed:
                return []
            if self._waiter is not None:
                raise RuntimeError("another task is already waiting on this subscriber")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self.take(max_msgs)

    async def batches(self, max_msgs: int = 0) -> AsyncIterator[list[QueuedMsg]]:
        """Every batch until the subscriber is closed and drained."""
        while True:
            batch = await self.next_batch(max_msgs)
            if not batch:
                return
            yield batch

    def __aiter__(self) -> AsyncIterator[list[QueuedMsg]]:
        return self.batches()

    def close(self) -> None:
        """Stop capturing: publishers held are resumed; what is queued can still be taken."""
        if self.closed:
            return
        self.closed = True
        for sub in self.subs:
            self.owner.remove_subscription(sub)
        self._release()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _release(self) -> None:
        held = self.held
        self.held = set()
        for session in held:
            session.resume_input(self)

    def __repr__(self) -> str:
        return (
            f"<InternalSubscriber {self.sub.subject!r} queued={len(self.queue)}"
            f" held={len(self.held)}>"
        )
