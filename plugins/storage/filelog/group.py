"""One group commit of the file log: encoding the staged group, and its I/O (in a thread).

:func:`encode_group` turns the staged operations into ONE buffer for the end of
the newest block (or of a new block, headed by the small metadata values, when
the group would pass the block size), every removal in it twice (its record in
place, and a second copy at the group's end: see :mod:`.codec`).  The buffer is a
list of parts (``iov``): the small records between two large payloads are joined,
a large payload is a part of its own, never copied (an object chunk is written
from the bytes the parser made).
:func:`write_group` runs in a thread: one ``pwritev``, one ``fdatasync`` (and a
directory fsync for a new block), then the side logs and metadata copies.  On any
error the group's bytes are truncated back out of the block (if that fails too,
``dirty_tail`` makes the next commit retry it before writing), so no later group
is ever acknowledged on top of a partial one.
"""

from __future__ import annotations

import contextlib
import os
import struct
from array import array
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from natskern.plugins.storage.filelog.blocks import Block
from natskern.plugins.storage.filelog.codec import (
    FLAG_ECHO,
    FLAG_HEADERS,
    FLAG_XXH3,
    HEADER,
    MAGIC,
    MSG,
    OVERHEAD,
    encode_erased,
    encode_meta,
    encode_removal,
    encode_removal_set,
)
from natskern.plugins.storage.filelog.meta import write_meta_copy
from natskern.plugins.storage.filelog.sidecar import BlockAcc, encode_sidecar
from natskern.plugins.storage.filelog.writeback import (
    STREAMING_MIN,
    start_writeback,
    write_streaming,
)
from xxhash import xxh3_64, xxh3_64_digest

if TYPE_CHECKING:
    from natskern.plugins.storage.filelog.log import FileLog

__all__ = [
    "PREALLOC",
    "PREALLOC_MIN",
    "EncodedGroup",
    "encode_group",
    "reserve",
    "trim",
    "undo_write",
    "write_group",
    "write_parts",
]

#: The size the stream's ``bytes`` counts per message is nats-server's file-store formula
#: (``record_size`` in the store), computed inline from these.
from natskern.kernel.store.base import HEADERS_OVERHEAD, RECORD_OVERHEAD

#: Metadata values up to this size are also written into the data (rebuildable).
SMALL_META = 64 << 10
#: A payload at least this large is not copied into its record's bytes before the
#: group's join (the checksum is taken over the record's parts instead).
_BIG_PAYLOAD = 4096
#: How far ahead of its data the active block is allocated (see :func:`reserve`).
PREALLOC = 1 << 20
PREALLOC_MIN = 64 << 10
#: The most parts one ``pwritev`` takes.
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024)
INTERNAL = "~"  # key prefix of the log's own metadata
#: A message record's header (:data:`.codec.HEADER`) with its magic, kind and flags
#: as one little-endian ``uint32`` (the same bytes, two arguments fewer per record),
#: and that first field without / with a header block.
_HEAD = struct.Struct("<IIQqqHI")
_PLAIN = MAGIC | MSG << 16 | FLAG_XXH3 << 24
_HDRS = MAGIC | MSG << 16 | (FLAG_HEADERS | FLAG_XXH3) << 24
#: A record's length less its stored size as the stream counts it (nats-server's
#: formula), without / with headers.
_LESS = OVERHEAD - RECORD_OVERHEAD
_LESS_HDRS = OVERHEAD - RECORD_OVERHEAD - HEADERS_OVERHEAD


def in_data(key: str, value: bytes | None) -> bool:
    """Whether a metadata value is also written into the data (small, rebuildable ones)."""
    if key == "index" or key.startswith(INTERNAL):
        return False
    return value is None or len(value) <= SMALL_META


