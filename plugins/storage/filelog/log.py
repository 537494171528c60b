"""The file store's :class:`~natskern.kernel.store.log.RecordLog`: block files on a local disk.

* ``commit`` encodes the staged group and writes it at the end of the newest
  block: a small group that fits the space its block has on the loop, a larger
  one in the log's commit thread (:mod:`.iothread`).  A group of data records
  is then synced by kernel AIO (:mod:`.aiosync`) or a sync thread, and the next
  such group may be written while that sync runs (:mod:`.pipeline`); any other
  group (a new block, metadata copies, side logs, erases) waits for those and is
  written and synced on its own in the commit thread.  It always syncs: a lazy
  ``sync`` interval only means the store calls ``commit`` less often.
* A failed write (full disk, I/O error) truncates the block back to its last good
  end and raises :class:`StoreIOError`; if even the truncation fails, the next
  commit retries it before writing, so nothing is ever acknowledged on top of a
  partial write.
* ``open`` loads the block-index checkpoint written by a clean close when the
  block files still end where it says (no scan); otherwise it scans every block
  (:mod:`.scan`), truncates a torn tail and reports corrupt records.
"""

from __future__ import annotations

import asyncio
import bisect
import fcntl
import logging
import os
from collections.abc import Sequence
from typing import Any

from natskern.kernel.store.api import CorruptRecordError, StoredMsg, StoreIOError
from natskern.kernel.store.log import Recovery
from natskern.plugins.storage.filelog import recovery as _recovery
from natskern.plugins.storage.filelog.aiosync import SMALL_GROUP, AioSync
from natskern.plugins.storage.filelog.aiosync import acquire as aio_acquire
from natskern.plugins.storage.filelog.aiosync import release as aio_release
from natskern.plugins.storage.filelog.blocks import DEAD, Block
from natskern.plugins.storage.filelog.group import (
    SMALL_META,
    EncodedGroup,
    apply_group,
    delete_blocks,
    encode_group,
    undo_write,
    write_group,
    write_parts,
)
from natskern.plugins.storage.filelog.iothread import CommitThread
from natskern.plugins.storage.filelog.journal import AuxJournal, JournalAux
from natskern.plugins.storage.filelog.memcache import ReadCache
from natskern.plugins.storage.filelog.meta import pos_bytes, pos_from
from natskern.plugins.storage.filelog.pipeline import Durable, SyncQueue, Written
from natskern.plugins.storage.filelog.reads import (
    decode_msg,
    read_span,
    record_length,
    split_span,
)
from natskern.plugins.storage.filelog.zeroing import wants_zeros, zero_ahead

__all__ = ["DEFAULT_BLOCK_SIZE", "FileLog"]

logger = logging.getLogger("natskern.store")

#: 8 MiB: what nats-server uses for stream blocks.  A block is the unit of space
#: reclaim (a block is deleted once all its messages are) and is read whole by the
#: recovery scan, so it bounds both the space a mostly-removed stream keeps and the
#: scanner's buffer; 1 GiB is ~130 files.
DEFAULT_BLOCK_SIZE = 8 << 20
#: A record longer than this, read from the page cache, is decoded from the read's buffer
#: (its payload copied once) and reads nothing ahead.
BIG_RECORD = 16 << 10
#: ``os.RWF_NOWAIT`` where the platform has it (Linux): a read that fails rather than block.
_NOWAIT: int = getattr(os, "RWF_NOWAIT", 0)
CKPT_BLOCKS = "~blocks"
_NONE: frozenset[str] = frozenset()  # (a commit without metadata values)
_NONE_META: dict[str, bytes | None] = {}  # (never written to)
_NO_AUX: set[str] = set()
CKPT_POS = "~index-pos"


