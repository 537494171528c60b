"""The file store's record format: length-prefixed records, each with a 64-bit checksum.

One record, little-endian::

    u16 magic 0x4B4E ("NK")   u8 kind   u8 flags   u32 total (whole record, checksum included)
    u64 seq   i64 ts   i64 ttl   u16 subject_len   u32 headers_len
    subject, headers, payload                      (payload_len = total - 46 - subject - headers)
    u64 checksum = xxh3_64 over every byte before it, lengths included
                   (blake2b(digest_size=8) in records without FLAG_XXH3: the format before)

The checksum covers the header (kind, lengths, sequence, times), so a flipped bit
in a length field fails it like a flipped bit in a payload; a flipped bit in the
flags byte switches the algorithm the record is checked with, and fails it too.
xxh3_64 (the ``xxhash`` package) takes ~50 ns for a 200-byte record and ~3 us for a
128 KiB object chunk here, where blake2b took ~0.6 and ~180 us (a ~700 MB/s ceiling on
object reads and writes); two ``zlib.crc32`` with different seeds are no alternative:
CRC is affine (their XOR depends only on the length), a pair detects like 32 bits.
Records written before FLAG_XXH3 existed keep their blake2b and are read as before.

Kinds: ``MSG`` (a message), ``DEL`` (removal of ``seq``), ``RANGE`` (removal of
``seq..ttl``), ``SET`` (removal of a set of sequences: a group's single removals in one
record; ``seq`` and ``ttl`` are the lowest and highest, the payload after the hint is
their u64s in ascending order), ``ERASED`` (a message overwritten in place by an erase: same length,
body zeroed, checksum recomputed), ``META`` (a small metadata value: ``subject`` is
the key, ``payload`` the value, ``seq`` its generation; rewritten at the head of
every new block so that the data alone can rebuild it).  Removals carry in ``ts``
the log's last timestamp and in an 8-byte payload its last sequence, so that
``last_seq``/``last_ts`` survive the removal of the newest messages.  A store written
before ``SET`` existed has none and reads as before.

Every removal is written twice in its group: the record in its place among the
group's records, and a second copy (``FLAG_ECHO``) at the end of the group, after
its messages and metadata records.  Both go out in the group's one write, so the
cost stays one ``pwrite`` and one ``fdatasync``; a corrupted removal record is
replaced by its copy at recovery, so a removed message never comes back.
"""

from __future__ import annotations

import struct
import sys
from array import array
from hashlib import blake2b

from xxhash import xxh3_64_digest

__all__ = [
    "CHECKSUM",
    "DEL",
    "ERASED",
    "FLAG_ECHO",
    "FLAG_HEADERS",
    "FLAG_XXH3",
    "HEADER",
    "MAGIC",
    "META",
    "MIN_RECORD",
    "MSG",
    "OVERHEAD",
    "RANGE",
    "SET",
    "checksum",
    "checksum_ok",
    "encode_erased",
    "encode_meta",
    "encode_msg",
    "encode_removal",
    "encode_removal_set",
    "removal_set_members",
]

MAGIC = 0x4B4E
MAGIC_BYTES = struct.pack("<H", MAGIC)
MSG, DEL, RANGE, ERASED, META, SET = 1, 2, 3, 4, 5, 6
KINDS = frozenset((MSG, DEL, RANGE, ERASED, META, SET))
#: The removal kinds.
REMOVALS = frozenset((DEL, RANGE, SET))
#: flags bit 0: the message has a header block (distinguishes ``None`` from ``b""``).
FLAG_HEADERS = 1
#: flags bit 1 on a removal: the second copy of a removal written earlier in the same group.
FLAG_ECHO = 2
#: flags bit 2: the checksum is xxh3_64 (every record written now); without it, blake2b.
FLAG_XXH3 = 4

HEADER = struct.Struct("<HBBIQqqHI")
CHECKSUM = struct.Struct("<8s")
OVERHEAD = HEADER.size + 8  # 46 bytes per record
MIN_RECORD = OVERHEAD
#: A sanity bound on one record (a length field above it is corrupt, not a big record).
MAX_RECORD = 1 << 30
_U64 = struct.Struct("<Q")
_BIG = sys.byteorder == "big"  # (array's bytes are native: the format is little-endian)


