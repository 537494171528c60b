"""The conformance suite against the memory backend (plain, and with awaited group commits)."""

from __future__ import annotations

from typing import Any

from natskern.kernel.store.api import StoreConfig, StreamStore
from natskern.kernel.store.base import LogStore
from natskern.kernel.store.conformance import StoreConformance
from natskern.plugins.storage.memory import MemoryLog, MemoryLogFactory, memory_record_size


class TestMemory(StoreConformance):
    """The registered flavour: writers never wait for a commit."""

    durable = False

    def msg_size(self, subject: str, headers: bytes | None, payload: bytes) -> int:
        return memory_record_size(subject, headers, payload)

    def _factory(self) -> MemoryLogFactory:
        fac = getattr(self, "_fac", None)
        if fac is None:
            fac = self._fac = MemoryLogFactory({}, track=True, durable=self.durable)
        return fac

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        return await LogStore.factory(self._factory())(config, directory, sync=sync)

    def _log(self, directory: str) -> MemoryLog:
        return self._factory().logs[directory]

    async def corrupt(self, store: StreamStore, directory: str, seq: int) -> None:
        # Memory has no checksums; a record that vanished under the index stands in for one.
        del self._log(directory)._data.recs[seq]


class TestMemoryAwaited(TestMemory):
    """Writers await each group commit (a durable log's path), and commits can fail."""

    durable = True

    def fail_commits(self, store: StreamStore, directory: str, count: int) -> None:
        self._log(directory).fail_commits = count

    async def test_group_commit_groups(self, opener: Any, directory: str) -> None:
        import asyncio

        s = await opener()
        log = self._log(directory)
        before = log.commits
        await asyncio.gather(*(s.store_msg("a", None, b"x") for _ in range(256)))
        assert log.commits - before <= 3
