"""Per-block index sidecars: how a crash recovery avoids parsing sealed blocks record by record.

While a block is the active one, the log accumulates what a scan of it would find
(:class:`BlockAcc`: per-slot timestamp, block-local subject id and stored size,
TTLs, its removal and metadata records) and a running digest of every byte
written to it.  When the block is sealed (the next group opens a new block) that
is written to ``<id>.idx`` with the block's length and digest, checksummed, *not*
fsynced: a sidecar lost or torn by a crash fails its checksum and the block is
scanned instead.  Recovery uses a sidecar only when its own checksum holds, the
block is exactly as long as it says and one pass over the whole block matches
its digest; any change since (an erase in place, a flipped bit) sends that block
to the verifying per-record scan, which then locates the bad record.  A scan that
found corruption still takes the removals of an intact sidecar of the same length
(:func:`sidecar_removals`): a third copy, in another file, of the block's removals.

The block digest is xxh3_64 of the block and its length (versions 4 and 5; version-3
sidecars, written before, carry ``zlib.crc32`` and ``zlib.adler32`` instead and are
still checked that way).  It is fed as the block is written, so its cost is per byte
written: xxh3 runs at memory speed where crc32 + adler32 took ~120 us per 128 KiB
object chunk.  It only decides whether the sidecar may stand in for a scan: it is not
what keeps bad bytes from being served (every read still verifies the record's own
checksum).

A sealing block's sidecar is encoded on the loop, in the group that opens the next
block, so it is kept cheap: the removals are one flat array as they are added (a KV
bucket's 8 MiB block lists ~45,000, one per put), and since version 5 the sidecar's
own checksum is xxh3_64 (versions 3 and 4: blake2b, still read), fed part by part:
the parts are written as they are (``pwritev``), never joined.  Encoding such a
block's sidecar took 10.7 ms, 6 of them flattening the removals and 2.5 hashing,
and the join into fresh memory cost ~2.8 ms more in a running broker; what is left
is copying the columns (~1 ms).
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from collections.abc import Iterable
from hashlib import blake2b
from itertools import chain

from natskern.plugins.storage.filelog.scan import BlockScan
from xxhash import xxh3_64

__all__ = ["BlockAcc", "BlockDigest", "decode_sidecar", "encode_sidecar", "sidecar_removals"]

_HEAD = struct.Struct("<4sBQ16sQIIIII")
_MAGIC = b"NKBI"
#: 5: the sidecar's checksum is xxh3_64 (4: blake2b; both with xxh3_64 block digests;
#: 3: crc32 + adler32 block digests, blake2b; all read as before; a version-2 sidecar,
#: sizes of 22 + lengths, is refused and its block scanned).
_VERSION = 5
_VERSIONS = (3, 4, 5)
#: Where the version byte lies (after the magic).
_VERSION_AT = 4
_REM = struct.Struct("<QQQq")
_META = struct.Struct("<HBIQ")


class BlockDigest:
    """xxh3_64 of a block, fed as it is written (16 bytes with the length)."""

    __slots__ = ("hasher", "length")

    def __init__(self, data: bytes = b"") -> None:
        self.hasher = xxh3_64()
        self.length = 0
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        """Add bytes written after the previous ones."""
        self.hasher.update(data)
        self.length += len(data)

    def digest(self) -> bytes:
        """The 16-byte digest."""
        return struct.pack("<QQ", self.hasher.intdigest(), self.length)


def _crc_digest(data: bytes) -> bytes:
    """The block digest of a version-3 sidecar: crc32, adler32 and the length."""
    return struct.pack("<IIQ", zlib.crc32(data), zlib.adler32(data), len(data))


def _digest_of(version: int, block: bytes) -> bytes:
    return _crc_digest(block) if version == 3 else BlockDigest(block).digest()


def _checksum(version: int, parts: Iterable[bytes | memoryview]) -> bytes:
    """The 8-byte checksum a sidecar of ``version`` ends with, of its body's ``parts``."""
    hasher = xxh3_64() if version >= 5 else blake2b(digest_size=8)
    for part in parts:
        hasher.update(part)
    return hasher.digest()


