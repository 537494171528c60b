"""Pull requests (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``): parsing and status replies.

:func:`parse_request` reads a request body as nats-server's ``nextReqFromMsg`` does (empty:
batch 1; an integer; or JSON with ``batch``, ``expires``, ``max_bytes``, ``no_wait``,
``idle_heartbeat`` and the priority fields).  :class:`PullRequest` is one waiting request;
the status messages are built byte for byte as nats-server sends them (header only, no
reply subject).
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from natskern.kernel.jetstream import API_LEVEL
from natskern.kernel.jetstream.godecode import (
    BOOL,
    DURATION,
    INT,
    INT64,
    STRING,
    Struct,
    decode,
    gofield,
)
from natskern.kernel.jetstream.gojson import GoJSONError
from natskern.kernel.jetstream.wire import go_duration
from natskern.kernel.protocol.headers import header_value

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.consumer_priority import PriorityState

__all__ = [
    "BadPullRequest",
    "PullMixin",
    "PullRequest",
    "parse_request",
    "status",
    "status_pending",
]

_INT: Final = re.compile(rb"[+-]?[0-9]+")
#: The policies whose waiting queue :mod:`~natskern.kernel.jetstream.consumer_priority` keeps.
_QUEUED: Final = ("pinned_client", "prioritized")
_mono = time.monotonic_ns


def _above_level(hdr: bytes) -> bool:
    """A ``Nats-Required-Api-Level`` header asking for more than natskern's API level."""
    level = header_value(hdr, b"Nats-Required-Api-Level")
    return level is not None and not (level.isdigit() and int(level) <= API_LEVEL)


class BadPullRequest(ValueError):
    """A request nats-server answers with ``400 Bad Request - <reason>``."""


@dataclass(slots=True)
class PullRequest:
    """One waiting pull request: what is left of its batch and byte budget, its deadlines."""

    reply: bytes
    batch: int = 1
    max_bytes: int = 0
    no_wait: bool = False
    expires: int = 0  #: monotonic ns deadline, 0 = none
    heartbeat: int = 0  #: ns between idle heartbeats, 0 = none
    next_heartbeat: int = 0  #: monotonic ns
    delivered: int = 0
    group: str = ""
    min_pending: int = 0
    min_ack_pending: int = 0
    pin_id: str = ""
    priority: int = 0
    #: Requests made by ``+NXT`` acks (their budget counts as one request).
    received: int = 0
    #: A JSON request (its priority fields are checked).
    json: bool = False

    def eligible(self, pending: int, ack_pending: int) -> bool:
        """Overflow priority groups: served only past its ``min_pending``/``min_ack_pending``."""
        if self.min_pending <= 0 and self.min_ack_pending <= 0:
            return True
        return (0 < self.min_pending <= pending) or (0 < self.min_ack_pending <= ack_pending)


@dataclass(slots=True)
class _NextRequest:
    """``JSApiConsumerGetNextRequest`` (with the embedded ``PriorityGroup`` fields)."""

    expires: int = gofield(DURATION, 0)
    batch: int = gofield(INT, 0)
    max_bytes: int = gofield(INT, 0)
    no_wait: bool = gofield(BOOL, False)
    idle_heartbeat: int = gofield(DURATION, 0)
    group: str = gofield(STRING, "")
    min_pending: int = gofield(INT64, 0)
    min_ack_pending: int = gofield(INT64, 0)
    id: str = gofield(STRING, "")
    priority: int = gofield(INT, 0)


_NEXT = Struct(_NextRequest, "server.JSApiConsumerGetNextRequest")


def parse_request(body: bytes, reply: bytes) -> PullRequest:
    """The request of a ``MSG.NEXT`` body; raises :class:`BadPullRequest` (Go's texts)."""
    req = body.strip()
    now = _mono()
    if not req:
        return PullRequest(reply, received=now)
    if req[:1] == b"{":
        try:
            doc: _NextRequest = decode(req, _NEXT, "JSApiConsumerGetNextRequest")
        except GoJSONError as err:
            raise BadPullRequest(str(err)) from None
        hb, expires = doc.idle_heartbeat, doc.expires
        if hb > 0 and hb * 2 > expires:
            raise BadPullRequest("heartbeat value too large")
        return PullRequest(
            reply,
            batch=doc.batch,
            max_bytes=doc.max_bytes,
            no_wait=doc.no_wait,
            expires=now + expires if expires > 0 else 0,
            heartbeat=max(hb, 0),
            next_heartbeat=now + hb if hb > 0 else 0,
            group=doc.group,
            min_pending=doc.min_pending,
            min_ack_pending=doc.min_ack_pending,
            pin_id=doc.id,
            priority=doc.priority,
            received=now,
            json=True,
        )
    if _INT.fullmatch(req):
        return PullRequest(reply, batch=int(req), received=now)
    return PullRequest(reply, received=now)


def status(code: int, text: str) -> bytes:
    """A status header block: ``NATS/1.0 <code> <text>``."""
    return b"NATS/1.0 %d %s\r\n\r\n" % (code, text.encode())


def status_pending(code: int, text: str, msgs: int, nbytes: int) -> bytes:
    """A status with ``Nats-Pending-Messages`` / ``Nats-Pending-Bytes``."""
    return b"NATS/1.0 %d %s\r\nNats-Pending-Messages: %d\r\nNats-Pending-Bytes: %d\r\n\r\n" % (
        code,
        text.encode(),
        msgs,
        nbytes,
    )


