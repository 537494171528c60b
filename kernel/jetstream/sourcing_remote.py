"""Mirrors and sources of another account's stream (``external``), over real messaging.

A :class:`RemoteSourceTask` copies an origin stream the sourcing account reaches only
through its imports, as nats-server's ``setupMirrorConsumer`` / ``trySetupSourceConsumer``
do: it asks for a consumer on ``<external.api>.CONSUMER.CREATE.<origin>[.<name>.<filter>]``
(an ephemeral ``direct`` push consumer: no acks, flow control, 1 s idle heartbeats, a 10 s
inactivity threshold, delivering under ``<external.deliver>``) from the origin sequence
after the last one it copied, and stores what arrives through the same code as the
in-account :class:`~natskern.kernel.jetstream.sourcing.SourceTask` (the
``Nats-Stream-Source`` header, a mirror's sequences).  The ack subject of each delivery
carries the origin sequence, the delivery sequence and the pending count (the ``lag``).

The exchange is nats-server's: the request asks for API level 5 (4 for a mirror) with
the origin's expected ``Nats-Stream-Identity``; a server answering ``10185`` (a lower
level) is asked again one level lower, then without the level and ``sourcing`` under a
name of its own.  Flow-control requests are answered with the last sequences; an idle
heartbeat whose last delivery sequence is not the last one received (a gap), silence
for :data:`HEALTH_CHECK` seconds, or a delivery out of order make the consumer be created
again from the last origin sequence stored.  A failed create keeps its error for
STREAM.INFO and is retried after :func:`retry_delay` (nats-server's throttle and backoff).
What the imports do not let through simply never answers: no error, ``active`` -1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream.sourcing import (
    SOURCE_HDR,
    SourceTask,
    _add_header,
    _strip_headers,
)
from natskern.kernel.jetstream.sourcing_request import parse_ack_reply, place, token
from natskern.kernel.jetstream.stream import MSG_ID
from natskern.kernel.jetstream.streamcheck import go_hash
from natskern.kernel.jetstream.wire import dumps
from natskern.kernel.protocol.headers import header_value

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.core.internal import InternalClient, InternalSubscriber
    from natskern.kernel.core.subscription import Subscription
    from natskern.kernel.jetstream.stream import Stream
    from natskern.kernel.jetstream.streamconfig import StreamSource

__all__ = ["HEALTH_CHECK", "HEARTBEAT", "RemoteSourceTask", "parse_ack_reply", "retry_delay"]

log = logging.getLogger("natskern.jetstream")

#: nats-server's ``sourceHealthHB``: the consumer's idle heartbeat (seconds).
HEARTBEAT: Final = 1.0
#: ``sourceHealthCheckInterval``: silence after which the consumer is created again, and
#: the consumer's inactivity threshold (seconds).
HEALTH_CHECK = 10.0
#: ``sourceConsumerRetryThreshold``: the least time between two create requests.
RETRY_THRESHOLD = 2.0
#: ``retryBackOff`` and ``retryMaximum`` of the backoff after failed creates.
RETRY_BACKOFF = 5.0
RETRY_MAXIMUM = 120.0
#: ``srcConsumerWaitTime``: how long an answer to a create request may take.
CREATE_TIMEOUT = 30.0
#: How long stopping waits for the origin to confirm that the consumer is gone.
STOP_WAIT = 1.0
_ACK_WAIT: Final = 22 * 3600 * 1_000_000_000
_IDENTITY_HDR: Final = b"Nats-Stream-Identity"
_LEVEL_HDR: Final = b"Nats-Required-Api-Level"
_LAST_CONSUMER: Final = b"Nats-Last-Consumer"
_STALLED: Final = b"Nats-Consumer-Stalled"
_CONTROL: Final = b"NATS/1.0 100 "
_REQUIRED_API_LEVEL: Final = 10185
_INVALID_JSON: Final = 10025
_IDENTITY_MISMATCH: Final = 10225


def retry_delay(fails: int, since_last: float) -> float:
    """nats-server's schedule: the throttle left, ``5 s * 2 * fails`` (at most 2 min), and
    100-200 ms of jitter."""
    delay = max(RETRY_THRESHOLD - since_last, 0.0)
    if fails:
        delay += min(RETRY_BACKOFF * 2 * fails, RETRY_MAXIMUM)
    return delay + 0.1 + random.random() * 0.1


class _Retry(Exception):
    """The consumer must be created again from the last origin sequence stored."""


class RemoteSourceTask(SourceTask):
    """Copies an ``external`` origin stream into ``stream`` through a consumer it requests."""

    def __init__(
        self,
        stream: Stream,
        source: StreamSource,
        client: InternalClient,
        *,
        mirror: bool,
        functions: Any = None,
        domain: str = "",
        sources: list[StreamSource] | None = None,
    ) -> None:
        super().__init__(stream, source, lambda name: None, mirror=mirror, functions=functions)
        assert source.external is not None
        self.client = client
        self.api = source.external.api
        self.deliver_prefix = source.external.deliver
        self.domain = domain
        #: The last create's error (STREAM.INFO ``error``), None after a good one.
        self.error: dict[str, Any] | None = None
        self.lag = 0
        #: The origin consumer in use, and the last delivery sequence taken from it.
        self.cname = ""
        self.dseq = 0
        #: The last origin sequence this task has seen through (stored or skipped).
        self.sseq = 0
        self.ident = ""
        self.fails = 0
        self._last_request = -1e9
        self._sub: InternalSubscriber | None = None
        self._deleting: tuple[asyncio.Future[None], Subscription] | None = None
        self._name = self._consumer_name(sources or [])

    def _consumer_name(self, sources: list[StreamSource]) -> str:
        """nats-server's ``createStableConsumerHash`` / ``createSourcingConsumerHash``."""
        ident = f"{self.stream.config.name} {self.client.account.name}"
        if self.domain:
            ident += f" {self.domain}"
        if self.mirror:
            return f"JS_MIRROR_{go_hash(ident)}"
        if sum(1 for s in sources if s.name == self.source.name) > 1:
            ident += f" {self.iname}"
        return f"JS_SRC_{go_hash(ident)}"

    # -- lifecycle -------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop copying, drop the subscription and ask the origin to drop the consumer
        (waiting a moment for its answer: the origin's account may stop next)."""
        await super().stop()
        self._cancel()
        deleting, self._deleting = self._deleting, None
        if deleting is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(deleting[0], STOP_WAIT)
            self.client.remove_subscription(deleting[1])

    def _cancel(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        if not self.cname:
            return
        # nats-server leaves the consumer to its inactivity threshold; its interest through
        # a stream import never goes away here, so say that it is no longer needed.
        subject = f"{self.api}.CONSUMER.DELETE.{self.source.name}.{self.cname}"
        self.cname = ""
        if self._deleting is not None:
            self.client.remove_subscription(self._deleting[1])
            self._deleting = None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_reply(subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes) -> bool:
            if not done.done():
                done.set_result(None)
            return True

        inbox = f"$JSC.R.{token(22)}".encode()
        sub = self.client.subscribe(inbox, on_reply)
        if self.client.publish(subject.replace("..", ".").encode(), b"", inbox):
            self._deleting = (done, sub)
        else:
            self.client.remove_subscription(sub)

    # -- info ------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """The ``StreamSourceInfo``, ``lag`` and ``error`` as the origin's consumer told."""
        src = self.source
        out: dict[str, Any] = {"name": src.name}
        if src.external is not None:
            out["external"] = {"api": src.external.api, "deliver": src.external.deliver}
        out["lag"] = self.lag
        if self.sseq and not self.mirror:
            out["seq"] = self.sseq
        out["active"] = time.time_ns() - self.last_active if self.last_active else -1
        if src.filter_subject:
            out["filter_subject"] = src.filter_subject
        if src.subject_transforms:
            out["subject_transforms"] = [
                {"src": t.src, "dest": t.dest} for t in src.subject_transforms
            ]
        if self.error is not None:
            out["error"] = self.error
        return out

    # -- the consumer ------------------------------------------------------------------------

    async def _run(self) -> None:
        state = self.stream.store.state()
        if self.mirror:
            self.sseq = state.last_seq
        else:
            await self._resume_seq()
            self.sseq, self.ident = self.last_seq, self.resume_ident
        first = True
        while True:
            since = time.monotonic() - self._last_request
            await asyncio.sleep(
                0.1 + random.random() * 0.1 if first else retry_delay(self.fails, since)
            )
            first = False
            try:
                done = await self._setup()
                if not done:
                    self.fails += done is False
                    continue
                self.fails = 0
                await self._consume()
            except _Retry:
                pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "JetStream: sourcing %r from another account failed", self.source.name
                )
                self.fails += 1
            finally:
                self._cancel()

    def _request(self, state_seq: int) -> dict[str, Any]:
        """The consumer create request (``CreateConsumerRequest``) starting after ``state_seq``."""
        src = self.source
        kind = "M" if self.mirror else "S"
        deliver = f"{self.deliver_prefix}.{kind}.{token()}".replace("..", ".")
        meta_key = "_nats.mirror" if self.mirror else "_nats.src"
        metadata = {
            f"{meta_key}.stream": self.stream.config.name,
            f"{meta_key}.acc": self.client.account.name,
        }
        if self.domain:
            metadata[f"{meta_key}.domain"] = self.domain
        cfg: dict[str, Any] = {
            "name": self._name,
            "deliver_subject": deliver,
            "deliver_policy": "all",
            "ack_policy": "none",
            "ack_wait": _ACK_WAIT,
            "max_deliver": 1,
            "idle_heartbeat": int(HEARTBEAT * 1e9),
            "flow_control": True,
            "direct": True,
            "sourcing": True,
            "inactive_threshold": int(HEALTH_CHECK * 1e9),
            "metadata": metadata,
        }
        place(cfg, src, self.mirror, state_seq, self.stream.store.state())
        return {"stream_name": src.name, "config": cfg}

    def _subject(self, cfg: dict[str, Any]) -> bytes:
        if cfg.get("filter_subject"):
            tail = f"CONSUMER.CREATE.{self.source.name}.{cfg['name']}.{cfg['filter_subject']}"
        else:
            tail = f"CONSUMER.CREATE.{self.source.name}"
        return f"{self.api}.{tail}".replace("..", ".").encode()

    async def _ask(
        self, subject: bytes, hdr: bytes | None, body: bytes
    ) -> tuple[Any, bytes | None]:
        """One request through the account's imports: the decoded answer and its headers, or
        ``(None, None)`` when nobody answers."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[bytes | None, bytes]] = loop.create_future()
        inbox = f"$JSC.R.{token(22)}".encode()

        def on_reply(subject: bytes, reply: bytes, rhdr: bytes | None, payload: bytes) -> bool:
            if not answer.done():
                answer.set_result((rhdr, payload))
            return True

        sub = self.client.subscribe(inbox, on_reply)
        try:
            self._last_request = time.monotonic()
            if not self.client.publish(subject, body, inbox, hdr):
                return None, None
            try:
                rhdr, payload = await asyncio.wait_for(answer, CREATE_TIMEOUT)
            except TimeoutError:
                return None, None
        finally:
            self.client.remove_subscription(sub)
        try:
            return json.loads(payload), rhdr
        except ValueError:
            return {"error": {"code": 500, "err_code": _INVALID_JSON}}, rhdr

    async def _setup(self) -> bool | None:
        """Create the origin's consumer and subscribe to what it delivers; False: failed,
        retry later; None: the origin was recreated, start again from its beginning."""
        req = self._request(self.sseq)
        level = 4 if self.mirror else 5
        self.error = None
        # Listening before asking: the imports may give the deliver subject interest in the
        # origin's account already, and the consumer delivers as soon as it exists.
        deliver = req["config"]["deliver_subject"].encode()
        self._sub = self.client.capture(
            deliver, high_water=65536, max_msgs=1 << 20, max_bytes=1 << 30
        )
        while True:
            hdr: bytes | None = None
            if level:
                hdr = b"NATS/1.0\r\n%s: %d\r\n" % (_LEVEL_HDR, level)
                if level == 5:
                    hdr += b"%s: %s\r\n" % (_IDENTITY_HDR, self.ident.encode())
                hdr += b"\r\n"
            answer, rhdr = await self._ask(self._subject(req["config"]), hdr, dumps(req))
            if answer is None:
                return False
            err = answer.get("error")
            info = answer if isinstance(answer.get("config"), dict) else None
            if err is None and isinstance(info, dict):
                break
            code = err.get("err_code") if isinstance(err, dict) else None
            if code == _IDENTITY_MISMATCH:  # (a server that checks the identity itself)
                self._recreated()
                self.ident = ""
                return None
            if level and code in (_REQUIRED_API_LEVEL, _INVALID_JSON) and req["config"]["sourcing"]:
                if level == 5:
                    level = 4
                else:
                    level = 0
                    req["config"]["sourcing"] = False
                    req["config"]["name"] = f"{self._name}_{go_hash(token(22))}"
                continue
            self.error = (
                err
                if isinstance(err, dict)
                else {"code": 500, "description": "invalid consumer create response"}
            )
            return False
        ident = header_value(rhdr, _IDENTITY_HDR) if rhdr else None
        ident_s = ident.decode(errors="replace") if ident else ""
        self.cname = str(info.get("name") or "")
        if not self.mirror and ident_s and self.ident and ident_s != self.ident:
            self._recreated()
            self.ident = ident_s
            return None
        self.ident = ident_s
        delivered = int((info.get("delivered") or {}).get("stream_seq") or 0)
        self.dseq = 0
        if self.mirror:
            last = self.stream.store.state().last_seq
            if delivered > last:
                await self._skip_to(delivered)
            self.sseq = max(delivered, last)
        elif self.sseq < delivered:
            self.sseq = delivered
        self.last_active = time.time_ns()
        return True

    def _recreated(self) -> None:
        log.warning(
            "JetStream: source stream %r for stream %r was recreated, resetting source state",
            self.source.name,
            self.stream.config.name,
        )
        self.sseq = 0

    async def _skip_to(self, seq: int) -> None:
        """A mirror: make ``seq`` the last sequence (what the origin no longer has)."""
        stream = self.stream
        async with stream.lock:
            await stream.drain()
            gap = seq - stream.store.state().last_seq
            if gap > 0:
                await stream.store.skip_msgs(0, gap)

    async def _consume(self) -> None:
        sub = self._sub
        assert sub is not None
        while True:
            try:
                batch = await asyncio.wait_for(sub.next_batch(512), HEALTH_CHECK)
            except TimeoutError:
                batch = []
            if not batch:
                if time.time_ns() - self.last_active > HEALTH_CHECK * 1e9:
                    raise _Retry
                continue
            self.last_active = time.time_ns()
            for subject, reply, hdr, payload in batch:
                await self._on_msg(subject, reply, hdr, payload)

    async def _on_msg(
        self, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes
    ) -> None:
        if not payload and hdr and hdr.startswith(_CONTROL):
            if reply:  # flow control: what we have taken so far
                answer = b"NATS/1.0\r\nNats-Last-Consumer: %d\r\nNats-Last-Stream: %d\r\n\r\n" % (
                    self.dseq,
                    self.sseq,
                )
                self.client.publish(reply, b"", b"", answer)
                return
            last = header_value(hdr, _LAST_CONSUMER)
            if last is not None and last.isdigit() and int(last) > 0 and int(last) != self.dseq:
                raise _Retry  # a delivery went missing
            stalled = header_value(hdr, _STALLED)
            if stalled:
                self.client.publish(stalled, b"")
            return
        parsed = parse_ack_reply(reply)
        if parsed is None:
            return
        cname, dc, sseq, dseq, pending = parsed
        if cname != self.cname or dc > 1:
            return
        if sseq <= self.sseq:
            if dseq == self.dseq + 1:
                self.dseq += 1
            return
        if dseq != self.dseq + 1:
            raise _Retry
        self.dseq = dseq
        self.lag = pending - 1 if pending else 0
        await self._store_one(subject.decode(errors="surrogateescape"), sseq, hdr, payload)

    async def _store_one(self, subject: str, sseq: int, hdr: bytes | None, payload: bytes) -> None:
        stream = self.stream
        local = self._select(subject)
        if local is None:
            local = subject
        async with stream.lock:
            await stream.drain()
            if self.mirror:
                gap = sseq - stream.store.state().last_seq - 1
                if gap > 0:
                    await stream.store.skip_msgs(0, gap)
                out = _strip_headers(hdr, source=False)
                self.sseq = sseq
                await stream._store(local, out, payload, 0, "", b"")
                return
            value = f"{self._hdr_prefix}{sseq}{self._hdr_tail}{subject}"
            if self.ident:
                value += f" {self.ident}"
            out = _add_header(_strip_headers(hdr, source=True), SOURCE_HDR, value.encode())
            self.sseq = self.last_seq = sseq
            raw_id = header_value(out, MSG_ID)
            msg_id = raw_id.decode(errors="surrogateescape") if raw_id else ""
            if msg_id and stream._duplicate(msg_id) is not None:
                return
            await stream._store(local, out, payload, 0, msg_id, b"")
