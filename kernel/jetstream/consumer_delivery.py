"""Delivery of a consumer: the next message, pull and push rounds, flow control, heartbeats.

The delivery task of a :class:`~natskern.kernel.jetstream.consumer.Consumer` runs
:meth:`DeliveryMixin._run`: each round redelivers what is due, then hands out the next
matching messages to the waiting pull requests (in turn) or to the deliver subject of a
push consumer that has interest, and returns how long to sleep until the next deadline
(a pull request's expiry or heartbeat, an ack wait, the inactivity threshold).  A push
consumer never polls for interest: the interest watch of its deliver subject
(:mod:`natskern.kernel.core.interest`) wakes it when a subscriber comes or goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import string
import time
from typing import Any, Final

from natskern.kernel.jetstream.consumer_pull import heartbeat, status_pending
from natskern.kernel.jetstream.consumer_run import deliver_run, pull_run, push_target, run_target
from natskern.kernel.jetstream.delivery_route import deliver_as, deliver_to
from natskern.kernel.store.api import StoredMsg, StoreError

__all__ = ["DeliveryMixin", "deliver_as", "deliver_to"]

log = logging.getLogger("natskern.jetstream.consumer")
_mono = time.monotonic_ns
#: Flow control: the bytes a push consumer delivers before it waits for the client's answer
#: to a flow-control request, at first and at most (each answer doubles it).  What the
#: broker holds for a client that reads slower than the store delivers is about this
#: window: 8 MiB keeps a 1 GiB object get within a few tens of MiB of RSS.
FC_START: Final = 2 * 1024 * 1024
FC_MAX: Final = 8 * 1024 * 1024
#: A message at least this large that had to be read from disk (it was neither in memory
#: nor in the page cache): the one after it is most likely not at hand either (a store
#: reads ahead small records only), so a push round does not peek for it first.
_BIG_READ: Final = 64 * 1024
_ALPHA: Final = string.ascii_letters + string.digits


class DeliveryMixin:
    """The delivery side of :class:`~natskern.kernel.jetstream.consumer.Consumer`."""

    _last_hb = 0
    #: Whether the deliver subject has interest, kept by the consumer's interest watch
    #: (checked before each push delivery: an UNSUB pauses a round in progress).
    _bound = False
    #: Wall-clock ns of the earliest ack deadline among pending messages (0: unknown).
    _expiry_at = 0
    _bg: asyncio.Future[None] | None = None
    #: AckNone: a delivery not yet written to the consumer store ("N" op queued).
    _none_dirty = False
    #: AckNone, during a push round: the "N" op waits for the end of the round (a round
    #: that reads from disk yields at each read, and each "N" flushed is a store commit).
    _defer_none = False
    #: A delivery of the current push round awaits its "N" op.
    _none_deferred = False
    #: The last message of a push round was a large one read from disk (see _BIG_READ).
    _big_read = False
    #: Whether the end of the current ``pause_until`` was advised (or it never paused).
    _pause_ended = True
    #: The store's ``peek_next_msg`` (reads without I/O), when it has one.
    _peek: Any = None
    #: The last delivery target: ``(subject, sublist generation, match result)``.
    _route: tuple[bytes, int, Any] | None = None

    # -- flow control ----------------------------------------------------------------------

    def _on_fc(self: Any, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> None:
        if subject != self._fc_subject:
            return
        self._fc_bytes = max(self._fc_bytes - self._fc_sent, 0)
        self._fc_window = min(self._fc_window * 2, FC_MAX)
        self._fc_subject = b""
        self._wake.set()

    def _send_fc(self: Any) -> None:
        token = "".join(secrets.choice(_ALPHA) for _ in range(4))
        self._fc_subject = f"$JS.FC.{self._stream_prefix}.{self.name}.{token}".encode()
        self._fc_sent = self._fc_bytes
        self.client.publish(
            self.deliver, b"", self._fc_subject, b"NATS/1.0 100 FlowControl Request\r\n\r\n"
        )

    # -- delivery --------------------------------------------------------------------------

    def _next_cached(self: Any) -> tuple[StoredMsg, int] | bool | None:
        """:meth:`_next_msg` when it needs no I/O and no redelivery; False otherwise.

        The common round (a consumer reading on in stream order from messages the
        store holds in memory) then costs no coroutine per message.
        """
        peek = self._peek
        if peek is None or self.rdq or self.lss or len(self.filters) > 1:
            return False
        if self.maxp > 0 and len(self.pending) >= self.maxp:
            return None
        msg = peek(self.filters[0] if self.filters else "", self.sseq)
        if msg is False:
            return False
        return (msg, 1) if msg is not None else None

    async def _next_msg(self: Any) -> tuple[StoredMsg, int] | None:
        """The next message to deliver and its delivery count, or None."""
        while self.rdq:
            s = self.rdq.popleft()
            self._rdq_set.discard(s)
            if s not in self.pending:
                continue
            dc = self.rdc.get(s, 1) + 1
            maxdc = self.config.max_deliver
            if maxdc > 0 and dc > maxdc:
                # max deliveries reached: no longer pending (nats-server's getNextMsg)
                p = self.pending.pop(s)
                self.rdc[s] = dc - 1
                self.advise("MAX_DELIVERIES", "max_deliver", stream_seq=s, deliveries=dc - 1)
                self._op("A", p[0], s)
                self._move_floor(p[0], s)
                continue
            msg = await self.store.load_msg(s)
            if msg is None:
                self._drop_pending(s)
                continue
            return msg, dc
        if self.maxp > 0 and len(self.pending) >= self.maxp:
            return None
        if self.lss and self.sseq <= self.lss_end:
            i = self._lss_index(self.sseq)
            while i < len(self.lss):
                msg = await self.store.load_msg(self.lss[i])
                i += 1
                if msg is not None:
                    return msg, 1
            self.sseq = self.lss_end + 1
            self.lss: list[int] = []
        msg = await self._load_next(self.sseq)
        return (msg, 1) if msg is not None else None

    async def _load_next(self: Any, start: int) -> StoredMsg | None:
        if len(self.filters) <= 1:
            return await self.store.load_next_msg(self.filters[0] if self.filters else "", start)
        best: StoredMsg | None = None
        for f in self.filters:
            msg = await self.store.load_next_msg(f, start)
            if msg is not None and (best is None or msg.seq < best.seq):
                best = msg
        return best

    def _reply_for(self: Any, msg: StoredMsg, dc: int) -> bytes:
        """The ack subject of the next delivery of ``msg`` (pending: what is left after it)."""
        if self.lss:
            saved = self.sseq
            if dc == 1 and msg.seq >= self.sseq:
                self.sseq = msg.seq + 1
            pending = self.num_pending()
            self.sseq = saved
        elif dc == 1 and msg.seq >= self.sseq:
            pending = max(self.pending_count() - 1, 0)
        else:
            pending = self.pending_count()
        return b"$JS.ACK.%s.%s.%d.%d.%d.%d.%d" % (
            self._stream_prefix.encode(),
            self.name.encode(),
            dc,
            msg.seq,
            self.dseq + 1,
            msg.ts,
            pending,
        )

    def _deliver(self: Any, msg: StoredMsg, dc: int, target: bytes, reply: bytes = b"") -> int:
        """Send ``msg`` to ``target`` and record the delivery; return its size."""
        reply = reply or self._reply_for(msg, dc)
        self.dseq += 1
        dseq, seq = self.dseq, msg.seq
        if dc == 1 and seq >= self.sseq:
            self.sseq = seq + 1
            if self._npc is not None:
                self._npc = max(self._npc - 1, 0)
        hdr, payload = msg.headers, msg.payload
        if self.config.headers_only:
            base = hdr[: len(hdr) - 2] if hdr else b"NATS/1.0\r\n"
            hdr = base + b"Nats-Msg-Size: %d\r\n\r\n" % len(msg.payload)
            payload = b""
        # One sublist match per target and round, not per message (a pull request's inbox
        # is new each time: matching it per message also churns the sublist's cache).
        route = self._route
        sublist = self.client.account.sublist
        if route is None or route[0] != target or route[1] != sublist.generation:
            route = self._route = (target, sublist.generation, sublist.match(target))
        deliver_to(self.client, route[2], msg.subject.encode(), reply, hdr, payload, target=target)
        now = time.time_ns()
        self.last_delivered = now
        if self.ack_none:
            # Nothing pending: the delivered and ack floor pairs move together, written
            # once per round ("N"), not as a pending entry per message.
            self.adflr, self.asflr = dseq, seq
            if self._defer_none:
                self._none_deferred = True
            elif not self._none_dirty:
                self._none_dirty = True
                self._op("N")
            if self.stream.config.retention == "interest" and self._acked_by_all(seq):
                self._op("W", seq)
        else:
            self._op("D", dseq, seq, dc, now)
            if dc == 1:
                self.pending[seq] = [dseq, now]
            else:
                self.pending[seq][1] = now
                self.rdc[seq] = dc
            due = now + self._ack_wait(dc)
            if not self._expiry_at or due < self._expiry_at:
                self._expiry_at = due
        self._last_delivery = _mono()
        self._last_active = self._last_delivery
        return len(msg.subject) + len(reply) + len(payload) + (len(hdr) if hdr else 0)

    async def _run(self: Any) -> None:
        self._peek = getattr(self.store, "peek_next_msg", None)
        try:
            while not self._closed:
                timeout = await self._step()
                if timeout == 0:
                    continue
                self._wake.clear()
                if timeout is None:
                    await self._wake.wait()
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.CancelledError:
            raise
        except StoreError:
            log.debug("consumer %s: store gone, stopping", self.name)
        except Exception:
            log.exception("consumer %s: delivery failed", self.name)

    def _timeouts(self: Any, *deadlines_s: float | None) -> float | None:
        vals = [d for d in deadlines_s if d is not None and d > 0]
        return min(vals) if vals else None

    async def _step(self: Any) -> float | None:
        """Deliver what can be delivered now; return seconds to wait (None: until woken)."""
        now = _mono()
        wall = time.time_ns()
        self._npc = None  # one exact recount per round
        if self._alive is not None and not self._alive():
            self._bg = asyncio.ensure_future(self.stop(delete=True))
            return None
        redeliver_in = self._check_pending(wall) if not self.ack_none else 0
        inactive = self._inactive_in(now)
        if inactive is not None and inactive <= 0:
            if self._on_inactive is not None:
                self._bg = asyncio.ensure_future(self._on_inactive(self))
            return None
        if self.paused_until:
            if self.paused_until > wall:
                self._pause_ended = False
                return self._timeouts((self.paused_until - wall) / 1e9, inactive)
            if not self._pause_ended:  # the pause ran out: nats-server says so
                self._pause_ended = True
                self.advise_pause(False)
        if self.is_pull:
            return await self._step_pull(now, redeliver_in, inactive)
        return await self._step_push(now, redeliver_in, inactive)

    def _inactive_in(self: Any, now: int) -> float | None:
        thresh = self.config.inactive_threshold
        if thresh <= 0:
            return None
        if self.is_pull:
            if self.waiting:
                self._last_active = now
                return None
        elif self.push_bound():
            # No poll: losing the interest wakes the consumer (its interest watch).
            self._last_active = now
            return None
        return (self._last_active + thresh - now) / 1e9

    async def _step_pull(
        self: Any, now: int, redeliver_in: int, inactive: float | None
    ) -> float | None:
        if self._prio is not None:  # pinned_client / prioritized: consumer_priority's round
            return await self._prio.step(self, now, redeliver_in, inactive)
        nxt = self._expire_requests(now)
        delivered = 0
        while self.waiting and delivered < 256:
            if len(self.waiting) == 1:  # one request: a run of new messages in one loop
                req = self.waiting[0]
                sub = run_target(self, req)
                if sub is not None:
                    n = pull_run(self, req, sub, min(req.batch, 256 - delivered))
                    if n:
                        delivered += n
                        if req.batch <= 0:
                            self.waiting.popleft()
                        continue
            found = self._next_cached()
            if found is False:
                found = await self._next_msg()
            if found is None:
                break
            msg, dc = found
            req = self._pick_request()
            if req is None:
                self._unread(msg.seq, dc)
                break
            reply = self._reply_for(msg, dc)
            size = len(msg.subject) + len(reply) + len(msg.payload) + len(msg.headers or b"")
            if req.max_bytes > 0 and size > req.max_bytes:
                self.client.publish(
                    req.reply,
                    b"",
                    b"",
                    status_pending(409, "Message Size Exceeds MaxBytes", req.batch, req.max_bytes),
                )
                self._unread(msg.seq, dc)
                continue
            self._deliver(msg, dc, req.reply, reply)
            delivered += 1
            req.delivered += 1
            req.batch -= 1
            if req.max_bytes > 0:
                req.max_bytes -= size
                if req.max_bytes <= 0 and req.batch > 0:
                    req.batch = 0
            if req.batch > 0:
                self.waiting.append(req)
            elif req.max_bytes > 0:
                pend = status_pending(409, "Batch Completed", 0, req.max_bytes)
                self.client.publish(req.reply, b"", b"", pend)
        if delivered >= 256:
            return 0
        if self.waiting:
            nxt = self._expire_requests(_mono(), eos=True)
        waits = [(nxt - _mono()) / 1e9 if nxt else None, redeliver_in / 1e9 or None, inactive]
        return self._timeouts(*waits)

    def _pick_request(self: Any) -> Any:
        """The first waiting request that may be served now (overflow groups may wait)."""
        waiting = self.waiting
        for _ in range(len(waiting)):
            req = waiting.popleft()
            if req.eligible(self.pending_count(), len(self.pending)):
                return req
            waiting.append(req)
        return None

    def _unread(self: Any, seq: int, dc: int) -> None:
        """A message taken for delivery but not sent: put it back."""
        if dc > 1 and seq not in self._rdq_set:
            self.rdq.appendleft(seq)
            self._rdq_set.add(seq)

    async def _step_push(
        self: Any, now: int, redeliver_in: int, inactive: float | None
    ) -> float | None:
        cfg = self.config
        hb = cfg.idle_heartbeat
        if not self.push_bound():
            # Paused until a SUB gives the deliver subject interest: the interest watch
            # wakes the task then (nats-server's updateDeliveryInterest), no polling.
            return self._timeouts(inactive)
        self._bound = True
        delivered = 0
        self._defer_none = True
        try:
            delivered = await self._push_round()
        finally:
            self._defer_none = False
            self._queue_none()
        if delivered >= 256:
            return 0
        hb_in = None
        if hb:
            idle = _mono() - max(self._last_delivery, self._last_hb)
            if idle >= hb:
                stalled = self._fc_subject
                self.client.publish(
                    self.deliver, b"", b"", heartbeat(self.dseq, self.sseq - 1, stalled)
                )
                self._last_hb = _mono()
                idle = 0
            hb_in = (hb - idle) / 1e9
        return self._timeouts(hb_in, redeliver_in / 1e9 or None, inactive)

    async def _push_round(self: Any) -> int:
        """Deliver up to 256 messages to the deliver subject; how many were delivered."""
        cfg = self.config
        delivered = 0
        while delivered < 256 and self._bound:
            if cfg.flow_control and self._fc_bytes >= self._fc_window:
                break
            if not self._big_read and (sub := push_target(self)) is not None:
                n = self._push_run(sub, 256 - delivered)
                if n:
                    delivered += n
                    continue
            found: Any = False if self._big_read else self._next_cached()
            if found is False:
                found = await self._next_msg()
                self._big_read = found is not None and len(found[0].payload) >= _BIG_READ
            else:
                self._big_read = False
            if found is None:
                break
            msg, dc = found
            if cfg.replay_policy == "original" and dc == 1 and self._replay_prev:
                gap = msg.ts - self._replay_prev
                if gap > 0:
                    self._queue_none()  # (a pause: what was delivered is written now)
                    await asyncio.sleep(gap / 1e9)
            self._replay_prev = msg.ts
            size = self._deliver(msg, dc, self.deliver)
            delivered += 1
            if cfg.flow_control:
                self._fc_bytes += size
                if not self._fc_subject and self._fc_bytes > self._fc_window // 2:
                    self._send_fc()
            if cfg.rate_limit_bps:
                self._queue_none()
                await asyncio.sleep(size * 8 / cfg.rate_limit_bps)
        return delivered

    def _push_run(self: Any, sub: Any, limit: int) -> int:
        """Deliver a run of up to ``limit`` new messages (:func:`deliver_run`) and do the
        flow-control accounting the per-message loop does: the run stops where the next
        request is due (past half the window) or where the window is full."""
        budget = 0
        if self.config.flow_control:
            if self._fc_subject:  # a request is out: up to the full window
                budget = self._fc_window - self._fc_bytes
            else:
                budget = max(self._fc_window // 2 - self._fc_bytes + 1, 1)
        n, size = deliver_run(self, sub, limit, budget)
        if n and budget:
            self._fc_bytes += size
            if not self._fc_subject and self._fc_bytes > self._fc_window // 2:
                self._send_fc()
        return n

    def _queue_none(self: Any) -> None:
        """Queue the "N" op a push round deferred (AckNone), unless one is queued."""
        if self._none_deferred:
            self._none_deferred = False
            if not self._none_dirty:
                self._none_dirty = True
                self._op("N")
