"""The ``memory`` storage backend: a :class:`RecordLog` over dicts (nothing survives the process).

Appends are visible at once and cost a dict insert; ``commit`` only forgets
the undo information, so the store's group commit is nearly free here (and a
log with ``durable = False`` never makes writers wait for it).  Removals are
applied at commit.

:class:`MemoryLogFactory` takes an optional *shelf* (a dict) that keeps each
directory's data after ``close`` so a reopen in the same process finds it
again: the conformance suite's restart tests use one; the registered backend
has none (a memory stream is empty after a restart, as in nats-server).
``fail_commits`` makes the next commits raise :class:`StoreIOError` (fault tests).
"""

from __future__ import annotations

import bisect
import struct
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from natskern.kernel.hookspecs import Register, hookimpl
from natskern.kernel.store.api import StoredMsg, StoreIOError
from natskern.kernel.store.base import MEMORY_OVERHEAD, LogStore
from natskern.kernel.store.log import RecordMeta, Recovery

_LEN = struct.Struct("<I")

__all__ = [
    "MemoryAuxLog",
    "MemoryLog",
    "MemoryLogFactory",
    "memory_record_size",
    "register_storage_backends",
]


def memory_record_size(subject: str, headers: bytes | None, payload: bytes) -> int:
    """nats-server's ``memStoreMsgSize``: subject + headers + payload + 16 (UTF-8 subject)."""
    n = len(subject) if subject.isascii() else len(subject.encode())
    return MEMORY_OVERHEAD + n + len(headers or b"") + len(payload)


class _Data:
    """One stream's committed contents."""

    def __init__(self) -> None:
        #: A StoredMsg, or the caller's ``(subject, headers, payload)`` of a batch.
        self.recs: dict[int, StoredMsg | tuple[str, bytes | None, bytes]] = {}
        #: The first sequence and timestamp of each batch (for the tuples' times).
        self.runs_first = array("Q")
        self.runs_ts = array("q")
        self.ttls: dict[int, int] = {}
        self.meta: dict[str, bytes] = {}
        #: Side logs: length-prefixed entries in one buffer each (no object per entry).
        self.aux: dict[str, bytearray] = {}
        self.last_seq = 0
        self.last_ts = 0
        self.checkpoint_current = False


class MemoryAuxLog:
    """A side log kept as a list of entries."""

    def __init__(self, log: MemoryLog, name: str) -> None:
        self._log = log
        self._name = name

    def append(self, entry: bytes) -> None:
        """Stage one entry."""
        self._log._aux_stage(self._name, False).extend(_LEN.pack(len(entry)) + entry)

    def rewrite(self, entries: Iterable[bytes]) -> None:
        """Stage the replacement of the whole log."""
        buf = self._log._aux_stage(self._name, True)
        for e in entries:
            buf.extend(_LEN.pack(len(e)) + e)

    async def replay(self) -> list[bytes]:
        """Every committed entry, oldest first."""
        buf = self._log._data.aux.get(self._name)
        out: list[bytes] = []
        pos = 0
        while buf is not None and pos < len(buf):
            (n,) = _LEN.unpack_from(buf, pos)
            out.append(bytes(buf[pos + 4 : pos + 4 + n]))
            pos += 4 + n
        return out


