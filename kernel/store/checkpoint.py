"""The index checkpoint: a whole :class:`~natskern.kernel.store.index.MsgIndex` as bytes and back.

Layout (little-endian): a header (magic ``NKIX2``, base sequence, column length,
message count, bytes, subject count, part count), the byte length of each part,
the parts (subject names joined by NUL, per-subject count/first/last as
``uint64``, the timestamp, size, subject-id and live columns as raw array bytes,
and the caller's extra bytes), then a CRC-32 of everything before it.  Only
subjects with messages are written (ids are renumbered), so a checkpoint also
compacts the subject table.  Loading is ``array.frombytes``: no work per message.
"""

from __future__ import annotations

import struct
import zlib
from array import array

from natskern.kernel.store.index import DEAD, MsgIndex

__all__ = ["dump_index", "load_index"]

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


def load_index(data: bytes) -> tuple[MsgIndex, bytes]:
    """Rebuild an index from :func:`dump_index`; ValueError when the bytes do not check out."""
    if len(data) < _HEAD.size + 4 or zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise ValueError("index checkpoint fails its checksum")
    magic, base, n, msgs, nbytes, nsub, nparts = _HEAD.unpack_from(data)
    if magic != _MAGIC or nparts != 7:
        raise ValueError("not an index checkpoint")
    pos = _HEAD.size
    lens = struct.unpack_from(f"<{nparts}Q", data, pos)
    pos += 8 * nparts
    parts = []
    for ln in lens:
        parts.append(data[pos : pos + ln])
        pos += ln
    idx = MsgIndex(base)
    names = parts[0].decode().split("\x00") if nsub else []
    stats = array("Q")
    stats.frombytes(parts[1])
    if len(names) != nsub or len(stats) != 3 * nsub:
        raise ValueError("index checkpoint subjects disagree")
    for name in names:
        idx.intern(name)
    idx.sub_count = stats[0::3].tolist()
    idx.sub_first = stats[1::3].tolist()
    idx.sub_last = stats[2::3].tolist()
    idx.ts.frombytes(parts[2])
    idx.size.frombytes(parts[3])
    idx.sid.frombytes(parts[4])
    idx.live = bytearray(parts[5])
    if not (len(idx.ts) == len(idx.size) == len(idx.sid) == len(idx.live) == n):
        raise ValueError("index checkpoint columns disagree")
    idx.msgs, idx.bytes = msgs, nbytes
    return idx, parts[6]
