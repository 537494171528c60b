"""The RocksDB record log on its own: staging, commit, checkpoint token, side logs, erase."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from natskern.kernel.store.api import StoredMsg
from natskern.kernel.store.base import record_size
from natskern.plugins.storage.rocksdb import RocksLog

from tests.store.rocksdb_helpers import recovered


def msg(seq: int, payload: bytes = b"", headers: bytes | None = None) -> StoredMsg:
    return StoredMsg(f"s.{seq % 3}", seq, 1_000 + seq, headers, payload or b"p%d" % seq)


async def metas(rec) -> list:
    return await recovered(rec)


async def test_staged_records_and_removals_are_readable_before_commit(tmp_path):
    log = RocksLog(str(tmp_path / "s"))
    await log.open()
    for seq in range(1, 6):
        log.append(msg(seq, headers=b"NATS/1.0\r\n\r\n" if seq == 2 else None))
    assert (await log.read(2)).headers == b"NATS/1.0\r\n\r\n"
    log.remove(1)
    log.remove_range(3, 4)
    assert [await log.read(s) for s in (1, 3, 4)] == [None, None, None]
    await log.commit()
    assert (await log.read(5)).payload == b"p5" and await log.read(3) is None
    assert (await log.read(2)).headers == b"NATS/1.0\r\n\r\n" and (
        await log.read(5)
    ).headers is None
    await log.close()


async def test_scan_meta_and_last_seq_after_removing_the_newest(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    for seq in range(1, 11):
        log.append(msg(seq), ttl=seq if seq % 2 else 0)
    await log.commit()
    log.remove_range(8, 10)
    await log.commit()
    await log.close()
    log = RocksLog(path)
    rec = await log.open()
    got = await metas(rec)
    assert not rec.checkpoint_current
    assert rec.last_seq == 10 and rec.last_ts == 1_010
    assert [m.seq for m in got] == list(range(1, 8))
    m = got[2]
    assert (m.subject, m.ts, m.ttl) == ("s.0", 1_003, 3)
    assert m.size == record_size("s.0", None, b"p3")
    await log.close()


async def test_checkpoint_is_current_only_without_later_appends_or_removals(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    log.append(msg(1))
    log.put_meta("index", b"cp1")
    await log.close()
    log = RocksLog(path)
    rec = await log.open()
    assert rec.checkpoint_current and await log.get_meta("index") == b"cp1"
    log.put_meta("config", b"c")  # metadata and side logs do not date the checkpoint
    log.aux_log("c").append(b"x")
    await log.commit()
    await log.close()
    rec = await log.open()  # the same object opens again after a close
    assert rec.checkpoint_current
    log.remove(1)
    await log.commit()
    await log.close()
    rec = await log.open()
    assert not rec.checkpoint_current and await metas(rec) == []
    log.put_meta("index", b"cp2")
    await log.commit()
    log.put_meta("index", None)
    await log.close()
    rec = await log.open()
    assert not rec.checkpoint_current and await log.get_meta("index") is None
    await log.close()


async def test_side_logs_rewrite_drop_and_empty_ones_survive(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    a, ab = log.aux_log("a"), log.aux_log("ab")  # one name a prefix of the other
    for i in range(3):
        a.append(b"a%d" % i)
        ab.append(b"ab%d" % i)
    log.aux_log("empty")
    log.aux_log("gone").append(b"x")
    await log.commit()
    a.rewrite([b"snap"])
    a.append(b"after")
    log.drop_aux("gone")
    await log.close()
    log = RocksLog(path)
    await log.open()
    assert log.aux_names() == ["a", "ab", "empty"]
    assert await log.aux_log("a").replay() == [b"snap", b"after"]
    assert await log.aux_log("ab").replay() == [b"ab0", b"ab1", b"ab2"]
    assert await log.aux_log("empty").replay() == []
    log.aux_log("a").append(b"more")  # counters resume after the newest entry
    await log.commit()
    assert await log.aux_log("a").replay() == [b"snap", b"after", b"more"]
    await log.close()


def _files_containing(directory: str, needle: bytes) -> list[str]:
    found = []
    for name in os.listdir(directory):
        p = Path(directory, name)
        if p.is_file() and needle in p.read_bytes():
            found.append(name)
    return found


@pytest.mark.parametrize("flushed", [True, False])
async def test_erase_leaves_no_live_file_holding_the_value(tmp_path, flushed):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    secret = os.urandom(64)  # random bytes: SST compression keeps them as one literal run
    for seq in range(1, 21):
        log.append(msg(seq, secret if seq == 7 else b""))
    log.put_meta("config", b"c")
    await log.commit()
    if flushed:  # in an SST file, else still in the WAL and the memtable
        await log.close()
        await log.open()
    assert _files_containing(path, secret[16:48])
    log.remove(7, erase=True)
    await log.commit()
    assert await log.read(7) is None and (await log.read(8)).payload == b"p8"
    assert _files_containing(path, secret[16:48]) == []
    await log.close()


async def test_destroy_removes_the_directory(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    log.append(msg(1))
    await log.commit()
    await log.destroy()
    assert not os.path.exists(path)


async def test_append_batch_is_staged_readable_and_recovered(tmp_path):
    path = str(tmp_path / "s")
    log = RocksLog(path)
    await log.open()
    items = [(f"b.{i % 2}", b"NATS/1.0\r\n\r\n" if i == 1 else None, b"v%d" % i) for i in range(5)]
    log.append_batch(10, 777, items)
    got = await log.read(11)
    assert (got.subject, got.seq, got.ts, got.headers, got.payload) == (
        "b.1",
        11,
        777,
        b"NATS/1.0\r\n\r\n",
        b"v1",
    )
    log.remove(12)
    log.remove_range(13, 13)
    assert await log.read(12) is None and await log.read(13) is None
    await log.commit()
    assert (await log.read(14)).payload == b"v4" and await log.read(12) is None
    await log.close()
    rec = await log.open()
    assert [(m.seq, m.subject, m.ts) for m in await metas(rec)] == [
        (10, "b.0", 777),
        (11, "b.1", 777),
        (14, "b.0", 777),
    ]
    assert rec.last_seq == 14 and rec.last_ts == 777
    await log.close()
