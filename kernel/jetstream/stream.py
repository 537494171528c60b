"""A stream: its configuration, its store and the publish path (nats-server's ``stream.go``).

:meth:`Stream.ingest` takes a batch of messages published on the stream's subjects (what
the stream's internal subscriber queued: ``(subject, reply, headers, payload)``) and
returns the acknowledgements to send.  Each message goes through nats-server's checks in
its order (``processJetStreamMsg``, as nats-server 2.15.1 answers): sealed,
``max_msg_size``, header size, ``Nats-Expected-Stream``, TTL allowed,
``Nats-Expected-Last-Subject-Sequence`` (``-Subject``), ``Nats-Expected-Last-Sequence``,
``Nats-Msg-Id`` dedupe, ``Nats-Expected-Last-Msg-Id``, ``Nats-Rollup``, interest
retention without consumers, the account's usage limits, ``Nats-TTL``, then the store.

Writes overlap: a message whose checks need no state is handed to the store at once and
the next message is checked while the store's group commit covers both; a message whose
checks read the stream's state (an ``Nats-Expected-*`` header, a republish, interest
retention) first waits for the writes before it.  The store assigns sequences in call
order, so acknowledgements keep the publish order.
"""

from __future__ import annotations

import asyncio
import re
import time
import types
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from typing import Any, Final

from natskern.kernel.durations import parse_duration_ns
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.jetstream.transforms import compile_transform
from natskern.kernel.jetstream.wire import dumps, format_time, go_duration
from natskern.kernel.protocol.headers import header_value
from natskern.kernel.store.api import StoreConfig, StoreError, StreamStore
from natskern.kernel.subjects.tokens import is_valid_literal_subject
from natskern.kernel.subjects.transform import MappingFunction

__all__ = ["Stream", "parse_ttl", "store_config"]

MSG_ID: Final = b"Nats-Msg-Id"
EXPECTED_STREAM: Final = b"Nats-Expected-Stream"
EXPECTED_LAST_SEQ: Final = b"Nats-Expected-Last-Sequence"
EXPECTED_LAST_SUBJ_SEQ: Final = b"Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SUBJ_SEQ_SUBJ: Final = b"Nats-Expected-Last-Subject-Sequence-Subject"
EXPECTED_LAST_MSG_ID: Final = b"Nats-Expected-Last-Msg-Id"
ROLLUP: Final = b"Nats-Rollup"
TTL: Final = b"Nats-TTL"
MARKER_REASON: Final = b"Nats-Marker-Reason"
#: How early a removal may come and still count as the message's expiry (ns).
_MARKER_SLACK: Final = 50_000_000
_STATEFUL: Final = (EXPECTED_LAST_SEQ, EXPECTED_LAST_SUBJ_SEQ, EXPECTED_LAST_MSG_ID)
_MAX_HEADER: Final = 65535
_SECOND: Final = 1_000_000_000
_DIGITS: Final = re.compile(rb"[0-9]+")
_now = time.time_ns

#: ``republish(subject, headers, payload)``: publish into the stream's account.
Publisher = Callable[[bytes, bytes, bytes], Any]


def store_config(cfg: StreamConfig, options: Mapping[str, object] | None = None) -> StoreConfig:
    """What the store needs of a stream config."""
    return StoreConfig(
        name=cfg.name,
        subjects=list(cfg.subjects),
        storage=cfg.storage,
        max_msgs=cfg.max_msgs,
        max_bytes=cfg.max_bytes,
        max_age=cfg.max_age,
        max_msgs_per_subject=cfg.max_msgs_per_subject,
        max_msg_size=cfg.max_msg_size,
        discard=cfg.discard,
        discard_new_per_subject=cfg.discard_new_per_subject,
        first_seq=cfg.first_seq,
        allow_msg_ttl=cfg.allow_msg_ttl,
        options=dict(options or {}),
    )


def _parse_int(raw: bytes) -> int:
    """nats-server's ``parseInt64`` as ``uint64``: anything but digits is ``2**64 - 1``."""
    return int(raw) if _DIGITS.fullmatch(raw) else 2**64 - 1


