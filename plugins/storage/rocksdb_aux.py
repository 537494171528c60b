"""Side logs of the RocksDB stream store (consumer state deltas), in the ``aux`` column family.

An entry's key is ``len(name)(2) name counter(8)`` (the length first, so no
name's keys fall inside another's range), its value ``checksum(8) entry``; the
meta column family holds a marker ``a<name>`` per existing log, so an empty log
still exists after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from natskern.kernel.store.api import StoreIOError
from natskern.kernel.store.log import AuxLog
from natskern.plugins.storage import rocksdb_codec as codec
from rocksdict import ReadOptions

__all__ = ["AuxMixin", "RocksAuxLog"]

log = logging.getLogger("natskern.store.rocksdb")

PUT, DEL, RANGE = 0, 1, 2
END = b"\xff" * 9  # above every 8-byte suffix


class RocksAuxLog:
    """A side log stored in the ``aux`` column family under its name's prefix."""

    def __init__(self, owner: AuxMixin, name: str) -> None:
        self._owner = owner
        self.name = name
        self.prefix = codec.aux_prefix(name)

    def append(self, entry: bytes) -> None:
        """Stage one entry."""
        self._owner._aux_append(self, entry)

    def rewrite(self, entries: Iterable[bytes]) -> None:
        """Stage the replacement of the whole log by ``entries``."""
        self._owner._aux_rewrite(self, entries)

    async def replay(self) -> list[bytes]:
        """Every committed entry, oldest first (checksum-failing entries are dropped)."""
        return await self._owner._aux_replay(self)


class AuxMixin:
    """The side-log half of :class:`~natskern.plugins.storage.rocksdb.RocksLog`."""

    path: str
    _ops: list[tuple[Any, ...]]
    _views: dict[str, Any]
    _ready: asyncio.Event
    _aux: dict[str, RocksAuxLog]
    _aux_next: dict[bytes, int]

    def _check(self) -> None:
        raise NotImplementedError

    async def _wait_views(self) -> dict[str, Any]:
        """The column families once a reopen is over; StoreIOError when it failed."""
        self._check()
        await self._ready.wait()
        if not self._views:
            self._check()
            raise StoreIOError("insufficient storage resources available (database not open)")
        return self._views

    def _load_aux(self) -> None:
        self._aux_next = {}
        names: set[str] = set()
        bound = ReadOptions()
        bound.set_iterate_upper_bound(b"b")  # never load the block of a large meta value
        for key in self._views["meta"].keys(from_key=b"a", read_opt=bound):
            if not key.startswith(b"a"):
                break
            names.add(key[1:].decode())
        for key in self._views["aux"].keys():  # noqa: SIM118 - an Rdict, not a dict
            prefix = key[:-8]
            self._aux_next[prefix] = int.from_bytes(key[-8:], "big") + 1
        self._aux = {name: RocksAuxLog(self, name) for name in names}

    # -- side logs -------------------------------------------------------------------------

    def aux_log(self, name: str) -> AuxLog:
        """The side log ``name`` (created empty on first use, its marker staged)."""
        self._check()
        aux = self._aux.get(name)
        if aux is None:
            aux = self._aux[name] = RocksAuxLog(self, name)
            self._ops.append((PUT, "meta", b"a" + name.encode(), b""))
        return aux

    def aux_names(self) -> list[str]:
        """Names of the side logs that exist (created or replayed, not dropped)."""
        return sorted(self._aux)

    def drop_aux(self, name: str) -> None:
        """Stage the removal of side log ``name`` and its entries."""
        self._check()
        aux = self._aux.pop(name, None)
        prefix = aux.prefix if aux is not None else codec.aux_prefix(name)
        self._ops.append((DEL, "meta", b"a" + name.encode()))
        self._ops.append((RANGE, "aux", prefix, prefix + END))

    def _aux_append(self, aux: RocksAuxLog, entry: bytes) -> None:
        self._check()
        counter = self._aux_next.get(aux.prefix, 0)
        self._aux_next[aux.prefix] = counter + 1
        key = codec.aux_key(aux.prefix, counter)
        self._ops.append((PUT, "aux", key, codec.encode_meta(entry, key[-8:])))

    def _aux_rewrite(self, aux: RocksAuxLog, entries: Iterable[bytes]) -> None:
        self._check()
        self._ops.append((RANGE, "aux", aux.prefix, aux.prefix + END))
        for entry in entries:
            self._aux_append(aux, entry)

    async def _aux_replay(self, aux: RocksAuxLog) -> list[bytes]:
        views = self._views
        if not views or not self._ready.is_set():
            views = await self._wait_views()
        out: list[bytes] = []
        prefix = aux.prefix
        for key, raw in views["aux"].items(from_key=prefix):
            if not key.startswith(prefix) or len(key) != len(prefix) + 8:
                break
            entry = codec.decode_meta(raw, key[-8:])
            if entry is None:
                log.error(
                    "rocksdb %s: side log %r: entry %r failed its checksum, dropped",
                    self.path,
                    aux.name,
                    int.from_bytes(key[-8:], "big"),
                )
                continue
            out.append(entry)
        return out
