"""Opening, repairing and closing the RocksDB database of one stream (and erase compaction).

Every blocking call here runs in a thread (``asyncio.to_thread``) from
:class:`~natskern.plugins.storage.rocksdb.RocksLog`.  Column family views and
handles are dropped before the database is closed: any live one keeps RocksDB
open, and the reopen after a refused write would then fail on its lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from natskern.kernel.store.api import StoreIOError
from natskern.plugins.storage.rocksdb_recovery import wal_problems
from rocksdict import AccessType, DBCompressionType, Options, Rdict

__all__ = ["CFS", "DbMixin"]

log = logging.getLogger("natskern.store.rocksdb")

#: The column families of a stream's database.
CFS = ("msgs", "meta", "aux")


class DbMixin:
    """The database half of :class:`~natskern.plugins.storage.rocksdb.RocksLog`."""

    path: str
    _write_buffer_size: int
    _db: Any
    _views: dict[str, Any]
    _handles: dict[str, Any]
    _wo: Any
    _broken: str | None
    _ready: asyncio.Event

    def _options(self, cf: str = "") -> Options:
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.create_missing_column_families(True)
        opts.set_keep_log_file_num(2)
        opts.set_max_total_wal_size(128 << 20)
        opts.set_write_buffer_size(self._write_buffer_size)
        if cf == "meta":  # the index checkpoint: reads 6x faster uncompressed, written once
            opts.set_compression_type(DBCompressionType.none())
        return opts

    def _open_db(self, read_only: bool = False) -> None:
        os.makedirs(self.path, exist_ok=True)
        cfs = {name: self._options(name) for name in CFS}
        kwargs: dict[str, Any] = {"options": self._options(), "column_families": cfs}
        if read_only:
            kwargs["access_type"] = AccessType.read_only()
        db = Rdict(self.path, **kwargs)
        self._db = db
        self._views = {name: db.get_column_family(name) for name in CFS}
        self._handles = {name: db.get_column_family_handle(name) for name in CFS}

    def _close_db(self, *, sync: bool) -> None:
        db, views = self._db, self._views
        self._db, self._views, self._handles = None, {}, {}
        if db is None:
            return
        try:
            if sync:
                db.flush_wal(True)
                for view in views.values():
                    view.flush(True)  # a clean reopen replays no WAL
        finally:
            for view in views.values():
                with contextlib.suppress(Exception):  # closing a broken database
                    view.close()
            db.close()

    async def _open_or_repair(self, problems: list[str]) -> bool:
        """Open the database; when RocksDB's own metadata (CURRENT, MANIFEST) is corrupt,
        repair it from the data files (SSTs and WALs) and say so.  True if repaired."""
        try:
            await asyncio.to_thread(self._open_db)
            problems.extend(wal_problems(self.path))
            return False
        except Exception as exc:
            if "Corruption" not in str(exc):
                raise StoreIOError(f"insufficient storage resources available ({exc})") from exc
            problems.append(f"database metadata corrupt ({exc}); repaired from the data files")
            log.error("rocksdb %s: %s", self.path, problems[-1])
        try:
            await asyncio.to_thread(Rdict.repair, self.path, self._options())
            await asyncio.to_thread(self._open_db)
            problems.extend(wal_problems(self.path))
        except Exception as exc:
            raise StoreIOError(f"insufficient storage resources available ({exc})") from exc
        return True

    def _compact_away(self, keys: list[bytes]) -> None:
        for cf in CFS:  # every memtable: the WAL holding the value becomes obsolete, deleted
            self._views[cf].flush(True)
        view = self._views["msgs"]
        for key in keys:
            view.compact_range(key, key + b"\x00")

    async def _sync_wal(self) -> None:
        try:
            await asyncio.to_thread(self._flush_wal)
        except Exception as exc:
            raise self._fail("sync", exc) from exc

    def _write(self, batch: Any) -> None:
        """Write the batch unsynced (on the loop: it only reaches the OS page cache)."""
        self._db.write(batch, self._wo)

    def _flush_wal(self) -> None:
        self._db.flush_wal(True)

    def _fail(self, what: str, exc: Exception) -> StoreIOError:
        self._broken = f"{what}: {exc}"
        log.error("rocksdb %s: %s failed: %s", self.path, what, exc)
        return StoreIOError(f"insufficient storage resources available ({what} failed: {exc})")

    async def _reopen(self) -> None:
        """Close the database left in an error state and open it again (WAL replay)."""
        self._ready.clear()
        with contextlib.suppress(Exception):  # "Writer has previous error"
            await asyncio.to_thread(self._close_db, sync=False)
        try:
            try:
                await asyncio.to_thread(self._open_db)
            except Exception as exc:
                log.error("rocksdb %s: reopen failed: %s", self.path, exc)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self._open_db, True)  # keep serving reads
                raise StoreIOError(f"insufficient storage resources available ({exc})") from exc
            log.warning("rocksdb %s: reopened after: %s", self.path, self._broken)
            for line in wal_problems(self.path):
                log.warning("rocksdb %s: %s", self.path, line)
            self._broken = None
        finally:
            self._ready.set()
