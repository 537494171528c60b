"""The RocksDB store's format mark (``rocksdb_format``): a new database is marked, an
unmarked one is marked at open, a newer or unreadable one is refused without a change,
and one damaged copy of the mark is read from the other."""

from __future__ import annotations

from pathlib import Path

import pytest
from natskern.kernel.store.api import StoredMsg, StoreIOError
from natskern.plugins.storage import rocksdb_codec as codec
from natskern.plugins.storage import rocksdb_format as storeformat
from natskern.plugins.storage.rocksdb import RocksLog

from tests.store.rocksdb_helpers import recovered


def msg(seq: int) -> StoredMsg:
    return StoredMsg("f.x", seq, 1_000 + seq, None, b"p%d" % seq)


async def _filled(path: str) -> None:
    log = RocksLog(path)
    await log.open()
    for seq in (1, 2, 3):
        log.append(msg(seq))
    await log.commit()
    await log.close()


async def _edit_meta(path: str, changes: dict[bytes, bytes | None]) -> None:
    """Set (or delete, for None) keys of the database's ``meta`` column family (opened
    whatever its format mark says)."""
    log = RocksLog(path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(storeformat, "read_format", lambda meta: None)  # (taken as unmarked)
        await log.open()
    meta = log._views["meta"]
    for key, value in changes.items():
        if value is None:
            del meta[key]
        else:
            meta[key] = value
    await log.close()


async def _format_of(path: str) -> int | str | None:
    log = RocksLog(path)
    await log.open()
    found = storeformat.read_format(log._views["meta"])
    await log.close()
    return found


async def test_a_new_database_is_marked_with_the_current_format(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    await _filled(path)
    assert await _format_of(path) == storeformat.STORE_FORMAT


async def test_an_unmarked_database_opens_and_is_marked(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    await _filled(path)
    await _edit_meta(path, dict.fromkeys(storeformat.FORMAT_KEYS))
    log = RocksLog(path)
    rec = await log.open()
    assert [m.seq for m in await recovered(rec)] == [1, 2, 3]
    assert storeformat.read_format(log._views["meta"]) == storeformat.STORE_FORMAT
    await log.close()


@pytest.mark.parametrize("mark", ["newer", "unreadable", "not a number", "zero"])
async def test_a_newer_or_unreadable_format_is_refused_and_left_as_it_is(
    tmp_path: Path, mark: str
) -> None:
    path = str(tmp_path / "s")
    await _filled(path)
    log = RocksLog(path)
    await log.open()
    meta = log._views["meta"]
    if mark == "newer":
        storeformat.write_format(meta, storeformat.STORE_FORMAT + 1)
    else:
        value = {"unreadable": None, "not a number": b"v2x", "zero": b"0"}[mark]
        for key in storeformat.FORMAT_KEYS:
            meta[key] = b"\x00" * 9 if value is None else codec.encode_meta(value, key)
    await log.close()
    refused = RocksLog(path)
    with pytest.raises(StoreIOError) as info:
        await refused.open()
    text = str(info.value)
    assert path in text and "refusing to open it" in text
    if mark == "newer":
        assert f"format {storeformat.STORE_FORMAT + 1}, newer than" in text
    elif mark == "unreadable":
        assert "unreadable format ('unreadable'" in text
    elif mark == "zero":
        assert "unknown format 0 (this natskern reads 1 to" in text
    else:
        assert "unreadable format ('v2x'" in text
    # the database was released and not changed: with the mark put back, all is there
    await _edit_meta(path, dict.fromkeys(storeformat.FORMAT_KEYS))
    log = RocksLog(path)
    rec = await log.open()
    assert [m.seq for m in await recovered(rec)] == [1, 2, 3]
    assert (await log.read(3)) == msg(3)
    await log.close()


async def test_one_damaged_copy_of_the_mark_is_read_from_the_other(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    await _filled(path)
    await _edit_meta(path, {storeformat.FORMAT_KEYS[0]: b"\xff" * 12})
    assert await _format_of(path) == storeformat.STORE_FORMAT


async def _raw_values(path: str) -> list[tuple[bytes, bytes]]:
    log = RocksLog(path)
    await log.open()
    items = list(log._views["msgs"].items())
    await log.close()
    return items


async def test_a_new_database_checksums_its_messages_with_xxh3(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    await _filled(path)
    values = await _raw_values(path)
    assert len(values) == 3
    assert all(codec.verify_msg_xxh(k, v) and not codec.verify_msg(k, v) for k, v in values)


async def test_a_format_1_database_stays_format_1_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of the first layout (BLAKE2b-64) is read, scanned and appended to in
    that layout, also once its mark is gone (the format is found from its records)."""
    path = str(tmp_path / "s")
    with monkeypatch.context() as mp:  # (a database made by a natskern of format 1)
        mp.setattr(storeformat, "STORE_FORMAT", 1)
        await _filled(path)
    await _edit_meta(path, dict.fromkeys(storeformat.FORMAT_KEYS))
    log = RocksLog(path)
    rec = await log.open()  # (no checkpoint current: every record is scanned and verified)
    assert [m.seq for m in await recovered(rec)] == [1, 2, 3] and not rec.problems
    assert storeformat.read_format(log._views["meta"]) == 1
    log.append(msg(4))
    await log.commit()
    assert [await log.read(s) for s in (1, 4)] == [msg(1), msg(4)]
    await log.close()
    values = await _raw_values(path)
    assert len(values) == 4 and all(codec.verify_msg(k, v) for k, v in values)


async def test_an_unmarked_database_of_format_2_is_found_to_be_so(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    await _filled(path)
    await _edit_meta(path, dict.fromkeys(storeformat.FORMAT_KEYS))
    assert await _format_of(path) == 2
    log = RocksLog(path)
    rec = await log.open()
    assert [m.seq for m in await recovered(rec)] == [1, 2, 3] and not rec.problems
    assert await log.read(2) == msg(2)
    await log.close()
