"""Writing a large group so that the disk works while the rest of it is still being copied.

A group of object chunks is megabytes: its ``pwritev`` copies them into the page
cache (~65 ms for 24 MB here) and only then does its ``fdatasync`` start the
disk (~40 ms more), one after the other.  :func:`write_streaming` writes such a
group in slices of :data:`SLICE` bytes and, after each, asks the kernel to start
writing that slice back (``sync_file_range(SYNC_FILE_RANGE_WRITE)``: it starts
the I/O and returns, it waits for nothing and makes nothing durable).  The
group's ``fdatasync`` still follows and is what makes it durable; it finds most
of the group already on its way to the disk.  RocksDB's ``bytes_per_sync`` is the
same idea.

``sync_file_range`` is Linux's; elsewhere (or where libc lacks it) the slices are
written all the same, without the early start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["SLICE", "STREAMING_MIN", "write_streaming"]

#: Groups at least this large are written in slices (smaller ones: one ``pwritev``).
STREAMING_MIN = 2 << 20
#: How much is copied before its write-back is started.
SLICE = 1 << 20
_SYNC_FILE_RANGE_WRITE = 2


def _load() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_sync_file_range = _load()


def start_writeback(fd: int, off: int, size: int) -> None:
    """Start writing ``size`` bytes at ``off`` back to the disk (best effort, no wait)."""
    if _sync_file_range is not None:
        _sync_file_range(fd, off, size, _SYNC_FILE_RANGE_WRITE)  # (a failure: fdatasync tells)


def write_streaming(
    fd: int, parts: list[bytes], off: int, write: Callable[[int, list[bytes], int], None]
) -> None:
    """Write ``parts`` from ``off`` with ``write`` (:func:`.group.write_parts`), a slice of
    about :data:`SLICE` bytes at a time, starting each slice's write-back once it is copied."""
    batch: list[bytes] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part)
        if size >= SLICE:
            write(fd, batch, off)
            start_writeback(fd, off, size)
            off += size
            batch, size = [], 0
    if batch:
        write(fd, batch, off)
