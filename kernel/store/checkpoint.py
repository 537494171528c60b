"""The index checkpoint: a whole :class:`~natskern.kernel.store.index.MsgIndex` as bytes and back.

Layout (little-endian): a header (magic ``NKIX2``, base sequence, column length,
message count, bytes, subject count, part count), the byte length of each part,
the parts (subject names joined by NUL, per-subject count/first/last as
``uint64``, the timestamp, size, subject-id and live columns as raw array bytes,
and the caller's extra bytes), then a CRC-32 of everything before it.
:func:`dump_index` writes only subjects with messages (ids are renumbered), so a
checkpoint also compacts the subject table.  :class:`IndexSnapshot` (the periodic
checkpoint a backend writes while the stream runs) copies the columns on the
event loop and encodes them later, in a thread: it keeps the ids as they are and
writes a freed id as an empty name with no messages.  Loading is
``array.frombytes``: no work per message.
"""

from __future__ import annotations

import struct
import zlib
from array import array

from natskern.kernel.store.index import DEAD, MsgIndex

#: A piece of an encoded checkpoint (anything with the buffer protocol).
Chunk = bytes | array | memoryview

__all__ = ["IndexSnapshot", "dump_index", "load_index", "snapshot_bytes"]

#: ``NKIX2``: sizes by nats-server's file-store formula (30 + lengths, + 4 with headers);
#: an ``NKIX1`` checkpoint (22 + lengths) is refused, so the store rescans the log.
_MAGIC = b"NKIX2"
_HEAD = struct.Struct("<5sQQQqQI")


def dump_index(idx: MsgIndex, extra: bytes = b"") -> bytes:
    """The whole index as compact bytes (with ``extra`` bytes of the caller), checksummed."""
    used = [s for s in range(len(idx.names)) if idx.sub_count[s]]
    if len(used) == len(idx.names):
        sid = idx.sid
    else:
        remap = array("I", [DEAD]) * (len(idx.names) + 1)
        for new, old in enumerate(used):
            remap[old] = new
        sid = array("I", [DEAD if s == DEAD else remap[s] for s in idx.sid])
    names = b"\x00".join(idx.names[s].encode() for s in used)
    stats = array("Q")
    for s in used:
        stats.extend((idx.sub_count[s], idx.sub_first[s], idx.sub_last[s]))
    parts = [
        names,
        stats.tobytes(),
        idx.ts.tobytes(),
        idx.size.tobytes(),
        sid.tobytes(),
        bytes(idx.live),
        extra,
    ]
    head = _HEAD.pack(_MAGIC, idx.base, len(idx.live), idx.msgs, idx.bytes, len(used), len(parts))
    body = head + b"".join(struct.pack("<Q", len(p)) for p in parts) + b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