def checksum(data: bytes | bytearray | memoryview, flags: int = FLAG_XXH3) -> bytes:
    """The 8-byte checksum of a record's bytes (everything before the checksum).

    ``flags`` is the record's flags byte: it says which algorithm the record uses.
    """
    if flags & FLAG_XXH3:
        return xxh3_64_digest(data)
    return blake2b(data, digest_size=8).digest()


def checksum_ok(body: bytes | bytearray | memoryview, flags: int, stored: bytes) -> bool:
    """Whether ``stored`` is the checksum of ``body`` for a record with these ``flags``."""
    if flags & FLAG_XXH3:
        return xxh3_64_digest(body) == stored
    return blake2b(body, digest_size=8).digest() == stored


def _finish(buf: bytearray) -> bytes:
    buf += xxh3_64_digest(buf)
    return bytes(buf)


def encode_msg(
    seq: int, ts: int, ttl: int, subject: bytes, headers: bytes | None, payload: bytes
) -> bytes:
    """One message record."""
    hl = len(headers) if headers is not None else 0
    total = OVERHEAD + len(subject) + hl + len(payload)
    buf = bytearray(
        HEADER.pack(
            MAGIC,
            MSG,
            (FLAG_HEADERS | FLAG_XXH3) if headers is not None else FLAG_XXH3,
            total,
            seq,
            ts,
            ttl,
            len(subject),
            hl,
        )
    )
    buf += subject
    if headers:
        buf += headers
    buf += payload
    return _finish(buf)


def encode_removal(first: int, last: int, hint_seq: int, hint_ts: int, flags: int = 0) -> bytes:
    """A removal of ``first`` (``last == first``) or of the range ``first..last``.

    ``hint_seq``/``hint_ts`` are the log's highest sequence and its timestamp;
    ``flags`` is ``FLAG_ECHO`` for the removal's second copy.
    """
    kind = DEL if first == last else RANGE
    buf = bytearray(
        HEADER.pack(MAGIC, kind, flags | FLAG_XXH3, OVERHEAD + 8, first, hint_ts, last, 0, 0)
    )
    buf += _U64.pack(hint_seq)
    return _finish(buf)


def encode_removal_set(seqs: array, hint_seq: int, hint_ts: int, flags: int = 0) -> bytes:
    """A removal of every sequence of ``seqs`` (an ``array('Q')``, ascending, two or more).

    One record for a group's single removals (a KV bucket removes a key's previous
    revision on every put): 8 bytes per sequence instead of a 54-byte record each.
    ``hint_seq``/``hint_ts`` and ``flags`` are as in :func:`encode_removal`.
    """
    first, last = seqs[0], seqs[-1]
    if _BIG:
        seqs = array("Q", seqs)
        seqs.byteswap()
    body = seqs.tobytes()
    buf = bytearray(
        HEADER.pack(
            MAGIC, SET, flags | FLAG_XXH3, OVERHEAD + 8 + len(body), first, hint_ts, last, 0, 0
        )
    )
    buf += _U64.pack(hint_seq)
    buf += body
    return _finish(buf)


def removal_set_members(rec: bytes | memoryview, pos: int, total: int) -> array:
    """The sequences of the (checked) ``SET`` record of ``total`` bytes at ``pos``."""
    out = array("Q")
    out.frombytes(rec[pos + HEADER.size + 8 : pos + total - 8])
    if _BIG:
        out.byteswap()
    return out


def encode_meta(key: bytes, value: bytes | None, gen: int) -> bytes:
    """A metadata record of generation ``gen`` (``seq``); ``value`` None: the key was deleted."""
    v = value if value is not None else b""
    total = OVERHEAD + len(key) + len(v)
    flags = (FLAG_HEADERS | FLAG_XXH3) if value is not None else FLAG_XXH3
    buf = bytearray(HEADER.pack(MAGIC, META, flags, total, gen, 0, 0, len(key), 0))
    buf += key
    buf += v
    return _finish(buf)


def encode_erased(seq: int, ts: int, total: int) -> bytes:
    """The in-place replacement of an erased message record of ``total`` bytes."""
    buf = bytearray(HEADER.pack(MAGIC, ERASED, FLAG_XXH3, total, seq, ts, 0, 0, 0))
    buf += bytes(total - OVERHEAD)
    return _finish(buf)


def decode_removal_hint(rec: bytes | memoryview, pos: int) -> int:
    """The ``hint_seq`` of the removal record at ``pos``."""
    return int(_U64.unpack_from(rec, pos + HEADER.size)[0])
