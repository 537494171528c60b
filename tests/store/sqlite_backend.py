"""A sample third-party storage backend: a RecordLog on sqlite3, public interface only.

One SQLite transaction is one group commit (WAL, ``synchronous=FULL``); a sample, it
blocks the loop briefly where a production backend would use a thread."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterable

from natskern.kernel.store.api import StoredMsg, StoreIOError
from natskern.kernel.store.base import LogStore, record_size
from natskern.kernel.store.log import RecordMeta, Recovery

_SCHEMA = """PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS msgs (seq INTEGER PRIMARY KEY, ts, subject, hdr, payload, ttl);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS aux (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, entry BLOB);
CREATE TABLE IF NOT EXISTS marks (key TEXT PRIMARY KEY, value INTEGER);"""


class SqliteAuxLog:
    """A side log: rows of the ``aux`` table with one name."""

    def __init__(self, log: SqliteLog, name: str) -> None:
        self._log, self._name = log, name

    def append(self, entry: bytes) -> None:
        """Stage one entry."""
        self._log.db.execute("INSERT INTO aux (name, entry) VALUES (?, ?)", (self._name, entry))

    def rewrite(self, entries: Iterable[bytes]) -> None:
        """Stage the replacement of every entry."""
        self._log.drop_aux(self._name)
        for e in entries:
            self.append(e)

    async def replay(self) -> list[bytes]:
        """Every entry, oldest first."""
        q = "SELECT entry FROM aux WHERE name = ? ORDER BY id"
        return [bytes(r[0]) for r in self._log.db.execute(q, (self._name,))]


class SqliteLog:
    """The RecordLog of one stream: ``<directory>/stream.db``."""

    durable = True

    def __init__(self, directory: str, *, sync: str | int) -> None:
        self.directory, self.fail_commits = directory, 0  # fault injection for the tests
        self.db: sqlite3.Connection = None  # type: ignore[assignment]
        self._last, self._dirty = (0, 0), False

    async def open(self) -> Recovery:
        """Open the database and list its records (or trust the store's checkpoint)."""
        os.makedirs(self.directory, exist_ok=True)
        self.db = sqlite3.connect(os.path.join(self.directory, "stream.db"))
        self.db.executescript(_SCHEMA)
        marks = dict(self.db.execute("SELECT key, value FROM marks"))
        self._last = (marks.get("last_seq", 0), marks.get("last_ts", 0))
        current = bool(marks.get("ckpt")) and await self.get_meta("index") is not None
        rows = [] if current else self.db.execute("SELECT * FROM msgs ORDER BY seq")
        metas = (RecordMeta(q, t, s, record_size(s, h, p), ttl) for q, t, s, h, p, ttl in rows)
        return Recovery(metas, *self._last, checkpoint_current=current)

    def append(self, msg: StoredMsg, ttl: int = 0) -> None:
        """Stage a record."""
        row = (msg.seq, msg.ts, msg.subject, msg.headers, msg.payload, ttl)
        self.db.execute("INSERT OR REPLACE INTO msgs VALUES (?, ?, ?, ?, ?, ?)", row)
        self._last = (msg.seq, msg.ts)
        self._touch()

    def remove(self, seq: int, *, erase: bool = False) -> None:
        """Stage the removal of one record (deleted rows are not kept: erase is implied)."""
        self.remove_range(seq, seq)

    def remove_range(self, first: int, last: int) -> None:
        """Stage the removal of ``first..last``."""
        self.db.execute("DELETE FROM msgs WHERE seq BETWEEN ? AND ?", (first, last))
        self._touch()

    def _touch(self) -> None:
        if not self._dirty:  # records changed: a saved index checkpoint is stale now
            self._dirty = True
            self._mark(ckpt=0)

    async def commit(self) -> None:
        """Commit the transaction (all staged changes) or roll it back on failure."""
        self._dirty = False
        try:
            if self.fail_commits:
                self.fail_commits -= 1
                raise sqlite3.OperationalError("injected failure")
            self._mark(last_seq=self._last[0], last_ts=self._last[1])
            self.db.commit()
        except sqlite3.Error as exc:
            self.db.rollback()  # (``_last`` may now overstate: sequences are skipped, never reused)
            raise StoreIOError(f"sqlite: {exc}") from exc

    def _mark(self, **kv: int) -> None:
        self.db.executemany("INSERT OR REPLACE INTO marks VALUES (?, ?)", kv.items())

    async def read(self, seq: int) -> StoredMsg | None:
        """A record, staged or committed."""
        q = "SELECT subject, ts, hdr, payload FROM msgs WHERE seq = ?"
        row = self.db.execute(q, (seq,)).fetchone()
        return row and StoredMsg(row[0], seq, row[1], row[2] and bytes(row[2]), bytes(row[3]))

    async def get_meta(self, key: str) -> bytes | None:
        """A metadata value."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row and bytes(row[0])

    def put_meta(self, key: str, value: bytes | None) -> None:
        """Stage a metadata value (the store's ``index`` checkpoint marks itself current)."""
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        if value is not None:
            self.db.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
        if key == "index":
            self._mark(ckpt=int(value is not None))

    def aux_log(self, name: str) -> SqliteAuxLog:
        """The side log ``name``."""
        return SqliteAuxLog(self, name)

    def aux_names(self) -> list[str]:
        """Names of the side logs with entries."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT name FROM aux")]

    def drop_aux(self, name: str) -> None:
        """Stage the removal of side log ``name``."""
        self.db.execute("DELETE FROM aux WHERE name = ?", (name,))

    async def close(self) -> None:
        """Commit and close."""
        await self.commit()
        self.db.close()

    async def destroy(self) -> None:
        """Remove the database."""
        self.db.close()
        shutil.rmtree(self.directory, ignore_errors=True)


#: What a plugin would register: ``register("sqlite", FACTORY)``.
FACTORY = LogStore.factory(SqliteLog)