def heartbeat(last_consumer: int, last_stream: int, stalled: bytes = b"") -> bytes:
    """``100 Idle Heartbeat`` with the last sequences (and the stalled flow-control subject)."""
    hdr = b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: %d\r\nNats-Last-Stream: %d\r\n" % (
        last_consumer,
        last_stream,
    )
    if stalled:
        hdr += b"Nats-Consumer-Stalled: " + stalled + b"\r\n"
    return hdr + b"\r\n"


class PullMixin:
    """The pull-request side of :class:`~natskern.kernel.jetstream.consumer.Consumer`."""

    #: The ``pinned_client``/``prioritized`` queue and pin (None: plain FIFO, or overflow).
    _prio: PriorityState | None = None

    # -- pull requests ---------------------------------------------------------------------

    def _on_next(
        self: Any, subject: bytes, reply: bytes, hdr: bytes | None, payload: bytes
    ) -> None:
        if not reply or self._closed:
            return
        cfg = self.config
        publish = self.client.publish
        if not self.is_pull:
            publish(reply, b"", b"", status(409, "Consumer is push based"))
            return
        if hdr and _above_level(hdr):
            publish(reply, b"", b"", status(412, "Required Api Level"))
            return
        try:
            req = parse_request(payload, reply)
        except BadPullRequest as err:
            publish(reply, b"", b"", status(400, f"Bad Request - {err}"))
            return
        if cfg.max_batch > 0 and req.batch > cfg.max_batch:
            publish(reply, b"", b"", status(409, f"Exceeded MaxRequestBatch of {cfg.max_batch}"))
            return
        if req.expires and cfg.max_expires > 0 and req.expires - req.received > cfg.max_expires:
            text = f"Exceeded MaxRequestExpires of {go_duration(cfg.max_expires)}"
            publish(reply, b"", b"", status(409, text))
            return
        if req.max_bytes > 0 and cfg.max_bytes > 0 and req.max_bytes > cfg.max_bytes:
            text = f"Exceeded MaxRequestMaxBytes of {cfg.max_bytes}"
            publish(reply, b"", b"", status(409, text))
            return
        prio = self._prio
        if prio is not None or cfg.priority_policy in _QUEUED:
            prio = self._sync_priority()
        if req.json:
            bad = self._priority_error(req)
            if bad:
                publish(reply, b"", b"", status(400, f"Bad Request - {bad}"))
                return
            if prio is not None and req.group:
                mismatch = prio.check_request(self, req)
                if mismatch is not None:
                    publish(reply, b"", b"", mismatch)
                    return
        if req.no_wait:
            avail = self.num_pending() + len(self.rdq)
            if avail == 0 and not req.expires:
                publish(reply, b"", b"", status(404, "No Messages"))
                return
            if avail and avail < sum(r.batch for r in self.waiting):
                publish(reply, b"", b"", status(408, "Requests Pending"))
                return
        self._add_request(req)

    def _priority_error(self: Any, req: PullRequest) -> str:
        policy = self.config.priority_policy
        if (req.min_pending or req.min_ack_pending) and policy != "overflow":
            return "Not a Overflow Priority consumer"
        if req.pin_id and policy != "pinned_client":
            return "Not a Pinned Client Priority consumer"
        if not 0 <= req.priority <= 9:
            return "Priority must be between 0 and 9"
        if policy != "none":
            if not req.group:
                return "Priority Group missing"
            if req.group not in self.config.priority_groups:
                return "Invalid Priority Group"
        return ""

    def _sync_priority(self: Any) -> PriorityState | None:
        from natskern.kernel.jetstream.consumer_priority import sync_priority

        return sync_priority(self)

    def _add_request(self: Any, req: PullRequest) -> None:
        if req.batch <= 0:
            req.batch = 1
        if len(self.waiting) >= self.config.max_waiting:
            self._expire_requests(_mono())
        if len(self.waiting) >= self.config.max_waiting:
            if not req.heartbeat:
                self.client.publish(req.reply, b"", b"", status(409, "Exceeded MaxWaiting"))
            return
        if self._prio is None:
            self.waiting.append(req)
        else:
            self._prio.add(self.waiting, req)
        self._last_active = _mono()
        self._wake.set()

    def _expire_requests(self: Any, now: int, *, eos: bool = False) -> int:
        """Answer expired (and, at the end of the stream, no-wait) requests; next deadline."""
        nxt = 0
        keep: deque[PullRequest] = deque()
        publish = self.client.publish
        for req in self.waiting:
            if req.expires and now >= req.expires:
                publish(
                    req.reply,
                    b"",
                    b"",
                    status_pending(408, "Request Timeout", req.batch, req.max_bytes),
                )
                continue
            if eos and req.no_wait and (not req.expires or req.delivered > 0):
                publish(req.reply, b"", b"", status(404, "No Messages"))
                continue
            if not self._has_interest(req.reply):
                continue
            if req.heartbeat and now >= req.next_heartbeat:
                publish(req.reply, b"", b"", heartbeat(self.dseq, self.sseq - 1))
                req.next_heartbeat = now + req.heartbeat
            for deadline in (req.expires, req.next_heartbeat):
                if deadline and (not nxt or deadline < nxt):
                    nxt = deadline
            keep.append(req)
        if len(keep) != len(self.waiting):
            self._last_active = now
        self.waiting = keep
        return nxt
