"""Side logs (consumer state) in ONE journal file per stream: one write and one fsync per commit.

Every consumer of a stream keeps a side log of state deltas; one file each would
cost one fdatasync per consumer per commit.  Instead all of them go to
``aux.journal.<generation>``::

    b"NKAJ" u8 version u8 0 u16 0 u64 generation u32 snapshot_length
    u64 blake2b(digest_size=8) of the header fields and the snapshot bytes
    snapshot entries, then appended entries; one entry:
    u32 length  body  u64 blake2b(digest_size=8) of the length and the body
    body: u8 op  u16 name length  name  payload
          op 1 append (payload: the entry), 2 rewrite (u32 count, then u32 length +
          bytes per entry), 3 drop

A commit appends the staged entries of every side log with one ``pwrite`` and one
``fdatasync``.  The committed state is mirrored in memory (it is small: the store
rewrites a consumer's log when its deltas outgrow a snapshot), so ``replay``
reads no file.  When the journal passes ``COMPACT_AT`` and four times the live
state, it is compacted: a new generation holding one rewrite per side log is
written whole and fsynced with the directory, then the old file is unlinked.  On
open the highest generation whose header checksum (over the snapshot) holds is
used, so a compaction torn by a crash loses to the old file, still there;
appended entries are read up to the first one that fails its checksum (a torn
tail, truncated and reported).
"""

from __future__ import annotations

import contextlib
import os
import struct
from hashlib import blake2b
from typing import Any

__all__ = ["AuxJournal", "JournalAux"]

_HEAD = struct.Struct("<4sBBHQI")
_LEN = struct.Struct("<I")
_OP = struct.Struct("<BH")
_MAGIC = b"NKAJ"
APPEND, REWRITE, DROP = 1, 2, 3
COMPACT_AT = 1 << 20


def _entry(op: int, name: bytes, payload: bytes) -> bytes:
    body = _OP.pack(op, len(name)) + name + payload
    head = _LEN.pack(len(body))
    return head + body + blake2b(head + body, digest_size=8).digest()


def _rewrite_payload(entries: list[bytes]) -> bytes:
    return _LEN.pack(len(entries)) + b"".join(_LEN.pack(len(e)) + e for e in entries)


class JournalAux:
    """One side log (the :class:`~natskern.kernel.store.log.AuxLog` of the file store)."""

    def __init__(self, journal: AuxJournal, name: str) -> None:
        self.journal = journal
        self.name = name
        self._rewrite: list[bytes] | None = None
        self._appends: list[bytes] = []

    def append(self, entry: bytes) -> None:
        """Stage one entry."""
        self._appends.append(bytes(entry))

    def rewrite(self, entries: Any) -> None:
        """Stage the replacement of the whole log by ``entries``."""
        self._rewrite = [bytes(e) for e in entries]
        self._appends = []

    async def replay(self) -> list[bytes]:
        """Every committed entry, oldest first."""
        return list(self.journal.entries.get(self.name, []))

    @property
    def dirty(self) -> bool:
        """Whether something is staged."""
        return self._rewrite is not None or bool(self._appends)

    def take(self) -> tuple[list[bytes] | None, list[bytes]]:
        """Hand the staged changes to a commit (and clear them)."""
        staged = (self._rewrite, self._appends)
        self._rewrite, self._appends = None, []
        return staged


