"""The file log's two record checksums: xxh3_64 (written now) and blake2b (the older format).

A store written before ``FLAG_XXH3`` existed has blake2b checksums in every record. Here
a log is written, and its block files are rewritten record by record into the older
format (flag cleared, blake2b recomputed, lengths unchanged); the new code must open
it after a clean stop and after a crash (a full scan), serve every message, accept
writes, and still catch a flipped bit in an old record.
"""

from __future__ import annotations

import glob
import os
from hashlib import blake2b

import pytest
from natskern.kernel.store.api import CorruptRecordError, StoredMsg
from natskern.plugins.storage.filelog import FileLog
from natskern.plugins.storage.filelog.codec import FLAG_XXH3, HEADER, MAGIC, OVERHEAD
from xxhash import xxh3_64_digest


def msg(seq: int) -> StoredMsg:
    headers = b"NATS/1.0\r\nN: %d\r\n\r\n" % seq if seq % 4 == 0 else None
    return StoredMsg(f"c.{seq % 5}", seq, 7_000 + seq, headers, b"body %d" % seq * (seq % 9))


def to_blake2b(path: str) -> int:
    """Rewrite every record of block file ``path`` in the blake2b format; return how many."""
    data = bytearray(open(path, "rb").read())  # noqa: SIM115
    pos = count = 0
    while len(data) - pos >= OVERHEAD:
        magic, kind, flags, total, *rest = HEADER.unpack_from(data, pos)
        if magic != MAGIC or total < OVERHEAD or pos + total > len(data):
            break
        end = pos + total
        assert xxh3_64_digest(bytes(data[pos : end - 8])) == bytes(data[end - 8 : end])
        HEADER.pack_into(data, pos, magic, kind, flags & ~FLAG_XXH3, total, *rest)
        data[end - 8 : end] = blake2b(bytes(data[pos : end - 8]), digest_size=8).digest()
        pos, count = end, count + 1
    with open(path, "wb") as f:
        f.write(data)
    return count


async def written(path: str, n: int) -> None:
    log = FileLog(path, block_size=4096)
    await log.open()
    for seq in range(1, n + 1):
        log.append(msg(seq))
        if seq % 40 == 0:
            await log.commit()
    log.remove(17)
    await log.commit()
    log.put_meta("index", b"store checkpoint")
    await log.close()


@pytest.mark.parametrize("crash", [False, True], ids=["clean", "scan"])
async def test_blake2b_records_are_still_read(tmp_path, crash: bool) -> None:
    path = str(tmp_path / "s")
    await written(path, 300)
    blocks = sorted(glob.glob(os.path.join(path, "*.blk")))
    assert len(blocks) > 1
    assert sum(to_blake2b(b) for b in blocks) > 300
    if crash:  # no checkpoint to trust: every record is scanned and checked
        for meta in glob.glob(os.path.join(path, "meta.*")):
            os.unlink(meta)
    log = FileLog(path, block_size=4096)
    rec = await log.open()
    if not crash:
        assert rec.checkpoint_current
    got = [await log.read(s) for s in range(1, 301)]
    assert [m.seq for m in got if m is not None] == [s for s in range(1, 301) if s != 17]
    assert all(m == msg(m.seq) for m in got if m is not None)
    log.append(msg(301))  # new records (xxh3) after old ones in the same log
    await log.commit()
    assert await log.read(301) == msg(301)
    await log.close()


async def test_a_flipped_bit_in_an_old_record_is_caught(tmp_path) -> None:
    path = str(tmp_path / "s")
    await written(path, 60)
    block = sorted(glob.glob(os.path.join(path, "*.blk")))[0]
    to_blake2b(block)
    data = bytearray(open(block, "rb").read())  # noqa: SIM115
    at = data.find(b"body 5body 5")  # inside sequence 5's payload
    assert at > 0
    data[at] ^= 0x01
    with open(block, "wb") as f:
        f.write(data)
    log = FileLog(path, block_size=4096)
    await log.open()
    with pytest.raises(CorruptRecordError):
        await log.read(5)
    assert await log.read(6) == msg(6)
    await log.close()
