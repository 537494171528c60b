"""Periodic index checkpoints of the RocksDB stream store: when to take one, and writing it.

The file format is in :mod:`natskern.plugins.storage.rocksdb_ckpt`; this is the
scheduling half of :class:`~natskern.plugins.storage.rocksdb.RocksLog`
(:class:`CheckpointMixin`).  The store hands the log its snapshot source with
``set_checkpointer``; after ``checkpoint_min``..``checkpoint_max`` appended or
removed records (half the stream's length in between) a checkpoint is due: the
log maps the snapshot's memory in a thread (``_prefault``), asks the store for a
commit, takes the snapshot at the start of that commit (``_take_snapshot``, on
the loop, with the group) and, once the commit is durable, writes it in a
background thread (``_write_snapshot``).  The store's own ``put_meta("index",
...)`` (a clean close) is written by ``_put_checkpoint`` after its commit.  A
failed periodic write (a full disk) is retried after ``CHECKPOINT_RETRY`` s.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import time
from collections.abc import Callable
from typing import Any

from natskern.kernel.store.checkpoint import IndexSnapshot, snapshot_bytes
from natskern.plugins.storage import rocksdb_ckpt as ckptfile

__all__ = ["CHECKPOINT_RETRY", "CheckpointMixin"]

log = logging.getLogger("natskern.store.rocksdb")

#: Seconds before a periodic checkpoint that failed (a full disk) is tried again.
CHECKPOINT_RETRY = 30


class CheckpointMixin:
    """The periodic-checkpoint half of :class:`~natskern.plugins.storage.rocksdb.RocksLog`."""

    path: str
    checkpoint_min: int
    checkpoint_max: int
    _closed: bool
    _broken: str | None
    _undo: set[bytes]
    _index_put: tuple[bytes | None] | None
    #: Generation of the newest checkpoint file written (the next commit raises the floor).
    _durable_gen: int
    _floor: int
    _gen: int
    _views: dict[str, Any]

    def _usable(
        self,
        ckpt: ckptfile.Checkpoint | None,
        trusted: bool,
        failed: bool,
        problems: list[str],
    ) -> tuple[ckptfile.Checkpoint | None, list[tuple[int, int]]]:
        """The checkpoint if it may stand for the records it covers, and the removals since.

        ``trusted``: the log state was read and the database not repaired; ``failed``:
        the checkpoint file exists but failed (already in ``problems``).
        """
        if ckpt is None:
            if self._floor >= 0 and trusted and not failed:
                problems.append("index checkpoint missing: scanning the records")
            return None, []
        why = ""
        if not trusted:
            why = "the log state or the database had to be rebuilt"
        elif ckpt.gen < self._floor:
            why = f"stale (generation {ckpt.gen}, older than the floor {self._floor})"
        elif ckpt.gen > self._gen:
            why = f"newer than the log (generation {ckpt.gen} > {self._gen})"
        if why:
            problems.append(f"index checkpoint not used, {why}: scanning the records")
            return None, []
        if ckpt.gen == self._gen and ckpt.complete:
            return ckpt, []
        removed = ckptfile.journal_ranges(self._views["meta"], ckpt.gen, problems)
        if removed is None:
            return None, []
        return ckpt, removed

    def _init_schedule(self) -> None:
        """The scheduling state of a new log."""
        #: The store's snapshot source (``set_checkpointer``), its background write, and
        #: the records appended or removed since the last checkpoint (of a base this long).
        self._checkpointer: Callable[[memoryview | None], IndexSnapshot] | None = None
        #: Pre-faulted memory for the next snapshot (see ``_prefault``).
        self._scratch: mmap.mmap | None = None
        self._request: Callable[[], object] | None = None
        self._requested = False
        self._ckpt_task: asyncio.Task[None] | None = None
        self._prefault_task: asyncio.Task[None] | None = None
        #: After a failed periodic checkpoint: no new one before this (``time.monotonic``).
        self._ckpt_retry_at = 0.0
        self._since_ckpt = [0]
        self._ckpt_len = 0
        #: Stats of the last checkpoint written and the last open (for tests and benchmarks).
        self.checkpoints_written = 0
        self.recovered_tail = 0

    async def _read_checkpoint(self, problems: list[str]) -> ckptfile.Checkpoint | None:
        """The checkpoint file, read and verified in a thread.

        Handed back through a list, not as the thread's result: the executor's
        future keeps its result alive for a while, and this one is large.
        """
        out: list[ckptfile.Checkpoint | None] = []
        await asyncio.to_thread(lambda: out.append(ckptfile.read_checkpoint(self.path, problems)))
        return out.pop()

    def set_checkpointer(
        self, snapshot: Callable[[memoryview | None], IndexSnapshot], request: Callable[[], object]
    ) -> None:
        """Take periodic checkpoints from the store's ``snapshot``; ``request`` makes it commit.

        A snapshot is taken at the start of a commit; when one is due after a commit
        (or after the scan of an open), the log maps the memory it will be copied
        into (in a thread), then asks for the next commit rather than wait for the
        next write.
        """
        self._checkpointer = snapshot
        self._request = request
        self.recovered_tail = self._since_ckpt[0]
        self._ckpt_len = max(self._ckpt_len, self._since_ckpt[0])
        self._request_due()

    def _request_due(self) -> None:
        """When a snapshot is due and none was asked for yet: prepare it, then ask for a commit."""
        if (
            self._request is not None
            and not self._requested
            and self._ckpt_due()
            and (self._ckpt_task is None or self._ckpt_task.done())
        ):
            self._requested = True
            self._prefault_task = asyncio.get_running_loop().create_task(self._prefault())

    async def _prefault(self) -> None:
        """Map the snapshot's memory off the loop (its page faults cost the loop ~6x the copy)."""
        length = self._ckpt_len + self._since_ckpt[0]
        need = snapshot_bytes(length + length // 8) + (1 << 20)  # (room for growth meanwhile)
        out: list[mmap.mmap | None] = []  # (not the thread's result: see _read_checkpoint)
        await asyncio.to_thread(lambda: out.append(ckptfile.prefaulted(need)))
        scratch = out.pop()
        if self._closed or not self._requested:
            return  # (closed, or a commit took the snapshot meanwhile: the memory goes)
        self._scratch = scratch
        if self._request is not None:
            self._request()

    def _ckpt_due(self) -> bool:
        if self._ckpt_retry_at and time.monotonic() < self._ckpt_retry_at:
            return False  # (the last one failed: no retry at every commit of a full disk)
        every = max(self.checkpoint_min, min(self.checkpoint_max, self._ckpt_len // 2))
        return self._since_ckpt[0] >= every

    def _take_snapshot(self) -> IndexSnapshot | None:
        """The store's snapshot when a periodic checkpoint is due and may be taken now.

        Not while its memory is being mapped: the commits until then go without.
        """
        if (
            self._checkpointer is None
            or self._index_put is not None
            or self._broken
            or self._undo
            or (self._ckpt_task is not None and not self._ckpt_task.done())
            or (self._prefault_task is not None and not self._prefault_task.done())
            or not self._ckpt_due()
        ):
            return None
        self._requested = False
        scratch, self._scratch = self._scratch, None
        return self._checkpointer(memoryview(scratch) if scratch is not None else None)

    async def _put_checkpoint(
        self, value: bytes | None, gen: int, seq: int, complete: bool
    ) -> None:
        """Write (or delete) the checkpoint file after its commit (the store's ``put_meta``)."""
        await self._checkpoint_written()  # an older snapshot must not land after this
        try:
            if value is None:
                await asyncio.to_thread(ckptfile.remove_checkpoint, self.path)
                return
            await asyncio.to_thread(
                ckptfile.write_checkpoint, self.path, gen, seq, complete, [value]
            )
        except OSError as exc:  # the data is durable: only the next restart is slower
            log.error("rocksdb %s: index checkpoint not written: %s", self.path, exc)
            return
        self._durable_gen = max(self._durable_gen, gen)
        self._since_ckpt[0] = 0
        self._ckpt_len = len(value) // 17
        self.checkpoints_written += 1

    async def _write_snapshot(self, snap: IndexSnapshot, gen: int, seq: int) -> None:
        """(A background task) encode and write a periodic snapshot in a thread."""

        def write() -> int:
            return ckptfile.write_checkpoint(self.path, gen, seq, True, snap.chunks())

        try:
            size = await asyncio.to_thread(write)
        except Exception as exc:  # (the next one is due at once)
            log.warning(
                "rocksdb %s: periodic index checkpoint failed (retried in %d s): %s",
                self.path,
                CHECKPOINT_RETRY,
                exc,
            )
            self._ckpt_retry_at = time.monotonic() + CHECKPOINT_RETRY
            self._since_ckpt[0] += max(self.checkpoint_max, snap.length)  # (due at once then)
            return
        self._ckpt_retry_at = 0.0
        self._durable_gen = max(self._durable_gen, gen)
        self.checkpoints_written += 1
        log.debug("rocksdb %s: index checkpoint of generation %d, %d bytes", self.path, gen, size)
        self._ckpt_task = None
        if not self._closed:
            self._request_due()  # (many writes while it was written)

    async def _checkpoint_written(self) -> None:
        """Wait for the background checkpoint write (and its memory mapping), if one runs."""
        for task in (self._prefault_task, self._ckpt_task):
            if task is not None:
                await asyncio.wait([task])
        self._prefault_task = self._ckpt_task = None

    async def _after_commit(
        self,
        gen: int,
        index_put: tuple[bytes | None] | None,
        index_seq: int,
        complete: bool,
        snap: IndexSnapshot | None,
        snap_seq: int,
    ) -> None:
        """Once commit ``gen`` is durable: write its checkpoint, or ask for the next one."""
        if index_put is not None:
            await self._put_checkpoint(index_put[0], gen, index_seq, complete)
        elif snap is not None:
            self._since_ckpt[0] = 0
            self._ckpt_len = snap.length
            self._ckpt_task = asyncio.get_running_loop().create_task(
                self._write_snapshot(snap, gen, snap_seq)
            )
        else:
            self._request_due()