class IndexSnapshot:
    """A copy of an index taken between two commits, encoded later off the event loop.

    The constructor copies the columns and the per-subject lists, so the index
    may change while :meth:`chunks` runs in a thread.  The copy is a ``memcpy``,
    but into fresh memory most of its time goes to page faults (about 0.13 s for
    8 million messages here); given ``scratch``, a writable buffer of at least
    :func:`snapshot_bytes` whose pages are already mapped (filled in a thread),
    it copies into that instead (about 0.02 s).  The encoding is the one
    :func:`load_index` reads, without the renumbering of :func:`dump_index`.
    """

    __slots__ = (
        "base", "bytes", "extra", "length", "live", "msgs", "names", "sid", "size", "stats", "ts",
    )  # fmt: skip

    def __init__(
        self, idx: MsgIndex, extra: bytes = b"", scratch: memoryview | None = None
    ) -> None:
        self.base, self.msgs, self.bytes = idx.base, idx.msgs, idx.bytes
        self.names = list(idx.names)
        self.stats = (list(idx.sub_count), list(idx.sub_first), list(idx.sub_last))
        #: How many sequences the columns cover.
        self.length = len(idx.live)
        self.extra = extra
        if scratch is not None and len(scratch) >= snapshot_bytes(self.length):
            cols: list[Chunk] = []
            at = 0
            for col in (idx.ts, idx.size, idx.sid, idx.live):
                with memoryview(col) as view, view.cast("B") as raw:  # (exports end here)
                    scratch[at : at + raw.nbytes] = raw
                    cols.append(scratch[at : at + raw.nbytes])
                    at += raw.nbytes
            self.ts, self.size, self.sid, self.live = cols
        else:
            self.ts, self.size, self.sid = idx.ts[:], idx.size[:], idx.sid[:]
            self.live = bytes(idx.live)

    def chunks(self) -> list[Chunk]:
        """The checkpoint as buffers to write one after the other (CRC last); thread-safe."""
        names = b"\x00".join(n.encode() for n in self.names)
        counts, firsts, lasts = self.stats
        stats = array("Q", [x for row in zip(counts, firsts, lasts, strict=True) for x in row])
        parts: list[Chunk] = [names, stats, self.ts, self.size, self.sid, self.live, self.extra]
        nbytes = [memoryview(p).nbytes for p in parts]
        head = _HEAD.pack(
            _MAGIC, self.base, self.length, self.msgs, self.bytes, len(self.names), len(parts)
        )
        out: list[Chunk] = [head + struct.pack(f"<{len(parts)}Q", *nbytes), *parts]
        crc = 0
        for part in out:
            crc = zlib.crc32(part, crc)
        out.append(struct.pack("<I", crc))
        return out


def snapshot_bytes(length: int) -> int:
    """The scratch an :class:`IndexSnapshot` of columns ``length`` long copies into."""
    return 17 * length


def load_index(data: bytes) -> tuple[MsgIndex, bytes]:
    """Rebuild an index from :func:`dump_index` or :class:`IndexSnapshot`.

    Raises ValueError when the bytes do not check out.  An empty name without
    messages is a freed subject id (a snapshot's), kept free.
    """
    if len(data) < _HEAD.size + 4 or zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise ValueError("index checkpoint fails its checksum")
    magic, base, n, msgs, nbytes, nsub, nparts = _HEAD.unpack_from(data)
    if magic != _MAGIC or nparts != 7:
        raise ValueError("not an index checkpoint")
    pos = _HEAD.size
    lens = struct.unpack_from(f"<{nparts}Q", data, pos)
    pos += 8 * nparts
    if pos + sum(lens) + 4 != len(data):
        raise ValueError("index checkpoint parts disagree with its length")
    view = memoryview(data)  # (no copy of the columns before frombytes)
    parts = []
    for ln in lens:
        parts.append(view[pos : pos + ln])
        pos += ln
    idx = MsgIndex(base)
    names = bytes(parts[0]).decode().split("\x00") if nsub else []
    stats = array("Q")
    stats.frombytes(parts[1])
    if len(names) != nsub or len(stats) != 3 * nsub:
        raise ValueError("index checkpoint subjects disagree")
    counts = stats[0::3]
    free: list[int] = []
    for sid, name in enumerate(names):
        if not name and not counts[sid]:
            idx.names.append("")
            idx.sub_count.append(0)
            idx.sub_first.append(0)
            idx.sub_last.append(0)
            free.append(sid)
        elif idx.intern(name) != sid:
            raise ValueError("index checkpoint lists a subject twice")
    idx._free = free  # (after the loop: intern would reuse them)
    idx.sub_count = counts.tolist()
    idx.sub_first = stats[1::3].tolist()
    idx.sub_last = stats[2::3].tolist()
    idx.ts.frombytes(parts[2])
    idx.size.frombytes(parts[3])
    idx.sid.frombytes(parts[4])
    idx.live = bytearray(parts[5])
    if not (len(idx.ts) == len(idx.size) == len(idx.sid) == len(idx.live) == n):
        raise ValueError("index checkpoint columns disagree")
    idx.msgs, idx.bytes = msgs, nbytes
    return idx, bytes(parts[6])