@dataclass(slots=True)
class EncodedGroup:
    """A staged group, encoded; applied to the index once its write succeeded."""

    #: The group's bytes, in order (joined small records, large payloads as they are),
    #: and their total length.
    iov: list[bytes] = field(default_factory=list)
    size: int = 0
    target: Block | None = None
    #: Where in ``target`` the group's bytes go (0 in a new block).
    start: int = 0
    new: Block | None = None
    #: The message records placed, as columns: sequence, offset in ``buf``, time,
    #: subject bytes, counted size; and the non-zero TTLs by sequence.
    seqs: list[int] = field(default_factory=list)
    offs: list[int] = field(default_factory=list)
    tss: list[int] = field(default_factory=list)
    subjs: list[bytes] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    ttls: dict[int, int] = field(default_factory=dict)
    #: (first, last, hint_seq, hint_ts)
    removals: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: The group's single removals written as one ``SET`` record (ascending), its hint.
    rm_set: array | None = None
    rm_hint: tuple[int, int] = (0, 0)
    erases: list[tuple[Block, int]] = field(default_factory=list)
    #: Metadata records written into the data: (key, value, generation).
    data_metas: list[tuple[bytes, bytes | None, int]] = field(default_factory=list)
    hi_seq: int = 0
    hi_ts: int = 0
    #: The block the group seals and its sidecar, if any.
    sealed: Block | None = None
    sidecar: list[bytes] | None = None