class FileLog:
    """One stream's block files, metadata copies and side logs in ``directory``."""

    durable = True
    #: Staged bytes from which the store commits a group while an earlier commit is
    #: still in flight (its sync): object chunks go to the disk as they come.
    write_ahead_min = 256 << 10

    def __init__(
        self, directory: str, *, sync: str | int = "always", block_size: int = DEFAULT_BLOCK_SIZE
    ) -> None:
        self.directory = directory
        self.sync = sync
        self.block_size = int(block_size)
        self.blocks: list[Block] = []
        self.mblocks: list[Block] = []  # blocks holding messages, by first_seq
        self.mfirst: list[int] = []
        self.hi_seq = 0
        self.hi_ts = 0
        #: Highest message sequence committed (appends must be above it).
        self._committed_last_msg = 0
        #: Staged operations in order: ``("M", [msg, ...], ttl)`` runs of messages,
        #: ``("r", first, last, erase)`` removals (single ones not erased are in ``_rm``).
        self._ops: list[tuple[Any, ...]] = []
        #: Single removals staged (not erased): one ``SET`` record per group.
        self._rm: list[int] = []
        #: Subjects' UTF-8 bytes, by subject (encoded once, not once per record).
        self.subject_bytes: dict[str, bytes] = {}
        self._staged: dict[int, StoredMsg] = {}
        self._committing: dict[int, StoredMsg] = {}
        #: The newest committed messages and the records read ahead (no disk read).
        self.cache = ReadCache()
        self._meta_staged: dict[str, bytes | None] = {}
        self.meta_gen: dict[str, int] = {}
        self.meta_small: dict[str, bytes | None] = {}
        #: Large values already read by ``open`` (the current index checkpoint), kept
        #: until the store's first ``get_meta`` of them.
        self.meta_once: dict[str, bytes] = {}
        #: Keys whose two copies were both bad: the next write writes both.
        self.meta_twice: set[str] = set()
        #: Where the data ended when the store's "index" checkpoint was committed, and the
        #: generation of that checkpoint: (block id, offset, generation).
        self.index_pos = (0, 0, 0)
        self.journal = AuxJournal(directory)
        self.aux: dict[str, JournalAux] = {}
        self._aux_dropped: set[str] = set()
        self._lock = asyncio.Lock()
        #: Runs the commits' I/O (and the other writes: compaction, block deletion, the
        #: checkpoint), in order, off the loop (see :mod:`.iothread`).
        self._io = CommitThread(f"natskern-commit:{os.path.basename(directory)}")
        #: The syncs of groups written ahead, when kernel AIO does not take them.
        self._sync_lane = CommitThread(f"natskern-sync:{os.path.basename(directory)}")
        self._pipe = SyncQueue(
            directory, self._io, self._sync_lane, self._applied, self._taken_back
        )
        #: Groups whose commit was called and that are not yet indexed or failed.
        self._inflight = 0
        #: Whether an erase is staged (such a group is committed on its own).
        self._erasing = False
        self._lockfd = -1
        self.closed = True
        #: How many sealed blocks the last open loaded from their sidecars (for tests).
        self.sidecars_used = 0
        #: Commits written on the loop and synced by kernel AIO (see :mod:`.aiosync`).
        self.direct_commits = 0
        #: The loop's AIO context while the log is open (None: the commit threads sync).
        self._sync: AioSync | None = None
        #: Whether a block may be empty (its last message removed, or left empty by a
        #: scan): :meth:`_reclaim` looks through the blocks only then, not after every
        #: group that removes (a limits stream's or a KV bucket's every group).
        self._maybe_empty = True

    # -- open -------------------------------------------------------------------------------

    async def open(self) -> Recovery:
        """Open or create the log: load the clean-close checkpoint, or scan and verify."""
        rec = await asyncio.to_thread(_recovery.open_log, self)
        self.closed = False
        self._sync = self._pipe.aio = aio_acquire()
        return rec

    def take_lock(self) -> None:
        """Lock the directory against a second opener (released when the process dies)."""
        os.makedirs(self.directory, exist_ok=True)
        self._lockfd = os.open(os.path.join(self.directory, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lockfd)
            self._lockfd = -1
            raise StoreIOError(f"stream directory {self.directory} is in use") from None

    def release_lock(self) -> None:
        """Give the directory lock back (an open that is refused)."""
        if self._lockfd >= 0:
            os.close(self._lockfd)
            self._lockfd = -1

    def set_blocks(self, blocks: list[Block]) -> None:
        """Install the recovered blocks (and open their files for reading and appending)."""
        self.blocks = blocks
        self._maybe_empty = True
        for b in blocks:
            b.fd = os.open(b.path, os.O_RDWR)
            b.alloc = os.fstat(b.fd).st_size
        self.mblocks = [b for b in blocks if b.first_seq]
        self.mfirst = [b.first_seq for b in self.mblocks]

    # -- staging ----------------------------------------------------------------------------

    def append(self, msg: StoredMsg, ttl: int = 0) -> None:
        """Stage a message record."""
        if msg.seq <= self._committed_last_msg:
            raise ValueError(f"sequence {msg.seq} is not above {self._committed_last_msg}")
        ops = self._ops
        last = ops[-1] if ops else None  # (looked up once: this is every message's)
        if not ttl and last is not None and last[0] == "M" and not last[2]:  # (joins the run)
            last[1].append(msg)
        else:
            ops.append(("M", [msg], ttl))
        self._staged[msg.seq] = msg

    def append_batch(
        self, first_seq: int, ts: int, items: Sequence[tuple[str, bytes | None, bytes]]
    ) -> None:
        """Stage ``(subject, headers, payload)`` records at ``first_seq...``, all at time ``ts``."""
        if first_seq <= self._committed_last_msg:
            raise ValueError(f"sequence {first_seq} is not above {self._committed_last_msg}")
        seqs = range(first_seq, first_seq + len(items))
        msgs = [StoredMsg(s, q, ts, h, p) for q, (s, h, p) in zip(seqs, items, strict=True)]
        self._ops.append(("M", msgs, 0))  # (a run: one op, not one per message)
        self._staged.update(zip(seqs, msgs, strict=True))

    def remove(self, seq: int, *, erase: bool = False) -> None:
        """Stage the removal of one record (``erase`` also zeroes it in place)."""
        if erase:
            self._ops.append(("r", seq, seq, True))
            self._erasing = True
        else:
            self._rm.append(seq)
        self._staged.pop(seq, None)

    def remove_many(self, seqs: list[int]) -> None:
        """Stage the removal of every sequence of ``seqs`` (:meth:`remove` of each, no erase)."""
        self._rm.extend(seqs)
        staged = self._staged
        if staged:
            pop = staged.pop
            for s in seqs:
                pop(s, None)

    def remove_range(self, first: int, last: int) -> None:
        """Stage the removal of ``first..last``."""
        if first > last:
            return
        self._ops.append(("r", first, last, False))
        for s in [s for s in self._staged if first <= s <= last]:
            del self._staged[s]

    def put_meta(self, key: str, value: bytes | None) -> None:
        """Stage a metadata value (two fsynced copies at commit)."""
        self._meta_staged[key] = None if value is None else bytes(value)

    def aux_log(self, name: str) -> JournalAux:
        """The side log ``name``."""
        aux = self.aux.get(name)
        if aux is None:
            aux = self.aux[name] = JournalAux(self.journal, name)
        return aux

    def aux_names(self) -> list[str]:
        """Side logs that exist (committed or staged)."""
        return sorted(self.aux)

    def drop_aux(self, name: str) -> None:
        """Stage the removal of side log ``name``."""
        if self.aux.pop(name, None) is not None:
            self._aux_dropped.add(name)

    # -- commit -----------------------------------------------------------------------------

    async def commit(self) -> None:
        """Make what is staged now durable: one write and one fdatasync, off the event loop.

        It may be called again before an earlier call returns (the store's commits
        of large groups overlap: :data:`write_ahead_min`).  Each call takes what was
        staged when it was made; calls write in that order, and a group of data
        records in the newest block is written while an earlier one syncs (see
        :mod:`.pipeline`); every other group waits until none is in flight.  A call
        returns once its group and every earlier one are durable (a call with
        nothing staged waits for the earlier ones only).
        """
        ops, self._ops = self._ops, []
        rm, self._rm = self._rm, []
        metas = self._meta_staged
        if metas:
            self._meta_staged = {}
        auxes = [(a.name, a.take()) for a in self.aux.values() if a.dirty] if self.aux else []
        dropped = self._aux_dropped
        if dropped:
            self._aux_dropped = set()
        if not ops and not rm and not metas and not auxes and not dropped:
            if self._lock.locked():  # (an earlier call still writing: let it finish)
                async with self._lock:
                    pass
            if self._pipe:
                await self._pipe.settle()
            return
        msgs = self._staged
        self._staged = {}
        self._inflight += 1
        if self._committing:  # (another group in flight: a merged copy, not its dict)
            self._committing = {**self._committing, **msgs}
        else:
            self._committing = msgs
        erasing, self._erasing = self._erasing, False
        written = encoded = None
        try:
            async with self._lock:
                if not (metas or auxes or dropped or erasing):
                    tail = self._pipe.tail
                    g = encode_group(self, ops, _NONE_META, {}, rm, tail)
                    written = await self._write_ahead(g, msgs)
                    if tail is None:  # (encoded over the indexed state: valid on its own too)
                        encoded = g
                if written is None:
                    await self._pipe.settle()
                    await self._commit(ops, rm, metas, auxes, dropped, msgs, encoded)
        except BaseException:
            self.forget(msgs)
            raise
        if written is not None:
            await written.future

    async def _write_ahead(self, g: EncodedGroup, msgs: dict[int, StoredMsg]) -> Written | None:
        """Write a group of data records at the tail, unsynced, and queue it for a sync.

        None when the group is not one for this way (it opens a block, or the block's
        tail must be cut first): the caller commits it on its own.
        """
        pipe = self._pipe
        blk = g.target
        if blk is None or g.new is not None or blk.dirty_tail or not g.size or g.erases:
            return None
        epoch = pipe.epoch
        written = Written(g, msgs, Durable())
        try:
            if blk.fd >= 0 and g.size <= SMALL_GROUP and g.start + g.size <= blk.alloc:
                await self._write_direct(blk, g)
                written.direct = True
                if wants_zeros(blk, g.start + g.size, self.block_size):
                    self._zero_ahead(blk)
            else:
                await self._io.run(self._write, g, _NONE_META, {}, _NONE, [], _NO_AUX, False)
        except OSError as e:
            if epoch == pipe.epoch:  # (else the cut after the failed sync takes these too)
                await self._io.run(undo_write, blk, False, g.start)
            raise StoreIOError(f"write to {self.directory} failed: {e.strerror or e}") from e
        if epoch != pipe.epoch:  # an earlier group's sync failed meanwhile: cut off with it
            raise StoreIOError(f"write to {self.directory} failed: an earlier write failed")
        pipe.add(written)
        # (while its sync runs: a failed one takes the messages back out, _taken_back)
        self.cache.committed(msgs, g)
        return written

    def _zero_ahead(self, blk: Block) -> None:
        """Have the write lane zero the active block's next stretch (:mod:`.zeroing`).

        It holds the block's file like a read does: a close meanwhile waits for it.
        """
        blk.zeroing = True
        blk.readers += 1

        def done(fut: asyncio.Future[bool]) -> None:
            blk.release()
            err = None if fut.cancelled() else fut.exception()
            if err is not None:
                logger.warning("%s: zeroing ahead failed: %s", self.directory, err)
            # (after a failure the block gets no more zeros: the next block tries again)
            blk.zeroing = fut.cancelled() or err is not None or not fut.result()

        self._io.run(zero_ahead, blk, self._is_active, self.block_size).add_done_callback(done)

    def _is_active(self, blk: Block) -> bool:
        return bool(self.blocks) and self.blocks[-1] is blk

    def forget(self, msgs: dict[int, StoredMsg]) -> None:
        """A group's messages leave the in-flight reads (it is indexed, or it failed)."""
        self._inflight -= 1
        if not self._inflight or self._committing is msgs:
            self._committing = {}
        else:
            pop = self._committing.pop
            for s in msgs:
                pop(s, None)

    def _taken_back(self, msgs: dict[int, StoredMsg]) -> None:
        """(From the sync queue) a group written ahead failed: forget its messages."""
        self.forget(msgs)
        self.cache.drop(msgs)

    def _applied(self, w: Written) -> None:
        """(From the sync queue) a group written ahead is durable: index it (its messages
        went into the cache when it was written)."""
        self._indexed(w.g, w.msgs)
        if w.direct:
            self.direct_commits += 1
        self._reclaim_emptied(w.g)

    def _indexed(self, g: EncodedGroup, msgs: dict[int, StoredMsg]) -> None:
        """A durable group's records go into the index (its messages are in the cache)."""
        apply_group(self, g)
        if g.new is not None:  # (the block it sealed may be one that is empty already)
            self._maybe_empty = True
        self.forget(msgs)
        self.hi_seq, self.hi_ts = g.hi_seq, g.hi_ts
        if g.seqs:
            self._committed_last_msg = max(self._committed_last_msg, g.seqs[-1])

    def _reclaim_emptied(self, g: EncodedGroup) -> None:
        """After a durable group that removed messages: delete the blocks it emptied."""
        if g.removals or g.rm_set is not None:
            done = self._reclaim()
            if done is not None:
                done.add_done_callback(self._reclaimed)

    def _reclaimed(self, fut: asyncio.Future[None]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            err = fut.exception()
            logger.warning("%s: deleting emptied blocks failed: %s", self.directory, err)

    async def _commit(
        self,
        ops: list[tuple[Any, ...]],
        rm: list[int],
        metas: dict[str, bytes | None],
        auxes: list[tuple[str, tuple[list[bytes] | None, list[bytes]]]],
        dropped: set[str],
        committing: dict[int, StoredMsg],
        encoded: EncodedGroup | None = None,
    ) -> None:
        """A group on its own (nothing else in flight): written and synced, then indexed.

        ``encoded``: the group already encoded over the indexed state (no metadata).
        """
        try:
            if encoded is not None:
                g, twice, gens = encoded, _NONE, {}
            else:
                if metas:
                    twice, self.meta_twice = self.meta_twice & set(metas), set()
                    gens = {k: self.meta_gen.get(k, 0) + (2 if k in twice else 1) for k in metas}
                else:
                    twice, gens = _NONE, {}
                g = encode_group(self, ops, metas, gens, rm)
            if "index" in metas:
                t = g.target
                end = (t.id, t.size + g.size) if t is not None else (0, 0)
                metas[CKPT_POS] = pos_bytes(*end, gens["index"])
                gens[CKPT_POS] = self.meta_gen.get(CKPT_POS, 0) + 1
            await self._io.run(self._write, g, metas, gens, twice, auxes, dropped)
        except OSError as e:
            raise StoreIOError(f"write to {self.directory} failed: {e.strerror or e}") from e
        self.cache.committed(committing, g)
        self._indexed(g, committing)
        for key, value in metas.items():
            self.meta_once.pop(key, None)
            self.meta_gen[key] = gens[key]
            if value is None or len(value) <= SMALL_META:
                self.meta_small[key] = value
            else:
                self.meta_small.pop(key, None)
        if CKPT_POS in metas:
            self.index_pos = pos_from(metas[CKPT_POS])
        if auxes or dropped:
            self.journal.applied(auxes, dropped)
            if self.journal.needs_compaction():
                try:
                    await self._io.run(self.journal.compact)
                except OSError as e:  # the journal as it is stays valid: compaction retries later
                    logger.warning("%s: side-log compaction failed: %s", self.directory, e)
        self._reclaim_emptied(g)

    def _write(self, g: EncodedGroup, *args: Any) -> None:
        """The commit's I/O, in a thread (:func:`.group.write_group`)."""
        write_group(self, g, *args)

    async def _write_direct(self, blk: Block, g: EncodedGroup) -> None:
        """A small group's bytes into space its block has, on the loop (no sync: the queue's).

        A coroutine that never waits (the fault tests replace it).
        """
        iov, start = g.iov, g.start
        if len(iov) != 1 or os.pwrite(blk.fd, iov[0], start) != len(iov[0]):
            write_parts(blk.fd, iov, start)  # (several parts, or a short write: resumed)

    def locate(self, seq: int) -> tuple[Block | None, int]:
        """The block and offset of committed message ``seq``, or (None, -1)."""
        i = bisect.bisect_right(self.mfirst, seq) - 1
        if i < 0:
            return None, -1
        blk = self.mblocks[i]
        off = blk.locate(seq)
        return (blk, off) if off >= 0 else (None, -1)

    _locate = locate

    def kill(self, first: int, last: int) -> None:
        """Mark ``first..last`` removed in the index."""
        i = max(bisect.bisect_right(self.mfirst, first) - 1, 0)
        while i < len(self.mblocks) and self.mblocks[i].first_seq <= last:
            blk = self.mblocks[i]
            if blk.kill(first, last) and not blk.live:
                self._maybe_empty = True
            i += 1

    def kill_seqs(self, seqs: Sequence[int]) -> None:
        """Mark every sequence of ``seqs`` (ascending) removed in the index.

        :meth:`kill` per sequence, with the block found once per run of sequences in it
        (a group's single removals: a KV bucket's previous revisions).
        """
        mfirst, mblocks = self.mfirst, self.mblocks
        lo = hi = 0
        offs: Any = None
        blk: Block | None = None
        for s in seqs:
            if not lo <= s < hi:
                i = bisect.bisect_right(mfirst, s) - 1
                if i < 0:
                    continue
                blk = mblocks[i]
                offs = blk.offs
                lo = blk.first_seq
                hi = lo + len(offs)
                if s >= hi:
                    continue
            j = s - lo
            if offs[j] != DEAD:
                offs[j] = DEAD
                blk.live -= 1  # type: ignore[union-attr]
                if not blk.live:  # type: ignore[union-attr]
                    self._maybe_empty = True

    def _reclaim(self) -> asyncio.Future[None] | None:
        """Delete blocks whose messages are all removed (see :mod:`.blocks`): they leave the
        index at once, their files in the write lane (the future; None: no block to delete)."""
        if not self._maybe_empty:
            return None
        doomed: list[Block] = []
        for i, b in enumerate(self.blocks[:-1]):
            if b.live == 0 and (i == len(doomed) or b.min_target >= b.first_seq > 0):
                doomed.append(b)
        # (an empty block kept here goes later without emptying again: the active one once
        # a newer block seals it, which sets the flag; one whose removals name older
        # blocks once those are deleted, which needs them emptied, or the same look)
        self._maybe_empty = False
        if not doomed:
            return None
        for b in doomed:
            self.blocks.remove(b)
            if b in self.mblocks:
                j = self.mblocks.index(b)
                del self.mblocks[j], self.mfirst[j]
            b.close_fd()
        return self._io.run(delete_blocks, self.directory, doomed)

    # -- reads ------------------------------------------------------------------------------

    def read_cached(self, seq: int) -> StoredMsg | None:
        """The message when it is at hand: in memory (staged, recent or read ahead), or in the
        page cache (a ``RWF_NOWAIT`` read, which fails rather than wait for the disk); else None.

        The page-cache read is what keeps a consumer reading an old part of the stream on
        the event loop: the thread hop of :meth:`read` costs more than the read itself.
        A record that fails its checksum is left to :meth:`read` (which reports it).
        """
        cache = self.cache
        m = (
            self._staged.get(seq)
            or self._committing.get(seq)
            or cache.recent.get(seq)
            or cache.ahead.get(seq)
        )
        if m is not None or not _NOWAIT:
            return m
        blk, off = self.locate(seq)
        if blk is None or blk.fd < 0:
            return None
        span = cache.span(seq)
        buf = bytearray(span)
        try:
            n = os.preadv(blk.fd, [buf], off, _NOWAIT)
            total = record_length(buf, n)
            if total > BIG_RECORD or total > n:  # (an object chunk, or longer than the read:
                # read whole, decoded from the buffer, nothing read ahead)
                if off + total > blk.size:  # (a bad length: read() reports it)
                    return None
                if total > n:
                    buf = bytearray(total)
                    if os.preadv(blk.fd, [buf], off, _NOWAIT) != total:
                        return None
                cache.read_from_disk(seq, total)
                return decode_msg(seq, memoryview(buf)[:total])
            data, ahead = split_span(bytes(buf) if n == span else bytes(buf[:n]))
        except OSError:  # EAGAIN: not (all) in the page cache; or no RWF_NOWAIT support
            return None
        except CorruptRecordError:
            return None
        if data is None:
            return None
        cache.read_from_disk(seq, len(data))
        cache.keep_ahead(blk, off, ahead)
        try:
            return decode_msg(seq, data)
        except CorruptRecordError:
            return None

    async def read(self, seq: int) -> StoredMsg | None:
        """A staged or committed message; the checksum is verified on every disk read.

        A disk read takes ``READ_AHEAD`` bytes: the records after the one asked
        for are verified too and kept (a few thousand at most) for a sequential
        reader's next calls.
        """
        cache = self.cache
        m = (
            self._staged.get(seq)
            or self._committing.get(seq)
            or cache.recent.get(seq)
            or cache.ahead.get(seq)
        )
        if m is not None:
            return m
        blk, off = self.locate(seq)
        if blk is None or blk.fd < 0:
            return None
        span = cache.span(seq)
        blk.readers += 1
        try:
            data, ahead = await asyncio.to_thread(read_span, blk.fd, off, span)
        except OSError as e:
            raise StoreIOError(f"read of sequence {seq} failed: {e.strerror or e}") from e
        finally:
            blk.release()
        if blk.locate(seq) < 0:
            return None  # removed while we read
        cache.read_from_disk(seq, len(data))
        cache.keep_ahead(blk, off, ahead)
        return decode_msg(seq, data)

    async def get_meta(self, key: str) -> bytes | None:
        """A committed metadata value."""
        if key in self.meta_small:
            return self.meta_small[key]
        if key in self.meta_once:  # a large value read at open, handed over once
            return self.meta_once.pop(key)
        if key not in self.meta_gen:
            return None
        from natskern.plugins.storage.filelog.meta import read_meta

        copy, _ = await asyncio.to_thread(read_meta, self.directory, key)
        return copy.value if copy is not None and copy.present else None

    # -- lifecycle --------------------------------------------------------------------------

    async def close(self) -> None:
        """Commit what is staged, write the block-index checkpoint and close the files."""
        if self.closed:
            return
        try:
            await self.commit()
            async with self._lock:
                await self._io.run(_recovery.write_checkpoint, self)
        finally:  # (a failed last commit: no checkpoint, the next open scans)
            await self._pipe.settle()  # (no sync in flight when the files close)
            self.closed = True
            self._let_go_of_aio()
            for b in self.blocks:
                b.close_fd()
            self.journal.close()
            if self._lockfd >= 0:
                os.close(self._lockfd)
                self._lockfd = -1
            await self._io.stop()
            await self._sync_lane.stop()

    def _let_go_of_aio(self) -> None:
        sync, self._sync = self._sync, None
        self._pipe.aio = None
        if sync is not None:
            aio_release(sync)

    async def destroy(self) -> None:
        """Remove every file of the log."""
        await self._pipe.settle()
        self.closed = True
        self._let_go_of_aio()
        for b in self.blocks:
            b.close_fd()
        self.journal.close()
        self.blocks = []
        try:
            await self._io.run(_recovery.remove_all, self.directory)
        finally:
            if self._lockfd >= 0:
                os.close(self._lockfd)
                self._lockfd = -1
            await self._io.stop()
            await self._sync_lane.stop()
