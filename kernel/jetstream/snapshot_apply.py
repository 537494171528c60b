"""Rebuild a stream from a checked snapshot archive (the second half of a restore).

:func:`restore_archive` first reads the whole archive and checks it
(:func:`~natskern.kernel.jetstream.snapshot_format.read_archive`: framing, checksums,
order, counts) without creating anything, so a corrupt archive leaves no trace.  Then
it creates the stream through the engine's ordinary create path, writes the messages
into its store with their own sequences and timestamps (the leading gap, interior
gaps and trailing deletes come back as deleted sequences), and gives each consumer
its config and state before reopening the consumers as after a restart.  A failure
while writing removes the half-made stream again.

Timestamps: the store protocol assigns a message's time itself.  For the stores built
on :class:`~natskern.kernel.store.base.LogStore` (memory, file, RocksDB) the write of
each message reads the store clock once, synchronously, and :func:`_stage_at` pins that
clock to the archived time for exactly that call; another store gets the restore time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from natskern.kernel.jetstream import consumers as _consumers
from natskern.kernel.jetstream import errors as E
from natskern.kernel.jetstream.snapshot_format import (
    ArchiveError,
    ConsumerEntry,
    SnapshotMeta,
    read_archive,
)
from natskern.kernel.jetstream.stream_markers import TTL, parse_ttl
from natskern.kernel.jetstream.streamrequest import check_create_sources, subjects_overlap
from natskern.kernel.jetstream.wire import dumps
from natskern.kernel.protocol.headers import header_value
from natskern.kernel.store import base as _base
from natskern.kernel.store import staging as _staging
from natskern.kernel.store.api import (
    ConsumerState,
    PendingAck,
    StoredMsg,
    StoreError,
    StreamStore,
)

if TYPE_CHECKING:  # pragma: no cover
    from natskern.kernel.jetstream.engine import AccountJetStream
    from natskern.kernel.jetstream.stream import Stream
    from natskern.kernel.jetstream.streamconfig import StreamConfig

__all__ = ["check_archive", "consumer_state", "restore_archive"]

_SECOND = 1_000_000_000
#: Staged bytes after which the restore waits for the store's commit.
_SETTLE_BYTES = 4 * 1024 * 1024
#: The subject of the placeholder that carries trailing deletes' last time.
_PLACEHOLDER = "_natskern.restore"


def check_archive(path: str) -> tuple[SnapshotMeta, list[ConsumerEntry], int]:
    """Read the whole archive once: its meta, its consumers and its message count."""
    meta: SnapshotMeta | None = None
    entries: list[ConsumerEntry] = []
    count = 0
    for kind, item in read_archive(path):
        if kind == "meta":
            meta = item
        elif kind == "consumer":
            entries.append(item)
        elif kind == "end":
            count = item
    assert meta is not None  # read_archive refuses an archive without it
    return meta, entries, count


def consumer_state(doc: dict[str, Any]) -> ConsumerState:
    """A consumer's archived state as the store's :class:`ConsumerState`."""
    try:
        delivered, floor = doc.get("delivered", {}), doc.get("ack_floor", {})
        return ConsumerState(
            delivered_consumer_seq=int(delivered.get("consumer_seq", 0)),
            delivered_stream_seq=int(delivered.get("stream_seq", 0)),
            ack_floor_consumer_seq=int(floor.get("consumer_seq", 0)),
            ack_floor_stream_seq=int(floor.get("stream_seq", 0)),
            pending={int(d): PendingAck(int(s), int(ts)) for d, s, ts in doc.get("pending", [])},
            redelivered={int(s): int(n) for s, n in doc.get("redelivered", [])},
        )
    except (TypeError, ValueError, AttributeError) as err:
        raise ArchiveError(f"a consumer's state is malformed: {err}") from None


async def restore_archive(js: AccountJetStream, cfg: StreamConfig, path: str) -> Stream:
    """Check ``path``, then create stream ``cfg`` from it; raises ApiError or ArchiveError."""
    meta, entries, _ = await asyncio.to_thread(check_archive, path)
    states = [consumer_state(e.state) for e in entries]
    if meta.stream != cfg.name:
        raise E.STREAM_RESTORE(err="stream names do not match")
    if cfg.name in js.streams:
        raise E.STREAM_NAME_EXIST_RESTORE_FAILED()
    js.check_stream_limits(cfg)
    check_create_sources(cfg, js.functions)
    others = [s.config.subjects for s in js.streams.values()]
    if subjects_overlap(cfg.subjects, others):
        raise E.STREAM_SUBJECT_OVERLAP()
    stream = await js.add_stream(cfg, created=meta.created)
    # A mirror or source starts where the restored messages end, not before them.
    await js._stop_sourcing(cfg.name)
    try:
        async with stream.lock:  # taken before any ingest task runs: nothing interleaves
            await _write_messages(stream, path, meta)
        for entry, state in zip(entries, states, strict=True):
            cstore = await stream.store.consumer_store(entry.name)
            record = dumps({"config": entry.config, "created": entry.created})
            await cstore.update_config(record)
            await cstore.update_state(state)
        # A consumer request during the restore may have loaded the (then empty) set.
        setattr(stream, _consumers._LOADED, False)
        await _consumers.ensure_loaded(js, stream)
        await js._rebuild_dedupe(stream)
        js._start_sourcing(stream)
    except BaseException:
        if js.streams.get(cfg.name) is stream:
            await js.delete_stream(cfg.name)
        raise
    return stream


def _segments(path: str) -> Generator[list[StoredMsg], None, None]:
    for kind, item in read_archive(path):
        if kind == "messages":
            yield item


def _stage_at(store: Any, msg: StoredMsg, ttl: int) -> tuple[int, int, Any]:
    """``store.stage_msg`` with the store clock pinned to ``msg.ts`` for this one call."""
    real = _staging._time_ns
    _staging._time_ns = lambda: msg.ts
    try:
        return store.stage_msg(msg.subject, msg.headers, msg.payload, ttl=ttl)  # type: ignore[no-any-return]
    finally:
        _staging._time_ns = real


def _ttl(stream: Stream, msg: StoredMsg) -> int:
    if not stream.config.allow_msg_ttl or not msg.headers:
        return 0
    raw = header_value(msg.headers, TTL)
    if not raw:
        return 0
    try:
        secs = parse_ttl(raw)
    except ValueError:
        return 0
    return -1 if secs < 0 else secs * _SECOND


async def _write_messages(stream: Stream, path: str, meta: SnapshotMeta) -> None:
    """Every archived message into the new stream's store, at its sequence and time."""
    store: StreamStore = stream.store
    writer = _Writer(stream, store)
    segments = _segments(path)
    try:
        while True:
            segment = await asyncio.to_thread(next, segments, None)
            if segment is None:
                break
            for msg in segment:
                await writer.put(msg)
    finally:
        segments.close()
    await writer.finish(meta.state["last_seq"], meta.state["last_ts"])