def encode_group(
    log: FileLog,
    ops: list[tuple[Any, ...]],
    metas: dict[str, bytes | None],
    gens: dict[str, int],
    rm: list[int] | None = None,
    tail: tuple[Block, int, int, int] | None = None,
) -> EncodedGroup:
    """Encode ``ops``, the single removals ``rm`` and the small ``metas`` into the group's
    parts (one ``pwritev``: the small records joined, each large payload as it is).

    The removals of ``rm`` (sequences removed one by one, not erased) go into one
    ``SET`` record after the group's other records (a ``DEL`` record when there is
    only one), and its second copy at the group's end with the others'.

    The message records are built inline (what :func:`.codec.encode_msg` does, with
    no intermediate bytearray: header and body, then the checksum, are parts; a payload
    of ``_BIG_PAYLOAD`` bytes or more is not copied at all): this loop is the file
    store's cost per message at commit time.

    ``tail`` is where the groups written but not yet applied end (see
    :class:`~.log.FileLog`): ``(block, end, hi_seq, hi_ts)``; without it, the
    log's newest block and its size.
    """
    if tail is None:
        active = log.blocks[-1] if log.blocks else None
        end = active.size if active is not None else 0
        g = EncodedGroup(hi_seq=log.hi_seq, hi_ts=log.hi_ts)
    else:
        active, end, hi_s, hi_t = tail
        g = EncodedGroup(hi_seq=hi_s, hi_ts=hi_t)
    parts: list[bytes] = []  # (the small records since the last large payload)
    iov: list[bytes] = []
    add = parts.append
    rel = 0
    # a message erased in the very group that stores it never reaches the disk
    erased = {op[1] for op in ops if op[0] == "r" and op[3]}
    p_size = g.sizes.append
    hi_seq, hi_ts = g.hi_seq, g.hi_ts
    pack, digest = _HEAD.pack, xxh3_64_digest
    names = log.subject_bytes
    if len(names) > 10_000:  # (a cache, bounded: a stream may have millions of subjects)
        names.clear()
    for op in ops:
        if op[0] == "M":  # a run of messages, all with TTL op[2]
            run, ttl = op[1], op[2]
            if erased:
                for m in run:
                    if m.seq in erased:
                        hi_seq, hi_ts = max((hi_seq, hi_ts), (m.seq, m.ts))
                run = [m for m in run if m.seq not in erased]
                if not run:
                    continue
            if ttl:
                g.ttls.update((m.seq, ttl) for m in run)
            # The columns in comprehensions (C loops); the records in one loop, with each
            # record's length (its header's total) giving the offsets and stored sizes.
            try:
                subjs = [names[m.subject] for m in run]
            except KeyError:
                for m in run:
                    if m.subject not in names:
                        names[m.subject] = m.subject.encode()
                subjs = [names[m.subject] for m in run]
            seqs = [m.seq for m in run]
            g.seqs += seqs
            g.tss += [m.ts for m in run]
            g.subjs += subjs
            tots: list[int] = []
            p_tot = tots.append
            for m, subj in zip(run, subjs, strict=True):
                p = m.payload
                pl, sl, h = len(p), len(subj), m.headers
                if h is None:
                    t = OVERHEAD + sl + pl
                    head = pack(_PLAIN, t, m.seq, m.ts, ttl, sl, 0) + subj
                    p_size(t - _LESS)
                else:
                    hl = len(h)
                    t = OVERHEAD + sl + hl + pl
                    head = pack(_HDRS, t, m.seq, m.ts, ttl, sl, hl) + subj + h
                    p_size(t - _LESS_HDRS if hl else t - _LESS)
                p_tot(t)
                if pl < _BIG_PAYLOAD:
                    body = head + p
                    add(body)
                    add(digest(body))
                else:  # a large payload is hashed and written as it is, not copied at all
                    hasher = xxh3_64(head)
                    hasher.update(p)
                    add(head)
                    iov.append(b"".join(parts))
                    parts.clear()
                    iov.append(p)
                    add(hasher.digest())
            offs = list(accumulate(tots, initial=rel))
            rel = offs.pop()
            g.offs += offs
            top = max(seqs)
            if top > hi_seq:
                hi_seq, hi_ts = top, run[seqs.index(top)].ts
            continue
        g.hi_seq, g.hi_ts = hi_seq, hi_ts  # (a removal: on g, then back)
        hint = max(g.hi_seq, op[2])
        rec = encode_removal(op[1], op[2], hint, g.hi_ts)
        g.removals.append((op[1], op[2], hint, g.hi_ts))
        if op[3]:
            blk, off = log.locate(op[1])
            if blk is not None:
                g.erases.append((blk, off))
        g.hi_seq = max(g.hi_seq, op[2])
        add(rec)
        rel += len(rec)
        hi_seq, hi_ts = g.hi_seq, g.hi_ts
    g.hi_seq, g.hi_ts = hi_seq, hi_ts
    if rm:
        if len(rm) == 1:
            s = rm[0]
            hint = max(hi_seq, s)
            g.removals.append((s, s, hint, hi_ts))
            add(encode_removal(s, s, hint, hi_ts))
        else:
            rs = g.rm_set = array("Q", sorted(rm))
            hint = max(hi_seq, rs[-1])
            g.rm_hint = (hint, hi_ts)
            add(encode_removal_set(rs, hint, hi_ts))
        g.hi_seq = hint
    for key, value in metas.items():
        if in_data(key, value):
            g.data_metas.append((key.encode(), value, gens[key]))
            add(encode_meta(key.encode(), value, gens[key]))
    # every removal's second copy, as far from the first as the group allows (its end)
    parts.extend(encode_removal(*r, flags=FLAG_ECHO) for r in g.removals)
    if g.rm_set is not None:
        parts.append(encode_removal_set(g.rm_set, *g.rm_hint, flags=FLAG_ECHO))
    if parts:
        iov.append(b"".join(parts))
    size = sum(map(len, iov))
    g.target, g.start = active, end
    if size and (active is None or (end and end + size > log.block_size)):
        g.new = g.target = Block(log.directory, active.id + 1 if active else 1)
        g.start = 0
        g.new.acc = BlockAcc()
        head_metas = [
            (k.encode(), v, log.meta_gen.get(k, 0))
            for k, v in log.meta_small.items()
            if k not in metas and in_data(k, v)
        ]
        head = b"".join(encode_meta(*hm) for hm in head_metas)
        g.data_metas[:0] = head_metas
        if head:
            iov.insert(0, head)
            size += len(head)
            g.offs = [o + len(head) for o in g.offs]
        if active is not None and active.acc is not None:
            g.sealed = active
            g.sidecar = encode_sidecar(active.acc, active.size, active.first_seq, active.offs)
    g.iov, g.size = iov, size
    return g


