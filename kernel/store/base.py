"""``LogStore``: the whole :class:`StreamStore` over a backend's :class:`RecordLog`.

Sequences, timestamps, limits and discard rules, TTLs and ``max_age`` expiry,
the per-subject indexes (:mod:`.index`), group commit (:mod:`.commit`), the
index checkpoint and consumer state (:mod:`.consumer`) live here once; a backend
writes only the log.  See ``docs/storage.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from natskern.kernel.store.api import (
    DISCARD_NEW,
    ConsumerStore,
    CorruptRecordError,
    RemovalCallback,
    SimpleState,
    StoreClosedError,
    StoreConfig,
    StoredMsg,
    StoreError,
    StoreIOError,
    StreamState,
    StreamStoreFactory,
)
from natskern.kernel.store.commit import GroupCommitter
from natskern.kernel.store.consumer import CONSUMER_PREFIX, LogConsumerStore
from natskern.kernel.store.expiry import Expiry
from natskern.kernel.store.index import MsgIndex
from natskern.kernel.store.limits import Limits
from natskern.kernel.store.log import RecordLog, RecordLogFactory
from natskern.kernel.store.opening import SEQ_META, Opening
from natskern.kernel.store.removals import Removals
from natskern.kernel.store.staging import FEW, Staging

__all__ = [
    "FEW",
    "HEADERS_OVERHEAD",
    "MEMORY_OVERHEAD",
    "RECORD_OVERHEAD",
    "LogStore",
    "record_size",
    "record_size_raw",
]

logger = logging.getLogger("natskern.store")

#: Per-record overhead counted in ``bytes``: nats-server's file store counts its 22-byte
#: record header (length, sequence, timestamp, subject length) and 8-byte hash.
RECORD_OVERHEAD = 30
#: Extra overhead of a record with headers (nats-server's 4-byte headers length).
HEADERS_OVERHEAD = 4
#: Per-message overhead of nats-server's memory store (``memStoreMsgSize``: subject +
#: headers + payload + 16, headers or not); a memory log declares
#: ``record_overhead = (MEMORY_OVERHEAD, MEMORY_OVERHEAD)``.
MEMORY_OVERHEAD = 16
#: Default bound of staged-but-uncommitted bytes before writers wait.
MAX_STAGED = 64 << 20
_time_ns = time.time_ns


def record_size_raw(slen: int, hlen: int, plen: int) -> int:
    """:func:`record_size` from the lengths (``hlen`` <= 0: no headers), for backends.

    nats-server's ``fileStoreMsgSizeRaw``: ``22 + slen + plen + 8``, plus ``4 + hlen``
    when the message has headers.
    """
    if hlen > 0:
        return RECORD_OVERHEAD + HEADERS_OVERHEAD + slen + hlen + plen
    return RECORD_OVERHEAD + slen + plen


def record_size(subject: str, headers: bytes | None, payload: bytes) -> int:
    """The stored size a stream's ``bytes`` counts for one message.

    nats-server's file-store formula (``fileStoreMsgSize``): ``22 + len(subject) +
    len(payload) + 8`` (record header and hash), plus ``4 + len(headers)`` for a
    message with headers (subject as UTF-8 bytes).  Every backend reports this,
    whatever its real on-disk overhead.
    """
    n = len(subject) if subject.isascii() else len(subject.encode())
    if headers:
        return RECORD_OVERHEAD + HEADERS_OVERHEAD + n + len(headers) + len(payload)
    return RECORD_OVERHEAD + n + len(payload)


def _limit(v: int) -> int:
    return v if v > 0 else 0


class LogStore(Staging, Opening, Expiry, Limits, Removals):
    """A :class:`~natskern.kernel.store.api.StreamStore` over a :class:`RecordLog`.

    Open one with :meth:`open`; a backend registers :meth:`factory` of its log
    factory.  Besides the protocol it offers :meth:`get_meta`/:meth:`put_meta`
    (the engine keeps the stream's config record under ``"config"``) and
    :attr:`config_record`.
    """

    def __init__(self, log: RecordLog, config: StoreConfig, *, sync: str | int = "always") -> None:
        self.config = config
        self._log = log
        #: What ``bytes`` counts per message besides its lengths, without and with headers:
        #: the log's optional ``record_overhead`` pair, else nats-server's file store's.
        overheads: tuple[int, int] = getattr(
            log, "record_overhead", (RECORD_OVERHEAD, RECORD_OVERHEAD + HEADERS_OVERHEAD)
        )
        self._overhead, self._hdr_overhead = overheads
        self._sync = sync
        self._idx = MsgIndex()
        self._hw = 0  # the highest sequence ever handed out
        self._last_seq = 0
        self._last_ts = 0
        self._ttl: dict[int, int] = {}
        self._never: set[int] = set()
        self._heap: list[tuple[int, int]] = []
        self._void: list[tuple[int, int]] = []
        self._cb: RemovalCallback | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0
        self._backoff_until = 0
        self._expiring: asyncio.Task[None] | None = None
        self._consumers: dict[str, LogConsumerStore] = {}
        self._consumer_names: set[str] = set()
        self._config_record: bytes | None = None
        lazy = None if sync == "always" else max(int(sync), 1_000_000) / 1e9
        max_staged = int(config.options.get("max_staged_bytes", MAX_STAGED))  # type: ignore[call-overload]
        self._commit = GroupCommitter(
            log,
            lazy_interval=lazy,
            max_staged=max_staged,
            on_success=self._committed,
            on_failure=self._rollback,
        )
        #: The log's optional batch append (``append_batch(first_seq, ts, items)``).
        self._append_batch: Callable[..., None] | None = getattr(log, "append_batch", None)
        #: The log's optional ``remove_many(seqs)``: single removals staged in one call.
        self._remove_many: Callable[[list[int]], None] | None = getattr(log, "remove_many", None)
        self._read_cached: Callable[[int], StoredMsg | None] | None = getattr(
            log, "read_cached", None
        )
        self._apply_config(config)

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, log: RecordLog, config: StoreConfig, *, sync: str | int = "always"
    ) -> LogStore:
        """Open ``log`` and build the store: checkpoint or scan, then the limits apply."""
        store = cls(log, config, sync=sync)
        await store._load()
        return store

    @classmethod
    def factory(cls, log_factory: RecordLogFactory) -> StreamStoreFactory:
        """A :class:`StreamStoreFactory` (what a backend registers) over ``log_factory``."""

        async def open_store(config: StoreConfig, directory: str, *, sync: str | int) -> LogStore:
            return await cls.open(log_factory(directory, sync=sync), config, sync=sync)

        return open_store

    # -- configuration ----------------------------------------------------------------------

    def _apply_config(self, config: StoreConfig) -> None:
        self.config = config
        self._max_msgs = _limit(config.max_msgs)
        self._max_bytes = _limit(config.max_bytes)
        self._max_per = _limit(config.max_msgs_per_subject)
        self._max_size = config.max_msg_size if config.max_msg_size > 0 else -1
        self._max_age = _limit(config.max_age)
        self._discard_new = config.discard == DISCARD_NEW
        self._limited = bool(self._max_msgs or self._max_bytes or self._max_per)
        self._checked = self._limited or self._max_size >= 0
        #: Only a per-subject limit, and no message can be refused (a KV bucket's history,
        #: discard new without ``discard_new_per_subject``): batches are staged columnar
        #: and the limit is taken once per batch (see :meth:`stage_batch`).
        self._per_only = bool(
            self._max_per
            and not self._max_msgs
            and not self._max_bytes
            and self._max_size < 0
            and not (self._discard_new and config.discard_new_per_subject)
        )
        #: Nothing to check or expire: store_msg takes its inline path.
        self._plain = not self._checked and not self._max_age

    async def update_config(self, config: StoreConfig) -> None:
        """Apply a new configuration: lowered limits remove the oldest messages at once."""
        self._open_check()
        self._apply_config(config)
        self._enforce_all()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._arm()
        await self._settle()

    def on_removal(self, callback: RemovalCallback | None) -> None:
        """Set the callback told (after the commit) about messages leaving the store."""
        self._cb = callback

    def msg_size(self, subject: str, headers: bytes | None, payload: bytes) -> int:
        """The size ``bytes`` and ``max_bytes`` count for one message in this store.

        :func:`record_size` (nats-server's file-store formula) unless the log declares
        another ``record_overhead`` (the memory backend: nats-server's memory store).
        """
        n = len(subject) if subject.isascii() else len(subject.encode())
        if headers:
            return self._hdr_overhead + len(headers) + n + len(payload)
        return self._overhead + n + len(payload)

    @property
    def config_record(self) -> bytes | None:
        """The stream's config record (``put_meta("config", ...)``), as of open or last put."""
        return self._config_record

    async def get_meta(self, key: str) -> bytes | None:
        """A committed metadata value of the log (``"config"`` is the stream's config record)."""
        self._open_check()
        return await self._log.get_meta(key)

    async def put_meta(self, key: str, value: bytes | None) -> None:
        """Store a metadata value (``index`` and ``seq`` are the store's own); durable on return."""
        self._open_check()
        if key in ("index", "seq"):
            raise ValueError(f"meta key {key!r} is reserved by the store")
        self._log.put_meta(key, value)
        if key == "config":
            self._config_record = value
        await self._commit.wait(self._commit.mark())

    # -- writes (the staging itself: :mod:`.staging`) ---------------------------------------

    async def skip_msgs(self, seq: int, count: int) -> None:
        """Consume ``count`` sequences from ``seq`` (which must be the next one, or 0)."""
        self._open_check()
        if seq and seq != self._hw + 1:
            raise StoreError(f"sequence mismatch: next is {self._hw + 1}, not {seq}")
        if count <= 0:
            return
        saved = (self._last_seq, self._last_ts)
        self._hw = self._last_seq = self._hw + count
        self._last_ts = max(_time_ns(), self._last_ts)
        if not self._idx.msgs and not self._commit.group.undo:
            self._idx.reset(self._hw + 1)
        self._save_seq()
        await self._settle_or_restore(saved)

    def _save_seq(self) -> None:
        self._log.put_meta("seq", SEQ_META.pack(self._last_seq, self._hw, self._last_ts))
        self._commit.mark()

    async def _settle(self) -> None:
        """Wait for the current group when writers await commits; else just let it run."""
        if self._commit.awaits and self._commit.group.dirty:
            await self._commit.wait(self._commit.group)

    # -- reads ------------------------------------------------------------------------------

    def has_msg(self, seq: int) -> bool:
        """Whether ``seq`` holds a message (no read: the index's answer)."""
        return self._idx.is_live(seq)

    async def load_msg(self, seq: int) -> StoredMsg | None:
        """The message at ``seq``, or None (never a corrupted one: it counts as gone)."""
        self._open_check()
        if not self._idx.is_live(seq):
            return None
        cached = self._read_cached  # (in memory or in the page cache: no thread hop)
        if cached is not None:
            msg = cached(seq)
            if msg is not None:
                return msg
        try:
            msg = await self._log.read(seq)
        except CorruptRecordError as exc:
            self._corrupt(seq, str(exc))
            return None
        except StoreError:
            raise
        except Exception as exc:  # an OSError from the medium reaches the engine as 10047
            raise StoreIOError(f"read of sequence {seq} failed: {exc}") from exc
        if msg is None and self._idx.is_live(seq):
            self._corrupt(seq, "record missing from the log")
        return msg

    def _corrupt(self, seq: int, detail: str) -> None:
        logger.error("stream %s: sequence %d is gone: %s", self.config.name, seq, detail)
        if self._idx.is_live(seq):
            self._drop(seq)

    async def load_next_msg(self, filter_subject: str, start_seq: int) -> StoredMsg | None:
        """The first message at or after ``start_seq`` matching the filter (wildcards ok)."""
        self._open_check()
        start = max(start_seq, 1)
        while True:
            seq = self._idx.next_seq(filter_subject, start)
            if not seq:
                return None
            msg = await self.load_msg(seq)
            if msg is not None:
                return msg
            start = seq + 1

    def peek_next_msg(self, filter_subject: str, start_seq: int) -> StoredMsg | bool | None:
        """:meth:`load_next_msg` when no I/O is needed; False when it is (then call that).

        None: no matching message at or after ``start_seq``.  A log without
        ``read_cached`` always answers False for a message.
        """
        if self._closed:
            raise StoreClosedError()
        return self._peek(self._idx.next_seq(filter_subject, start_seq if start_seq > 1 else 1))

    def peek_run(
        self, filter_subject: str, start_seq: int, limit: int, max_bytes: int = 0
    ) -> list[StoredMsg]:
        """The next messages matching the filter from ``start_seq`` that need no I/O.

        Up to ``limit`` of them, in sequence order, stopping before the first one the
        log does not hold at hand (``read_cached``): what :meth:`peek_next_msg` gives one
        call at a time, for a consumer that delivers a run (an empty list: call that).
        With ``max_bytes`` it also stops after the message that brings their headers and
        payloads to that many bytes (a flow-controlled consumer delivers no more: large
        messages read past it would be read again on the next run).
        """
        if self._closed:
            raise StoreClosedError()
        cached = self._read_cached
        out: list[StoredMsg] = []
        if cached is None or limit <= 0:
            return out
        idx = self._idx
        seq = start_seq if start_seq > 1 else 1
        room = max_bytes if max_bytes > 0 else 1 << 62
        if filter_subject in ("", ">"):  # the live column, walked here (next_seq's first case)
            live, base = idx.live, idx.base
            pos = seq - base if seq > base else 0
            while len(out) < limit:
                pos = live.find(b"\x01", pos)
                if pos < 0:
                    break
                msg = cached(base + pos)
                if msg is None:
                    break
                out.append(msg)
                pos += 1
                if max_bytes:
                    room -= len(msg.payload) + (len(msg.headers) if msg.headers else 0)
                    if room <= 0:
                        break
            return out
        nxt = idx.next_seq
        while len(out) < limit:
            seq = nxt(filter_subject, seq)
            if not seq:
                break
            msg = cached(seq)
            if msg is None:
                break
            out.append(msg)
            seq += 1
            if max_bytes:
                room -= len(msg.payload) + (len(msg.headers) if msg.headers else 0)
                if room <= 0:
                    break
        return out

    def _peek(self, seq: int) -> StoredMsg | bool | None:
        """Message ``seq`` (0: None) when the log holds it in memory, else False."""
        if not seq:
            return None
        cached = self._read_cached
        msg = cached(seq) if cached is not None else None
        return msg if msg is not None else False

    def peek_last_msg(self, filter_subject: str) -> StoredMsg | bool | None:
        """:meth:`load_last_msg` when no I/O is needed; False when it is (then call that)."""
        if self._closed:
            raise StoreClosedError()
        return self._peek(self._idx.last_seq_of(filter_subject))

    async def load_last_msg(self, filter_subject: str) -> StoredMsg | None:
        """The newest message matching ``filter_subject`` (wildcards allowed)."""
        self._open_check()
        while True:
            seq = self._idx.last_seq_of(filter_subject)
            if not seq:
                return None
            msg = await self.load_msg(seq)
            if msg is not None:
                return msg

    def state(self, *, deleted_details: bool = False) -> StreamState:
        """The stream's state (``deleted`` only with ``deleted_details``)."""
        idx = self._idx
        st = StreamState(last_seq=self._last_seq, last_ts=self._last_ts)
        st.messages, st.bytes = idx.msgs, idx.bytes
        if idx.msgs:
            st.first_seq = idx.first_seq()
            st.first_ts = idx.ts[st.first_seq - idx.base]
            st.num_deleted = self._last_seq - st.first_seq + 1 - idx.msgs
            st.num_subjects = idx.num_subjects()
        elif self._last_seq or self.config.first_seq:
            st.first_seq = self._last_seq + 1
        if deleted_details:
            st.deleted = idx.deleted(st.first_seq, self._last_seq) if idx.msgs else []
        st.consumer_count = len(self._consumer_names)
        return st

    def filtered_state(self, filter_subject: str, start_seq: int = 0) -> SimpleState:
        """Count and first/last sequence of matching messages at or after ``start_seq``."""
        return self._idx.filtered(filter_subject, start_seq)

    def subjects_state(self, filter_subject: str = ">") -> dict[str, SimpleState]:
        """Per-subject state of every stored subject matching the filter."""
        return self._idx.subjects_state(filter_subject)

    def num_pending(
        self, start_seq: int, filter_subject: str = "", *, last_per_subject: bool = False
    ) -> int:
        """Matching messages at or after ``start_seq`` (or matching subjects' last messages)."""
        return self._idx.num_pending(start_seq, filter_subject, last_per_subject)

    # -- consumers ---------------------------------------------------------------------------

    async def consumer_store(self, name: str) -> ConsumerStore:
        """Open (or create) consumer ``name``'s state store."""
        self._open_check()
        cs = self._consumers.get(name)
        if cs is None:
            aux = self._log.aux_log(CONSUMER_PREFIX + name)
            cs = await LogConsumerStore.open(self, name, aux)
            self._consumers[name] = cs
            self._consumer_names.add(name)
        return cs

    def consumer_names(self) -> list[str]:
        """Names of the consumers with stored state."""
        return sorted(self._consumer_names)

    def _consumer_gone(self, name: str, *, deleted: bool) -> None:
        self._consumers.pop(name, None)
        if deleted:
            self._consumer_names.discard(name)
            self._log.drop_aux(CONSUMER_PREFIX + name)

    # -- lifecycle ---------------------------------------------------------------------------

    def _open_check(self) -> None:
        if self._closed:
            raise StoreClosedError()

    async def flush(self) -> None:
        """Commit everything staged (lazy mode) and wait for it."""
        self._open_check()
        await self._commit.drain()

    async def close(self) -> None:
        """Commit, checkpoint the index and close the log; everything stays for the next open."""
        if self._closed:
            return
        self._closed = True  # no new writes from here on
        self._stop_timers()
        for cs in list(self._consumers.values()):
            await cs.close()
        try:
            await self._commit.drain()
        except StoreIOError:
            logger.exception("stream %s: last commit failed at close", self.config.name)
        self._log.put_meta("seq", SEQ_META.pack(self._last_seq, self._hw, self._last_ts))
        self._log.put_meta("index", self._checkpoint())
        await self._log.close()

    async def delete(self) -> None:
        """Remove the stream and its consumers' state from storage."""
        self._closed = True
        self._stop_timers()
        with contextlib.suppress(StoreIOError):
            await self._commit.drain()  # no commit may run while the log is destroyed
        self._consumers.clear()
        self._consumer_names.clear()
        await self._log.destroy()

    def _stop_timers(self) -> None:
        self._commit.cancel()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._expiring is not None and not self._expiring.done():
            self._expiring.cancel()
