"""The file store's :class:`~natskern.kernel.store.log.RecordLog`: block files on a local disk.

* ``commit`` encodes the staged group into one buffer, then in a thread: one
  ``pwrite`` at the end of the newest block and one ``fdatasync`` (plus a
  directory fsync when the group opened a new block).  It always syncs: a lazy
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
import contextlib
import fcntl
import os
from typing import Any

from natskern.kernel.store.api import CorruptRecordError, StoredMsg, StoreIOError
from natskern.kernel.store.log import Recovery
from natskern.plugins.storage.filelog import recovery as _recovery
from natskern.plugins.storage.filelog.aux import AuxFile
from natskern.plugins.storage.filelog.blocks import Block, read_record
from natskern.plugins.storage.filelog.codec import (
    ERASED,
    FLAG_HEADERS,
    HEADER,
    MAGIC,
    MSG,
    OVERHEAD,
    checksum,
    encode_erased,
    encode_meta,
    encode_msg,
    encode_removal,
)
from natskern.plugins.storage.filelog.meta import pos_bytes, pos_from, write_meta_copy

__all__ = ["DEFAULT_BLOCK_SIZE", "FileLog"]

#: 8 MiB: what nats-server uses for stream blocks.  A block is the unit of space
#: reclaim (a block is deleted once all its messages are) and is read whole by the
#: recovery scan, so it bounds both the space a mostly-removed stream keeps and the
#: scanner's buffer; 1 GiB is ~130 files.
DEFAULT_BLOCK_SIZE = 8 << 20
#: Metadata values up to this size are also written into the data (rebuildable).
SMALL_META = 64 << 10
INTERNAL = "~"  # key prefix of the log's own metadata
CKPT_BLOCKS = "~blocks"
CKPT_POS = "~index-pos"


class FileLog:
    """One stream's block files, metadata copies and side logs in ``directory``."""

    durable = True

    def __init__(
        self, directory: str, *, sync: str | int = "always", block_size: int = DEFAULT_BLOCK_SIZE
    ) -> None:
        self.directory = directory
        self.sync = sync
        self.block_size = int(block_size)
        self.blocks: list[Block] = []
        self._mblocks: list[Block] = []  # blocks holding messages, by first_seq
        self._mfirst: list[int] = []
        self.hi_seq = 0
        self.hi_ts = 0
        #: Highest message sequence committed (appends must be above it).
        self._committed_last_msg = 0
        self._ops: list[tuple[Any, ...]] = []
        self._staged: dict[int, StoredMsg] = {}
        self._committing: dict[int, StoredMsg] = {}
        self._meta_staged: dict[str, bytes | None] = {}
        self.meta_gen: dict[str, int] = {}
        self.meta_small: dict[str, bytes | None] = {}
        #: Keys whose two copies were both bad: the next write writes both.
        self.meta_twice: set[str] = set()
        #: Where the data ended when the store's "index" checkpoint was committed, and the
        #: generation of that checkpoint: (block id, offset, generation).
        self.index_pos = (0, 0, 0)
        self.aux: dict[str, AuxFile] = {}
        self._aux_dropped: set[str] = set()
        self._lock = asyncio.Lock()
        self._lockfd = -1
        self.closed = True

    # -- open -------------------------------------------------------------------------------

    async def open(self) -> Recovery:
        """Open or create the log: load the clean-close checkpoint, or scan and verify."""
        rec = await asyncio.to_thread(_recovery.open_log, self)
        self.closed = False
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

    def set_blocks(self, blocks: list[Block]) -> None:
        """Install the recovered blocks (and open their files for reading and appending)."""
        self.blocks = blocks
        for b in blocks:
            b.fd = os.open(b.path, os.O_RDWR)
        self._mblocks = [b for b in blocks if b.first_seq]
        self._mfirst = [b.first_seq for b in self._mblocks]

    # -- staging ----------------------------------------------------------------------------

    def append(self, msg: StoredMsg, ttl: int = 0) -> None:
        """Stage a message record."""
        if msg.seq <= self._committed_last_msg:
            raise ValueError(f"sequence {msg.seq} is not above {self._committed_last_msg}")
        self._ops.append(("m", msg, ttl))
        self._staged[msg.seq] = msg

    def remove(self, seq: int, *, erase: bool = False) -> None:
        """Stage the removal of one record (``erase`` also zeroes it in place)."""
        self._ops.append(("r", seq, seq, erase))
        self._staged.pop(seq, None)

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

    def aux_log(self, name: str) -> AuxFile:
        """The side log ``name``."""
        aux = self.aux.get(name)
        if aux is None:
            aux = self.aux[name] = AuxFile(self.directory, name)
            self._aux_dropped.discard(name)
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
        """Write the staged group with one write and one fdatasync, off the event loop."""
        async with self._lock:
            await self._commit()

    async def _commit(self) -> None:
        ops, self._ops = self._ops, []
        metas, self._meta_staged = self._meta_staged, {}
        auxes = [(a, a.take()) for a in self.aux.values() if a.dirty]
        dropped, self._aux_dropped = self._aux_dropped, set()
        if not ops and not metas and not auxes and not dropped:
            return
        self._committing, self._staged = self._staged, {}
        try:
            parts: list[bytes] = []
            placed: list[tuple[int, int]] = []  # (seq, offset in the group)
            removals: list[tuple[int, int]] = []
            erases: list[tuple[Block, int]] = []
            rel = 0
            hi_seq, hi_ts = self.hi_seq, self.hi_ts
            for op in ops:
                if op[0] == "m":
                    m: StoredMsg = op[1]
                    rec = encode_msg(m.seq, m.ts, op[2], m.subject.encode(), m.headers, m.payload)
                    placed.append((m.seq, rel))
                    if m.seq > hi_seq:
                        hi_seq, hi_ts = m.seq, m.ts
                else:
                    rec = encode_removal(op[1], op[2], max(hi_seq, op[2]), hi_ts)
                    removals.append((op[1], op[2]))
                    if op[3]:
                        blk, off = self._locate(op[1])
                        if blk is not None:
                            erases.append((blk, off))
                    if op[2] > hi_seq:
                        hi_seq = op[2]
                parts.append(rec)
                rel += len(rec)
            twice, self.meta_twice = self.meta_twice & set(metas), set()
            gens = {k: self.meta_gen.get(k, 0) + (2 if k in twice else 1) for k in metas}
            for key, value in metas.items():
                if _in_data(key, value):
                    parts.append(encode_meta(key.encode(), value, gens[key]))
            buf = b"".join(parts)
            active = self.blocks[-1] if self.blocks else None
            new: Block | None = None
            if buf and (
                active is None or (active.size and active.size + len(buf) > self.block_size)
            ):
                new = Block(self.directory, active.id + 1 if active else 1)
                small = {**self.meta_small, **metas}
                head = b"".join(
                    encode_meta(k.encode(), v, self.meta_gen.get(k, 0))
                    for k, v in small.items()
                    if k not in metas and _in_data(k, v)
                )
                buf = head + buf
                placed = [(s, o + len(head)) for s, o in placed]
            target = new or active
            if "index" in metas:
                end = (target.id, target.size + len(buf)) if target is not None else (0, 0)
                metas[CKPT_POS] = pos_bytes(*end, gens["index"])
                gens[CKPT_POS] = self.meta_gen.get(CKPT_POS, 0) + 1
            results = await asyncio.to_thread(
                self._write,
                target,
                new is not None,
                buf,
                erases,
                metas,
                gens,
                twice,
                auxes,
                dropped,
            )
        except OSError as e:
            raise StoreIOError(f"write to {self.directory} failed: {e.strerror or e}") from e
        finally:
            self._committing = {}
        # success: apply to the index (on the loop)
        if target is not None and buf:
            base = target.size
            if new is not None:
                self.blocks.append(new)
            for seq, off in placed:
                target.add(seq, base + off)
            if (
                placed
                and target.first_seq
                and (not self._mblocks or self._mblocks[-1] is not target)
            ):
                self._mblocks.append(target)
                self._mfirst.append(target.first_seq)
            target.size = base + len(buf)
            for first, last in removals:
                target.min_target = min(target.min_target, first)
                self._kill(first, last)
        self.hi_seq, self.hi_ts = hi_seq, hi_ts
        if placed:
            self._committed_last_msg = max(self._committed_last_msg, placed[-1][0])
        for key, value in metas.items():
            self.meta_gen[key] = gens[key]
            if value is None or len(value) <= SMALL_META:
                self.meta_small[key] = value
            else:
                self.meta_small.pop(key, None)
        if CKPT_POS in metas:
            self.index_pos = pos_from(metas[CKPT_POS])
        for aux, (agen, aend) in results:
            aux.gen, aux.end = agen, aend
        if removals:
            await self._reclaim()

    def _write(
        self,
        blk: Block | None,
        created: bool,
        buf: bytes,
        erases: list[tuple[Block, int]],
        metas: dict[str, bytes | None],
        gens: dict[str, int],
        twice: set[str],
        auxes: list[tuple[AuxFile, tuple[list[bytes] | None, list[bytes]]]],
        dropped: set[str],
    ) -> list[tuple[AuxFile, tuple[int, int]]]:
        """The commit's I/O (in a thread); on an error the data is truncated back."""
        dir_sync = False
        if blk is not None and buf:
            if created:
                blk.fd = os.open(blk.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            elif blk.dirty_tail:
                os.ftruncate(blk.fd, blk.size)
                blk.dirty_tail = False
            start = 0 if created else blk.size
            try:
                _write_all(blk.fd, buf, start)
                synced = {blk.fd}
                for eb, off in erases:
                    _erase(eb.fd, off)
                    if eb.fd not in synced:
                        os.fdatasync(eb.fd)
                os.fdatasync(blk.fd)
                if created:
                    _fsync_dir(self.directory)
            except OSError:
                self._undo(blk, created, start)
                raise
        results = []
        try:
            for aux, staged in auxes:
                gen, end, ds = aux.write(staged)
                results.append((aux, (gen, end)))
                dir_sync = dir_sync or ds
            if dir_sync:
                _fsync_dir(self.directory)
                for aux, (gen, _end) in results:
                    if gen > 1 and gen != aux.gen:
                        _unlink(_aux_path(aux, gen - 1))
            for key, value in metas.items():
                created = key in twice and write_meta_copy(
                    self.directory, key, gens[key] - 1, value
                )
                if write_meta_copy(self.directory, key, gens[key], value) or created:
                    _fsync_dir(self.directory)
            for name in dropped:
                for gen in _recovery.aux_gens(self.directory, name):
                    _unlink(_aux_path(AuxFile(self.directory, name), gen))
            if dropped:
                _fsync_dir(self.directory)
        except OSError:
            if blk is not None and buf:
                self._undo(blk, created, 0 if created else blk.size)
            raise
        return results

    def _undo(self, blk: Block, created: bool, start: int) -> None:
        """Take a failed group's bytes back out of the block."""
        try:
            if created:
                os.close(blk.fd)
                blk.fd = -1
                os.unlink(blk.path)
            else:
                os.ftruncate(blk.fd, start)
                os.fdatasync(blk.fd)
        except OSError:
            blk.dirty_tail = not created

    def _locate(self, seq: int) -> tuple[Block | None, int]:
        import bisect

        i = bisect.bisect_right(self._mfirst, seq) - 1
        if i < 0:
            return None, -1
        blk = self._mblocks[i]
        off = blk.locate(seq)
        return (blk, off) if off >= 0 else (None, -1)

    def _kill(self, first: int, last: int) -> None:
        import bisect

        i = max(bisect.bisect_right(self._mfirst, first) - 1, 0)
        while i < len(self._mblocks) and self._mblocks[i].first_seq <= last:
            self._mblocks[i].kill(first, last)
            i += 1

    async def _reclaim(self) -> None:
        """Delete blocks whose messages are all removed (see :mod:`.blocks`)."""
        doomed: list[Block] = []
        for i, b in enumerate(self.blocks[:-1]):
            if b.live == 0 and (i == len(doomed) or b.min_target >= b.first_seq > 0):
                doomed.append(b)
        if not doomed:
            return
        for b in doomed:
            self.blocks.remove(b)
            if b in self._mblocks:
                j = self._mblocks.index(b)
                del self._mblocks[j], self._mfirst[j]
        for b in doomed:
            b.close_fd()
        await asyncio.to_thread(_delete_blocks, self.directory, doomed)

    # -- reads ------------------------------------------------------------------------------

    async def read(self, seq: int) -> StoredMsg | None:
        """A staged or committed message; the checksum is verified on every read."""
        m = self._staged.get(seq) or self._committing.get(seq)
        if m is not None:
            return m
        blk, off = self._locate(seq)
        if blk is None or blk.fd < 0:
            return None
        blk.readers += 1
        try:
            data = await asyncio.to_thread(read_record, blk.fd, off)
        except OSError as e:
            raise StoreIOError(f"read of sequence {seq} failed: {e.strerror or e}") from e
        finally:
            blk.readers -= 1
            if blk.closing and blk.readers == 0:
                blk.close_fd()
        if blk.locate(seq) < 0:
            return None  # removed while we read
        return decode_msg(seq, data)

    async def get_meta(self, key: str) -> bytes | None:
        """A committed metadata value."""
        if key in self.meta_small:
            return self.meta_small[key]
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
        await self.commit()
        async with self._lock:
            await asyncio.to_thread(_recovery.write_checkpoint, self)
            self.closed = True
            for b in self.blocks:
                b.close_fd()
            if self._lockfd >= 0:
                os.close(self._lockfd)
                self._lockfd = -1

    async def destroy(self) -> None:
        """Remove every file of the log."""
        self.closed = True
        for b in self.blocks:
            b.close_fd()
        self.blocks = []
        await asyncio.to_thread(_recovery.remove_all, self.directory)
        if self._lockfd >= 0:
            os.close(self._lockfd)
            self._lockfd = -1


def decode_msg(seq: int, data: bytes) -> StoredMsg:
    """The message in ``data`` (a whole record) after checking it; CorruptRecordError if bad."""
    if len(data) < OVERHEAD:
        raise CorruptRecordError(seq, "short record")
    magic, kind, flags, total, rseq, ts, _ttl, slen, hlen = HEADER.unpack_from(data)
    if magic != MAGIC or total != len(data) or OVERHEAD + slen + hlen > total:
        raise CorruptRecordError(seq, "bad record header")
    if checksum(memoryview(data)[:-8]) != data[-8:]:
        raise CorruptRecordError(seq, "checksum mismatch")
    if kind == ERASED:
        raise CorruptRecordError(seq, "record erased but still indexed")
    if kind != MSG or rseq != seq:
        raise CorruptRecordError(seq, f"index points at a record of sequence {rseq}")
    p = HEADER.size
    subject = data[p : p + slen].decode("utf-8", "surrogateescape")
    p += slen
    headers = data[p : p + hlen] if flags & FLAG_HEADERS else None
    return StoredMsg(subject, seq, ts, headers, data[p + hlen : -8])


def _in_data(key: str, value: bytes | None) -> bool:
    """Whether a metadata value is also written into the data (small, rebuildable ones)."""
    return (
        key != "index"
        and not key.startswith(INTERNAL)
        and (value is None or len(value) <= SMALL_META)
    )


def _write_all(fd: int, data: bytes, off: int) -> None:
    view = memoryview(data)
    done = 0
    while done < len(data):
        done += os.pwrite(fd, view[done:], off + done)


def _erase(fd: int, off: int) -> None:
    head = os.pread(fd, HEADER.size, off)
    _m, _k, _f, total, seq, ts, *_ = HEADER.unpack_from(head)
    _write_all(fd, encode_erased(seq, ts, total), off)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _aux_path(aux: AuxFile, gen: int) -> str:
    from natskern.plugins.storage.filelog.aux import aux_path

    return aux_path(aux.directory, aux.name, gen)


def _delete_blocks(directory: str, blocks: list[Block]) -> None:
    """Unlink blocks oldest first, syncing the directory after each (order matters)."""
    for b in blocks:
        _unlink(b.path)
        _fsync_dir(directory)
