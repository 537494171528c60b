"""The file store's format number: a store a newer natskern wrote is refused, with a
message that says why, and left as it is; an unmarked (older) store is marked at open."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from natskern.kernel.store.api import StoreIOError
from natskern.plugins.storage.filelog import FileLog
from natskern.plugins.storage.filelog.formatmark import FORMAT_KEY, STORE_FORMAT
from natskern.plugins.storage.filelog.meta import meta_paths, write_meta_copy

from tests.store.test_file_log import fill, reopen


def _files(path: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(path).iterdir()) if p.name != "lock"}


async def test_a_new_store_is_marked_with_the_current_format(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    log = await fill(path, 20)
    await log.close()
    log, _rec, metas = await reopen(path)
    assert log.meta_small[FORMAT_KEY] == b"%d" % STORE_FORMAT
    assert len(metas) == 20
    await log.close()


async def test_an_unmarked_store_opens_and_is_marked(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    log = await fill(path, 20)
    await log.close()
    for copy in meta_paths(path, FORMAT_KEY):  # as a store written before the mark existed
        Path(copy).unlink(missing_ok=True)
    log, _rec, metas = await reopen(path)
    assert [m.seq for m in metas] == list(range(1, 21))
    assert log.meta_small[FORMAT_KEY] == b"%d" % STORE_FORMAT
    await log.close()
    log, _rec, _ = await reopen(path)  # and the mark was written durably
    assert log.meta_small[FORMAT_KEY] == b"%d" % STORE_FORMAT
    await log.close()


@pytest.mark.parametrize("mark", [b"%d" % (STORE_FORMAT + 1), b"x9"])
async def test_a_newer_store_is_refused_and_left_untouched(tmp_path: Path, mark: bytes) -> None:
    path = str(tmp_path / "s")
    log = await fill(path, 20)
    gen = log.meta_gen[FORMAT_KEY]
    await log.close()
    write_meta_copy(path, FORMAT_KEY, gen + 1, mark)
    before = _files(path)
    with pytest.raises(StoreIOError, match="newer than this natskern reads"):
        await FileLog(path).open()
    assert _files(path) == before
    # the lock was given back: after the mark is put right the store opens, every message there
    write_meta_copy(path, FORMAT_KEY, gen + 2, b"%d" % STORE_FORMAT)
    log, _rec, metas = await asyncio.wait_for(reopen(path), 10)
    assert len(metas) == 20
    await log.close()