class _Writer:
    """Writes messages at their own sequences (gaps become deleted sequences)."""

    def __init__(self, stream: Stream, store: StreamStore) -> None:
        self.stream = stream
        self.store = store
        self.pinned = isinstance(store, _base.LogStore)
        self.nxt = store.state().last_seq + 1
        self.prev = 0
        self.pending: Any = None
        self.unsettled = 0

    async def _settle(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await pending

    async def put(self, msg: StoredMsg) -> None:
        """Store ``msg`` at ``msg.seq`` with ``msg.ts``."""
        store = self.store
        if msg.seq < self.nxt:
            raise ArchiveError(
                f"message sequence {msg.seq} is below the new stream's next sequence {self.nxt}"
            )
        if msg.seq > self.nxt:
            await self._settle()
            if not self.prev:
                await store.compact(msg.seq)
            else:
                await store.skip_msgs(self.nxt, msg.seq - self.nxt)
                await store.truncate(self.prev)  # the gap stays deleted; the last time returns
        ttl = _ttl(self.stream, msg)
        if self.pinned:
            if getattr(store, "backlogged", False):
                await store.room()  # type: ignore[attr-defined]
            seq, _, commit = _stage_at(store, msg, ttl)
            if commit is not None:
                self.pending = commit
            self.unsettled += msg.size
            if self.unsettled >= _SETTLE_BYTES:  # keep what waits for its commit small
                self.unsettled = 0
                await self._settle()
        else:
            seq, _ = await store.store_msg(msg.subject, msg.headers, msg.payload, ttl=ttl)
        if seq != msg.seq:
            raise StoreError(f"restored message got sequence {seq}, not {msg.seq}")
        self.prev = msg.seq
        self.nxt = msg.seq + 1

    async def finish(self, last: int, last_ts: int) -> None:
        """Wait for the writes; sequences after the last message up to ``last`` are deleted.

        The stream's last sequence and time come back as archived: a placeholder at
        ``last`` with ``last_ts`` is written and removed at once (a LogStore).
        """
        await self._settle()
        store = self.store
        if last >= self.nxt:
            if last > self.nxt:
                if self.prev:
                    await store.skip_msgs(self.nxt, last - self.nxt)
                    await store.truncate(self.prev)
                else:
                    await store.compact(last)
            if self.pinned and last_ts:
                placeholder = StoredMsg(_PLACEHOLDER, last, last_ts, None, b"")
                seq, _, commit = _stage_at(store, placeholder, 0)
                if commit is not None:
                    await commit
                await store.remove_msg(seq)
            else:
                await store.skip_msgs(last, 1)
        await store.flush()