def _intact(data: bytes) -> bool:
    """Whether a sidecar's checksum (the one its version byte names) holds."""
    if len(data) < _HEAD.size + 8:
        return False
    return _checksum(data[_VERSION_AT], (memoryview(data)[:-8],)) == data[-8:]


class BlockAcc:
    """What the active block holds, kept as it is written (see the module docstring).

    ``removals`` is flat, four int64s per removal record (first, last, hint, time): a KV
    bucket's block holds one per put, and the sidecar writes them as they are.
    """

    __slots__ = ("hasher", "metas", "names", "removals", "sid", "size", "subj", "ts", "ttls")

    def __init__(self) -> None:
        self.ts = array("q")
        self.sid = array("I")
        self.size = array("I")
        self.subj: dict[bytes, int] = {}
        self.names: list[bytes] = []
        self.ttls: dict[int, int] = {}
        self.removals = array("q")
        self.metas: list[tuple[bytes, bytes | None, int]] = []
        self.hasher = BlockDigest()

    def add(self, gap: int, ts: int, subject: bytes, size: int) -> None:
        """One message slot, after ``gap`` empty ones."""
        if gap:
            self.ts.extend(array("q", [0]) * gap)
            self.sid.extend(array("I", [0]) * gap)
            self.size.extend(array("I", [0]) * gap)
        sid = self.subj.get(subject)
        if sid is None:
            sid = self.subj[subject] = len(self.names)
            self.names.append(subject)
        self.ts.append(ts)
        self.sid.append(sid)
        self.size.append(size)

    def add_run(self, gap: int, ts: list[int], subjects: list[bytes], sizes: list[int]) -> None:
        """Consecutive message slots, after ``gap`` empty ones (what :meth:`add` does each)."""
        if gap:
            self.ts.extend(array("q", [0]) * gap)
            self.sid.extend(array("I", [0]) * gap)
            self.size.extend(array("I", [0]) * gap)
        subj, names = self.subj, self.names
        sids = list(map(subj.get, subjects))  # (a C loop: the block's subjects are known)
        if None in sids:  # new subjects, numbered in order of first use
            for subject in subjects:
                if subject not in subj:
                    subj[subject] = len(names)
                    names.append(subject)
            sids = list(map(subj.__getitem__, subjects))
        self.ts.extend(ts)
        self.sid.extend(sids)
        self.size.extend(sizes)

    def add_removals(self, removals: Iterable[tuple[int, int, int, int]]) -> None:
        """Removal records written to the block (OverflowError: a value past int64)."""
        self.removals.extend(chain.from_iterable(removals))

    def add_removal_set(self, seqs: array, hint: int, ts: int) -> None:
        """A ``SET`` record: one removal per sequence of ``seqs`` (an ``array("Q")``), all
        with ``hint`` and ``ts``."""
        flat = array("q", (0, 0, hint, ts)) * len(seqs)
        column = array("q")
        column.frombytes(seqs.tobytes())  # (the sidecar reads sequences back unsigned)
        flat[0::4] = column
        flat[1::4] = column
        self.removals.frombytes(flat.tobytes())

    def removal_records(self) -> list[tuple[int, int, int, int]]:
        """The removal records, as tuples."""
        r = self.removals
        return list(zip(r[0::4], r[1::4], r[2::4], r[3::4], strict=True))

    @classmethod
    def from_scan(cls, sc: BlockScan, names: list[bytes], data: bytes) -> BlockAcc | None:
        """The accumulator of a block just scanned (its bytes ``data``).

        None when a removal record holds a value past int64 (never written by this
        log): the block then has no sidecar and is scanned again after a crash.
        """
        acc = cls()
        acc.ts, acc.size = array("q", sc.ts), array("I", sc.size)
        local: dict[int, int] = {}
        sids = acc.sid
        for g in sc.sid:
            lid = local.get(g)
            if lid is None:
                lid = local[g] = len(acc.names)
                acc.names.append(names[g])
                acc.subj[names[g]] = lid
            sids.append(lid)
        acc.ttls = dict(sc.ttls)
        try:
            acc.add_removals(sc.removals)
        except OverflowError:
            return None
        acc.metas = list(sc.metas)
        acc.hasher.update(data)
        return acc


