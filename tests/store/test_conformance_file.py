"""The conformance suite against the file backend, with its fault hooks on real files."""

from __future__ import annotations

import os
from typing import Any

import pytest
from natskern.kernel.store.api import StoreConfig, StreamStore
from natskern.kernel.store.conformance import StoreConformance
from natskern.plugins.storage.file import open_file_store
from natskern.plugins.storage.filelog import FileLog, aiosync
from natskern.plugins.storage.filelog.codec import HEADER, encode_msg

from tests.store import fault_tools as ft


def _log(store: StreamStore) -> FileLog:
    log = store._log  # type: ignore[attr-defined]
    assert isinstance(log, FileLog)
    return log


class TestFile(StoreConformance):
    """The registered ``file`` backend (small blocks, so rotation and reclaim are exercised)."""

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        config.options = {**config.options, "block_size": 4096}
        store = await open_file_store(config, directory, sync=sync)
        assert _log(store).block_size == 4096
        return store

    async def corrupt(self, store: StreamStore, directory: str, seq: int) -> None:
        """Flip a bit of the record's payload (or subject) in its block file."""
        await store.flush()  # (lazy mode: make sure the record is in its block)
        log = _log(store)
        blk, off = log.locate(seq)
        assert blk is not None
        ft.flip_bit(blk.path, off + HEADER.size, 2)
        # the newest messages are also kept in memory for tail readers, and that copy is
        # still good: drop it, so the next read goes to the damaged bytes on disk
        log.cache.clear()

    async def tear_tail(self, directory: str) -> None:
        """Append the first bytes of a record, as a write cut short does."""
        last = ft.blocks(directory)[-1]
        with open(last, "ab") as f:
            f.write(encode_msg(10**6, 1, 0, b"torn", None, b"x" * 40)[:29])

    def fail_commits(self, store: StreamStore, directory: str, count: int) -> None:
        """The next ``count`` commits write through a read-only descriptor: the kernel refuses."""
        log = _log(store)
        real = log._write
        left = [count]

        def failing(g: Any, *args: Any) -> Any:
            blk = g.target
            if left[0] <= 0 or blk is None:
                return real(g, *args)
            left[0] -= 1
            if g.new is not None:  # a new block: make its creation fail instead
                raise OSError(28, "No space left on device (injected)")
            saved = os.dup(blk.fd)
            ro = os.open(blk.path, os.O_RDONLY)
            os.dup2(ro, blk.fd)
            os.close(ro)
            try:
                return real(g, *args)
            finally:
                os.dup2(saved, blk.fd)
                os.close(saved)

        real_direct = log._write_direct

        async def failing_direct(blk: Any, g: Any) -> None:
            if left[0] <= 0:
                return await real_direct(blk, g)
            left[0] -= 1
            saved = os.dup(blk.fd)
            ro = os.open(blk.path, os.O_RDONLY)
            os.dup2(ro, blk.fd)
            os.close(ro)
            try:
                return await real_direct(blk, g)
            finally:
                os.dup2(saved, blk.fd)
                os.close(saved)

        log._write = failing  # type: ignore[method-assign]
        log._write_direct = failing_direct  # type: ignore[method-assign]


class TestFileLazy(TestFile):
    """The same in lazy mode (commits on an interval; each commit still syncs)."""

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        return await super().open_store(
            config, directory, sync=5_000_000 if sync == "always" else sync
        )

    def fail_commits(self, store: StreamStore, directory: str, count: int) -> None:
        """Not in lazy mode: writers do not wait for the commit, so none sees it fail."""
        raise NotImplementedError


class TestFileThreads(TestFile):
    """The same with every commit's I/O on the commit threads (where kernel AIO is refused)."""

    @pytest.fixture(autouse=True)
    def _no_aio(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(aiosync, "_disabled", True)
