"""The conformance suite against the RocksDB backend, with its fault hooks on a real database."""

from __future__ import annotations

import glob
import os
from typing import Any

from natskern.kernel.store.api import StoreConfig, StreamStore
from natskern.kernel.store.base import LogStore
from natskern.kernel.store.conformance import StoreConformance
from natskern.plugins.storage import rocksdb_codec as codec
from natskern.plugins.storage.rocksdb import RocksLog, RocksLogFactory


def _log(store: StreamStore) -> RocksLog:
    log = store._log  # type: ignore[attr-defined]
    assert isinstance(log, RocksLog)
    return log


class TestRocksDB(StoreConformance):
    """The registered ``rocksdb`` backend."""

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        return await LogStore.factory(RocksLogFactory())(config, directory, sync=sync)

    async def corrupt(self, store: StreamStore, directory: str, seq: int) -> None:
        """Flip a payload bit of the record with a raw put of the damaged value."""
        await store.flush()
        msgs = _log(store)._views["msgs"]
        key = codec.seq_key(seq)
        value = bytearray(msgs.get(key))
        value[-1] ^= 0x04
        msgs.put(key, bytes(value))

    async def tear_tail(self, directory: str) -> None:
        """Append half a WAL record to the newest WAL file, as a write cut short leaves it."""
        wal = max(glob.glob(os.path.join(directory, "*.log")))
        with open(wal, "ab") as f:
            # a record header (crc32, length 300, full type) and 20 of its 300 bytes
            f.write(b"\x12\x34\x56\x78" + (300).to_bytes(2, "little") + b"\x01" + b"\x07" * 20)

    def fail_commits(self, store: StreamStore, directory: str, count: int) -> None:
        """The next ``count`` batch writes fail as RocksDB fails them (then it reopens)."""
        log = _log(store)
        left = [count]
        real = log._write

        def failing(batch: Any) -> None:
            if left[0] <= 0:
                return real(batch)
            left[0] -= 1
            raise Exception("IO error: injected: No space left on device")

        log._write = failing  # type: ignore[method-assign]


async def crash(store: StreamStore) -> None:
    """Leave ``store`` as kill -9 would once its writes are durable: no close, no checkpoint.

    Everything staged is committed first (consumer deltas included, which a real
    crash may lose by design), then the database is released without the
    close-time checkpoint, the ``seq`` record or a memtable flush.
    """
    log = _log(store)
    log._checkpointer = None  # the last periodic checkpoint stays older than the last writes
    log._request = None
    await store.flush()
    await log.commit()
    await log._checkpoint_written()
    store._stop_timers()  # type: ignore[attr-defined]
    store._closed = True  # type: ignore[attr-defined]
    log._closed = True
    log._close_db(sync=False)


class TestRocksDBCrashRestart(TestRocksDB):
    """Every restart of the suite a crash, with a periodic checkpoint every few records.

    So each reopen loads the newest periodic snapshot, indexes the records after
    it and replays the removal journal, and must find exactly what a clean
    restart finds.
    """

    async def open_store(
        self, config: StoreConfig, directory: str, *, sync: str | int = "always"
    ) -> StreamStore:
        factory = RocksLogFactory(checkpoint_min=3, checkpoint_max=3)
        return await LogStore.factory(factory)(config, directory, sync=sync)

    async def reopen(self, opener: Any, store: StreamStore, **fields: Any) -> StreamStore:
        """Crash ``store`` (see :func:`crash`) and open it again."""
        await crash(store)
        return await opener(**fields)
