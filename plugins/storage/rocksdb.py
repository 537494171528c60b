"""The ``rocksdb`` storage backend: a :class:`RecordLog` over one RocksDB per stream.

rocksdict in raw mode, three column families (``msgs``, ``meta``, ``aux``; the
layout is in :mod:`natskern.plugins.storage.rocksdb_codec`).  No per-subject
column family: the shared store base keeps the subject index in memory and
rebuilds it from the records (or its checkpoint), and a second key per message
would cost every append a put for a scan that reads the same blocks anyway.

Commit path: the staged group becomes ONE ``WriteBatch`` written unsynced on the
loop (rocksdict keeps the GIL in ``write``: a synced write would stall the loop
for the fsync), then ``flush_wal(sync=True)`` runs in a thread (it releases the
GIL) before ``commit`` returns.  Every batch also rewrites the log state
(last_seq, last_ts, a generation bumped by every commit that appends or removes,
and the checkpoint floor), so sequences are never handed out twice.

Index checkpoints (the file format in :mod:`natskern.plugins.storage.rocksdb_ckpt`,
their scheduling in :mod:`natskern.plugins.storage.rocksdb_schedule`, the database
calls in :mod:`natskern.plugins.storage.rocksdb_db`): a file next to
the database, written at a clean close (the store's ``put_meta("index", ...)``)
and, while the stream runs, every ``checkpoint_min``..``checkpoint_max`` appended
or removed records (half the stream's length in between): the store's snapshot
is taken on the loop at the start of a commit (a copy of its columns) and
written in a background thread once that commit is durable.  Commits that
remove journal their ranges in the same batch.  A clean restart loads the
checkpoint alone; a restart after kill -9 loads it, reads the records above it
and replays the journal: at most ``checkpoint_max`` records, not the stream.
Every commit syncs, in lazy mode too: there the store commits once per
interval, so one fsync still covers the interval's writes.

A write RocksDB refuses (full disk, I/O error) leaves the database in a sticky
error state: ``commit`` raises :class:`StoreIOError`, reads go on from the open
database, and the next ``commit`` closes and reopens it (WAL replay drops the
torn tail) before writing; keys of a group that failed after its write are
deleted again by the next group, so an unacknowledged message does not come back.

Erase: ``remove(seq, erase=True)`` deletes the key, flushes every column
family's memtable (so the WAL file that held the value is obsolete and deleted)
and compacts the key's range (so the SST holding it is rewritten without it)
before ``commit`` returns: no live file holds the value any more.  RocksDB never
overwrites in place, so the bytes of the deleted files are left to the
filesystem, as with any deleted file; a put of a blanked value first would not
change that, so there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.store.api import (
    CorruptRecordError,
    StoreClosedError,
    StoredMsg,
    StoreIOError,
)
from natskern.kernel.store.base import LogStore, record_size
from natskern.kernel.store.log import RecordColumns, Recovery
from natskern.plugins.storage import rocksdb_ckpt as ckptfile
from natskern.plugins.storage import rocksdb_codec as codec
from natskern.plugins.storage import rocksdb_format as storeformat
from natskern.plugins.storage import rocksdb_recovery as recovery
from natskern.plugins.storage.rocksdb_aux import AuxMixin, RocksAuxLog
from natskern.plugins.storage.rocksdb_db import DbMixin
from natskern.plugins.storage.rocksdb_schedule import CHECKPOINT_RETRY, CheckpointMixin
from rocksdict import WriteBatch, WriteOptions

__all__ = [
    "CHECKPOINT_RETRY",
    "RocksAuxLog",
    "RocksLog",
    "RocksLogFactory",
    "register_storage_backends",
]

log = logging.getLogger("natskern.store.rocksdb")

_PUT, _DEL, _RANGE = 0, 1, 2
#: A run of message puts staged one after another: ``(_MSGS, keys, values)``.
_MSGS = 3
_seq_key = codec.seq_key
_END = b"\xff" * 9  # above every 8-byte key

#: The per-record overhead ``record_size`` counts (nats-server's file-store formula).
_OVERHEAD = record_size("", None, b"")


class RocksLog(DbMixin, AuxMixin, CheckpointMixin):
    """The record log of one stream in its own RocksDB database (``directory``)."""

    durable = True

    def __init__(
        self,
        directory: str,
        *,
        sync: str | int = "always",
        write_buffer_size: int = 32 << 20,
        verify_scan: bool = True,
        checkpoint_min: int = 1 << 16,
        checkpoint_max: int = 1 << 20,
    ) -> None:
        self.path = directory
        self.sync = sync
        self._write_buffer_size = write_buffer_size
        #: Whether a recovery scan verifies every checksum (else: on read only).
        self.verify_scan = verify_scan
        #: A periodic checkpoint is due after this many appended or removed records:
        #: half the stream's length, within these bounds.
        self.checkpoint_min = checkpoint_min
        self.checkpoint_max = checkpoint_max
        self._db: Any = None
        self._views: dict[str, Any] = {}
        self._handles: dict[str, Any] = {}
        self._wo = WriteOptions()
        self._wo.sync = False
        self._lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._broken: str | None = None
        self._closed = False
        # committed state (gen: bumped by commits that append or remove)
        self._last_seq = 0
        self._last_ts = 0
        self._gen = 0
        #: The checkpoint floor: an older checkpoint file is stale (the journal below it is gone).
        self._floor = -1
        #: Generation of the newest checkpoint file written (the next commit raises the floor).
        self._durable_gen = -1
        self._undo: set[bytes] = set()
        #: How this database checksums its message values (its format's; set at open).
        self._codec = storeformat.codec_of(storeformat.STORE_FORMAT)
        #: Subjects' bytes (see :func:`.rocksdb_codec.subject_bytes`).
        self._subject_bytes: dict[str, bytes] = {}
        self._aux: dict[str, RocksAuxLog] = {}
        self._aux_next: dict[bytes, int] = {}
        self._reported: set[int] = set()
        self._index_value: bytes | None = None
        #: The highest sequence ever staged (a checkpoint taken now covers every one up to it).
        self._appended_top = 0
        self._init_schedule()
        self._reset_staged()

    def _reset_staged(self) -> None:
        self._ops: list[tuple[Any, ...]] = []
        self._msgs: dict[int, StoredMsg] = {}
        #: ``append_batch`` groups as given: (first_seq, ts, items), read back on demand.
        self._batches: list[tuple[int, int, Any]] = []
        self._dead: set[int] = set()
        self._dead_ranges: list[tuple[int, int]] = []
        self._changed = False
        #: ``put_meta("index", v)`` of this group: ``(v,)``, or None when untouched.
        self._index_put: tuple[bytes | None] | None = None
        #: The highest sequence staged when it was put; whether nothing was staged after.
        self._index_seq = 0
        self._index_complete = True
        self._removed: list[tuple[int, int]] = []
        self._erase: list[bytes] = []
        self._top_seq = 0
        self._top_ts = 0

    # -- opening and closing ---------------------------------------------------------------

    async def open(self) -> Recovery:
        """Open (or create) the database and report what it holds (again after a close)."""
        self._closed = False
        self._broken = None
        self._undo = set()
        self._reset_staged()
        self._checkpointer, self._request, self._requested = None, None, False
        self._scratch = None
        problems: list[str] = []
        corrupt: list[int] = []
        repaired = await self._open_or_repair(problems)
        msgs, meta = self._views["msgs"], self._views["meta"]
        found = storeformat.read_format(meta)
        refused = storeformat.refusal(self.path, found)
        if refused is not None:  # (before anything is read or written)
            await asyncio.to_thread(self._close_db, sync=False)
            self._closed = True
            raise refused
        if found is None:
            found = storeformat.format_of_unmarked(msgs, meta)
            storeformat.write_format(meta, found)
        assert isinstance(found, int)
        self._codec = storeformat.codec_of(found)
        self._ready.set()
        state = recovery.read_state(meta, problems)
        top = recovery.newest_seq(msgs)
        if state is None:
            self._last_seq, self._last_ts, self._gen, self._floor = 0, 0, 0, -1
            if top:
                problems.append(f"log state lost: last sequence taken from the newest record {top}")
        else:
            self._last_seq, self._last_ts, self._gen, self._floor = state
        self._durable_gen = self._floor
        self._appended_top = max(self._last_seq, top)
        if top > self._last_seq:
            self._last_seq = top
            self._last_ts = recovery.ts_of(msgs, top, self._codec.verify)
        self._load_aux()
        seen = len(problems)
        ckpt = await self._read_checkpoint(problems)
        self._index_value = None  # the verified checkpoint, for get_meta("index")
        trusted = state is not None and not repaired
        base, removed = self._usable(ckpt, trusted, len(problems) > seen, problems)
        if base is not None:  # the next commit raises the floor to it
            self._durable_gen = max(self._durable_gen, base.gen)
        current = base is not None and base.gen == self._gen and base.complete
        records: AsyncIterator[RecordColumns] | list[RecordColumns] = []
        self._since_ckpt = [0]
        self._ckpt_len = len(base.body) // 17 if base is not None else 0
        if base is not None:
            self._index_value = base.body
        if not current:
            records = recovery.scan(
                msgs,
                _OVERHEAD,
                problems,
                corrupt,
                self._reported,
                self.verify_scan,
                start=base.seq + 1 if base is not None else 0,
                counter=self._since_ckpt,
                fmt=self._codec.format,
            )
        return Recovery(
            records=records,
            last_seq=self._last_seq,
            last_ts=self._last_ts,
            checkpoint_current=current,
            checkpoint_base=base is not None and not current,
            removed=removed,
            problems=problems,
            corrupt=corrupt,
        )

    async def close(self) -> None:
        """Commit what is staged, sync the WAL, flush the memtables and release the database."""
        if self._closed:
            return
        try:
            if self._db is not None:
                try:
                    await self.commit()  # reopens first when a write failed before
                except StoreIOError as exc:
                    log.error("rocksdb %s: last commit at close failed: %s", self.path, exc)
        finally:
            await self._checkpoint_written()
            self._closed = True
            self._scratch = None
            async with self._lock:
                self._ready.clear()
                sync = not self._broken
                try:
                    await asyncio.to_thread(self._close_db, sync=sync)
                except Exception as exc:
                    log.warning("rocksdb %s: close: %s", self.path, exc)

    async def destroy(self) -> None:
        """Close and remove the database directory."""
        await self._checkpoint_written()
        if not self._closed:
            self._closed = True
            self._reset_staged()
            async with self._lock:
                self._ready.clear()
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._close_db, sync=False)
        await asyncio.to_thread(shutil.rmtree, self.path, True)

    # -- staging ---------------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise StoreClosedError()

    def append(self, msg: StoredMsg, ttl: int = 0) -> None:
        """Stage a record (encoded and checksummed now)."""
        if self._closed:
            raise StoreClosedError()
        seq = msg.seq
        key = _seq_key(seq)
        raw = self._subject_bytes.get(msg.subject) or codec.subject_bytes(
            self._subject_bytes, msg.subject
        )
        value = self._codec.encode(seq, key, raw, msg.ts, ttl, msg.headers, msg.payload)
        ops = self._ops
        if ops and ops[-1][0] == _MSGS:  # (joins the run of puts)
            ops[-1][1].append(key)
            ops[-1][2].append(value)
        else:
            ops.append((_MSGS, [key], [value]))
        self._msgs[seq] = msg
        self._changed = True
        self._index_complete = self._index_put is None
        if seq >= self._top_seq:
            self._top_seq, self._top_ts = seq, msg.ts
            self._appended_top = max(self._appended_top, seq)

    def append_batch(self, first_seq: int, ts: int, items: Any) -> None:
        """Stage ``(subject, headers, payload)`` items as sequences ``first_seq``... (one ts)."""
        self._check()
        if not items:
            return
        seqs = range(first_seq, first_seq + len(items))
        keys = list(map(_seq_key, seqs))
        known, cache, encode = self._subject_bytes.get, self._subject_bytes, self._codec.encode
        values = [
            encode(seq, key, known(s) or codec.subject_bytes(cache, s), ts, 0, h, p)
            for seq, key, (s, h, p) in zip(seqs, keys, items, strict=True)
        ]
        self._ops.append((_MSGS, keys, values))
        self._batches.append((first_seq, ts, items))
        self._changed = True
        self._index_complete = self._index_put is None
        top = first_seq + len(items) - 1
        if top >= self._top_seq:
            self._top_seq, self._top_ts = top, ts
            self._appended_top = max(self._appended_top, top)

    def remove(self, seq: int, *, erase: bool = False) -> None:
        """Stage the removal of one record (``erase``: compact its bytes away at commit)."""
        self._check()
        key = codec.seq_key(seq)
        self._ops.append((_DEL, "msgs", key))
        self._msgs.pop(seq, None)
        self._dead.add(seq)
        self._removed.append((seq, seq))
        self._changed = True
        self._index_complete = self._index_put is None
        if erase:
            self._erase.append(key)

    def remove_range(self, first: int, last: int) -> None:
        """Stage the removal of every record with ``first <= seq <= last`` (one range delete)."""
        self._check()
        if last < first:
            return
        end = codec.seq_key(last + 1) if last < (1 << 64) - 1 else _END
        self._ops.append((_RANGE, "msgs", codec.seq_key(first), end))
        for seq in [s for s in self._msgs if first <= s <= last]:
            del self._msgs[seq]
        self._dead_ranges.append((first, last))
        self._removed.append((first, last))
        self._changed = True
        self._index_complete = self._index_put is None

    def put_meta(self, key: str, value: bytes | None) -> None:
        """Stage a metadata value, two checksummed copies (one beyond 1 MiB); None deletes.

        ``index`` (the store's checkpoint) goes to the checkpoint file instead, written
        once its commit is durable.
        """
        self._check()
        if key == "index":
            self._index_value = None
            self._index_put = (None if value is None else bytes(value),)
            self._index_seq = self._appended_top
            self._index_complete = True
            return
        k0, k1 = codec.user_meta_keys(key)
        if value is None:
            self._ops.append((_DEL, "meta", k0))
            self._ops.append((_DEL, "meta", k1))
            return
        self._ops.append((_PUT, "meta", k0, codec.encode_meta(value, k0)))
        if len(value) <= codec.TWO_COPY_LIMIT:
            self._ops.append((_PUT, "meta", k1, codec.encode_meta(value, k1)))
        else:
            self._ops.append((_DEL, "meta", k1))

    # -- commit ----------------------------------------------------------------------------

    async def commit(self) -> None:
        """Write the staged group as one unsynced batch, then sync the WAL in a thread."""
        self._check()
        # The lock is free: the previous commit's outcome (a rollback of a failed group
        # included) is already in the store's index, so a snapshot now is consistent.
        quiet = not self._lock.locked()
        async with self._lock:
            await self._commit_locked(quiet)

    async def _commit_locked(self, quiet: bool = False) -> None:
        if self._closed:
            return  # (a commit the log asked for, overtaken by close: close committed it all)
        # The group is what was staged before this call; later stagings join the next one.
        # A periodic snapshot is taken here, with the group: it covers exactly that much.
        snap = self._take_snapshot() if quiet else None
        snap_seq = self._appended_top
        ops, erase, changed, removed = self._ops, self._erase, self._changed, self._removed
        index_put, index_seq, complete = self._index_put, self._index_seq, self._index_complete
        top_seq, top_ts = self._top_seq, self._top_ts
        self._reset_staged()
        if self._broken:
            await self._reopen()  # raises StoreIOError: the group is dropped, not acknowledged
        if not ops and not self._undo and snap is None and index_put is None:
            return
        # A checkpoint's commit always gets a generation of its own.
        gen = self._gen + 1 if changed or snap is not None or index_put is not None else self._gen
        floor = max(self._floor, self._durable_gen)
        if index_put is not None and index_put[0] is None:
            floor = gen + 1  # no checkpoint: every older file is stale
        last_seq, last_ts = self._last_seq, self._last_ts
        if top_seq > last_seq:
            last_seq, last_ts = top_seq, top_ts
        state = codec.encode_state(last_seq, last_ts, gen, floor)
        journal = (gen, removed) if removed else None
        batch, appended = self._batch(ops, state, journal, (self._floor, floor))
        try:
            self._write(batch)
        except Exception as exc:
            self._undo |= appended  # in case the WAL kept the whole batch
            raise self._fail("write", exc) from exc
        self._last_seq, self._last_ts, self._gen, self._floor = last_seq, last_ts, gen, floor
        undo = self._undo | appended
        try:
            await self._sync_wal()  # lazy mode too: the store calls commit once per interval
        except StoreIOError:
            self._undo = undo
            raise
        self._undo = set()
        self._since_ckpt[0] += len(appended) + len(removed)
        if erase:
            await asyncio.to_thread(self._compact_away, erase)
        await self._after_commit(gen, index_put, index_seq, complete, snap, snap_seq)

    def _batch(
        self,
        ops: list[tuple[Any, ...]],
        state: bytes,
        journal: tuple[int, list[tuple[int, int]]] | None = None,
        floors: tuple[int, int] = (0, 0),
    ) -> tuple[Any, set[bytes]]:
        """The group as one WriteBatch (undo deletes first), and the message keys it puts.

        A helper so that no frame a kept traceback holds refers to a column family
        handle: any live handle keeps the database open, and a reopen then fails.
        """
        handles = self._handles
        batch = WriteBatch(raw_mode=True)
        msgs = handles["msgs"]
        for key in self._undo:
            batch.delete(key, msgs)
        appended: set[bytes] = set()
        put = batch.put
        for op in ops:
            kind = op[0]
            if kind == _MSGS:  # a run of message puts: (_MSGS, keys, values)
                for key, value in zip(op[1], op[2], strict=True):
                    put(key, value, msgs)
                appended.update(op[1])
            elif kind == _PUT:
                batch.put(op[2], op[3], handles[op[1]])
                if op[1] == "msgs":
                    appended.add(op[2])
            elif kind == _DEL:
                batch.delete(op[2], handles[op[1]])
            else:
                batch.delete_range(op[2], op[3], handles[op[1]])
        meta = handles["meta"]
        if journal is not None:
            key = ckptfile.journal_key(journal[0])
            batch.put(key, codec.encode_meta(ckptfile.encode_ranges(journal[1]), key), meta)
        old, new = floors
        if new > old:  # entries below the floor belong to stale checkpoints only
            batch.delete_range(ckptfile.journal_key(0), ckptfile.journal_key(new), meta)
            for key in codec.user_meta_keys("index"):  # (where checkpoints were once kept)
                batch.delete(key, meta)
        for key in codec.STATE_KEYS:
            batch.put(key, codec.encode_meta(state, key), meta)
        return batch, appended

    # -- reads -----------------------------------------------------------------------------

    async def read(self, seq: int) -> StoredMsg | None:
        """A staged or committed record, or None; raises CorruptRecordError on a bad checksum."""
        msg = self._msgs.get(seq)
        if msg is not None:
            return msg
        if seq in self._dead or any(a <= seq <= b for a, b in self._dead_ranges):
            return None
        for first, ts, items in self._batches:
            if first <= seq < first + len(items):
                subject, headers, payload = items[seq - first]
                return StoredMsg(subject, seq, ts, headers, payload)
        views = self._views
        if not views or not self._ready.is_set():
            views = await self._wait_views()
        key = codec.seq_key(seq)
        value = views["msgs"].get(key)
        if value is None:
            return None
        if not self._codec.verify(key, value):
            if seq not in self._reported:
                self._reported.add(seq)
                log.error("rocksdb %s: corrupt record at sequence %d (checksum)", self.path, seq)
            raise CorruptRecordError(seq, "checksum mismatch")
        return codec.decode_msg(seq, value)[0]

    async def get_meta(self, key: str) -> bytes | None:
        """A committed metadata value: its first copy that passes the checksum, or None."""
        views = self._views
        if not views or not self._ready.is_set():
            views = await self._wait_views()
        if key == "index":
            if self._index_value is not None:  # read and verified by open: handed over once
                body, self._index_value = self._index_value, None
                return body
            ckpt = await self._read_checkpoint([])
            return ckpt.body if ckpt is not None else None
        keys = codec.user_meta_keys(key)
        meta = views["meta"]
        seen = False
        for k in keys:
            raw = meta.get(k)
            seen = seen or raw is not None
            value = codec.decode_meta(raw, k)
            if value is not None:
                if k is not keys[0]:
                    log.warning(
                        "rocksdb %s: meta %r: first copy corrupt, used the second", self.path, key
                    )
                return value
        if seen:
            log.error("rocksdb %s: meta %r: every copy failed its checksum", self.path, key)
        return None


class RocksLogFactory:
    """Builds a :class:`RocksLog` for a stream directory: ``factory(directory, sync=...)``."""

    def __init__(self, **tuning: Any) -> None:
        self.tuning = tuning

    def __call__(self, directory: str, *, sync: str | int) -> RocksLog:
        """The log of the stream in ``directory`` (opened by :meth:`RocksLog.open`)."""
        return RocksLog(directory, sync=sync, **self.tuning)


@hookimpl
def register_storage_backends(register: Register) -> None:
    """Register the ``rocksdb`` backend: the shared store base over :class:`RocksLog`."""
    register("rocksdb", LogStore.factory(RocksLogFactory()))
