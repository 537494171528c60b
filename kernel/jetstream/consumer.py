"""A JetStream consumer: its position, pending acks, redelivery, pull and push delivery.

One :class:`Consumer` per consumer of a stream (nats-server's ``consumer.go``).  Its state:

* ``sseq``: the next stream sequence to look at; ``dseq``: the last consumer sequence
  handed out (every delivery, redeliveries included, takes the next one);
* ``pending``: stream seq -> ``(consumer seq of the first delivery, delivery time)`` for
  messages delivered and not acknowledged (ack policies ``explicit`` and ``all``), in
  stream order, in a :class:`~natskern.kernel.jetstream.consumer_pending.PendingSet`;
  ``rdc``: stream seq -> delivery count of redelivered messages;
* the ack floor (``adflr``/``asflr``), as nats-server reports it;
* the durable copy in a :class:`~natskern.kernel.store.api.ConsumerStore` (deltas that
  ride the stream's group commit, so an ack costs no fsync of its own).

One task delivers (:meth:`_run`): redeliveries first, then the next matching message,
to the waiting pull requests in turn or to the deliver subject of a push consumer while
someone listens there.  Acks, pull requests and flow-control replies arrive on internal
subscriptions and only change state and wake the task.  ``num_pending`` is never kept as
a running count: it is asked of the store's per-subject index
(:meth:`~natskern.kernel.store.api.StreamStore.num_pending`) from ``sseq`` on, so purges,
deletes, limits and expiry are always reflected exactly.

The stream tells its consumers about new messages with :meth:`Consumer.on_stored` and
about removed ones with :meth:`Consumer.on_removed` (see
:mod:`natskern.kernel.jetstream.consumers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import string
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream.consumer_acks import AckMixin
from natskern.kernel.jetstream.consumer_delivery import FC_START, DeliveryMixin
from natskern.kernel.jetstream.consumer_pending import PendingSet
from natskern.kernel.jetstream.consumer_pull import (
    PullMixin,
    PullRequest,
    status,
)
from natskern.kernel.jetstream.consumerconfig import ConsumerConfig, filters_of
from natskern.kernel.jetstream.wire import dumps, format_time, time_ns, to_wire
from natskern.kernel.store.api import ConsumerState, ConsumerStore, StoreError
from natskern.kernel.subjects.sublist import EMPTY_RESULT
from natskern.kernel.subjects.tokens import is_subset, matches

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.internal import InternalClient
    from natskern.kernel.jetstream.stream import Stream

__all__ = ["Consumer"]

log = logging.getLogger("natskern.jetstream.consumer")

_mono = time.monotonic_ns
_ALPHA: Final = string.ascii_letters + string.digits
#: Consumer-state ops a LogConsumerStore records in one entry per run (update_many).
_DELTAS: Final = ("D", "A", "DR")


class Consumer(AckMixin, PullMixin, DeliveryMixin):
    """One consumer of a stream (pull or push), with its durable state."""

    def __init__(
        self,
        stream: Stream,
        name: str,
        config: ConsumerConfig,
        cstore: ConsumerStore,
        client: InternalClient,
        *,
        created: int,
        on_inactive: Any = None,
        alive: Any = None,
    ) -> None:
        self.stream = stream
        self.store = stream.store
        self.name = name
        self.config = config
        self.cstore = cstore
        self.client = client
        self.created = created
        self._on_inactive = on_inactive
        self._alive = alive
        self.dseq = 0
        self.sseq = 1
        self.adflr = self.asflr = 0
        self.pending = PendingSet()
        self.rdc: dict[int, int] = {}
        self.rdq: deque[int] = deque()
        self._rdq_set: set[int] = set()
        self._delayed: dict[int, asyncio.TimerHandle] = {}
        self.waiting: deque[PullRequest] = deque()
        self.lss: list[int] = []  # last-per-subject sequences still to deliver
        self.lss_end = 0
        self.paused_until = 0
        self._wake = asyncio.Event()
        self._ops: deque[tuple[Any, ...]] = deque()
        self._ops_ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._subs: list[Any] = []
        self._closed = False
        self._last_active = _mono()
        self._last_delivery = 0
        #: Wall-clock times of the last delivery and the last ack (``last_active``).
        self.last_delivered = 0
        self.last_acked = 0
        self._fc_window = FC_START
        self._fc_bytes = 0
        self._fc_sent = 0
        self._fc_subject = b""
        self._replay_prev = 0
        #: Running ``num_pending`` for the ack subjects (None: recount).
        self._npc: int | None = None
        self._stream_prefix = stream.config.name
        #: Stops the interest watch of the deliver subject (push consumers, once started).
        self._unwatch: Callable[[], None] | None = None
        self._apply_config(config)

    # -- configuration -------------------------------------------------------------------

    def _apply_config(self, config: ConsumerConfig) -> None:
        self.config = config
        #: The filters as configured (``filters`` drops them when they cover the stream).
        self.declared_filters = filters_of(config)
        self._filters_for: list[str] | None = None
        self._filters: list[str] = []
        self.maxp = config.max_ack_pending
        self.ack_none = config.ack_policy == "none"
        self.deliver = config.deliver_subject.encode()
        freq = config.sample_freq.rstrip("%")
        #: Percentage of acks sampled into ``$JS.EVENT.METRIC.CONSUMER.ACK`` (0: none).
        self.sample = int(freq) if freq else 0
        self._ack_fast = config.ack_policy == "explicit" and not self.sample
        self._ack_head = b"$JS.ACK.%s.%s" % (self._stream_prefix.encode(), self.name.encode())
        self.pause_from_config()

    def pause_from_config(self) -> None:
        """Take ``pause_until`` from the config (0 when absent or in the past)."""
        until = self.config.pause_until
        self.paused_until = time_ns(until) if until else 0

    def update(self, config: ConsumerConfig) -> None:
        """Apply a checked new config (filters, limits, deliver subject...)."""
        self._apply_config(config)
        if self._task is not None:
            self._watch_deliver()
        self._npc = None
        self._expiry_at = 0
        self.signal()

    @property
    def filters(self) -> list[str]:
        """The filters that really filter: none when they cover all the stream's subjects.

        (``pull_subscribe("orders.>")`` on a stream of ``orders.>`` is not filtered: its
        pending count and next message then come from the stream's totals, not a scan of
        the per-subject index.)  Recomputed when the stream's subjects change.
        """
        subjects = self.stream.config.subjects
        if subjects is not self._filters_for:
            self._filters_for = subjects
            declared = self.declared_filters
            covered = bool(subjects) and all(
                any(is_subset(s.encode(), f.encode()) for f in declared) for s in subjects
            )
            self._filters = [] if declared and covered else declared
        return self._filters

    @property
    def is_pull(self) -> bool:
        """A pull consumer (no deliver subject)."""
        return not self.config.deliver_subject

    def matches(self, subject: str) -> bool:
        """Whether a message on ``subject`` is for this consumer."""
        if not self.filters:
            return True
        s = subject.encode()
        return any(matches(f.encode(), s) for f in self.filters)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, *, fresh: bool) -> None:
        """Set the starting position (new consumer) or load the stored state; subscribe."""
        if fresh:
            await self._select_start()
            await self.cstore.update_state(
                ConsumerState(delivered_stream_seq=self.sseq - 1, ack_floor_stream_seq=self.asflr)
            )
        else:
            self._load(self.cstore.state())
        name, sname = self.name.encode(), self._stream_prefix.encode()
        sub = self.client.subscribe
        self._subs.append(sub(b"$JS.ACK." + sname + b"." + name + b".>", self._on_ack))
        self._subs.append(sub(b"$JS.ACK.*.*." + sname + b"." + name + b".>", self._on_ack))
        nxt = b"$JS.API.CONSUMER.MSG.NEXT." + sname + b"." + name
        self._subs.append(sub(nxt, self._on_next))
        self._subs.append(sub(b"$JS.FC." + sname + b"." + name + b".*", self._on_fc))
        self._watch_deliver()
        # The first idle heartbeat is due one interval after the start (nats-server's
        # heartbeat timer), not at the first round: the SUB that binds a push consumer
        # starts a round at once, and a heartbeat then would count as a delivery.
        self._last_hb = _mono()
        self._task = asyncio.create_task(self._run())
        self._writer = asyncio.create_task(self._write())

    def _load(self, st: ConsumerState) -> None:
        self.dseq = st.delivered_consumer_seq
        self.sseq = st.delivered_stream_seq + 1
        self.adflr, self.asflr = st.ack_floor_consumer_seq, st.ack_floor_stream_seq
        if self.ack_none:  # (a store written before AckNone kept no pending entries)
            self.adflr, self.asflr = self.dseq, self.sseq - 1
            return
        for dseq, p in sorted(st.pending.items(), key=lambda kv: kv[1].sseq):
            self.pending[p.sseq] = [dseq, p.ts]
        self.rdc = {s: n + 1 for s, n in st.redelivered.items()}

    async def _select_start(self) -> None:
        cfg, store = self.config, self.store
        st = store.state()
        dp = cfg.deliver_policy
        sseq = st.first_seq
        if cfg.opt_start_seq:
            sseq = cfg.opt_start_seq
        elif dp == "last":
            if not self.filters:
                sseq = st.last_seq
            else:
                sseq = max(store.filtered_state(f).last for f in self.filters)
        elif dp == "last_per_subject":
            if self.stream.config.max_msgs_per_subject == 1:
                sseq = st.first_seq
            else:
                seqs: set[int] = set()
                for f in self.declared_filters or [">"]:
                    seqs.update(s.last for s in store.subjects_state(f).values())
                self.lss = sorted(seqs)
                self.lss_end = st.last_seq
                sseq = self.lss[0] if self.lss else st.last_seq
        elif dp == "by_start_time" and cfg.opt_start_time:
            sseq = await self._seq_from_time(time_ns(cfg.opt_start_time))
        elif dp == "new":
            sseq = st.last_seq + 1
        if st.first_seq == 0 and not cfg.opt_start_seq:
            sseq = 1
        elif sseq > st.last_seq and not cfg.opt_start_seq:
            sseq = st.last_seq + 1
        elif sseq < st.first_seq:
            sseq = st.first_seq
        self.sseq = max(sseq, 1)
        self.dseq = 0
        self.adflr, self.asflr = 0, self.sseq - 1

    async def _seq_from_time(self, ts: int) -> int:
        """The first sequence whose message is not older than ``ts`` (binary search)."""
        st = self.store.state()
        lo, hi = st.first_seq, st.last_seq + 1
        while lo < hi:
            mid = (lo + hi) // 2
            msg = await self.store.load_next_msg("", mid)
            if msg is None or msg.ts >= ts:
                hi = mid
            else:
                lo = msg.seq + 1
        return lo

    async def stop(self, *, delete: bool = False, notify: bool = True) -> None:
        """Stop delivering; pull requests get ``409 Consumer Deleted``; delete the state too."""
        if self._closed:
            return
        self._closed = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        for handle in self._delayed.values():
            handle.cancel()
        for sub in self._subs:
            self.client.remove_subscription(sub)
        if notify and delete:
            for req in self.waiting:
                self.client.publish(req.reply, b"", b"", status(409, "Consumer Deleted"))
        self.waiting.clear()
        for task in (self._task, self._writer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(StoreError):
            await self._flush_ops()
            if delete:
                await self.cstore.delete()
            else:
                await self.cstore.close()

    # -- stream notifications --------------------------------------------------------------

    def on_stored(self, seq: int, subject: str) -> None:
        """A message was stored (called by the stream)."""
        if seq >= self.sseq:
            if self._npc is not None and self.matches(subject):
                self._npc += 1
            self._wake.set()

    def on_removed(self, seq: int, subject: str) -> None:
        """Messages left the store (``seq`` 0: a purge).

        As in nats-server, a pending message removed one by one stays pending until its
        redelivery finds it gone; a purge moves the consumer past the new first sequence.
        """
        self._npc = None
        if seq != 0:
            return
        first = self.store.state().first_seq
        gone = [s for s in self.pending if s < first]
        for s in gone:
            self._drop_pending(s)
        if gone or self.sseq < first:
            self.last_acked = time.time_ns()
        if self.sseq < first:
            self.sseq = first
            if not self.pending:
                self.adflr, self.asflr = self.dseq, first - 1
        self._wake.set()

    def _drop_pending(self, seq: int) -> None:
        p = self.pending.pop(seq, None)
        self.rdc.pop(seq, None)
        if p is not None:
            self._rdq_set.discard(seq)
            self._move_floor(p[0], seq)
            self._op("A", p[0], seq)

    def signal(self) -> None:
        """Wake the delivery task."""
        self._wake.set()

    # -- information -----------------------------------------------------------------------

    def num_pending(self) -> int:
        """Messages matching the filters at or after ``sseq`` (last-per-subject aware)."""
        store, start = self.store, self.sseq
        if self.lss and start <= self.lss_end:
            n = len(self.lss) - self._lss_index(start)
            start = self.lss_end + 1
        else:
            n = 0
        if not self.filters:
            return n + store.num_pending(start, "")
        return n + sum(store.num_pending(start, f) for f in self.filters)

    def pending_count(self) -> int:
        """``num_pending`` kept as a running count between exact recounts (the ack token's)."""
        if self._npc is None or self.lss:
            self._npc = self.num_pending()
        return self._npc

    def _lss_index(self, start: int) -> int:
        import bisect

        return bisect.bisect_left(self.lss, start)

    def _recount(self) -> int:
        self._npc = self.num_pending()
        return self._npc

    def _watch_deliver(self) -> None:
        """Watch the deliver subject's interest (again, after a config update).

        nats-server's ``updateDeliveryInterest``: a push consumer starts delivering on the
        SUB that gives its deliver subject interest, not at a poll, and when the last
        subscriber leaves it pauses and its ``inactive_threshold`` starts counting.
        """
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self.deliver:
            self._unwatch = self.client.account.interest.watch(self.deliver, self._on_interest)
        self._bound = self.push_bound()

    def _on_interest(self, subject: bytes, added: bool) -> None:
        """A subscription matching the deliver subject came (``added``) or went."""
        self._bound = added or self.push_bound()
        if not self._bound:
            self._last_active = _mono()  # the inactivity threshold counts from here
        self._wake.set()

    def push_bound(self) -> bool:
        """A push consumer someone listens to."""
        return bool(self.deliver) and self._has_interest(self.deliver)

    def _has_interest(self, subject: bytes) -> bool:
        return self.client.account.sublist.match(subject) is not EMPTY_RESULT

    def info(self) -> dict[str, Any]:
        """ConsumerInfo's fields in nats-server's order (config without dynamic metadata)."""
        out: dict[str, Any] = {
            "stream_name": self._stream_prefix,
            "name": self.name,
            "created": format_time(self.created),
            "config": to_wire(self.config),
            "delivered": {"consumer_seq": self.dseq, "stream_seq": self.sseq - 1},
            "ack_floor": {"consumer_seq": self.adflr, "stream_seq": self.asflr},
            "num_ack_pending": len(self.pending),
            "num_redelivered": len(self.rdc),
            "num_waiting": len(self.waiting),
            "num_pending": self._recount(),
        }
        if self.deliver and self.push_bound():
            out["push_bound"] = True
        if self.last_delivered:
            out["delivered"]["last_active"] = format_time(self.last_delivered)
        if self.last_acked:
            out["ack_floor"]["last_active"] = format_time(self.last_acked)
        now = time.time_ns()
        if self.paused_until > now:
            out["paused"] = True
            out["pause_remaining"] = self.paused_until - now
        out["ts"] = format_time(now)
        return out

    # -- persistence -----------------------------------------------------------------------

    def _op(self, *op: Any) -> None:
        self._ops.append(op)
        self._ops_ready.set()

    async def _flush_ops(self) -> None:
        cs = self.cstore
        many = getattr(cs, "update_many", None)  # a LogConsumerStore's: one entry per run
        ops = self._ops
        while ops:
            if many is not None and ops[0][0] in _DELTAS:
                run = [ops.popleft()]
                while ops and ops[0][0] in _DELTAS:
                    run.append(ops.popleft())
                many(run)
                continue
            op = ops.popleft()
            kind = op[0]
            if kind == "D":
                await cs.update_delivered(op[1], op[2], op[3], op[4])
            elif kind == "DR":  # a run of first deliveries (pull_run)
                for k, sseq in enumerate(op[2]):
                    await cs.update_delivered(op[1] + k, sseq, 1, op[3])
            elif kind == "N":  # AckNone: the last delivery, acknowledged by itself
                self._none_dirty = False
                dseq, sseq = self.dseq, self.sseq - 1
                if dseq:
                    await cs.update_delivered(dseq, sseq, 1, self.last_delivered)
                    await cs.update_acks(dseq, sseq)
            elif kind == "A":
                await cs.update_acks(op[1], op[2])
            elif kind == "R":  # a reply once the ack is recorded (AckSync)
                self.client.publish(op[1], b"")
            elif kind == "W":  # workqueue/interest: remove the message
                with contextlib.suppress(StoreError):
                    await self.store.remove_msg(op[1])

    async def _write(self) -> None:
        while True:
            await self._ops_ready.wait()
            self._ops_ready.clear()
            try:
                await self._flush_ops()
            except StoreError:
                log.exception("consumer %s: state write failed", self.name)

    # -- advisories ------------------------------------------------------------------------

    def sample_ack(self, sseq: int, dseq: int, dc: int) -> None:
        """``sample_freq``: publish the ack latency of a sampled ack (nats-server's metric)."""
        p = self.pending.get(sseq)
        if p is None or random.random() * 100 >= self.sample:
            return
        fields = {"consumer_seq": dseq, "stream_seq": sseq, "ack_time": time.time_ns() - p[1]}
        self.advise("", "consumer_ack", **fields, deliveries=dc, metric=True)

    def advise_pause(self, paused: bool) -> None:
        """The ``consumer_pause`` advisory: paused or not, and the ``pause_until`` set."""
        self.advise(
            "PAUSE", "consumer_pause", paused=paused, pause_until=format_time(self.paused_until)
        )

    def advise(self, event: str, kind: str, *, metric: bool = False, **fields: Any) -> None:
        """Publish ``$JS.EVENT.ADVISORY.CONSUMER.<event>.<stream>.<consumer>`` if anyone listens.

        With ``metric``: ``$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>``.
        """
        if metric:
            subject = f"$JS.EVENT.METRIC.CONSUMER.ACK.{self._stream_prefix}.{self.name}"
        else:
            subject = f"$JS.EVENT.ADVISORY.CONSUMER.{event}.{self._stream_prefix}.{self.name}"
        subject_b = subject.encode()
        if not self._has_interest(subject_b):
            return
        body: dict[str, Any] = {
            "type": ("io.nats.jetstream.metric.v1." if metric else "io.nats.jetstream.advisory.v1.")
            + kind,
            "id": "".join(secrets.choice(_ALPHA) for _ in range(22)),
            "timestamp": format_time(time.time_ns()),
            "stream": self._stream_prefix,
            "consumer": self.name,
            **fields,
        }
        if self.stream.domain:
            body["domain"] = self.stream.domain
        self.client.publish(subject_b, dumps(body))

    def __repr__(self) -> str:
        return f"<Consumer {self._stream_prefix}>{self.name}>"


def config_record(cfg: ConsumerConfig, created: int) -> bytes:
    """What is stored as the consumer's config record."""
    return dumps({"config": to_wire(cfg), "created": created})
