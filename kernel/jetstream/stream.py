"""A stream: its configuration, its store and the publish path (nats-server's ``stream.go``).

:meth:`Stream.submit` takes a batch of messages published on the stream's subjects (what
the stream's internal subscriber queued: ``(subject, reply, headers, payload)``) and
answers each with its acknowledgement (:meth:`Stream.ingest` returns them instead).  Each
message goes through nats-server's checks in
its order (``processJetStreamMsg``, as nats-server 2.15.1 answers): sealed,
``max_msg_size``, header size, ``Nats-Expected-Stream``, TTL allowed,
``Nats-Expected-Last-Subject-Sequence`` (``-Subject``), ``Nats-Expected-Last-Sequence``,
``Nats-Msg-Id`` dedupe, ``Nats-Expected-Last-Msg-Id``, ``Nats-Rollup``, interest
retention without consumers, the account's usage limits, ``Nats-TTL``, then the store.

Writes overlap: a message whose checks need no state is staged in the store at once and
the next message is checked while the store's group commit covers both, and a batch is
staged while the commit of the one before runs (so one fsync covers what arrived during
the previous one).  The writes waiting for a commit are finished in order by one task
per stream (:meth:`Stream._answer`), not a task each.  A message whose checks read the
stream's state (an ``Nats-Expected-*`` header, a republish, interest retention) first
waits for the writes before it.  The store assigns sequences in call order, so
acknowledgements keep the publish order.

Beside it: :mod:`~natskern.kernel.jetstream.publish_run` (runs of plain publishes staged
with one store call), :mod:`~natskern.kernel.jetstream.stream_writes` (the records of
writes waiting on the store) and :mod:`~natskern.kernel.jetstream.stream_markers`
(``Nats-TTL`` and subject delete markers).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.publish_run import StagedRun
from natskern.kernel.jetstream.stream_answers import Answer, AnswerMany, AnswerQueue
from natskern.kernel.jetstream.stream_markers import MARKER_REASON, TTL, MarkerMixin, parse_ttl
from natskern.kernel.jetstream.stream_writes import _Dup, _settled, _Staged, _Write
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.jetstream.transforms import compile_transform
from natskern.kernel.jetstream.wire import dumps, format_time
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
_STATEFUL: Final = (EXPECTED_LAST_SEQ, EXPECTED_LAST_SUBJ_SEQ, EXPECTED_LAST_MSG_ID)
_MAX_HEADER: Final = 65535
_SECOND: Final = 1_000_000_000
_DIGITS: Final = re.compile(rb"[0-9]+")
_now = time.time_ns

log = logging.getLogger("natskern.jetstream")

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


def _set_header(hdr: bytes, name: bytes, value: bytes) -> bytes:
    """``hdr`` without ``name`` lines and with ``name: value`` appended."""
    lines = [
        line for line in hdr[: len(hdr) - 2].split(b"\r\n") if not line.startswith(name + b":")
    ]
    lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Stream(MarkerMixin, AnswerQueue):
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
        #: The store's synchronous staging (``LogStore.stage_msg``), when it has one: the
        #: publish path then stages without a coroutine per message.
        self._stage_msg: Callable[..., tuple[int, int, asyncio.Future[None] | None]] | None = (
            getattr(store, "stage_msg", None)
        )
        #: Its batch form (``LogStore.stage_batch``): runs of plain publishes in one call.
        self._stage_batch: Callable[..., tuple[int, int, asyncio.Future[None] | None]] | None = (
            getattr(store, "stage_batch", None) if self._stage_msg is not None else None
        )
        #: Messages of a stream with ``subject_delete_marker_ttl``: seq -> (ts, TTL s, marker).
        self._expiring: dict[int, tuple[int, int, bool]] = {}
        self._markers: set[asyncio.Task[None]] = set()
        self._dedupe: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._pending_ids: dict[str, _Write | _Staged] = {}
        self._last_msg_id = ""
        self._init_answers()
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
        #: ``_ack_form % seq``: the acknowledgement of ``seq``.
        self._ack_form = self._ack_prefix.replace(b"%", b"%%") + b"%d}"
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

    # -- acks ------------------------------------------------------------------------------

    def _ack(self, seq: int) -> bytes:
        return self._ack_form % seq

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

    async def ingest(
        self, batch: Sequence[tuple[bytes, bytes, bytes | None, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """Store a batch of published messages; return ``(reply, ack)`` for each to answer."""
        acks: list[tuple[bytes, bytes]] = []
        await self.submit(batch, lambda reply, ack: acks.append((reply, ack)))
        await self.drain()
        return acks

    async def submit(
        self,
        batch: Sequence[tuple[bytes, bytes, bytes | None, bytes]],
        answer: Answer,
        many: AnswerMany | None = None,
    ) -> None:
        """Check and stage a batch of published messages; ``answer(reply, ack)`` each.

        Returns once every message is staged (its sequence taken), not once it is
        durable: the acknowledgements follow, in publish order, as the commits that
        cover them complete, while the caller submits the next batch (which joins the
        next commit).  ``many(replies, acks)``, when given, sends the acknowledgements
        that are ready together in one call instead.  The caller holds :attr:`lock`.
        """
        no_ack = self.config.no_ack
        queue = self._answers
        cfg = self.config
        # Plain publishes (no headers) gather into runs staged with one store call.
        plain = (
            self._stage_batch is not None
            and not self._stateful_always
            and self.usage_check is None
            and getattr(self.store, "batchable", False)
        )
        limit = cfg.max_msg_size if cfg.max_msg_size >= 0 else 1 << 62
        itr = self._itr
        items: list[tuple[str, None, bytes]] = []
        replies: list[bytes] = []
        if plain and itr is None:
            # The common batch, all of it plain: built in a few passes, not message by message.
            staged = [(s.decode(), h, p) for s, _, h, p in batch]
            if not any([h is not None or len(p) > limit for _, h, p in staged]):
                replies = [b""] * len(batch) if no_ack else [m[1] for m in batch]
                await self._stage_run(staged, replies, answer, many)  # type: ignore[arg-type]
                return
        for subject, reply, hdr, payload in batch:
            if plain and hdr is None and len(payload) <= limit:
                if itr is not None:
                    subject = itr.apply(subject) or subject
                items.append((subject.decode(), None, payload))
                replies.append(b"" if no_ack else reply)
                continue
            if items:
                await self._stage_run(items, replies, answer, many)
                items, replies = [], []
            if (hdr and any(h in hdr for h in _STATEFUL)) or self._stateful_always:
                await self.drain()
            if self._stage_msg is not None and self.store.backlogged:  # type: ignore[attr-defined]
                await self.store.room()  # type: ignore[attr-defined]
            result = self._accept(subject, hdr, payload)
            kind = type(result)
            if kind is _Write and not result.staged:  # type: ignore[union-attr]
                await self._advance(result)  # type: ignore[arg-type]
            if no_ack:
                reply = b""
            if queue or kind is _Staged or kind is _Write or kind is _Dup:
                if reply or kind is not _Dup:
                    queue.append((answer, many, reply, result))
                    self._kick()
            elif reply and result is not None:
                answer(reply, result)  # type: ignore[arg-type]
        if items:
            await self._stage_run(items, replies, answer, many)

    async def _stage_run(
        self,
        items: list[tuple[str, None, bytes]],
        replies: list[bytes],
        answer: Answer,
        many: AnswerMany | None,
    ) -> None:
        """Stage a run of plain publishes with one ``stage_batch`` (see :mod:`.publish_run`)."""
        if self.store.backlogged:  # type: ignore[attr-defined]
            await self.store.room()  # type: ignore[attr-defined]
        assert self._stage_batch is not None
        try:
            first, ts, commit = self._stage_batch(items)
        except StoreError as err:
            value = self._error_ack(E.STREAM_STORE_FAILED(err=err.description))
            for reply in replies:
                self._answer_later(answer, many, reply, value)
            return
        run = StagedRun(commit, first, ts, items, replies)
        if commit is None and not self._answers:
            acks_for, acks = self._run_acks(run)
            try:
                if many is not None:
                    many(acks_for, acks)
                else:
                    for reply, ack in zip(acks_for, acks, strict=True):
                        if reply:
                            answer(reply, ack)
            except Exception:
                log.exception("JetStream: answering publishes on %r failed", self.config.name)
        else:
            self._answer_later(answer, many, b"", run)

    def _run_acks(self, run: StagedRun) -> tuple[list[bytes], list[bytes]]:
        """A committed run's replies and acks (stored, or all failed with the commit's error).

        The messages are recorded as stored first (what :meth:`_stored` does per message,
        for messages without headers or id, inline).
        """
        err = run.commit.exception() if run.commit is not None else None
        replies = run.replies
        if err is not None:
            text = err.description if isinstance(err, StoreError) else str(err)
            return replies, [self._error_ack(E.STREAM_STORE_FAILED(err=text))] * len(replies)
        first, ts = run.first, run.ts
        self._last_msg_id = ""
        end = first + len(replies)
        if self.config.subject_delete_marker_ttl > 0:
            expiring = self._expiring
            for seq in range(first, end):
                expiring[seq] = (ts, 0, False)
        for consumer in list(self.consumers.values()):
            on_stored = consumer.on_stored
            seq = first
            for subject, _, _ in run.items:
                on_stored(seq, subject)
                seq += 1
        return replies, list(map(self._ack_form.__mod__, range(first, end)))

    def _accept(
        self, subject_b: bytes, hdr: bytes | None, payload: bytes
    ) -> bytes | _Write | _Dup | None:
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
        stage = self._stage_msg
        if stage is not None and not rollup and self._rtr is None:
            try:
                seq, ts, commit = stage(subject, hdr, payload, ttl=-1 if ttl < 0 else ttl * _SECOND)
            except StoreError as err:
                return self._error_ack(E.STREAM_STORE_FAILED(err=err.description))
            if commit is None:
                self._stored(subject, hdr, ttl, msg_id, seq, ts)
                return self._ack(seq)
            result: Any = _Staged(commit, subject, hdr, ttl, msg_id, seq, ts)
        else:
            result = self._spawn(self._store(subject, hdr, payload, ttl, msg_id, rollup))
        if msg_id and type(result) in (_Write, _Staged):
            self._pending_ids[msg_id] = result
        return result

    def _duplicate(self, msg_id: str) -> bytes | _Dup | None:
        pending = self._pending_ids.get(msg_id)
        if pending is not None:
            return _Dup(pending, msg_id)
        self._expire_ids(_now())
        seen = self._dedupe.get(msg_id)
        if seen is None:
            return None
        return self._ack_prefix + b'%d,"duplicate": true}' % seen[0]

    def _dup_answer(self, dup: _Dup) -> bytes | None:
        """The answer to a duplicate of a message that was still being written."""
        seen = self._dedupe.get(dup.msg_id)
        if seen is not None:
            return self._ack_prefix + b'%d,"duplicate": true}' % seen[0]
        return dup.first.value  # the first failed: the duplicate gets its answer

    def _spawn(self, coro: Coroutine[Any, Any, bytes | None]) -> bytes | _Write | None:
        """Run ``coro`` now: its answer, or a :class:`_Write` when it has to wait.

        A memory or lazy store completes at once: no task, no loop round trip per
        message.  A durable one has staged the message and waits for its commit;
        every write of the batch then waits for the same commit, and
        :meth:`_answer` finishes them in order once it is done.
        """
        try:
            awaited = coro.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        return _Write(coro, awaited)

    async def _advance(self, write: _Write) -> None:
        """Drive a write held back before staging (back-pressure) until it is staged."""
        await self._drive(write, until_staged=True)

    async def _finish(self, write: _Write) -> bytes | None:
        """Drive a staged write to its end: the commit, then what follows it."""
        await self._drive(write, until_staged=False)
        return write.value

    async def _drive(self, write: _Write, *, until_staged: bool) -> None:
        """Resume ``write``'s coroutine each time what it awaits is done (a failure ends it)."""
        coro = write.coro
        try:
            while not (write.staged if until_staged else write.done):
                await _settled(write.awaited)
                try:
                    write.set_awaited(coro.send(None))
                except StopIteration as done:
                    write.finished(done.value)
        except asyncio.CancelledError:
            coro.close()
            raise
        except Exception:
            log.exception("JetStream: a write to %r failed", self.config.name)
            write.finished(None)

    async def _skip(self, msg_id: str) -> bytes | None:
        """Interest retention and nobody interested: the sequence is used, nothing stored."""
        seq = self.store.state().last_seq + 1
        await self.store.skip_msgs(seq, 1)
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
        self._stored(subject, hdr, ttl, msg_id, seq, ts)
        if rollup and cfg.allow_rollup_hdrs and not cfg.deny_purge:
            # Up to this message: later ones may be staged already (they stay).
            await self.store.purge(subject if rollup == b"sub" else "", seq=seq)
        if self._rtr is not None and self.publisher is not None:
            self._republish(subject, hdr, payload, seq, ts, last_on_subject)
        return self._ack(seq)

    def _stored(
        self, subject: str, hdr: bytes | None, ttl: int, msg_id: str, seq: int, ts: int
    ) -> None:
        """What follows a message's commit: dedupe window, markers, consumers."""
        self._last_msg_id = msg_id
        if msg_id:
            self.remember_msg_id(msg_id, seq, ts)
        if self.config.subject_delete_marker_ttl > 0:
            self._expiring[seq] = (ts, ttl, bool(hdr) and MARKER_REASON in hdr)  # type: ignore[operator]
        for consumer in self.consumers.values():
            consumer.on_stored(seq, subject)

    def _committed(self, write: _Staged) -> bytes:
        """The answer to a staged write whose commit is done (stored, or failed)."""
        if write.msg_id:
            self._pending_ids.pop(write.msg_id, None)
        err = write.commit.exception()
        if err is None:
            self._stored(write.subject, write.hdr, write.ttl, write.msg_id, write.seq, write.ts)
            value = self._ack(write.seq)
        else:
            text = err.description if isinstance(err, StoreError) else str(err)
            value = self._error_ack(E.STREAM_STORE_FAILED(err=text))
        write.value = value
        write.done = True
        return value

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
