"""A stream: its configuration, its store and the publish path (nats-server's ``stream.go``).

:meth:`Stream.submit` takes a batch of messages published on the stream's subjects (what
the stream's internal subscriber queued: ``(subject, reply, headers, payload)``) and
answers each with its acknowledgement (:meth:`Stream.ingest` returns them instead);
:meth:`Stream.submit_now` is its form for a batch that needs no wait, called on the
publisher's read path while the stream is idle.  Each message goes through nats-server's
checks in its order (:mod:`~natskern.kernel.jetstream.stream_accept`).

Writes overlap: a message whose checks need no state is staged in the store at once and
the next message is checked while the store's group commit covers both, and a batch is
staged while the commit of the one before runs (so one fsync covers what arrived during
the previous one).  The writes waiting for a commit are answered in order by the answer
queue (:mod:`~natskern.kernel.jetstream.stream_answers`), run from the commits' done
callbacks, not by a task each.  A message whose checks read the stream's state (an
``Nats-Expected-*`` header, a republish, interest retention) first waits for the writes
before it.  The store assigns sequences in call order, so acknowledgements keep the
publish order.

Beside it: :mod:`~natskern.kernel.jetstream.publish_run` (runs of plain publishes staged
with one store call), :mod:`~natskern.kernel.jetstream.stream_writes` (the records of
writes waiting on the store) and :mod:`~natskern.kernel.jetstream.stream_markers`
(``Nats-TTL`` and subject delete markers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Final

from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.errors import ApiError
from natskern.kernel.jetstream.publish_run import StagedRun
from natskern.kernel.jetstream.stream_accept import MSG_ID, STATEFUL, AcceptMixin
from natskern.kernel.jetstream.stream_answers import Answer, AnswerMany, AnswerQueue
from natskern.kernel.jetstream.stream_markers import MARKER_REASON, MarkerMixin, parse_ttl
from natskern.kernel.jetstream.stream_writes import _Dup, _settled, _Staged, _Write
from natskern.kernel.jetstream.streamconfig import StreamConfig
from natskern.kernel.jetstream.streamlock import StreamLock
from natskern.kernel.jetstream.transforms import compile_transform
from natskern.kernel.jetstream.wire import dumps, format_time
from natskern.kernel.store.api import StoreConfig, StoreError, StreamStore
from natskern.kernel.subjects.tokens import is_valid_literal_subject
from natskern.kernel.subjects.transform import MappingFunction

__all__ = ["MSG_ID", "Stream", "parse_ttl", "store_config"]

_SECOND: Final = 1_000_000_000
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


class Stream(AcceptMixin, MarkerMixin, AnswerQueue):
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
        self.lock = StreamLock()
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
        if self.consumers:  # (a KV bucket's store removes a revision per put)
            for consumer in list(self.consumers.values()):
                consumer.on_removed(seq, subject)
        if self._expiring:
            if seq:
                self._maybe_marker(seq, subject)
            else:  # (a purge reports no sequences: keep what the store still holds)
                self._forget_purged()

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

    def _plain_runs(self) -> bool:
        """Whether plain publishes (no headers) may gather into runs staged with one call."""
        return (
            self._stage_batch is not None
            and not self._stateful_always
            and self.usage_check is None
            and getattr(self.store, "batchable", False)
        )

    def _all_plain(
        self, batch: Sequence[tuple[bytes, bytes, bytes | None, bytes]]
    ) -> tuple[list[tuple[str, None, bytes]], list[bytes]] | None:
        """A batch of messages without headers within ``max_msg_size`` as one run's items
        and replies (built in a few passes, not message by message), or None."""
        cfg = self.config
        limit = cfg.max_msg_size if cfg.max_msg_size >= 0 else 1 << 62
        staged = [(s.decode(), h, p) for s, _, h, p in batch]
        if any([h is not None or len(p) > limit for _, h, p in staged]):
            return None
        replies = [b""] * len(batch) if cfg.no_ack else [m[1] for m in batch]
        return staged, replies  # type: ignore[return-value]

    def submit_now(
        self,
        batch: Sequence[tuple[bytes, bytes, bytes | None, bytes]],
        answer: Answer,
        many: AnswerMany | None = None,
    ) -> bool:
        """:meth:`submit` without waiting, when nothing in ``batch`` needs to; else False.

        That is when the store stages without I/O and has room, no message has headers
        and the stream checks nothing stateful (no transform, republish, interest
        retention or seal): each message is then staged at once, and its answer follows
        its commit as with :meth:`submit`.  The engine calls this from the delivery of
        the messages when the stream is idle (its ingest queue empty, :attr:`lock` free),
        which saves the ingest task's turn.
        """
        if (
            self._stage_msg is None
            or self._stateful_always
            or self._itr is not None
            or self.store.backlogged  # type: ignore[attr-defined]
        ):
            return False
        if self._plain_runs():
            run = self._all_plain(batch)
            if run is not None:
                self._stage_items(run[0], run[1], answer, many)
                return True
        if any([m[2] is not None for m in batch]):
            return False
        no_ack = self.config.no_ack
        for subject, reply, _, payload in batch:
            self._accepted(self._accept(subject, None, payload), reply, no_ack, answer, many)
        return True

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
        cfg = self.config
        plain = self._plain_runs()
        limit = cfg.max_msg_size if cfg.max_msg_size >= 0 else 1 << 62
        itr = self._itr
        items: list[tuple[str, None, bytes]] = []
        replies: list[bytes] = []
        if plain and itr is None:
            run = self._all_plain(batch)
            if run is not None:
                await self._stage_run(run[0], run[1], answer, many)
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
            if (hdr and any(h in hdr for h in STATEFUL)) or self._stateful_always:
                await self.drain()
            if self._stage_msg is not None and self.store.backlogged:  # type: ignore[attr-defined]
                await self.store.room()  # type: ignore[attr-defined]
            result = self._accept(subject, hdr, payload)
            if type(result) is _Write and not result.staged:  # type: ignore[union-attr]
                await self._advance(result)  # type: ignore[arg-type]
            self._accepted(result, reply, no_ack, answer, many)
        if items:
            await self._stage_run(items, replies, answer, many)

    def _accepted(
        self, result: Any, reply: bytes, no_ack: bool, answer: Answer, many: AnswerMany | None
    ) -> None:
        """Answer what :meth:`_accept` made of a message now, or queue it behind the others."""
        kind = type(result)
        if no_ack:
            reply = b""
        queue = self._answers
        if queue or kind is _Staged or kind is _Write or kind is _Dup:
            if reply or kind is not _Dup:
                queue.append((answer, many, reply, result))
                self._kick()
        elif reply and result is not None:
            answer(reply, result)

    async def _stage_run(
        self,
        items: list[tuple[str, None, bytes]],
        replies: list[bytes],
        answer: Answer,
        many: AnswerMany | None,
    ) -> None:
        """Stage a run of plain publishes once the store has room (see :meth:`_stage_items`)."""
        if self.store.backlogged:  # type: ignore[attr-defined]
            await self.store.room()  # type: ignore[attr-defined]
        self._stage_items(items, replies, answer, many)

    def _stage_items(
        self,
        items: list[tuple[str, None, bytes]],
        replies: list[bytes],
        answer: Answer,
        many: AnswerMany | None,
    ) -> None:
        """Stage a run of plain publishes with one ``stage_batch`` (see :mod:`.publish_run`)."""
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

    def _spawn(self, coro: Coroutine[Any, Any, bytes | None]) -> bytes | _Write | None:
        """Run ``coro`` now: its answer, or a :class:`_Write` when it has to wait.

        A memory or lazy store completes at once: no task, no loop round trip per
        message.  A durable one has staged the message and waits for its commit;
        every write of the batch then waits for the same commit, and
        :meth:`_finish` drives them (the answer queue's turn) once it is done.
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
