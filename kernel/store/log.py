"""The record log: the small part a storage backend writes (DESIGN §6).

:class:`~natskern.kernel.store.base.LogStore` implements the whole
:class:`~natskern.kernel.store.api.StreamStore` (sequences, limits, per-subject
indexes, state, TTLs, consumer state, group commit) over a :class:`RecordLog`.
A backend author writes only the log: how records, removals and a few metadata
values reach the medium and come back.

The contract:

* **Staging, then commit.** ``append``, ``remove``, ``remove_range``,
  ``put_meta`` and the :class:`AuxLog` writes only stage; nothing of it need be
  visible to ``read`` before :meth:`RecordLog.commit`, and nothing of it may be
  lost after ``commit`` returns in durable mode (``sync="always"``).  The store
  calls ``commit`` once per group (every write that arrived while the previous
  commit ran), so a backend does one write and one fsync per call, never one per
  record.  ``commit`` raising :class:`~natskern.kernel.store.api.StoreIOError`
  means none of the staged changes is acknowledged; the store discards them
  from its indexes and the log must be usable again afterwards (a later commit
  may succeed once the disk has space).
* **Overlapping commits (optional).** A log that sets ``write_ahead_min``
  (bytes) may have ``commit`` called again before an earlier call returned: the
  store does so when that much is staged while a commit is in flight, so that a
  backend can write the next group while the previous one syncs.  Each call
  covers what was staged when it was made; a call returns only once its group
  and every earlier one are durable, and a call that fails may fail later ones
  too (never an earlier one).  A log without the attribute gets one call at a time.
* **Staged changes are readable at once** (``read`` of a staged record returns
  it), so the store can serve what it has not yet committed to the writer's own
  reads; they are not yet acknowledged.
* **Recovery.** :meth:`RecordLog.open` returns what was on the medium:
  every live record's :class:`RecordMeta` in sequence order (or a checkpoint
  the store saved with :meth:`RecordLog.put_meta` and a token saying it is
  still current), the highest sequence ever committed (so no sequence is handed
  out twice after a crash, even when the newest records were removed), and
  :attr:`Recovery.problems`: human-readable lines about a torn tail truncated or
  corrupt records skipped, which the store logs.  A record whose checksum fails
  is never returned, by ``open`` or by ``read``.
* **Sequences** are assigned by the store and strictly increase across
  ``append`` calls; a log may rely on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from natskern.kernel.store.api import StoredMsg

__all__ = ["AuxLog", "RecordColumns", "RecordLog", "RecordLogFactory", "RecordMeta", "Recovery"]


@dataclass(slots=True, frozen=True)
class RecordMeta:
    """What the store's index keeps of a record: no headers or payload.

    ``size`` is the stored size the stream's ``bytes`` counts (subject, headers,
    payload and the backend's per-record overhead: use
    :func:`~natskern.kernel.store.base.record_size` to agree with every backend).
    ``ttl`` is the per-message expiry in ns (0 none, -1 never).
    """

    seq: int
    ts: int
    subject: str
    size: int
    ttl: int = 0


@dataclass(slots=True)
class RecordColumns:
    """Recovered records as columns: what a run of :class:`RecordMeta` holds, field by field.

    ``Recovery.records`` may yield these instead of (or between) single metas, so a
    backend that scans millions of records builds no object per record.  The
    sequences are in order (as for metas); ``ttls`` holds the non-zero TTLs by sequence.
    """

    seqs: Sequence[int]
    ts: Sequence[int]
    subjects: Sequence[str]
    sizes: Sequence[int]
    ttls: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class Recovery:
    """What :meth:`RecordLog.open` found.

    Either ``records`` (every live record in sequence order, for the store to
    index) or, when the store's saved checkpoint (``put_meta("index", ...)``) is
    still current, ``checkpoint_current=True`` and ``records`` may be empty: the
    store then loads its index from that checkpoint instead of a scan.  The log
    says so when no ``append``/``remove``/``remove_range`` was committed after the
    commit that carried the last ``put_meta("index", ...)`` (the store writes it at
    a clean close); after a crash the log scans.

    Or, third, ``checkpoint_base=True``: ``get_meta("index")`` returns a checkpoint
    that is older than the log (the store's periodic snapshot, which a log with
    the optional ``set_checkpointer`` saves: see :mod:`natskern.kernel.store.opening`),
    ``records`` holds only the records appended after it, and ``removed`` every
    ``(first, last)`` range removed since it.  Removals are idempotent (a sequence
    is never used twice), so ``removed`` may repeat ones the checkpoint already has.
    When the store finds that checkpoint unusable it stages ``put_meta("index",
    None)``, commits, closes and opens the log again, which must then scan.
    """

    #: :class:`RecordMeta` (or :class:`RecordColumns` chunks) in sequence order.
    records: AsyncIterator[RecordMeta | RecordColumns] | Iterable[RecordMeta | RecordColumns]
    #: The highest sequence ever committed (removed ones included); 0 for a new log.
    last_seq: int = 0
    #: Its timestamp (ns), for the stream's ``last_ts`` when that record was removed.
    last_ts: int = 0
    checkpoint_current: bool = False
    #: The checkpoint is a base: ``records`` are the tail after it, ``removed`` the removals.
    checkpoint_base: bool = False
    #: With ``checkpoint_base``: ``(first, last)`` sequence ranges removed since the checkpoint.
    removed: list[tuple[int, int]] = field(default_factory=list)
    #: Lines for the log: "truncated a torn record of 37 bytes at the end of 3.blk", ...
    problems: list[str] = field(default_factory=list)
    #: Sequences found corrupt during recovery (not in ``records``).
    corrupt: list[int] = field(default_factory=list)


@runtime_checkable
class AuxLog(Protocol):
    """A small durable side log of opaque entries (a consumer's state deltas).

    Writes are staged and made durable by the owning :class:`RecordLog`'s next
    ``commit``.  ``rewrite`` replaces every entry at once (compaction: the store
    writes a snapshot when the deltas outgrow it).
    """

    def append(self, entry: bytes) -> None:
        """Stage one entry."""
        ...

    def rewrite(self, entries: Iterable[bytes]) -> None:
        """Stage the replacement of the whole log by ``entries``."""
        ...

    async def replay(self) -> list[bytes]:
        """Every committed entry, oldest first (checksum-failing entries are dropped)."""
        ...


@runtime_checkable
class RecordLog(Protocol):
    """The storage medium of one stream, as the shared store base drives it."""

    #: Whether ``commit`` reaches stable storage (False for memory).
    durable: bool

    async def open(self) -> Recovery:
        """Open or create the log and report what it holds (see :class:`Recovery`)."""
        ...

    def append(self, msg: StoredMsg, ttl: int = 0) -> None:
        """Stage a record."""
        ...

    def remove(self, seq: int, *, erase: bool = False) -> None:
        """Stage the removal of one record (``erase``: overwrite its bytes on the medium)."""
        ...

    def remove_range(self, first: int, last: int) -> None:
        """Stage the removal of every record with ``first <= seq <= last``."""
        ...

    async def commit(self) -> None:
        """Make everything staged durable: one write and one sync for the whole group."""
        ...

    async def read(self, seq: int) -> StoredMsg | None:
        """A record (staged or committed), or None; raises CorruptRecordError on a bad checksum."""
        ...

    async def get_meta(self, key: str) -> bytes | None:
        """A committed metadata value (stream config, index checkpoint), or None."""
        ...

    def put_meta(self, key: str, value: bytes | None) -> None:
        """Stage a metadata value (None deletes it); it must survive a corrupted copy."""
        ...

    def aux_log(self, name: str) -> AuxLog:
        """The side log ``name`` (created empty on first use)."""
        ...

    def aux_names(self) -> list[str]:
        """Names of the side logs that exist."""
        ...

    def drop_aux(self, name: str) -> None:
        """Stage the removal of side log ``name``."""
        ...

    async def close(self) -> None:
        """Commit what is staged and release the medium."""
        ...

    async def destroy(self) -> None:
        """Remove everything the log keeps."""
        ...


class RecordLogFactory(Protocol):
    """Builds a backend's log for one stream: ``factory(directory, sync=...)``.

    A backend registers ``LogStore.factory(MyLogFactory)`` through
    ``register_storage_backends``; ``sync`` is ``"always"`` or a lazy interval in ns.
    """

    def __call__(self, directory: str, *, sync: str | int) -> RecordLog:
        """Create the log object (no I/O yet: that is :meth:`RecordLog.open`)."""
        ...