def apply_group(log: FileLog, g: EncodedGroup) -> None:
    """Index a group whose write succeeded (on the loop)."""
    target = g.target
    if target is None or not g.size:
        return
    base = target.size
    if g.new is not None:
        log.blocks.append(g.new)
    acc = target.acc
    seqs = g.seqs
    if seqs:
        first = seqs[0]
        n = len(seqs)
        if seqs[-1] - first == n - 1:  # consecutive sequences: the columns in bulk
            offs = g.offs
            gap = target.add(first, base + offs[0])
            if n > 1:
                target.add_run([base + o for o in offs[1:]] if base else offs[1:])
            if acc is not None:
                acc.add_run(gap, g.tss, g.subjs, g.sizes)
        else:
            for seq, off, ts, subj, size in zip(seqs, g.offs, g.tss, g.subjs, g.sizes, strict=True):
                gap = target.add(seq, base + off)
                if acc is not None:
                    acc.add(gap, ts, subj, size)
        if acc is not None and g.ttls:
            acc.ttls.update(g.ttls)
        if target.first_seq and (not log.mblocks or log.mblocks[-1] is not target):
            log.mblocks.append(target)
            log.mfirst.append(target.first_seq)
    target.size = base + g.size
    if acc is not None:
        update = acc.hasher.update
        for part in g.iov:
            update(part)
        acc.metas.extend(g.data_metas)
        try:
            if g.removals:
                acc.add_removals(g.removals)
            if g.rm_set is not None:
                acc.add_removal_set(g.rm_set, *g.rm_hint)
        except OverflowError:  # (past int64, never written here: no sidecar, a scan)
            target.acc = None
    for first, last, _h, _t in g.removals:
        target.min_target = min(target.min_target, first)
        log.kill(first, last)
    rs = g.rm_set
    if rs is not None:
        target.min_target = min(target.min_target, rs[0])
        log.kill_seqs(rs)
    for eb, _off in g.erases:
        eb.acc = None  # rewritten in place: its running digest no longer holds
    if g.sealed is not None:
        # (its sidecar is encoded: the accumulator, a slot's time, subject and size and
        # every removal record of the block, would otherwise stay as long as the log)
        g.sealed.acc = None


