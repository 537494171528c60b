"""Block sidecars of every format stand in for a scan of their block: version 5 (written
now: xxh3_64 block digest and checksum), version 4 (xxh3_64 digest, blake2b checksum) and
version 3 (crc32 + adler32 digest, blake2b checksum), written by earlier releases; any one
is refused when a byte of the block changed."""

from __future__ import annotations

import struct
import zlib
from array import array
from hashlib import blake2b
from pathlib import Path

import pytest
from natskern.plugins.storage.filelog.scan import BlockScan
from natskern.plugins.storage.filelog.sidecar import BlockAcc, decode_sidecar, encode_sidecar

from tests.store import fault_tools as ft
from tests.store.test_file_log import crash, fill, reopen

_VERSION_AT, _DIGEST_AT = 4, 13


def _sidecars(path: str) -> list[Path]:
    return sorted(Path(path).glob("*.idx"))


def _as_version(idx: Path, block: Path, version: int) -> None:
    """Rewrite a sidecar as an earlier release wrote it (3: crc32 + adler32; 4: blake2b)."""
    data = bytearray(idx.read_bytes()[:-8])
    assert data[_VERSION_AT] == 5
    data[_VERSION_AT] = version
    if version == 3:
        blk = block.read_bytes()
        digest = struct.pack("<IIQ", zlib.crc32(blk), zlib.adler32(blk), len(blk))
        data[_DIGEST_AT : _DIGEST_AT + 16] = digest
    idx.write_bytes(bytes(data) + blake2b(bytes(data), digest_size=8).digest())


@pytest.mark.parametrize("version", [3, 4])
async def test_older_sidecars_still_stand_in_for_scans(tmp_path: Path, version: int) -> None:
    path = str(tmp_path / "s")
    log = await fill(path, 300)
    nblocks = len(log.blocks)
    await crash(log)
    log, _rec, fresh = await reopen(path, block_size=2048)
    assert log.sidecars_used == nblocks - 1
    await crash(log)
    sidecars = _sidecars(path)
    assert len(sidecars) == nblocks - 1
    for idx in sidecars:
        _as_version(idx, idx.with_suffix(".blk"), version)
    log, _rec, old = await reopen(path, block_size=2048)
    assert log.sidecars_used == nblocks - 1  # none was refused and scanned instead
    assert old == fresh
    await log.close()


async def test_a_sidecar_whose_checksum_fails_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    log = await fill(path, 300)
    nblocks = len(log.blocks)
    await crash(log)
    log, _rec, fresh = await reopen(path, block_size=2048)
    await crash(log)
    idx = _sidecars(path)[0]
    data = bytearray(idx.read_bytes())
    data[len(data) // 2] ^= 1  # (a bit of its body: the block itself is intact)
    idx.write_bytes(bytes(data))
    log, _rec, again = await reopen(path, block_size=2048)
    assert log.sidecars_used == nblocks - 2  # that block was scanned instead
    assert again == fresh
    await log.close()


def test_a_sidecar_lists_the_removals_as_they_were_added() -> None:
    acc = BlockAcc()
    acc.add_run(0, [10, 11, 12], [b"a", b"b", b"a"], [30, 30, 30])
    acc.add_removals([(1, 4, 9, 100)])
    acc.add_removal_set(array("Q", [2, 3]), 12, 101)
    assert acc.removal_records() == [(1, 4, 9, 100), (2, 2, 12, 101), (3, 3, 12, 101)]
    data = b"".join(encode_sidecar(acc, 0, 1, array("I", [0, 40, 80])))
    decoded = decode_sidecar(data, b"")  # (the block: nothing was fed to its digest)
    assert decoded is not None
    sc, names = decoded
    assert names == [b"a", b"b"] and list(sc.sid) == [0, 1, 0]
    assert sc.removals == acc.removal_records()
    rem = array("q")
    rem.frombytes(data[-8 - 3 * 32 : -8])  # (no metas, no TTLs: they end the body)
    assert rem.tolist() == [1, 4, 9, 100, 2, 2, 12, 101, 3, 3, 12, 101]


def test_a_scanned_removal_past_int64_gives_the_block_no_sidecar() -> None:
    sc = BlockScan()
    sc.removals.append((1, 1, 1 << 63, 0))
    assert BlockAcc.from_scan(sc, [], b"") is None
    with pytest.raises(OverflowError):  # (what a group's apply answers with acc = None)
        BlockAcc().add_removals(sc.removals)


async def test_a_flip_defeats_a_version_3_sidecar_too(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    log = await fill(path, 200)
    await crash(log)
    for idx in _sidecars(path):
        _as_version(idx, idx.with_suffix(".blk"), 3)
    victim = ft.messages(path)[30]
    ft.flip_bit(victim.path, victim.payload_at, 0)
    log, rec, metas = await reopen(path, block_size=2048)
    assert rec.corrupt == [victim.seq]
    assert victim.seq not in [m.seq for m in metas] and len(metas) == 199
    await log.close()
