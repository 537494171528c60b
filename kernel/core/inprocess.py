"""The in-process client: publish, subscribe, request from the same event loop, no sockets.

It goes through the same router as socket clients, so a message published
in-process reaches TCP subscribers and the other way round.  Deliveries land in
an ``asyncio.Queue`` per subscription and are consumed by ``async for``.  The client is a
:class:`~natskern.kernel.core.session.Session`: when an internal subscriber it published to
is over its high-water mark (``natskern.kernel.core.internal``), ``publish`` awaits until
that subscriber has drained.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from natskern.kernel.core.router import publish
from natskern.kernel.core.subscription import Subscription
from natskern.kernel.errors import NoRespondersError, RequestTimeoutError
from natskern.kernel.protocol.headers import build_headers, parse_headers
from natskern.kernel.subjects.tokens import is_valid_literal_subject, is_valid_subject

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.session import FrameSession, Holder
    from natskern.kernel.server import Broker


@dataclass
class Msg:
    """A message as an in-process subscriber sees it."""

    subject: str
    data: bytes
    reply: str = ""
    headers: dict[str, str] | None = None
    status: str | None = None
    _client: InProcessClient | None = field(default=None, repr=False)

    async def respond(self, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Publish ``data`` to this message's reply subject."""
        if not self.reply or self._client is None:
            raise ValueError("message has no reply subject")
        await self._client.publish(self.reply, data, headers=headers)


def _to_msg(
    client: InProcessClient, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes
) -> Msg:
    headers = None
    status = None
    if hdr:
        status, _desc, pairs = parse_headers(hdr)
        headers = {k: v for k, v in pairs}
    return Msg(subject.decode(), payload, reply.decode(), headers, status, client)


class InProcessSubscription:
    """A subscription of an in-process client; iterate it to receive messages."""

    def __init__(self, client: InProcessClient, sub: Subscription, pending_limit: int) -> None:
        self.client = client
        self.sub = sub
        self.queue: asyncio.Queue[Msg | None] = asyncio.Queue(maxsize=pending_limit)
        self.dropped = 0

    @property
    def subject(self) -> str:
        """The subject (pattern) subscribed to."""
        return self.sub.subject.decode()

    def _deliver(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> None:
        client = self.client
        try:
            self.queue.put_nowait(_to_msg(client, subject, reply, hdr, payload))
        except asyncio.QueueFull:
            self.dropped += 1  # a slow in-process consumer loses messages, like a slow client
            return
        client.out_msgs += 1
        client.out_bytes += len(payload) + (len(hdr) if hdr is not None else 0)

    async def next_msg(self, timeout: float | None = None) -> Msg:
        """The next message (waits up to ``timeout`` seconds)."""
        try:
            msg = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            raise RequestTimeoutError("no message arrived in time") from None
        if msg is None:
            raise StopAsyncIteration
        return msg

    def __aiter__(self) -> AsyncIterator[Msg]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Msg]:
        while True:
            msg = await self.queue.get()
            if msg is None:
                return
            yield msg

    async def unsubscribe(self) -> None:
        """Stop receiving; an ``async for`` over this subscription ends."""
        self.client.remove_subscription(self.sub)


