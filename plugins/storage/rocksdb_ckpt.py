"""The RocksDB store's index checkpoint file and removal journal (crash restart without a scan).

**The checkpoint file** (``natskern-index.ckpt`` in the stream's directory)
holds one index checkpoint of the shared store base: the one ``put_meta("index",
...)`` staged at a clean close, or a periodic
:class:`~natskern.kernel.store.checkpoint.IndexSnapshot` the log took between
two commits while the stream ran.  Layout: a header (magic ``NKRCKPT1``, the
generation of the commit it belongs to, the highest sequence appended when it
was taken, the body length, whether it is *complete*, i.e. nothing was staged
after it in its commit), the body (the store's bytes) and a BLAKE2b-64 of header
and body.  It is written only after its commit is durable, in a thread: a
temporary file, ``fsync``, ``rename`` over the old one, ``fsync`` of the
directory.  A crash at any point leaves either the old file or the new one.

It is not kept in RocksDB: a value of 17 bytes per message would go through the
WAL, a memtable and compactions each time; a file costs one sequential write.

**The removal journal** (``meta`` column family, key ``R`` + generation, 8 bytes
big-endian): every commit that removes messages also puts, in the same
``WriteBatch``, the ``(first, last)`` ranges it removed.  After a crash the log
reports the checkpoint as a base (``Recovery.checkpoint_base``): the records
above its sequence (the tail, one range read of the ``msgs`` column family) and
the journal entries from its generation on.  Entries below the generation of the
newest checkpoint known durable (the *floor*, kept in the log state) are deleted
by the next commit, so the journal stays small.

A checkpoint is used only when its checksum holds and ``floor <= gen <= the log
state's gen``; otherwise the log scans every record and says why.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

from natskern.plugins.storage import rocksdb_codec as codec
from rocksdict import ReadOptions

__all__ = [
    "FILE",
    "Checkpoint",
    "decode_ranges",
    "encode_ranges",
    "journal_key",
    "journal_ranges",
    "prefaulted",
    "read_checkpoint",
    "remove_checkpoint",
    "write_checkpoint",
]

#: The checkpoint file's name inside the stream's (the database's) directory.
FILE = "natskern-index.ckpt"
_MAGIC = b"NKRCKPT1"
_HEAD = struct.Struct("<8sQQQB")
_DIGEST = 8
#: Journal keys: ``R`` + generation; below the log state's ``S`` keys.
_JOURNAL = b"R"
_BIG = sys.byteorder == "big"


@dataclass(slots=True)
class Checkpoint:
    """A verified checkpoint file."""

    #: The generation of the commit it belongs to.
    gen: int
    #: The highest sequence appended when it was taken (the tail is above it).
    seq: int
    #: Nothing was staged after it in its commit (current if no commit changed data since).
    complete: bool
    #: The store's checkpoint bytes.
    body: bytes


def _path(directory: str) -> str:
    return os.path.join(directory, FILE)


def write_checkpoint(
    directory: str, gen: int, seq: int, complete: bool, chunks: Iterable[Any]
) -> int:
    """Write the checkpoint file crash-safely (in a thread); return its size in bytes.

    ``chunks`` are buffers (bytes, arrays) written one after the other as the body.
    """
    parts = [memoryview(c).cast("B") for c in chunks]
    body_len = sum(p.nbytes for p in parts)
    head = _HEAD.pack(_MAGIC, gen, seq, body_len, complete)
    h = blake2b(head, digest_size=_DIGEST)
    for p in parts:
        h.update(p)
    parts = [memoryview(head), *parts, memoryview(h.digest())]
    path = _path(directory)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for p in parts:
            while p.nbytes:
                n = os.write(fd, p[: 64 << 20])
                p = p[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return _HEAD.size + body_len + _DIGEST


def read_checkpoint(directory: str, problems: list[str]) -> Checkpoint | None:
    """The verified checkpoint file, or None (missing, or failing: then a line in ``problems``)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_path(directory) + ".tmp")  # a write a crash cut short
    try:
        f = open(_path(directory), "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(f"index checkpoint unreadable ({exc}): scanning the records")
        return None
    with f:
        head = f.read(_HEAD.size)
        if len(head) == _HEAD.size:
            magic, gen, seq, body_len, complete = _HEAD.unpack(head)
            if magic == _MAGIC and body_len == os.fstat(f.fileno()).st_size - _HEAD.size - _DIGEST:
                body = f.read(body_len)
                digest = f.read(_DIGEST)
                h = blake2b(head, digest_size=_DIGEST)
                h.update(body)
                if len(body) == body_len and h.digest() == digest:
                    return Checkpoint(gen, seq, bool(complete), body)
    problems.append("index checkpoint failing its checksum: scanning the records")
    return None


def prefaulted(nbytes: int) -> mmap.mmap | None:
    """(In a thread) anonymous memory of ``nbytes`` with every page already mapped.

    Filled by reading ``/dev/zero`` into it, which faults the pages in the kernel
    with the GIL released; an :class:`IndexSnapshot` then copies the columns into
    it on the event loop at memory speed.  None when that is not possible here.
    """
    try:
        mem = mmap.mmap(-1, nbytes)
        with open("/dev/zero", "rb", buffering=0) as zero, memoryview(mem) as view:
            pos = 0
            while pos < nbytes:
                got = zero.readinto(view[pos : pos + (64 << 20)])
                if not got:
                    return None
                pos += got
    except (OSError, ValueError, MemoryError):
        return None
    return mem


def remove_checkpoint(directory: str) -> None:
    """Delete the checkpoint file (in a thread), durably."""
    try:
        os.unlink(_path(directory))
    except FileNotFoundError:
        return
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def journal_key(gen: int) -> bytes:
    """The ``meta`` key of the removal journal entry of commit generation ``gen``."""
    return _JOURNAL + codec.seq_key(gen)


def encode_ranges(ranges: list[tuple[int, int]]) -> bytes:
    """A journal entry's data: the ranges, merged, as little-endian ``uint64`` pairs.

    (A purge of one subject removes its messages one by one; neighbours merge.)
    """
    merged: list[list[int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    arr = array("Q", [x for r in merged for x in r])
    if _BIG:
        arr.byteswap()
    return arr.tobytes()


def decode_ranges(data: bytes) -> list[tuple[int, int]]:
    """The ranges of a journal entry's data (see :func:`encode_ranges`)."""
    arr = array("Q")
    arr.frombytes(data[: len(data) // 16 * 16])
    if _BIG:
        arr.byteswap()
    return list(zip(arr[0::2], arr[1::2], strict=True))


def journal_ranges(meta: Any, from_gen: int, problems: list[str]) -> list[tuple[int, int]] | None:
    """Every range the journal holds from generation ``from_gen`` on; None if an entry fails."""
    opts = ReadOptions()
    opts.set_iterate_upper_bound(_JOURNAL + b"\xff" * 9)
    out: list[tuple[int, int]] = []
    for key, raw in meta.items(from_key=journal_key(from_gen), read_opt=opts):
        if not key.startswith(_JOURNAL):
            break
        data = codec.decode_meta(raw, key)
        if data is None:
            gen = int.from_bytes(key[1:], "big")
            problems.append(
                f"removal journal entry of generation {gen} failing its checksum: "
                "scanning the records"
            )
            return None
        out.extend(decode_ranges(data))
    return out
