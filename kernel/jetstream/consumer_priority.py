"""Priority groups of pull consumers: ``pinned_client`` and ``prioritized`` (nats-server 2.11/2.12).

A pull consumer with one of these policies gets a :class:`PriorityState` (``consumer._prio``);
consumers without one (no policy, or ``overflow``, whose eligibility check is the delivery
loop's own) keep ``None`` there, so their pull path pays one falsy check per round.

``pinned_client`` (nats-server's ``nextWaiting`` / ``assignNewPinId`` / ``setPinnedTimer``):
the first waiting request without an ``id`` that a message goes to pins the group: it gets
a new 22-character pin id, the ``PINNED`` advisory goes out and every message delivered
carries ``Nats-Pin-Id``.  While pinned, requests with the pin id are served, requests
without an id wait (they are served once the pin is gone), requests with another id are
answered ``423 Nats-Pin-Id mismatch`` when they arrive or ``423 Nats-Wrong-Pin-Id`` (with
the pending counts) when a message would go to them.  The pin ends ``priority_timeout``
after it was given or after the pinned client's last request (``UNPINNED``, reason
``timeout``) or by ``CONSUMER.UNPIN`` (reason ``admin``).  The pin lives in memory only:
a restart starts unpinned, as nats-server does.

``prioritized``: waiting requests are kept sorted by their ``priority`` (0 first; a request
that is not JSON comes last), first come first served within a priority, and a request that
still wants messages goes back behind the others of its priority.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream.consumer_pull import PullRequest, status_pending
from natskern.kernel.jetstream.wire import dumps, format_time
from natskern.kernel.store.api import StoredMsg

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.consumer import Consumer

__all__ = ["PriorityState", "advise_unpinned", "priority_groups_info", "sync_priority"]

_ALPHA: Final = string.ascii_letters + string.digits
_LAST: Final = 2**31 - 1  #: the priority of a request without a JSON body (Go's MaxInt32)
_mono = time.monotonic_ns
PIN_HEADER: Final = b"Nats-Pin-Id"


def _nuid() -> str:
    return "".join(secrets.choice(_ALPHA) for _ in range(22))


def sync_priority(consumer: Consumer) -> PriorityState | None:
    """Give ``consumer`` the :class:`PriorityState` its policy needs (or drop it)."""
    policy = consumer.config.priority_policy
    prio: PriorityState | None = consumer._prio
    if policy not in ("pinned_client", "prioritized") or consumer.config.deliver_subject:
        if prio is not None:
            prio.unassign()
            consumer._prio = None
        return None
    if prio is None or prio.policy != policy:
        if prio is not None:
            prio.unassign()
        prio = consumer._prio = PriorityState(policy)
    return prio


class PriorityState:
    """The waiting-queue discipline and the pin of a ``pinned_client``/``prioritized`` consumer."""

    __slots__ = ("_timer", "pin_id", "pinned", "pinned_ts", "policy")

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.pinned = policy == "pinned_client"
        #: The current pin id ("" = not pinned) and when it was given (wall ns).
        self.pin_id = ""
        self.pinned_ts = 0
        self._timer: asyncio.TimerHandle | None = None

    # -- requests arriving -------------------------------------------------------------

    def check_request(self, consumer: Consumer, req: PullRequest) -> bytes | None:
        """A JSON request with its group checked: the 423 to answer, or None (timer renewed)."""
        if self.pin_id and self.pinned:
            if req.pin_id == self.pin_id:
                self._arm(consumer, req.group)
            elif req.pin_id:
                return b"NATS/1.0 423 Nats-Pin-Id mismatch\r\n\r\n"
        return None

    def add(self, waiting: Any, req: PullRequest) -> None:
        """Queue a new request (sorted by priority for ``prioritized``)."""
        if self.pinned:
            waiting.append(req)
        else:
            _insert(waiting, req)

    # -- the delivery round ------------------------------------------------------------

    def pick(self, consumer: Consumer) -> tuple[PullRequest | None, bool]:
        """The request the next message goes to (taken off the queue) and whether it was
        just pinned; answers the requests whose pin id is no longer valid."""
        waiting = consumer.waiting
        if not self.pinned:
            return (waiting.popleft() if waiting else None), False
        cycled = 0
        while waiting:
            req = waiting[0]
            if not self.pin_id:
                if not req.pin_id:
                    waiting.popleft()
                    if req.group:
                        self._assign(consumer, req)
                        return req, True
                    return req, False
                self._wrong_pin(consumer, waiting.popleft())
                continue
            if req.pin_id == self.pin_id:
                return waiting.popleft(), False
            if req.pin_id:
                self._wrong_pin(consumer, waiting.popleft())
                continue
            waiting.rotate(-1)
            cycled += 1
            if cycled >= len(waiting):
                return None, False
        return None, False

    def requeue(self, waiting: Any, req: PullRequest) -> None:
        """A request served and still wanting more: behind the others (of its priority)."""
        if self.pinned:
            waiting.append(req)
        else:
            _insert(waiting, req)

    def stamp(self, msg: StoredMsg) -> StoredMsg:
        """``msg`` with the ``Nats-Pin-Id`` header (pinned consumers only)."""
        if not self.pinned:
            return msg
        hdr = msg.headers
        base = hdr[: len(hdr) - 2] if hdr else b"NATS/1.0\r\n"
        hdr = base + PIN_HEADER + b": " + self.pin_id.encode() + b"\r\n\r\n"
        return StoredMsg(msg.subject, msg.seq, msg.ts, hdr, msg.payload)

    async def step(
        self, c: Consumer, now: int, redeliver_in: int, inactive: float | None
    ) -> float | None:
        """The pull delivery round of :class:`DeliveryMixin` with this queue discipline.

        (Its own copy, so the round of consumers without a priority policy stays as it is.)
        """
        nxt = c._expire_requests(now)
        delivered = 0
        publish = c.client.publish
        while c.waiting and delivered < 256:
            found: Any = c._next_cached()
            if found is False:
                found = await c._next_msg()
            if found is None:
                break
            msg, dc = found
            req, assigned = self.pick(c)
            if req is None:
                c._unread(msg.seq, dc)
                break
            reply = c._reply_for(msg, dc)
            size = len(msg.subject) + len(reply) + len(msg.payload) + len(msg.headers or b"")
            if req.max_bytes > 0 and size > req.max_bytes:
                text = "Message Size Exceeds MaxBytes"
                publish(req.reply, b"", b"", status_pending(409, text, req.batch, req.max_bytes))
                if assigned:
                    self.unassign()
                c._unread(msg.seq, dc)
                continue
            c._deliver(self.stamp(msg), dc, req.reply, reply)
            delivered += 1
            req.delivered += 1
            req.batch -= 1
            if req.max_bytes > 0:
                req.max_bytes -= size
                if req.max_bytes <= 0 and req.batch > 0:
                    req.batch = 0
            if req.batch > 0:
                self.requeue(c.waiting, req)
            elif req.max_bytes > 0:
                pend = status_pending(409, "Batch Completed", 0, req.max_bytes)
                publish(req.reply, b"", b"", pend)
        if delivered >= 256:
            return 0
        if c.waiting:
            nxt = c._expire_requests(_mono(), eos=True)
        waits = [(nxt - _mono()) / 1e9 if nxt else None, redeliver_in / 1e9 or None, inactive]
        return c._timeouts(*waits)

    # -- the pin -----------------------------------------------------------------------

    def _wrong_pin(self, consumer: Consumer, req: PullRequest) -> None:
        hdr = status_pending(423, "Nats-Wrong-Pin-Id", req.batch, req.max_bytes)
        consumer.client.publish(req.reply, b"", b"", hdr)

    def _assign(self, consumer: Consumer, req: PullRequest) -> None:
        self.pin_id = _nuid()
        self.pinned_ts = time.time_ns()
        req.pin_id = self.pin_id
        self._arm(consumer, req.group)
        _advise(consumer, "PINNED", "consumer_group_pinned", group=req.group, pinned_id=self.pin_id)

    def _arm(self, consumer: Consumer, group: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        ttl = consumer.config.priority_timeout / 1e9
        self._timer = loop.call_later(ttl, self._expired, consumer, group)

    def _expired(self, consumer: Consumer, group: str) -> None:
        self._timer = None
        # (A deleted consumer's pin still times out, with its advisory, as in nats-server.)
        if not self.pin_id or consumer._prio is not self:
            return
        self.unassign()
        advise_unpinned(consumer, group, "timeout")
        consumer.signal()

    def unassign(self) -> None:
        """Drop the pin (no advisory: the caller sends the one its reason needs)."""
        self.pin_id = ""
        self.pinned_ts = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _insert(waiting: Any, req: PullRequest) -> None:
    """Behind every request of the same or a better (lower) priority (``insertAtPosition``)."""
    prio = req.priority if req.json else _LAST
    i = len(waiting)
    while i and (w.priority if (w := waiting[i - 1]).json else _LAST) > prio:
        i -= 1
    waiting.insert(i, req)


def priority_groups_info(consumer: Consumer) -> list[dict[str, Any]] | None:
    """ConsumerInfo's ``priority_groups`` (the first group and its pin), None without groups."""
    groups = consumer.config.priority_groups
    if not groups:
        return None
    prio: PriorityState | None = consumer._prio
    out: dict[str, Any] = {"group": groups[0]}
    if prio is not None and prio.pin_id:
        out["pinned_client_id"] = prio.pin_id
    out["pinned_ts"] = format_time(prio.pinned_ts if prio is not None else 0)
    return [out]


def advise_unpinned(consumer: Consumer, group: str, reason: str) -> None:
    """The ``UNPINNED`` advisory (reason ``admin`` or ``timeout``)."""
    _advise(consumer, "UNPINNED", "consumer_group_unpinned", group=group, reason=reason)


def _advise(consumer: Consumer, event: str, kind: str, **fields: str) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.<event>.<stream>.<consumer>`` in nats-server's field order."""
    sname = consumer._stream_prefix
    subject = f"$JS.EVENT.ADVISORY.CONSUMER.{event}.{sname}.{consumer.name}".encode()
    if not consumer._has_interest(subject):
        return
    body: dict[str, Any] = {
        "type": "io.nats.jetstream.advisory.v1." + kind,
        "id": _nuid(),
        "timestamp": format_time(time.time_ns()),
        "account": consumer.client.account.name,
        "stream": sname,
        "consumer": consumer.name,
    }
    if consumer.stream.domain:
        body["domain"] = consumer.stream.domain
    body.update(fields)
    consumer.client.publish(subject, dumps(body))