def encode_sidecar(acc: BlockAcc, size: int, first_seq: int, offs: array) -> list[bytes]:
    """The sidecar of a sealed block of ``size`` bytes, as the parts its file is written
    from (a KV bucket's is ~2.3 MB: joined on the loop, the copy into fresh memory cost
    ~2.8 ms there; its checksum is fed part by part instead)."""
    parts = [
        _HEAD.pack(
            _MAGIC, _VERSION, size, acc.hasher.digest(), first_seq, len(offs), len(acc.names),
            len(acc.ttls), len(acc.removals) // 4, len(acc.metas),
        ),
        offs.tobytes(), acc.ts.tobytes(), acc.sid.tobytes(), acc.size.tobytes(),
    ]  # fmt: skip
    parts.append(b"".join([struct.pack("<H", len(n)) + n for n in acc.names]))
    parts.append(array("q", [x for kv in acc.ttls.items() for x in kv]).tobytes())
    rem = acc.removals
    if sys.byteorder == "big":  # (the format is little-endian, as _REM)
        rem = array("q", rem)
        rem.byteswap()
    parts.append(rem.tobytes())
    for key, value, gen in acc.metas:
        v = value or b""
        parts.append(_META.pack(len(key), value is not None, len(v), gen) + key + v)
    parts.append(_checksum(_VERSION, parts))
    return parts


def decode_sidecar(data: bytes, block: bytes) -> tuple[BlockScan, list[bytes]] | None:
    """The scan result a sidecar stands for, if it is intact and matches ``block``; else None."""
    if not _intact(data):
        return None
    magic, version, size, digest, first, n, nsubj, nttl, nrem, nmeta = _HEAD.unpack_from(data)
    if magic != _MAGIC or version not in _VERSIONS or size != len(block):
        return None
    if _digest_of(version, block) != digest:
        return None
    sc = BlockScan()
    p = _HEAD.size
    sc.first_seq = first
    for arr, width in ((sc.offs, 4), (sc.ts, 8), (sc.sid, 4), (sc.size, 4)):
        arr.frombytes(data[p : p + width * n])
        p += width * n
    names = []
    for _ in range(nsubj):
        (ln,) = struct.unpack_from("<H", data, p)
        names.append(data[p + 2 : p + 2 + ln])
        p += 2 + ln
    pairs = array("q")
    pairs.frombytes(data[p : p + 16 * nttl])
    p += 16 * nttl
    sc.ttls = dict(zip(pairs[0::2], pairs[1::2], strict=True))
    sc.removals.extend(_REM.iter_unpack(data[p : p + nrem * _REM.size]))
    p += nrem * _REM.size
    for _ in range(nmeta):
        kl, present, vl, gen = _META.unpack_from(data, p)
        p += _META.size
        key, value = data[p : p + kl], data[p + kl : p + kl + vl]
        p += kl + vl
        sc.metas.append((key, value if present else None, gen))
    sc.end = size
    last = first + n - 1 if first else 0
    top = (last, sc.ts[-1] if n else 0)
    for r in sc.removals:
        top = max(top, (max(r[1], r[2]), r[3]))
    sc.hi_seq, sc.hi_ts = top
    return sc, names


def sidecar_removals(data: bytes, size: int) -> list[tuple[int, int, int, int]] | None:
    """The removals a sidecar lists, if it is intact and for a block of ``size`` bytes.

    Unlike :func:`decode_sidecar`, the block's digest is not checked: this is for a
    block that failed it (a corrupt record), whose removals are still true.
    """
    if not _intact(data):
        return None
    magic, version, bsize, _d, _first, n, nsubj, nttl, nrem, _nm = _HEAD.unpack_from(data)
    if magic != _MAGIC or version not in _VERSIONS or bsize != size:
        return None
    p = _HEAD.size + 20 * n
    for _ in range(nsubj):
        p += 2 + struct.unpack_from("<H", data, p)[0]
    p += 16 * nttl
    return [_REM.unpack_from(data, p + i * _REM.size) for i in range(nrem)]