class MemoryLog:
    """The record log of one memory stream.

    ``durable`` is False: the store does not make writers wait for commits.  A
    test may build one with ``durable=True`` to exercise the awaited group
    commit (and its failures) in memory.
    """

    durable = False
    #: ``bytes`` counts nats-server's memory-store size: subject + headers + payload + 16.
    record_overhead = (MEMORY_OVERHEAD, MEMORY_OVERHEAD)

    def __init__(
        self,
        directory: str,
        *,
        sync: str | int,
        shelf: dict[str, Any] | None,
        durable: bool = False,
    ) -> None:
        self.durable = durable
        self._directory = directory
        self._shelf = shelf
        self._data = _Data()
        self._lo = 0  # the first sequence appended since the last commit
        self._removes: list[tuple[int, int]] = []
        self._meta_ops: list[tuple[str, bytes | None]] = []
        #: Per side log staged: (replace everything?, entries to add or None = dropped).
        self._aux_ops: dict[str, tuple[bool, bytearray | None]] = {}
        #: Fault injection: the next ``fail_commits`` commits raise StoreIOError.
        self.fail_commits = 0
        self.commits = 0

    async def open(self) -> Recovery:
        """Return what the shelf kept for this directory (nothing without a shelf)."""
        if self._shelf is not None:
            self._data = self._shelf.setdefault(self._directory, _Data())
        d = self._data
        current = d.checkpoint_current and "index" in d.meta
        records: Iterator[RecordMeta] = iter(())
        if not current:
            msgs = (self._msg(seq, r) for seq, r in d.recs.items())
            records = (
                RecordMeta(
                    m.seq,
                    m.ts,
                    m.subject,
                    memory_record_size(m.subject, m.headers, m.payload),
                    d.ttls.get(m.seq, 0),
                )
                for m in msgs
            )
        return Recovery(records, d.last_seq, d.last_ts, checkpoint_current=current)

    def append(self, msg: StoredMsg, ttl: int = 0) -> None:
        """Stage (and show at once) a record."""
        self._data.recs[msg.seq] = msg
        if ttl:
            self._data.ttls[msg.seq] = ttl
        if not self._lo:
            self._lo = msg.seq

    def append_batch(
        self, first_seq: int, ts: int, items: Sequence[tuple[str, bytes | None, bytes]]
    ) -> None:
        """Stage ``items`` (kept as they are: tuples) at ``first_seq...``, all at time ``ts``."""
        d = self._data
        d.recs.update(zip(range(first_seq, first_seq + len(items)), items, strict=True))
        d.runs_first.append(first_seq)
        d.runs_ts.append(ts)
        if not self._lo:
            self._lo = first_seq

    def _msg(self, seq: int, r: StoredMsg | tuple[str, bytes | None, bytes]) -> StoredMsg:
        if r.__class__ is StoredMsg:
            return r  # type: ignore[return-value]
        d = self._data
        ts = d.runs_ts[bisect.bisect_right(d.runs_first, seq) - 1]
        return StoredMsg(r[0], seq, ts, r[1], r[2])  # type: ignore[index]

    def remove(self, seq: int, *, erase: bool = False) -> None:
        """Stage the removal of one record."""
        self._removes.append((seq, seq))

    def remove_range(self, first: int, last: int) -> None:
        """Stage the removal of every record in ``first..last``."""
        self._removes.append((first, last))

    async def commit(self) -> None:
        """Apply the staged removals and metadata (or drop everything staged, when failing)."""
        d = self._data
        lo, self._lo = self._lo, 0
        removes, self._removes = self._removes, []
        metas, self._meta_ops = self._meta_ops, []
        auxs, self._aux_ops = self._aux_ops, {}
        if self.fail_commits:
            self.fail_commits -= 1
            if lo:
                for seq in [s for s in d.recs if s >= lo]:
                    del d.recs[seq]
            raise StoreIOError("injected commit failure")
        self.commits += 1
        if lo or removes:
            d.checkpoint_current = False
        if lo and d.recs:
            seq = next(reversed(d.recs))
            if seq > d.last_seq:
                d.last_seq, d.last_ts = seq, self._msg(seq, d.recs[seq]).ts
        for first, last_seq in removes:
            if last_seq - first < len(d.recs):
                for s in range(first, last_seq + 1):
                    d.recs.pop(s, None)
                    d.ttls.pop(s, None)
            else:
                for s in [s for s in d.recs if first <= s <= last_seq]:
                    del d.recs[s]
                    d.ttls.pop(s, None)
        if removes and d.runs_first:
            # Forget the batch times below the oldest record left.
            cut = bisect.bisect_right(d.runs_first, next(iter(d.recs), 1 << 63)) - 1
            if cut > 0:
                del d.runs_first[:cut]
                del d.runs_ts[:cut]
        for key, value in metas:
            if value is None:
                d.meta.pop(key, None)
            else:
                d.meta[key] = value
            if key == "index":
                d.checkpoint_current = value is not None
        for name, (replace, entries) in auxs.items():
            if entries is None:
                d.aux.pop(name, None)
            elif replace:
                d.aux[name] = entries
            else:
                d.aux.setdefault(name, bytearray()).extend(entries)

    async def read(self, seq: int) -> StoredMsg | None:
        """A record, or None."""
        r = self._data.recs.get(seq)
        return None if r is None else self._msg(seq, r)

    def read_cached(self, seq: int) -> StoredMsg | None:
        """A record, or None (everything is in memory)."""
        r = self._data.recs.get(seq)
        return None if r is None else self._msg(seq, r)

    async def get_meta(self, key: str) -> bytes | None:
        """A committed metadata value."""
        return self._data.meta.get(key)

    def put_meta(self, key: str, value: bytes | None) -> None:
        """Stage a metadata value."""
        self._meta_ops.append((key, value))

    def aux_log(self, name: str) -> MemoryAuxLog:
        """The side log ``name``."""
        return MemoryAuxLog(self, name)

    def aux_names(self) -> list[str]:
        """Names of the side logs with committed entries."""
        return list(self._data.aux)

    def drop_aux(self, name: str) -> None:
        """Stage the removal of side log ``name``."""
        self._aux_ops[name] = (True, None)

    def _aux_stage(self, name: str, replace: bool) -> bytearray:
        """The buffer staged entries of ``name`` go to (``replace``: a rewrite starts)."""
        op = self._aux_ops.get(name)
        if replace or op is None or op[1] is None:
            op = self._aux_ops[name] = (replace or op is not None, bytearray())
        return op[1]  # type: ignore[return-value]

    async def close(self) -> None:
        """Commit what is staged."""
        await self.commit()

    async def destroy(self) -> None:
        """Forget everything."""
        self._data = _Data()
        if self._shelf is not None:
            self._shelf.pop(self._directory, None)


class MemoryLogFactory:
    """Builds :class:`MemoryLog` objects, optionally over a shelf that outlives them."""

    def __init__(
        self, shelf: dict[str, Any] | None = None, *, track: bool = False, durable: bool = False
    ) -> None:
        self.shelf = shelf
        self._durable = durable
        #: With ``track``, the logs built so far (fault tests reach them through the factory).
        self.logs: dict[str, MemoryLog] = {}
        self._track = track

    def __call__(self, directory: str, *, sync: str | int) -> MemoryLog:
        """Create the log of ``directory``."""
        log = MemoryLog(directory, sync=sync, shelf=self.shelf, durable=self._durable)
        if self._track:
            self.logs[directory] = log
        return log


@hookimpl
def register_storage_backends(register: Register) -> None:
    """Register the ``memory`` backend."""
    register("memory", LogStore.factory(MemoryLogFactory()))
