"""Side logs (consumer state): small files of checksummed entries.

A side log lives in ``aux.<hex name>.<generation>``::

    b"NKAX" u8 version u8 0 u16 0 u64 generation u32 snapshot_length
    u64 blake2b(digest_size=8) of the header fields and the snapshot bytes
    snapshot entries, then appended entries; one entry:
    u32 length  data  u64 blake2b(digest_size=8) of the length and the data

``append`` adds entries at the end (one write and one fdatasync per file per
commit).  ``rewrite`` writes a new file of generation ``g + 1`` whole, fsyncs it and
the directory, and only then unlinks the old one.  Replay takes the highest
generation whose header checksum validates: a switch torn by a crash (the new
file partly written) fails that checksum and the old file, still there, wins.
Appended entries are read up to the first one that fails its checksum (a torn
tail, dropped; committed entries are never after it).
"""

from __future__ import annotations

import contextlib
import os
import struct
from hashlib import blake2b

__all__ = ["AuxFile", "encode_entry", "list_aux", "read_aux"]

_HEAD = struct.Struct("<4sBBHQI")
_LEN = struct.Struct("<I")
_MAGIC = b"NKAX"


def encode_entry(entry: bytes) -> bytes:
    """One checksummed entry."""
    buf = bytearray(_LEN.pack(len(entry)))
    buf += entry
    buf += blake2b(buf, digest_size=8).digest()
    return bytes(buf)


def encode_file(gen: int, entries: list[bytes]) -> bytes:
    """A whole side-log file: header and snapshot."""
    snap = b"".join(encode_entry(e) for e in entries)
    head = _HEAD.pack(_MAGIC, 1, 0, 0, gen, len(snap))
    return head + blake2b(head + snap, digest_size=8).digest() + snap


def aux_path(directory: str, name: str, gen: int) -> str:
    """The file of ``name`` at generation ``gen``."""
    return os.path.join(directory, f"aux.{name.encode().hex()}.{gen}")


def list_aux(directory: str) -> dict[str, list[int]]:
    """Side-log names found on disk and their generations (newest first)."""
    found: dict[str, list[int]] = {}
    for fn in os.listdir(directory):
        parts = fn.split(".")
        if len(parts) != 3 or parts[0] != "aux" or not parts[2].isdigit():
            continue
        try:
            name = bytes.fromhex(parts[1]).decode()
        except ValueError:
            continue
        found.setdefault(name, []).append(int(parts[2]))
    for gens in found.values():
        gens.sort(reverse=True)
    return found


def read_aux(path: str) -> tuple[int, list[bytes], int, int] | None:
    """(generation, entries, end of the last good entry, bytes dropped) or None when invalid."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    hs = _HEAD.size
    if len(data) < hs + 8:
        return None
    magic, version, _a, _b, gen, snap_len = _HEAD.unpack_from(data)
    if magic != _MAGIC or version != 1 or len(data) < hs + 8 + snap_len:
        return None
    if (
        blake2b(data[:hs] + data[hs + 8 : hs + 8 + snap_len], digest_size=8).digest()
        != data[hs : hs + 8]
    ):
        return None
    entries: list[bytes] = []
    pos = hs + 8
    n = len(data)
    while n - pos >= 12:
        (length,) = _LEN.unpack_from(data, pos)
        end = pos + 4 + length + 8
        if end > n or blake2b(data[pos : end - 8], digest_size=8).digest() != data[end - 8 : end]:
            break
        entries.append(data[pos + 4 : end - 8])
        pos = end
    return gen, entries, pos, n - pos


class AuxFile:
    """One side log: the :class:`~natskern.kernel.store.log.AuxLog` of the file store.

    Writes are staged here and carried out by :meth:`FileLog.commit
    <natskern.plugins.storage.filelog.log.FileLog.commit>`.
    """

    def __init__(self, directory: str, name: str, gen: int = 0, end: int = 0) -> None:
        self.directory = directory
        self.name = name
        #: Generation and end offset of the committed file (gen 0: none yet).
        self.gen = gen
        self.end = end
        self._rewrite: list[bytes] | None = None
        self._appends: list[bytes] = []

    # AuxLog -------------------------------------------------------------------------------

    def append(self, entry: bytes) -> None:
        """Stage one entry."""
        self._appends.append(bytes(entry))

    def rewrite(self, entries: object) -> None:
        """Stage the replacement of the whole log by ``entries``."""
        self._rewrite = [bytes(e) for e in entries]  # type: ignore[attr-defined]
        self._appends = []

    async def replay(self) -> list[bytes]:
        """Every committed entry, oldest first."""
        import asyncio

        if self.gen == 0:
            return []
        found = await asyncio.to_thread(read_aux, aux_path(self.directory, self.name, self.gen))
        return found[1] if found else []

    # commit plumbing ----------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Whether something is staged."""
        return self._rewrite is not None or bool(self._appends)

    def take(self) -> tuple[list[bytes] | None, list[bytes]]:
        """Hand the staged changes to a commit (and clear them)."""
        staged = (self._rewrite, self._appends)
        self._rewrite, self._appends = None, []
        return staged

    def write(self, staged: tuple[list[bytes] | None, list[bytes]]) -> tuple[int, int, bool]:
        """Carry out staged changes (in the commit thread): new (gen, end, dir_sync_needed)."""
        snapshot, appends = staged
        tail = b"".join(encode_entry(e) for e in appends)
        if snapshot is not None or self.gen == 0:
            gen = self.gen + 1
            data = encode_file(gen, snapshot or []) + tail
            path = aux_path(self.directory, self.name, gen)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, data, 0)
                os.fdatasync(fd)
            finally:
                os.close(fd)
            return gen, len(data), True
        path = aux_path(self.directory, self.name, self.gen)
        fd = os.open(path, os.O_WRONLY)
        try:
            try:
                _write_all(fd, tail, self.end)
                os.fdatasync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self.end)
                raise
        finally:
            os.close(fd)
        return self.gen, self.end + len(tail), False


def _write_all(fd: int, data: bytes, off: int) -> None:
    view = memoryview(data)
    done = 0
    while done < len(data):
        done += os.pwrite(fd, view[done:], off + done)
