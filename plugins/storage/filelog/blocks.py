"""Block files and the compact in-memory index over them.

A block is ``<id:08d>.blk``: records back to back (see :mod:`.codec`), appended
until it passes the configured size; then the next group opens block ``id + 1``.
The index is, per block, the sequence of its first message and one ``array('I')``
of record offsets indexed by ``seq - first_seq`` (``DEAD`` once removed): 4 bytes
per message, found by bisecting the blocks' first sequences.

The active block is allocated ahead of its data (``fallocate``, 64 KiB first, then
doubling up to 1 MiB): a group written
into space the file already has needs its ``fdatasync`` to flush the data only, not
a new file length (~130 instead of ~200 us here).  The file is cut back to its data
when the block is sealed and at a clean close; after a crash, the recovery scan
takes the zeros after the last record for the end of the data, not for a torn write.
A block that takes small groups on the loop gets its space ahead as written zeros
instead (:mod:`.zeroing`), so that its syncs need no journal commit either.

A block may be deleted once every message in it is removed *and* its removal
records can no longer matter: it is the oldest block, or its removals only name
sequences of its own (``min_target >= first_seq``).  Deleting a block whose
removals name older blocks could bring their messages back on the next scan.
"""

from __future__ import annotations

import os
import struct
import zlib
from array import array
from typing import Any

from natskern.plugins.storage.filelog.scan import DEAD

__all__ = ["DEAD", "Block", "block_name", "decode_checkpoint", "encode_checkpoint"]

NO_TARGET = (1 << 64) - 1


def block_name(block_id: int) -> str:
    """The file name of block ``block_id``."""
    return f"{block_id:08d}.blk"


class Block:
    """One block file: where it ends, and its slice of the index."""

    __slots__ = (
        "acc",
        "ahead",
        "alloc",
        "closing",
        "dirty_tail",
        "fd",
        "first_seq",
        "id",
        "live",
        "min_target",
        "offs",
        "path",
        "readers",
        "size",
        "zeroing",
    )

    def __init__(self, directory: str, block_id: int) -> None:
        self.id = block_id
        self.path = os.path.join(directory, block_name(block_id))
        self.fd = -1
        #: Logical end: bytes of good records (the file may hold a failed write past it).
        self.size = 0
        #: The file's length while it is the active block: the data, then zeros allocated
        #: ahead (see :func:`.group.reserve`).
        self.alloc = 0
        #: The last allocation ahead (each next one doubles it, see :func:`.group.reserve`).
        self.ahead = 0
        #: Zeros are being written past ``alloc``, or writing them failed: no more for
        #: this block (see :mod:`.zeroing`).
        self.zeroing = False
        self.first_seq = 0
        self.offs = array("I")
        self.live = 0
        #: Lowest sequence a removal record in this block names.
        self.min_target = NO_TARGET
        #: Reads in flight (the fd is closed only when none is).
        self.readers = 0
        self.closing = False
        #: A failed write may have left bytes past ``size``: truncate before the next write.
        self.dirty_tail = False
        #: What the block holds, kept while it is the active one (its sidecar at sealing).
        self.acc: Any = None

    def add(self, seq: int, off: int) -> int:
        """Index a message at ``off`` (sequences only grow); return the gap filled before it."""
        gap = 0
        if self.first_seq == 0:
            self.first_seq = seq
        else:
            gap = seq - self.first_seq - len(self.offs)
            if gap < 0:
                raise ValueError(f"sequence {seq} is not above the block's last one")
            if gap:
                self.offs.extend(array("I", [DEAD]) * gap)
        self.offs.append(off)
        self.live += 1
        return gap

    def add_run(self, offs: list[int]) -> None:
        """Index messages at the sequences right after the last one, at ``offs``."""
        self.offs.extend(offs)
        self.live += len(offs)

    @property
    def last_seq(self) -> int:
        """The highest slot's sequence (0 when no message)."""
        return self.first_seq + len(self.offs) - 1 if self.first_seq else 0

    def locate(self, seq: int) -> int:
        """The offset of ``seq``'s record, or -1."""
        i = seq - self.first_seq
        if self.first_seq == 0 or i < 0 or i >= len(self.offs):
            return -1
        off = self.offs[i]
        return -1 if off == DEAD else off

    def kill(self, first: int, last: int) -> int:
        """Mark ``first..last`` removed; return how many live messages that removed."""
        if self.first_seq == 0:
            return 0
        a = max(first - self.first_seq, 0)
        b = min(last - self.first_seq + 1, len(self.offs))
        if a >= b:
            return 0
        if b - a == 1:
            if self.offs[a] == DEAD:
                return 0
            self.offs[a] = DEAD
            self.live -= 1
            return 1
        dead = (b - a) - self.offs[a:b].count(DEAD)
        self.offs[a:b] = array("I", [DEAD]) * (b - a)
        self.live -= dead
        return dead

    def close_fd(self) -> None:
        """Close the file now, or as soon as the last read in flight returns."""
        self.closing = True
        if self.readers == 0 and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def release(self) -> None:
        """A read (or a zeroing job) that held the file is done: close it if it was closing."""
        self.readers -= 1
        if self.closing and self.readers == 0:
            self.close_fd()


# -- the block index checkpoint (written at a clean close) --------------------------------------

_CK_HEAD = struct.Struct("<BQqI")
_CK_BLOCK = struct.Struct("<QQQQI")


def _ck_sum(body: bytes | memoryview) -> bytes:
    # (inside a metadata copy that has its own checksum: a cheap second one)
    return struct.pack("<II", zlib.crc32(body), zlib.adler32(body))


def encode_checkpoint(blocks: list[Block], hi_seq: int, hi_ts: int) -> bytes:
    """The block list with each block's end, first sequence and offsets."""
    parts = [_CK_HEAD.pack(1, hi_seq, hi_ts, len(blocks))]
    for b in blocks:
        parts.append(_CK_BLOCK.pack(b.id, b.size, b.first_seq, b.min_target, len(b.offs)))
        parts.append(b.offs.tobytes())
    body = b"".join(parts)
    return body + _ck_sum(body)


def decode_checkpoint(directory: str, data: bytes) -> tuple[list[Block], int, int] | None:
    """The blocks of a checkpoint, or None when it does not decode."""
    if len(data) < _CK_HEAD.size + 8 or _ck_sum(memoryview(data)[:-8]) != data[-8:]:
        return None
    version, hi_seq, hi_ts, count = _CK_HEAD.unpack_from(data)
    if version != 1:
        return None
    p = _CK_HEAD.size
    blocks = []
    for _ in range(count):
        bid, size, first, min_target, n = _CK_BLOCK.unpack_from(data, p)
        p += _CK_BLOCK.size
        b = Block(directory, bid)
        b.size, b.first_seq, b.min_target = size, first, min_target
        b.offs.frombytes(data[p : p + 4 * n])
        p += 4 * n
        b.live = n - b.offs.count(DEAD)
        blocks.append(b)
    return blocks, hi_seq, hi_ts
