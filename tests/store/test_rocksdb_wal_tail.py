"""RocksDB's WAL recovery, reported: a torn tail's size, and a corrupt record's consequence.

A writer process commits groups (each one ``WriteBatch`` + a synced WAL) and
exits without closing, as kill -9 leaves it; the test then damages the WAL and
opens the log.  RocksDB's point-in-time recovery replays up to the first record
that fails and drops the rest; the log reports what its info log says.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

from natskern.plugins.storage.rocksdb import RocksLog

from tests.store.rocksdb_helpers import recovered

WRITER = """
import asyncio, glob, os, sys
from natskern.kernel.store.api import StoredMsg
from natskern.plugins.storage.rocksdb import RocksLog

def wal_end():
    print(os.path.getsize(sorted(glob.glob(os.path.join(sys.argv[1], "*.log")))[-1]))

async def main():
    log = RocksLog(sys.argv[1])
    await log.open()
    for seq in range(1, 11):
        log.append(StoredMsg("s.a", seq, 1000 + seq, None, b"p%d" % seq))
    await log.commit()
    wal_end()
    log.remove(3)
    await log.commit()
    wal_end()
    for seq in range(11, 14):
        log.append(StoredMsg("s.a", seq, 1000 + seq, None, b"p%d" % seq))
        await log.commit()
    sys.stdout.flush()
    os._exit(0)  # no close: the WAL holds everything

asyncio.run(main())
"""


def write(path: str) -> tuple[str, int, int]:
    """Run the writer; the WAL file it leaves, and where the removal's group lies in it."""
    done = subprocess.run(
        [sys.executable, "-c", WRITER, path], check=True, capture_output=True, text=True
    )
    start, end = map(int, done.stdout.split())
    wals = sorted(glob.glob(os.path.join(path, "*.log")))
    assert wals, os.listdir(path)
    return wals[-1], start, end


async def test_a_torn_wal_tail_is_reported_with_its_size(tmp_path):
    path = str(tmp_path / "s")
    wal, _, _ = write(path)
    os.truncate(wal, os.path.getsize(wal) - 7)  # the last group's write cut short
    log = RocksLog(path)
    rec = await log.open()
    seqs = [m.seq for m in await recovered(rec)]
    torn = [p for p in rec.problems if "torn tail" in p]
    assert len(torn) == 1, rec.problems
    assert torn[0].startswith(f"WAL {os.path.basename(wal)}: truncated a torn tail of ")
    size = int(torn[0].split("torn tail of ")[1].split()[0])
    assert 0 < size < 200  # the rest of the last group's record, not the WAL
    assert seqs == [1, 2, *range(4, 13)]  # only the torn group (13) is gone
    await log.close()
    log = RocksLog(path)  # a clean reopen reports nothing
    rec = await log.open()
    assert not [p for p in rec.problems if "WAL" in p]
    await log.close()


async def test_a_corrupt_wal_record_drops_everything_after_it_and_says_so(tmp_path):
    """The removal's group is corrupt: RocksDB replays the WAL up to it only.

    So the removed message comes back and the later acknowledged groups are lost:
    RocksDB's own behaviour (its WAL records are checksummed but it does not
    resynchronise past a bad one), which the file store does not share.  It is not
    silent: the open reports the dropped bytes.
    """
    path = str(tmp_path / "s")
    wal, start, end = write(path)
    with open(wal, "rb") as f:
        data = bytearray(f.read())
    assert start < end < len(data)
    data[(start + end) // 2] ^= 0x10  # a bit in the middle of the removal's group
    with open(wal, "wb") as f:
        f.write(data)
    log = RocksLog(path)
    rec = await log.open()
    seqs = [m.seq for m in await recovered(rec)]
    dropped = [p for p in rec.problems if "dropped" in p and "WAL" in p]
    assert len(dropped) == 1 and "a removal among them is undone" in dropped[0], rec.problems
    assert seqs == list(range(1, 11))  # 3 is back, 11..13 are gone
    await log.close()