class InProcessClient:
    """A client session living inside the broker's process."""

    conn_type = "IN_PROCESS"
    kind = "InProcess"

    def __init__(self, broker: Broker, *, name: str = "", account: str | None = None) -> None:
        self.broker = broker
        self.name = name
        self.account = broker.get_account(account) if account else broker.global_account
        self.cid = broker.next_client_id()
        self.echo = True
        self.headers = True
        self.no_responders = True
        self.closed = False
        self.replies = None
        self.in_msgs = 0
        self.in_bytes = 0
        self.out_msgs = 0
        self.out_bytes = 0
        #: Internal subscribers holding this client's publishes back, and the event set
        #: when none does.
        self.holders: set[Holder] = set()
        self._released = asyncio.Event()
        self._released.set()
        self.subs: dict[bytes, InProcessSubscription] = {}
        self._sids = itertools.count(1)
        self._inbox_prefix = b"_INBOX." + secrets.token_hex(11).encode()
        self._inbox_sub: Subscription | None = None
        self._requests: dict[bytes, asyncio.Future[Msg]] = {}
        self._req_ids = itertools.count(1)

    async def publish(
        self,
        subject: str,
        data: bytes = b"",
        *,
        reply: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Publish a message (delivery to every receiver happens before this returns).

        If an internal subscriber that got it is over its high-water mark, this waits until
        that subscriber has drained below its low-water mark (or closed).
        """
        self._check_open()
        subj = subject.encode()
        if not is_valid_literal_subject(subj):
            raise ValueError(f"invalid publish subject {subject!r}")
        hdr = build_headers(list(headers.items())) if headers else None
        payload = bytes(data)
        self.in_msgs += 1
        self.in_bytes += len(payload) + (len(hdr) if hdr is not None else 0)
        publish(self, self.account, subj, reply.encode(), hdr, payload)
        if self.holders:
            await self._released.wait()

    @property
    def paused(self) -> bool:
        """Whether an internal subscriber holds this client's publishes back now."""
        return bool(self.holders)

    def stall_on(self, consumer: FrameSession) -> None:
        """Ignored: a socket receiver past its stall mark does not slow in-process publishers."""

    def pause_input(self, holder: Holder) -> None:
        """``holder`` is over its high-water mark: the running ``publish`` waits for it."""
        self.holders.add(holder)
        self._released.clear()

    def resume_input(self, holder: Holder) -> None:
        """``holder`` has drained: publishing goes on once no holder is left."""
        self.holders.discard(holder)
        if not self.holders:
            self._released.set()

    async def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        *,
        max_msgs: int = 0,
        pending_limit: int = 65536,
    ) -> InProcessSubscription:
        """Subscribe to ``subject`` (wildcards allowed), optionally in a queue group."""
        self._check_open()
        subj = subject.encode()
        if not is_valid_subject(subj):
            raise ValueError(f"invalid subject {subject!r}")
        sid = str(next(self._sids)).encode()
        sub = Subscription(self, subj, queue.encode() if queue else None, sid)
        handle = InProcessSubscription(self, sub, pending_limit)
        sub.callback = handle._deliver
        sub.max_msgs = max_msgs
        self.subs[sid] = handle
        self.account.sublist.insert(sub)
        return handle

    def remove_subscription(self, sub: Subscription) -> None:
        """Called by the router when ``max_msgs`` is reached, and by unsubscribe."""
        handle = self.subs.pop(sub.sid, None)
        if handle is None:
            return
        self.account.sublist.remove(sub)
        handle.queue.put_nowait(None) if not handle.queue.full() else None

    async def request(
        self,
        subject: str,
        data: bytes = b"",
        *,
        timeout: float = 1.0,
        headers: Mapping[str, str] | None = None,
    ) -> Msg:
        """Publish a request and wait for the first reply.

        Raises :class:`NoRespondersError` when nobody subscribes to ``subject``
        and :class:`RequestTimeoutError` when no reply comes within ``timeout``.
        """
        self._check_open()
        if self._inbox_sub is None:
            self._inbox_sub = Subscription(self, self._inbox_prefix + b".*", None, b"_INBOX")
            self._inbox_sub.callback = self._on_reply
            self.account.sublist.insert(self._inbox_sub)
        token = str(next(self._req_ids)).encode()
        inbox = self._inbox_prefix + b"." + token
        future: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._requests[inbox] = future
        try:
            await self.publish(subject, data, reply=inbox.decode(), headers=headers)
            msg = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise RequestTimeoutError(f"no reply on {subject!r} within {timeout}s") from None
        finally:
            self._requests.pop(inbox, None)
        if msg.status == "503":
            raise NoRespondersError(f"no responders on {subject!r}")
        return msg

    def _on_reply(self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> None:
        future = self._requests.get(subject)
        if future is not None and not future.done():
            self.out_msgs += 1
            self.out_bytes += len(payload) + (len(hdr) if hdr is not None else 0)
            future.set_result(_to_msg(self, subject, reply, hdr, payload))

    async def flush(self) -> None:
        """Let the broker write what it queued for socket clients (one loop iteration)."""
        await asyncio.sleep(0)

    async def close(self) -> None:
        """Remove every subscription and end their iterators."""
        if self.closed:
            return
        for handle in list(self.subs.values()):
            self.remove_subscription(handle.sub)
        if self._inbox_sub is not None:
            self.account.sublist.remove(self._inbox_sub)
            self._inbox_sub = None
        for future in self._requests.values():
            future.cancel()
        self.closed = True
        self.holders.clear()
        self._released.set()

    async def __aenter__(self) -> InProcessClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the in-process client is closed")
