"""Recovery of the RocksDB stream store: the log state, the newest key, the record scan.

The scan reads every record from a sequence on: all of them without a usable
index checkpoint, else the tail after it (:mod:`.rocksdb_ckpt`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

from natskern.kernel.store.log import RecordColumns
from natskern.plugins.storage import rocksdb_codec as codec
from rocksdict import ReadOptions
from xxhash import xxh3_64_digest

__all__ = ["newest_seq", "read_state", "scan", "ts_of", "wal_problems"]

_SCAN_CHUNK = 4096
#: Corrupt records reported one by one; the rest in one summary line.
_DETAILED = 100
log = logging.getLogger("natskern.store.rocksdb")


#: RocksDB's info log line for WAL bytes its recovery dropped (db_impl_open.cc).
_DROPPED = re.compile(rb"([^ /]+\.log): dropping (\d+) bytes; ([^\n]*)")


def wal_problems(directory: str) -> list[str]:
    """What RocksDB's WAL recovery dropped at the open just done, from its info log.

    RocksDB (point-in-time recovery, its default) replays a WAL up to its first
    record that fails (a partial write or a checksum), drops everything from
    there to the end, and says so only in its info log (``LOG``, started afresh
    at every open): ``000004.log: dropping 45 bytes; Corruption: truncated
    record body``.  A partial write is the torn tail of a crash, never
    acknowledged; a bad checksum with bytes after it means that acknowledged
    writes after it are lost too (RocksDB cannot resynchronise past it), so it is
    reported as such.
    """
    try:
        with open(os.path.join(directory, "LOG"), "rb") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for name, count, why in _DROPPED.findall(text):
        reason = why.decode(errors="replace").strip()
        wal, n = name.decode(errors="replace"), int(count)
        if "truncated record" in reason:
            out.append(
                f"WAL {wal}: truncated a torn tail of {n} bytes (a partial write; "
                f"RocksDB: {reason})"
            )
        else:
            out.append(
                f"WAL {wal}: dropped {n} bytes from a record that failed ({reason}) to its "
                f"end: the writes in them are lost (a removal among them is undone)"
            )
    return out


def read_state(meta: Any, problems: list[str]) -> tuple[int, int, int, int] | None:
    """``(last_seq, last_ts, gen, floor)`` from the first intact copy, or None."""
    found = False
    for key in codec.STATE_KEYS:
        raw = meta.get(key)
        found = found or raw is not None
        data = codec.decode_meta(raw, key)
        state = codec.decode_state(data) if data is not None else None
        if state is not None:
            if key != codec.STATE_KEYS[0]:
                problems.append("first copy of the log state failed its checksum; used the second")
            return state
    if found:
        problems.append("both copies of the log state failed their checksum")
    return None


def newest_seq(msgs: Any) -> int:
    """The highest sequence key in the messages column family (0 when empty)."""
    for key in msgs.keys(backwards=True):
        return int.from_bytes(key, "big")
    return 0


def ts_of(msgs: Any, seq: int, verify: Callable[[bytes, bytes], bool] = codec.verify_msg) -> int:
    """The timestamp of intact record ``seq`` (0 when missing or corrupt); ``verify``:
    the database format's check."""
    key = codec.seq_key(seq)
    value = msgs.get(key)
    if value is None or not verify(key, value):
        return 0
    return int(codec.HEADER.unpack_from(value, 8)[0])


async def scan(
    msgs: Any,
    overhead: int,
    problems: list[str],
    corrupt: list[int],
    reported: set[int],
    verify: bool = True,
    headers_extra: int = 4,
    *,
    start: int = 0,
    counter: list[int] | None = None,
    fmt: int = 1,
) -> AsyncIterator[RecordColumns]:
    """Every intact record from sequence ``start`` on, in key order, as columnar chunks.

    Checksums are verified on the way (with ``verify=False`` only the lengths are
    checked here, and a damaged record is caught by its checksum when it is read:
    the issue's "at the latest").  ``counter[0]`` is raised by the records yielded.

    No object per record: each chunk of up to 4,096 records is one
    :class:`~natskern.kernel.store.log.RecordColumns` (the keys become sequences
    with one ``struct.unpack``).  Inlined
    :func:`~natskern.plugins.storage.rocksdb_codec.verify_msg` (a crash recovery
    runs this once per record, in the database's format ``fmt``).  What it finds is
    logged here as well as added to ``problems``/``corrupt``: the store reads those
    before it iterates.
    """
    opts = ReadOptions()
    opts.fill_cache(False)  # type: ignore[call-arg]  # the stub lacks the argument
    opts.set_readahead_size(4 << 20)
    subjects: dict[bytes, str] = {}
    unpack = codec.HEADER.unpack_from
    blank = codec.BLANK.copy
    xxh, digest = fmt >= 2, xxh3_64_digest
    at = codec.DATA_AT
    base = overhead - at
    keys: list[bytes] = []
    tss: list[int] = []
    names: list[str] = []
    sizes: list[int] = []
    ttls: dict[int, int] = {}
    for key, value in msgs.items(from_key=codec.seq_key(start), read_opt=opts):
        size = len(value)
        if verify:
            if xxh:
                bad = digest(memoryview(value)[8:], int.from_bytes(key, "big")) != value[:8]
            else:
                h = blank()
                h.update(key)
                h.update(value[8:])
                bad = h.digest() != value[:8]
            if bad:
                _bad(key, "checksum mismatch", problems, corrupt, reported)
                continue
        if size < at:
            _bad(key, "shorter than its header", problems, corrupt, reported)
            continue
        ts, ttl, slen, hlen = unpack(value, 8)
        if at + slen + (hlen if hlen > 0 else 0) > size or hlen < -1:
            _bad(key, "lengths exceed the value", problems, corrupt, reported)
            continue
        raw = value[at : at + slen]
        subject = subjects.get(raw)
        if subject is None:
            try:
                subject = subjects[raw] = raw.decode()
            except UnicodeDecodeError:
                _bad(key, "subject not UTF-8", problems, corrupt, reported)
                continue
        keys.append(key)
        tss.append(ts)
        names.append(subject)
        sizes.append(base + size + (headers_extra if hlen > 0 else 0))
        if ttl:
            ttls[int.from_bytes(key, "big")] = ttl
        if len(keys) == _SCAN_CHUNK:
            yield _chunk(keys, tss, names, sizes, ttls, counter)
            keys, tss, names, sizes, ttls = [], [], [], [], {}
            await asyncio.sleep(0)
    if keys:
        yield _chunk(keys, tss, names, sizes, ttls, counter)
    if len(corrupt) > _DETAILED:
        problems.append(
            f"{len(corrupt) - _DETAILED} more corrupt records skipped (sequences "
            f"{corrupt[_DETAILED]}..{corrupt[-1]})"
        )
        log.error("rocksdb recovery: %s", problems[-1])


def _chunk(
    keys: list[bytes],
    tss: list[int],
    names: list[str],
    sizes: list[int],
    ttls: dict[int, int],
    counter: list[int] | None,
) -> RecordColumns:
    if counter is not None:
        counter[0] += len(keys)
    seqs = list(struct.unpack(f">{len(keys)}Q", b"".join(keys)))
    return RecordColumns(seqs, tss, names, sizes, ttls)


def _bad(key: bytes, why: str, problems: list[str], corrupt: list[int], reported: set[int]) -> None:
    seq = int.from_bytes(key, "big")
    corrupt.append(seq)
    reported.add(seq)
    if len(corrupt) <= _DETAILED:
        problems.append(f"corrupt record at sequence {seq}: {why}, skipped")
        log.error("rocksdb recovery: %s", problems[-1])