class AuxJournal:
    """The journal file and the committed state it holds."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.gen = 0
        self.end = 0
        #: Committed entries per side log (a name present = the side log exists).
        self.entries: dict[str, list[bytes]] = {}
        self.live = 0
        self.fd = -1

    def path(self, gen: int) -> str:
        """The journal file of generation ``gen``."""
        return os.path.join(self.directory, f"aux.journal.{gen}")

    # -- open (in a thread) ------------------------------------------------------------------

    def open(self, problems: list[str]) -> None:
        """Load the newest valid generation; truncate a torn tail; delete the others."""
        gens = sorted(
            (int(f.rsplit(".", 1)[1]) for f in os.listdir(self.directory)
             if f.startswith("aux.journal.") and f.rsplit(".", 1)[1].isdigit()),
            reverse=True,
        )  # fmt: skip
        chosen = 0
        for gen in gens:
            if chosen:
                os.unlink(self.path(gen))
                continue
            with open(self.path(gen), "rb") as rf:
                data = rf.read()
            if not self._load(data):
                problems.append(f"side logs: journal generation {gen} is torn or corrupt, ignored")
                os.unlink(self.path(gen))
                continue
            chosen = self.gen = gen
            if self.end < len(data):
                problems.append(f"side logs: dropped a torn tail of {len(data) - self.end} bytes")
                with open(self.path(gen), "r+b") as f:
                    f.truncate(self.end)
                    os.fsync(f.fileno())
        if chosen:
            self.fd = os.open(self.path(chosen), os.O_RDWR)

    def _load(self, data: bytes) -> bool:
        hs = _HEAD.size
        if len(data) < hs + 8:
            return False
        magic, version, _a, _b, _gen, snap = _HEAD.unpack_from(data)
        if magic != _MAGIC or version != 1 or len(data) < hs + 8 + snap:
            return False
        if (
            blake2b(data[:hs] + data[hs + 8 : hs + 8 + snap], digest_size=8).digest()
            != data[hs : hs + 8]
        ):
            return False
        self.entries, self.live = {}, 0
        pos, n = hs + 8, len(data)
        while n - pos >= 4 + _OP.size + 8:
            (length,) = _LEN.unpack_from(data, pos)
            end = pos + 4 + length + 8
            if (
                end > n
                or blake2b(data[pos : end - 8], digest_size=8).digest() != data[end - 8 : end]
            ):
                break
            op, nl = _OP.unpack_from(data, pos + 4)
            p = pos + 4 + _OP.size
            name = data[p : p + nl].decode("utf-8", "surrogateescape")
            self._apply(op, name, data[p + nl : end - 8])
            pos = end
        self.end = pos
        return True

    def _apply(self, op: int, name: str, payload: bytes) -> None:
        if op == APPEND:
            self.entries.setdefault(name, []).append(payload)
            self.live += len(payload) + 20
        elif op == REWRITE:
            (count,) = _LEN.unpack_from(payload)
            out, p = [], 4
            for _ in range(count):
                (ln,) = _LEN.unpack_from(payload, p)
                out.append(payload[p + 4 : p + 4 + ln])
                p += 4 + ln
            self.live -= sum(len(e) + 20 for e in self.entries.get(name, []))
            self.entries[name] = out
            self.live += sum(len(e) + 20 for e in out)
        elif op == DROP:
            self.live -= sum(len(e) + 20 for e in self.entries.pop(name, []))

    # -- commit (in a thread) -------------------------------------------------------------------

    def write(
        self,
        staged: list[tuple[str, tuple[list[bytes] | None, list[bytes]]]],
        dropped: set[str],
    ) -> bool:
        """Append the staged changes with one write and one fdatasync; True if a file was made."""
        # drops first: a side log dropped and created again in one group starts empty
        parts = [_entry(DROP, n.encode("utf-8", "surrogateescape"), b"") for n in sorted(dropped)]
        for name, (snapshot, appends) in staged:
            nb = name.encode("utf-8", "surrogateescape")
            if snapshot is not None:
                parts.append(_entry(REWRITE, nb, _rewrite_payload(snapshot)))
            parts.extend(_entry(APPEND, nb, e) for e in appends)
        tail = b"".join(parts)
        if self.fd < 0:
            self._new_file(self.gen + 1, tail)
            return True
        try:
            _write_all(self.fd, tail, self.end)
            os.fdatasync(self.fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.end)
            raise
        self.end += len(tail)
        return False

    def _new_file(self, gen: int, tail: bytes, snapshot: bytes = b"") -> None:
        head = _HEAD.pack(_MAGIC, 1, 0, 0, gen, len(snapshot))
        data = head + blake2b(head + snapshot, digest_size=8).digest() + snapshot + tail
        fd = os.open(self.path(gen), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data, 0)
            os.fdatasync(fd)
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path(gen))
            raise
        old, self.fd, self.gen, self.end = self.fd, fd, gen, len(data)
        if old >= 0:
            os.close(old)
            with contextlib.suppress(OSError):
                os.unlink(self.path(gen - 1))

    def applied(
        self, staged: list[tuple[str, tuple[list[bytes] | None, list[bytes]]]], dropped: set[str]
    ) -> None:
        """Mirror a successful write in memory (on the loop)."""
        for name in dropped:
            self._apply(DROP, name, b"")
        for name, (snapshot, appends) in staged:
            if snapshot is not None:
                self._apply(REWRITE, name, _rewrite_payload(snapshot))
            else:
                self.entries.setdefault(name, [])
            for e in appends:
                self._apply(APPEND, name, e)

    def mark(self) -> tuple[int, int, int]:
        """Where the journal stands (for :meth:`rollback`)."""
        return self.fd, self.gen, self.end

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """(In a thread) take back a write whose commit failed later (best effort)."""
        fd, gen, end = mark
        if self.fd == fd:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, end)
                os.fdatasync(self.fd)
            self.end = end
        elif fd < 0:  # the write created the journal: remove it again
            with contextlib.suppress(OSError):
                os.close(self.fd)
                os.unlink(self.path(self.gen))
            self.fd, self.gen, self.end = fd, gen, end

    def needs_compaction(self) -> bool:
        """Whether the journal is mostly superseded entries."""
        return self.end > COMPACT_AT and self.end > 4 * max(self.live, 1)

    def compact(self) -> None:
        """(In a thread) rewrite the journal as one snapshot per side log."""
        snap = b"".join(
            _entry(REWRITE, n.encode("utf-8", "surrogateescape"), _rewrite_payload(e))
            for n, e in self.entries.items()
        )
        self._new_file(self.gen + 1, b"", snap)

    def close(self) -> None:
        """Close the file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_all(fd: int, data: bytes, off: int) -> None:
    view = memoryview(data)
    done = 0
    while done < len(data):
        done += os.pwrite(fd, view[done:], off + done)
