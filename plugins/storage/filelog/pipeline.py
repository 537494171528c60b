"""Groups written ahead of their sync: the next group goes to the disk while one syncs.

A commit is a write (the group's bytes into the page cache, their write-back
started) and a sync (``fdatasync``: what makes it durable).  Done one after the
other, commit by commit, the disk idles while the next group is staged and
written: a client that keeps a window of object chunks in flight sends it, waits
for the sync, sends the next.  The file log (:class:`~.log.FileLog`) instead
writes a group of data records as soon as its commit is called, also while an
earlier group's sync is running, and hands it to a :class:`SyncQueue`:

* one sync at a time per log; a group written while one runs waits for the next,
  which then covers every group written meanwhile (syncs coalesce);
* a sync that succeeds makes its groups durable in the order they were written:
  the log indexes them (``log.applied``) and their commits return, oldest first;
* a sync that fails fails its groups **and every group written after them** (their
  bytes lie after the failed ones): the block is cut back to where the oldest
  failed group began (the index never took any of them), and their commits raise
  :class:`StoreIOError`.

Only groups of data records in the newest block take this way: a group that opens
a block, erases, writes metadata copies or side logs waits until the queue is
empty (:meth:`SyncQueue.settle`) and is written and synced on its own, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from natskern.kernel.store.api import StoredMsg, StoreIOError
from natskern.plugins.storage.filelog.aiosync import disable, unsupported

if TYPE_CHECKING:
    from natskern.plugins.storage.filelog.aiosync import AioSync
    from natskern.plugins.storage.filelog.blocks import Block
    from natskern.plugins.storage.filelog.group import EncodedGroup
    from natskern.plugins.storage.filelog.iothread import CommitThread

__all__ = ["Durable", "SyncQueue", "Written", "cut_tail"]

logger = logging.getLogger("natskern.store")


class Durable(asyncio.Future[None]):
    """A written group's future: a waiter's cancellation leaves it be (the group still
    becomes durable or fails, and the log still indexes it or takes it back)."""

    def cancel(self, msg: object = None) -> bool:
        """Decline (see the class docstring)."""
        return False


class Written:
    """A group written into its block and not yet durable; ``future`` ends when it is."""

    __slots__ = ("direct", "future", "g", "msgs")

    def __init__(
        self, g: EncodedGroup, msgs: dict[int, StoredMsg], future: asyncio.Future[None]
    ) -> None:
        self.g = g
        self.msgs = msgs
        self.future = future
        #: Written on the loop (counted in ``direct_commits`` once durable).
        self.direct = False


class SyncQueue:
    """One file log's written groups and their syncs (see the module docstring).

    ``applied(w)`` indexes a durable group (in write order); ``forget(msgs)`` drops a
    failed group's messages from the log's in-flight reads; ``io`` is the log's
    write lane (the cut after a failed sync runs there, after any write in flight).
    """

    def __init__(
        self,
        directory: str,
        io: CommitThread,
        lane: CommitThread,
        applied: Callable[[Written], None],
        forget: Callable[[dict[int, StoredMsg]], None],
    ) -> None:
        self._directory = directory
        self._io = io
        self._lane = lane
        self._applied = applied
        self._forget = forget
        self._unsynced: list[Written] = []
        self._syncing: list[Written] = []
        #: The AIO context syncs go to (None: the sync lane's thread).
        self.aio: AioSync | None = None
        #: Where the written groups end: ``(block, end, hi_seq, hi_ts)``, or None (none).
        self.tail: tuple[Block, int, int, int] | None = None
        #: Bumped by a failed sync: a write that began before it is cut off with it.
        self.epoch = 0
        #: What the sync lane calls (the fault tests make it fail).
        self.fdatasync: Callable[[int], None] = os.fdatasync

    def __bool__(self) -> bool:
        return bool(self._unsynced or self._syncing)

    def add(self, w: Written) -> None:
        """A group was written at the tail: queue it for the next sync."""
        g = w.g
        self.tail = (g.target, g.start + g.size, g.hi_seq, g.hi_ts)  # type: ignore[assignment]
        self._unsynced.append(w)
        if not self._syncing:
            self._start()

    async def settle(self) -> None:
        """Wait until every group written so far is durable or failed."""
        while self._unsynced or self._syncing:
            last = (self._unsynced or self._syncing)[-1]
            with contextlib.suppress(StoreIOError):
                await asyncio.shield(last.future)

    def _start(self) -> None:
        batch, self._unsynced = self._unsynced, []
        self._syncing = batch
        fd = batch[-1].g.target.fd  # type: ignore[union-attr]
        aio = self.aio
        if aio is not None and aio.fdatasync_then(fd, self._synced):
            return
        self._sync_on_lane(fd)

    def _sync_on_lane(self, fd: int) -> None:
        self._lane.run(self.fdatasync, fd).add_done_callback(self._thread_synced)

    def _thread_synced(self, fut: asyncio.Future[None]) -> None:
        exc = fut.exception() if not fut.cancelled() else OSError("sync cancelled")
        self._synced(exc if isinstance(exc, OSError) or exc is None else OSError(str(exc)))

    def _synced(self, err: OSError | None) -> None:
        batch = self._syncing
        if err is not None and self.aio is not None and unsupported(err):
            disable()  # (this file system has no AIO fsync: the thread syncs from now on)
            self.aio = None
            self._sync_on_lane(batch[-1].g.target.fd)  # type: ignore[union-attr]
            return
        self._syncing = []
        if err is not None:
            self._fail(batch, err)
            return
        if not self._unsynced:
            self.tail = None
        for w in batch:
            try:
                self._applied(w)
            except Exception:  # (the group is durable: its writers are told so all the same)
                logger.exception("%s: indexing a written group failed", self._directory)
            if not w.future.done():
                w.future.set_result(None)
        if self._unsynced:
            self._start()

    def _fail(self, batch: list[Written], err: OSError) -> None:
        """Fail ``batch`` and every group written after it; cut the block back."""
        victims = batch + self._unsynced
        self._unsynced = []
        self.tail = None
        self.epoch += 1
        blk = victims[0].g.target
        assert blk is not None
        blk.dirty_tail = True  # (no write on the loop until the cut is done)
        self._io.run(cut_tail, blk).add_done_callback(_consume)
        error = StoreIOError(f"write to {self._directory} failed: {err.strerror or err}")
        logger.error(
            "%s: a sync failed, %d written groups taken back: %s",
            self._directory,
            len(victims),
            error,
        )
        for w in victims:
            self._forget(w.msgs)
            if not w.future.done():
                w.future.set_exception(error)


def cut_tail(blk: Block) -> None:
    """(In the write lane) cut ``blk`` back to its indexed end after a failed sync.

    If even that fails, ``dirty_tail`` stays set and the next commit's write retries
    it before writing (:func:`.group.write_group`).
    """
    os.ftruncate(blk.fd, blk.size)
    blk.alloc = blk.size
    os.fdatasync(blk.fd)
    blk.dirty_tail = False


def _consume(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        logger.warning("cutting a block back after a failed sync failed: %s", fut.exception())
