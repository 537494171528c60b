"""Metadata values kept as two checksummed copies written alternately.

Each key has two files, ``meta.<hex key>.0`` and ``.1``.  One copy::

    b"NKMT"  u8 version  u8 present  u16 0  u64 generation  u32 length  value
    16-byte checksum of everything before it: blake2b(digest_size=16) when the
    copy is up to 1 MiB (version 1), else zlib crc32, adler32 and the length
    (version 3: ~4x faster over the store's index checkpoint, tens of MB at
    millions of messages, and 64 bits against random damage)

A write goes to the copy of generation ``g + 1`` (``(g + 1) % 2``): the file is
rewritten and fsynced in place, never renamed, so the layout depends on no
unsynced rename or directory entry after the copy's first creation (which syncs
the directory).  Reading takes the valid copy with the highest generation; a
torn or corrupted copy falls back to the other one, which is the previous
committed value.  Both bad: the key is reported lost (the caller rebuilds it).
"""

from __future__ import annotations

import os
import struct
import zlib
from hashlib import blake2b

__all__ = ["MetaCopy", "meta_paths", "pos_bytes", "pos_from", "read_meta", "write_meta_copy"]

_HEAD = struct.Struct("<4sBBHQI")
_MAGIC = b"NKMT"
_SUM = 16


def meta_paths(directory: str, key: str) -> tuple[str, str]:
    """The two copy paths of ``key``."""
    base = os.path.join(directory, "meta." + key.encode().hex())
    return base + ".0", base + ".1"


_BIG = 1 << 20


def _sum(version: int, data: bytes | bytearray | memoryview) -> bytes:
    if version == 1:
        return blake2b(data, digest_size=_SUM).digest()
    return struct.pack("<IIQ", zlib.crc32(data), zlib.adler32(data), len(data))


def encode_copy(gen: int, value: bytes | None) -> bytes:
    """One copy's bytes."""
    v = value if value is not None else b""
    version = 1 if len(v) <= _BIG else 3
    head = _HEAD.pack(_MAGIC, version, value is not None, 0, gen, len(v))
    body = head + v
    return body + _sum(version, body)


class MetaCopy:
    """A decoded copy: its generation and value (``present`` False: the key was deleted)."""

    __slots__ = ("gen", "present", "value")

    def __init__(self, gen: int, present: bool, value: bytes) -> None:
        self.gen, self.present, self.value = gen, present, value


def decode_copy(data: bytes) -> MetaCopy | None:
    """The copy in ``data``, or None when it is torn or fails its checksum."""
    if len(data) < _HEAD.size + _SUM:
        return None
    magic, version, present, _pad, gen, length = _HEAD.unpack_from(data)
    end = _HEAD.size + length
    if magic != _MAGIC or version not in (1, 3) or len(data) != end + _SUM:
        return None
    if _sum(version, memoryview(data)[:end]) != data[end:]:
        return None
    return MetaCopy(gen, bool(present), data[_HEAD.size : end])


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _head_gen(path: str) -> int | None:
    """The generation a copy's header claims (-1 when the header is unreadable), None if absent."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD.size)
    except FileNotFoundError:
        return None
    if len(head) < _HEAD.size or head[:4] != _MAGIC:
        return -1
    return int(_HEAD.unpack(head)[4])


def read_meta(directory: str, key: str) -> tuple[MetaCopy | None, list[str]]:
    """The current copy of ``key`` (None when absent or both copies bad) and problems found.

    Only the copy whose header claims the higher generation is read and verified
    (a value may be large: the store's index checkpoint); the other one only when
    that fails.
    """
    problems: list[str] = []
    heads = [(g, p) for p in meta_paths(directory, key) if (g := _head_gen(p)) is not None]
    best: MetaCopy | None = None
    for _gen, path in sorted(heads, reverse=True):
        data = _read(path)
        copy = decode_copy(data) if data is not None else None
        if copy is not None:
            best = copy
            break
        problems.append(
            f"metadata {key!r}: copy {os.path.basename(path)} is torn or corrupt "
            f"({len(data or b'')} bytes), ignored"
        )
    if best is None and problems:
        problems.append(f"metadata {key!r}: both copies are bad; rebuilt from the data")
    return best, problems


def write_meta_copy(directory: str, key: str, gen: int, value: bytes | None) -> bool:
    """Write (and fsync) the copy of generation ``gen``; True when the file was created."""
    path = meta_paths(directory, key)[gen % 2]
    created = not os.path.exists(path)
    data = encode_copy(gen, value)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        off = 0
        while off < len(data):
            off += os.pwrite(fd, view[off:], off)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
    return created


_POS = struct.Struct("<QQQ")


def pos_bytes(block_id: int, off: int, gen: int) -> bytes:
    """The ``~index-pos`` value: where the data ended and which ``index`` generation it is for."""
    return _POS.pack(block_id, off, gen)


def pos_from(data: bytes | None) -> tuple[int, int, int]:
    """The decoded ``~index-pos`` value ((0, 0, 0) when absent or malformed)."""
    if not data or len(data) != _POS.size:
        return (0, 0, 0)
    bid, off, gen = _POS.unpack(data)
    return bid, off, gen
