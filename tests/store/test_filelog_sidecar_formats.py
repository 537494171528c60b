"""Block sidecars of both digest formats: xxh3_64 (version 4, written now) and crc32 +
adler32 (version 3, written by earlier releases) stand in for a scan of their block,
and either one is refused when a byte of the block changed."""

from __future__ import annotations

import struct
import zlib
from hashlib import blake2b
from pathlib import Path

from tests.store import fault_tools as ft
from tests.store.test_file_log import crash, fill, reopen

_VERSION_AT, _DIGEST_AT = 4, 13


def _sidecars(path: str) -> list[Path]:
    return sorted(Path(path).glob("*.idx"))


def _as_version_3(idx: Path, block: Path) -> None:
    """Rewrite a sidecar as an earlier release wrote it: version 3, crc32 + adler32."""
    data = bytearray(idx.read_bytes()[:-8])
    assert data[_VERSION_AT] == 4
    blk = block.read_bytes()
    data[_VERSION_AT] = 3
    digest = struct.pack("<IIQ", zlib.crc32(blk), zlib.adler32(blk), len(blk))
    data[_DIGEST_AT : _DIGEST_AT + 16] = digest
    idx.write_bytes(bytes(data) + blake2b(bytes(data), digest_size=8).digest())


async def test_version_3_sidecars_still_stand_in_for_scans(tmp_path: Path) -> None:
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
        _as_version_3(idx, idx.with_suffix(".blk"))
    log, _rec, old = await reopen(path, block_size=2048)
    assert log.sidecars_used == nblocks - 1  # none was refused and scanned instead
    assert old == fresh
    await log.close()


async def test_a_flip_defeats_a_version_3_sidecar_too(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    log = await fill(path, 200)
    await crash(log)
    for idx in _sidecars(path):
        _as_version_3(idx, idx.with_suffix(".blk"))
    victim = ft.messages(path)[30]
    ft.flip_bit(victim.path, victim.payload_at, 0)
    log, rec, metas = await reopen(path, block_size=2048)
    assert rec.corrupt == [victim.seq]
    assert victim.seq not in [m.seq for m in metas] and len(metas) == 199
    await log.close()