def write_group(
    log: FileLog,
    g: EncodedGroup,
    metas: dict[str, bytes | None],
    gens: dict[str, int],
    twice: AbstractSet[str],
    auxes: list[tuple[str, tuple[list[bytes] | None, list[bytes]]]],
    dropped: set[str],
    synced: bool = True,
) -> None:
    """The commit's I/O (in a thread); on an error the data is truncated back.

    ``synced=False`` (a group of data records only, written while an earlier one
    syncs: see :class:`~.log.FileLog`): written, its write-back started, not synced.
    """
    blk, size, created, d = g.target, g.size, g.new is not None, log.directory
    if blk is not None and size:
        if created:
            blk.fd = os.open(blk.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        elif blk.dirty_tail:
            os.ftruncate(blk.fd, blk.size)
            blk.alloc = blk.size
            blk.dirty_tail = False
        start = g.start
        try:
            if start + size > blk.alloc:
                reserve(blk, start + size, log.block_size)
            if size >= STREAMING_MIN:
                write_streaming(blk.fd, g.iov, start, write_parts)
            else:
                write_parts(blk.fd, g.iov, start)
            if not synced:
                start_writeback(blk.fd, start, size)
                return
            for eb, off in g.erases:
                _erase(eb.fd, off)
                if eb is not blk:
                    os.fdatasync(eb.fd)
            os.fdatasync(blk.fd)
            if created:
                fsync_dir(d)
        except OSError:
            undo_write(blk, created, start)
            raise
        if g.sealed is not None:
            if g.sidecar is not None:
                with contextlib.suppress(OSError):  # best effort: without it, recovery scans
                    _write_file(g.sealed.path[:-4] + ".idx", g.sidecar)
            trim(g.sealed)
    mark = log.journal.mark()
    try:
        if auxes or dropped:
            log.journal.write(auxes, dropped)  # one write + one fdatasync for every side log
        for key, value in metas.items():
            made = key in twice and write_meta_copy(d, key, gens[key] - 1, value)
            if write_meta_copy(d, key, gens[key], value) or made:
                fsync_dir(d)
    except OSError:
        if blk is not None and size:
            undo_write(blk, created, 0 if created else g.start)
        if auxes or dropped:
            log.journal.rollback(mark)
        raise


def reserve(blk: Block, end: int, block_size: int) -> None:
    """Allocate the active block ahead of a write that ends at ``end``, within the block
    size (best effort: without it the write appends).  The first reservation of a block
    is ``PREALLOC_MIN`` bytes, each next one twice the last, up to ``PREALLOC``: a
    stream that writes little (a KV bucket among hundreds) holds little unused space.

    ``fallocate`` extends the file with zeros without writing them; the write that
    first reaches the space pays the new length once, and the groups after it
    overwrite space the file has: their ``fdatasync`` flushes data, no file length.
    """
    step = min(PREALLOC, max(PREALLOC_MIN, 2 * blk.ahead))
    want = max(end, min(end + step, block_size))
    if want <= end:
        return
    try:
        os.posix_fallocate(blk.fd, blk.alloc, want - blk.alloc)
    except OSError:  # (a full disk, a file system without it: the write appends)
        return
    blk.alloc = want
    blk.ahead = step


def trim(blk: Block) -> None:
    """Cut a block's file back to its data (it is sealed, or the log closes).

    Not synced: a cut lost to a crash leaves zeros after the last record, which the
    recovery scan takes for the end of the data.
    """
    if blk.alloc > blk.size and blk.fd >= 0:
        with contextlib.suppress(OSError):
            os.ftruncate(blk.fd, blk.size)
            blk.alloc = blk.size


def undo_write(blk: Block, created: bool, start: int) -> None:
    """Take a failed group's bytes back out of the block."""
    try:
        if created:
            os.close(blk.fd)
            blk.fd = -1
            os.unlink(blk.path)
        else:
            os.ftruncate(blk.fd, start)
            blk.alloc = start
            os.fdatasync(blk.fd)
    except OSError:
        blk.dirty_tail = not created


def write_all(fd: int, data: bytes | memoryview, off: int) -> None:
    """``pwrite`` all of ``data`` at ``off``."""
    view = memoryview(data)
    done = 0
    while done < len(data):
        done += os.pwrite(fd, view[done:], off + done)


def write_parts(fd: int, parts: list[bytes], off: int) -> None:
    """Write ``parts`` one after another from ``off``: ``pwritev`` of up to IOV_MAX
    parts at a time, a short write resumed where it stopped."""
    if len(parts) == 1:
        write_all(fd, parts[0], off)
        return
    i, n = 0, len(parts)
    while i < n:
        batch: list[bytes | memoryview] = list(parts[i : i + _IOV_MAX])
        want = sum(map(len, batch))
        done = os.pwritev(fd, batch, off)
        off += done
        if done == want:
            i += len(batch)
            continue
        for j, part in enumerate(batch):  # short: skip what was written, cut the part it stopped in
            if done < len(part):
                write_all(fd, memoryview(part)[done:], off)
                off += len(part) - done
                i += j + 1
                break
            done -= len(part)


def _write_file(path: str, parts: list[bytes]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_parts(fd, parts, 0)
    finally:
        os.close(fd)


def _erase(fd: int, off: int) -> None:
    head = os.pread(fd, HEADER.size, off)
    _m, _k, _f, total, seq, ts, *_ = HEADER.unpack_from(head)
    write_all(fd, encode_erased(seq, ts, total), off)


def fsync_dir(directory: str) -> None:
    """fsync a directory (new or removed entries)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink(path: str) -> None:
    """Remove a file that may already be gone."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def delete_blocks(directory: str, blocks: list[Block]) -> None:
    """Unlink blocks oldest first, syncing the directory after each (order matters)."""
    for b in blocks:
        unlink(b.path[:-4] + ".idx")
        unlink(b.path)
        fsync_dir(directory)
