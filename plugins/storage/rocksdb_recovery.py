"""Recovery of the RocksDB stream store: the log state, the newest key, the record scan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from natskern.kernel.store.log import RecordMeta
from natskern.plugins.storage import rocksdb_codec as codec
from rocksdict import ReadOptions

__all__ = ["index_ok", "newest_seq", "read_state", "scan", "ts_of"]

_SCAN_CHUNK = 4096


def read_state(meta: Any, problems: list[str]) -> tuple[int, int, int, int] | None:
    """``(last_seq, last_ts, gen, index_gen)`` from the first intact copy, or None."""
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


def ts_of(msgs: Any, seq: int) -> int:
    """The timestamp of intact record ``seq`` (0 when missing or corrupt)."""
    key = codec.seq_key(seq)
    value = msgs.get(key)
    if value is None or not codec.verify_msg(key, value):
        return 0
    return int(codec.HEADER.unpack_from(value, 8)[0])


def index_ok(meta: Any, problems: list[str]) -> bool:
    """Whether a copy of the ``index`` checkpoint passes its checksum."""
    keys = codec.user_meta_keys("index")
    for key in keys:
        if codec.decode_meta(meta.get(key), key) is not None:
            return True
    problems.append("index checkpoint missing or failing its checksum: scanning the records")
    return False


async def scan(
    msgs: Any,
    overhead: int,
    problems: list[str],
    corrupt: list[int],
    reported: set[int],
) -> AsyncIterator[RecordMeta]:
    """Every intact record's meta in key order; checksums are verified on the way."""
    opts = ReadOptions()
    opts.fill_cache(False)  # type: ignore[call-arg]  # the stub lacks the argument
    opts.set_readahead_size(4 << 20)
    subjects: dict[bytes, str] = {}
    header = codec.HEADER
    verify = codec.verify_msg
    at = codec.DATA_AT
    n = 0
    for key, value in msgs.items(read_opt=opts):
        seq = int.from_bytes(key, "big")
        if not verify(key, value):
            corrupt.append(seq)
            reported.add(seq)
            problems.append(f"corrupt record at sequence {seq}: checksum mismatch, skipped")
            continue
        ts, ttl, slen, _hlen = header.unpack_from(value, 8)
        raw = value[at : at + slen]
        subject = subjects.get(raw)
        if subject is None:
            try:
                subject = subjects[raw] = raw.decode()
            except UnicodeDecodeError:
                corrupt.append(seq)
                problems.append(f"corrupt record at sequence {seq}: subject not UTF-8")
                continue
        yield RecordMeta(seq, ts, subject, overhead + len(value) - at, ttl)
        n += 1
        if n % _SCAN_CHUNK == 0:
            await asyncio.sleep(0)
