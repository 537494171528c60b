"""Reading records back from block files: one record, and the verified ones after it.

:func:`read_span` (in a thread) and :func:`split_span` (the page-cache read on the
loop) take a span of a block; every record kept from it is checked first;
:func:`decode_msg` checks and decodes one whole record.  A record that fails its
checksum is never returned.
"""

from __future__ import annotations

import os

from natskern.kernel.store.api import CorruptRecordError, StoredMsg
from natskern.plugins.storage.filelog.codec import (
    ERASED,
    FLAG_HEADERS,
    HEADER,
    MAGIC,
    MSG,
    OVERHEAD,
    checksum_ok,
)

__all__ = ["decode_msg", "read_span", "record_length", "split_span"]


def read_span(fd: int, off: int, span: int) -> tuple[bytes, list[tuple[int, int, StoredMsg]]]:
    """(In a thread) the record at ``off``, and the verified messages after it in ``span`` bytes.

    Returns the first record's bytes (checked by the caller) and ``(seq, offset from
    off, message)`` of every whole message record after it that passes its checksum.
    """
    data = os.pread(fd, span, off)
    first, ahead = split_span(data)
    if first is not None:
        return first, ahead
    if len(data) >= HEADER.size and (total := HEADER.unpack_from(data)[3]) > len(data):
        return data + os.pread(fd, total - len(data), off + len(data)), []
    return data, []


def record_length(data: bytes | bytearray, n: int) -> int:
    """The length the header at the start of ``data[:n]`` gives its record (0: no header)."""
    if n < HEADER.size:
        return 0
    total: int = HEADER.unpack_from(data)[3]
    return total


def split_span(data: bytes) -> tuple[bytes | None, list[tuple[int, int, StoredMsg]]]:
    """The first record of ``data`` and the verified message records after it.

    None for the first record when ``data`` does not hold it whole (a short read, a
    record longer than the span, or a length field too small to be a record).  The
    records after it are decoded and checked here, inline (what :func:`decode_msg`
    does, without a copy of each record): this loop is a sequential reader's cost
    per message once the newest messages are out of memory.
    """
    if len(data) < HEADER.size:
        return None, []
    total = HEADER.unpack_from(data)[3]
    if total < OVERHEAD or total > len(data):
        return None, []
    ahead = []
    append = ahead.append
    pos, n = total, len(data)
    unpack = HEADER.unpack_from
    view = memoryview(data)
    hsize = HEADER.size
    subjects: dict[bytes, str] = {}
    while n - pos >= OVERHEAD:
        magic, kind, flags, rtotal, rseq, ts, _ttl, slen, hlen = unpack(data, pos)
        end = pos + rtotal
        if magic != MAGIC or rtotal < OVERHEAD or end > n:
            break
        # (a record that fails its checksum is not kept: a direct read reports it)
        if (
            kind == MSG
            and OVERHEAD + slen + hlen <= rtotal
            and checksum_ok(view[pos : end - 8], flags, data[end - 8 : end])
        ):
            p = pos + hsize
            raw = data[p : p + slen]
            subject = subjects.get(raw)
            if subject is None:
                subject = subjects[raw] = raw.decode("utf-8", "surrogateescape")
            p += slen
            headers = data[p : p + hlen] if flags & FLAG_HEADERS else None
            append((rseq, pos, StoredMsg(subject, rseq, ts, headers, data[p + hlen : end - 8])))
        pos = end
    return data[:total], ahead


def decode_msg(seq: int, data: bytes | bytearray | memoryview) -> StoredMsg:
    """The message in ``data`` (a whole record) after checking it; CorruptRecordError if bad.

    ``data`` may be a view of a read's buffer: the message's fields are copied out of it.
    """
    if len(data) < OVERHEAD:
        raise CorruptRecordError(seq, "short record")
    magic, kind, flags, total, rseq, ts, _ttl, slen, hlen = HEADER.unpack_from(data)
    if magic != MAGIC or total != len(data) or OVERHEAD + slen + hlen > total:
        raise CorruptRecordError(seq, "bad record header")
    if not checksum_ok(memoryview(data)[:-8], flags, bytes(data[-8:])):
        raise CorruptRecordError(seq, "checksum mismatch")
    if kind == ERASED:
        raise CorruptRecordError(seq, "record erased but still indexed")
    if kind != MSG or rseq != seq:
        raise CorruptRecordError(seq, f"index points at a record of sequence {rseq}")
    p = HEADER.size
    if type(data) is not bytes:  # (a view: each field copied out once)
        view = memoryview(data)
        subject = str(view[p : p + slen], "utf-8", "surrogateescape")
        p += slen
        headers = bytes(view[p : p + hlen]) if flags & FLAG_HEADERS else None
        return StoredMsg(subject, seq, ts, headers, bytes(view[p + hlen : -8]))
    subject = data[p : p + slen].decode("utf-8", "surrogateescape")
    p += slen
    headers = data[p : p + hlen] if flags & FLAG_HEADERS else None
    return StoredMsg(subject, seq, ts, headers, data[p + hlen : -8])
