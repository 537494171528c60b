"""The conformance suite against the sample third-party backend (tests/store/sqlite_backend.py)."""

from __future__ import annotations

from natskern.kernel.store.api import StoreConfig, StreamStore
from natskern.kernel.store.base import LogStore
from natskern.kernel.store.conformance import StoreConformance

from tests.store.sqlite_backend import SqliteLog


class TestSqlite(StoreConformance):
    """The whole suite, fault injection of failed commits included."""

    def _open_log(self, directory: str, *, sync: str | int) -> SqliteLog:
        log = SqliteLog(directory, sync=sync)
        self.__dict__.setdefault("logs", {})[directory] = log
        return log

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        return await LogStore.factory(self._open_log)(config, directory, sync=sync)

    def fail_commits(self, store: StreamStore, directory: str, count: int) -> None:
        self.__dict__["logs"][directory].fail_commits = count

    async def tear_tail(self, directory: str) -> None:
        # A crash mid-transaction leaves a WAL frame that never committed: garbage at its end.
        with open(f"{directory}/stream.db-wal", "ab") as f:
            f.write(b"\x00\x01torn" * 7)