def parse_ttl(raw: bytes) -> int:
    """A ``Nats-TTL`` value in seconds (-1: never; 0: none); ValueError when invalid.

    A Go duration of at least one second (truncated to whole seconds), ``never``
    (any letter case) or a whole number of seconds, as nats-server reads it.
    """
    text = raw.decode(errors="replace")
    if text.lower() == "never":
        return -1
    try:
        ns = parse_duration_ns(text)
    except ValueError:
        if _DIGITS.fullmatch(raw):
            return int(raw)
        raise ValueError("invalid per-message TTL") from None
    if ns < _SECOND:
        raise ValueError("invalid per-message TTL")
    return ns // _SECOND


def _set_header(hdr: bytes, name: bytes, value: bytes) -> bytes:
    """``hdr`` without ``name`` lines and with ``name: value`` appended."""
    lines = [
        line for line in hdr[: len(hdr) - 2].split(b"\r\n") if not line.startswith(name + b":")
    ]
    lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Stream:
    """One stream of an account: config, store, publish path, dedupe window."""

    def __init__(
        self,
        config: StreamConfig,
        store: StreamStore,
        *,
        created: int,
        functions: Mapping[str, MappingFunction] | None = None,
        domain: str = "",
        republish: Publisher | None = None,
    ) -> None:
        self.store = store
        self.created = created
        self.domain = domain
        self.functions = functions or {}
        self.publisher = republish
        #: ``usage_check(storage, subject, headers, payload)``: the account's usage limits
        #: (an ApiError refuses the message); None when the account has none.
        self.usage_check: Callable[[str, str, bytes | None, bytes], ApiError | None] | None = None
        #: Consumers of the stream (the consumers engine keeps it up to date).
        self.consumer_count = 0
        #: The consumers by name (kept by :mod:`natskern.kernel.jetstream.consumers`); each is
        #: told ``on_stored(seq, subject)`` once a message is stored and
        #: ``on_removed(seq, subject)`` once the store removed one (``seq`` 0: a purge).
        self.consumers: dict[str, Any] = {}
        store.on_removal(self._removed)
        #: Messages of a stream with ``subject_delete_marker_ttl``: seq -> (ts, TTL s, marker).
        self._expiring: dict[int, tuple[int, int, bool]] = {}
        self._markers: set[asyncio.Task[None]] = set()
        self._dedupe: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._pending_ids: dict[str, asyncio.Task[bytes | None]] = {}
        self._last_msg_id = ""
        self._writes: list[asyncio.Task[Any]] = []
        #: Held while a batch is ingested or the API changes the store (purge, delete).
        self.lock = asyncio.Lock()
        self.config = config
        self.apply_config(config)

    # -- configuration ---------------------------------------------------------------------

    def apply_config(self, config: StreamConfig) -> None:
        """Take a new (checked) config: transforms, ack prefix, dedupe window."""
        self.config = config
        name = dumps(config.name)
        domain = b'"domain":' + dumps(self.domain) + b"," if self.domain else b""
        self._ack_prefix = b'{"stream":' + name + b"," + domain + b'"seq":'
        st = config.subject_transform
        self._itr = compile_transform(st.src, st.dest, self.functions) if st else None
        rp = config.republish
        self._rtr = compile_transform(rp.src, rp.dest, self.functions) if rp else None
        self._stateful_always = (
            self._rtr is not None or config.retention == "interest" or config.sealed
        )

    def _removed(self, seq: int, subject: str) -> None:
        for consumer in list(self.consumers.values()):
            consumer.on_removed(seq, subject)
        if seq and self._expiring:
            self._maybe_marker(seq, subject)

    # -- subject delete markers ------------------------------------------------------------

    def _maybe_marker(self, seq: int, subject: str) -> None:
        """After an age removal (``max_age`` or ``Nats-TTL``) emptied a subject: a marker.

        The store reports removals without their reason: a removal counts as an age
        removal when the message was due (its TTL or ``max_age`` had run out), which is
        how no other removal of it can look in practice.
        """
        meta = self._expiring.pop(seq, None)
        if meta is None:
            return
        ts, ttl, was_marker = meta
        cfg = self.config
        now = _now() + _MARKER_SLACK
        if ttl > 0:
            due = ts + ttl * _SECOND <= now
        else:
            due = ttl == 0 and cfg.max_age > 0 and ts + cfg.max_age <= now
        if was_marker or not due or self.store.filtered_state(subject).msgs:
            return
        marker_ttl = go_duration(cfg.subject_delete_marker_ttl // _SECOND * _SECOND)
        hdr = (
            b"NATS/1.0\r\nNats-Marker-Reason: MaxAge\r\nNats-TTL: "
            + marker_ttl.encode()
            + b"\r\nNats-Rollup: sub\r\n\r\n"
        )
        task = asyncio.ensure_future(self._write_marker(subject.encode(), hdr))
        self._markers.add(task)
        task.add_done_callback(self._markers.discard)

    def track_expiry(self, seq: int, ts: int, hdr: bytes | None) -> None:
        """Remember a stored message's time and TTL (rebuilt after a restart) for markers."""
        ttl = 0
        raw = header_value(hdr, TTL) if hdr else None
        if raw:
            try:
                ttl = parse_ttl(raw)
            except ValueError:
                ttl = 0
        self._expiring[seq] = (ts, ttl, bool(hdr) and MARKER_REASON in hdr)  # type: ignore[operator]

    async def _write_marker(self, subject: bytes, hdr: bytes) -> None:
        async with self.lock:
            await self.ingest([(subject, b"", hdr, b"")])

    # -- acks ------------------------------------------------------------------------------

    def _ack(self, seq: int) -> bytes:
        return self._ack_prefix + b"%d}" % seq

    def _error_ack(self, err: ApiError) -> bytes:
        return dumps({"error": err.to_json(), "stream": self.config.name, "seq": 0})

    # -- dedupe ----------------------------------------------------------------------------

    def _expire_ids(self, now: int) -> None:
        window = self.config.duplicate_window
        dedupe = self._dedupe
        while dedupe:
            _, (_, ts) = next(iter(dedupe.items()))
            if now - ts < window:
                break
            dedupe.popitem(last=False)

    def remember_msg_id(self, msg_id: str, seq: int, ts: int) -> None:
        """Record a stored message's ``Nats-Msg-Id`` (also used to rebuild after a restart)."""
        self._dedupe[msg_id] = (seq, ts)
        self._dedupe.move_to_end(msg_id)

    # -- ingest ----------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait for every write handed to the store so far."""
        writes, self._writes = self._writes, []
        if writes:
            await asyncio.gather(*writes, return_exceptions=True)

    async def ingest(
        self, batch: Sequence[tuple[bytes, bytes, bytes | None, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """Store a batch of published messages; return ``(reply, ack)`` for each to answer."""
        answers: list[tuple[bytes, bytes | Awaitable[bytes | None]]] = []
        no_ack = self.config.no_ack
        for subject, reply, hdr, payload in batch:
            if (hdr and any(h in hdr for h in _STATEFUL)) or self._stateful_always:
                await self.drain()
            result = self._accept(subject, hdr, payload)
            if reply and not no_ack:
                answers.append((reply, result))
        acks: list[tuple[bytes, bytes]] = []
        for reply, result in answers:
            ack = result if result is None or isinstance(result, bytes) else await result
            if ack is not None:
                acks.append((reply, ack))
        await self.drain()
        return acks

    def _accept(
        self, subject_b: bytes, hdr: bytes | None, payload: bytes
    ) -> bytes | Awaitable[bytes | None]:
        """Check one message (in nats-server's order) and hand it to the store."""
        cfg = self.config
        if self._itr is not None:
            mapped = self._itr.apply(subject_b)
            if mapped:
                subject_b = mapped
        subject = subject_b.decode()
        if cfg.sealed:
            return self._error_ack(E.STREAM_SEALED())
        # nats-server 2.15.1 checks the sizes before any header (traced).
        size = len(payload) + (len(hdr) if hdr else 0)
        if cfg.max_msg_size >= 0 and size > cfg.max_msg_size:
            return self._error_ack(E.STREAM_MESSAGE_EXCEEDS_MAXIMUM())
        if hdr and len(hdr) > _MAX_HEADER:
            return self._error_ack(E.STREAM_HEADER_EXCEEDS_MAXIMUM())
        msg_id = ""
        ttl = 0
        rollup = b""
        if hdr:
            expected = header_value(hdr, EXPECTED_STREAM)
            if expected and expected.decode() != cfg.name:
                return self._error_ack(E.STREAM_NOT_MATCH())
            raw_ttl = header_value(hdr, TTL)
            if raw_ttl and not cfg.allow_msg_ttl:
                try:
                    if parse_ttl(raw_ttl) != 0:
                        return self._error_ack(E.MESSAGE_TTL_DISABLED())
                except ValueError:
                    pass
            want = header_value(hdr, EXPECTED_LAST_SUBJ_SEQ)
            for_subject = header_value(hdr, EXPECTED_LAST_SUBJ_SEQ_SUBJ)
            if want:
                target = for_subject.decode() if for_subject else subject
                last = self.store.filtered_state(target).last
                if last != _parse_int(want):
                    return self._error_ack(E.STREAM_WRONG_LAST_SEQUENCE(seq=last))
            elif for_subject:
                return self._error_ack(E.STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID())
            want = header_value(hdr, EXPECTED_LAST_SEQ)
            if want:
                last = self.store.state().last_seq
                if _parse_int(want) != last:
                    return self._error_ack(E.STREAM_WRONG_LAST_SEQUENCE(seq=last))
            raw_id = header_value(hdr, MSG_ID)
            if raw_id:
                msg_id = raw_id.decode(errors="surrogateescape")
                dup = self._duplicate(msg_id)
                if dup is not None:
                    return dup
            want = header_value(hdr, EXPECTED_LAST_MSG_ID)
            if want and want.decode(errors="surrogateescape") != self._last_msg_id:
                return self._error_ack(E.STREAM_WRONG_LAST_MSG_ID(id=self._last_msg_id))
            rollup = (header_value(hdr, ROLLUP) or b"").lower()
            if rollup:
                if not cfg.allow_rollup_hdrs or cfg.deny_purge:
                    return self._error_ack(E.STREAM_ROLLUP_FAILED(err="rollup not permitted"))
                if rollup not in (b"sub", b"all"):
                    text = rollup.decode(errors="replace")
                    return self._error_ack(
                        E.STREAM_ROLLUP_FAILED(err=f'rollup value invalid: "{text}"')
                    )
        if cfg.retention == "interest" and not any(
            c.matches(subject) for c in self.consumers.values()
        ):
            return self._spawn(self._skip(msg_id))
        if self.usage_check is not None:
            refused = self.usage_check(cfg.storage, subject, hdr, payload)
            if refused is not None:
                return self._error_ack(refused)
        if hdr:
            raw_ttl = header_value(hdr, TTL)
            if raw_ttl:
                try:
                    ttl = parse_ttl(raw_ttl)
                except ValueError:
                    return self._error_ack(E.MESSAGE_TTL_INVALID())
                marker = cfg.subject_delete_marker_ttl // _SECOND
                if ttl > 0 and marker and cfg.max_msgs_per_subject != 1 and ttl < marker:
                    ttl = marker
                    hdr = _set_header(hdr, TTL, b"%d" % ttl)
        result = self._spawn(self._store(subject, hdr, payload, ttl, msg_id, rollup))
        if msg_id and isinstance(result, asyncio.Task):
            self._pending_ids[msg_id] = result
        return result

    def _duplicate(self, msg_id: str) -> Any:
        pending = self._pending_ids.get(msg_id)
        if pending is not None:
            return self._spawn(self._after(pending, msg_id))
        self._expire_ids(_now())
        seen = self._dedupe.get(msg_id)
        if seen is None:
            return None
        return self._ack_prefix + b'%d,"duplicate": true}' % seen[0]

    async def _after(self, first: asyncio.Task[bytes | None], msg_id: str) -> bytes | None:
        """The answer to a duplicate of a message still being written."""
        await asyncio.gather(first, return_exceptions=True)
        seen = self._dedupe.get(msg_id)
        if seen is not None:
            return self._ack_prefix + b'%d,"duplicate": true}' % seen[0]
        return await first

    def _spawn(self, coro: Coroutine[Any, Any, bytes | None]) -> Any:
        """Run ``coro`` now; a task carries on only if it has to wait (a durable commit).

        The answer itself when the write completed at once (a memory or lazy store): no
        task, no loop round trip per message.
        """
        try:
            yielded = coro.send(None)
        except StopIteration as done:
            return done.value
        if getattr(yielded, "_asyncio_future_blocking", None) is not None:
            # Taken as a task takes it, so that other writers may await the same future.
            yielded._asyncio_future_blocking = False
        task: asyncio.Task[bytes | None] = asyncio.ensure_future(_drive(coro, yielded))
        self._writes.append(task)
        return task

    async def _skip(self, msg_id: str) -> bytes | None:
        """Interest retention and nobody interested: the sequence is used, nothing stored."""
        await self.store.skip_msgs(0, 1)
        seq = self.store.state().last_seq
        self._last_msg_id = msg_id
        if msg_id:
            self.remember_msg_id(msg_id, seq, _now())
        return self._ack(seq)

    async def _store(
        self, subject: str, hdr: bytes | None, payload: bytes, ttl: int, msg_id: str, rollup: bytes
    ) -> bytes | None:
        cfg = self.config
        last_on_subject = self.store.filtered_state(subject).last if self._rtr else 0
        try:
            seq, ts = await self.store.store_msg(
                subject, hdr, payload, ttl=-1 if ttl < 0 else ttl * _SECOND
            )
        except StoreError as err:
            return self._error_ack(E.STREAM_STORE_FAILED(err=err.description))
        finally:
            if msg_id:
                self._pending_ids.pop(msg_id, None)
        self._last_msg_id = msg_id
        if msg_id:
            self.remember_msg_id(msg_id, seq, ts)
        if cfg.subject_delete_marker_ttl > 0:
            self._expiring[seq] = (ts, ttl, bool(hdr) and MARKER_REASON in hdr)  # type: ignore[operator]
        for consumer in self.consumers.values():
            consumer.on_stored(seq, subject)
        if rollup and cfg.allow_rollup_hdrs and not cfg.deny_purge:
            if rollup == b"sub":
                await self.store.purge(subject, keep=1)
            else:
                await self.store.purge(keep=1)
        if self._rtr is not None and self.publisher is not None:
            self._republish(subject, hdr, payload, seq, ts, last_on_subject)
        return self._ack(seq)

    def _republish(
        self, subject: str, hdr: bytes | None, payload: bytes, seq: int, ts: int, last: int
    ) -> None:
        assert self._rtr is not None and self.publisher is not None
        target = self._rtr.apply(subject.encode())
        if not target or not is_valid_literal_subject(target):
            return
        rp = self.config.republish
        headers_only = rp is not None and rp.headers_only
        extra = (
            f"Nats-Stream: {self.config.name}\r\nNats-Subject: {subject}\r\n"
            f"Nats-Sequence: {seq}\r\nNats-Time-Stamp: {format_time(ts)}\r\n"
            f"Nats-Last-Sequence: {last}\r\n"
        ).encode()
        if headers_only:
            extra += b"Nats-Msg-Size: %d\r\n" % len(payload)
        block = (hdr[: len(hdr) - 2] if hdr else b"NATS/1.0\r\n") + extra + b"\r\n"
        self.publisher(target, block, b"" if headers_only else payload)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], yielded: Any) -> Generator[Any, Any, Any]:
    """Carry on driving a coroutine that was started by hand and suspended on ``yielded``.

    The future yielded by hand was unmarked at once (``_asyncio_future_blocking``, as a
    task does when it takes one) so that other writers can await it too; it is marked
    again here, as ``Future.__await__`` marks it, just before the task takes it.
    """
    while True:
        if getattr(yielded, "_asyncio_future_blocking", None) is not None:
            yielded._asyncio_future_blocking = True
        try:
            sent = yield yielded
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as done:
                return done.value


async def _drive(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    return await _resume(coro, yielded)
