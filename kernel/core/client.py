"""One client session: protocol handling, subscriptions, outbound buffer, liveness.

The parser (``natskern.kernel.protocol.parser``) calls the ``proto_*`` methods; publishes
go to the account's router; outbound frames are appended to ``out`` and
flushed once per event-loop iteration by the broker (nats-server's flush
coalescing).  A session whose pending output exceeds ``max_pending`` is closed
as a slow consumer; everyone else keeps flowing.  CONNECT, authentication and the
identity a session binds are :mod:`natskern.kernel.core.handshake`'s (a base class).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from natskern.kernel.core.accounts import Account, Identity
from natskern.kernel.core.handshake import OK, Handshake
from natskern.kernel.core.router import publish, publish_batch, publish_run
from natskern.kernel.core.session import (
    RESERVED_REPLY_PREFIXES,
    FrameSession,
    Holder,
    queue_frames,
    refuse_reply,
)
from natskern.kernel.core.subscription import DeliverCallback, Subscription
from natskern.kernel.core.trace import Tracer
from natskern.kernel.protocol.encode import err_line, go_quote, hmsg_frame, msg_frame
from natskern.kernel.protocol.ops import ERR_AUTH_VIOLATION
from natskern.kernel.protocol.parser import Parser
from natskern.kernel.subjects.tokens import is_insertable_subject

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.permissions import Permissions, SubjectPermission
    from natskern.kernel.core.transport import Connection
    from natskern.kernel.server import Broker

log = logging.getLogger("natskern.client")

#: Pending bytes above which a receiver's publishers are paused (or max_pending / 2).
STALL_THRESHOLD = 4 * 1024 * 1024
#: How often a stalled publisher looks at its receiver again, and the longest one stall lasts.
STALL_POLL = 0.002
STALL_MAX = 0.1

#: After a read of at least FLUSH_AFTER_READ bytes, sessions with output waiting are flushed
#: at once if they hold FLUSH_PENDING bytes in all (else at the end of the loop iteration).
FLUSH_AFTER_READ = 32 * 1024
FLUSH_PENDING = 256 * 1024


PING = b"PING\r\n"
PONG = b"PONG\r\n"


class Client(Handshake):
    """A connected client session (socket transports, WebSocket, ...)."""

    kind = "Client"

    def __init__(self, broker: Broker, transport: Connection, *, conn_type: str) -> None:
        self.broker = broker
        #: The byte pipe this session writes to (``natskern.kernel.core.transport``).
        self.transport: Connection = transport
        self.conn_type = conn_type
        self.cid = broker.next_client_id()
        self.account: Account = broker.global_account
        self.identity: Identity | None = None
        self.subs: dict[bytes, Subscription] = {}
        # outbound
        self.out: list[bytes] = []
        #: Bytes queued in ``out`` plus what the transport still buffered at the last flush.
        self.pending = 0
        self.flush_scheduled = False
        self.max_pending = broker.options["max_pending"]
        #: Above this many pending bytes, publishers feeding this session are paused briefly.
        self.stall_at = min(self.max_pending // 2, STALL_THRESHOLD)
        #: The consumer this session (as a publisher) overfed in its last read, if any.
        self.stalled_on: FrameSession | None = None
        self._stall_started = 0.0
        self._stall_polling = False
        #: Internal subscribers over their high-water mark holding this publisher back.
        self.holders: set[Holder] = set()
        #: Whether the transport's reading is paused (a stall or a holder).
        self.reading_paused = False
        #: When the transport's write buffer last went over its high-water mark (0 = not).
        self.write_paused_at = 0.0
        # options from CONNECT (before CONNECT: nats-server's defaults, verbose and pedantic)
        self.verbose = True
        self.pedantic = True
        self.echo = True
        self.headers = False
        self.no_responders = False
        self.protocol = 0
        self.name = ""
        self.lang = ""
        self.version = ""
        self.user = ""
        self.connect_received = False
        #: The CONNECT options as sent (a config reload re-authenticates with them).
        self.connect_opts: dict[str, Any] = {}
        #: The nonce sent in INFO when nkey auth is configured.
        self.nonce = ""
        #: True while an operation other than CONNECT is a violation (auth pending).
        self.gated = broker.auth_required
        #: Whether a PUB needs any check (auth gate, verbose, pedantic, permissions).
        self.pub_checks = True
        # permissions
        self.pub_perm: SubjectPermission | None = None
        self.sub_perm: SubjectPermission | None = None
        #: Reply subjects this responder may answer (allow_responses), or None.
        self.replies: dict[bytes, list[float]] | None = None
        self.permissions: Permissions | None = None
        # stats
        self.in_msgs = 0
        self.in_bytes = 0
        self.out_msgs = 0
        self.out_bytes = 0
        #: ``out_msgs`` at the last flush (a flush with new deliveries is activity).
        self.flushed_msgs = 0
        self.start_time = time.time()
        self.last_activity = self.start_time
        self.active = False
        self.pings_out = 0
        self.rtt = 0.0
        self._ping_sent_at = 0.0
        self.closed = False
        self.close_reason = ""
        self.parser = Parser(
            self,
            max_control_line=broker.options["max_control_line"],
            max_payload=broker.options["max_payload"],
        )
        # HPUB before CONNECT negotiated headers closes the connection, as in nats-server;
        # PUB subjects are checked (pedantic) until CONNECT says otherwise.
        self.parser.headers = False
        self.parser.pedantic = True
        self.parser.gated = self.gated
        peer = transport.get_extra_info("peername") if transport is not None else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.host, self.port = str(peer[0]), int(peer[1])
        else:
            self.host, self.port = "", 0
        self._timers: list[asyncio.TimerHandle] = []
        logging_conf = getattr(broker, "config", {}).get("logging", {}) or {}
        #: Protocol tracing (``-V``); ``None`` when off: reads and flushes skip it entirely.
        self.tracer: Tracer | None = None
        if logging_conf.get("trace"):
            self.tracer = Tracer(self.log_prefix, int(logging_conf.get("max_traced_msg_len", 0)))

    # -- transport side -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feed bytes from the transport to the parser."""
        self.active = True
        msgs = self.in_msgs
        if self.tracer is not None:
            self.tracer.inbound(data)
        self.parser.feed(data)
        if self.in_msgs != msgs:  # activity, as nats-server counts it: messages or interest
            self.last_activity = time.time()
            if len(data) >= FLUSH_AFTER_READ and self.broker.dirty_bytes() >= FLUSH_PENDING:
                # A publisher in full flow: the event loop may hand us many reads before the
                # iteration ends (libuv reads up to 32 times), so write out what they produced
                # now (nats-server flushes after every read): writes stay the size of a few
                # reads instead of megabytes that have to be copied and buffered.
                self.broker.flush_dirty()
        if (self.stalled_on is not None or self.holders) and not self.closed:
            self._pause_reading()

    # -- backpressure -------------------------------------------------------------------------
    #
    # nats-server slows a fast publisher down when a receiver's outbound buffer
    # fills up, instead of letting the buffer grow to max_pending.  Here the
    # publisher's transport stops being read until the receiver has drained
    # below half its stall threshold, for at most STALL_MAX seconds at a time.
    # A receiver that does not read at all still reaches max_pending (or the
    # write deadline) and is cut as a slow consumer.
    #
    # An internal subscriber over its high-water mark (natskern.kernel.core.internal) holds
    # the publisher instead: reading stays paused, with no time limit, until every holder
    # has drained below its low-water mark or closed.  Either way the pause starts after the
    # read being parsed: what was already read is routed to everyone first.

    def stall_on(self, consumer: FrameSession) -> None:
        """A receiver this session fed is past its stall mark: pause after this read."""
        self.stalled_on = consumer

    def pause_input(self, holder: Holder) -> None:
        """``holder`` is over its high-water mark: stop reading after this read until released."""
        self.holders.add(holder)

    def resume_input(self, holder: Holder) -> None:
        """``holder`` has drained (or closed): read again unless something else still holds."""
        holders = self.holders
        holders.discard(holder)
        if not holders:
            self._resume_reading()

    def _pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        if self.stalled_on is not None:
            self._stall_started = time.monotonic()
            if not self._stall_polling:
                self._stall_polling = True
                self.broker.loop.call_later(STALL_POLL, self._check_stall)

    def _resume_reading(self) -> None:
        if self.reading_paused and self.stalled_on is None and not self.holders:
            self.reading_paused = False
            if not self.closed:
                self.transport.resume_reading()

    def _check_stall(self) -> None:
        consumer = self.stalled_on
        if self.closed:
            return
        if consumer is not None and not consumer.closed:
            consumer.refresh_pending()
            if (
                not consumer.closed
                and consumer.pending > consumer.stall_at // 2
                and time.monotonic() - self._stall_started < STALL_MAX
            ):
                self.broker.loop.call_later(STALL_POLL, self._check_stall)
                return
        self._stall_polling = False
        self.stalled_on = None
        self._resume_reading()

    def refresh_pending(self) -> None:
        """Re-read how much the transport still has to write (a stalled publisher polls this).

        A session whose transport has refused to take more for longer than the write
        deadline is cut as a slow consumer instead.
        """
        if self.closed:
            return
        if (
            self.write_paused_at
            and time.monotonic() - self.write_paused_at > self.broker.options["write_deadline"]
        ):
            self.slow_consumer("Slow Consumer (Write Deadline)")
            return
        buffered = self.transport.get_write_buffer_size()
        self.pending = buffered + sum(len(chunk) for chunk in self.out)

    def log_prefix(self) -> str:
        """How log lines name this session, as nats-server does (``host:port - cid:N``)."""
        prefix = f"{self.host}:{self.port} - cid:{self.cid}"
        if self.name:
            prefix += f' - "{self.lang}:{self.name}"'
        return prefix

    def start(self, info: bytes) -> None:
        """Send INFO and arm the timers (auth timeout, first PING)."""
        log.debug("%s - Client connection created", self.log_prefix())
        self.send(info)
        loop = self.broker.loop
        if self.gated:
            self._timers.append(loop.call_later(self.broker.auth_timeout, self._auth_timeout))
        # nats-server: the first PING after min(2 s, ping_interval).
        first = min(self.broker.first_ping_delay, self.broker.options["ping_interval"])
        self._timers.append(loop.call_later(first, self._ping_tick))

    def connection_lost(self, exc: BaseException | None) -> None:
        """The transport is gone: drop every subscription and forget the session."""
        reason = self.close_reason or ("Client Closed" if exc is None else "Read Error")
        self._teardown(reason)

    def pause_writing(self) -> None:
        """The transport's write buffer went over its high-water mark (the write deadline runs)."""
        self.write_paused_at = time.monotonic()

    def resume_writing(self) -> None:
        """The transport's write buffer drained."""
        self.write_paused_at = 0.0

    # -- output -------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue a frame; the broker flushes every dirty session once per loop iteration."""
        if self.closed:
            return
        self.out.append(data)
        self.pending += len(data)
        if not self.flush_scheduled:
            self.schedule_flush()

    def schedule_flush(self) -> None:
        """Have the broker flush this session at the end of the loop iteration."""
        self.flush_scheduled = True
        self.broker.mark_dirty(self)

    def flush(self) -> None:
        """Write the queued frames to the transport in one call."""
        self.flush_scheduled = False
        if self.closed or not self.out:
            return
        out = self.out
        self.out = []
        if self.out_msgs != self.flushed_msgs:  # deliveries count as activity (nats-server)
            self.flushed_msgs = self.out_msgs
            self.last_activity = time.time()
        transport = self.transport
        data = out[0] if len(out) == 1 else b"".join(out)
        if self.tracer is not None:
            self.tracer.outbound(data)
        transport.write(data)
        self.pending = transport.get_write_buffer_size()
        if self.pending > self.max_pending:
            self.slow_consumer()

    def slow_consumer(self, reason: str = "Slow Consumer (Pending Bytes)") -> None:
        """Cut a session that does not read fast enough (nats-server sends no -ERR)."""
        if self.closed:
            return
        log.warning(
            "%s - Slow Consumer Detected: %d bytes pending, closing",
            self.log_prefix(),
            self.pending,
        )
        self.broker.stats_slow_consumers += 1
        self.out.clear()
        self.close_reason = reason
        self._teardown(self.close_reason)
        self.transport.abort()

    def send_error(self, text: str) -> None:
        """Send ``-ERR '<text>'`` and keep the connection."""
        self.send(err_line(text))

    def close(self, reason: str, err: str | None = None) -> None:
        """Send an optional ``-ERR``, flush, and close the connection."""
        if self.closed:
            return
        if err is not None:
            self.send(err_line(err))
        self.flush()
        self.close_reason = reason
        self.parser.closed = True
        self._teardown(reason)
        self.transport.close()

    def _teardown(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.parser.closed = True  # the rest of what this session sent is not processed
        self.close_reason = self.close_reason or reason
        log.debug("%s - Client connection closed: %s", self.log_prefix(), self.close_reason)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        sublist = self.account.sublist
        for sub in self.subs.values():
            sublist.remove(sub)
        # Observers of the close (monitoring's closed-connection list) still see the subs.
        self.broker.session_closed(self, self.close_reason)
        self.subs.clear()

    # -- liveness -----------------------------------------------------------------------------

    def _ping_tick(self) -> None:
        if self.closed:
            return
        broker = self.broker
        if self.active and self.pings_out == 0 and self._ping_sent_at:
            # Heard from the client within the interval: no need to ask.
            self.active = False
        else:
            if self.pings_out + 1 > broker.options["ping_max"]:
                self.close("Stale Connection", "Stale Connection")
                return
            self.pings_out += 1
            self._ping_sent_at = time.monotonic()
            self.send(PING)
        self.active = False
        interval = broker.options["ping_interval"]
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(broker.loop.call_later(interval, self._ping_tick))

    # -- protocol handlers (called by the parser) ---------------------------------------------

    def proto_pub(self, subject: bytes, reply: bytes, payload: bytes) -> None:
        """PUB: route a message without headers."""
        if self.pub_checks or (reply and reply.startswith(RESERVED_REPLY_PREFIXES)):
            self._checked_publish(subject, reply, None, payload)
            return
        self.in_msgs += 1
        self.in_bytes += len(payload)
        publish(self, self.account, subject, reply, None, payload)

    def proto_pub_run(self, subject: bytes, reply: bytes, payloads: list[bytes]) -> None:
        """Consecutive PUBs with one subject and reply: routed together when nothing is checked."""
        if self.pub_checks or (reply and reply.startswith(RESERVED_REPLY_PREFIXES)):
            for payload in payloads:
                self._checked_publish(subject, reply, None, payload)
                if self.closed:
                    return
            return
        self.in_msgs += len(payloads)
        self.in_bytes += sum(map(len, payloads))
        publish_run(self, self.account, subject, reply, payloads)

    def proto_pub_batch(self, messages: list[tuple[bytes, bytes, bytes]], size: int) -> None:
        """Consecutive single PUBs: routed in one call when nothing is checked."""
        if self.pub_checks:
            for subject, reply, payload in messages:
                self._checked_publish(subject, reply, None, payload)
                if self.closed:
                    return
            return
        self.in_msgs += len(messages)
        self.in_bytes += size
        publish_batch(self, self.account, messages)

    def proto_hpub(self, subject: bytes, reply: bytes, header_size: int, data: bytes) -> None:
        """HPUB: route a message with a header block."""
        if not self.headers and not self.gated:
            self.close("Protocol Violation")
            return
        # A header block of 0 bytes is no header block: nats-server delivers a MSG.
        hdr = data[:header_size] if header_size else None
        payload = data[header_size:]
        if self.pub_checks or (reply and reply.startswith(RESERVED_REPLY_PREFIXES)):
            self._checked_publish(subject, reply, hdr, payload)
            return
        self.in_msgs += 1
        self.in_bytes += len(data)
        publish(self, self.account, subject, reply, hdr, payload)

    def proto_pub_tokens(
        self,
        subject: bytes,
        reply: bytes,
        header_size: int,
        data: bytes,
        tokens: tuple[bytes, bytes],
    ) -> None:
        """PUB/HPUB with size tokens sent with leading zeros: delivered with those tokens."""
        hdr = None
        payload = data
        if header_size >= 0:
            if not self.headers and not self.gated:
                self.close("Protocol Violation")
                return
            hdr = data[:header_size] if header_size else None
            payload = data[header_size:]
        self._checked_publish(subject, reply, hdr, payload, tokens)

    def _update_pub_checks(self) -> None:
        self.pub_checks = bool(self.gated or self.verbose or self.pub_perm)

    def _checked_publish(
        self,
        subject: bytes,
        reply: bytes,
        hdr: bytes | None,
        payload: bytes,
        tokens: tuple[bytes, bytes] | None = None,
    ) -> None:
        """The publish path with every per-message check nats-server can be asked for.

        This is the one place the checks are made: the auth gate, publish permissions (and
        allow_responses), the reserved-reply rule and verbose's ``+OK``.  (Pedantic subject
        validation is the parser's, at the control line, as in nats-server.)
        The ``proto_*`` entry points take their fast path only when none
        of them applies: ``pub_checks`` is False and the reply (if any) is not reserved
        (``publish_batch`` refuses reserved replies of a batch with the same function).
        """
        if self.gated:
            self._gate_violation()
            return
        self.in_msgs += 1
        self.in_bytes += len(payload) + (len(hdr) if hdr is not None else 0)
        perm = self.pub_perm
        if perm is not None and not self._may_publish(perm, subject):
            return  # nats-server sends the violation instead of +OK
        if reply and reply.startswith(RESERVED_REPLY_PREFIXES):
            refuse_reply(self, reply)
            return
        if self.verbose:
            self.send(OK)
        publish(self, self.account, subject, reply, hdr, payload, tokens=tokens)

    def _may_publish(self, perm: SubjectPermission, subject: bytes) -> bool:
        allowed = perm.allows_publish(subject)
        if not allowed and self.replies is not None:
            allowed = self._consume_reply_permission(subject)
        if not allowed:
            text = subject.decode("utf-8", "replace")
            self.send_error(f"Permissions Violation for Publish to {go_quote(subject)}")
            log.error(
                '%s - Publish Violation - User "%s", Subject "%s"',
                self.log_prefix(),
                self.user,
                text,
            )
            return False
        # (nats-server 2.9 does not check the reply subject against the publisher's
        # subscribe permissions; its "Publish with Reply of" violation is only for the
        # reserved reply prefixes "_R_." and "$JS.ACK.")
        return True

    def _consume_reply_permission(self, subject: bytes) -> bool:
        assert self.replies is not None and self.permissions is not None
        entry = self.replies.get(subject)
        if entry is None:
            return False
        count, deadline = entry
        if time.monotonic() > deadline:
            del self.replies[subject]
            return False
        count += 1
        if count >= self.permissions.responses_max:
            del self.replies[subject]
        else:
            entry[0] = count
        return True

    def record_reply(self, reply: bytes) -> None:
        """Remember a reply subject a responder (allow_responses) may now publish to."""
        replies = self.replies
        if replies is None or self.permissions is None:
            return
        if len(replies) > 10_000:
            now = time.monotonic()
            for key in [k for k, v in replies.items() if v[1] < now]:
                del replies[key]
        replies[reply] = [0, time.monotonic() + self.permissions.responses_expires]

    def proto_sub(self, subject: bytes, queue: bytes, sid: bytes) -> None:
        """SUB: add a subscription to the account's routing trie."""
        if self.gated:
            self._gate_violation()
            return
        # nats-server's order: permissions (and the reserved queue), the subscription
        # limit, then an existing sid (+OK, nothing else), then the sublist's own check.
        if self.sub_perm is not None:
            if queue == b"_sys_" or not self.sub_perm.allows_subscribe(subject, queue or None):
                self._sub_violation(subject, queue, sid)
                return
        elif queue == b"_sys_":
            self._sub_violation(subject, queue, sid)
            return
        limit = self.broker.options["max_subscriptions"]
        if limit and len(self.subs) >= limit:
            self.send_error("maximum subscriptions exceeded")
            return
        if sid in self.subs:
            if self.verbose:
                self.send(OK)
            return
        if not is_insertable_subject(subject):
            self.send_error("Invalid Subject")
            return
        sub = Subscription(self, subject, queue or None, sid)
        if self.sub_perm is not None and self.sub_perm.needs_delivery_filter(subject):
            sub.callback = self._filtered_delivery(sub, self.sub_perm)
        self.subs[sid] = sub
        self.account.sublist.insert(sub)
        self.last_activity = time.time()
        if self.verbose:
            self.send(OK)

    def _filtered_delivery(self, sub: Subscription, perm: SubjectPermission) -> DeliverCallback:
        """A wildcard subscription overlapping a deny entry: withhold the denied subjects."""

        def deliver(subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> None:
            if perm.denies_delivery(subject) or self.closed:
                return
            size = len(payload)
            if hdr is not None and self.headers:
                frame = hmsg_frame(subject, sub.sid, reply, hdr, payload)
                size += len(hdr)
            else:
                frame = msg_frame(subject, sub.sid, reply, payload)
            queue_frames(self, (frame,), len(frame), 1, size, reply, None)

        return deliver

    def _sub_violation(self, subject: bytes, queue: bytes, sid: bytes = b"") -> None:
        text = subject.decode("utf-8", "replace")
        log.error(
            '%s - Subscription Violation - User "%s", Subject "%s"%s',
            self.log_prefix(),
            self.user,
            text,
            (f' using queue "{queue.decode("utf-8", "replace")}"' if queue else "")
            + (f", SID {sid.decode('utf-8', 'replace')}" if sid else ""),
        )
        quoted = go_quote(subject)
        if queue:
            self.send_error(
                f"Permissions Violation for Subscription to {quoted} using queue {go_quote(queue)}"
            )
        else:
            self.send_error(f"Permissions Violation for Subscription to {quoted}")

    def proto_unsub(self, sid: bytes, max_msgs: int) -> None:
        """UNSUB: remove now, or after ``max_msgs`` deliveries in total."""
        if self.gated:
            self._gate_violation()
            return
        sub = self.subs.get(sid)
        if sub is not None:
            if max_msgs > 0 and max_msgs > sub.delivered:
                sub.max_msgs = max_msgs
            else:
                self.remove_subscription(sub)
        if self.verbose:
            self.send(OK)

    def remove_subscription(self, sub: Subscription) -> None:
        """Forget ``sub`` (auto-unsubscribe reached, UNSUB, close)."""
        if self.subs.get(sub.sid) is sub:
            del self.subs[sub.sid]
            self.account.sublist.remove(sub)

    def proto_ping(self) -> None:
        """PING: answer PONG (this is how clients flush)."""
        if self.gated:
            self._gate_violation()
            return
        self.send(PONG)

    def proto_pong(self) -> None:
        """PONG: the client answered our PING."""
        if self._ping_sent_at and self.pings_out:
            self.rtt = time.monotonic() - self._ping_sent_at
        self.pings_out = 0

    def proto_warning(self, text: str) -> None:
        """A non-fatal protocol error found by the parser (pedantic's subject check)."""
        self.send_error(text)

    def proto_error(self, text: str | None) -> None:
        """A fatal protocol error found by the parser."""
        if text == ERR_AUTH_VIOLATION:
            self._gate_violation()
            return
        self.close("Protocol Violation" if text is None else text, text)

    # -- introspection ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """A summary for logs and monitoring."""
        return {
            "cid": self.cid,
            "kind": self.kind,
            "type": self.conn_type,
            "ip": self.host,
            "port": self.port,
            "name": self.name,
            "lang": self.lang,
            "version": self.version,
            "account": self.account.name,
            "subscriptions": len(self.subs),
            "in_msgs": self.in_msgs,
            "out_msgs": self.out_msgs,
            "in_bytes": self.in_bytes,
            "out_bytes": self.out_bytes,
            "pending_bytes": self.pending,
        }
